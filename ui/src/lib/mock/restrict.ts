// DEV ONLY (the mock backend). Key restrictions the way keyport-server has
// them (restrictions.rs, service/restrict.rs): checking that a restriction
// only narrows its key, what it would refuse of a key's simulated traffic
// (report-only counting, replay), and least-privilege suggestions from that
// traffic. The traffic's shares come from the key's profile (fixtures.ts).
import {
  formatNetwork,
  networkContains,
  normalizeNetwork,
  parseNetwork,
  type Network,
} from "../restrictions";
import type {
  KeyView,
  LimitsView,
  ReplayReport,
  Restriction,
  RuleReplay,
  Scope,
  SeenValue,
  Suggestion,
  Suggestions,
} from "../types";
import type { UsageProfile, Weighted } from "./fixtures";
import { profileOf } from "./fixtures";
import { effectiveLimits, type MockState } from "./state";
import { lastWindow, seriesOver, served } from "./usage";
import { fail, iso } from "./util";

const READS = ["GET", "HEAD", "OPTIONS"];

/** The scope a gateway method needs (keyport-core Scope::for_method). */
function scopeFor(method: string): Scope {
  return READS.includes(method) ? "read" : "write";
}

/** Whether `scopes` grant `s` (admin includes read and write). */
function grants(scopes: readonly Scope[], s: Scope): boolean {
  return scopes.includes(s) || (s !== "admin" && scopes.includes("admin"));
}

/** `GET /projects/alpha` → ["GET", "/projects/alpha"]. */
function splitEndpoint(e: string): [string, string] | null {
  const sp = e.indexOf(" ");
  if (sp === -1 || e[sp + 1] !== "/") return null;
  return [e.slice(0, sp), e.slice(sp + 1)];
}

/** A folded path still names its resource in its first two segments. */
function namesResource(path: string): boolean {
  return path
    .split("/")
    .filter((s) => s !== "")
    .slice(0, 2)
    .every((s) => s !== "{id}" && !s.includes("…"));
}

/** `/projects/alpha/…` → `project:alpha`. */
function resourceOf(path: string): string | null {
  const [kind, name] = path.split("/").filter((s) => s !== "");
  if (!kind || !name || !kind.endsWith("s") || !namesResource(path)) return null;
  return `${kind.slice(0, -1)}:${name}`;
}

/** keyport-core path_allowed: `project:alpha` owns `/projects/alpha` and what is under it. */
function pathAllowed(resources: readonly string[], path: string): boolean {
  return (
    resources.length === 0 ||
    resources.some((r) => {
      const i = r.indexOf(":");
      const root = `/${r.slice(0, i)}s/${r.slice(i + 1)}`;
      return path === root || path.startsWith(`${root}/`);
    })
  );
}

function net(s: string): Network {
  return normalizeNetwork(parseNetwork(s)!);
}

type Coverage = "inside" | "outside" | "partly";

function coverage(list: readonly Network[], n: Network): Coverage {
  if (list.length === 0 || list.some((l) => networkContains(l, n))) return "inside";
  if (list.some((l) => networkContains(n, l))) return "partly";
  return "outside";
}

/**
 * What a restriction refuses of a profile's traffic: each refused value with
 * its share of all requests, rules checked in the service's order (scope,
 * resource, network, country; a request counts for the first it breaks).
 * A network only partly inside the allowlist counts as refused.
 */
export function refusals(profile: UsageProfile, r: Restriction): { reason: string; share: number }[] {
  const out: { reason: string; share: number }[] = [];
  let left = 1;
  const rule = (values: readonly Weighted[], reasonOf: (v: string) => string | null) => {
    let refused = 0;
    for (const [v, share] of values) {
      const reason = reasonOf(v);
      if (reason === null) continue;
      const existing = out.find((x) => x.reason === reason);
      if (existing) existing.share += share * left;
      else out.push({ reason, share: share * left });
      refused += share;
    }
    left *= 1 - Math.min(1, refused);
  };
  if (r.scopes) {
    const scopes = r.scopes;
    rule(profile.endpoints, (e) => {
      const s = splitEndpoint(e);
      const need = s ? scopeFor(s[0]) : null;
      return need && !grants(scopes, need) ? `scope ${need}` : null;
    });
  }
  if (r.resources) {
    const resources = r.resources;
    rule(profile.endpoints, (e) => {
      const s = splitEndpoint(e);
      return s && !pathAllowed(resources, s[1]) ? `resource ${s[1]}` : null;
    });
  }
  if (r.allowed_ips) {
    const list = r.allowed_ips.map(net);
    rule(profile.networks, (n) => (coverage(list, net(n)) === "inside" ? null : `ip ${n}`));
  }
  if (r.allowed_countries) {
    const list = r.allowed_countries;
    rule(profile.countries, (c) => (list.length === 0 || list.includes(c) ? null : `country ${c}`));
  }
  return out.filter((x) => x.share > 0);
}

// ---------------------------------------------------------------- checks (service/restrict.rs)

/** Parsed::from_restriction: normalised (host bits cleared, upper-cased, duplicates dropped), or refused naming the field. */
export function normalizeRestriction(r: Restriction): Restriction {
  const out: Restriction = {};
  if (r.scopes !== undefined) {
    if (r.scopes.length === 0) fail("invalid", "restriction.scopes: keep at least one scope");
    out.scopes = (["read", "write", "admin"] as const).filter((s) => r.scopes!.includes(s));
  }
  if (r.per_minute !== undefined) {
    if (!Number.isInteger(r.per_minute) || r.per_minute < 1) fail("invalid", "restriction.per_minute: must be at least 1");
    out.per_minute = r.per_minute;
  }
  if (r.resources !== undefined) {
    if (r.resources.length > 50) fail("invalid", "restriction.resources: at most 50");
    for (const res of r.resources) {
      if (!/^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._-]{1,64}$/.test(res)) {
        fail("invalid", `restriction.resources: \`${res}\` is not kind:name`);
      }
    }
    out.resources = [...new Set(r.resources)];
  }
  if (r.allowed_ips !== undefined) {
    if (r.allowed_ips.length > 300) {
      fail("invalid", `restriction.allowed_ips: at most 300 IP allowlist entries (got ${r.allowed_ips.length})`);
    }
    const nets = r.allowed_ips.map((e) => {
      const n = parseNetwork(e);
      if (!n) {
        fail(
          "invalid",
          `restriction.allowed_ips: \`${e}\` is not an IP address or CIDR network (e.g. 203.0.113.0/24, 2001:db8::/32)`,
        );
      }
      return formatNetwork(normalizeNetwork(n));
    });
    out.allowed_ips = [...new Set(nets)];
  }
  if (r.allowed_countries !== undefined) {
    const codes = r.allowed_countries.map((c) => {
      const t = c.trim();
      if (!/^[A-Za-z]{2}$/.test(t)) fail("invalid", `restriction.allowed_countries: \`${c}\` is not a two-letter country code`);
      return t.toUpperCase();
    });
    out.allowed_countries = [...new Set(codes)];
  }
  return out;
}

const isEmpty = (r: Restriction) => Object.keys(r).length === 0;

/** A restriction that only narrows `k` (the service's `narrowing`), normalised. */
export function narrowing(k: KeyView, r: Restriction): Restriction {
  const n = normalizeRestriction(r);
  if (isEmpty(n)) fail("invalid", "restriction: give at least one rule");
  if (n.scopes) {
    const extra = n.scopes.find((s) => !grants(k.scopes, s));
    if (extra) fail("invalid", `restriction.scopes: the key does not have ${extra}; a restriction only narrows`);
    if (k.scopes.includes("admin") && !n.scopes.includes("admin")) {
      fail("invalid", "restriction.scopes: an admin key keeps its admin scope (create a narrower key instead)");
    }
  }
  if (n.resources && k.resources.length > 0) {
    const extra = n.resources.find((x) => !k.resources.includes(x));
    if (extra) fail("invalid", `restriction.resources: the key is not allowed ${extra}; a restriction only narrows`);
  }
  if (n.per_minute !== undefined && n.per_minute > k.effective_limits.per_minute) {
    fail(
      "invalid",
      `restriction.per_minute: ${n.per_minute} is above the key's ${k.effective_limits.per_minute} a minute; a restriction only narrows`,
    );
  }
  return n;
}

/** Enforcing: the rules become the key's; a lower rate also caps the burst. */
export function applyRestriction(k: KeyView, r: Restriction, plan: LimitsView) {
  if (r.scopes) k.scopes = [...r.scopes];
  if (r.resources) k.resources = [...r.resources].sort();
  if (r.allowed_ips) k.allowed_ips = [...r.allowed_ips];
  if (r.allowed_countries) k.allowed_countries = [...r.allowed_countries];
  if (r.per_minute !== undefined) {
    const own = k.rate_limit ?? { per_minute: null, per_day: null, burst: null };
    k.rate_limit = { ...own, per_minute: r.per_minute, burst: Math.min(r.per_minute, k.effective_limits.burst) };
    k.effective_limits = effectiveLimits(plan, k.rate_limit);
  }
}

/** The window a replay or suggestion reads: the last 1–90 days. */
export function historyDays(days: number | null, fallback: number): number {
  const d = days ?? fallback;
  if (!Number.isInteger(d) || d < 1 || d > 90) fail("invalid", "days: between 1 and 90");
  return d;
}

// ---------------------------------------------------------------- history

type History = {
  from: number;
  to: number;
  served: number;
  /** The last hour with traffic (seconds), for "last seen". */
  lastHour: number;
  /** Served requests per minute over the part kept (7 days). */
  minutes: { t: number; n: number }[];
  minutesComplete: boolean;
  profile: UsageProfile;
};

/** Minute counts are kept this long (like the service's retention). */
const MINUTE_DAYS = 7;

function history(s: MockState, k: KeyView, days: number, minutes: boolean): History {
  const w = lastWindow(days * 86_400, 3600);
  const hours = seriesOver(s, k, w).points;
  let total = 0;
  let lastHour = w.from;
  hours.forEach((p, i) => {
    const n = served(p);
    total += n;
    if (n > 0) lastHour = w.from + i * 3600;
  });
  const h: History = {
    from: w.from,
    to: w.from + w.n * w.stepS,
    served: total,
    lastHour,
    minutes: [],
    minutesComplete: days <= MINUTE_DAYS,
    profile: profileOf(k),
  };
  if (minutes && total > 0) {
    const m = lastWindow(Math.min(days, MINUTE_DAYS) * 86_400, 60);
    h.minutes = seriesOver(s, k, m)
      .points.map((p, i) => ({ t: m.from + i * 60, n: served(p) }))
      .filter((x) => x.n > 0);
  }
  return h;
}

/** A profile's values with their requests in the window, most first. */
function seen(h: History, values: readonly Weighted[]): SeenValue[] {
  const out = values
    .map(([value, share]) => ({ value, requests: Math.round(h.served * share), last_seen: iso(h.lastHour * 1000) }))
    .sort((a, b) => b.requests - a.requests || a.value.localeCompare(b.value));
  // Every request has its value: what rounding lost or added goes to the biggest.
  if (out.length > 0) out[0].requests += h.served - out.reduce((a, v) => a + v.requests, 0);
  return out.filter((v) => v.requests > 0);
}

function minuteLabel(t: number): string {
  return iso(t * 1000).slice(0, 16).replace("T", " ") + " UTC";
}

type Verdict = "allowed" | "refused" | "unknown";

function judge(rule: string, values: SeenValue[], verdict: (v: string) => Verdict, total: number): RuleReplay {
  const refused = values.filter((v) => verdict(v.value) === "refused");
  const unknown = values.filter((v) => verdict(v.value) === "unknown").reduce((a, v) => a + v.requests, 0);
  const counted = values.reduce((a, v) => a + v.requests, 0);
  return {
    rule,
    refused: refused.reduce((a, v) => a + v.requests, 0),
    undetermined: unknown + Math.max(0, total - counted),
    examples: refused.slice(0, 5),
  };
}

/** What `r` would have refused of the key's traffic over the last `days` (restrictions.rs replay + report). */
export function replay(s: MockState, k: KeyView, r: Restriction, days: number): ReplayReport {
  const h = history(s, k, days, r.per_minute !== undefined);
  const rules: RuleReplay[] = [];
  const notes: string[] = [];
  const endpoints = seen(h, h.profile.endpoints);
  if (r.scopes) {
    const scopes = r.scopes;
    rules.push(
      judge("scope", endpoints, (e) => {
        const sp = splitEndpoint(e);
        if (!sp) return "unknown";
        return grants(scopes, scopeFor(sp[0])) ? "allowed" : "refused";
      }, h.served),
    );
  }
  if (r.resources) {
    const resources = r.resources;
    rules.push(
      judge("resource", endpoints, (e) => {
        const sp = splitEndpoint(e);
        if (!sp || !namesResource(sp[1])) return "unknown";
        return pathAllowed(resources, sp[1]) ? "allowed" : "refused";
      }, h.served),
    );
  }
  if (r.allowed_ips) {
    const list = r.allowed_ips.map(net);
    rules.push(
      judge("ip", seen(h, h.profile.networks), (n) => {
        const c = coverage(list, net(n));
        return c === "inside" ? "allowed" : c === "outside" ? "refused" : "unknown";
      }, h.served),
    );
    if (list.some((n) => n.prefix > (n.version === 4 ? 24 : 48))) {
      notes.push(
        "addresses are recorded as /24 (IPv4) and /48 (IPv6) networks: entries narrower than that are judged only where a whole recorded network lies outside them",
      );
    }
  }
  if (r.allowed_countries) {
    const list = r.allowed_countries;
    rules.push(judge("country", seen(h, h.profile.countries), (c) => (list.includes(c) ? "allowed" : "refused"), h.served));
  }
  if (r.per_minute !== undefined) {
    const limit = r.per_minute;
    const over = h.minutes
      .filter((m) => m.n > limit)
      .map((m) => ({ value: minuteLabel(m.t), requests: m.n - limit, last_seen: iso(m.t * 1000) }))
      .sort((a, b) => b.requests - a.requests || b.last_seen.localeCompare(a.last_seen));
    rules.push({ rule: "rate_limit", refused: over.reduce((a, m) => a + m.requests, 0), undetermined: 0, examples: over.slice(0, 5) });
    notes.push(
      `the rate is judged per calendar minute (${limit} a minute); the live limiter also allows a burst of ${limit}, so bursts across a minute boundary may differ`,
    );
    if (!h.minutesComplete) {
      notes.push("minute counts are kept for less time than the window: the rate is judged on the part that is kept");
    }
  }
  const least = rules.reduce((m, x) => Math.max(m, x.refused), 0);
  const most = Math.min(
    rules.reduce((a, x) => a + x.refused, 0),
    Math.max(h.served, least),
  );
  return {
    from: iso(h.from * 1000),
    to: iso(h.to * 1000),
    requests: h.served,
    refused_at_least: least,
    refused_at_most: most,
    share: h.served === 0 ? 0 : most / h.served,
    rules,
    notes,
  };
}

const plural = (n: number) => (n === 1 ? "" : "s");

/** Narrower settings that would have refused nothing over the last `days` (restrictions.rs suggest). */
export function suggest(s: MockState, k: KeyView, days: number): Suggestions {
  const h = history(s, k, days, true);
  const out: Suggestion[] = [];
  const notes: string[] = [];
  const base = { from: iso(h.from * 1000), to: iso(h.to * 1000), requests: h.served };
  if (h.served === 0) {
    notes.push("no gateway traffic in the window: scopes and resources cannot be judged from verify calls");
    notes.push("no recorded addresses in the window: no IP allowlist can be suggested");
    notes.push("no known countries in the window: no country list can be suggested");
    return { ...base, suggestions: out, notes };
  }
  const endpoints = seen(h, h.profile.endpoints);
  // Scope: reads only, on a key that may write (never an admin key).
  if (!k.scopes.includes("admin") && k.scopes.includes("write")) {
    const writes = endpoints.some((e) => {
      const sp = splitEndpoint(e.value);
      return !sp || scopeFor(sp[0]) !== "read";
    });
    if (!writes) {
      const keep: Scope[] = [...k.scopes.filter((x) => x !== "write")];
      if (!keep.includes("read")) keep.unshift("read");
      out.push({
        rule: "scope",
        title: "Drop the write scope",
        detail: `${h.served} requests in the window, all of them reads (GET, HEAD, OPTIONS)`,
        restriction: { scopes: keep },
        evidence: endpoints.slice(0, 5),
      });
    }
  }
  // Resources: every request names one.
  if (k.resources.length === 0) {
    const unnamed = endpoints.find((e) => {
      const sp = splitEndpoint(e.value);
      return !sp || resourceOf(sp[1]) === null;
    });
    if (unnamed) {
      notes.push(`${unnamed.value} does not name a resource: resources cannot be suggested`);
    } else {
      const used = new Map<string, SeenValue>();
      for (const e of endpoints) {
        const res = resourceOf(splitEndpoint(e.value)![1])!;
        const was = used.get(res);
        used.set(res, { value: res, requests: (was?.requests ?? 0) + e.requests, last_seen: e.last_seen });
      }
      const list = [...used.keys()].sort();
      out.push({
        rule: "resource",
        title: `Limit to ${list.length} resource${plural(list.length)}`,
        detail: `every request in the window was for ${list.join(", ")}`,
        restriction: { resources: list },
        evidence: [...used.values()].sort((a, b) => b.requests - a.requests).slice(0, 10),
      });
    }
  }
  // Networks and countries the key was used from.
  if (k.allowed_ips.length === 0) {
    const nets = seen(h, h.profile.networks);
    const list = nets.map((n) => n.value).sort();
    out.push({
      rule: "ip",
      title: `Allow only ${list.length} network${plural(list.length)}`,
      detail: `every request in the window came from ${list.join(", ")}`,
      restriction: { allowed_ips: list },
      evidence: nets.slice(0, 10),
    });
  }
  if (k.allowed_countries.length === 0) {
    const countries = seen(h, h.profile.countries);
    const list = countries.map((c) => c.value).sort();
    out.push({
      rule: "country",
      title: `Allow only ${list.join(", ")}`,
      detail: `every request in the window came from ${list.join(", ")}`,
      restriction: { allowed_countries: list },
      evidence: countries.slice(0, 10),
    });
  }
  // A rate with half again the busiest minute's requests as headroom.
  const peak = h.minutes.reduce<{ t: number; n: number } | null>((m, x) => (m === null || x.n > m.n ? x : m), null);
  const now = k.effective_limits.per_minute;
  if (peak) {
    const limit = Math.max(10, Math.ceil(Math.ceil((peak.n * 3) / 2) / 10) * 10);
    if (limit < now) {
      const busiest = [...h.minutes].sort((a, b) => b.n - a.n || b.t - a.t).slice(0, 3);
      out.push({
        rule: "rate_limit",
        title: `Lower the rate to ${limit} a minute`,
        detail: `the busiest minute had ${peak.n} requests (${minuteLabel(peak.t)}); ${limit} leaves half again as much headroom, against ${now} now`,
        restriction: { per_minute: limit },
        evidence: busiest.map((m) => ({ value: minuteLabel(m.t), requests: m.n, last_seen: iso(m.t * 1000) })),
      });
    }
  }
  if (!h.minutesComplete) {
    notes.push(`the rate is judged on the last ${MINUTE_DAYS} days: minute counts are kept for less time than the window`);
  }
  return { ...base, suggestions: out, notes };
}

/** How long a proposal counts: 1–30 days, 7 unless asked. */
export function proposalDays(days: number | null): number {
  const d = days ?? 7;
  if (!Number.isInteger(d) || d < 1 || d > 30) fail("invalid", "days: between 1 and 30");
  return d;
}
