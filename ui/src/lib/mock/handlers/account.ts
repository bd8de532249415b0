// DEV ONLY (the mock backend). The account: plans, policies and their
// preview, this computer's notification preferences, alerts, the audit log.
import { previewAlerts, settingsProblem, withChanges } from "../../mock-policies";
import { isClockTime } from "../../policies";
import type { Handlers } from "../commands";
import { PLANS } from "../fixtures";
import { accountView, dueAt, live, record } from "../state";
import { fail, iso, page } from "../util";

export const accountHandlers = {
  plan_table: () => [...PLANS],

  get_account: (_, s) => accountView(s),

  /** Only the fields present change; the service's checks (../../mock-policies.ts). */
  update_account: ({ patch }, s) => {
    if (Object.keys(patch).length === 0) {
      fail("invalid", "nothing to change: send rotation_days, business_hours, allowed_countries, anomaly_rules or leak_policy");
    }
    const problem = settingsProblem(patch, s.account.max_rotation_days);
    if (problem) fail("invalid", problem);
    s.account.settings = withChanges(s.account.settings, patch);
    // Due dates follow the policy (the service computes them from it).
    if (patch.rotation_days) {
      for (const k of s.keys) {
        if (k.rotation_due_at !== null) k.rotation_due_at = dueAt(s, k.environment, Date.parse(k.created_at));
      }
    }
    record(s, "account.update", null, { ...patch });
    return accountView(s);
  },

  preview_alerts: ({ request }, s) => {
    const days = request.days ?? 7;
    if (!(days >= 1 && days <= 30)) fail("invalid", "days must be between 1 and 30");
    const problem = settingsProblem(request, s.account.max_rotation_days);
    if (problem) fail("invalid", problem);
    const keys = s.keys.map((k) => live(s, k));
    return previewAlerts(keys, s.account.settings, withChanges(s.account.settings, request), days, Date.now());
  },

  notify_prefs: (_, s) => s.notifyPrefs,

  /** Saved as sent (kinds sorted, once each); quiet hours checked like Rust. */
  set_notify_prefs: ({ prefs }, s) => {
    const q = prefs.quiet_hours;
    if (q && !isClockTime(q.start)) fail("invalid", "quiet hours: start must be HH:MM, e.g. 22:00");
    if (q && !isClockTime(q.end)) fail("invalid", "quiet hours: end must be HH:MM, e.g. 22:00");
    if (q && q.start === q.end) fail("invalid", "quiet hours: start and end must differ");
    s.notifyPrefs = { muted: [...new Set(prefs.muted)].sort(), quiet_hours: q ? { ...q } : null };
    return s.notifyPrefs;
  },

  list_alerts: ({ all }, s) => ({ alerts: all ? s.alerts : s.alerts.filter((a) => a.status === "open") }),

  ack_alert: ({ id }, s) => {
    const al = s.alerts.find((x) => x.id === id);
    if (!al) fail("not_found", "No alert with that id in this account.");
    if (al.status === "open") {
      al.status = "acknowledged";
      al.acknowledged_at = iso(Date.now());
    }
    return al;
  },

  audit_log: ({ cursor }, s) => {
    const p = page(s.audit, cursor, 50);
    return { events: p.items, next_cursor: p.next };
  },
} satisfies Partial<Handlers>;
