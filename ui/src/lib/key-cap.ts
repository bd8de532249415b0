// The plan's cap on active keys: how full the account is, and what to say
// about it (the Account screen's meter, the Keys screen's Create key).
import { formatNumber, PLAN_LABEL } from "./format";
import type { AccountView } from "./types";

/** What counts, in one sentence (the service's rule). */
export const KEY_CAP_NOTE =
  "Revoked and expired keys don't count, and a key rotated to a replacement stops counting while it drains.";

/** From this share of the cap on, the meter turns amber. */
export const NEAR_SHARE = 0.8;

export type KeyCapLevel = "ok" | "near" | "full";

export type KeyCap = {
  active: number;
  cap: number;
  /** Keys that can still be created (0 at or over the cap). */
  left: number;
  level: KeyCapLevel;
  /** "12 of 25 active" */
  text: string;
};

export function keyCap(account: Pick<AccountView, "active_keys" | "key_cap"> | null): KeyCap | null {
  if (!account) return null;
  const active = Math.max(0, account.active_keys);
  const cap = Math.max(0, account.key_cap);
  const left = Math.max(0, cap - active);
  const level: KeyCapLevel = left === 0 ? "full" : active >= cap * NEAR_SHARE ? "near" : "ok";
  return { active, cap, left, level, text: `${formatNumber(active)} of ${formatNumber(cap)} active` };
}

/** True when the account (as last read) can create no more keys. */
export function atKeyCap(account: Pick<AccountView, "active_keys" | "key_cap"> | null): boolean {
  return keyCap(account)?.level === "full";
}

/** Why Create key will be refused, and what to do: shown before the service is asked. */
export function keyCapReason(account: Pick<AccountView, "active_keys" | "key_cap" | "plan">): string {
  const c = keyCap(account)!;
  const plan = PLAN_LABEL[account.plan];
  return (
    `Your ${plan} plan allows ${formatNumber(c.cap)} active ${c.cap === 1 ? "key" : "keys"} and ` +
    `${c.active === c.cap ? "all of them are" : `${formatNumber(c.active)} are`} in use. ` +
    `Revoke a key you no longer use, or upgrade the plan, to create another.`
  );
}

/** The meter's caption: how many are left. */
export function keyCapLeft(c: KeyCap): string {
  if (c.left === 0) return "No more keys can be created on this plan.";
  return `${formatNumber(c.left)} more ${c.left === 1 ? "key" : "keys"} can be created.`;
}
