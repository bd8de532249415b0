import { describe, expect, it } from "vitest";
import type { UsagePoint } from "./types";
import {
  allowedSteps,
  compactNumber,
  compareSeries,
  defaultStep,
  firstSeen,
  formatBucket,
  limitInView,
  limitPerStep,
  percent,
  pointCount,
  ranked,
  stepFor,
  summarize,
  timeTicks,
  toStacked,
  topKeys,
  yTop,
} from "./usage";

const T0 = Date.parse("2026-03-12T12:00:00Z");

function pt(minute: number, v: Partial<Omit<UsagePoint, "t">> = {}, stepMs = 60_000): UsagePoint {
  return {
    t: new Date(T0 + minute * stepMs).toISOString().replace(/\.000Z$/, "Z"),
    success: 0,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: 0,
    ...v,
  };
}

const secs = (minute: number, stepMs = 60_000) => (T0 + minute * stepMs) / 1000;

describe("ranges and steps", () => {
  it("defaults like the service: 1h and 24h per minute, 7d and 30d per hour", () => {
    expect(defaultStep("1h")).toBe("minute");
    expect(defaultStep("24h")).toBe("minute");
    expect(defaultStep("7d")).toBe("hour");
    expect(defaultStep("30d")).toBe("hour");
  });

  it("counts buckets", () => {
    expect(pointCount("1h", "minute")).toBe(60);
    expect(pointCount("1h", "hour")).toBe(1);
    expect(pointCount("30d", "minute")).toBe(43_200);
    expect(pointCount("7d", "day")).toBe(7);
  });

  it("allows a step when it gives 2 to 50,000 buckets", () => {
    expect(allowedSteps("1h")).toEqual(["minute"]);
    expect(allowedSteps("24h")).toEqual(["minute", "hour"]);
    expect(allowedSteps("7d")).toEqual(["minute", "hour", "day"]);
    expect(allowedSteps("30d")).toEqual(["minute", "hour", "day"]);
  });

  it("keeps an allowed step and falls back to the default otherwise", () => {
    expect(stepFor("30d", "minute")).toBe("minute");
    expect(stepFor("1h", "day")).toBe("minute");
    expect(stepFor("24h", "day")).toBe("minute");
    expect(stepFor("7d", null)).toBe("hour");
  });
});

describe("limitPerStep", () => {
  it("scales the per-minute limit to the step", () => {
    expect(limitPerStep(300, "minute")).toBe(300);
    expect(limitPerStep(300, "hour")).toBe(18_000);
    expect(limitPerStep(300, "day")).toBe(432_000);
  });

  it("is null without limit info", () => {
    expect(limitPerStep(null, "minute")).toBeNull();
    expect(limitPerStep(undefined, "hour")).toBeNull();
    expect(limitPerStep(0, "minute")).toBeNull();
    expect(limitPerStep(Number.NaN, "minute")).toBeNull();
  });
});

describe("toStacked", () => {
  it("builds x in unix seconds, raw columns and running sums in outcome order", () => {
    const s = toStacked(
      [
        pt(0, { success: 5, client_error: 1, server_error: 2, rate_limited: 3, denied: 4 }),
        pt(1),
        pt(2, { success: 7, denied: 1, would_deny: 2 }),
      ],
      "minute",
    );
    expect(Array.from(s.x)).toEqual([secs(0), secs(1), secs(2)]);
    expect(s.raw.map((a) => Array.from(a))).toEqual([
      [5, 0, 7],
      [1, 0, 0],
      [2, 0, 0],
      [3, 0, 0],
      [4, 0, 1],
      [0, 0, 2],
    ]);
    expect(s.stacked.map((a) => Array.from(a))).toEqual([
      [5, 0, 7],
      [6, 0, 7],
      [8, 0, 7],
      [11, 0, 7],
      [15, 0, 8],
      [15, 0, 10],
    ]);
    expect(s.totals).toEqual({ success: 12, client_error: 1, server_error: 2, rate_limited: 3, denied: 5, would_deny: 2 });
    expect(s.total).toBe(25);
    expect(s.peak).toBe(15);
    expect(s.peakIndex).toBe(0);
    expect(s.x).toBeInstanceOf(Float64Array);
    expect(s.stacked[0]).toBeInstanceOf(Float64Array);
  });

  it("handles an empty series", () => {
    const s = toStacked([], "hour");
    expect(s.x.length).toBe(0);
    expect(s.raw).toHaveLength(6);
    expect(s.stacked.every((a) => a.length === 0)).toBe(true);
    expect(s.total).toBe(0);
    expect(s.peakIndex).toBe(-1);
  });

  it("handles an all-zero series", () => {
    const s = toStacked([pt(0), pt(1), pt(2)], "minute");
    expect(s.x.length).toBe(3);
    expect(s.total).toBe(0);
    expect(s.peak).toBe(0);
    expect(s.peakIndex).toBe(-1);
    expect(Array.from(s.stacked[4])).toEqual([0, 0, 0]);
  });

  it("parses every time when the buckets are not evenly spaced, sorting and dropping bad ones", () => {
    const s = toStacked(
      [pt(5, { success: 1 }), pt(0, { success: 2 }), { ...pt(1), t: "not a time" }, pt(2, { denied: 3 })],
      "minute",
    );
    expect(Array.from(s.x)).toEqual([secs(0), secs(2), secs(5)]);
    expect(Array.from(s.raw[0])).toEqual([2, 0, 1]);
    expect(Array.from(s.raw[4])).toEqual([0, 3, 0]);
    expect(s.total).toBe(6);
  });

  it("uses the step to lay out a regular series", () => {
    const hour = 3_600_000;
    const s = toStacked([pt(0, {}, hour), pt(1, { success: 2 }, hour), pt(2, {}, hour)], "hour");
    expect(Array.from(s.x)).toEqual([secs(0, hour), secs(1, hour), secs(2, hour)]);
    expect(s.peakIndex).toBe(1);
  });

  it("treats negative or missing counts as zero", () => {
    const bad = { ...pt(0), success: -4, denied: Number.NaN } as UsagePoint;
    const s = toStacked([bad, pt(1, { success: 1 })], "minute");
    expect(s.total).toBe(1);
  });

  it("builds 30 days per minute quickly", () => {
    const n = 43_200;
    const points: UsagePoint[] = Array.from({ length: n }, (_, i) => pt(i, { success: i % 7, denied: i % 3 }));
    const started = performance.now();
    const s = toStacked(points, "minute");
    const took = performance.now() - started;
    expect(s.x.length).toBe(n);
    expect(s.x[n - 1] - s.x[0]).toBe((n - 1) * 60);
    expect(took).toBeLessThan(500);
  });
});

describe("firstSeen", () => {
  it("is the first bucket with any request", () => {
    expect(firstSeen([pt(0), pt(1), pt(2, { rate_limited: 1 }), pt(3, { success: 5 })])).toBe(secs(2));
  });

  it("does not depend on the order of the buckets", () => {
    expect(firstSeen([pt(9, { success: 1 }), pt(4, { denied: 1 }), pt(1)])).toBe(secs(4));
  });

  it("is null for an empty or all-zero series", () => {
    expect(firstSeen([])).toBeNull();
    expect(firstSeen([pt(0), pt(1)])).toBeNull();
  });
});

describe("compareSeries", () => {
  it("puts total requests of each line on one x axis", () => {
    const c = compareSeries([
      { label: "Old key", points: [pt(0, { success: 3, denied: 1 }), pt(1, { success: 2 })] },
      { label: "New key", points: [pt(0), pt(1, { success: 1, client_error: 1 })] },
    ]);
    expect(Array.from(c.x)).toEqual([secs(0), secs(1)]);
    expect(c.lines).toEqual([
      { label: "Old key", values: [4, 2], total: 6 },
      { label: "New key", values: [0, 2], total: 2 },
    ]);
  });

  it("aligns mismatched timestamps by time, with gaps where a line has no bucket", () => {
    const c = compareSeries([
      { label: "Old", points: [pt(0, { success: 1 }), pt(1, { success: 1 }), pt(2, { success: 1 })] },
      { label: "New", points: [pt(3, { success: 4 }), pt(2, { success: 2 })] },
    ]);
    expect(Array.from(c.x)).toEqual([secs(0), secs(1), secs(2), secs(3)]);
    expect(c.lines[0].values).toEqual([1, 1, 1, null]);
    expect(c.lines[1].values).toEqual([null, null, 2, 4]);
    expect(c.lines[1].total).toBe(6);
  });

  it("handles empty lines", () => {
    const c = compareSeries([
      { label: "Old", points: [] },
      { label: "New", points: [] },
    ]);
    expect(c.x.length).toBe(0);
    expect(c.lines.map((l) => l.values)).toEqual([[], []]);
    expect(compareSeries([]).lines).toEqual([]);
  });
});

describe("y axis and the limit", () => {
  it("shows the limit when traffic gets near it", () => {
    expect(limitInView(100, 300)).toBe(true);
    expect(limitInView(50, 300)).toBe(false);
    expect(limitInView(50, null)).toBe(false);
    expect(yTop(100, 300)).toBeCloseTo(330);
    expect(yTop(50, 300)).toBeCloseTo(55);
    expect(yTop(400, 300)).toBeCloseTo(440);
  });

  it("has a positive top for an empty chart", () => {
    expect(yTop(0, null)).toBe(1);
    expect(yTop(0, 300)).toBe(1);
  });
});

describe("formatting", () => {
  it("percent", () => {
    expect(percent(1, 3)).toBe("33.3%");
    expect(percent(1, 2)).toBe("50%");
    expect(percent(0, 10)).toBe("0%");
    expect(percent(10, 10)).toBe("100%");
    expect(percent(1, 10_000)).toBe("<0.1%");
    expect(percent(9_999, 10_000)).toBe(">99.9%");
    expect(percent(0, 0)).toBe("–");
  });

  it("compactNumber", () => {
    expect(compactNumber(0)).toBe("0");
    expect(compactNumber(950)).toBe("950");
    expect(compactNumber(1500)).toBe("1.5k");
    expect(compactNumber(12_345)).toBe("12k");
    expect(compactNumber(3_400_000)).toBe("3.4M");
    expect(compactNumber(2.5)).toBe("2.5");
  });

  it("formatBucket", () => {
    const s = Date.parse("2026-03-02T04:05:00Z") / 1000;
    expect(formatBucket(s, "minute")).toBe("2 Mar 04:05 UTC");
    expect(formatBucket(s, "hour")).toBe("2 Mar 04:05 UTC");
    expect(formatBucket(s, "day")).toBe("2 Mar 2026");
  });

  it("timeTicks: times with the date at the start and at midnight, days, months", () => {
    const at = (iso: string) => Date.parse(iso) / 1000;
    expect(timeTicks([at("2026-03-12T18:00:00Z"), at("2026-03-12T21:00:00Z"), at("2026-03-13T00:00:00Z")], 3 * 3600)).toEqual([
      "18:00\n12 Mar",
      "21:00",
      "00:00\n13 Mar",
    ]);
    expect(timeTicks([at("2025-12-30T00:00:00Z"), at("2025-12-31T00:00:00Z"), at("2026-01-01T00:00:00Z")], 86_400)).toEqual([
      "30 Dec\n2025",
      "31 Dec",
      "1 Jan\n2026",
    ]);
    expect(timeTicks([at("2026-03-01T00:00:00Z")], 31 * 86_400)).toEqual(["Mar 2026"]);
    expect(timeTicks([], 60)).toEqual([]);
  });
});

describe("summarize", () => {
  it("says totals, outcome shares, the busiest bucket and the limit", () => {
    const s = toStacked([pt(0, { success: 90, client_error: 5, rate_limited: 5 }), pt(1, { success: 10 })], "minute");
    expect(summarize(s, "1h", 300)).toBe(
      "Requests per minute over the last hour: 110 in total; 90.9% succeeded, 5 client errors, 0 server errors, " +
        "5 rate limited, 0 denied. Busiest minute: 100 requests, 12 Mar 12:00 UTC. Limit: 300 per minute (peak at 33.3% of it).",
    );
    expect(summarize(s, "1h", 100)).toMatch(/Limit: 100 per minute, reached\.$/);
    expect(summarize(s, "1h", null)).not.toMatch(/Limit/);
  });

  it("counts what a report-only restriction would have refused, only when there is some", () => {
    const s = toStacked([pt(0, { success: 90, would_deny: 10 })], "minute");
    expect(summarize(s, "1h", null)).toMatch(/90% succeeded, .* 0 denied, 10 would be refused by the proposed restriction\./);
    const none = toStacked([pt(0, { success: 90 })], "minute");
    expect(summarize(none, "1h", null)).not.toMatch(/would/);
  });

  it("says when there were no requests", () => {
    expect(summarize(toStacked([pt(0)], "minute"), "24h", 300)).toBe("No requests in the last 24 hours.");
    expect(summarize(toStacked([], "hour"), "7d", null)).toBe("No requests in the last 7 days.");
  });
});

describe("tables", () => {
  const kt = (name: string, total: number, over: Partial<{ success: number; client_error: number; server_error: number; rate_limited: number; denied: number }> = {}) => ({
    key_id: `key_${name}`,
    name,
    total,
    success: total,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: 0,
    ...over,
  });

  it("topKeys keeps keys with traffic, busiest first, with rates", () => {
    const rows = topKeys([kt("idle", 0), kt("b", 10, { success: 8, client_error: 1, server_error: 1 }), kt("a", 40)]);
    expect(rows.map((r) => r.name)).toEqual(["a", "b"]);
    expect(rows[1].successRate).toBe("80%");
    expect(rows[1].errorShare).toBe("20%");
    expect(topKeys([kt("a", 1), kt("b", 2), kt("c", 3)], 2).map((r) => r.name)).toEqual(["c", "b"]);
    expect(topKeys([])).toEqual([]);
  });

  it("ranked gives bars relative to the largest and shares of the whole", () => {
    const rows = ranked([
      { label: "/b", count: 25 },
      { label: "/a", count: 75 },
      { label: "/none", count: 0 },
    ]);
    expect(rows).toEqual([
      { label: "/a", count: 75, bar: 100, share: "75%" },
      { label: "/b", count: 25, bar: 33, share: "25%" },
    ]);
    expect(ranked([])).toEqual([]);
    expect(ranked([{ label: "x", count: 1 }, { label: "y", count: 100_000 }])[1].bar).toBe(1);
  });
});
