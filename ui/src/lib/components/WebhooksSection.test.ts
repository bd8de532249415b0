// Account → Webhooks against the dev mock backend (ui/src/lib/mock-backend.ts):
// its demo account has a working endpoint and one the service disabled after
// a day of failures; its simulated worker delivers a test event within a second.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { PortalStatus } from "../types";
import WebhooksSection from "./WebhooksSection.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
/** Answers a command instead of the mock (undefined: the mock answers). */
let intercept: ((cmd: string, args: Record<string, unknown>) => unknown) | null;

beforeAll(() => window.history.replaceState({}, "", "/?delay=0"));
afterAll(() => window.history.replaceState({}, "", "/"));

beforeEach(async () => {
  // A fresh mock service for each test.
  vi.resetModules();
  const { mockInvoke } = await import("../mock-backend");
  calls = [];
  intercept = null;
  mockIPC(async (cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    const own = intercept?.(cmd, args);
    if (own !== undefined) return own;
    return mockInvoke(cmd, args);
  });
  app.status = (await mockInvoke("portal_status")) as PortalStatus;
  app.webhooksTarget = null;
  toasts.items = [];
});

afterEach(() => clearMocks());

const SLOW = { timeout: 5000 };
const byId = (id: string) => screen.getByTestId(id);
const input = (id: string) => byId(id) as HTMLInputElement;
const text = (id: string) => byId(id).textContent?.replace(/\s+/g, " ").trim() ?? "";
const rows = () => screen.queryAllByTestId("webhook-row");
const sent = (cmd: string) => calls.filter((c) => c.cmd === cmd);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RELAY = "https://hooks.acme-robotics.example/keyport";
const SYNC = "https://deploy.acme-robotics.example/hooks/rotate";

async function listed() {
  render(WebhooksSection);
  await waitFor(() => expect(rows()).toHaveLength(2));
  return rows() as [HTMLElement, HTMLElement];
}

async function type(id: string, value: string) {
  await fireEvent.input(input(id), { target: { value } });
}

describe("Webhooks", () => {
  it("lists each endpoint with its URL, events, state and masked secret", async () => {
    const [relay, sync] = await listed();
    expect(text("webhooks-section")).toMatch(/signed per Standard Webhooks: verify each request's webhook-signature header/);
    expect(within(relay).getByTestId("webhook-row-url").textContent).toBe(RELAY);
    expect(relay.dataset.id).toMatch(/^wh_/);
    expect(within(relay).getByTestId("webhook-row-description").textContent).toBe("Ops channel relay");
    expect(within(relay).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "key.created",
      "key.rotated",
      "key.revoked",
      "alert.raised",
    ]);
    expect(within(relay).getByTestId("webhook-state").dataset.state).toBe("enabled");
    expect(within(relay).getByTestId("webhook-secret-masked").textContent).toMatch(/^whsec_….{4}$/);
    expect(within(relay).getByTestId("webhook-toggle").textContent?.trim()).toBe("Disable");
    expect(relay.textContent).toMatch(/Added \d+ \w{3} \d{4}/);

    expect(within(sync).getByTestId("webhook-row-url").textContent).toBe(SYNC);
    expect(within(sync).getByTestId("webhook-state").dataset.state).toBe("disabled");
    expect(within(sync).getByTestId("webhook-disabled-reason").textContent).toMatch(
      /Disabled by Keyport:\s+Every delivery since \d{4}-\d\d-\d\d \d\d:\d\d UTC failed\. Fix the endpoint, then enable it again/,
    );
    expect(within(sync).getByTestId("webhook-toggle").textContent?.trim()).toBe("Enable");
    expect(sent("list_webhooks")).toHaveLength(1);
  });

  it("teaches when there are no endpoints, and says what went wrong when the list fails", async () => {
    let failing = true;
    intercept = (cmd) => {
      if (cmd !== "list_webhooks") return undefined;
      if (failing) throw { code: "unreachable", message: "Connection refused.", retry_after: null };
      return { endpoints: [], event_types: ["key.created", "key.revoked"] };
    };
    render(WebhooksSection);
    await waitFor(() => expect(byId("webhooks-error").dataset.code).toBe("unreachable"));
    failing = false;
    await fireEvent.click(byId("error-retry"));
    await waitFor(() => expect(byId("webhooks-empty")).toBeTruthy());
    expect(text("webhooks-empty")).toMatch(/No webhook endpoints yet/);
    // The form offers the service's event types.
    await fireEvent.click(byId("webhooks-empty-add"));
    expect(screen.getAllByRole("checkbox").map((c) => c.dataset.testid)).toEqual([
      "webhook-event-key.created",
      "webhook-event-key.revoked",
    ]);
  });

  it("adding an endpoint shows its signing secret once, then the new row", async () => {
    await listed();
    await fireEvent.click(byId("webhook-add"));
    expect(byId("webhook-form")).toBeTruthy();
    // One box per type an endpoint can subscribe to, none ticked; never webhook.test.
    expect(screen.getAllByRole("checkbox")).toHaveLength(9);
    expect(screen.getAllByRole("checkbox").every((c) => !(c as HTMLInputElement).checked)).toBe(true);
    expect(screen.queryByTestId("webhook-event-webhook.test")).toBeNull();
    expect(text("webhook-form")).toMatch(/Key revoked key\.revoked A key was revoked and stops working\./);

    await type("webhook-url", "https://chat.example.com/hooks/keyport");
    await type("webhook-description", "Team chat");
    await fireEvent.click(byId("webhook-event-key.revoked"));
    await fireEvent.click(byId("webhook-event-key.created"));
    await fireEvent.click(byId("webhook-save"));

    await waitFor(() => expect(screen.queryByTestId("webhook-secret")).toBeTruthy());
    const secret = text("webhook-secret");
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(sent("create_webhook")[0].args).toEqual({
      req: { url: "https://chat.example.com/hooks/keyport", events: ["key.created", "key.revoked"], description: "Team chat" },
    });
    expect(screen.queryByTestId("webhook-form")).toBeNull();
    expect(text("webhook-secret-dialog")).toMatch(/It will not be shown again/);
    // Esc does not close it: "I have stored it" is the only way out.
    await fireEvent.keyDown(byId("webhook-secret-dialog"), { key: "Escape" });
    expect(byId("webhook-secret-dialog")).toBeTruthy();

    await fireEvent.click(byId("webhook-secret-copy"));
    await waitFor(() => expect(text("webhook-secret-copied")).toMatch(/Copied — clipboard clears in 60 s/));
    expect(sent("copy_secret")[0].args).toEqual({ secret });

    await fireEvent.click(byId("webhook-secret-done"));
    expect(screen.queryByTestId("webhook-secret-dialog")).toBeNull();
    expect(document.body.textContent).not.toContain(secret);
    await waitFor(() => expect(rows()).toHaveLength(3));
    const added = rows()[2]!;
    expect(within(added).getByTestId("webhook-row-url").textContent).toBe("https://chat.example.com/hooks/keyport");
    expect(within(added).getByTestId("webhook-state").dataset.state).toBe("enabled");
    expect(within(added).getByTestId("webhook-secret-masked").textContent).toBe(`whsec_…${secret.slice(-4)}`);
    expect(toasts.items.map((t) => t.text)).toContain("Webhook endpoint added. Send it a test event to check it receives.");

    // A new form starts empty.
    await fireEvent.click(byId("webhook-add"));
    expect(input("webhook-url").value).toBe("");
    expect(input("webhook-event-key.created").checked).toBe(false);
  });

  it("a URL the service refuses: its message, the field marked, everything typed kept", async () => {
    await listed();
    await fireEvent.click(byId("webhook-add"));
    await type("webhook-url", "ftp://files.example.com/hook");
    await type("webhook-description", "Archive");
    await fireEvent.click(byId("webhook-event-key.rotated"));
    await fireEvent.click(byId("webhook-save"));

    await waitFor(() => expect(byId("webhook-form-error").dataset.code).toBe("invalid"));
    expect(text("webhook-form-error")).toMatch(/Please check the endpoint URL must use https:\/\/, not ftp:\/\/\./);
    expect(byId("webhook-form")).toBeTruthy();
    expect(input("webhook-url").value).toBe("ftp://files.example.com/hook");
    expect(input("webhook-url").getAttribute("aria-invalid")).toBe("true");
    expect(input("webhook-description").value).toBe("Archive");
    expect(input("webhook-event-key.rotated").checked).toBe(true);
    expect(screen.queryByTestId("webhook-secret-dialog")).toBeNull();
    expect(rows()).toHaveLength(2);
    // Changing the URL clears the mark.
    await type("webhook-url", "https://files.example.com/hook");
    expect(input("webhook-url").getAttribute("aria-invalid")).toBeNull();

    // Closed and opened again: still there.
    await fireEvent.click(byId("webhook-cancel"));
    expect(screen.queryByTestId("webhook-form")).toBeNull();
    await fireEvent.click(byId("webhook-add"));
    expect(input("webhook-url").value).toBe("https://files.example.com/hook");
    expect(input("webhook-event-key.rotated").checked).toBe(true);

    // What is plainly missing is said without asking the service.
    const before = sent("create_webhook").length;
    await type("webhook-url", "  ");
    await fireEvent.click(byId("webhook-events-none"));
    await fireEvent.click(byId("webhook-save"));
    expect(text("webhook-url-error")).toBe("Enter the URL Keyport should send events to.");
    expect(text("webhook-events-error")).toBe("Choose at least one event.");
    expect(sent("create_webhook")).toHaveLength(before);
  });

  it("a test event opens the log with a pending delivery that turns delivered; closing stops the polling", async () => {
    const [relay] = await listed();
    expect(within(relay).queryByTestId("webhook-deliveries")).toBeNull();
    await fireEvent.click(within(relay).getByTestId("webhook-test"));
    await waitFor(() => expect(within(relay).getByTestId("webhook-deliveries")).toBeTruthy());
    expect(sent("test_webhook")[0].args).toEqual({ id: relay.dataset.id });
    expect(within(relay).getByTestId("webhook-deliveries-toggle").getAttribute("aria-expanded")).toBe("true");

    const first = () => within(relay).getAllByTestId("delivery-row")[0]!;
    await waitFor(() => expect(within(first()).getByText("webhook.test")).toBeTruthy());
    expect(first().dataset.status).toBe("pending");
    expect(within(first()).getByTestId("delivery-status").textContent).toMatch(/Pending/);
    expect(within(first()).getByTestId("delivery-retry")).toBeTruthy();

    // The log asks again every 2 s while something is on its way.
    await waitFor(() => expect(first().dataset.status).toBe("delivered"), SLOW);
    expect(within(first()).getByTestId("delivery-status").textContent).toMatch(/Delivered/);
    expect(within(first()).getByTestId("delivery-http").textContent).toBe("200");
    expect(within(first()).getByTestId("delivery-attempts").textContent).toBe("1");
    expect(within(first()).getByTestId("delivery-latency").textContent).toMatch(/^\d+ ms$/);
    expect(within(first()).queryByTestId("delivery-retry")).toBeNull();
    expect(sent("webhook_deliveries").length).toBeGreaterThanOrEqual(2);
    for (const c of sent("webhook_deliveries")) expect(c.args).toEqual({ id: relay.dataset.id });

    await fireEvent.click(within(relay).getByTestId("webhook-deliveries-toggle"));
    expect(within(relay).queryByTestId("webhook-deliveries")).toBeNull();
    const reads = sent("webhook_deliveries").length;
    await sleep(2_500);
    expect(sent("webhook_deliveries")).toHaveLength(reads);
  }, 15_000);

  it("offers Retry on pending and failed deliveries only, and says why a disabled endpoint's cannot go", async () => {
    const [relay, sync] = await listed();
    await fireEvent.click(within(relay).getByTestId("webhook-deliveries-toggle"));
    await waitFor(() => expect(within(relay).getAllByTestId("delivery-row")).toHaveLength(6));
    expect(within(relay).getAllByTestId("delivery-row").every((r) => r.dataset.status === "delivered")).toBe(true);
    expect(within(relay).queryAllByTestId("delivery-retry")).toHaveLength(0);

    await fireEvent.click(within(sync).getByTestId("webhook-deliveries-toggle"));
    await waitFor(() => expect(within(sync).getAllByTestId("delivery-row")).toHaveLength(3));
    const log = () => within(sync).getAllByTestId("delivery-row");
    expect(log().map((r) => r.dataset.status)).toEqual(["pending", "pending", "failed"]);
    for (const r of log()) expect(within(r).getByTestId("delivery-retry")).toBeTruthy();
    expect(within(log()[0]!).getByTestId("delivery-next").textContent).toBe("paused");
    expect(within(sync).getAllByTestId("delivery-error")[0]!.textContent).toMatch(/the endpoint answered HTTP 503/);
    expect(within(log()[2]!).getByTestId("delivery-attempts").textContent).toBe("8");

    // Disabled: the service refuses, and the row says so.
    await fireEvent.click(within(log()[2]!).getByTestId("delivery-retry"));
    await waitFor(() => expect(within(sync).getByTestId("delivery-retry-error").dataset.code).toBe("conflict"));
    expect(within(sync).getByTestId("delivery-retry-error").textContent).toMatch(/This endpoint is disabled: enable it first\./);

    // Enabled again, the retry goes.
    await fireEvent.click(within(sync).getByTestId("webhook-toggle"));
    await waitFor(() => expect(within(sync).getByTestId("webhook-state").dataset.state).toBe("enabled"));
    expect(sent("update_webhook").at(-1)!.args).toEqual({ id: sync.dataset.id, req: { enabled: true } });
    expect(within(sync).queryByTestId("webhook-disabled-reason")).toBeNull();
    const failed = log().find((r) => r.dataset.status === "failed")!;
    const id = Number(failed.dataset.id);
    await fireEvent.click(within(failed).getByTestId("delivery-retry"));
    await waitFor(() => expect(sent("retry_delivery")).toHaveLength(2));
    expect(sent("retry_delivery").at(-1)!.args).toEqual({ id: sync.dataset.id, delivery: id });
    await waitFor(() => expect(log().find((r) => Number(r.dataset.id) === id)!.dataset.status).toBe("pending"));
  });

  it("Disable, Enable and Delete call their commands; Delete asks first, naming the endpoint", async () => {
    const [relay] = await listed();
    const id = relay.dataset.id;
    await fireEvent.click(within(relay).getByTestId("webhook-toggle"));
    await waitFor(() => expect(within(relay).getByTestId("webhook-state").dataset.state).toBe("disabled"));
    expect(sent("update_webhook")[0].args).toEqual({ id, req: { enabled: false } });
    // Off by hand: no reason from the service.
    expect(within(relay).queryByTestId("webhook-disabled-reason")).toBeNull();
    expect(within(relay).getByTestId("webhook-toggle").textContent?.trim()).toBe("Enable");
    // A test event to a disabled endpoint: the service's answer, in the row.
    await fireEvent.click(within(relay).getByTestId("webhook-test"));
    await waitFor(() => expect(within(relay).getByTestId("webhook-row-error").textContent).toMatch(/enable it first/));
    await fireEvent.click(within(relay).getByTestId("webhook-toggle"));
    await waitFor(() => expect(within(relay).getByTestId("webhook-state").dataset.state).toBe("enabled"));
    expect(sent("update_webhook")[1].args).toEqual({ id, req: { enabled: true } });

    await fireEvent.click(within(relay).getByTestId("webhook-delete"));
    expect(text("webhook-delete-dialog")).toContain(RELAY);
    await fireEvent.click(byId("webhook-delete-cancel"));
    expect(screen.queryByTestId("webhook-delete-dialog")).toBeNull();
    expect(sent("delete_webhook")).toHaveLength(0);

    await fireEvent.click(within(relay).getByTestId("webhook-delete"));
    await fireEvent.click(byId("webhook-delete-confirm"));
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(sent("delete_webhook")[0].args).toEqual({ id });
    expect(screen.queryByTestId("webhook-delete-dialog")).toBeNull();
    expect(within(rows()[0]!).getByTestId("webhook-row-url").textContent).toBe(SYNC);
    expect(toasts.items.map((t) => t.text)).toContain(`Deleted the webhook endpoint ${RELAY}.`);
  });

  it("Edit reuses the form and sends only what changed", async () => {
    const [relay] = await listed();
    await fireEvent.click(within(relay).getByTestId("webhook-edit"));
    expect(text("webhook-form")).toMatch(/Edit webhook endpoint/);
    expect(input("webhook-url").value).toBe(RELAY);
    expect(input("webhook-description").value).toBe("Ops channel relay");
    expect(screen.getAllByRole("checkbox").filter((c) => (c as HTMLInputElement).checked)).toHaveLength(4);
    await fireEvent.click(byId("webhook-event-alert.raised"));
    await fireEvent.click(byId("webhook-event-key.expiring"));
    await fireEvent.click(byId("webhook-save"));
    await waitFor(() => expect(screen.queryByTestId("webhook-form")).toBeNull());
    expect(sent("update_webhook")[0].args).toEqual({
      id: relay.dataset.id,
      req: { events: ["key.created", "key.rotated", "key.revoked", "key.expiring"] },
    });
    expect(within(rows()[0]!).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "key.created",
      "key.rotated",
      "key.revoked",
      "key.expiring",
    ]);
    // Nothing changed: nothing sent.
    await fireEvent.click(within(rows()[0]!).getByTestId("webhook-edit"));
    await fireEvent.click(byId("webhook-save"));
    await waitFor(() => expect(screen.queryByTestId("webhook-form")).toBeNull());
    expect(sent("update_webhook")).toHaveLength(1);
  });

  it("an alert about an endpoint opens that endpoint's log", async () => {
    const [, sync] = await listed();
    app.webhooksTarget = { endpointId: sync.dataset.id! };
    await waitFor(() => expect(within(sync).getByTestId("webhook-deliveries")).toBeTruthy());
    expect(app.webhooksTarget).toBeNull();
    expect(within(rows()[0]!).queryByTestId("webhook-deliveries")).toBeNull();
  });
});
