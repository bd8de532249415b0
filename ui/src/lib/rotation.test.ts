import { describe, expect, it } from "vitest";
import { daysAgo, key, NOW } from "../test/fixtures";
import { keyHealth, needsAttention } from "./rotation";

const DAY = 86_400_000;

describe("keyHealth (same rules as keyport-core)", () => {
  it("live keys are due after 90 days, reminders 14 days ahead", () => {
    expect(keyHealth(key({ created_at: daysAgo(75) }), NOW).rotation).toBe("ok");
    expect(keyHealth(key({ created_at: daysAgo(76) }), NOW).rotation).toBe("due_soon");
    expect(keyHealth(key({ created_at: daysAgo(90) }), NOW).rotation).toBe("overdue");
  });
  it("test and staging keys every 30 days", () => {
    expect(keyHealth(key({ environment: "test", created_at: daysAgo(15) }), NOW).rotation).toBe("ok");
    expect(keyHealth(key({ environment: "test", created_at: daysAgo(16) }), NOW).rotation).toBe("due_soon");
    expect(keyHealth(key({ environment: "staging", created_at: daysAgo(31) }), NOW).rotation).toBe("overdue");
  });
  it("revoked, expired and rotated keys stop nagging", () => {
    expect(keyHealth(key({ created_at: daysAgo(200), status: "revoked" }), NOW).rotation).toBe("ok");
    expect(keyHealth(key({ created_at: daysAgo(200), status: "expired" }), NOW).rotation).toBe("ok");
    expect(keyHealth(key({ created_at: daysAgo(200), replaced_by: "key_x" }), NOW).rotation).toBe("ok");
  });
  it("flags keys expiring within 7 days", () => {
    const soon = new Date(NOW + 5 * DAY).toISOString();
    const later = new Date(NOW + 9 * DAY).toISOString();
    expect(keyHealth(key({ expires_at: soon }), NOW).expiring).toBe(true);
    expect(keyHealth(key({ expires_at: later }), NOW).expiring).toBe(false);
    expect(keyHealth(key({ expires_at: daysAgo(1) }), NOW).expiring).toBe(false);
  });
  it("computes the due date", () => {
    expect(keyHealth(key({ created_at: daysAgo(10) }), NOW).dueAt).toBe(NOW + 80 * DAY);
  });
});

describe("needsAttention", () => {
  it("lists overdue first, then due soon, then expiring, and skips healthy keys", () => {
    const due = key({ name: "due", created_at: daysAgo(80) });
    const over = key({ name: "over", created_at: daysAgo(120) });
    const fine = key({ name: "fine", created_at: daysAgo(1) });
    const exp = key({ name: "exp", created_at: daysAgo(1), expires_at: new Date(NOW + DAY).toISOString() });
    expect(needsAttention([due, fine, exp, over], NOW).map((a) => a.key.name)).toEqual(["over", "due", "exp"]);
  });
});
