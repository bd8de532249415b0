// Quarantine (a key set aside as possibly compromised): the reason asked for
// when quarantining by hand. Pure.
import { listAnd } from "./restrictions";
import type { KeyView, Quarantine } from "./types";
import { invisibleCharIn } from "./validation";

/** The service's limit on a reason (keyport-server `clean_text(reason, 300)`). */
export const MAX_REASON = 300;

/** One-click reasons in the Quarantine dialog. */
export const QUARANTINE_REASONS: readonly string[] = [
  "Found in a public repository",
  "Shared in chat or a ticket",
  "Unexpected traffic",
  "Device lost or stolen",
];

/** Why a reason would be refused (the service's rules), or null when it is fine. */
export function validateQuarantineReason(reason: string): string | null {
  const r = reason.trim();
  if (r === "") return "Say why, e.g. where the key may have been exposed.";
  if ([...r].length > MAX_REASON) return `At most ${MAX_REASON} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(r)) return "Use printable characters only.";
  const hidden = invisibleCharIn(r);
  if (hidden) return `The reason contains an invisible character (${hidden.code}, ${hidden.kind}). Remove it.`;
  return null;
}

/**
 * Where a quarantined key may still be used from, in words: "198.51.100.0/24",
 * "United States (US)", "198.51.100.0/24 in United States (US)"; null when
 * the service holds it to no place (it knew none).
 */
export function quarantinePlaces(
  q: Pick<Quarantine, "networks" | "countries">,
  country: (code: string) => string = (c) => c,
): string | null {
  const nets = q.networks.length > 0 ? listAnd(q.networks) : null;
  const countries = q.countries.length > 0 ? listAnd(q.countries.map(country)) : null;
  if (nets && countries) return `${nets} in ${countries}`;
  return nets ?? countries;
}

/** Any key that can be set aside: active, not already, not an admin key (the service refuses those). */
export function canQuarantine(k: KeyView): boolean {
  return k.status === "active" && !k.quarantine && !k.scopes.includes("admin");
}

/** The reason a quarantine from an alert starts with: the alert in words, kept short. */
export function reasonFromAlert(summary: string): string {
  const text = `Alert: ${summary.replace(/\s+/g, " ").trim()}`;
  return text.length <= 200 ? text : `${text.slice(0, 199)}…`;
}
