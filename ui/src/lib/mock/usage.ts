// DEV ONLY (the mock backend). Usage as deterministic synthetic traffic: the
// same key at the same time gives the same numbers. A key in a rotation is
// used only within its simulated application's window; each check the
// portal sends with a replacement is one request.
import type { AccountUsage, KeyTotals, KeyUsage, KeyView, Step, UsagePoint, UsageRange } from "../types";
import { USAGE_PROFILE } from "./fixtures";
import type { MockState } from "./state";
import { fail, iso } from "./util";

const STEP_S: Record<Step, number> = { minute: 60, hour: 3600, day: 86_400 };
const RANGE_S: Record<UsageRange, number> = { "1h": 3600, "24h": 86_400, "7d": 604_800, "30d": 2_592_000 };
const DEFAULT_STEP: Record<UsageRange, Step> = { "1h": "minute", "24h": "minute", "7d": "hour", "30d": "hour" };

/** A number in [0, 1) from two integers, always the same for the same pair. */
function noise(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  return (h >>> 0) / 4_294_967_296;
}

function seedOf(id: string): number {
  let h = 7;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return h;
}

/** The range and step asked for, checked like the service (step null: its default for the range). */
export function usageStep(range: UsageRange, step: Step | null): Step {
  if (!Object.hasOwn(RANGE_S, range)) fail("invalid", "range must be one of 1h, 24h, 7d, 30d");
  const s = step ?? DEFAULT_STEP[range];
  if (!Object.hasOwn(STEP_S, s)) fail("invalid", "step must be minute, hour or day");
  const n = RANGE_S[range] / STEP_S[s];
  if (n < 2 || n > 50_000) fail("invalid", `a ${range} range cannot be shown per ${s}`);
  return s;
}

/** Zero-filled buckets: `n` steps from `from` (seconds), the last one the current bucket. */
function usageWindow(range: UsageRange, step: Step): { from: number; n: number; stepS: number } {
  const stepS = STEP_S[step];
  const n = RANGE_S[range] / stepS;
  const end = (Math.floor(Date.now() / 1000 / stepS) + 1) * stepS;
  return { from: end - n * stepS, n, stepS };
}

function emptyPoint(t: number): UsagePoint {
  return { t: iso(t * 1000), success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0 };
}

function keySeries(s: MockState, k: KeyView, range: UsageRange, step: Step): UsagePoint[] {
  const { from, n, stepS } = usageWindow(range, step);
  const seed = seedOf(k.id);
  // A key in a rotation: its simulated application's window, in part-buckets.
  const w = s.traffic.get(k.id);
  const born = Math.max(Date.parse(k.created_at), w?.from ?? -Infinity) / 1000;
  const gone = Math.min(k.revoked_at ? Date.parse(k.revoked_at) : Infinity, w?.until ?? Infinity) / 1000;
  const used = k.last_used_at !== null || (w?.from !== undefined && Date.now() >= w.from);
  const checks = (s.checks.get(k.id) ?? []).map((c) => c / 1000);
  const base = (k.environment === "live" ? 8 : 2) * (1 + (Math.abs(seed) % 5));
  const limit = k.effective_limits.per_minute;
  const points: UsagePoint[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = from + i * stepS;
    const p = emptyPoint(t);
    points[i] = p;
    for (const c of checks) if (c >= t && c < t + stepS) p.success += 1;
    if (!used || t + stepS <= born || t >= gone) continue;
    const part = w ? Math.max(0, Math.min(1, (Math.min(t + stepS, gone) - Math.max(t, born)) / stepS)) : 1;
    // A daily rhythm, some noise, and now and then a burst past the limit.
    const day = Math.sin((2 * Math.PI * ((t % 86_400) - 21_600)) / 86_400);
    const minuteBucket = Math.floor(t / 60);
    const r = noise(seed, minuteBucket);
    const burst = r > 0.997 ? 3 + 5 * noise(seed + 4, minuteBucket) : 1;
    const perMinute = base * (1 + 0.7 * day) * (0.6 + 0.8 * r) * burst * part;
    const minutes = stepS / 60;
    const reqs = Math.round(Math.min(perMinute, limit) * minutes);
    p.rate_limited = Math.round(Math.max(0, perMinute - limit) * minutes);
    p.client_error = Math.round(reqs * 0.04 * noise(seed + 1, minuteBucket));
    p.server_error = Math.round(reqs * (noise(seed + 2, minuteBucket) > 0.98 ? 0.2 : 0.004));
    p.denied = Math.round(minutes * (noise(seed + 3, minuteBucket) > 0.9 ? 1 : 0));
    p.success += Math.max(0, reqs - p.client_error - p.server_error);
  }
  return points;
}

const OUTCOMES = ["success", "client_error", "server_error", "rate_limited", "denied"] as const;

function totalsOf(points: UsagePoint[]): Omit<KeyTotals, "key_id" | "name"> {
  const t = { total: 0, success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0 };
  for (const p of points) for (const o of OUTCOMES) t[o] += p[o];
  t.total = OUTCOMES.reduce((n, o) => n + t[o], 0);
  return t;
}

/** Splits a total over names with fixed weights (most first). */
function spread(total: number, names: readonly string[], seed: number): { name: string; count: number }[] {
  const w = names.map((_, i) => (names.length - i) * (0.5 + noise(seed, i)));
  const sum = w.reduce((a, b) => a + b, 0);
  return names
    .map((name, i) => ({ name, count: Math.round((total * w[i]) / sum) }))
    .filter((x) => x.count > 0)
    .sort((a, b) => b.count - a.count);
}

export function keyUsage(s: MockState, k: KeyView, range: UsageRange, asked: Step | null): KeyUsage {
  const step = usageStep(range, asked);
  const { from, n, stepS } = usageWindow(range, step);
  const points = keySeries(s, k, range, step);
  const { total } = totalsOf(points);
  const seed = seedOf(k.id);
  return {
    key_id: k.id,
    from: iso(from * 1000),
    to: iso((from + n * stepS) * 1000),
    step,
    points,
    endpoints: spread(total, USAGE_PROFILE.endpoints, seed).map((x) => ({ endpoint: x.name, count: x.count })),
    countries: spread(total, USAGE_PROFILE.countries, seed + 7).map((x) => ({ country: x.name, count: x.count })),
  };
}

export function accountUsage(s: MockState, range: UsageRange, asked: Step | null): AccountUsage {
  const step = usageStep(range, asked);
  const { from, n, stepS } = usageWindow(range, step);
  const points = Array.from({ length: n }, (_, i) => emptyPoint(from + i * stepS));
  const rows: KeyTotals[] = [];
  for (const k of s.keys) {
    const series = keySeries(s, k, range, step);
    rows.push({ key_id: k.id, name: k.name, ...totalsOf(series) });
    series.forEach((p, i) => {
      for (const o of OUTCOMES) points[i][o] += p[o];
    });
  }
  rows.sort((x, y) => y.total - x.total);
  return { from: iso(from * 1000), to: iso((from + n * stepS) * 1000), step, points, keys: rows };
}
