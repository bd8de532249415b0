// Rotation reminders, the same rules as keyport-core's rotation module (the
// seed's policy: live keys every 90 days, test and staging every 30).
import type { Environment, KeyView } from "./types";

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
  key: Pick<KeyView, "environment" | "created_at" | "expires_at" | "status" | "replaced_by">,
  now: number,
  policy: RotationPolicy = DEFAULT_POLICY,
): KeyHealth {
  const created = Date.parse(key.created_at);
  const dueAt = created + policy[key.environment] * DAY;
  const quiet = key.status !== "active" || key.replaced_by !== null;
  let rotation: Rotation = "ok";
  if (!quiet) {
    if (now >= dueAt) rotation = "overdue";
    else if (now >= dueAt - DUE_SOON_DAYS * DAY) rotation = "due_soon";
  }
  let expiring = false;
  if (!quiet && key.expires_at !== null) {
    const exp = Date.parse(key.expires_at);
    expiring = now < exp && now >= exp - EXPIRING_DAYS * DAY;
  }
  return { rotation, dueAt, expiring };
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
