// UsageChart and the plotting code under it (usage-plot.ts), with the uPlot
// construction recorded (jsdom has no canvas) and the overlays drawn into a
// recording context.
import { render, screen } from "@testing-library/svelte";
import type uPlot from "uplot";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { recordingContext, recordPlots, type MadePlot } from "../../test/plot-recorder";
import type { UsagePoint } from "../types";
import { compareSeries, firstSeen, toStacked } from "../usage";
import { BARS_UP_TO, buildData, type ChartInput } from "../usage-plot";
import UsageChart from "./UsageChart.svelte";

let made: MadePlot[];
let restore: () => void;

beforeEach(() => {
  ({ made, restore } = recordPlots());
});
afterEach(() => restore());

const T0 = Date.parse("2026-03-12T12:00:00Z");

function pts(n: number, fill: (i: number) => Partial<Omit<UsagePoint, "t">>, offset = 0): UsagePoint[] {
  return Array.from({ length: n }, (_, i) => ({
    t: new Date(T0 + (i + offset) * 60_000).toISOString(),
    success: 0,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: 0,
    ...fill(i),
  }));
}

/** Runs the chart's draw hook against a fake plot: a linear mapping onto a 1000 × 200 plot area. */
function drawOverlays(plot: MadePlot, y: { max: number }, x: { min: number; max: number }) {
  const rec = recordingContext();
  const u = {
    ctx: rec.ctx,
    bbox: { left: 50, top: 10, width: 1000, height: 200 },
    scales: { x: { min: x.min, max: x.max }, y: { min: 0, max: y.max } },
    valToPos: (v: number, scale: string) =>
      scale === "y" ? 210 - (v / y.max) * 200 : 50 + ((v - x.min) / (x.max - x.min)) * 1000,
  } as unknown as uPlot;
  for (const hook of plot.opts.hooks?.draw ?? []) hook?.(u);
  return rec;
}

describe("stacked chart", () => {
  const busy = toStacked(pts(600, (i) => ({ success: 100 + (i % 50), rate_limited: i === 10 ? 30 : 0 })), "minute");
  const input = (limit: number | null, series = busy): ChartInput => ({ kind: "stacked", series, limit });

  it("hands uPlot typed columns, the legend the totals, and screen readers the summary", () => {
    render(UsageChart, { input: input(300), label: "Requests per minute…" });
    expect(made).toHaveLength(1);
    expect(made[0].data[0]).toBeInstanceOf(Float64Array);
    expect(made[0].data.slice(1).every((c) => c instanceof Float64Array)).toBe(true);
    expect(screen.getByTestId("usage-chart-plot").getAttribute("aria-label")).toBe("Requests per minute…");
    const legend = screen.getByTestId("usage-chart-legend").textContent ?? "";
    expect(legend).toMatch(/Success\s*74,700/);
    expect(legend).toMatch(/Rate limited\s*30/);
    expect(legend).toMatch(/Limit 300\/min/);
    expect(legend).not.toMatch(/well below/);
    // Quiet outcomes are greyed in the legend.
    expect(screen.getByTestId("usage-chart-legend").querySelector('[data-outcome="denied"]')?.classList.contains("zero")).toBe(true);
  });

  it("draws the limit as a dashed line with its label when traffic comes near it", () => {
    render(UsageChart, { input: input(300), label: "x" });
    const rec = drawOverlays(made[0], { max: 330 }, { min: busy.x[0], max: busy.x[599] });
    expect(rec.dash[0]?.length).toBe(2);
    expect(rec.calls.filter((c) => c.op === "fillText").map((c) => c.args[0])).toEqual(["Limit 300/min"]);
    // At y = 300 of 330 on a 200 px plot from the top at 10.
    const moveTo = rec.calls.find((c) => c.op === "moveTo")!.args as number[];
    expect(moveTo[1]).toBeCloseTo(210 - (300 / 330) * 200 + 0.5, 0);
  });

  it("leaves the limit off the scale when traffic is far below it, and says so", () => {
    render(UsageChart, { input: input(18_000), label: "x" });
    const rec = drawOverlays(made[0], { max: 165 }, { min: busy.x[0], max: busy.x[599] });
    expect(rec.dash).toEqual([]);
    expect(screen.getByTestId("usage-chart-limit").textContent).toMatch(/Limit 18,000\/min.*well below/s);
    // The y axis ignores the limit then.
    const yRange = made[0].opts.scales!.y.range as (u: uPlot, min: number, max: number) => [number, number];
    expect(yRange({} as uPlot, 0, 150)[1]).toBeCloseTo(165);
  });

  it("has no limit line or legend entry without limit info", () => {
    render(UsageChart, { input: input(null), label: "x" });
    expect(screen.queryByTestId("usage-chart-limit")).toBeNull();
    const rec = drawOverlays(made[0], { max: 165 }, { min: busy.x[0], max: busy.x[599] });
    expect(rec.calls.filter((c) => c.op === "fillText")).toEqual([]);
  });

  it("updates in place on new data and rebuilds only for another kind of chart", async () => {
    const { rerender } = render(UsageChart, { input: input(300), label: "x" });
    const next = toStacked(pts(600, () => ({ success: 1 })), "minute");
    await rerender({ input: input(300, next), label: "y" });
    expect(made).toHaveLength(1);
    expect(made[0].updates).toBe(1);
    expect(made[0].data[1][0]).toBe(1);
    await rerender({ input: { kind: "lines", step: "minute", series: compareSeries([{ label: "A", points: [] }]) }, label: "z" });
    expect(made).toHaveLength(2);
    expect(made[0].destroyed).toBe(true);
  });

  it("destroys the plot when it goes away", () => {
    const { unmount } = render(UsageChart, { input: input(300), label: "x" });
    unmount();
    expect(made[0].destroyed).toBe(true);
  });

  it("shows exact numbers per outcome in the tooltip, top of the stack first", () => {
    render(UsageChart, { input: input(300), label: "x" });
    const plot = made[0];
    const tip = plot.over.querySelector(".kp-tip") as HTMLElement;
    expect(tip.hidden).toBe(true);
    const u = { cursor: { idx: 10, left: 120 }, bbox: { width: 1000 } } as unknown as uPlot;
    for (const hook of plot.opts.hooks?.setCursor ?? []) hook?.(u);
    expect(tip.hidden).toBe(false);
    const rows = [...tip.querySelectorAll(".kp-tip-row")].map((r) => r.textContent);
    expect(rows).toEqual(["Would deny0", "Denied0", "Rate limited30", "Server error0", "Client error0", "Success110", "Total140"]);
    expect(tip.querySelector(".kp-tip-time")?.textContent).toBe("12 Mar 12:10 UTC");
    // Past the middle it opens to the left of the cursor.
    const right = { cursor: { idx: 500, left: 900 }, bbox: { width: 1000 } } as unknown as uPlot;
    for (const hook of plot.opts.hooks?.setCursor ?? []) hook?.(right);
    expect(tip.style.transform).toMatch(/-100%/);
    const away = { cursor: { idx: null, left: -10 }, bbox: { width: 1000 } } as unknown as uPlot;
    for (const hook of plot.opts.hooks?.setCursor ?? []) hook?.(away);
    expect(tip.hidden).toBe(true);
  });

  it("draws few buckets as bars and many as areas", () => {
    const few = toStacked(pts(BARS_UP_TO, () => ({ success: 1 })), "minute");
    render(UsageChart, { input: input(300, few), label: "x" });
    const xRange = made[0].opts.scales!.x.range as (u: uPlot, min: number, max: number) => [number, number];
    // Bars are centred on their bucket: half a step of room either side.
    expect(xRange({} as uPlot, few.x[0], few.x[BARS_UP_TO - 1])).toEqual([few.x[0] - 30, few.x[BARS_UP_TO - 1] + 30]);
    render(UsageChart, { input: input(300), label: "x" });
    const xRange2 = made[1].opts.scales!.x.range as (u: uPlot, min: number, max: number) => [number, number];
    expect(xRange2({} as uPlot, busy.x[0], busy.x[599])).toEqual([busy.x[0], busy.x[599]]);
  });
});

describe("would deny (a report-only restriction)", () => {
  // Served, but the proposal would have refused them: 3 a minute from minute 20 on.
  const series = toStacked(pts(60, (i) => ({ success: 40, would_deny: i >= 20 ? 3 : 0 })), "minute");
  const input: ChartInput = { kind: "stacked", series, limit: 300 };

  it("is its own series on top of the stack, in its own colour", () => {
    render(UsageChart, { input, label: "x" });
    const { opts, data } = made[0];
    const top = opts.series[1];
    expect(top.label).toBe("Would deny");
    const others = opts.series.slice(2).map((s) => s.fill);
    expect(others).not.toContain(top.fill);
    expect(new Set(opts.series.slice(1).map((s) => s.fill)).size).toBe(6);
    // The top band reaches the bucket's total; the band under it stops 3 lower.
    expect(data[1][30]).toBe(43);
    expect(data[2][30]).toBe(40);
    expect(data[1][10]).toBe(40);
  });

  it("has its legend entry with the total, greyed when there is none", () => {
    render(UsageChart, { input, label: "x" });
    const entry = screen.getByTestId("usage-chart-legend").querySelector('[data-outcome="would_deny"]')!;
    expect(entry.textContent).toMatch(/Would deny\s*120/);
    expect(entry.classList.contains("zero")).toBe(false);
    expect(entry.querySelector(".sw")?.classList.contains("sw-would-deny")).toBe(true);
    const quiet = toStacked(pts(10, () => ({ success: 1 })), "minute");
    render(UsageChart, { input: { kind: "stacked", series: quiet, limit: null }, label: "y" });
    const legends = screen.getAllByTestId("usage-chart-legend");
    expect(legends[1].querySelector('[data-outcome="would_deny"]')?.classList.contains("zero")).toBe(true);
  });

  it("shows its exact number in the tooltip, first (top of the stack)", () => {
    render(UsageChart, { input, label: "x" });
    const tip = made[0].over.querySelector(".kp-tip") as HTMLElement;
    const u = { cursor: { idx: 30, left: 100 }, bbox: { width: 1000 } } as unknown as uPlot;
    for (const hook of made[0].opts.hooks?.setCursor ?? []) hook?.(u);
    const rows = [...tip.querySelectorAll(".kp-tip-row")].map((r) => r.textContent);
    expect(rows[0]).toBe("Would deny3");
    expect(rows.at(-1)).toBe("Total43");
    const swatch = tip.querySelector(".kp-tip-sw") as HTMLElement;
    expect(swatch.style.background).not.toBe("");
  });
});

describe("comparison lines (rotation wizard)", () => {
  const oldKey = pts(60, (i) => ({ success: i < 30 ? 10 : 2 }));
  const newKey = pts(40, (i) => ({ success: i < 5 ? 0 : 8 }), 20);
  const series = compareSeries([
    { label: "Old key", points: oldKey },
    { label: "New key", points: newKey },
  ]);
  const seen = firstSeen(newKey)!;
  const input: ChartInput = { kind: "lines", step: "minute", series, markers: [{ at: seen, label: "New key first seen" }] };

  it("plots one line per key on one time axis, with gaps where a key has no bucket", () => {
    render(UsageChart, { input, label: "Old and new key" });
    const { opts, data } = made[0];
    expect(opts.series.slice(1).map((s) => [s.label, s.width, s.fill ?? null])).toEqual([
      ["Old key", 2, null],
      ["New key", 2, null],
    ]);
    expect(data).toEqual(buildData(input));
    expect(data[0].length).toBe(60);
    expect(data[2][0]).toBeNull();
    expect(data[2][25]).toBe(8);
    const legend = screen.getByTestId("usage-chart-legend").textContent ?? "";
    expect(legend).toMatch(/Old key\s*360/);
    expect(legend).toMatch(/New key\s*280/);
  });

  it("marks when the new key was first seen", () => {
    render(UsageChart, { input, label: "x" });
    const rec = drawOverlays(made[0], { max: 11 }, { min: series.x[0], max: series.x[59] });
    expect(rec.calls.filter((c) => c.op === "fillText").map((c) => c.args[0])).toEqual(["New key first seen"]);
    const line = rec.calls.filter((c) => c.op === "moveTo")[0].args as number[];
    expect(line[0]).toBeCloseTo(50 + (25 / 59) * 1000 + 0.5, 0);
    // No dashed limit line on a comparison.
    expect(rec.dash).toEqual([]);
  });

  it("skips markers outside the visible range", () => {
    render(UsageChart, { input: { ...input, markers: [{ at: series.x[0] - 3600, label: "Before" }] }, label: "x" });
    const rec = drawOverlays(made[0], { max: 11 }, { min: series.x[0], max: series.x[59] });
    expect(rec.calls.filter((c) => c.op === "fillText")).toEqual([]);
  });
});
