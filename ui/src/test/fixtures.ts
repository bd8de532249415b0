import type { AccountView, AnomalyRules, KeyUsage, KeyView, LimitsView, PortalStatus } from "../lib/types";

export const PRO: LimitsView = { per_minute: 300, per_day: 100000, burst: 500 };
export const ENTERPRISE: LimitsView = { per_minute: 1000, per_day: null, burst: 2000 };

export const NOW = Date.parse("2026-03-12T12:00:00Z");
const DAY = 86_400_000;

export function daysAgo(d: number): string {
  return new Date(NOW - d * DAY).toISOString();
}

let n = 0;
const POLICY = { live: 90, test: 30, staging: 30 } as const;

export function key(over: Partial<KeyView> = {}): KeyView {
  n += 1;
  const k: KeyView = {
    id: `key_${n.toString().padStart(4, "0")}`,
    name: `Key ${n}`,
    environment: "live",
    prefix: "to_live_",
    last4: "a1b2",
    scopes: ["read"],
    resources: [],
    created_at: daysAgo(10),
    expires_at: null,
    revoked_at: null,
    last_used_at: null,
    status: "active",
    rate_limit: null,
    effective_limits: PRO,
    replaces: null,
    replaced_by: null,
    rotation_due_at: null,
    quarantine: null,
    allowed_ips: [],
    allowed_countries: [],
    proposal: null,
    ...over,
  };
  // Like the service: due = created + policy, none when revoked or rotated.
  if (over.rotation_due_at === undefined && k.status !== "revoked" && k.replaced_by === null) {
    k.rotation_due_at = new Date(Date.parse(k.created_at) + POLICY[k.environment] * DAY).toISOString();
  }
  return k;
}

/** An account that follows every server default (each field null). */
export function unsetRules(): AnomalyRules {
  return {
    volume_spike: { enabled: null, factor: null, min_requests: null },
    error_spike: { enabled: null, factor: null, min_errors: null },
    new_country: { enabled: null, learning_requests: null },
    after_hours: { enabled: null, min_requests: null },
    unusual_endpoint: { enabled: null, learning_requests: null, denials: null },
  };
}

/** The server's defaults (keyport-core AnomalyConfig::default), every field set. */
export const ALERT_DEFAULTS: AnomalyRules = {
  volume_spike: { enabled: true, factor: 5, min_requests: 100 },
  error_spike: { enabled: true, factor: 3, min_errors: 20 },
  new_country: { enabled: true, learning_requests: 100 },
  after_hours: { enabled: true, min_requests: 5 },
  unusual_endpoint: { enabled: true, learning_requests: 100, denials: 10 },
};

export const ACCOUNT: AccountView = {
  id: "acc_1",
  name: "Acme",
  plan: "professional",
  limits: PRO,
  created_at: daysAgo(100),
  settings: {
    rotation_days: { live: 90, test: 30, staging: 30 },
    business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
    allowed_countries: [],
    anomaly_rules: unsetRules(),
    leak_policy: "quarantine",
  },
  credential_key_id: "key_portal_admin",
  key_cap: 100,
  active_keys: 12,
  alert_defaults: ALERT_DEFAULTS,
  max_rotation_days: { live: 3650, test: 3650, staging: 3650 },
};

export function status(over: Partial<PortalStatus> = {}): PortalStatus {
  return {
    mode: "embedded",
    service_url: "http://127.0.0.1:41234",
    account: ACCOUNT,
    keychain: { available: true, backend: "Secret Service", problem: null, fix: null },
    saved_services: [],
    try_it: null,
    ...over,
  };
}

/** A key's usage with no requests (what the key drawer reads when it opens). */
export function emptyUsage(keyId: string, over: Partial<KeyUsage> = {}): KeyUsage {
  return {
    key_id: keyId,
    from: daysAgo(30),
    to: new Date(NOW).toISOString(),
    step: "day",
    points: [],
    endpoints: [],
    countries: [],
    networks: [],
    would_deny: [],
    ...over,
  };
}
