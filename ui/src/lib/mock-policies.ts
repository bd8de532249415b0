// DEV ONLY (imported by mock-backend.ts). The account's policies in memory:
// the service's checks for update_account / preview_alerts, and a preview
// replayed over synthetic hourly traffic. Deterministic: the same keys (by
// name) at the same time give the same numbers; rule switches, thresholds,
// business hours and allowed countries all move them.
import type {
  AccountSettings,
  AlertPreview,
  AnomalyRules,
  BusinessHours,
  KeyView,
  PreviewKind,
  PreviewKey,
  PreviewTally,
  RotationPolicy,
  RotationTally,
  UpdateAccountRequest,
} from "./types";

const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_ROTATION_DAYS = 3650;
const KINDS = ["volume_spike", "error_spike", "new_country", "after_hours", "unusual_endpoint"] as const;
type Kind = (typeof KINDS)[number];

/** keyport-core's AnomalyConfig::default, written out. */
export const ALERT_DEFAULTS: AnomalyRules = {
  volume_spike: { enabled: true, factor: 5, min_requests: 100 },
  error_spike: { enabled: true, factor: 3, min_errors: 20 },
  new_country: { enabled: true, learning_requests: 100 },
  after_hours: { enabled: true, min_requests: 5 },
  unusual_endpoint: { enabled: true, learning_requests: 100, denials: 10 },
};

export function unsetRules(): AnomalyRules {
  return {
    volume_spike: { enabled: null, factor: null, min_requests: null },
    error_spike: { enabled: null, factor: null, min_errors: null },
    new_country: { enabled: null, learning_requests: null },
    after_hours: { enabled: null, min_requests: null },
    unusual_endpoint: { enabled: null, learning_requests: null, denials: null },
  };
}

// ---------------------------------------------------------------- checks (as the service's)

type Bag = Record<string, unknown>;
const RANGES: [Kind, string, number, number][] = [
  ["volume_spike", "factor", 1.5, 100],
  ["volume_spike", "min_requests", 1, 1_000_000],
  ["error_spike", "factor", 1.1, 100],
  ["error_spike", "min_errors", 1, 1_000_000],
  ["new_country", "learning_requests", 0, 1_000_000],
  ["after_hours", "min_requests", 1, 1_000_000],
  ["unusual_endpoint", "learning_requests", 0, 1_000_000],
  ["unusual_endpoint", "denials", 1, 1_000_000],
];

function rulesProblem(rules: AnomalyRules): string | null {
  for (const [kind, field, min, max] of RANGES) {
    const v = ((rules[kind] ?? {}) as Bag)[field];
    if (typeof v === "number" && (v < min || v > max)) {
      return `anomaly_rules.${kind}.${field} must be between ${min} and ${max}, not ${v}`;
    }
  }
  return null;
}

function rotationProblem(p: RotationPolicy, max: RotationPolicy): string | null {
  for (const env of ["live", "test", "staging"] as const) {
    const d = p[env];
    if (!Number.isInteger(d) || d < 1 || d > MAX_ROTATION_DAYS) {
      return `rotation_days.${env} must be between 1 and ${MAX_ROTATION_DAYS}`;
    }
    if (d > max[env]) return `rotation_days.${env}: this service allows at most ${max[env]} days for ${env} keys`;
  }
  return null;
}

function hoursProblem(h: BusinessHours): string | null {
  try {
    new Intl.DateTimeFormat("en", { timeZone: h.time_zone });
  } catch {
    return `unknown time zone ${JSON.stringify(h.time_zone)}; use an IANA name such as Europe/Berlin`;
  }
  if (h.days.length === 0 || h.days.some((d) => !(d >= 1 && d <= 7))) {
    return "business_hours.days are ISO week days, 1 (Monday) to 7 (Sunday)";
  }
  const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;
  if (!hhmm.test(h.start)) return "business_hours.start must be HH:MM";
  if (!hhmm.test(h.end)) return "business_hours.end must be HH:MM";
  return h.start >= h.end ? "business_hours.start must be before end" : null;
}

function countriesProblem(list: string[]): string | null {
  const bad = list.find((c) => !/^[A-Za-z0-9]{2}$/.test(c.trim()));
  return bad === undefined ? null : `allowed_countries: ${JSON.stringify(bad)} is not a two-letter country code`;
}

/** The service's "invalid" message for a patch or a preview request, or null. */
export function settingsProblem(p: UpdateAccountRequest, max: RotationPolicy): string | null {
  return (
    (p.rotation_days ? rotationProblem(p.rotation_days, max) : null) ??
    (p.business_hours ? hoursProblem(p.business_hours) : null) ??
    (p.allowed_countries ? countriesProblem(p.allowed_countries) : null) ??
    (p.anomaly_rules ? rulesProblem(p.anomaly_rules) : null) ??
    (p.leak_policy !== undefined && p.leak_policy !== "quarantine" && p.leak_policy !== "revoke"
      ? `leak_policy: unknown variant ${JSON.stringify(p.leak_policy)}, expected \`quarantine\` or \`revoke\``
      : null)
  );
}

/** The settings with the request's parts in place (countries cleaned like the service's). */
export function withChanges(s: AccountSettings, p: UpdateAccountRequest): AccountSettings {
  const countries = p.allowed_countries?.map((c) => c.trim().toUpperCase());
  return {
    rotation_days: p.rotation_days ? { ...p.rotation_days } : { ...s.rotation_days },
    business_hours: p.business_hours ? { ...p.business_hours, days: [...p.business_hours.days] } : s.business_hours,
    allowed_countries: countries ? [...new Set(countries)].sort() : s.allowed_countries,
    anomaly_rules: p.anomaly_rules ? structuredClone(p.anomaly_rules) : s.anomaly_rules,
    leak_policy: p.leak_policy ?? s.leak_policy,
  };
}

// ---------------------------------------------------------------- synthetic history

/** A number in [0, 1) from two integers, always the same for the same pair. */
function noise(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  return (h >>> 0) / 4_294_967_296;
}

function seedOf(s: string): number {
  let h = 7;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

const HOME = ["US", "DE", "GB", "FR", "IN", "JP"];
const FAR = ["BR", "NG", "VN", "AR", "ID", "TR"];

/** One key's hour: what the detector would see. */
type Hour = { requests: number; errors: number; denials: number; countries: string[]; newCountry: boolean; newEndpoint: boolean };

type Sim = { key: KeyView; seed: number; office: boolean; base: number; homes: string[] };

function simOf(key: KeyView): Sim {
  const seed = seedOf(key.name);
  const n = Math.abs(seed);
  const base = (key.environment === "live" ? 400 : 90) * (1 + (n % 4));
  return { key, seed, office: n % 3 !== 0, base, homes: [HOME[n % 6], HOME[(n >> 3) % 6]] };
}

/** Office keys work weekdays 08–18 UTC, with a stray hour now and then; others around the clock. */
function requestsAt(sim: Sim, h: number): number {
  const d = new Date(h * HOUR);
  const working = d.getUTCDay() >= 1 && d.getUTCDay() <= 5 && d.getUTCHours() >= 8 && d.getUTCHours() < 18;
  if (sim.office && !working) {
    return noise(sim.seed + 5, h) > 0.965 ? 3 + Math.floor(60 * noise(sim.seed + 6, h)) : 0;
  }
  const burst = noise(sim.seed + 1, h) > 0.985 ? 3 + 9 * noise(sim.seed + 2, h) : 1;
  return Math.round(sim.base * (0.6 + 0.8 * noise(sim.seed, h)) * burst);
}

function hourOf(sim: Sim, h: number): Hour {
  const requests = requestsAt(sim, h);
  const share = noise(sim.seed + 3, h) > 0.985 ? 0.04 + 0.4 * noise(sim.seed + 4, h) : 0.01;
  const newCountry = requests > 0 && noise(sim.seed + 9, h) > 0.993;
  const countries = requests === 0 ? [] : [...sim.homes];
  if (newCountry) countries.push(FAR[Math.floor(noise(sim.seed + 10, h) * FAR.length)]);
  return {
    requests,
    errors: Math.round(requests * share),
    denials: requests > 0 && noise(sim.seed + 7, h) > 0.975 ? 2 + Math.floor(28 * noise(sim.seed + 8, h)) : 0,
    countries,
    newCountry,
    newEndpoint: requests > 0 && noise(sim.seed + 12, h) > 0.994,
  };
}

// ---------------------------------------------------------------- replay

/** A rule as it applies: on or off, and every threshold (the account's, else the default). */
type Rule = { on: boolean; n: Record<string, number> };
type Rules = Record<Kind, Rule>;

function effective(own: AnomalyRules): Rules {
  const out = {} as Rules;
  for (const kind of KINDS) {
    const mine = own[kind] as Bag;
    const byDefault = ALERT_DEFAULTS[kind] as Bag;
    const n: Record<string, number> = {};
    for (const f of Object.keys(byDefault)) if (f !== "enabled") n[f] = (mine[f] ?? byDefault[f]) as number;
    out[kind] = { on: (mine.enabled ?? byDefault.enabled ?? true) as boolean, n };
  }
  return out;
}

/** Is the middle of hour `h` within business hours (the service's approximation)? */
function businessCheck(bh: BusinessHours): (h: number) => boolean {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat("en-GB", { timeZone: bh.time_zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  } catch {
    return () => true;
  }
  const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const cache = new Map<number, boolean>();
  return (h) => {
    let v = cache.get(h);
    if (v === undefined) {
      const parts = Object.fromEntries(fmt.formatToParts(new Date(h * HOUR + HOUR / 2)).map((p) => [p.type, p.value]));
      const time = `${parts.hour}:${parts.minute}`;
      v = bh.days.includes(days.indexOf(parts.weekday) + 1) && time >= bh.start && time < bh.end;
      cache.set(h, v);
    }
    return v;
  };
}

type Policy = { rules: Rules; inHours: (h: number) => boolean; allowed: string[] };

function policyOf(s: AccountSettings): Policy {
  return { rules: effective(s.anomaly_rules), inHours: businessCheck(s.business_hours), allowed: s.allowed_countries };
}

function fires(p: Policy, sim: Sim, h: number, x: Hour, known: number): Kind[] {
  if (x.requests === 0) return [];
  const { volume_spike: v, error_spike: e, new_country: c, after_hours: a, unusual_endpoint: u } = p.rules;
  const disallowed = p.allowed.length > 0 && x.countries.some((k) => !p.allowed.includes(k));
  const hit: Record<Kind, boolean> = {
    volume_spike: v.on && x.requests >= v.n.min_requests && x.requests >= v.n.factor * sim.base,
    error_spike: e.on && x.errors >= e.n.min_errors && x.errors / x.requests >= e.n.factor * 0.01,
    new_country: c.on && ((x.newCountry && known >= c.n.learning_requests) || disallowed),
    after_hours: a.on && sim.office && !p.inHours(h) && x.requests >= a.n.min_requests,
    unusual_endpoint: u.on && ((x.newEndpoint && known >= u.n.learning_requests) || x.denials >= u.n.denials),
  };
  return KINDS.filter((k) => hit[k]);
}

type Raised = { key: KeyView; kind: Kind; at: number };

/** One key over [from, to) hours, under one policy, with the detector's one-a-day cooldown. */
function replayKey(p: Policy, sim: Sim, from: number, to: number): Raised[] {
  const created = Math.floor(Date.parse(sim.key.created_at) / HOUR);
  const gone = sim.key.revoked_at ? Math.floor(Date.parse(sim.key.revoked_at) / HOUR) : Infinity;
  const last = new Map<Kind, number>();
  const out: Raised[] = [];
  let known = sim.base * Math.min(Math.max(0, from - created), 24 * 7) * (sim.office ? 0.3 : 1);
  for (let h = Math.max(from, created + 1); h < Math.min(to, gone); h++) {
    const x = hourOf(sim, h);
    for (const kind of fires(p, sim, h, x, known)) {
      const before = last.get(kind);
      if (before !== undefined && h - before < 24) continue;
      last.set(kind, h);
      out.push({ key: sim.key, kind, at: h });
    }
    known += x.requests;
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function kindTally(kind: Kind, raised: Raised[]): PreviewKind {
  const byKey = new Map<string, PreviewKey>();
  for (const r of raised) {
    if (r.kind !== kind) continue;
    const k = byKey.get(r.key.id);
    if (k) k.alerts += 1;
    else byKey.set(r.key.id, { key_id: r.key.id, name: r.key.name, last4: r.key.last4, alerts: 1, first_at: iso(r.at * HOUR) });
  }
  const keys = [...byKey.values()].sort((a, b) => b.alerts - a.alerts || a.name.localeCompare(b.name));
  return { kind, alerts: keys.reduce((n, k) => n + k.alerts, 0), keys: keys.slice(0, 20), key_count: keys.length };
}

function tally(raised: Raised[]): PreviewTally {
  return {
    alerts: raised.length,
    key_count: new Set(raised.map((r) => r.key.id)).size,
    kinds: KINDS.map((k) => kindTally(k, raised)),
  };
}

/** Active keys not yet rotated, overdue or due within 14 days under `policy`. */
function rotationTally(keys: KeyView[], policy: RotationPolicy, now: number): RotationTally {
  const t: RotationTally = { overdue: 0, due_soon: 0 };
  for (const k of keys) {
    if (k.status !== "active" || k.rotation_due_at === null) continue;
    const due = Date.parse(k.created_at) + policy[k.environment] * DAY;
    if (now >= due) t.overdue += 1;
    else if (now >= due - 14 * DAY) t.due_soon += 1;
  }
  return t;
}

function notes(proposed: AccountSettings): string[] {
  const out = [
    "Replayed from hourly usage with the detector's rules, each hour taken as one window: a burst shorter than " +
      "an hour is diluted, and a few requests spread over an hour count as if they came together.",
  ];
  const h = proposed.business_hours;
  if (!h.start.endsWith(":00") || !h.end.endsWith(":00")) {
    out.push("Business hours that start or end within an hour are approximated: an hour counts as inside when its middle is.");
  }
  out.push(
    "Countries and endpoints are known only for gateway traffic (and verifies that pass a country); the rest " +
      "cannot raise country or endpoint alerts here.",
  );
  return out;
}

/** The preview_alerts answer for `days` ending with the current hour. */
export function previewAlerts(keys: KeyView[], current: AccountSettings, proposed: AccountSettings, days: number, now: number): AlertPreview {
  const to = Math.floor(now / HOUR) + 1;
  const from = to - days * 24;
  const sims = keys.filter((k) => k.last_used_at !== null).map(simOf);
  const run = (s: AccountSettings) => {
    const p = policyOf(s);
    return sims.flatMap((sim) => replayKey(p, sim, from, to));
  };
  return {
    days,
    from: iso(from * HOUR),
    to: iso(to * HOUR),
    current: tally(run(current)),
    proposed: tally(run(proposed)),
    rotation_current: rotationTally(keys, current.rotation_days, now),
    rotation_proposed: rotationTally(keys, proposed.rotation_days, now),
    approximate: true,
    notes: notes(proposed),
  };
}
