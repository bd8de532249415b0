// DEV ONLY (the mock backend). Usage as deterministic synthetic traffic: the
// same key at the same time gives the same numbers. A key in a rotation is
// used only within its simulated application's window; each check the
// portal sends with a replacement is one request. Endpoints, countries and
// networks follow the key's profile (fixtures.ts); while a report-only
// proposal counts, the requests it would refuse (by that profile) are
// `would_deny` instead of successes.
import type { AccountUsage, KeyTotals, KeyUsage, KeyView, Step, UsagePoint, UsageRange } from "../types";
import { profileOf, type UsageProfile, type Weighted } from "./fixtures";
import { refusals } from "./restrict";
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
export type Window = { from: number; n: number; stepS: number };

function usageWindow(range: UsageRange, step: Step): Window {
  return lastWindow(RANGE_S[range], STEP_S[step]);
}

/** The last `seconds` in buckets of `stepS`, ending with the current bucket. */
export function lastWindow(seconds: number, stepS: number): Window {
  const n = Math.round(seconds / stepS);
  const end = (Math.floor(Date.now() / 1000 / stepS) + 1) * stepS;
  return { from: end - n * stepS, n, stepS };
}

function emptyPoint(t: number): UsagePoint {
  return { t: iso(t * 1000), success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0, would_deny: 0 };
}

/** A key's series over a window, and why its would-deny requests would have been refused. */
export type Series = { points: UsagePoint[]; reasons: Map<string, number> };

export function seriesOver(s: MockState, k: KeyView, { from, n, stepS }: Window): Series {
  const seed = seedOf(k.id);
  const profile = profileOf(k);
  // A key in a rotation: its simulated application's window, in part-buckets.
  const w = s.traffic.get(k.id);
  const born = Math.max(Date.parse(k.created_at), w?.from ?? -Infinity) / 1000;
  const gone = Math.min(k.revoked_at ? Date.parse(k.revoked_at) : Infinity, w?.until ?? Infinity) / 1000;
  const used = k.last_used_at !== null || (w?.from !== undefined && Date.now() >= w.from);
  const checks = (s.checks.get(k.id) ?? []).map((c) => c / 1000);
  const base = (k.environment === "live" ? 8 : 2) * (1 + (Math.abs(seed) % 5));
  const limit = k.effective_limits.per_minute;
  // Report-only proposals while they counted (seconds), with what each refuses.
  const periods = (s.proposals.get(k.id) ?? []).map((p) => ({
    from: p.from / 1000,
    until: p.until / 1000,
    refused: refusals(profile, p.restriction),
    perMinute: p.restriction.per_minute ?? null,
  }));
  const reasons = new Map<string, number>();
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
    for (const pr of periods) {
      const overlap = (Math.min(t + stepS, pr.until) - Math.max(t, pr.from)) / stepS;
      if (overlap <= 0 || p.success === 0) continue;
      // The rules' share, then the lower rate's excess over what is left.
      const ruled = pr.refused.reduce((a, x) => a + x.share, 0);
      const over = pr.perMinute !== null && perMinute > pr.perMinute ? (perMinute - pr.perMinute) / perMinute : 0;
      const share = Math.min(1, ruled + (1 - ruled) * over) * Math.min(1, overlap);
      const exact = p.success * share;
      // Rounded up now and then, so rare refusals show in minute buckets too.
      const moved = Math.min(p.success, Math.floor(exact) + (noise(seed + 5, minuteBucket) < exact % 1 ? 1 : 0));
      if (moved === 0) continue;
      p.success -= moved;
      p.would_deny += moved;
      const whole = ruled + (1 - ruled) * over;
      for (const x of pr.refused) reasons.set(x.reason, (reasons.get(x.reason) ?? 0) + (moved * x.share) / whole);
      if (over > 0) reasons.set("rate_limit", (reasons.get("rate_limit") ?? 0) + (moved * (1 - ruled) * over) / whole);
    }
  }
  return { points, reasons };
}

function keySeries(s: MockState, k: KeyView, range: UsageRange, step: Step): Series {
  return seriesOver(s, k, usageWindow(range, step));
}

const OUTCOMES = ["success", "client_error", "server_error", "rate_limited", "denied", "would_deny"] as const;

function totalsOf(points: UsagePoint[]): Omit<KeyTotals, "key_id" | "name"> {
  const t = { total: 0, success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0, would_deny: 0 };
  for (const p of points) for (const o of OUTCOMES) t[o] += p[o];
  t.total = OUTCOMES.reduce((n, o) => n + t[o], 0);
  return t;
}

/** Requests the key was served (not refused by the limiter or a rule), as replay counts them. */
export function served(p: UsagePoint): number {
  return p.success + p.client_error + p.server_error + p.would_deny;
}

/** Splits a total over a profile's values by their shares (most first); values with nothing are left out. */
export function spread(total: number, values: readonly Weighted[]): { name: string; count: number }[] {
  return values
    .map(([name, share]) => ({ name, count: Math.round(total * share) }))
    .filter((x) => x.count > 0)
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

export function keyUsage(s: MockState, k: KeyView, range: UsageRange, asked: Step | null): KeyUsage {
  const step = usageStep(range, asked);
  const { from, n, stepS } = usageWindow(range, step);
  const { points, reasons } = keySeries(s, k, range, step);
  const total = points.reduce((a, p) => a + served(p), 0);
  const profile: UsageProfile = profileOf(k);
  return {
    key_id: k.id,
    from: iso(from * 1000),
    to: iso((from + n * stepS) * 1000),
    step,
    points,
    endpoints: spread(total, profile.endpoints).map((x) => ({ endpoint: x.name, count: x.count })),
    countries: spread(total, profile.countries).map((x) => ({ country: x.name, count: x.count })),
    networks: spread(total, profile.networks).map((x) => ({ network: x.name, count: x.count })),
    would_deny: [...reasons]
      .map(([reason, count]) => ({ reason, count: Math.round(count) }))
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
  };
}

export function accountUsage(s: MockState, range: UsageRange, asked: Step | null): AccountUsage {
  const step = usageStep(range, asked);
  const { from, n, stepS } = usageWindow(range, step);
  const points = Array.from({ length: n }, (_, i) => emptyPoint(from + i * stepS));
  const rows: KeyTotals[] = [];
  for (const k of s.keys) {
    const series = keySeries(s, k, range, step).points;
    rows.push({ key_id: k.id, name: k.name, ...totalsOf(series) });
    series.forEach((p, i) => {
      for (const o of OUTCOMES) points[i][o] += p[o];
    });
  }
  rows.sort((x, y) => y.total - x.total);
  return { from: iso(from * 1000), to: iso((from + n * stepS) * 1000), step, points, keys: rows };
}
