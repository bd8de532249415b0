// DEV ONLY (the mock backend). Small shared helpers: times, ids, refusals.
import type { PortalError } from "../types";

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** An RFC 3339 time without milliseconds, as the service writes them. */
export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** `key_…`, `wh_…`, `msg_…`: a prefix and 10 random bytes in hex, like the service's ids. */
export function newId(prefix: string): string {
  return `${prefix}_${randomHex(10)}`;
}

/** Rejects the command the way Rust does: with a PortalError. */
export function fail(code: PortalError["code"], message: string, retry_after: number | null = null): never {
  throw { code, message, retry_after } satisfies PortalError;
}

/** One page of `all` from `cursor` (an offset the service handed out). */
export function page<T>(all: readonly T[], cursor: string | null, size: number): { items: T[]; next: string | null } {
  const start = cursor ? Number(cursor) || 0 : 0;
  return { items: all.slice(start, start + size), next: start + size < all.length ? String(start + size) : null };
}
