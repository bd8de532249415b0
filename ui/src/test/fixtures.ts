import type { AccountView, KeyView, LimitsView, PortalStatus } from "../lib/types";

export const PRO: LimitsView = { per_minute: 300, per_day: 100000, burst: 500 };
export const ENTERPRISE: LimitsView = { per_minute: 1000, per_day: null, burst: 2000 };

export const NOW = Date.parse("2026-03-12T12:00:00Z");
const DAY = 86_400_000;

export function daysAgo(d: number): string {
  return new Date(NOW - d * DAY).toISOString();
}

let n = 0;
export function key(over: Partial<KeyView> = {}): KeyView {
  n += 1;
  return {
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
    ...over,
  };
}

export const ACCOUNT: AccountView = {
  id: "acc_1",
  name: "Acme",
  plan: "professional",
  limits: PRO,
  created_at: daysAgo(100),
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
