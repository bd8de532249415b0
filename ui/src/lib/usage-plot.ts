// The usage chart's plotting code, kept apart from Svelte so that the
// component (UsageChart.svelte) and the render benchmark (bench/chart/) run
// the same thing: uPlot options built from usage.ts's columns, a limit line
// and markers drawn on the canvas, and a tooltip updated in place on cursor
// moves (no per-point objects, no Svelte reactivity per point).
//
// Import this only from lazily loaded modules: uPlot is not part of the
// first screen.
// First: uPlot reads navigator.language and matchMedia when it loads.
import "./uplot-env";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./usage-chart.css";
import { formatNumber } from "./format";
import type { Step } from "./types";
import {
  OUTCOME_LABEL,
  OUTCOMES,
  STEP_SECONDS,
  STEP_UNIT,
  compactNumber,
  formatBucket,
  limitInView,
  timeTicks,
  yTop,
  type CompareSeries,
  type StackedSeries,
} from "./usage";

/** A labelled vertical line, e.g. "new key first seen" (at: unix seconds). */
export type Marker = { at: number; label: string };

export type ChartInput =
  | {
      kind: "stacked";
      series: StackedSeries;
      /** Requests per bucket the key may make (usage.ts limitPerStep); null for none. */
      limit: number | null;
      markers?: readonly Marker[];
    }
  | {
      kind: "lines";
      series: CompareSeries;
      step: Step;
      markers?: readonly Marker[];
    };

/** Colours and font, read from the page's CSS variables (light or dark). */
export type Palette = {
  font: string;
  text: string;
  muted: string;
  faint: string;
  grid: string;
  /** One per outcome, OUTCOMES order. */
  outcomes: string[];
  /** Comparison lines: first (old), second (new), more. */
  lines: string[];
  limit: string;
  marker: string;
};

const FALLBACK: Palette = {
  font: "sans-serif",
  text: "#1b1c20",
  muted: "#5d5f67",
  faint: "#8b8d95",
  grid: "#e6e6ea",
  outcomes: ["#5b9e87", "#e0a13a", "#d45149", "#8a6fd1", "#a3a5ad", "#2b8fd0"],
  lines: ["#a3a5ad", "#4b55d1", "#e0a13a", "#5b9e87"],
  limit: "#5d5f67",
  marker: "#4b55d1",
};

export function readPalette(el: Element): Palette {
  const cs = getComputedStyle(el);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  const outcomes = OUTCOMES.map((o, i) => v(`--chart-${o.replaceAll("_", "-")}`, FALLBACK.outcomes[i]));
  return {
    font: v("--font", FALLBACK.font),
    text: v("--text", FALLBACK.text),
    muted: v("--text-2", FALLBACK.muted),
    faint: v("--text-3", FALLBACK.faint),
    grid: v("--line", FALLBACK.grid),
    outcomes,
    lines: [v("--chart-old", FALLBACK.lines[0]), v("--chart-new", FALLBACK.lines[1]), outcomes[1], outcomes[0]],
    limit: v("--text-2", FALLBACK.limit),
    marker: v("--accent", FALLBACK.marker),
  };
}

/** Stacked buckets draw as bars up to this many, as areas beyond. */
export const BARS_UP_TO = 180;

/** What the options' callbacks read: swapped on update without rebuilding the plot. */
export type Live = { input: ChartInput };

const usesBars = (input: ChartInput) => input.kind === "stacked" && input.series.x.length <= BARS_UP_TO;
const stepOf = (input: ChartInput): Step => (input.kind === "stacked" ? input.series.step : input.step);

/**
 * uPlot's columns: x, then one column per line, or for stacked outcomes the
 * running sums from the top of the stack down: each one filled down to zero
 * and drawn over the one before, so every outcome shows as its own band
 * without clipping one fill against another (which costs more to draw).
 */
export function buildData(input: ChartInput): uPlot.AlignedData {
  if (input.kind === "stacked") return [input.series.x, ...[...input.series.stacked].reverse()];
  return [input.series.x, ...input.series.lines.map((l) => l.values)];
}

/** Unix seconds to a Date whose local fields read UTC (the axes show UTC, like the rest of the app). */
function utcDate(ts: number): Date {
  const d = new Date(ts * 1000);
  return new Date(d.getTime() + d.getTimezoneOffset() * 60_000);
}

/** Whole-number steps for the y axis: requests are counted. */
const Y_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500].flatMap((n) => [n, n * 1e3, n * 1e6]).sort((a, b) => a - b);

export function buildOptions(
  live: Live,
  p: Palette,
  size: { width: number; height: number },
  onCursor?: (u: uPlot) => void,
): uPlot.Options {
  const input = live.input;
  const font = `12px ${p.font}`;
  const areas = uPlot.paths.linear!();
  const bars = uPlot.paths.bars!({ size: [0.78, 48], align: 0 });
  const stackedPaths: uPlot.Series.PathBuilder = (u, si, i0, i1) =>
    (usesBars(live.input) ? bars : areas)(u, si, i0, i1);

  let series: uPlot.Series[];
  if (input.kind === "stacked") {
    // Top of the stack first (see buildData); opaque fills.
    const top = OUTCOMES.length - 1;
    series = [
      {},
      ...OUTCOMES.map((_, j): uPlot.Series => {
        const o = top - j;
        return {
          label: OUTCOME_LABEL[OUTCOMES[o]],
          stroke: p.outcomes[o],
          fill: p.outcomes[o],
          width: 0,
          paths: stackedPaths,
          points: { show: false },
        };
      }),
    ];
  } else {
    series = [
      {},
      ...input.series.lines.map(
        (l, i): uPlot.Series => ({
          label: l.label,
          stroke: p.lines[i % p.lines.length],
          width: 2,
          paths: areas,
          spanGaps: false,
          points: { show: false },
        }),
      ),
    ];
  }

  return {
    width: size.width,
    height: size.height,
    series,
    legend: { show: false },
    tzDate: utcDate,
    // Right padding leaves room for the last time label, centred on its tick.
    padding: [12, 24, 0, 0],
    cursor: {
      y: false,
      points: { show: false },
      drag: { x: false, y: false, setScale: false },
    },
    scales: {
      x: {
        time: true,
        range: (_u, min, max) => {
          if (min == null || max == null) {
            const now = Math.floor(Date.now() / 1000);
            return [now - 3600, now];
          }
          const half = STEP_SECONDS[stepOf(live.input)] / 2;
          return usesBars(live.input) || min === max ? [min - half, max + half] : [min, max];
        },
      },
      y: {
        range: (_u, _min, max) => {
          const cur = live.input;
          const limit = cur.kind === "stacked" ? cur.limit : null;
          return [0, yTop(max ?? 0, limit)];
        },
      },
    },
    axes: [
      {
        stroke: p.muted,
        font,
        grid: { show: false },
        ticks: { stroke: p.grid, width: 1, size: 4 },
        space: 90,
        values: (_u, splits, _axis, _space, incr) => timeTicks(splits, incr),
      },
      {
        stroke: p.muted,
        font,
        grid: { stroke: p.grid, width: 1 },
        ticks: { show: false },
        incrs: Y_INCRS,
        space: 36,
        size: 48,
        values: (_u, splits) => splits.map(compactNumber),
      },
    ],
    hooks: {
      draw: [(u) => drawOverlays(u, live.input, p)],
      setCursor: onCursor ? [onCursor] : [],
    },
  };
}

/** The limit line (dashed) and the markers, on top of the series. */
function drawOverlays(u: uPlot, input: ChartInput, p: Palette) {
  const ctx = u.ctx;
  const pr = uPlot.pxRatio;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.font = `${12 * pr}px ${p.font}`;
  if (input.kind === "stacked" && limitInView(input.series.peak, input.limit)) {
    const y = Math.round(u.valToPos(input.limit, "y", true)) + 0.5;
    ctx.strokeStyle = p.limit;
    ctx.lineWidth = pr;
    ctx.setLineDash([6 * pr, 4 * pr]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = p.limit;
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(`Limit ${formatNumber(input.limit)}/${STEP_UNIT[input.series.step]}`, left + width - 4 * pr, y - 3 * pr);
  }
  const min = u.scales.x.min ?? -Infinity;
  const max = u.scales.x.max ?? Infinity;
  for (const m of input.markers ?? []) {
    if (m.at < min || m.at > max) continue;
    const x = Math.round(u.valToPos(m.at, "x", true)) + 0.5;
    ctx.strokeStyle = p.marker;
    ctx.lineWidth = pr;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillStyle = p.marker;
    const right = x > left + width / 2;
    ctx.textAlign = right ? "right" : "left";
    ctx.textBaseline = "top";
    ctx.fillText(m.label, x + (right ? -5 : 5) * pr, top + 2 * pr);
  }
  ctx.restore();
}

/** The tooltip: built once per plot, its text replaced on each cursor move. */
class Tooltip {
  readonly el: HTMLDivElement;
  #time: HTMLElement;
  #labels: HTMLElement[] = [];
  #values: HTMLElement[] = [];
  #total: HTMLElement | null = null;

  constructor(input: ChartInput, p: Palette) {
    const el = document.createElement("div");
    el.className = "kp-tip";
    el.hidden = true;
    el.setAttribute("aria-hidden", "true");
    this.#time = el.appendChild(document.createElement("div"));
    this.#time.className = "kp-tip-time";
    const rows =
      input.kind === "stacked"
        ? OUTCOMES.map((o, i) => ({ label: OUTCOME_LABEL[o], color: p.outcomes[i] }))
        : input.series.lines.map((l, i) => ({ label: l.label, color: p.lines[i % p.lines.length] }));
    // Top of the stack first, like the picture.
    const order = input.kind === "stacked" ? rows.map((_, i) => rows.length - 1 - i) : rows.map((_, i) => i);
    this.#labels = new Array(rows.length);
    this.#values = new Array(rows.length);
    for (const i of order) {
      const row = el.appendChild(document.createElement("div"));
      row.className = "kp-tip-row";
      const sw = row.appendChild(document.createElement("span"));
      sw.className = "kp-tip-sw";
      sw.style.background = rows[i].color;
      const label = row.appendChild(document.createElement("span"));
      label.textContent = rows[i].label;
      const value = row.appendChild(document.createElement("span"));
      value.className = "kp-tip-v";
      this.#labels[i] = label;
      this.#values[i] = value;
    }
    if (input.kind === "stacked") {
      const row = el.appendChild(document.createElement("div"));
      row.className = "kp-tip-row kp-tip-total";
      row.appendChild(document.createElement("span"));
      row.appendChild(document.createElement("span")).textContent = "Total";
      this.#total = row.appendChild(document.createElement("span"));
      this.#total.className = "kp-tip-v";
    }
    this.el = el;
  }

  relabel(input: ChartInput) {
    if (input.kind === "lines") input.series.lines.forEach((l, i) => (this.#labels[i].textContent = l.label));
  }

  show(u: uPlot, input: ChartInput) {
    const i = u.cursor.idx;
    const left = u.cursor.left ?? -1;
    if (i == null || left < 0) {
      this.el.hidden = true;
      return;
    }
    const s = input.series;
    this.#time.textContent = formatBucket(s.x[i], stepOf(input));
    if (input.kind === "stacked") {
      for (let o = 0; o < OUTCOMES.length; o++) this.#values[o].textContent = formatNumber(input.series.raw[o][i]);
      this.#total!.textContent = formatNumber(input.series.stacked[OUTCOMES.length - 1][i]);
    } else {
      input.series.lines.forEach((l, o) => {
        const v = l.values[i];
        this.#values[o].textContent = v === null ? "–" : formatNumber(v);
      });
    }
    const flip = left > u.bbox.width / uPlot.pxRatio / 2;
    this.el.style.left = `${Math.round(left)}px`;
    this.el.style.transform = flip ? "translateX(calc(-100% - 12px))" : "translateX(12px)";
    this.el.hidden = false;
  }
}

/** How a plot is made: tests swap this for a recorder (jsdom has no canvas). */
export const plotSeam = {
  create(opts: uPlot.Options, data: uPlot.AlignedData, target: HTMLElement): uPlot {
    // Immediate mode: the plot is drawn when this returns.
    return new uPlot(opts, data, (u, init) => {
      target.appendChild(u.root);
      u.batch(() => init());
    });
  },
};

/** One chart: builds the plot, swaps its data in place, resizes, rebuilds for a new theme. */
export class UsagePlot {
  #target: HTMLElement;
  #size: { width: number; height: number };
  #palette: Palette;
  #live: Live;
  #u: uPlot | null = null;
  #tip: Tooltip | null = null;

  constructor(target: HTMLElement, input: ChartInput, size: { width: number; height: number }, palette?: Palette) {
    this.#target = target;
    this.#size = size;
    this.#palette = palette ?? readPalette(target);
    this.#live = { input };
    this.#build();
  }

  /** The uPlot instance (the benchmark moves its cursor). */
  get plot(): uPlot | null {
    return this.#u;
  }

  get tooltip(): HTMLElement | null {
    return this.#tip?.el ?? null;
  }

  #build() {
    this.#u?.destroy();
    const input = this.#live.input;
    const tip = new Tooltip(input, this.#palette);
    const opts = buildOptions(this.#live, this.#palette, this.#size, (u) => tip.show(u, this.#live.input));
    this.#u = plotSeam.create(opts, buildData(input), this.#target);
    this.#u.over.appendChild(tip.el);
    this.#tip = tip;
  }

  /** New data: redrawn in place when the chart has the same series, else rebuilt. */
  update(input: ChartInput) {
    const before = this.#live.input;
    this.#live.input = input;
    const same =
      this.#u !== null &&
      before.kind === input.kind &&
      (before.kind === "stacked" || before.series.lines.length === (input as typeof before).series.lines.length);
    if (!same) {
      this.#build();
      return;
    }
    const u = this.#u!;
    this.#tip?.relabel(input);
    u.batch(() => u.setData(buildData(input)));
  }

  resize(width: number, height: number) {
    if (width === this.#size.width && height === this.#size.height) return;
    this.#size = { width, height };
    const u = this.#u;
    u?.batch(() => u.setSize({ width, height }));
  }

  /** The theme changed: new colours need new options. */
  setPalette(p: Palette) {
    this.#palette = p;
    this.#build();
  }

  destroy() {
    this.#u?.destroy();
    this.#u = null;
    this.#tip = null;
  }
}
