// The little the first screen needs about alerts: open counts per key and the
// kinds' names for the key-row badge. Kept apart from alerts.ts (evidence,
// sorting) so that the Keys page's chunk stays small.
import type { Alert } from "./types";
import type { AlertKind } from "./bindings/AlertKind";

/** A name for each kind the key service raises (keyport_core::alert::AlertKind). */
export const KIND_LABEL: Readonly<Record<AlertKind, string>> = {
  volume_spike: "Traffic spike",
  error_spike: "Error spike",
  new_country: "New country",
  after_hours: "After-hours use",
  unusual_endpoint: "Unusual endpoint",
  rotation_due_soon: "Rotation due soon",
  rotation_overdue: "Rotation overdue",
  key_expiring: "Key expiring",
  webhook_failing: "Webhook failing",
  leak_reported: "Key found public",
};

/**
 * Alerts about something other than a key: for these the alert's `key_id`
 * holds that thing's id (a webhook endpoint's `wh_…`), never a key's.
 */
export function isEndpointAlert(a: Pick<Alert, "kind">): boolean {
  return a.kind === "webhook_failing";
}

/** "Traffic spike"; an unknown kind as words ("quota_near" → "Quota near"). */
export function kindLabel(kind: string): string {
  if (Object.hasOwn(KIND_LABEL, kind)) return KIND_LABEL[kind as AlertKind];
  const words = String(kind ?? "").replace(/[._-]+/g, " ").trim();
  return words === "" ? "Alert" : words.charAt(0).toUpperCase() + words.slice(1);
}

/** Key id → number of open alerts (keys without any are absent). */
export function openCountByKey(alerts: readonly Alert[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of alerts) {
    if (a.status === "open" && !isEndpointAlert(a)) m.set(a.key_id, (m.get(a.key_id) ?? 0) + 1);
  }
  return m;
}

/** "2 open alerts: Traffic spike, Rotation overdue" (the key-row badge's title). */
export function openAlertsTitle(alerts: readonly Alert[], keyId: string): string {
  const kinds: string[] = [];
  let n = 0;
  for (const a of alerts) {
    if (a.key_id !== keyId || a.status !== "open" || isEndpointAlert(a)) continue;
    n += 1;
    const label = kindLabel(a.kind);
    if (!kinds.includes(label)) kinds.push(label);
  }
  return `${n} open ${n === 1 ? "alert" : "alerts"}${kinds.length ? `: ${kinds.join(", ")}` : ""}`;
}
