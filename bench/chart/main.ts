// Chart render benchmark page (bench/chart.sh runs it in WebKitGTK).
//
// Draws the Usage screen's stacked chart with the app's own code (usage.ts
// for the columns, usage-plot.ts for uPlot's options, overlays and tooltip)
// for two series: (a) 1 day per minute, 1,440 buckets × 5 outcomes, and
// (b) 30 days per minute, 43,200 × 5. Per round and case it times:
//   build   new chart: construct + first draw, flushed (getImageData) and laid out
//   redraw  new data into the same chart (what a 10 s refresh does), flushed
//   cursor  one cursor move (tooltip text and position), laid out; mean of MOVES
//   columns turning the service's points into uPlot columns (toStacked), mean of 5
// then leaves the results in window.__chartBench and says so in document.title.
import "../../ui/src/app.css";
import type { UsagePoint } from "../../ui/src/lib/types";
import { limitPerStep, toStacked } from "../../ui/src/lib/usage";
import { readPalette, UsagePlot, type ChartInput } from "../../ui/src/lib/usage-plot";

if (/Linux/.test(navigator.userAgent) && !/Android/.test(navigator.userAgent)) {
  document.documentElement.dataset.os = "linux";
}

const params = new URLSearchParams(location.search);
const ROUNDS = Number(params.get("rounds") ?? 7);
const MOVES = Number(params.get("moves") ?? 60);
const REDRAWS = 3;
/** performance.now() is coarse here (1 ms steps): the column build is timed over this many runs. */
const COLUMN_RUNS = 5;
/** The per-key chart's size in a 1280 × 800 window (its card is 984 px wide, 16 px padding). */
const WIDTH = 952;
const HEIGHT = 260;

const CASES = [
  { id: "a", label: "1 day per minute", n: 1440 },
  { id: "b", label: "30 days per minute", n: 43_200 },
] as const;

type Timing = {
  build: number;
  redraw: number;
  cursor: number;
  columns: number;
  /** The script's share of build and redraw: before the forced flush. */
  buildScript: number;
  redrawScript: number;
};

/** Deterministic traffic with every outcome present (all five areas drawn). */
function points(n: number, shift: number): UsagePoint[] {
  const start = Date.parse("2026-01-01T00:00:00Z") / 1000 + shift * 60;
  const out: UsagePoint[] = new Array(n);
  let s = 12345 + shift;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4_294_967_296);
  for (let i = 0; i < n; i++) {
    const day = Math.sin((2 * Math.PI * ((i + shift) % 1440)) / 1440);
    const base = 120 * (1 + 0.6 * day) * (0.7 + 0.6 * rnd());
    out[i] = {
      t: new Date((start + i * 60) * 1000).toISOString().replace(".000Z", "Z"),
      success: Math.round(base),
      client_error: Math.round(base * 0.05 * rnd()),
      server_error: rnd() > 0.95 ? Math.round(base * 0.2) : 0,
      rate_limited: rnd() > 0.98 ? Math.round(base * 0.5) : 0,
      denied: rnd() > 0.9 ? 1 : 0,
      would_deny: 0,
    };
  }
  return out;
}

function input(p: UsagePoint[]): ChartInput {
  const series = toStacked(p, "minute");
  return { kind: "stacked", series, limit: limitPerStep(300, "minute") };
}

/** Makes the browser finish what was asked: canvas drawing and layout. */
function settle(plot: UsagePlot) {
  const u = plot.plot!;
  u.ctx.getImageData(0, 0, 1, 1);
  void u.root.getBoundingClientRect();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function holder(stage: HTMLElement): HTMLElement {
  const el = document.createElement("div");
  el.style.width = `${WIDTH}px`;
  el.style.position = "relative";
  stage.appendChild(el);
  return el;
}

function runCase(stage: HTMLElement, data: { pts: UsagePoint[][]; inputs: ChartInput[] }, keep: boolean): Timing {
  const palette = readPalette(document.documentElement);
  const el = holder(stage);

  let t = performance.now();
  const plot = new UsagePlot(el, data.inputs[0], { width: WIDTH, height: HEIGHT }, palette);
  const buildScript = performance.now() - t;
  settle(plot);
  const build = performance.now() - t;

  const redraws: number[] = [];
  const redrawScripts: number[] = [];
  for (let i = 1; i <= REDRAWS; i++) {
    t = performance.now();
    plot.update(data.inputs[i % data.inputs.length]);
    redrawScripts.push(performance.now() - t);
    settle(plot);
    redraws.push(performance.now() - t);
  }

  const u = plot.plot!;
  const tip = plot.tooltip!;
  const plotWidth = u.over.clientWidth || WIDTH - 60;
  t = performance.now();
  for (let k = 0; k < MOVES; k++) {
    u.setCursor({ left: ((k + 0.5) / MOVES) * plotWidth, top: 40 });
    void tip.offsetWidth;
  }
  const cursor = (performance.now() - t) / MOVES;

  t = performance.now();
  for (let i = 0; i < COLUMN_RUNS; i++) toStacked(data.pts[i % 2], "minute");
  const columns = (performance.now() - t) / COLUMN_RUNS;

  if (!keep) {
    plot.destroy();
    el.remove();
  }
  return { build, redraw: median(redraws), cursor, columns, buildScript, redrawScript: median(redrawScripts) };
}

function run() {
  const stage = document.getElementById("stage")!;
  const data = CASES.map((c) => {
    const pts = [points(c.n, 0), points(c.n, 1)];
    return { pts, inputs: pts.map(input) };
  });
  // One unmeasured round: the JIT warms up on both sizes.
  data.forEach((d) => runCase(stage, d, false));

  const rounds: Record<string, Timing>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round: Record<string, Timing> = {};
    // Alternate the order so neither case always runs on a warmer engine.
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) round[CASES[i].id] = runCase(stage, data[i], r === ROUNDS - 1);
    rounds.push(round);
  }
  return {
    cases: CASES.map((c) => ({ id: c.id, label: c.label, points: c.n, series: 5 })),
    size: { width: WIDTH, height: HEIGHT, pixelRatio: devicePixelRatio },
    moves: MOVES,
    redraws: REDRAWS,
    userAgent: navigator.userAgent,
    rounds,
  };
}

try {
  // Let the page lay out once before measuring.
  setTimeout(() => {
    try {
      // The runner reads the results with evaluate_javascript (titles are cut short).
      (window as unknown as { __chartBench: string }).__chartBench = JSON.stringify(run());
      document.title = "CHART_BENCH_DONE";
    } catch (e) {
      document.title = `CHART_BENCH_ERROR ${String(e instanceof Error ? e.stack ?? e.message : e)}`;
    }
  }, 50);
} catch (e) {
  document.title = `CHART_BENCH_ERROR ${String(e)}`;
}
