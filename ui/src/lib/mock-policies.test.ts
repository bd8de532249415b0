// The dev mock backend's policies: what `npm run ui:mock` (and the Policies
// component test) rely on. The preview replays synthetic traffic: the same
// time gives the same numbers, and every setting moves them.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AccountView, AlertPreview, AnomalyRules, KeyList, NotifyPrefs } from "./types";

let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

beforeAll(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.parse("2026-03-12T12:00:30Z"));
  invoke = (await import("./mock-backend")).mockInvoke;
});

afterAll(() => {
  vi.useRealTimers();
  window.history.replaceState({}, "", "/");
});

const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;
const preview = (request: Record<string, unknown>) => call<AlertPreview>("preview_alerts", { request });
const count = (p: AlertPreview["proposed"], kind: string) => p.kinds.find((k) => k.kind === kind)!.alerts;

function rules(edit: (r: AnomalyRules) => void): AnomalyRules {
  const r: AnomalyRules = {
    volume_spike: { enabled: null, factor: null, min_requests: null },
    error_spike: { enabled: null, factor: null, min_errors: null },
    new_country: { enabled: null, learning_requests: null },
    after_hours: { enabled: null, min_requests: null },
    unusual_endpoint: { enabled: null, learning_requests: null, denials: null },
  };
  edit(r);
  return r;
}

describe("mock account policies", () => {
  it("the account carries its rules, the defaults and the vendor's bounds", async () => {
    const acc = await call<AccountView>("get_account");
    expect(acc.settings.anomaly_rules.volume_spike).toEqual({ enabled: null, factor: null, min_requests: null });
    expect(acc.alert_defaults.volume_spike).toEqual({ enabled: true, factor: 5, min_requests: 100 });
    expect(acc.max_rotation_days.live).toBeLessThan(3650);
  });

  it("previews every kind in order, the same twice, current = proposed without changes", async () => {
    const a = await preview({ days: 7 });
    expect(a.current.kinds.map((k) => k.kind)).toEqual(["volume_spike", "error_spike", "new_country", "after_hours", "unusual_endpoint"]);
    expect(a.proposed).toEqual(a.current);
    expect(a.current.alerts).toBeGreaterThan(0);
    for (const k of a.current.kinds) expect(k.alerts, k.kind).toBeGreaterThan(0);
    expect(a.current.alerts).toBe(a.current.kinds.reduce((n, k) => n + k.alerts, 0));
    expect(await preview({ days: 7 })).toEqual(a);
    expect(a.approximate).toBe(true);
    expect(a.notes.length).toBeGreaterThan(0);
    const month = await preview({ days: 30 });
    expect(month.days).toBe(30);
    expect(month.current.alerts).toBeGreaterThan(a.current.alerts);
  });

  it("a rule switched off raises none; stricter thresholds raise fewer", async () => {
    const off = await preview({ days: 7, anomaly_rules: rules((r) => (r.after_hours.enabled = false)) });
    expect(count(off.proposed, "after_hours")).toBe(0);
    expect(count(off.current, "after_hours")).toBeGreaterThan(0);
    expect(count(off.proposed, "volume_spike")).toBe(count(off.current, "volume_spike"));
    const strict = await preview({ days: 7, anomaly_rules: rules((r) => (r.volume_spike.factor = 20)) });
    expect(count(strict.proposed, "volume_spike")).toBeLessThan(count(strict.current, "volume_spike"));
  });

  it("allowed countries and business hours move their kinds", async () => {
    const only = await preview({ days: 7, allowed_countries: ["is"] });
    expect(count(only.proposed, "new_country")).toBeGreaterThan(count(only.current, "new_country"));
    const nights = await preview({
      days: 7,
      business_hours: { time_zone: "Asia/Tokyo", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
    });
    expect(count(nights.proposed, "after_hours")).not.toBe(count(nights.current, "after_hours"));
  });

  it("rotation tallies follow the proposed periods", async () => {
    const p = await preview({ days: 7, rotation_days: { live: 7, test: 7, staging: 7 } });
    expect(p.rotation_proposed.overdue).toBeGreaterThan(p.rotation_current.overdue);
  });

  it("refuses what the service refuses", async () => {
    await expect(preview({ days: 7, anomaly_rules: rules((r) => (r.volume_spike.factor = 1)) })).rejects.toMatchObject({
      code: "invalid",
      message: expect.stringMatching(/anomaly_rules\.volume_spike\.factor must be between 1\.5 and 100/),
    });
    await expect(call("update_account", { patch: { rotation_days: { live: 400, test: 30, staging: 30 } } })).rejects.toMatchObject({
      code: "invalid",
      message: expect.stringMatching(/rotation_days\.live: this service allows at most 365 days/),
    });
    await expect(
      call("update_account", { patch: { business_hours: { time_zone: "UTC", days: [1], start: "18:00", end: "08:00" } } }),
    ).rejects.toMatchObject({ message: "business_hours.start must be before end" });
    await expect(call("update_account", { patch: {} })).rejects.toMatchObject({ message: /nothing to change/ });
    await expect(call("preview_alerts", { request: { days: 31 } })).rejects.toMatchObject({ code: "invalid" });
  });

  it("saves only what is sent, and the keys' due dates follow the rotation period", async () => {
    const saved = await call<AccountView>("update_account", {
      patch: { allowed_countries: ["de", "FR", "DE"], rotation_days: { live: 60, test: 30, staging: 30 } },
    });
    expect(saved.settings.allowed_countries).toEqual(["DE", "FR"]);
    expect(saved.settings.rotation_days.live).toBe(60);
    expect(saved.settings.business_hours.time_zone).toBe("UTC");
    const keys = (await call<KeyList>("list_keys", { cursor: null })).keys;
    const admin = keys.find((k) => k.name === "Admin key")!;
    expect(Date.parse(admin.rotation_due_at!) - Date.parse(admin.created_at)).toBe(60 * 86_400_000);
    // The new settings are now the current ones.
    const p = await preview({ days: 7 });
    expect(p.proposed).toEqual(p.current);
  });

  it("keeps notification preferences and checks quiet hours", async () => {
    expect(await call<NotifyPrefs>("notify_prefs")).toEqual({ muted: [], quiet_hours: null });
    const prefs: NotifyPrefs = { muted: ["error_spike", "after_hours"], quiet_hours: { start: "22:00", end: "07:00" } };
    expect(await call<NotifyPrefs>("set_notify_prefs", { prefs })).toEqual({ ...prefs, muted: ["after_hours", "error_spike"] });
    expect((await call<NotifyPrefs>("notify_prefs")).muted).toEqual(["after_hours", "error_spike"]);
    await expect(
      call("set_notify_prefs", { prefs: { muted: [], quiet_hours: { start: "22:00", end: "22:00" } } }),
    ).rejects.toMatchObject({ code: "invalid", message: "quiet hours: start and end must differ" });
  });
});
