// Pure formatting helpers: masking, times, numbers, labels.
import type { Environment, LimitsView, Plan, Scope } from "./types";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `to_live_…a1b2`: the only form a stored key is ever shown in. */
export function maskKey(key: { prefix: string; last4: string }): string {
  return `${key.prefix}…${key.last4}`;
}

function parse(iso: string): number | null {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "12 Mar 2026" (UTC). */
export function formatDate(iso: string): string {
  const t = parse(iso);
  if (t === null) return iso;
  const d = new Date(t);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** Exact time for tooltips: "2026-03-12 14:03:22 UTC". */
export function exactUtc(iso: string): string {
  const t = parse(iso);
  if (t === null) return iso;
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * "just now", "3 min ago", "5 h ago", "yesterday", "12 days ago", then a date;
 * future times read "in 3 days", "tomorrow".
 */
export function relativeTime(iso: string, now: number): string {
  const t = parse(iso);
  if (t === null) return iso;
  const diff = now - t;
  const abs = Math.abs(diff);
  const future = diff < 0;
  // Clocks drift a little (the page's "now" ticks every few seconds): a moment
  // ahead still reads "just now".
  if (abs < 45_000 || (future && abs < 90_000)) return "just now";
  let phrase: string;
  if (abs < HOUR) {
    const m = Math.max(1, Math.round(abs / MINUTE));
    phrase = `${m} min`;
  } else if (abs < DAY) {
    phrase = `${Math.round(abs / HOUR)} h`;
  } else {
    const days = Math.round(abs / DAY);
    if (days === 1) return future ? "tomorrow" : "yesterday";
    if (days > 60) return formatDate(iso);
    phrase = plural(days, "day");
  }
  return future ? `in ${phrase}` : `${phrase} ago`;
}

// Made on first use: building a formatter loads locale data, which the
// first screen (the key list) does not need.
let numberFormat: Intl.NumberFormat | null = null;

export function formatNumber(n: number): string {
  numberFormat ??= new Intl.NumberFormat("en-US");
  return numberFormat.format(n);
}

/** A per-day limit: null means unlimited. */
export function formatPerDay(n: number | null): string {
  return n === null ? "Unlimited" : formatNumber(n);
}

export function limitsSummary(l: LimitsView): string {
  const day = l.per_day === null ? "unlimited/day" : `${formatNumber(l.per_day)}/day`;
  return `${formatNumber(l.per_minute)}/min · ${day} · burst ${formatNumber(l.burst)}`;
}

export const PLAN_LABEL: Record<Plan, string> = {
  free: "Free",
  starter: "Starter",
  professional: "Professional",
  enterprise: "Enterprise",
};

/** A plan's name; one this build does not know (a newer service's) capitalised. */
export function planLabel(plan: string): string {
  return (PLAN_LABEL as Record<string, string | undefined>)[plan] ?? plan.charAt(0).toUpperCase() + plan.slice(1);
}

export const ENV_LABEL: Record<Environment, string> = {
  live: "live",
  staging: "staging",
  test: "test",
};

export const SCOPE_HINT: Record<Scope, string> = {
  read: "Read resources (GET, HEAD)",
  write: "Create and change resources",
  admin: "Manage the account and its keys",
};

/** Audit actions as a person says them. */
export function describeAction(action: string): string {
  const known: Record<string, string> = {
    "account.create": "Account created",
    "account.update": "Account policies changed",
    "account.operator_update": "Account changed by the service operator",
    "account.suspend": "Account suspended",
    "account.resume": "Account resumed",
    "account.delete": "Account deleted",
    "enrollment.create": "Enrollment code created",
    "enrollment.redeem": "Admin key enrolled with a code",
    "key.create": "Key created",
    "key.update": "Key changed",
    "key.revoke": "Key revoked",
    "key.rotate": "Key rotated",
    "key.quarantine": "Key quarantined",
    "key.release": "Key released from quarantine",
    "key.propose": "Restriction tried in report-only mode",
    "key.restrict": "Key restricted",
    "key.proposal_drop": "Report-only restriction dropped",
    "auth.failed": "Sign-in refused",
    "webhook.create": "Webhook endpoint added",
    "webhook.update": "Webhook endpoint changed",
    "webhook.delete": "Webhook endpoint deleted",
  };
  const hit = known[action];
  if (hit) return hit;
  const words = action.replace(/[._]/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "keys.example.com" from a URL, or the input when it is not one. */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return u.host || url;
  } catch {
    return url;
  }
}

/** Seconds as "45 s" / "2 min 5 s". */
export function formatSeconds(s: number): string {
  const sec = Math.max(0, Math.ceil(s));
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60);
  const r = sec % 60;
  return r === 0 ? `${m} min` : `${m} min ${r} s`;
}
