// Services → Connect to a service → Enrollment code: the code is looked up,
// shown for confirmation, and only "Connect" uses it (Rust makes the key).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCOUNT, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { EnrollOffer, PortalError, PortalStatus } from "../types";
import ServicesPage from "./ServicesPage.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

const CODE = "7K3QM-X9D2A-BC4EF-GH5JK";
const SERVICE = "https://keys.vendor.example";
const LINK = `keyport://enroll?service=${encodeURIComponent(SERVICE)}&code=${CODE}`;

function offer(adminKeys = 1): EnrollOffer {
  return {
    service_url: SERVICE,
    code: CODE,
    preview: {
      account_id: "acc_corp",
      account_name: "Acme Corp",
      plan: "starter",
      expires_at: new Date(Date.now() + 24 * 3_600_000).toISOString(),
      key_prefix: "to",
      admin_keys: adminKeys,
    },
  };
}

const enrolled: PortalStatus = status({
  mode: "remote",
  service_url: SERVICE,
  account: { ...ACCOUNT, id: "acc_corp", name: "Acme Corp", plan: "starter" },
  saved_services: [{ url: SERVICE, account_name: "Acme Corp" }],
});

const used: PortalError = {
  code: "forbidden",
  message: "this enrollment code was already used; each code works once",
  retry_after: null,
};

beforeEach(() => {
  calls = [];
  reply = (cmd) => {
    if (cmd === "enrollment_preview") return offer();
    if (cmd === "enroll") return enrolled;
    if (cmd === "list_keys") return { keys: [], next_cursor: null };
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status({ mode: "remote", service_url: "https://keys.example.com", account: null });
  app.view = "services";
  app.connectMode = "key";
  app.connectUrl = "";
  app.backToEnrollForm();
  app.enrollUrl = "";
  app.enrollCode = "";
  toasts.items = [];
});

afterEach(() => clearMocks());

const byId = (id: string) => screen.getByTestId(id) as HTMLInputElement;
const enrollCalls = (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args);

/** The enrollment-code form, filled in and continued. */
async function continueWith(url: string, code: string) {
  render(ServicesPage);
  await fireEvent.click(screen.getByTestId("connect-mode-code"));
  await fireEvent.input(byId("enroll-url"), { target: { value: url } });
  await fireEvent.input(byId("enroll-code"), { target: { value: code } });
  await fireEvent.click(screen.getByTestId("enroll-continue"));
}

describe("connect with an enrollment code", () => {
  it("keeps the admin-key form as it was, and offers the code next to it", async () => {
    render(ServicesPage);
    expect(screen.getByTestId("connect-form")).toBeTruthy();
    expect(screen.getByTestId("connect-mode-key").getAttribute("aria-pressed")).toBe("true");
    expect(screen.queryByTestId("enroll-form")).toBeNull();
    expect(screen.getByTestId("not-connected").textContent).toMatch(/an enrollment code from your provider/);

    await fireEvent.click(screen.getByTestId("connect-mode-code"));
    expect(screen.getByTestId("connect-mode-code").getAttribute("aria-pressed")).toBe("true");
    expect(screen.queryByTestId("connect-form")).toBeNull();
    expect(byId("enroll-code").placeholder).toBe(CODE);
    expect(screen.getByLabelText("Enrollment code")).toBe(byId("enroll-code"));
    expect(screen.getByLabelText(/Service URL/)).toBe(byId("enroll-url"));
  });

  it("previews, confirms with the account and service, then enrolls and opens the keys", async () => {
    await continueWith(`${SERVICE}/`, `  ${CODE} `);
    await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy());
    expect(enrollCalls("enrollment_preview")).toEqual([{ serviceUrl: SERVICE, code: CODE }]);
    expect(screen.queryByTestId("enroll-form")).toBeNull();
    const card = screen.getByTestId("enroll-confirm");
    expect(card.textContent).toContain("Connect to Acme Corp?");
    expect(screen.getByTestId("enroll-confirm-service").textContent).toBe(SERVICE);
    expect(screen.getByTestId("enroll-confirm-account").textContent).toBe("Acme Corp");
    expect(screen.getByTestId("enroll-confirm-plan").textContent).toBe("Starter");
    expect(screen.getByTestId("enroll-confirm-expires").textContent).toMatch(/in 24 h|tomorrow/);
    expect(card.textContent).toMatch(/Only its fingerprint is sent to the service; the code works once/);
    expect(byId("enroll-revoke-others").checked).toBe(false);
    expect(enrollCalls("enroll")).toEqual([]);
    // Focus moves to the confirmation's title.
    expect(document.activeElement?.id).toBe("enroll-confirm-title");

    await fireEvent.click(screen.getByTestId("enroll-submit"));
    await waitFor(() => expect(app.view).toBe("keys"));
    expect(enrollCalls("enroll")).toEqual([{ serviceUrl: SERVICE, code: CODE, revokeOtherAdminKeys: false }]);
    expect(app.status).toEqual(enrolled);
    expect(app.enrollOffer).toBeNull();
    expect([app.enrollUrl, app.enrollCode, app.connectUrl]).toEqual(["", "", ""]);
    expect(toasts.items.map((t) => t.text)).toContain("Connected to Acme Corp.");
  });

  it("revokes the account's other admin keys only when asked to", async () => {
    reply = (cmd) => (cmd === "enrollment_preview" ? offer(2) : cmd === "enroll" ? enrolled : { keys: [], next_cursor: null });
    await continueWith(SERVICE, CODE);
    await waitFor(() => expect(screen.getByTestId("enroll-revoke-others")).toBeTruthy());
    expect(screen.getByTestId("enroll-confirm").textContent).toMatch(/other admin keys \(2\)/);
    await fireEvent.click(screen.getByTestId("enroll-revoke-others"));
    await fireEvent.click(screen.getByTestId("enroll-submit"));
    await waitFor(() => expect(app.view).toBe("keys"));
    expect(enrollCalls("enroll")).toEqual([{ serviceUrl: SERVICE, code: CODE, revokeOtherAdminKeys: true }]);
  });

  it("does not offer to revoke when the account has no admin key yet", async () => {
    reply = (cmd) => (cmd === "enrollment_preview" ? offer(0) : enrolled);
    await continueWith(SERVICE, CODE);
    await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy());
    expect(screen.queryByTestId("enroll-revoke-others")).toBeNull();
  });

  it("shows the service's refusal and keeps what was typed", async () => {
    reply = () => {
      throw used;
    };
    await continueWith(SERVICE, "USED00-AAAAA-BBBBB-CCCCC");
    await waitFor(() => expect(screen.getByTestId("enroll-error").dataset.code).toBe("forbidden"));
    expect(screen.getByTestId("enroll-error").textContent).toMatch(/already used/);
    expect(screen.queryByTestId("enroll-confirm")).toBeNull();
    expect(byId("enroll-url").value).toBe(SERVICE);
    expect(byId("enroll-code").value).toBe("USED00-AAAAA-BBBBB-CCCCC");
    expect(enrollCalls("enroll")).toEqual([]);
    expect(app.view).toBe("services");
  });

  it("shows a refusal of the enrollment itself in the confirmation", async () => {
    reply = (cmd) => {
      if (cmd === "enrollment_preview") return offer();
      throw used;
    };
    await continueWith(SERVICE, CODE);
    await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("enroll-submit"));
    await waitFor(() => expect(screen.getByTestId("enroll-error").textContent).toMatch(/already used/));
    expect(screen.getByTestId("enroll-confirm")).toBeTruthy();
    expect(app.view).toBe("services");
    expect((screen.getByTestId("enroll-submit") as HTMLButtonElement).disabled).toBe(false);
  });

  it("takes a pasted keyport:// link without the URL field", async () => {
    await continueWith("", LINK);
    await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy());
    expect(enrollCalls("enrollment_preview")).toEqual([{ serviceUrl: "", code: LINK }]);
    expect(screen.queryByTestId("enroll-url-error")).toBeNull();
    await fireEvent.click(screen.getByTestId("enroll-submit"));
    await waitFor(() => expect(app.view).toBe("keys"));
    // The service and code the link named, as the preview answered them.
    expect(enrollCalls("enroll")).toEqual([{ serviceUrl: SERVICE, code: CODE, revokeOtherAdminKeys: false }]);
  });

  it("asks for the URL and the code before looking anything up", async () => {
    await continueWith("", "");
    expect(screen.getByTestId("enroll-url-error").textContent).toMatch(/address/);
    expect(screen.getByTestId("enroll-code-error").textContent).toMatch(/enrollment code/);
    expect(document.activeElement).toBe(byId("enroll-url"));
    await fireEvent.input(byId("enroll-url"), { target: { value: "ftp://keys.example" } });
    expect(screen.getByTestId("enroll-url-error").textContent).toMatch(/https/);
    expect(calls).toEqual([]);
  });

  it("warns about plain http to another machine", async () => {
    render(ServicesPage);
    await fireEvent.click(screen.getByTestId("connect-mode-code"));
    await fireEvent.input(byId("enroll-url"), { target: { value: "http://keys.example.com" } });
    expect(screen.getByTestId("enroll-form").textContent).toMatch(/Plain http sends the code unencrypted/);
  });

  it("Back returns to the form with its values", async () => {
    await continueWith(SERVICE, CODE);
    await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("enroll-cancel"));
    expect(screen.queryByTestId("enroll-confirm")).toBeNull();
    expect(byId("enroll-url").value).toBe(SERVICE);
    expect(byId("enroll-code").value).toBe(CODE);
    await waitFor(() => expect(document.activeElement).toBe(byId("enroll-code")));
    expect(enrollCalls("enroll")).toEqual([]);
  });

  it("says that connecting switches away from the service in use", async () => {
    app.status = status();
    await continueWith(SERVICE, CODE);
    await waitFor(() => expect(screen.getByTestId("enroll-switch-note").textContent).toMatch(/the embedded service/));
  });
});
