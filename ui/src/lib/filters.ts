// Key list filtering and search (client side, over the pages loaded so far).
import { maskKey } from "./format";
import type { Environment, KeyStatus, KeyView } from "./types";

export type StatusFilter = "all" | KeyStatus;
export type EnvironmentFilter = "all" | Environment;

export type KeyFilter = {
  status: StatusFilter;
  environment: EnvironmentFilter;
  query: string;
};

export const EMPTY_FILTER: KeyFilter = { status: "all", environment: "all", query: "" };

function haystack(key: KeyView): string {
  return [
    key.name,
    key.id,
    key.environment,
    maskKey(key),
    key.prefix + key.last4,
    key.last4,
    key.status,
    ...key.scopes,
    ...key.resources,
  ]
    .join("\n")
    .toLowerCase();
}

/** Every whitespace-separated word of the query must appear somewhere. */
export function matchesQuery(key: KeyView, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = haystack(key);
  // "…" in a pasted masked key: match either side of it.
  return words.every((w) => w.split("…").every((part) => text.includes(part)));
}

export function filterKeys(keys: KeyView[], f: KeyFilter): KeyView[] {
  return keys.filter(
    (k) =>
      (f.status === "all" || k.status === f.status) &&
      (f.environment === "all" || k.environment === f.environment) &&
      matchesQuery(k, f.query),
  );
}

export function isFiltered(f: KeyFilter): boolean {
  return f.status !== "all" || f.environment !== "all" || f.query.trim() !== "";
}

export function countByStatus(keys: KeyView[]): Record<StatusFilter, number> {
  const out: Record<StatusFilter, number> = { all: keys.length, active: 0, revoked: 0, expired: 0 };
  for (const k of keys) out[k.status] += 1;
  return out;
}

/** Insert or replace a key in a newest-first list. */
export function upsertKey(keys: KeyView[], key: KeyView): KeyView[] {
  const i = keys.findIndex((k) => k.id === key.id);
  if (i === -1) return [key, ...keys];
  const next = keys.slice();
  next[i] = key;
  return next;
}

/** Append a page, skipping keys already present (a key created meanwhile shifts pages). */
export function appendPage(keys: KeyView[], page: KeyView[]): KeyView[] {
  const seen = new Set(keys.map((k) => k.id));
  return [...keys, ...page.filter((k) => !seen.has(k.id))];
}
