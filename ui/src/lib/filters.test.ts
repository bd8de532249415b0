import { describe, expect, it } from "vitest";
import { key } from "../test/fixtures";
import {
  appendPage,
  countByStatus,
  EMPTY_FILTER,
  filterKeys,
  isFiltered,
  matchesQuery,
  upsertKey,
} from "./filters";

const billing = key({ name: "Billing worker", environment: "live", last4: "9f3c", scopes: ["read", "write"], resources: ["project:billing"] });
const ci = key({ name: "CI runner", environment: "test", prefix: "to_test_", last4: "0a0a", status: "revoked" });
const stage = key({ name: "Staging deploy", environment: "staging", prefix: "to_staging_", last4: "beef", status: "expired" });
const all = [billing, ci, stage];

describe("filterKeys", () => {
  it("passes everything with the empty filter", () => {
    expect(filterKeys(all, EMPTY_FILTER)).toEqual(all);
    expect(isFiltered(EMPTY_FILTER)).toBe(false);
  });
  it("filters by status and environment together", () => {
    expect(filterKeys(all, { ...EMPTY_FILTER, status: "revoked" })).toEqual([ci]);
    expect(filterKeys(all, { ...EMPTY_FILTER, environment: "staging" })).toEqual([stage]);
    expect(filterKeys(all, { ...EMPTY_FILTER, status: "active", environment: "test" })).toEqual([]);
  });
  it("searches name, last4, scopes and resources, case-insensitively", () => {
    expect(filterKeys(all, { ...EMPTY_FILTER, query: "BILLING" })).toEqual([billing]);
    expect(filterKeys(all, { ...EMPTY_FILTER, query: "beef" })).toEqual([stage]);
    expect(filterKeys(all, { ...EMPTY_FILTER, query: "write" })).toEqual([billing]);
    expect(filterKeys(all, { ...EMPTY_FILTER, query: "project:billing" })).toEqual([billing]);
    expect(isFiltered({ ...EMPTY_FILTER, query: " x " })).toBe(true);
  });
  it("needs every word to match", () => {
    expect(matchesQuery(billing, "billing live")).toBe(true);
    expect(matchesQuery(billing, "billing test")).toBe(false);
  });
  it("finds a pasted masked key", () => {
    expect(filterKeys(all, { ...EMPTY_FILTER, query: "to_test_…0a0a" })).toEqual([ci]);
  });
});

describe("list helpers", () => {
  it("counts by status", () => {
    expect(countByStatus(all)).toEqual({ all: 3, active: 1, revoked: 1, expired: 1 });
  });
  it("puts new keys first and replaces known ones in place", () => {
    const fresh = key({ name: "New" });
    expect(upsertKey(all, fresh)[0]).toBe(fresh);
    const renamed = { ...ci, name: "CI runner (old)" };
    const next = upsertKey(all, renamed);
    expect(next[1]).toBe(renamed);
    expect(next).toHaveLength(3);
  });
  it("appends a page without duplicates", () => {
    const older = key({ name: "Older" });
    expect(appendPage([billing, ci], [ci, older]).map((k) => k.name)).toEqual([
      "Billing worker",
      "CI runner",
      "Older",
    ]);
  });
});
