import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { alert } from "../../test/alert-fixtures";
import { key, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { Alert } from "../types";
import AlertsPage from "./AlertsPage.svelte";
import KeysPage from "./KeysPage.svelte";
import QuarantineDialog from "./QuarantineDialog.svelte";
import Sidebar from "./Sidebar.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;
let open: Alert[];
let all: Alert[];

const billing = key({ id: "key_billing", name: "Billing worker", environment: "live" });
const staging = key({ id: "key_staging", name: "Staging deploy", environment: "staging", prefix: "to_staging_" });

beforeEach(() => {
  calls = [];
  open = [];
  all = [];
  reply = (cmd, args) => {
    if (cmd === "list_alerts") return { alerts: args.all ? all : open };
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.keys.items = [billing, staging];
  app.keys.loaded = true;
  app.keys.cursor = null;
  app.alerts = [];
  app.alertsLoaded = false;
  app.alertsError = null;
  app.allAlerts = null;
  app.allAlertsError = null;
  app.alertsKeyId = null;
  app.view = "alerts";
  app.detailsId = null;
  app.createOpen = false;
  toasts.items = [];
});

afterEach(() => clearMocks());

const cards = () => screen.queryAllByTestId("alert-card");
const alertCalls = () => calls.filter((c) => c.cmd === "list_alerts");

describe("Alerts screen", () => {
  it("says nothing needs attention, with the rotation policy", async () => {
    render(AlertsPage);
    await waitFor(() => expect(screen.getByTestId("alerts-empty")).toBeTruthy());
    const text = screen.getByTestId("alerts-empty").textContent ?? "";
    expect(text).toMatch(/Nothing needs attention/);
    expect(text).toMatch(/every 90 days, test and\s+staging keys every 30/);
    expect(alertCalls()[0].args).toEqual({ all: false });
  });

  it("shows a loading state, then an error with a retry that works", async () => {
    let fail = true;
    reply = (cmd) => {
      if (cmd !== "list_alerts") return null;
      if (fail) throw { code: "unreachable", message: "Connection refused.", retry_after: null };
      return { alerts: [alert({ key_id: billing.id })] };
    };
    render(AlertsPage);
    expect(screen.getByTestId("alerts-loading").getAttribute("aria-busy")).toBe("true");
    await waitFor(() => expect(screen.getByTestId("alerts-error").dataset.code).toBe("unreachable"));
    fail = false;
    await fireEvent.click(screen.getByTestId("error-retry"));
    await waitFor(() => expect(cards()).toHaveLength(1));
    expect(screen.queryByTestId("alerts-error")).toBeNull();
  });

  it("lists open alerts newest first with their evidence, key and actions", async () => {
    open = [
      alert({ id: "a_spike", kind: "volume_spike", key_id: billing.id, created_at: "2026-03-12T11:58:00Z" }),
      alert({ id: "a_over", kind: "rotation_overdue", key_id: "key_not_loaded_123456", created_at: "2026-03-12T09:00:00Z" }),
      alert({ id: "a_country", kind: "new_country", key_id: staging.id, created_at: "2026-03-12T11:00:00Z" }),
    ];
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(3));
    expect(cards().map((c) => c.dataset.kind)).toEqual(["volume_spike", "new_country", "rotation_overdue"]);

    const [spike, country, over] = cards();
    expect(within(spike).getByTestId("alert-summary").textContent).toBe(
      "1,240 requests in the last 10 minutes, 13× the usual 98",
    );
    expect(within(spike).getByTestId("alert-stats").textContent).toMatch(/Requests\s*1,240 in 10 min/);
    expect(within(spike).getByTestId("alert-key").textContent).toBe("Billing worker");
    expect(spike.querySelector(".env")?.textContent).toBe("live");
    expect(within(spike).getByRole("heading").textContent).toMatch(/Traffic spike/);
    expect(within(spike).getByTestId("alert-chart")).toBeTruthy();
    expect(within(spike).queryByTestId("alert-rotate")).toBeNull();

    expect(within(country).getByTestId("alert-summary").textContent).toBe(
      "First requests ever from Brazil (BR) with this key",
    );
    expect(country.querySelector(".env")?.textContent).toBe("staging");

    // A key that is not loaded: its id, shortened; the environment from the evidence.
    expect(within(over).getByTestId("alert-key").textContent).toBe("key_not_…3456");
    expect(over.querySelector(".env")?.textContent).toBe("live");
    expect(within(over).getByTestId("alert-summary").textContent).toMatch(/^Overdue for rotation since 5 Mar 2026/);
    expect(within(over).getByTestId("alert-rotate")).toBeTruthy();
    expect(within(over).queryByTestId("alert-chart")).toBeNull();
    expect(within(over).getByTestId("alert-ack").getAttribute("aria-label")).toBe(
      "Acknowledge Rotation overdue on key_not_…3456",
    );
  });

  it("Quarantine… on an anomaly alert opens the dialog with the alert as the reason", async () => {
    const admin = key({ id: "key_admin", name: "Admin", scopes: ["admin"] });
    app.keys.items = [billing, staging, admin];
    open = [
      alert({ id: "a_spike", kind: "volume_spike", key_id: billing.id }),
      alert({ id: "a_admin", kind: "new_country", key_id: admin.id }),
      alert({ id: "a_due", kind: "rotation_due_soon", key_id: staging.id }),
    ];
    app.quarantineTarget = null;
    app.quarantineSeed = "";
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(3));
    const [spike, country, due] = cards();
    // Admin keys cannot be quarantined; reminders are not suspicions.
    expect(within(country).queryByTestId("alert-quarantine")).toBeNull();
    expect(within(due).queryByTestId("alert-quarantine")).toBeNull();
    await fireEvent.click(within(spike).getByTestId("alert-quarantine"));
    await waitFor(() => expect(app.quarantineTarget?.id).toBe(billing.id));
    expect(app.quarantineSeed).toBe(
      "Alert: 1,240 requests in the last 10 minutes, 13× the usual 98",
    );
    // The dialog starts with that reason, once: the next one starts empty.
    render(QuarantineDialog, { key: billing });
    const input = screen.getByLabelText(/Why\?/) as HTMLInputElement;
    expect(input.value).toBe("Alert: 1,240 requests in the last 10 minutes, 13× the usual 98");
    expect(app.quarantineSeed).toBe("");
    app.quarantineTarget = null;
  });

  it("View chart, Open key and Rotate… lead where they say", async () => {
    open = [
      alert({ kind: "error_spike", key_id: billing.id }),
      alert({ kind: "rotation_due_soon", key_id: staging.id }),
    ];
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(2));
    const [spike, due] = cards();
    await fireEvent.click(within(due).getByTestId("alert-rotate"));
    // The rotation wizard, for that key.
    await waitFor(() => expect(app.view).toBe("rotate"));
    expect(app.rotation).toEqual({ queue: [staging.id], index: 0 });
    app.rotation = null;
    app.view = "alerts";

    await fireEvent.click(within(spike).getByTestId("alert-open-key"));
    expect(app.detailsId).toBe(billing.id);
    await fireEvent.click(within(spike).getByTestId("alert-chart"));
    expect(app.view).toBe("usage");
    expect(app.usageKeyId).toBe(billing.id);
  });

  it("acknowledges at once, then confirms and refreshes", async () => {
    const a = alert({ id: "a_ack_ok", key_id: billing.id });
    open = [a, alert({ id: "a_other", key_id: staging.id, kind: "after_hours" })];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    reply = async (cmd, args) => {
      if (cmd === "list_alerts") return { alerts: args.all ? all : open };
      if (cmd === "ack_alert") {
        await held;
        open = open.filter((x) => x.id !== args.id);
        return { ...a, status: "acknowledged", acknowledged_at: "2026-03-12T12:00:00Z" };
      }
      return null;
    };
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(2));
    expect(app.openAlertCount).toBe(2);
    await fireEvent.click(within(cards()[0]).getByTestId("alert-ack"));
    // Gone before the service answered; the keyboard stays in the list.
    await waitFor(() => expect(cards().map((c) => c.dataset.kind)).toEqual(["after_hours"]));
    expect(app.openAlertCount).toBe(1);
    expect(app.alertsByKey.has(billing.id)).toBe(false);
    expect(document.activeElement).toBe(cards()[0]);
    expect(calls.find((c) => c.cmd === "ack_alert")?.args).toEqual({ id: "a_ack_ok" });
    const before = alertCalls().length;
    release();
    await waitFor(() => expect(toasts.items.map((t) => t.text)).toEqual(["Acknowledged: Traffic spike on “Billing worker”."]));
    await waitFor(() => expect(alertCalls().length).toBe(before + 1));
    expect(cards()).toHaveLength(1);
  });

  it("puts the alert back and says why when acknowledging fails", async () => {
    open = [alert({ id: "a_ack_fail", key_id: billing.id }), alert({ id: "a_second", key_id: billing.id, kind: "error_spike" })];
    reply = (cmd, args) => {
      if (cmd === "list_alerts") return { alerts: args.all ? all : open };
      if (cmd === "ack_alert") throw { code: "unreachable", message: "Connection refused.", retry_after: null };
      return null;
    };
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(2));
    await fireEvent.click(within(cards()[0]).getByTestId("alert-ack"));
    await waitFor(() => expect(toasts.items.some((t) => t.kind === "error")).toBe(true));
    expect(toasts.items[0].text).toMatch(/^Could not acknowledge the alert\. Can't reach the key service\. Connection refused\./);
    // Back, in its place, still open.
    await waitFor(() => expect(cards()).toHaveLength(2));
    expect(cards()[0].dataset.kind).toBe("volume_spike");
    expect(cards()[0].dataset.status).toBe("open");
    expect(app.openAlertCount).toBe(2);
    expect(app.alertsByKey.get(billing.id)).toBe(2);
  });

  it("All shows acknowledged and resolved alerts too, and acknowledging there updates the status", async () => {
    const o = alert({ id: "a_all_open", key_id: billing.id, created_at: "2026-03-12T10:00:00Z" });
    open = [o];
    all = [
      alert({ id: "a_all_res", key_id: billing.id, kind: "unusual_endpoint", status: "resolved", created_at: "2026-03-12T11:00:00Z", resolved_at: "2026-03-12T11:30:00Z" }),
      o,
      alert({ id: "a_all_ack", key_id: staging.id, kind: "after_hours", status: "acknowledged", created_at: "2026-03-11T10:00:00Z", acknowledged_at: "2026-03-11T10:05:00Z" }),
    ];
    reply = (cmd, args) => {
      if (cmd === "list_alerts") return { alerts: args.all ? all : open };
      if (cmd === "ack_alert") return { ...o, status: "acknowledged", acknowledged_at: "2026-03-12T12:00:00Z" };
      return null;
    };
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(1));
    await fireEvent.click(screen.getByTestId("alerts-tab-all"));
    expect(screen.getByTestId("alerts-tab-all").getAttribute("aria-pressed")).toBe("true");
    await waitFor(() => expect(cards()).toHaveLength(3));
    expect(alertCalls().at(-1)?.args).toEqual({ all: true });
    // Open first, then newest first.
    expect(cards().map((c) => c.dataset.status)).toEqual(["open", "resolved", "acknowledged"]);
    expect(within(cards()[1]).getByTestId("alert-status").textContent).toMatch(/Resolved/);
    expect(within(cards()[2]).getByTestId("alert-status").textContent).toMatch(/Acknowledged/);
    expect(within(cards()[1]).queryByTestId("alert-ack")).toBeNull();

    await fireEvent.click(within(cards()[0]).getByTestId("alert-ack"));
    await waitFor(() => expect(cards().filter((c) => c.dataset.status === "open")).toHaveLength(0));
    expect(cards()).toHaveLength(3);
    await fireEvent.click(screen.getByTestId("alerts-tab-open"));
    await waitFor(() => expect(screen.getByTestId("alerts-empty")).toBeTruthy());
  });

  it("a failing webhook: its endpoint, not a key; Open webhooks leads to Account → Webhooks", async () => {
    const hook = alert({ id: "a_hook", kind: "webhook_failing", message: "webhook endpoint kept failing" });
    open = [hook, alert({ id: "a_spike", key_id: billing.id })];
    reply = (cmd, args) => {
      if (cmd === "list_alerts") return { alerts: args.all ? all : open };
      if (cmd === "ack_alert") return { ...hook, status: "acknowledged", acknowledged_at: "2026-03-12T12:00:00Z" };
      throw { code: "not_found", message: `unexpected ${cmd}`, retry_after: null };
    };
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(2));
    const card = cards().find((c) => c.dataset.kind === "webhook_failing")!;
    expect(within(card).getByRole("heading").textContent).toMatch(/Webhook failing/);
    expect(within(card).getByTestId("alert-endpoint").textContent).toBe("https://hooks.example.com/keyport");
    expect(within(card).getByTestId("alert-summary").textContent).toMatch(
      /^Webhook endpoint https:\/\/hooks\.example\.com\/keyport was disabled after its deliveries kept failing.*Account → Webhooks$/,
    );
    // Nothing treats the endpoint id as a key.
    expect(within(card).queryByTestId("alert-key")).toBeNull();
    expect(within(card).queryByTestId("alert-open-key")).toBeNull();
    expect(within(card).queryByTestId("alert-chart")).toBeNull();
    expect(within(card).queryByTestId("alert-rotate")).toBeNull();
    expect(card.querySelector(".env")).toBeNull();
    expect(within(card).getByTestId("alert-ack").getAttribute("aria-label")).toBe(
      "Acknowledge Webhook failing on https://hooks.example.com/keyport",
    );
    // Counted in the sidebar, never on a key's badge.
    expect(app.openAlertCount).toBe(2);
    expect([...app.alertsByKey.keys()]).toEqual([billing.id]);

    await fireEvent.click(within(card).getByTestId("alert-ack"));
    await waitFor(() =>
      expect(toasts.items.map((t) => t.text)).toEqual(["Acknowledged: Webhook failing on https://hooks.example.com/keyport."]),
    );
    app.accountTab = "policies";
    all = [{ ...hook, status: "acknowledged", acknowledged_at: "2026-03-12T12:00:00Z" }];
    await fireEvent.click(screen.getByTestId("alerts-tab-all"));
    await waitFor(() => expect(screen.queryAllByTestId("alert-open-webhooks")).toHaveLength(1));
    await fireEvent.click(screen.getByTestId("alert-open-webhooks"));
    expect(app.view).toBe("account");
    expect(app.accountTab).toBe("overview");
    expect(app.webhooksTarget).toEqual({ endpointId: hook.key_id });
    expect(calls.some((c) => c.cmd === "get_key")).toBe(false);
    app.webhooksTarget = null;
  });

  it("narrows to one key when opened from its badge", async () => {
    open = [alert({ key_id: billing.id }), alert({ key_id: staging.id, kind: "key_expiring" })];
    app.alertsKeyId = staging.id;
    render(AlertsPage);
    await waitFor(() => expect(cards()).toHaveLength(1));
    expect(cards()[0].dataset.kind).toBe("key_expiring");
    expect(screen.getByTestId("alerts-scope").textContent).toMatch(/Staging deploy/);
    await fireEvent.click(screen.getByTestId("alerts-scope-clear"));
    expect(cards()).toHaveLength(2);
  });
});

describe("badges", () => {
  it("the sidebar counts open alerts and hides at 0", async () => {
    render(Sidebar);
    expect(screen.queryByTestId("alerts-count")).toBeNull();
    app.alerts = [alert({ key_id: billing.id }), alert({ key_id: staging.id }), alert({ key_id: staging.id })];
    await waitFor(() => expect(screen.getByTestId("alerts-count").textContent).toBe("3 open alerts"));
    app.alerts = [alert({ key_id: billing.id })];
    await waitFor(() => expect(screen.getByTestId("alerts-count").textContent).toBe("1 open alert"));
    app.alerts = [];
    await waitFor(() => expect(screen.queryByTestId("alerts-count")).toBeNull());
  });

  it("a key row shows its open alerts and leads to them", async () => {
    app.view = "keys";
    render(KeysPage);
    expect(screen.queryAllByTestId("key-alert-badge")).toHaveLength(0);
    app.alerts = [
      alert({ key_id: staging.id, kind: "volume_spike" }),
      alert({ key_id: staging.id, kind: "key_expiring" }),
    ];
    await waitFor(() => expect(screen.getAllByTestId("key-alert-badge")).toHaveLength(1));
    const row = screen.getAllByTestId("key-row").find((r) => r.dataset.keyId === staging.id)!;
    const badge = within(row).getByTestId("key-alert-badge");
    expect(badge.textContent).toBe("2");
    expect(badge.getAttribute("title")).toBe("2 open alerts: Traffic spike, Key expiring");
    await fireEvent.click(badge);
    expect(app.view).toBe("alerts");
    expect(app.alertsKeyId).toBe(staging.id);
    // The row's own click (the key drawer) did not fire.
    expect(app.detailsId).toBeNull();
    app.view = "keys";
    app.alerts = [];
    await waitFor(() => expect(screen.queryAllByTestId("key-alert-badge")).toHaveLength(0));
  });
});

describe("connections", () => {
  it("a new connection drops the previous one's alerts and their badges", async () => {
    render(Sidebar);
    app.alerts = [alert({ key_id: billing.id })];
    app.alertsLoaded = true;
    await waitFor(() => expect(screen.getByTestId("alerts-count")).toBeTruthy());
    app.applyStatus(status({ mode: "remote", service_url: "https://keys.example.com", account: null }));
    await waitFor(() => expect(screen.queryByTestId("alerts-count")).toBeNull());
    expect(app.alertsLoaded).toBe(false);
    expect(app.alertsByKey.size).toBe(0);
  });
});

describe("refresh", () => {
  it("loads the open alerts once started and every 60 s after", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      open = [alert({ key_id: billing.id })];
      app.startAlerts();
      app.startAlerts();
      await vi.waitFor(() => expect(app.alerts).toHaveLength(1));
      expect(alertCalls()).toHaveLength(1);
      open = [];
      vi.advanceTimersByTime(60_000);
      await vi.waitFor(() => expect(app.alerts).toHaveLength(0));
      expect(alertCalls()).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
