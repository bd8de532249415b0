// Alerts as a person reads them: each kind's name, icon and tone, and its
// evidence (the numbers keyport-core's anomaly rules and the service's
// rotation reminders attach) as a short sentence and a few labelled figures.
// Pure; nothing here throws on odd evidence: it falls back to the message.
import { isEndpointAlert, KIND_LABEL, kindLabel, openAlertsTitle, openCountByKey } from "./alert-counts";
import { formatDate, formatNumber, relativeTime } from "./format";
import type { AccountView, Alert, AlertStatus } from "./types";
import type { AlertKind } from "./bindings/AlertKind";
import type { AlertCategory } from "./bindings/AlertCategory";

export { isEndpointAlert, KIND_LABEL, kindLabel, openAlertsTitle, openCountByKey };
// The kinds come from Rust (keyport_core::alert::AlertKind), never spelled out here.
export type { AlertKind };

/** Names of Icon.svelte's icons used here. */
export type AlertIcon =
  | "trending-up"
  | "alert"
  | "globe"
  | "moon"
  | "route"
  | "refresh"
  | "clock"
  | "bell"
  | "link"
  | "shield";
export type AlertTone = "red" | "amber" | "grey";
export type Category = AlertCategory;

export type KindMeta = { label: string; icon: AlertIcon; tone: AlertTone; category: Category };

const META: Record<AlertKind, Omit<KindMeta, "label">> = {
  volume_spike: { icon: "trending-up", tone: "red", category: "anomaly" },
  error_spike: { icon: "alert", tone: "red", category: "anomaly" },
  new_country: { icon: "globe", tone: "red", category: "anomaly" },
  after_hours: { icon: "moon", tone: "red", category: "anomaly" },
  unusual_endpoint: { icon: "route", tone: "red", category: "anomaly" },
  rotation_due_soon: { icon: "refresh", tone: "amber", category: "reminder" },
  rotation_overdue: { icon: "refresh", tone: "red", category: "reminder" },
  key_expiring: { icon: "clock", tone: "amber", category: "reminder" },
  // The service files it as an anomaly; it is about an endpoint, not a key's traffic.
  webhook_failing: { icon: "link", tone: "red", category: "anomaly" },
  // The most urgent of all: shown first (see `sortAlerts`).
  leak_reported: { icon: "shield", tone: "red", category: "anomaly" },
};

export function isKnownKind(kind: string): kind is AlertKind {
  return Object.hasOwn(META, kind);
}

/** Label, icon and tone of a kind; an unknown kind gets a bell, and its category from the service. */
export function kindMeta(kind: string, category?: string): KindMeta {
  if (isKnownKind(kind)) return { label: KIND_LABEL[kind], ...META[kind] };
  const cat: Category = category === "reminder" ? "reminder" : "anomaly";
  return { label: kindLabel(kind), icon: "bell", tone: cat === "reminder" ? "amber" : "red", category: cat };
}

/** Anomalies are about a key's traffic (their chart helps); reminders are about the key's age. */
export function isAnomaly(a: Pick<Alert, "kind" | "category">): boolean {
  return !isEndpointAlert(a) && kindMeta(a.kind, a.category).category === "anomaly";
}

/** A key reported public: critical, listed before every other open alert. */
export function isLeakAlert(a: Pick<Alert, "kind">): boolean {
  return a.kind === "leak_reported";
}

export function isRotationReminder(a: Pick<Alert, "kind">): boolean {
  return a.kind === "rotation_due_soon" || a.kind === "rotation_overdue" || a.kind === "key_expiring";
}

export const STATUS_LABEL: Record<AlertStatus, string> = {
  open: "Open",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
};

// ---------------------------------------------------------------- evidence

/** One labelled figure; `mono` for endpoints, `note` for a quieter addition. */
export type Stat = { label: string; value: string; mono?: boolean; note?: string };
export type Evidence = { summary: string; stats: Stat[] };

export type DescribeContext = {
  /** For "in 3 days" (ms since epoch); left out when absent. */
  now?: number;
  /** The account: its business hours and allowed countries add context. */
  account?: Pick<AccountView, "settings"> | null;
};

type Bag = Record<string, unknown>;
const DAY = 86_400_000;

function num(e: Bag, k: string): number | null {
  const v = e[k];
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function str(e: Bag, k: string): string | null {
  const v = e[k];
  return typeof v === "string" && v.trim() !== "" ? v : null;
}

function time(e: Bag, k: string): { iso: string; ms: number } | null {
  const v = str(e, k);
  if (v === null) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : { iso: v, ms };
}

type Named = { name: string; requests: number | null };

/** `[{name, requests}]` as the service sends it; also plain names or `[name, n]` pairs. */
function named(e: Bag, k: string): Named[] {
  const v = e[k];
  if (!Array.isArray(v)) return [];
  const out: Named[] = [];
  for (const item of v) {
    if (typeof item === "string" && item.trim() !== "") out.push({ name: item, requests: null });
    else if (Array.isArray(item) && typeof item[0] === "string") {
      out.push({ name: item[0], requests: typeof item[1] === "number" && Number.isFinite(item[1]) ? item[1] : null });
    } else if (typeof item === "object" && item !== null && typeof (item as Bag).name === "string") {
      out.push({ name: (item as Bag).name as string, requests: num(item as Bag, "requests") });
    }
  }
  return out;
}

const plural = (n: number, one: string, many = `${one}s`) => `${formatNumber(n)} ${n === 1 ? one : many}`;
const count = (n: number) => formatNumber(Math.round(n));
const requests = (n: number) => plural(Math.round(n), "request");

/** A rate that may be small: "0.4", "3", "98", "1,240". */
function amount(n: number): string {
  if (Math.abs(n) >= 10) return formatNumber(Math.round(n));
  return formatNumber(Math.round(n * 10) / 10);
}

/** "12×", "6×", "5.5×". */
function times(f: number): string {
  return `${f >= 10 ? formatNumber(Math.round(f)) : formatNumber(Math.round(f * 10) / 10)}×`;
}

/** A share 0..1 as "48%", "0.4%", "0%". */
export function percent(share: number): string {
  const p = share * 100;
  if (p > 0 && p < 1) return `${Math.round(p * 10) / 10}%`;
  return `${Math.round(p)}%`;
}

/** "the last 10 minutes", "the last hour", "the last 2 hours". */
function span(minutes: number): string {
  if (minutes === 60) return "the last hour";
  if (minutes > 60 && minutes % 60 === 0) return `the last ${minutes / 60} hours`;
  return `the last ${plural(minutes, "minute")}`;
}

/** "10 min", "1 h": for figures. */
function shortSpan(minutes: number): string {
  return minutes >= 60 && minutes % 60 === 0 ? `${minutes / 60} h` : `${formatNumber(minutes)} min`;
}

let regionNames: Intl.DisplayNames | null | undefined;

/** "Brazil (BR)"; the code alone when the runtime has no name for it. */
export function countryName(code: string): string {
  const c = code.trim();
  if (!/^[A-Za-z]{2}$/.test(c)) return c;
  try {
    regionNames ??= new Intl.DisplayNames(["en"], { type: "region" });
    const n = regionNames.of(c.toUpperCase());
    return n && n.toUpperCase() !== c.toUpperCase() ? `${n} (${c.toUpperCase()})` : c.toUpperCase();
  } catch {
    regionNames = null;
    return c.toUpperCase();
  }
}

/** "A", "A and B", "A, B and C". */
function listText(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** ISO week days (1 = Monday) as "Mon–Fri", "Mon, Wed, Fri" or "Every day". */
export function weekdaysText(days: readonly number[]): string {
  const d = [...new Set(days.filter((x) => Number.isInteger(x) && x >= 1 && x <= 7))].sort((a, b) => a - b);
  if (d.length === 0) return "No days";
  if (d.length === 7) return "Every day";
  const contiguous = d.length >= 3 && d[d.length - 1] - d[0] === d.length - 1;
  if (contiguous) return `${WEEKDAYS[d[0] - 1]}–${WEEKDAYS[d[d.length - 1] - 1]}`;
  return d.map((x) => WEEKDAYS[x - 1]).join(", ");
}

/** "Sat 23:14" in a time zone (UTC when the zone is unknown to the runtime). */
export function localTime(ms: number, timeZone: string): { text: string; zone: string } {
  const opts: Intl.DateTimeFormatOptions = { weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try {
    return { text: new Intl.DateTimeFormat("en-GB", { ...opts, timeZone }).format(ms), zone: timeZone };
  } catch {
    return { text: new Intl.DateTimeFormat("en-GB", { ...opts, timeZone: "UTC" }).format(ms), zone: "UTC" };
  }
}

function daysUntil(ms: number, now: number | undefined): number | null {
  if (now === undefined || !Number.isFinite(now)) return null;
  return Math.ceil((ms - now) / DAY);
}

type Describer = (e: Bag, a: Alert, ctx: DescribeContext) => Evidence | null;

const volumeSpike: Describer = (e) => {
  const n = num(e, "requests");
  const base = num(e, "baseline_expected");
  const win = num(e, "window_minutes");
  if (n === null || win === null) return null;
  const factor = num(e, "factor") ?? (base !== null ? n / Math.max(base, 1) : null);
  let summary = `${count(n)} requests in ${span(win)}`;
  if (factor !== null && base !== null) summary += `, ${times(factor)} the usual ${amount(base)}`;
  const stats: Stat[] = [{ label: "Requests", value: `${count(n)} in ${shortSpan(win)}` }];
  if (base !== null) stats.push({ label: "Usual", value: `${amount(base)} per ${shortSpan(win)}` });
  if (factor !== null) {
    const limit = num(e, "threshold_factor");
    stats.push({ label: "Spike", value: times(factor), note: limit !== null ? `alerts from ${times(limit)}` : undefined });
  }
  return { summary, stats };
};

const errorSpike: Describer = (e) => {
  const errors = num(e, "errors");
  const answered = num(e, "requests");
  const win = num(e, "window_minutes");
  const share = num(e, "error_share") ?? (errors !== null && answered ? errors / answered : null);
  const base = num(e, "baseline_share");
  if (share === null || win === null) return null;
  let summary = `${percent(share)} of requests failed in ${span(win)}`;
  if (errors !== null && answered !== null) summary += ` (${count(errors)} of ${count(answered)})`;
  if (base !== null) summary += `, against ${percent(base)} usually`;
  const stats: Stat[] = [{ label: "Error rate", value: percent(share) }];
  if (base !== null) stats.push({ label: "Usual", value: percent(base) });
  if (errors !== null) {
    const c = num(e, "client_errors");
    const s = num(e, "server_errors");
    const split = c !== null && s !== null ? `${count(c)} 4xx · ${count(s)} 5xx` : undefined;
    stats.push({
      label: "Errors",
      value: answered !== null ? `${count(errors)} of ${count(answered)}` : count(errors),
      note: split,
    });
  }
  const limit = num(e, "threshold_share");
  if (limit !== null) stats.push({ label: "Alerts from", value: percent(limit) });
  return { summary, stats };
};

const newCountry: Describer = (e, _a, ctx) => {
  const countries = named(e, "countries").filter((c) => c.name !== "unknown");
  if (countries.length === 0) return null;
  const names = listText(countries.map((c) => countryName(c.name)));
  const notAllowed = str(e, "reason") === "not_allowed";
  const summary = notAllowed
    ? `Requests from ${names}, outside the account's allowed countries`
    : `First requests ever from ${names} with this key`;
  const stats: Stat[] = countries.slice(0, 4).map((c) => ({
    label: notAllowed ? "Country" : "New country",
    value: countryName(c.name),
    note: c.requests !== null ? requests(c.requests) : undefined,
  }));
  if (countries.length > 4) stats.push({ label: "More", value: `${countries.length - 4} other countries` });
  // Not in today's evidence; shown if the service sends it.
  const usual = named(e, "known_countries").map((c) => c.name.toUpperCase());
  if (usual.length > 0) stats.push({ label: "Usual", value: usual.join(", ") });
  const allowed = ctx.account?.settings.allowed_countries ?? [];
  if (notAllowed && allowed.length > 0) stats.push({ label: "Allowed", value: allowed.join(", ") });
  const known = num(e, "known_country_requests");
  if (known !== null) stats.push({ label: "Before this", value: `${requests(known)} from known countries` });
  return { summary, stats };
};

const afterHours: Describer = (e, a, ctx) => {
  const n = num(e, "after_hours_requests");
  const win = num(e, "window_minutes");
  if (n === null || win === null) return null;
  const share = num(e, "baseline_after_hours_share");
  const base = num(e, "baseline_requests");
  let summary = `${requests(n)} outside business hours in ${span(win)}`;
  if (share !== null) summary += share === 0 ? "; this key normally has none" : `; normally ${percent(share)} of its traffic`;
  const stats: Stat[] = [{ label: "After hours", value: `${count(n)} in ${shortSpan(win)}` }];
  if (share !== null) {
    stats.push({ label: "Usual", value: percent(share), note: base !== null ? `of ${requests(base)}` : undefined });
  }
  const hours = ctx.account?.settings.business_hours;
  const at = Date.parse(a.created_at);
  if (!Number.isNaN(at)) {
    const t = localTime(at, hours?.time_zone || "UTC");
    stats.push({ label: "Seen", value: t.text, note: t.zone });
  }
  if (hours && Array.isArray(hours.days)) {
    stats.push({
      label: "Business hours",
      value: `${weekdaysText(hours.days)} ${hours.start}–${hours.end}`,
      note: hours.time_zone,
    });
  }
  return { summary, stats };
};

const unusualEndpoint: Describer = (e) => {
  const win = num(e, "window_minutes");
  const denied = num(e, "denied");
  if (str(e, "reason") === "denials" || (denied !== null && e.endpoints === undefined)) {
    if (denied === null) return null;
    const within = win !== null ? ` in ${span(win)}` : "";
    return {
      summary: `${requests(denied)} refused for scope or resource${within}`,
      stats: [{ label: "Refused", value: win !== null ? `${count(denied)} in ${shortSpan(win)}` : count(denied) }],
    };
  }
  const endpoints = named(e, "endpoints");
  if (endpoints.length === 0) return null;
  const summary =
    endpoints.length === 1
      ? `First calls ever to ${endpoints[0].name} with this key`
      : `First calls ever to ${endpoints.length} endpoints with this key`;
  const stats: Stat[] = endpoints.slice(0, 4).map((p) => ({
    label: "New endpoint",
    value: p.name,
    mono: true,
    note: p.requests !== null ? requests(p.requests) : undefined,
  }));
  if (endpoints.length > 4) stats.push({ label: "More", value: `${endpoints.length - 4} other endpoints` });
  const known = num(e, "known_endpoint_requests");
  if (known !== null) stats.push({ label: "Before this", value: `${requests(known)} to known endpoints` });
  return { summary, stats };
};

function policyStats(e: Bag): Stat[] {
  const days = num(e, "policy_days");
  const env = str(e, "environment");
  if (days === null) return [];
  return [{ label: "Policy", value: `every ${plural(days, "day")}`, note: env ? `${env} keys` : undefined }];
}

const rotationDueSoon: Describer = (e, _a, ctx) => {
  const due = time(e, "rotation_due_at");
  if (due === null) return null;
  const left = daysUntil(due.ms, ctx.now);
  const when = left === null ? "" : left <= 0 ? " (today)" : left === 1 ? " (tomorrow)" : ` (in ${left} days)`;
  return {
    summary: `Due for rotation on ${formatDate(due.iso)}${when}: create a replacement, deploy it, then revoke this key`,
    stats: [{ label: "Due", value: formatDate(due.iso) }, ...policyStats(e)],
  };
};

const rotationOverdue: Describer = (e, _a, ctx) => {
  const due = time(e, "rotation_due_at");
  if (due === null) return null;
  const since = num(e, "days_overdue") ?? (ctx.now !== undefined ? Math.floor((ctx.now - due.ms) / DAY) : null);
  const late = since !== null && since > 0 ? ` (${plural(since, "day")})` : "";
  const stats: Stat[] = [{ label: "Was due", value: formatDate(due.iso) }];
  if (since !== null) stats.push({ label: "Overdue", value: plural(Math.max(0, since), "day") });
  return {
    summary: `Overdue for rotation since ${formatDate(due.iso)}${late}: rotate it now`,
    stats: [...stats, ...policyStats(e)],
  };
};

const keyExpiring: Describer = (e, _a, ctx) => {
  const exp = time(e, "expires_at");
  if (exp === null) return null;
  const left = daysUntil(exp.ms, ctx.now);
  const when = left === null ? "" : left <= 0 ? " (today)" : left === 1 ? " (tomorrow)" : ` (in ${left} days)`;
  return {
    summary: `Expires on ${formatDate(exp.iso)}${when}: create its replacement before then`,
    stats: [{ label: "Expires", value: formatDate(exp.iso) }],
  };
};

/**
 * A webhook endpoint the service disabled: `key_id` is the endpoint's id,
 * so nothing here looks a key up; the endpoint is in Account → Webhooks.
 */
const webhookFailing: Describer = (e, _a, ctx) => {
  const url = str(e, "url");
  if (url === null) return null;
  const since = time(e, "failing_since");
  // The URL is in the sentence (and the card's header): the figures add the when and the id.
  const stats: Stat[] = [];
  if (since !== null) {
    stats.push({
      label: "Failing since",
      value: formatDate(since.iso),
      note: ctx.now !== undefined ? relativeTime(since.iso, ctx.now) : undefined,
    });
  }
  const id = str(e, "endpoint_id");
  if (id !== null) stats.push({ label: "Endpoint id", value: id, mono: true });
  return {
    summary: `Webhook endpoint ${url} was disabled after its deliveries kept failing${since ? ` since ${formatDate(since.iso)}` : ""}: fix it, then enable it again in Account → Webhooks`,
    stats,
  };
};

// ---------------------------------------------------------------- leak reports

/** What the service did to a key reported public (the account's leak policy; admin keys are always revoked). */
export type LeakAction = "quarantined" | "revoked";

export type LeakReport = {
  /** Where it was found, e.g. a GitHub commit URL; null when the report had none. */
  url: string | null;
  /** "commit", "gist", …; null when absent. */
  source: string | null;
  tokenType: string | null;
  action: LeakAction | null;
  /** `to_live_…a1b2` */
  masked: string | null;
  keyName: string | null;
};

/** A leak report's evidence, each field checked (null for any other alert). */
export function leakOf(a: Alert): LeakReport | null {
  if (!isLeakAlert(a)) return null;
  const e = (typeof a.evidence === "object" && a.evidence !== null ? a.evidence : {}) as Bag;
  const action = str(e, "action");
  return {
    url: str(e, "url")?.trim() ?? null,
    source: str(e, "source"),
    tokenType: str(e, "token_type"),
    action: action === "quarantined" || action === "revoked" ? action : null,
    masked: str(e, "masked"),
    keyName: str(e, "key_name"),
  };
}

/** "commit" → "a public commit"; "issue_comment" → "a public issue comment"; none → "public". */
export function leakSourceWords(source: string | null): string {
  if (source === null) return "public";
  const words = source.replace(/[._-]+/g, " ").trim().toLowerCase();
  if (words === "") return "public";
  return `a public ${words}`;
}

/** What was done, as the card says it. */
export function leakActionText(action: LeakAction | null): string | null {
  if (action === "quarantined") return "Quarantined: read-only until you rotate or release it";
  if (action === "revoked") return "Revoked: every request with it is refused";
  return null;
}

/** The environment a masked key names (`to_live_…`), if any. */
export function envOfMasked(masked: string | null): "live" | "test" | "staging" | null {
  const m = masked ? /^to_(live|test|staging)_/.exec(masked) : null;
  return m ? (m[1] as "live" | "test" | "staging") : null;
}

const leakReported: Describer = (_e, a) => {
  const leak = leakOf(a);
  if (!leak || (leak.url === null && leak.masked === null)) return null;
  const who = leak.keyName ? `“${leak.keyName}”` : "A key of this account";
  const masked = leak.masked ? ` (${leak.masked})` : "";
  const where = leak.source === null ? "found public" : `found in ${leakSourceWords(leak.source)}`;
  // The key itself is in the sentence; the card shows where and what was done.
  const stats: Stat[] = [];
  if (leak.source) stats.push({ label: "Source", value: leak.source.replace(/[._-]+/g, " ") });
  if (leak.tokenType) stats.push({ label: "Reported as", value: leak.tokenType, mono: true });
  const next =
    leak.action === "revoked"
      ? ""
      : leak.action === "quarantined"
        ? ": rotate it, since until then anyone who saw it can still read with it"
        : ": rotate it now, since anyone who saw it can use it";
  return { summary: `${who}${masked} was ${where}${next}`, stats };
};

const DESCRIBE: Record<AlertKind, Describer> = {
  volume_spike: volumeSpike,
  error_spike: errorSpike,
  new_country: newCountry,
  after_hours: afterHours,
  unusual_endpoint: unusualEndpoint,
  rotation_due_soon: rotationDueSoon,
  rotation_overdue: rotationOverdue,
  key_expiring: keyExpiring,
  webhook_failing: webhookFailing,
  leak_reported: leakReported,
};

function fallbackText(a: Partial<Alert>): string {
  const m = typeof a.message === "string" ? a.message.trim() : "";
  if (m === "") return kindLabel(typeof a.kind === "string" ? a.kind : "");
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** The alert's evidence as a sentence and figures; the message when the evidence does not fit its kind. */
export function describeAlert(a: Alert, ctx: DescribeContext = {}): Evidence {
  const fallback: Evidence = { summary: fallbackText(a), stats: [] };
  try {
    const e = a.evidence;
    if (typeof e !== "object" || e === null || Array.isArray(e) || !isKnownKind(a.kind)) return fallback;
    return DESCRIBE[a.kind](e as Bag, a, ctx) ?? fallback;
  } catch {
    return fallback;
  }
}

// ---------------------------------------------------------------- lists

function createdMs(a: Alert): number {
  const t = Date.parse(a.created_at);
  return Number.isNaN(t) ? 0 : t;
}

/** 0: an open leak report (critical), 1: other open alerts, 2: the rest. */
function urgency(a: Alert): number {
  if (a.status !== "open") return 2;
  return isLeakAlert(a) ? 0 : 1;
}

/** Open leak reports first, then the other open alerts, then the rest; newest first within each (a new array). */
export function sortAlerts(alerts: readonly Alert[]): Alert[] {
  return [...alerts].sort((x, y) => urgency(x) - urgency(y) || createdMs(y) - createdMs(x));
}

export type KeyGroup = { keyId: string; alerts: Alert[]; open: number };

/** Alerts per key (an endpoint's under its id), in the order they first appear in the sorted list. */
export function groupByKey(alerts: readonly Alert[]): KeyGroup[] {
  const groups = new Map<string, KeyGroup>();
  for (const a of sortAlerts(alerts)) {
    let g = groups.get(a.key_id);
    if (!g) groups.set(a.key_id, (g = { keyId: a.key_id, alerts: [], open: 0 }));
    g.alerts.push(a);
    if (a.status === "open") g.open += 1;
  }
  return [...groups.values()];
}

/** A key id shortened for display when the key itself is not loaded: "key_9f3c…b2a1". */
export function shortKeyId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
