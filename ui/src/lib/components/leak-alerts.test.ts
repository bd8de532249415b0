// "Key found public" on the Alerts screen: where it leaked, what the service
// did, and the one thing to do next (rotate a working key, replace a revoked one).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alert, EVIDENCE } from "../../test/alert-fixtures";
import { daysAgo, key, NOW, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { Alert, KeyView } from "../types";
import { emptyForm } from "../validation";
import AlertsPage from "./AlertsPage.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let open: Alert[];
let getKey: (id: string) => KeyView;

const URL = EVIDENCE.leak_reported.url as string;
const quarantine = { at: new Date(NOW - 35 * 60_000).toISOString(), reason: URL, source: "leak_report", networks: [], countries: [] };

beforeEach(() => {
  calls = [];
  open = [];
  getKey = (id) => {
    throw { code: "not_found", message: `no ${id}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    const a = args as Record<string, unknown>;
    calls.push({ cmd, args: a });
    if (cmd === "list_alerts") return { alerts: open };
    if (cmd === "get_key") return getKey(String(a.id));
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  });
  app.status = status();
  app.now = NOW;
  app.keys.items = [];
  app.keys.loaded = true;
  app.alerts = [];
  app.alertsLoaded = false;
  app.allAlerts = null;
  app.alertsKeyId = null;
  app.view = "alerts";
  app.detailsId = null;
  app.createOpen = false;
  app.createDraft = emptyForm();
  app.compromiseTarget = null;
  app.once = null;
  toasts.items = [];
});

afterEach(() => clearMocks());

const cards = () => screen.queryAllByTestId("alert-card");

async function shown() {
  render(AlertsPage);
  await waitFor(() => expect(cards().length).toBe(open.length));
  return cards();
}

describe("Key found public", () => {
  it("shows where it leaked (selectable text), the source and what was done", async () => {
    const k = key({ id: "key_billing", name: "Billing worker", quarantine });
    app.keys.items = [k];
    open = [alert({ id: "a_leak", kind: "leak_reported", key_id: k.id })];
    const [card] = await shown();
    expect(card.dataset.kind).toBe("leak_reported");
    expect(within(card).getByRole("heading").textContent).toMatch(/^Key found public/);
    const url = within(card).getByTestId("alert-leak-url");
    expect(url.textContent).toBe(URL);
    // Text to select and copy, not a link that opens a browser.
    expect(url.tagName).not.toBe("A");
    expect(within(card).getByTestId("alert-summary").textContent).toMatch(/“Billing worker” \(to_live_…a1b2\) was found in a public commit/);
    expect(within(card).getByTestId("alert-stats").textContent).toMatch(/Source\s*commit/);
    expect(within(card).getByTestId("alert-leak-action").textContent).toMatch(/Quarantined: read-only until you rotate or release it/);
    // No usage chart here: the next step is to rotate.
    expect(within(card).queryByTestId("alert-chart")).toBeNull();
  });

  it("Rotate now opens the compromise rotation while the key still works", async () => {
    const k = key({ id: "key_billing", name: "Billing worker", quarantine });
    app.keys.items = [k];
    open = [alert({ kind: "leak_reported", key_id: k.id })];
    const [card] = await shown();
    expect(within(card).queryByTestId("alert-create-replacement")).toBeNull();
    await fireEvent.click(within(card).getByTestId("alert-rotate-now"));
    await waitFor(() => expect(app.compromiseTarget?.id).toBe("key_billing"));
  });

  it("a key not loaded is fetched before its rotation", async () => {
    const k = key({ id: "key_far", name: "Far away", quarantine });
    getKey = () => k;
    open = [alert({ kind: "leak_reported", key_id: k.id })];
    const [card] = await shown();
    await fireEvent.click(within(card).getByTestId("alert-rotate-now"));
    await waitFor(() => expect(app.compromiseTarget?.id).toBe("key_far"));
    expect(calls.filter((c) => c.cmd === "get_key")).toEqual([{ cmd: "get_key", args: { id: "key_far" } }]);
  });

  it("a revoked key: no Rotate now, Create replacement opens Create key with its settings", async () => {
    const k = key({
      id: "key_ci",
      name: "CI runner",
      environment: "test",
      prefix: "to_test_",
      scopes: ["read", "write"],
      resources: ["project:ci"],
      status: "revoked",
      revoked_at: daysAgo(1),
    });
    app.keys.items = [k];
    open = [
      alert({
        kind: "leak_reported",
        key_id: k.id,
        evidence: { ...EVIDENCE.leak_reported, action: "revoked", source: "gist", masked: "to_test_…c1c1" },
      }),
    ];
    const [card] = await shown();
    expect(within(card).queryByTestId("alert-rotate-now")).toBeNull();
    expect(within(card).getByTestId("alert-leak-action").textContent).toMatch(/Revoked/);
    await fireEvent.click(within(card).getByTestId("alert-create-replacement"));
    await waitFor(() => expect(app.createOpen).toBe(true));
    expect(app.createDraft).toMatchObject({ name: "CI runner", environment: "test", scopes: ["read", "write"], resources: ["project:ci"] });
  });

  it("a key not loaded is judged by what the service did", async () => {
    open = [
      alert({ id: "a_q", kind: "leak_reported", key_id: "key_unloaded_1", created_at: new Date(NOW - 60_000).toISOString() }),
      alert({
        id: "a_r",
        kind: "leak_reported",
        key_id: "key_unloaded_2",
        created_at: new Date(NOW - 120_000).toISOString(),
        evidence: { ...EVIDENCE.leak_reported, action: "revoked", key_name: "Old one" },
      }),
    ];
    const [q, r] = await shown();
    expect(within(q).getByTestId("alert-rotate-now")).toBeTruthy();
    expect(within(q).getByTestId("alert-key").textContent).toBe("Billing worker");
    expect(within(r).queryByTestId("alert-rotate-now")).toBeNull();
    expect(within(r).getByTestId("alert-create-replacement")).toBeTruthy();
    expect(within(r).getByTestId("alert-key").textContent).toBe("Old one");
  });

  it("a key rotated since points to its replacement", async () => {
    const k = key({ id: "key_old", status: "revoked", revoked_at: daysAgo(0), replaced_by: "key_new" });
    app.keys.items = [k, key({ id: "key_new" })];
    open = [alert({ kind: "leak_reported", key_id: k.id })];
    const [card] = await shown();
    expect(within(card).queryByTestId("alert-rotate-now")).toBeNull();
    expect(within(card).queryByTestId("alert-create-replacement")).toBeNull();
    expect(within(card).getByTestId("alert-leak-now").textContent).toMatch(/Rotated/);
    expect(card.classList.contains("critical")).toBe(false);
    await fireEvent.click(within(card).getByTestId("alert-open-replacement"));
    await waitFor(() => expect(app.detailsId).toBe("key_new"));
  });

  it("comes first, however old, and looks critical", async () => {
    const k = key({ id: "key_billing", quarantine });
    app.keys.items = [k];
    open = [
      alert({ id: "a_spike", kind: "volume_spike", key_id: k.id, created_at: new Date(NOW - 60_000).toISOString() }),
      alert({ id: "a_leak", kind: "leak_reported", key_id: k.id, created_at: new Date(NOW - 5 * 3_600_000).toISOString() }),
    ];
    const list = await shown();
    expect(list.map((c) => c.dataset.kind)).toEqual(["leak_reported", "volume_spike"]);
    expect(list[0].classList.contains("critical")).toBe(true);
    expect(list[1].classList.contains("critical")).toBe(false);
  });
});
