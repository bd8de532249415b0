// Key restrictions: what "Tighten this key…" and the create form's allowed
// IPs need, without the DOM. Reading what is typed (IP allowlists, country
// codes, a rate), merging the chosen suggestions and the hand-written rules
// into the one Restriction the service takes, and saying restrictions,
// would-deny reasons and replay results in plain words. The shape checks
// mirror keyport-core's parsers; the service still decides. Pure.
import { formatNumber } from "./format";
import type { EndpointCount, KeyView, ReplayReport, Restriction, Scope, SeenValue } from "./types";

/** Most entries in a key's IP allowlist (keyport-core MAX_ALLOWED_IPS). */
export const MAX_ALLOWED_IPS = 300;
/** Most entries in a key's country list (keyport-core MAX_ALLOWED_COUNTRIES). */
export const MAX_ALLOWED_COUNTRIES = 250;
/** A report-only proposal counts for 1–30 days, 7 unless asked. */
export const PROPOSAL_DAYS = { min: 1, max: 30, fallback: 7 } as const;
/** The windows a restriction can be replayed against (the service takes 1–90 days). */
export const REPLAY_DAYS = [7, 30, 90] as const;
/** The window suggestions are drawn from. */
export const SUGGESTION_DAYS = 30;

// ---------------------------------------------------------------- networks

/** An IPv4 or IPv6 network: the address as a number, and its prefix length. */
export type Network = { version: 4 | 6; bits: bigint; prefix: number };

const WIDTH = { 4: 32, 6: 128 } as const;

function parseV4(s: string): bigint | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let out = 0n;
  for (const p of parts) {
    // No leading zeros: "010" could be read as octal elsewhere, so it is refused.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out = (out << 8n) | BigInt(n);
  }
  return out;
}

function parseGroups(s: string): bigint[] | null {
  if (s === "") return [];
  const groups = s.split(":");
  const out: bigint[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (i === groups.length - 1 && g.includes(".")) {
      const v4 = parseV4(g);
      if (v4 === null) return null;
      out.push(v4 >> 16n, v4 & 0xffffn);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      out.push(BigInt(parseInt(g, 16)));
    } else {
      return null;
    }
  }
  return out;
}

function parseV6(s: string): bigint | null {
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (head === null || tail === null) return null;
  // An embedded IPv4 address only ends the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const given = head.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const groups = [...head, ...new Array<bigint>(8 - given).fill(0n), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/**
 * An address or CIDR network as keyport-core reads it: `203.0.113.7`,
 * `203.0.113.0/24`, `2001:db8::1`, `2001:db8::/32`; null when it is neither.
 * Host bits are kept (see `normalizeNetwork`).
 */
export function parseNetwork(raw: string): Network | null {
  const s = raw.trim();
  const slash = s.indexOf("/");
  const addr = slash === -1 ? s : s.slice(0, slash);
  const len = slash === -1 ? null : s.slice(slash + 1);
  const version: 4 | 6 = addr.includes(":") ? 6 : 4;
  const bits = version === 4 ? parseV4(addr) : parseV6(addr);
  if (bits === null) return null;
  let prefix: number = WIDTH[version];
  if (len !== null) {
    if (!/^\d{1,3}$/.test(len)) return null;
    prefix = Number(len);
    if (prefix > WIDTH[version]) return null;
  }
  return { version, bits, prefix };
}

/** Host bits cleared, and an IPv4-mapped IPv6 network written as the IPv4 one (as the service stores it). */
export function normalizeNetwork(n: Network): Network {
  if (n.version === 6 && n.prefix >= 96 && n.bits >> 32n === 0xffffn) {
    return normalizeNetwork({ version: 4, bits: n.bits & 0xffff_ffffn, prefix: n.prefix - 96 });
  }
  const w = BigInt(WIDTH[n.version]);
  const host = w - BigInt(n.prefix);
  const bits = host === w ? 0n : (n.bits >> host) << host;
  return { version: n.version, bits, prefix: n.prefix };
}

/** `203.0.113.0/24`, `2001:db8::/32` (RFC 5952: the longest run of zero groups shortened). */
export function formatNetwork(n: Network): string {
  if (n.version === 4) {
    const o = [24n, 16n, 8n, 0n].map((s) => Number((n.bits >> s) & 0xffn));
    return `${o.join(".")}/${n.prefix}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((n.bits >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text =
    best.at === -1
      ? hex.join(":")
      : `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
  return `${text}/${n.prefix}`;
}

/** Whether network `inner` lies wholly inside `outer`. */
export function networkContains(outer: Network, inner: Network): boolean {
  if (outer.version !== inner.version || outer.prefix > inner.prefix) return false;
  const shift = BigInt(WIDTH[outer.version] - outer.prefix);
  return inner.bits >> shift === outer.bits >> shift;
}

// ---------------------------------------------------------------- what is typed

/** A list field read: its values (trimmed, duplicates dropped, order kept) or why it is refused. */
export type ListResult = { values: string[]; error: string | null };

function entries(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter((e) => e !== "");
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/**
 * An IP allowlist as typed: one address or CIDR network per line (commas
 * and spaces also separate). Empty text is an empty list.
 */
export function parseIpList(text: string): ListResult {
  const all = entries(text);
  const bad = all.filter((e) => parseNetwork(e) === null);
  if (bad.length > 0) {
    const more = bad.length > 1 ? ` (and ${bad.length - 1} more)` : "";
    return {
      values: [],
      error:
        `“${bad[0]}”${more} is not an IP address or CIDR network. ` +
        "Write one per line, e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32.",
    };
  }
  const values = unique(all);
  if (values.length > MAX_ALLOWED_IPS) {
    return { values: [], error: `At most ${MAX_ALLOWED_IPS} addresses or networks (there are ${values.length}).` };
  }
  return { values, error: null };
}

/** Country codes as typed: two letters each, separated by commas or spaces; upper-cased. */
export function parseCountryList(text: string): ListResult {
  const all = entries(text);
  const bad = all.filter((e) => !/^[A-Za-z]{2}$/.test(e));
  if (bad.length > 0) {
    return { values: [], error: `“${bad[0]}” is not a two-letter country code. Separate codes with commas, e.g. DE, FR, US.` };
  }
  const values = unique(all.map((c) => c.toUpperCase()));
  if (values.length > MAX_ALLOWED_COUNTRIES) {
    return { values: [], error: `At most ${MAX_ALLOWED_COUNTRIES} countries.` };
  }
  return { values, error: null };
}

/** A lower rate: "" = none; otherwise a whole number from 1 up to the key's current rate. */
export function parsePerMinute(text: string, current: number): { value: number | null; error: string | null } {
  const t = text.trim().replace(/[,_\s]/g, "");
  if (t === "") return { value: null, error: null };
  if (!/^\d+$/.test(t)) return { value: null, error: "Use a whole number of requests a minute." };
  const n = Number(t);
  if (n < 1) return { value: null, error: "At least 1 request a minute." };
  if (n > current) {
    return {
      value: null,
      error: `The key already allows ${formatNumber(current)} a minute: a restriction can only lower it.`,
    };
  }
  return { value: n, error: null };
}

/** The report-only period: a whole number of days, 1–30. */
export function parsePeriod(text: string): { value: number | null; error: string | null } {
  const t = String(text).trim();
  if (!/^\d+$/.test(t) || Number(t) < PROPOSAL_DAYS.min || Number(t) > PROPOSAL_DAYS.max) {
    return { value: null, error: `Between ${PROPOSAL_DAYS.min} and ${PROPOSAL_DAYS.max} days.` };
  }
  return { value: Number(t), error: null };
}

// ---------------------------------------------------------------- one restriction

/** The key a restriction narrows: its scopes and the rate in force. */
export type Narrowed = Pick<KeyView, "scopes" | "effective_limits">;

/** "Or write your own": the fields as typed. */
export type TightenDraft = {
  /** One address or CIDR network per line. */
  ips: string;
  /** Comma-separated two-letter codes. */
  countries: string;
  /** The scopes to keep (starts as the key's). */
  scopes: Scope[];
  /** Requests a minute; "" for no change. */
  perMinute: string;
};

export type TightenField = "ips" | "countries" | "scopes" | "perMinute" | "rules";
export type TightenErrors = Partial<Record<TightenField, string>>;

const SCOPE_ORDER: readonly Scope[] = ["read", "write", "admin"];

function sortScopes(scopes: Iterable<Scope>): Scope[] {
  const set = new Set(scopes);
  return SCOPE_ORDER.filter((s) => set.has(s));
}

/** The scopes "Or write your own" offers to keep or drop: the key's, except admin (an admin key keeps it). */
export function narrowableScopes(key: Pick<KeyView, "scopes">): Scope[] {
  return key.scopes.includes("admin") ? [] : sortScopes(key.scopes);
}

export function emptyDraft(key: Pick<KeyView, "scopes">): TightenDraft {
  return { ips: "", countries: "", scopes: sortScopes(key.scopes), perMinute: "" };
}

/** Whether a restriction has no rule at all. */
export function isEmptyRestriction(r: Restriction): boolean {
  return (
    r.scopes === undefined &&
    r.resources === undefined &&
    r.allowed_ips === undefined &&
    r.allowed_countries === undefined &&
    r.per_minute === undefined
  );
}

/**
 * The chosen suggestions and the hand-written fields as one Restriction.
 * Allowed networks, countries and resources add up (callers may come from
 * any of them); scopes and the rate take the narrower. A field left empty
 * (and scopes left as the key's) is omitted. `restriction` is null when
 * something typed is refused, or when there is no rule at all.
 */
export function buildRestriction(
  key: Narrowed,
  chosen: readonly Restriction[],
  draft: TightenDraft,
): { restriction: Restriction | null; errors: TightenErrors } {
  const errors: TightenErrors = {};
  const ips = parseIpList(draft.ips);
  if (ips.error) errors.ips = ips.error;
  const countries = parseCountryList(draft.countries);
  if (countries.error) errors.countries = countries.error;
  const rate = parsePerMinute(draft.perMinute, key.effective_limits.per_minute);
  if (rate.error) errors.perMinute = rate.error;

  const out: Restriction = {};
  // Scopes: what every chosen rule and the checkboxes keep.
  const own = sortScopes(key.scopes);
  let keep = new Set<Scope>(own);
  const narrow = (list: readonly Scope[]) => (keep = new Set([...keep].filter((s) => list.includes(s))));
  for (const c of chosen) if (c.scopes) narrow(c.scopes);
  // An admin key keeps admin whatever is ticked (the service refuses otherwise).
  const ticked = key.scopes.includes("admin") ? own : sortScopes(draft.scopes);
  narrow(ticked);
  const scopes = sortScopes(keep);
  if (scopes.length === 0) errors.scopes = "Keep at least one scope.";
  else if (scopes.length < own.length) out.scopes = scopes;

  const union = (pick: (r: Restriction) => string[] | undefined, typed: string[]): string[] | undefined => {
    const lists = chosen.map(pick).filter((l): l is string[] => l !== undefined);
    if (lists.length === 0 && typed.length === 0) return undefined;
    return unique([...lists.flat(), ...typed]);
  };
  const resources = union((r) => r.resources, []);
  if (resources) out.resources = resources;
  const allowedIps = union((r) => r.allowed_ips, ips.values);
  if (allowedIps) {
    if (allowedIps.length > MAX_ALLOWED_IPS) errors.ips ??= `At most ${MAX_ALLOWED_IPS} addresses or networks in all.`;
    out.allowed_ips = allowedIps;
  }
  const allowedCountries = union((r) => r.allowed_countries?.map((c) => c.toUpperCase()), countries.values);
  if (allowedCountries) out.allowed_countries = allowedCountries;

  const rates = chosen.map((c) => c.per_minute).filter((n): n is number => typeof n === "number");
  if (rate.value !== null) rates.push(rate.value);
  if (rates.length > 0) out.per_minute = Math.min(...rates);

  if (Object.keys(errors).length > 0) return { restriction: null, errors };
  if (isEmptyRestriction(out)) {
    return { restriction: null, errors: { rules: "Choose a suggestion above, or write a rule below." } };
  }
  return { restriction: out, errors };
}

// ---------------------------------------------------------------- in plain words

/** "a", "a and b", "a, b and c", "a, b, c and 4 more". */
export function listAnd(items: readonly string[], max = 3): string {
  if (items.length === 0) return "";
  if (items.length > max) return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
  if (items.length === 1) return items[0];
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

let regionNames: Intl.DisplayNames | null | undefined;

/** "Germany" for "DE"; the code where the webview cannot name it (no places.ts: the create form loads this early). */
function countryName(code: string): string {
  if (regionNames === undefined) {
    try {
      regionNames = new Intl.DisplayNames(["en"], { type: "region" });
    } catch {
      regionNames = null;
    }
  }
  try {
    const name = /^[A-Z]{2}$/.test(code) ? regionNames?.of(code) : undefined;
    return name && name !== code && name !== "Unknown Region" ? name : code;
  } catch {
    return code;
  }
}

/** "Germany (DE)"; "an unknown country" for the service's `unknown`. */
export function countryLabel(code: string): string {
  if (code === "unknown" || code === "ZZ") return "an unknown country";
  const name = countryName(code);
  return name === code ? code : `${name} (${code})`;
}

function requests(n: number): string {
  return `${formatNumber(n)} ${n === 1 ? "request" : "requests"}`;
}

/** Each rule of a restriction as a line: "Only from 203.0.113.0/24", "Read only", "At most 60 requests a minute". */
export function describeRestriction(r: Restriction): string[] {
  const out: string[] = [];
  if (r.allowed_ips) {
    out.push(r.allowed_ips.length === 0 ? "From any network" : `Only from ${listAnd(r.allowed_ips)}`);
  }
  if (r.allowed_countries) {
    out.push(
      r.allowed_countries.length === 0
        ? "From any country"
        : `Only from ${listAnd(r.allowed_countries.map(countryLabel))}`,
    );
  }
  if (r.scopes) {
    const s = sortScopes(r.scopes);
    if (s.length === 1 && s[0] === "read") out.push("Read only");
    else if (s.length === 1) out.push(`Only the ${s[0]} scope`);
    else out.push(`Only the ${listAnd(s)} scopes`);
  }
  if (r.resources) {
    out.push(r.resources.length === 0 ? "Every resource" : `Only ${listAnd(r.resources)}`);
  }
  if (r.per_minute !== undefined) out.push(`At most ${requests(r.per_minute)} a minute`);
  return out;
}

/** A would-deny reason of the service (`ip 198.51.100.0/24`, `scope write`, …) in words. */
export function describeReason(reason: string): string {
  const sp = reason.indexOf(" ");
  const kind = sp === -1 ? reason : reason.slice(0, sp);
  const value = sp === -1 ? "" : reason.slice(sp + 1);
  switch (kind) {
    case "ip":
      return value === "unknown" || value === "" ? "from an unknown address" : `from ${value}`;
    case "country":
      return `from ${countryLabel(value || "unknown")}`;
    case "scope":
      return `needing the ${value} scope`;
    case "resource":
      return `for ${value}`;
    case "rate_limit":
      return "over the lower rate";
    default:
      return reason;
  }
}

/** "41 requests from 198.51.100.0/24": a reason with its count. */
export function reasonLine(r: { reason: string; count: number }): string {
  return `${requests(r.count)} ${describeReason(r.reason)}`;
}

/** "3 requests would have been refused"; nothing yet says so. */
export function wouldDenyLine(count: number): string {
  if (count === 0) return "No request would have been refused so far";
  return `${requests(count)} would have been refused`;
}

export const RULE_LABEL: Readonly<Record<string, string>> = {
  scope: "Scopes",
  resource: "Resources",
  ip: "IP allowlist",
  country: "Countries",
  rate_limit: "Rate",
};

export function ruleLabel(rule: string): string {
  return RULE_LABEL[rule] ?? rule;
}

/** One replay example or piece of evidence in words: "41 requests from 198.51.100.0/24". */
export function describeSeen(rule: string, v: SeenValue): string {
  switch (rule) {
    case "ip":
      return `${requests(v.requests)} from ${v.value}`;
    case "country":
      return `${requests(v.requests)} from ${countryLabel(v.value)}`;
    case "scope":
      return `${requests(v.requests)} to ${v.value}`;
    case "resource":
      return `${requests(v.requests)} for ${v.value}`;
    case "rate_limit":
      return `${requests(v.requests)} in the minute ${v.value}`;
    default:
      return `${requests(v.requests)}: ${v.value}`;
  }
}

/** A piece of a suggestion's evidence, shorter: "203.0.113.0/24 · 11,204". */
export function evidenceValue(rule: string, v: SeenValue): string {
  return rule === "country" ? countryLabel(v.value) : v.value;
}

/** "the last 7 days", "the last day". */
export function lastDays(days: number): string {
  return days === 1 ? "the last day" : `the last ${days} days`;
}

/** A share of requests: "0.3 %", "<0.1 %", "100 %". */
export function formatShare(share: number): string {
  if (!Number.isFinite(share) || share <= 0) return "0 %";
  const p = share * 100;
  if (p < 0.1) return "<0.1 %";
  if (p >= 100) return "100 %";
  if (p > 99.9) return ">99.9 %";
  return `${p.toFixed(1).replace(/\.0$/, "")} %`;
}

/** Scopes the key's recorded endpoints needed ("GET /…" → read, other methods → write). */
export function usedScopes(endpoints: readonly EndpointCount[]): Scope[] {
  const used = new Set<Scope>();
  for (const e of endpoints) {
    if (e.count <= 0) continue;
    const m = /^([A-Z]+) \//.exec(e.endpoint);
    if (!m) continue;
    used.add(["GET", "HEAD", "OPTIONS"].includes(m[1]) ? "read" : "write");
  }
  return sortScopes(used);
}

export type Headline = { tone: "ok" | "warn" | "none"; text: string };

/**
 * A replay's result in one line: "Would have refused 0.3 % of the last 7
 * days: 41 of 12,034 requests"; with several rules the refused count is a
 * range ("between 12 and 41").
 */
export function replayHeadline(r: ReplayReport, days: number): Headline {
  const span = lastDays(days);
  if (r.requests === 0) return { tone: "none", text: `No requests in ${span} to judge by.` };
  if (r.refused_at_most === 0) {
    return {
      tone: "ok",
      text: `Would have refused nothing in ${span}: all ${requests(r.requests)} fit.`,
    };
  }
  const count =
    r.refused_at_least === r.refused_at_most
      ? formatNumber(r.refused_at_most)
      : `between ${formatNumber(r.refused_at_least)} and ${formatNumber(r.refused_at_most)}`;
  return {
    tone: "warn",
    text: `Would have refused ${formatShare(r.share)} of ${span}: ${count} of ${requests(r.requests)}`,
  };
}
