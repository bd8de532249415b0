import { describe, expect, it } from "vitest";
import { alert, EVIDENCE } from "../test/alert-fixtures";
import { ACCOUNT, NOW } from "../test/fixtures";
import { openAlertsTitle } from "./alert-counts";
import {
  countryName,
  describeAlert,
  groupByKey,
  isAnomaly,
  kindMeta,
  leakActionText,
  leakOf,
  leakSourceWords,
  openCountByKey,
  percent,
  sortAlerts,
  weekdaysText,
  type AlertKind,
} from "./alerts";

const KINDS = Object.keys(EVIDENCE) as AlertKind[];
const ctx = { now: NOW, account: ACCOUNT };
const stat = (a: ReturnType<typeof alert>, label: string) =>
  describeAlert(a, ctx).stats.find((s) => s.label === label);

describe("kindMeta", () => {
  it("names every kind the service raises, with an icon and a tone", () => {
    expect(KINDS).toHaveLength(10);
    for (const k of KINDS) {
      const m = kindMeta(k);
      expect(m.label).not.toMatch(/_/);
      expect(m.icon).not.toBe("bell");
    }
    expect(kindMeta("volume_spike")).toMatchObject({ label: "Traffic spike", tone: "red", category: "anomaly" });
    expect(kindMeta("rotation_due_soon")).toMatchObject({ tone: "amber", category: "reminder" });
    expect(kindMeta("rotation_overdue").tone).toBe("red");
  });

  it("copes with a kind it does not know", () => {
    expect(kindMeta("quota_near", "reminder")).toEqual({
      label: "Quota near",
      icon: "bell",
      tone: "amber",
      category: "reminder",
    });
    expect(kindMeta("").label).toBe("Alert");
  });
});

describe("describeAlert", () => {
  it("volume spike: requests, factor and the usual rate", () => {
    const d = describeAlert(alert({ kind: "volume_spike" }), ctx);
    expect(d.summary).toBe("1,240 requests in the last 10 minutes, 13× the usual 98");
    expect(d.stats).toEqual([
      { label: "Requests", value: "1,240 in 10 min" },
      { label: "Usual", value: "98 per 10 min" },
      { label: "Spike", value: "13×", note: "alerts from 5×" },
    ]);
    // A quiet key's fractional baseline, a window of an hour, no factor sent.
    const quiet = alert({ kind: "volume_spike", evidence: { window_minutes: 60, requests: 150, baseline_expected: 0.4 } });
    expect(describeAlert(quiet, ctx).summary).toBe("150 requests in the last hour, 150× the usual 0.4");
    expect(describeAlert(quiet, ctx).stats[1].value).toBe("0.4 per 1 h");
    expect(describeAlert(quiet, ctx).stats[2].value).toBe("150×");
  });

  it("error spike: the rate against the baseline, with counts", () => {
    const d = describeAlert(alert({ kind: "error_spike" }), ctx);
    expect(d.summary).toBe("48% of requests failed in the last 10 minutes (120 of 250), against 1% usually");
    expect(d.stats.map((s) => [s.label, s.value])).toEqual([
      ["Error rate", "48%"],
      ["Usual", "1%"],
      ["Errors", "120 of 250"],
      ["Alerts from", "26%"],
    ]);
    expect(d.stats[2].note).toBe("82 4xx · 38 5xx");
  });

  it("new country: the country by name and code, and what came before", () => {
    const d = describeAlert(alert({ kind: "new_country" }), ctx);
    expect(d.summary).toBe("First requests ever from Brazil (BR) with this key");
    expect(d.stats[0]).toEqual({ label: "New country", value: "Brazil (BR)", note: "37 requests" });
    expect(d.stats[1]).toEqual({ label: "Before this", value: "18,422 requests from known countries" });

    const blocked = alert({
      kind: "new_country",
      evidence: { countries: [{ name: "KP", requests: 1 }, { name: "RU", requests: 4 }], reason: "not_allowed" },
    });
    const acc = { settings: { ...ACCOUNT.settings, allowed_countries: ["DE", "FR"] } };
    const b = describeAlert(blocked, { now: NOW, account: acc });
    expect(b.summary).toMatch(/^Requests from North Korea \(KP\) and Russia \(RU\), outside the account's allowed countries$/);
    expect(b.stats.find((s) => s.label === "Allowed")?.value).toBe("DE, FR");
    expect(b.stats[0].note).toBe("1 request");
  });

  it("after hours: the count, the usual share, when, and the business hours", () => {
    const a = alert({ kind: "after_hours", created_at: "2026-03-14T23:14:00Z" });
    const d = describeAlert(a, ctx);
    expect(d.summary).toBe("7 requests outside business hours in the last 10 minutes; this key normally has none");
    expect(stat(a, "After hours")?.value).toBe("7 in 10 min");
    expect(stat(a, "Usual")).toEqual({ label: "Usual", value: "0%", note: "of 41,200 requests" });
    expect(stat(a, "Seen")).toEqual({ label: "Seen", value: "Sat 23:14", note: "UTC" });
    expect(stat(a, "Business hours")).toEqual({ label: "Business hours", value: "Mon–Fri 08:00–18:00", note: "UTC" });

    const berlin = { settings: { ...ACCOUNT.settings, business_hours: { ...ACCOUNT.settings.business_hours, time_zone: "Europe/Berlin" } } };
    expect(describeAlert(a, { account: berlin }).stats.find((s) => s.label === "Seen")).toEqual({
      label: "Seen",
      value: "Sun 00:14",
      note: "Europe/Berlin",
    });
    const some = alert({ kind: "after_hours", evidence: { ...EVIDENCE.after_hours, baseline_after_hours_share: 0.004 } });
    expect(describeAlert(some, ctx).summary).toMatch(/; normally 0.4% of its traffic$/);
  });

  it("unusual endpoint: the endpoint, or the refused requests", () => {
    const d = describeAlert(alert({ kind: "unusual_endpoint" }), ctx);
    expect(d.summary).toBe("First calls ever to DELETE /admin/users/{id} with this key");
    expect(d.stats[0]).toEqual({ label: "New endpoint", value: "DELETE /admin/users/{id}", mono: true, note: "2 requests" });
    const denied = alert({ kind: "unusual_endpoint", evidence: { window_minutes: 10, denied: 12, reason: "denials" } });
    expect(describeAlert(denied, ctx)).toEqual({
      summary: "12 requests refused for scope or resource in the last 10 minutes",
      stats: [{ label: "Refused", value: "12 in 10 min" }],
    });
  });

  it("reminders: due and overdue dates, the policy, expiry", () => {
    const due = describeAlert(alert({ kind: "rotation_due_soon" }), ctx);
    expect(due.summary).toMatch(/^Due for rotation on 19 Mar 2026 \(in 7 days\)/);
    expect(due.stats).toEqual([
      { label: "Due", value: "19 Mar 2026" },
      { label: "Policy", value: "every 90 days", note: "live keys" },
    ]);
    const over = describeAlert(alert({ kind: "rotation_overdue" }), ctx);
    expect(over.summary).toMatch(/^Overdue for rotation since 5 Mar 2026 \(7 days\)/);
    expect(over.stats.map((s) => s.value)).toEqual(["5 Mar 2026", "7 days", "every 90 days"]);
    const exp = describeAlert(alert({ kind: "key_expiring" }), ctx);
    expect(exp.summary).toBe("Expires on 15 Mar 2026 (in 3 days): create its replacement before then");
    // Without "now": the date only.
    expect(describeAlert(alert({ kind: "key_expiring" })).summary).toBe(
      "Expires on 15 Mar 2026: create its replacement before then",
    );
  });

  it("webhook failing: the endpoint disabled, where to fix it, and no key looked up", () => {
    const a = alert({ kind: "webhook_failing" });
    expect(a.key_id).toBe("wh_3f9a1c2b7d4e8f0a1b2c");
    const d = describeAlert(a, ctx);
    expect(d.summary).toBe(
      "Webhook endpoint https://hooks.example.com/keyport was disabled after its deliveries kept failing since 11 Mar 2026: fix it, then enable it again in Account → Webhooks",
    );
    expect(d.summary).not.toMatch(/\bkeys?\b/i);
    expect(d.stats).toEqual([
      { label: "Failing since", value: "11 Mar 2026", note: "yesterday" },
      { label: "Endpoint id", value: "wh_3f9a1c2b7d4e8f0a1b2c", mono: true },
    ]);
    expect(kindMeta("webhook_failing")).toMatchObject({ label: "Webhook failing", icon: "link", tone: "red" });
    // Not a key's traffic: no chart, no key badge.
    expect(isAnomaly(a)).toBe(false);
    expect(openCountByKey([a]).size).toBe(0);
    expect(openAlertsTitle([a], a.key_id)).toBe("0 open alerts");
    // Without a URL: the service's message, still no key.
    const bare = alert({ kind: "webhook_failing", message: "webhook endpoint wh_1 kept failing and was disabled", evidence: {} });
    expect(describeAlert(bare, ctx).summary).toBe("Webhook endpoint wh_1 kept failing and was disabled");
  });

  it("leak reported: which key, where and what was done", () => {
    const a = alert({ kind: "leak_reported" });
    expect(kindMeta("leak_reported")).toMatchObject({ label: "Key found public", tone: "red", icon: "shield" });
    const d = describeAlert(a, ctx);
    expect(d.summary).toBe(
      "“Billing worker” (to_live_…a1b2) was found in a public commit: rotate it, since until then anyone who saw it can still read with it",
    );
    expect(d.stats).toEqual([
      { label: "Source", value: "commit" },
      { label: "Reported as", value: "keyport_live_api_key", mono: true },
    ]);
    expect(leakOf(a)).toEqual({
      url: "https://github.com/acme/billing/commit/4f2c9e1a7b3d",
      source: "commit",
      tokenType: "keyport_live_api_key",
      action: "quarantined",
      masked: "to_live_…a1b2",
      keyName: "Billing worker",
    });
    expect(leakActionText("quarantined")).toBe("Quarantined: read-only until you rotate or release it");
    expect(leakActionText("revoked")).toMatch(/^Revoked/);
    // Revoked: nothing left to rotate; a source with an article; no key name.
    const gone = alert({
      kind: "leak_reported",
      evidence: { ...EVIDENCE.leak_reported, action: "revoked", source: "issue_comment", key_name: "" },
    });
    expect(describeAlert(gone, ctx).summary).toBe("A key of this account (to_live_…a1b2) was found in a public issue comment");
    expect(leakOf(gone)?.action).toBe("revoked");
    expect(leakSourceWords("issue_comment")).toBe("a public issue comment");
    expect(leakSourceWords("Gist")).toBe("a public gist");
    expect(leakSourceWords(null)).toBe("public");
    // An action this build does not know is not guessed at.
    expect(leakOf(alert({ kind: "leak_reported", evidence: { ...EVIDENCE.leak_reported, action: "ignored" } }))?.action).toBeNull();
    expect(leakOf(alert({ kind: "volume_spike" }))).toBeNull();
  });

  it("falls back to the message for missing or odd evidence, and never throws", () => {
    const odd: unknown[] = [null, [], "x", 42, {}, { requests: "lots" }, { countries: "BR" }, { rotation_due_at: "soon" }];
    for (const kind of [...KINDS, "mystery"]) {
      for (const evidence of odd) {
        const a = alert({ kind, message: "the server's words", evidence: evidence as Record<string, unknown> });
        const d = describeAlert(a, ctx);
        expect(d.summary).toBe("The server's words");
        expect(d.stats).toEqual([]);
      }
    }
    expect(describeAlert(alert({ kind: "mystery", message: "" }), ctx).summary).toBe("Mystery");
    // A getter that throws is still no reason to.
    const hostile = alert({ kind: "volume_spike", message: "m" });
    Object.defineProperty(hostile.evidence, "requests", {
      get() {
        throw new Error("boom");
      },
    });
    expect(describeAlert(hostile, ctx).summary).toBe("M");
  });

  it("reads numbers sent as strings and countries sent as plain codes", () => {
    const a = alert({ kind: "volume_spike", evidence: { window_minutes: "10", requests: "500", baseline_expected: "50" } });
    expect(describeAlert(a, ctx).summary).toBe("500 requests in the last 10 minutes, 10× the usual 50");
    const c = alert({ kind: "new_country", evidence: { countries: ["FR"], reason: "never_seen" } });
    expect(describeAlert(c, ctx).stats[0]).toEqual({ label: "New country", value: "France (FR)", note: undefined });
  });
});

describe("formatting helpers", () => {
  it("percent, weekdays, countries", () => {
    expect(percent(0.48)).toBe("48%");
    expect(percent(0)).toBe("0%");
    expect(percent(0.004)).toBe("0.4%");
    expect(weekdaysText([1, 2, 3, 4, 5])).toBe("Mon–Fri");
    expect(weekdaysText([5, 1, 3])).toBe("Mon, Wed, Fri");
    expect(weekdaysText([1, 2, 3, 4, 5, 6, 7])).toBe("Every day");
    expect(weekdaysText([])).toBe("No days");
    expect(countryName("de")).toBe("Germany (DE)");
    expect(countryName("unknown")).toBe("unknown");
  });
});

describe("lists", () => {
  const a1 = alert({ key_id: "k1", created_at: "2026-03-12T10:00:00Z" });
  const a2 = alert({ key_id: "k2", created_at: "2026-03-12T11:00:00Z", status: "acknowledged", kind: "new_country" });
  const a3 = alert({ key_id: "k1", created_at: "2026-03-12T09:00:00Z", kind: "rotation_overdue" });
  const a4 = alert({ key_id: "k2", created_at: "2026-03-12T08:00:00Z" });
  const a5 = alert({ key_id: "k3", created_at: "2026-03-12T12:00:00Z", status: "resolved" });

  it("sorts open first, then newest first", () => {
    expect(sortAlerts([a3, a5, a1, a2, a4]).map((a) => a.id)).toEqual([a1, a3, a4, a5, a2].map((a) => a.id));
  });

  it("puts open leak reports before everything else, however old", () => {
    const leak = alert({ key_id: "k9", kind: "leak_reported", created_at: "2026-03-01T00:00:00Z" });
    const oldLeak = alert({ key_id: "k9", kind: "leak_reported", created_at: "2026-02-01T00:00:00Z", status: "acknowledged" });
    expect(sortAlerts([a1, oldLeak, a5, leak, a3]).map((a) => a.id)).toEqual([leak, a1, a3, a5, oldLeak].map((a) => a.id));
  });

  it("counts open alerts per key", () => {
    expect([...openCountByKey([a1, a2, a3, a4, a5])]).toEqual([
      ["k1", 2],
      ["k2", 1],
    ]);
    expect(openCountByKey([]).size).toBe(0);
  });

  it("groups by key in sorted order", () => {
    expect(groupByKey([a2, a3, a4, a1, a5]).map((g) => [g.keyId, g.alerts.length, g.open])).toEqual([
      ["k1", 2, 2],
      ["k2", 2, 1],
      ["k3", 1, 0],
    ]);
  });

  it("titles a key's badge with how many and which kinds", () => {
    expect(openAlertsTitle([a1, a2, a3, a4, a5], "k1")).toBe("2 open alerts: Traffic spike, Rotation overdue");
    expect(openAlertsTitle([a1, a2, a3, a4, a5], "k2")).toBe("1 open alert: Traffic spike");
  });
});
