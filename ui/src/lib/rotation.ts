// Rotation reminders from the service's `rotation_due_at` (the account's
// policy; the seed's default: live keys every 90 days, test and staging every 30).
import type { AccountView, Environment, KeyView } from "./types";

export type RotationPolicy = Record<Environment, number>;

export const DEFAULT_POLICY: RotationPolicy = { live: 90, test: 30, staging: 30 };
/** A reminder starts this long before a key is due. */
export const DUE_SOON_DAYS = 14;
/** A key that expires within this long is "expiring". */
export const EXPIRING_DAYS = 7;

const DAY = 86_400_000;

export type Rotation = "ok" | "due_soon" | "overdue";

export type KeyHealth = {
  rotation: Rotation;
  /** When the key is due for rotation (ms since epoch). */
  dueAt: number;
  /** Active, not yet expired, and expires within EXPIRING_DAYS. */
  expiring: boolean;
};

export function keyHealth(
  key: Pick<KeyView, "rotation_due_at" | "expires_at" | "status">,
  now: number,
): KeyHealth {
  // The service computes the due date from the account's policy; null means
  // the key needs no rotation (revoked, or already rotated).
  const dueAt = key.rotation_due_at === null ? Number.POSITIVE_INFINITY : Date.parse(key.rotation_due_at);
  const quiet = key.status !== "active" || key.rotation_due_at === null;
  let rotation: Rotation = "ok";
  if (!quiet) {
    if (now >= dueAt) rotation = "overdue";
    else if (now >= dueAt - DUE_SOON_DAYS * DAY) rotation = "due_soon";
  }
  let expiring = false;
  if (key.status === "active" && key.expires_at !== null) {
    const exp = Date.parse(key.expires_at);
    expiring = now < exp && now >= exp - EXPIRING_DAYS * DAY;
  }
  return { rotation, dueAt, expiring };
}

/** The account's rotation policy, or the seed's default before it loads. */
export function policyOf(account: AccountView | null): RotationPolicy {
  return account?.settings.rotation_days ?? DEFAULT_POLICY;
}

export type Attention = { key: KeyView; health: KeyHealth };

/** Keys that need a person: overdue first, then due soon, then expiring. */
export function needsAttention(keys: KeyView[], now: number): Attention[] {
  const rank = (h: KeyHealth) => (h.rotation === "overdue" ? 0 : h.rotation === "due_soon" ? 1 : 2);
  return keys
    .map((key) => ({ key, health: keyHealth(key, now) }))
    .filter(({ health }) => health.rotation !== "ok" || health.expiring)
    .sort((a, b) => rank(a.health) - rank(b.health) || a.health.dueAt - b.health.dueAt);
}
