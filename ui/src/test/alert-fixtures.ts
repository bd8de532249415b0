import type { Alert } from "../lib/types";
import { NOW } from "./fixtures";

const MIN = 60_000;

/** Evidence exactly as keyport-core's anomaly rules and the service's reminders send it. */
export const EVIDENCE: Record<string, Record<string, unknown>> = {
  volume_spike: { window_minutes: 10, requests: 1240, baseline_expected: 98.4, factor: 12.6, threshold_factor: 5.0 },
  error_spike: {
    window_minutes: 10,
    errors: 120,
    requests: 250,
    client_errors: 82,
    server_errors: 38,
    error_share: 0.48,
    baseline_share: 0.01,
    threshold_share: 0.26,
  },
  new_country: { countries: [{ name: "BR", requests: 37 }], reason: "never_seen", known_country_requests: 18422 },
  after_hours: { window_minutes: 10, after_hours_requests: 7, baseline_requests: 41200, baseline_after_hours_share: 0 },
  unusual_endpoint: {
    endpoints: [{ name: "DELETE /admin/users/{id}", requests: 2 }],
    reason: "never_called",
    known_endpoint_requests: 100800,
  },
  rotation_due_soon: { rotation_due_at: "2026-03-19T12:00:00Z", policy_days: 90, environment: "live" },
  rotation_overdue: { rotation_due_at: "2026-03-05T12:00:00Z", policy_days: 90, environment: "live", days_overdue: 7 },
  key_expiring: { expires_at: "2026-03-15T12:00:00Z", environment: "staging" },
  // About a webhook endpoint: the alert's key_id is this endpoint id, not a key's.
  webhook_failing: {
    endpoint_id: "wh_3f9a1c2b7d4e8f0a1b2c",
    url: "https://hooks.example.com/keyport",
    failing_since: "2026-03-11T08:30:00Z",
  },
  // A key of the account reported public (GitHub secret scanning, say).
  leak_reported: {
    url: "https://github.com/acme/billing/commit/4f2c9e1a7b3d",
    source: "commit",
    token_type: "keyport_live_api_key",
    action: "quarantined",
    masked: "to_live_…a1b2",
    key_name: "Billing worker",
  },
};

let n = 0;

/** An alert; `kind` may be one this build does not know (a newer service's). */
export function alert(over: Omit<Partial<Alert>, "kind"> & { kind?: string } = {}): Alert {
  n += 1;
  const kind = over.kind ?? "volume_spike";
  const reminder = kind.startsWith("rotation") || kind === "key_expiring";
  return {
    id: `alt_${n.toString().padStart(4, "0")}`,
    key_id: kind === "webhook_failing" ? "wh_3f9a1c2b7d4e8f0a1b2c" : "key_0001",
    category: reminder ? "reminder" : "anomaly",
    status: "open",
    message: `${kind} message`,
    evidence: structuredClone(EVIDENCE[kind] ?? {}),
    created_at: new Date(NOW - n * MIN).toISOString(),
    acknowledged_at: null,
    resolved_at: null,
    ...over,
    kind: kind as Alert["kind"],
  };
}
