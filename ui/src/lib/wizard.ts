// The rotation wizard's step logic (pure). Everything comes from evidence the
// service keeps (the keys' `replaces` / `replaced_by` links, their last use,
// their usage series) plus what this session saw (a verified check), so the
// wizard resumes at the right step after a restart:
//
//   1 create  – no usable replacement yet (none, or it was revoked or expired)
//   2 update  – the replacement exists; the application has not used it yet
//   3 verify  – the application uses it; check the key in its configuration
//   4 revoke  – revoke the old key once the new one serves traffic and the
//               old one has been quiet for the drain window
//   done      – the old key is revoked or expired
import { bucketTotal, firstSeen, toSeconds } from "./usage";
import type { KeyView, UsagePoint } from "./types";

export type WizardStep = 1 | 2 | 3 | 4 | "done";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** How long the old key must have been quiet before it is revoked. */
export const DRAIN_CHOICES: readonly { ms: number; label: string }[] = [
  { ms: 30 * SECOND, label: "30 seconds" },
  { ms: 2 * MINUTE, label: "2 minutes" },
  { ms: 5 * MINUTE, label: "5 minutes" },
  { ms: 15 * MINUTE, label: "15 minutes" },
  { ms: HOUR, label: "1 hour" },
];
export const DEFAULT_DRAIN_MS = 5 * MINUTE;

/** "Schedule expiry instead": how long the old key keeps working. */
export const GRACE_CHOICES: readonly { ms: number; label: string }[] = [
  { ms: HOUR, label: "1 hour" },
  { ms: DAY, label: "24 hours" },
  { ms: 7 * DAY, label: "7 days" },
];

export type WizardInput = {
  old: KeyView;
  /** The key `old.replaced_by` names, or null. */
  replacement: KeyView | null;
  /** Both keys' usage over the last hour, per minute. */
  oldPoints: readonly UsagePoint[];
  newPoints: readonly UsagePoint[];
  /** Checks this portal sent with the replacement (each is one successful request in its usage). */
  portalChecks: number;
  /** The key in the application was verified (or the check skipped) in this session. */
  verified: boolean;
  drainMs: number;
  /** ms since epoch. */
  now: number;
};

export type WizardState = {
  step: WizardStep;
  /** A replacement that is neither revoked nor expired exists. */
  hasReplacement: boolean;
  /** The new key's first request in the window, unix seconds; null before the application uses it. */
  newFirstSeen: number | null;
  /** Requests of the new key in the window (any outcome), not counting the portal's checks. */
  newRequests: number;
  /** Successful requests of the new key in the window, not counting the portal's checks. */
  newServed: number;
  /** The application has used the new key. */
  trafficSeen: boolean;
  /** The old key's last use, ms since epoch; null when it was never used. */
  oldLastUsed: number | null;
  /** How long the old key has been quiet (ms); null when it was never used (quiet by definition). */
  oldQuietMs: number | null;
  /** How much longer the old key must stay quiet (0 once drained). */
  drainRemainingMs: number;
  canRevoke: boolean;
  /** Skipping the check is allowed once the application's traffic is seen. */
  canSkip: boolean;
  /** Why the old key cannot be revoked yet, in a sentence; null when it can (or is gone). */
  whyNot: string | null;
};

/** Revoked, expired, or past its expiry time (the view may lag behind the clock). */
export function isGone(k: Pick<KeyView, "status" | "expires_at">, now: number): boolean {
  if (k.status !== "active") return true;
  return k.expires_at !== null && Date.parse(k.expires_at) <= now;
}

function sum(points: readonly UsagePoint[], f: (p: UsagePoint) => number): number {
  let n = 0;
  for (const p of points) n += f(p);
  return n;
}

const success = (p: UsagePoint) => (typeof p.success === "number" && p.success > 0 ? p.success : 0);

/** Start of the last bucket with any request (ms since epoch), or null. */
function lastBucketUsed(points: readonly UsagePoint[]): number | null {
  let best: number | null = null;
  for (const p of points) {
    if (bucketTotal(p) === 0) continue;
    const t = toSeconds(p.t) * 1000;
    if (Number.isFinite(t) && (best === null || t > best)) best = t;
  }
  return best;
}

/** "0:05", "1:23", "15:00", "1:00:00". */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function wizardState(input: WizardInput): WizardState {
  const { old, replacement, now } = input;
  const checks = Math.max(0, input.portalChecks);

  const hasReplacement = replacement !== null && !isGone(replacement, now);
  const points = hasReplacement ? input.newPoints : [];
  const newRequests = Math.max(0, sum(points, bucketTotal) - checks);
  const newServed = Math.max(0, sum(points, success) - checks);
  // Used before the window: known only when none of its uses can be the portal's checks.
  const usedEarlier = hasReplacement && replacement.last_used_at !== null && checks === 0;
  const trafficSeen = newRequests > 0 || usedEarlier;
  const newFirstSeen = newRequests > 0 ? firstSeen(points) : null;

  const used = old.last_used_at === null ? null : Date.parse(old.last_used_at);
  const bucket = lastBucketUsed(input.oldPoints);
  const known = [used, bucket].filter((t): t is number => t !== null && Number.isFinite(t));
  const oldLastUsed = known.length > 0 ? Math.max(...known) : null;
  const oldQuietMs = oldLastUsed === null ? null : Math.max(0, now - oldLastUsed);
  const drainRemainingMs = oldQuietMs === null ? 0 : Math.max(0, input.drainMs - oldQuietMs);

  let step: WizardStep;
  if (isGone(old, now)) step = "done";
  else if (!hasReplacement) step = 1;
  else if (!trafficSeen) step = 2;
  else if (!input.verified) step = 3;
  else step = 4;

  const canRevoke = step === 4 && newServed > 0 && drainRemainingMs === 0;
  let whyNot: string | null = null;
  if (step === 1) whyNot = "Create the replacement first.";
  else if (step === 2) whyNot = "Your application has not used the new key yet.";
  else if (step === 3) whyNot = "Check the key in your application's configuration first, or skip the check.";
  else if (step === 4 && newServed === 0) {
    whyNot =
      "The new key has not served a successful request in the last hour (not counting this portal's checks): " +
      "revoking the old key now could stop your application.";
  } else if (step === 4 && drainRemainingMs > 0) {
    whyNot =
      `The old key was used ${formatClock(oldQuietMs ?? 0)} ago: wait until it has been quiet for ` +
      `${formatClock(input.drainMs)}, so no running instance still depends on it.`;
  }

  return {
    step,
    hasReplacement,
    newFirstSeen,
    newRequests,
    newServed,
    trafficSeen,
    oldLastUsed,
    oldQuietMs,
    drainRemainingMs,
    canRevoke,
    canSkip: step === 3,
    whyNot,
  };
}

/**
 * The key whose rotation to open for `key`: the key itself, or, for a
 * replacement whose old key is still active, that old key.
 */
export function rotationTarget(key: KeyView, lookup: (id: string) => KeyView | undefined, now: number): string {
  if (key.replaces === null) return key.id;
  const old = lookup(key.replaces);
  return old && !isGone(old, now) && old.replaced_by === key.id ? old.id : key.id;
}

export type QueueStatus = "done" | "scheduled" | "in_progress" | "not_started";

export const QUEUE_STATUS_LABEL: Record<QueueStatus, string> = {
  done: "Done",
  scheduled: "Old key expires later",
  in_progress: "In progress",
  not_started: "Not started",
};

/** Where a key's rotation stands, from what the list knows. */
export function queueStatus(old: KeyView | undefined, lookup: (id: string) => KeyView | undefined, now: number): QueueStatus {
  if (!old) return "not_started";
  if (isGone(old, now)) return "done";
  const repl = old.replaced_by === null ? undefined : lookup(old.replaced_by);
  if (!repl || isGone(repl, now)) return "not_started";
  return old.expires_at !== null ? "scheduled" : "in_progress";
}
