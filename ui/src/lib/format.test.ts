import { describe, expect, it } from "vitest";
import {
  describeAction,
  exactUtc,
  formatDate,
  formatNumber,
  formatPerDay,
  formatSeconds,
  hostOf,
  limitsSummary,
  maskKey,
  relativeTime,
} from "./format";

const NOW = Date.parse("2026-03-12T12:00:00Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

describe("maskKey", () => {
  it("shows the prefix, an ellipsis and the last four", () => {
    expect(maskKey({ prefix: "to_live_", last4: "a1b2" })).toBe("to_live_…a1b2");
    expect(maskKey({ prefix: "to_test_", last4: "0000" })).toBe("to_test_…0000");
  });
});

describe("relativeTime", () => {
  it("says just now for under 45 s, and for a moment ahead (clock drift)", () => {
    expect(relativeTime(ago(10_000), NOW)).toBe("just now");
    expect(relativeTime(ago(-20_000), NOW)).toBe("just now");
  });
  it("counts minutes, hours and days", () => {
    expect(relativeTime(ago(3 * 60_000), NOW)).toBe("3 min ago");
    expect(relativeTime(ago(50_000), NOW)).toBe("1 min ago");
    expect(relativeTime(ago(5 * 3_600_000), NOW)).toBe("5 h ago");
    expect(relativeTime(ago(26 * 3_600_000), NOW)).toBe("yesterday");
    expect(relativeTime(ago(12 * 86_400_000), NOW)).toBe("12 days ago");
  });
  it("falls back to a date after two months", () => {
    expect(relativeTime("2025-11-01T08:00:00Z", NOW)).toBe("1 Nov 2025");
  });
  it("handles the future", () => {
    expect(relativeTime(ago(-3 * 86_400_000), NOW)).toBe("in 3 days");
    expect(relativeTime(ago(-86_400_000), NOW)).toBe("tomorrow");
    expect(relativeTime(ago(-2 * 3_600_000), NOW)).toBe("in 2 h");
  });
  it("returns unparseable input unchanged", () => {
    expect(relativeTime("soon", NOW)).toBe("soon");
  });
});

describe("exact times", () => {
  it("formats UTC to the second", () => {
    expect(exactUtc("2026-03-12T14:03:22.123Z")).toBe("2026-03-12 14:03:22 UTC");
    expect(exactUtc("2026-03-12T16:03:22+02:00")).toBe("2026-03-12 14:03:22 UTC");
  });
  it("formats dates in UTC", () => {
    expect(formatDate("2026-01-01T00:30:00Z")).toBe("1 Jan 2026");
  });
});

describe("numbers and limits", () => {
  it("groups thousands", () => {
    expect(formatNumber(100000)).toBe("100,000");
  });
  it("treats a null daily limit as unlimited", () => {
    expect(formatPerDay(null)).toBe("Unlimited");
    expect(formatPerDay(1000)).toBe("1,000");
    expect(limitsSummary({ per_minute: 1000, per_day: null, burst: 2000 })).toBe(
      "1,000/min · unlimited/day · burst 2,000",
    );
  });
  it("formats seconds", () => {
    expect(formatSeconds(30)).toBe("30 s");
    expect(formatSeconds(0.2)).toBe("1 s");
    expect(formatSeconds(125)).toBe("2 min 5 s");
    expect(formatSeconds(120)).toBe("2 min");
  });
});

describe("labels", () => {
  it("names known audit actions and tidies unknown ones", () => {
    expect(describeAction("key.create")).toBe("Key created");
    expect(describeAction("auth.failed")).toBe("Sign-in refused");
    expect(describeAction("key.usage_alert")).toBe("Key usage alert");
  });
  it("takes the host from a URL", () => {
    expect(hostOf("https://keys.example.com/v1")).toBe("keys.example.com");
    expect(hostOf("http://127.0.0.1:8080")).toBe("127.0.0.1:8080");
    expect(hostOf("not a url")).toBe("not a url");
  });
});
