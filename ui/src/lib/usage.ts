// Usage series as the charts need them (pure: no DOM, no uPlot). The service
// sends one object per bucket; the chart wants uPlot's aligned columns: x in
// unix seconds and one typed array per series, built here in one pass.
import { formatNumber } from "./format";
import type { KeyTotals, Step, UsagePoint, UsageRange } from "./types";

/**
 * Outcomes in stacking order, bottom to top. `would_deny`: served, but a
 * report-only restriction would have refused them (on top, where it shows).
 */
export const OUTCOMES = ["success", "client_error", "server_error", "rate_limited", "denied", "would_deny"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const OUTCOME_LABEL: Record<Outcome, string> = {
  success: "Success",
  client_error: "Client error",
  server_error: "Server error",
  rate_limited: "Rate limited",
  denied: "Denied",
  would_deny: "Would deny",
};

export const RANGES: readonly UsageRange[] = ["1h", "24h", "7d", "30d"];
export const STEPS: readonly Step[] = ["minute", "hour", "day"];

export const RANGE_LABEL: Record<UsageRange, string> = {
  "1h": "the last hour",
  "24h": "the last 24 hours",
  "7d": "the last 7 days",
  "30d": "the last 30 days",
};

export const STEP_LABEL: Record<Step, string> = { minute: "Minute", hour: "Hour", day: "Day" };
/** "300/min", "18,000/h", "432,000/day". */
export const STEP_UNIT: Record<Step, string> = { minute: "min", hour: "h", day: "day" };

export const STEP_SECONDS: Record<Step, number> = { minute: 60, hour: 3600, day: 86_400 };
export const RANGE_SECONDS: Record<UsageRange, number> = {
  "1h": 3600,
  "24h": 86_400,
  "7d": 7 * 86_400,
  "30d": 30 * 86_400,
};

/** A step is offered for a range when it gives at least this many buckets… */
export const MIN_POINTS = 2;
/** …and at most this many (30 days per minute is 43,200). */
export const MAX_POINTS = 50_000;

const DEFAULT_STEP: Record<UsageRange, Step> = { "1h": "minute", "24h": "minute", "7d": "hour", "30d": "hour" };

/** The service's step when none is asked for. */
export function defaultStep(range: UsageRange): Step {
  return DEFAULT_STEP[range];
}

/** Buckets a range has at a step. */
export function pointCount(range: UsageRange, step: Step): number {
  return Math.floor(RANGE_SECONDS[range] / STEP_SECONDS[step]);
}

/** The steps a range can be shown at, finest first. */
export function allowedSteps(range: UsageRange): Step[] {
  return STEPS.filter((s) => {
    const n = pointCount(range, s);
    return n >= MIN_POINTS && n <= MAX_POINTS;
  });
}

/** The step to ask for: the chosen one when the range allows it, else the range's default. */
export function stepFor(range: UsageRange, step: Step | null): Step {
  return step !== null && allowedSteps(range).includes(step) ? step : defaultStep(range);
}

/** The per-minute limit as requests per bucket; null without a (positive) limit. */
export function limitPerStep(perMinute: number | null | undefined, step: Step): number | null {
  if (perMinute === null || perMinute === undefined || !Number.isFinite(perMinute) || perMinute <= 0) return null;
  return perMinute * (STEP_SECONDS[step] / 60);
}

/** Unix seconds of an RFC 3339 time; NaN when it does not parse. */
export function toSeconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);

/** The x values of a series, in order; drops buckets whose time does not parse. */
function timeline(points: readonly UsagePoint[], stepSeconds: number): { x: Float64Array; order: number[] | null } {
  const n = points.length;
  if (n === 0) return { x: new Float64Array(0), order: null };
  // The service zero-fills: one bucket per step, oldest first. Then two
  // parses give every x (a 30-day minute series is 43,200 buckets).
  const first = toSeconds(points[0].t);
  const last = toSeconds(points[n - 1].t);
  if (Number.isFinite(first) && Number.isFinite(last) && last - first === (n - 1) * stepSeconds) {
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = first + i * stepSeconds;
    return { x, order: null };
  }
  // Anything else: parse each, drop the unparsable, sort by time.
  const order: number[] = [];
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = toSeconds(points[i].t);
    if (Number.isFinite(ts[i])) order.push(i);
  }
  order.sort((a, b) => ts[a] - ts[b] || a - b);
  const x = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) x[j] = ts[order[j]];
  return { x, order };
}

/** A usage series as uPlot columns, stacked by outcome. */
export type StackedSeries = {
  step: Step;
  /** Bucket starts, unix seconds, ascending. */
  x: Float64Array;
  /** Requests per bucket, one array per outcome (OUTCOMES order). */
  raw: Float64Array[];
  /** Running sums for stacking: stacked[i] = raw[0] + … + raw[i]; the last one is the bucket's total. */
  stacked: Float64Array[];
  totals: Record<Outcome, number>;
  total: number;
  /** The busiest bucket's total and index (-1 when there are no requests). */
  peak: number;
  peakIndex: number;
};

export function toStacked(points: readonly UsagePoint[], step: Step): StackedSeries {
  const { x, order } = timeline(points, STEP_SECONDS[step]);
  const n = x.length;
  const raw = OUTCOMES.map(() => new Float64Array(n));
  const stacked = OUTCOMES.map(() => new Float64Array(n));
  const sums = OUTCOMES.map(() => 0);
  let peak = 0;
  let peakIndex = -1;
  for (let j = 0; j < n; j++) {
    const p = points[order === null ? j : order[j]];
    let run = 0;
    for (let o = 0; o < OUTCOMES.length; o++) {
      const v = count(p[OUTCOMES[o]]);
      raw[o][j] = v;
      run += v;
      stacked[o][j] = run;
      sums[o] += v;
    }
    if (run > peak) {
      peak = run;
      peakIndex = j;
    }
  }
  const totals = {} as Record<Outcome, number>;
  OUTCOMES.forEach((o, i) => (totals[o] = sums[i]));
  const total = sums.reduce((a, b) => a + b, 0);
  return { step, x, raw, stacked, totals, total, peak, peakIndex };
}

/** All requests of a bucket. */
export function bucketTotal(p: UsagePoint): number {
  let t = 0;
  for (const o of OUTCOMES) t += count(p[o]);
  return t;
}

/** Unix seconds of the first bucket with any request; null when there is none. */
export function firstSeen(points: readonly UsagePoint[]): number | null {
  let best: number | null = null;
  for (const p of points) {
    if (bucketTotal(p) === 0) continue;
    const t = toSeconds(p.t);
    if (Number.isFinite(t) && (best === null || t < best)) best = t;
  }
  return best;
}

/** One line of a comparison chart (e.g. the old key and its replacement). */
export type CompareLine = { label: string; points: readonly UsagePoint[] };

export type CompareSeries = {
  /** Every bucket time of any line, unix seconds, ascending. */
  x: Float64Array;
  lines: {
    label: string;
    /** Total requests per bucket; null where the line has no bucket at that time. */
    values: (number | null)[];
    total: number;
  }[];
};

/** Lines of total requests on one x axis, aligned by bucket time. */
export function compareSeries(lines: readonly CompareLine[]): CompareSeries {
  const perLine = lines.map((l) => {
    const m = new Map<number, number>();
    for (const p of l.points) {
      const t = toSeconds(p.t);
      if (Number.isFinite(t)) m.set(t, (m.get(t) ?? 0) + bucketTotal(p));
    }
    return m;
  });
  const all = new Set<number>();
  for (const m of perLine) for (const t of m.keys()) all.add(t);
  const x = Float64Array.from([...all].sort((a, b) => a - b));
  return {
    x,
    lines: lines.map((l, i) => {
      const m = perLine[i];
      let total = 0;
      const values: (number | null)[] = new Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const v = m.get(x[j]);
        values[j] = v === undefined ? null : v;
        if (v !== undefined) total += v;
      }
      return { label: l.label, values, total };
    }),
  };
}

/** Below this share of the limit, the y axis ignores the limit (else a quiet key draws as a flat line). */
export const LIMIT_IN_VIEW = 0.25;

/** Whether the chart's y axis reaches up to the limit. */
export function limitInView(peak: number, limit: number | null): limit is number {
  return limit !== null && peak >= limit * LIMIT_IN_VIEW;
}

/** The y axis's top: a little headroom over the data (and the limit when it is in view); 1 when empty. */
export function yTop(peak: number, limit: number | null): number {
  const top = limitInView(peak, limit) ? Math.max(peak, limit) : peak;
  return top > 0 ? top * 1.1 : 1;
}

/** "98.1%", "<0.1%", "100%"; "–" of nothing. */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return "–";
  const p = (part / whole) * 100;
  if (p === 0) return "0%";
  if (p < 0.1) return "<0.1%";
  if (p === 100) return "100%";
  if (p > 99.9) return ">99.9%";
  return `${p.toFixed(1).replace(/\.0$/, "")}%`;
}

/** "1.2k", "3.4M", "950": axis labels. */
export function compactNumber(n: number): string {
  const a = Math.abs(n);
  const fmt = (v: number, s: string) => `${Number(v.toFixed(v < 10 ? 1 : 0))}${s}`;
  if (a >= 1e9) return fmt(n / 1e9, "G");
  if (a >= 1e6) return fmt(n / 1e6, "M");
  if (a >= 1e3) return fmt(n / 1e3, "k");
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(1)));
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** A bucket's time as its step reads: "12 Mar 14:03 UTC", "12 Mar 14:00 UTC", "12 Mar 2026". */
export function formatBucket(seconds: number, step: Step): string {
  const d = new Date(seconds * 1000);
  const day = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  if (step === "day") return `${day} ${d.getUTCFullYear()}`;
  return `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/**
 * Time-axis labels (UTC) for ticks `incr` seconds apart: "14:00", with the
 * date under the first tick and under midnight ("00:00\n13 Mar"); days as
 * "13 Mar" with the year under the first and under 1 January; months as "Mar 2026".
 */
export function timeTicks(splits: readonly number[], incr: number): string[] {
  return splits.map((v, i) => {
    const d = new Date(v * 1000);
    const date = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
    if (incr >= 28 * 86_400) return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
    if (incr >= 86_400) {
      const newYear = d.getUTCMonth() === 0 && d.getUTCDate() === 1;
      return i === 0 || newYear ? `${date}\n${d.getUTCFullYear()}` : date;
    }
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    const midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
    return i === 0 || midnight ? `${time}\n${date}` : time;
  });
}

/** The chart's text alternative: what a glance at it says. */
export function summarize(s: StackedSeries, range: UsageRange, limit: number | null): string {
  const unit = s.step;
  if (s.total === 0) return `No requests in ${RANGE_LABEL[range]}.`;
  const t = s.totals;
  const parts = [
    `${percent(t.success, s.total)} succeeded`,
    `${formatNumber(t.client_error)} client errors`,
    `${formatNumber(t.server_error)} server errors`,
    `${formatNumber(t.rate_limited)} rate limited`,
    `${formatNumber(t.denied)} denied`,
  ];
  // Only while a report-only restriction counts: most keys never have any.
  if (t.would_deny > 0) parts.push(`${formatNumber(t.would_deny)} would be refused by the proposed restriction`);
  let line =
    `Requests per ${unit} over ${RANGE_LABEL[range]}: ${formatNumber(s.total)} in total; ${parts.join(", ")}. ` +
    `Busiest ${unit}: ${formatNumber(s.peak)} requests, ${formatBucket(s.x[s.peakIndex], s.step)}.`;
  if (limit !== null) {
    line += ` Limit: ${formatNumber(limit)} per ${unit}`;
    line += s.peak >= limit ? ", reached." : ` (peak at ${percent(s.peak, limit)} of it).`;
  }
  return line;
}

/** A row of the overview's "Top keys". */
export type KeyRow = KeyTotals & { successRate: string; errorShare: string };

/** Keys with traffic, busiest first, at most `max`. */
export function topKeys(keys: readonly KeyTotals[], max = 10): KeyRow[] {
  return keys
    .filter((k) => k.total > 0)
    .sort((a, b) => b.total - a.total || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((k) => ({
      ...k,
      successRate: percent(k.success, k.total),
      errorShare: percent(k.client_error + k.server_error, k.total),
    }));
}

/** A ranked breakdown row with its bar's length (share of the largest, 0–100). */
export type RankedRow = { label: string; count: number; bar: number; share: string };

/** Endpoints or countries, most first, with bars relative to the first. */
export function ranked(items: readonly { label: string; count: number }[], max = 10): RankedRow[] {
  const rows = items.filter((i) => i.count > 0).sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
  const top = rows[0]?.count ?? 0;
  const sum = rows.reduce((a, r) => a + r.count, 0);
  return rows.slice(0, max).map((r) => ({
    label: r.label,
    count: r.count,
    bar: top > 0 ? Math.max(1, Math.round((r.count / top) * 100)) : 0,
    share: percent(r.count, sum),
  }));
}
