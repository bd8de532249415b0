// DEV ONLY (the mock backend). The in-memory service: a copy of a scenario's
// fixtures, and the few operations several handlers share.
import type {
  AccountView,
  Alert,
  AuditView,
  Environment,
  KeyView,
  LimitsView,
  NotifyPrefs,
  RateLimitView,
  Restriction,
  SavedService,
  WebhookDelivery,
  WebhookEndpoint,
} from "../types";
import { fixturesFor, planRow, SCENARIOS, type Fixtures, type ScenarioName, type ScenarioSpec, type TrafficWindow } from "./fixtures";
import { announce } from "./webhook-worker";
import { DAY, fail, iso } from "./util";

/** A report-only proposal while it counted (ms): the would-deny traffic of that time. */
export type ProposalPeriod = { restriction: Restriction; from: number; until: number };

/** A delivery and when its next attempt goes out (ms; the ISO field drops the milliseconds). */
export type QueuedDelivery = WebhookDelivery & { dueMs: number | null };

export type MockState = {
  scenario: ScenarioName;
  spec: ScenarioSpec;
  /** `?scan=`: "cancel" (the picker was cancelled), "clean" (nothing found), or null. */
  scan: string | null;
  /** When the page loaded: the fixtures' times are relative to it. */
  loadedAt: number;
  account: Fixtures["account"];
  /** ?mock=atcap: the key cap is whatever the seeded keys already use. */
  capOverride: number | null;
  /** Newest first. */
  keys: KeyView[];
  /** Newest first. */
  alerts: Alert[];
  /** Newest first. */
  audit: AuditView[];
  nextAuditId: number;
  /** Oldest first. */
  webhooks: WebhookEndpoint[];
  /** Endpoint id → its deliveries, newest first. */
  deliveries: Map<string, QueuedDelivery[]>;
  nextDeliveryId: number;
  /** Keys in a rotation: when their simulated applications use them. */
  traffic: Map<string, TrafficWindow>;
  /** Key id → its report-only proposals, oldest first (a dropped one counted until it was dropped). */
  proposals: Map<string, ProposalPeriod[]>;
  /** Replacements generated "here": a digest of the key (never the key). */
  generated: Map<string, string>;
  /** Replacement id → when the portal sent checks with it. */
  checks: Map<string, number[]>;
  /** This computer's notification preferences (notify_prefs). */
  notifyPrefs: NotifyPrefs;
  enrollment: {
    /** The demo code works for a day after the page loaded, and once. */
    expiresAt: string;
    used: boolean;
    /** The service enrolled into (the portal then uses it). */
    service: SavedService | null;
  };
};

export type MockOptions = { scenario: ScenarioName; scan: string | null; now?: number };

/** A fresh service for the scenario: every page load (and every test's re-import) starts over. */
export function createState({ scenario, scan, now = Date.now() }: MockOptions): MockState {
  const spec = SCENARIOS[scenario];
  const f = structuredClone(fixturesFor(spec.data, now));
  const deliveries = new Map<string, QueuedDelivery[]>();
  let lastDelivery = 0;
  for (const [id, log] of Object.entries(f.deliveries)) {
    deliveries.set(
      id,
      log.map((d) => {
        lastDelivery = Math.max(lastDelivery, d.id);
        const dueMs = d.status === "pending" && d.next_attempt_at !== null ? Date.parse(d.next_attempt_at) : null;
        return { ...d, dueMs };
      }),
    );
  }
  const s: MockState = {
    scenario,
    spec,
    scan,
    loadedAt: now,
    account: f.account,
    capOverride: null,
    keys: f.keys,
    alerts: f.alerts,
    audit: f.audit.sort((a, b) => b.at.localeCompare(a.at) || Number(b.id) - Number(a.id)),
    nextAuditId: f.audit.reduce((n, e) => Math.max(n, Number(e.id)), 0) + 1,
    webhooks: f.webhooks,
    deliveries,
    nextDeliveryId: lastDelivery + 1,
    traffic: new Map(Object.entries(f.traffic)),
    proposals: new Map(
      f.keys
        .filter((k) => k.proposal !== null)
        .map((k) => [
          k.id,
          [{ restriction: k.proposal!.restriction, from: Date.parse(k.proposal!.started_at), until: Date.parse(k.proposal!.ends_at) }],
        ]),
    ),
    generated: new Map(),
    checks: new Map(),
    notifyPrefs: { muted: [], quiet_hours: null },
    enrollment: { expiresAt: iso(now + DAY), used: false, service: null },
  };
  if (spec.capAtActive) s.capOverride = activeKeys(s);
  return s;
}

/** An audit event, by default the portal's own admin key acting. */
export function record(
  s: MockState,
  action: string,
  key: KeyView | null,
  detail: Record<string, unknown> = {},
  actor: string = s.account.credential_key_id,
  at: number = Date.now(),
) {
  s.audit.unshift({
    id: s.nextAuditId++ as unknown as bigint,
    at: iso(at),
    actor,
    action,
    key_id: key?.id ?? null,
    source: "127.0.0.1",
    detail,
  });
}

/**
 * Like the service: active keys, except one draining after a rotation (its
 * replacement is active and has not itself been rotated to an active key).
 */
export function activeKeys(s: MockState): number {
  const now = Date.now();
  const byId = new Map(s.keys.map((k) => [k.id, k]));
  const on = (k: KeyView | undefined) =>
    k !== undefined && k.revoked_at === null && (k.expires_at === null || Date.parse(k.expires_at) > now);
  const next = (k: KeyView) => (k.replaced_by === null ? undefined : byId.get(k.replaced_by));
  return s.keys.filter((k) => {
    if (!on(k)) return false;
    const n = next(k);
    return !on(n) || on(next(n!));
  }).length;
}

export function accountView(s: MockState): AccountView {
  return { ...s.account, key_cap: s.capOverride ?? planRow(s.account.plan).key_cap, active_keys: activeKeys(s) };
}

/** The plan's limits and a key's own, combined: the lower of each. */
export function effectiveLimits(plan: LimitsView, own: RateLimitView | null): LimitsView {
  if (!own) return plan;
  const lower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return {
    per_minute: lower(plan.per_minute, own.per_minute)!,
    per_day: lower(plan.per_day, own.per_day),
    burst: lower(plan.burst, own.burst)!,
  };
}

/** What the service computes: created + the account's rotation period. */
export function dueAt(s: MockState, env: Environment, created: number): string {
  return iso(created + s.account.settings.rotation_days[env] * DAY);
}

/** Status and last use as of now (expiry passes, simulated applications keep calling). */
export function live(s: MockState, k: KeyView): KeyView {
  const now = Date.now();
  if (k.status === "active" && k.expires_at !== null && Date.parse(k.expires_at) <= now) k.status = "expired";
  let last = k.last_used_at === null ? null : Date.parse(k.last_used_at);
  const w = s.traffic.get(k.id);
  if (w) {
    const from = w.from ?? -Infinity;
    const end = Math.min(w.until ?? Infinity, k.revoked_at ? Date.parse(k.revoked_at) : Infinity);
    const at = Math.min(now - 300, end);
    if (at >= from && (last === null || at > last)) last = at;
  }
  const lastCheck = s.checks.get(k.id)?.at(-1);
  if (lastCheck !== undefined && (last === null || lastCheck > last)) last = lastCheck;
  if (last !== null) k.last_used_at = iso(last);
  return k;
}

export function findKey(s: MockState, id: string): KeyView {
  const k = s.keys.find((x) => x.id === id);
  if (!k) fail("not_found", "No key with that id in this account.");
  return live(s, k);
}

/** A key rotated or revoked needs no reminders: the service resolves them. */
export function resolveReminders(s: MockState, k: KeyView) {
  for (const al of s.alerts) {
    if (al.key_id === k.id && al.category === "reminder" && al.status !== "resolved") {
      al.status = "resolved";
      al.resolved_at = iso(Date.now());
    }
  }
}

export function revokeNow(s: MockState, k: KeyView, by?: { actor: string; reason: string }) {
  if (k.status === "revoked") return;
  k.status = "revoked";
  k.revoked_at = iso(Date.now());
  k.rotation_due_at = null;
  resolveReminders(s, k);
  if (by) record(s, "key.revoke", k, { name: k.name, reason: by.reason }, by.actor);
  else record(s, "key.revoke", k, { name: k.name });
  announce(s, "key.revoked");
}
