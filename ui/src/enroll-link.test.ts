// keyport://enroll links: the one the app was started with, and one opened
// while it runs, both open the confirmation; neither enrolls by itself.
// (Its own file: start-up takes the link once per app.)
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, expect, it } from "vitest";
import App from "./App.svelte";
import { app } from "./lib/app.svelte";
import { preloadViews } from "./lib/lazy.svelte";
import type { EnrollLink, EnrollOffer } from "./lib/types";
import { ACCOUNT, key, status } from "./test/fixtures";

afterEach(() => clearMocks());

function offer(link: EnrollLink, name: string): EnrollOffer {
  return {
    service_url: link.service_url,
    code: link.code,
    preview: {
      account_id: `acc_${name}`,
      account_name: name,
      plan: "professional",
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      key_prefix: "to",
      admin_keys: 0,
    },
  };
}

it("opens the confirmation for the start link and for links opened later, and enrolls only on Connect", async () => {
  const first: EnrollLink = { service_url: "https://keys.vendor.example", code: "7K3QM-X9D2A-BC4EF-GH5JK" };
  const later: EnrollLink = { service_url: "https://keys.other.example", code: "AAAAA-BBBBB-CCCCC-DDDDD" };
  const names = new Map([[first.code, "Acme Corp"], [later.code, "Globex"]]);
  const calls: { cmd: string; args: Record<string, unknown> }[] = [];
  let link: EnrollLink | null = first;
  mockIPC(
    (cmd, raw) => {
      const args = raw as Record<string, unknown>;
      calls.push({ cmd, args });
      if (cmd === "portal_status") return status();
      if (cmd === "list_keys") return { keys: [key({ name: "Billing worker" })], next_cursor: null };
      if (cmd === "take_enroll_link") {
        // Handed out once.
        const l = link;
        link = null;
        return l;
      }
      if (cmd === "enrollment_preview") {
        const asked = { service_url: String(args.serviceUrl), code: String(args.code) };
        return offer(asked, names.get(asked.code) ?? "?");
      }
      if (cmd === "enroll") {
        const account = { ...ACCOUNT, id: "acc_Globex", name: "Globex" };
        return status({ mode: "remote", service_url: later.service_url, account });
      }
      return null;
    },
    { shouldMockEvents: true },
  );
  render(App);

  // The Services screen is a lazy chunk: under Vitest it is compiled on first use.
  await waitFor(() => expect(screen.getByTestId("enroll-confirm")).toBeTruthy(), { timeout: 5000 });
  expect(app.view).toBe("services");
  expect(screen.getByTestId("connect-mode-code").getAttribute("aria-pressed")).toBe("true");
  expect(screen.getByTestId("enroll-confirm-account").textContent).toBe("Acme Corp");
  expect(screen.getByTestId("enroll-confirm-service").textContent).toBe(first.service_url);
  expect(calls.filter((c) => c.cmd === "take_enroll_link")).toHaveLength(1);
  expect(calls.find((c) => c.cmd === "enrollment_preview")?.args).toEqual({ serviceUrl: first.service_url, code: first.code });
  expect(calls.some((c) => c.cmd === "enroll")).toBe(false);

  // Back keeps the link's service and code in the form.
  await fireEvent.click(screen.getByTestId("enroll-cancel"));
  expect((screen.getByTestId("enroll-url") as HTMLInputElement).value).toBe(first.service_url);
  expect((screen.getByTestId("enroll-code") as HTMLInputElement).value).toBe(first.code);

  // A link opened while the app runs, from another screen.
  app.go("keys");
  await emit("enroll-link", later);
  await waitFor(() => expect(screen.getByTestId("enroll-confirm-account").textContent).toBe("Globex"));
  expect(app.view).toBe("services");
  expect(calls.some((c) => c.cmd === "enroll")).toBe(false);

  await fireEvent.click(screen.getByTestId("enroll-submit"));
  await waitFor(() => expect(app.view).toBe("keys"));
  expect(calls.filter((c) => c.cmd === "enroll").map((c) => c.args)).toEqual([
    { serviceUrl: later.service_url, code: later.code, revokeOtherAdminKeys: false },
  ]);
  expect(app.status?.account?.name).toBe("Globex");
  // The other screens load in the background after start-up: let them finish.
  await preloadViews();
});
