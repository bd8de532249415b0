// Account → Policies: the form (rotation periods, business hours, allowed
// countries, the five alert rules), its validation (the service's ranges,
// with messages a person can act on), the patch of what changed, and the
// preview's numbers as sentences. Pure; the component holds the state.
import { KIND_LABEL } from "./alert-counts";
import { formatNumber } from "./format";
import { cleanCountry, normalizeTimeZone, timeZones, validateTimeZone } from "./places";
import { DUE_SOON_DAYS } from "./rotation";
import type {
  AccountView,
  AlertPreview,
  AlertPreviewRequest,
  AnomalyRules,
  BusinessHours,
  Environment,
  LeakPolicy,
  PreviewKind,
  RotationPolicy,
  RotationTally,
  UpdateAccountRequest,
} from "./types";

/** The anomaly kinds, in the order the service reports them. */
export const ANOMALY_KINDS = ["volume_spike", "error_spike", "new_country", "after_hours", "unusual_endpoint"] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export const ENVIRONMENTS: readonly Environment[] = ["live", "test", "staging"];
/** A vendor bound of this many days means no bound (keyport-core MAX_ROTATION_DAYS). */
export const NO_BOUND_DAYS = 3650;
/** The detector looks at windows of this many minutes. */
export const WINDOW_MINUTES = 10;
export const PREVIEW_DAYS = [7, 30] as const;
export type PreviewDays = (typeof PREVIEW_DAYS)[number];
export const MAX_COUNT = 1_000_000;

/** ISO week days, 1 = Monday. */
export const WEEK_DAYS: readonly { day: number; short: string; long: string }[] = [
  { day: 1, short: "Mon", long: "Monday" },
  { day: 2, short: "Tue", long: "Tuesday" },
  { day: 3, short: "Wed", long: "Wednesday" },
  { day: 4, short: "Thu", long: "Thursday" },
  { day: 5, short: "Fri", long: "Friday" },
  { day: 6, short: "Sat", long: "Saturday" },
  { day: 7, short: "Sun", long: "Sunday" },
];

// ---------------------------------------------------------------- rule thresholds

/** One editable number of a rule, with the service's range. */
export type Threshold = {
  field: string;
  /** For messages and labels: "Fewest requests". */
  name: string;
  min: number;
  max: number;
  /** Whole numbers only (counts); otherwise a factor with decimals. */
  whole: boolean;
};

export const THRESHOLDS: Readonly<Record<AnomalyKind, readonly Threshold[]>> = {
  volume_spike: [
    { field: "min_requests", name: "Fewest requests", min: 1, max: MAX_COUNT, whole: true },
    { field: "factor", name: "The factor over the usual rate", min: 1.5, max: 100, whole: false },
  ],
  error_spike: [
    { field: "min_errors", name: "Fewest failed requests", min: 1, max: MAX_COUNT, whole: true },
    { field: "factor", name: "The factor over the usual error share", min: 1.1, max: 100, whole: false },
  ],
  new_country: [
    { field: "learning_requests", name: "Requests before a new country counts", min: 0, max: MAX_COUNT, whole: true },
  ],
  after_hours: [{ field: "min_requests", name: "Fewest after-hours requests", min: 1, max: MAX_COUNT, whole: true }],
  unusual_endpoint: [
    { field: "learning_requests", name: "Requests before a new endpoint counts", min: 0, max: MAX_COUNT, whole: true },
    { field: "denials", name: "Refused requests", min: 1, max: MAX_COUNT, whole: true },
  ],
};

export function threshold(kind: AnomalyKind, field: string): Threshold {
  return THRESHOLDS[kind].find((t) => t.field === field)!;
}

type RuleBag = Record<string, number | boolean | null | undefined>;

/** A rule's field as the account (or the defaults) hold it; null when unset. */
export function ruleValue(rules: AnomalyRules, kind: AnomalyKind, field: string): number | boolean | null {
  return (rules[kind] as RuleBag)[field] ?? null;
}

function defaultNumber(account: AccountView, kind: AnomalyKind, field: string): number {
  const v = ruleValue(account.alert_defaults, kind, field);
  return typeof v === "number" ? v : threshold(kind, field).min;
}

/** A rule in plain words, with the numbers' places: text and fields in reading order. */
export type SentencePart = string | { field: string };

export const RULE_SENTENCE: Readonly<Record<AnomalyKind, readonly SentencePart[]>> = {
  volume_spike: [
    "Alert when a key makes at least ",
    { field: "min_requests" },
    ` requests in ${WINDOW_MINUTES} minutes and `,
    { field: "factor" },
    "× its usual rate.",
  ],
  error_spike: [
    "Alert when a key has at least ",
    { field: "min_errors" },
    ` failed requests in ${WINDOW_MINUTES} minutes and `,
    { field: "factor" },
    "× its usual share of errors.",
  ],
  new_country: [
    "Alert when a key is used from a country it never used before, once it has made ",
    { field: "learning_requests" },
    " requests from known countries, or from a country outside the allowed list.",
  ],
  after_hours: [
    "Alert when a key that is normally quiet outside business hours makes at least ",
    { field: "min_requests" },
    ` requests outside them in ${WINDOW_MINUTES} minutes.`,
  ],
  unusual_endpoint: [
    "Alert when a key calls an endpoint it never called, once it has made ",
    { field: "learning_requests" },
    " requests to known endpoints, or is refused ",
    { field: "denials" },
    ` times for scope or resource in ${WINDOW_MINUTES} minutes.`,
  ],
};

/** The sentence with its numbers filled in (missing ones shown as "…"). */
export function ruleSentence(kind: AnomalyKind, values: Readonly<Record<string, number | string>>): string {
  return RULE_SENTENCE[kind]
    .map((p) => {
      if (typeof p === "string") return p;
      const v = values[p.field];
      return v === undefined || v === "" ? "…" : typeof v === "number" ? formatNumber(v) : v;
    })
    .join("");
}

// ---------------------------------------------------------------- the form

export type RuleForm = {
  /** null: the server's default (on). */
  enabled: boolean | null;
  /** Field → what the input shows (the default's value while the field follows it). */
  text: Record<string, string>;
  /** Field → set by the account (false: follows the server's default). */
  custom: Record<string, boolean>;
};

export type PolicyForm = {
  rotation: Record<Environment, string>;
  timeZone: string;
  /** ISO week days, sorted. */
  days: number[];
  start: string;
  end: string;
  countries: string[];
  rules: Record<AnomalyKind, RuleForm>;
  /** What a leak report does to a key at once. */
  leakPolicy: LeakPolicy;
};

/** The service's default (an account that never chose). */
export const DEFAULT_LEAK_POLICY: LeakPolicy = "quarantine";

/** The account's leak policy (the default when an older service sends none). */
export function leakPolicyOf(account: Pick<AccountView, "settings"> | null): LeakPolicy {
  const p = account?.settings.leak_policy;
  return p === "revoke" || p === "quarantine" ? p : DEFAULT_LEAK_POLICY;
}

/** The two choices, as Account → Policies explains them. */
export const LEAK_POLICIES: readonly { value: LeakPolicy; label: string; hint: string }[] = [
  {
    value: "quarantine",
    label: "Quarantine the key",
    hint:
      "The default. It keeps answering read requests, at most 10 a minute, and refuses every write until you rotate, release or " +
      "revoke it. Applications that only read keep working while you deploy a replacement.",
  },
  {
    value: "revoke",
    label: "Revoke the key at once",
    hint: "It stops working immediately: the safest choice, but every application using it fails until it has a replacement.",
  },
];

function ruleForm(account: AccountView, kind: AnomalyKind): RuleForm {
  const own = account.settings.anomaly_rules;
  const form: RuleForm = { enabled: (own[kind].enabled as boolean | null | undefined) ?? null, text: {}, custom: {} };
  for (const t of THRESHOLDS[kind]) {
    const raw = ruleValue(own, kind, t.field);
    const set = typeof raw === "number";
    form.text[t.field] = String(set ? raw : defaultNumber(account, kind, t.field));
    form.custom[t.field] = set;
  }
  return form;
}

/** A form holding the account's current policies. */
export function formFromAccount(account: AccountView): PolicyForm {
  const s = account.settings;
  const h = s.business_hours;
  const rules = {} as Record<AnomalyKind, RuleForm>;
  for (const kind of ANOMALY_KINDS) rules[kind] = ruleForm(account, kind);
  return {
    rotation: { live: String(s.rotation_days.live), test: String(s.rotation_days.test), staging: String(s.rotation_days.staging) },
    timeZone: h.time_zone,
    days: [...h.days].sort((a, b) => a - b),
    start: h.start,
    end: h.end,
    countries: [...s.allowed_countries],
    rules,
    leakPolicy: leakPolicyOf(account),
  };
}

/** Whether anything differs from the account's policies as they are. */
export function isPolicyFormDirty(form: PolicyForm, account: AccountView): boolean {
  return JSON.stringify(form) !== JSON.stringify(formFromAccount(account));
}

/** Whether a rule is on in the form (a rule left to the default is on). */
export function ruleOn(form: PolicyForm, account: AccountView, kind: AnomalyKind): boolean {
  return form.rules[kind].enabled ?? (account.alert_defaults[kind].enabled as boolean | null) ?? true;
}

/** The switch: back to "default" when that is what the account had and it means the same. */
export function setRuleOn(form: PolicyForm, account: AccountView, kind: AnomalyKind, on: boolean) {
  const own = (account.settings.anomaly_rules[kind].enabled as boolean | null | undefined) ?? null;
  const byDefault = (account.alert_defaults[kind].enabled as boolean | null) ?? true;
  form.rules[kind].enabled = own === null && on === byDefault ? null : on;
}

/** A typed threshold: it stays "default" when the account followed it and the number is the default's. */
export function setThreshold(form: PolicyForm, account: AccountView, kind: AnomalyKind, field: string, text: string) {
  const rule = form.rules[kind];
  rule.text[field] = text;
  const followed = ruleValue(account.settings.anomaly_rules, kind, field) === null;
  const parsed = parseThreshold(threshold(kind, field), text, defaultNumber(account, kind, field));
  rule.custom[field] = !(followed && parsed.value === defaultNumber(account, kind, field));
}

export function resetThreshold(form: PolicyForm, account: AccountView, kind: AnomalyKind, field: string) {
  form.rules[kind].text[field] = String(defaultNumber(account, kind, field));
  form.rules[kind].custom[field] = false;
}

export function toggleDay(form: PolicyForm, day: number) {
  form.days = form.days.includes(day) ? form.days.filter((d) => d !== day) : [...form.days, day].sort((a, b) => a - b);
}

export function addCountry(form: PolicyForm, code: string) {
  const c = cleanCountry(code);
  if (c && !form.countries.includes(c)) form.countries = [...form.countries, c];
}

export function removeCountry(form: PolicyForm, code: string) {
  form.countries = form.countries.filter((c) => c !== code);
}

// ---------------------------------------------------------------- validation

/** Field keys: `rotation.live`, `time_zone`, `days`, `start`, `end`, `countries`, `rule.<kind>.<field>`. */
export type PolicyErrors = Record<string, string>;

export const ruleKey = (kind: AnomalyKind, field: string) => `rule.${kind}.${field}`;

type Parsed = { value: number | null; error: string | null };

/** Rotation days: a whole number from 1 to the vendor's bound. */
export function parseRotationDays(text: string, max: number): Parsed {
  const t = text.trim().replace(/[,_\s]/g, "");
  if (t === "") return { value: null, error: "Enter a number of days." };
  if (!/^\d+$/.test(t)) return { value: null, error: "Use a whole number of days." };
  const n = Number(t);
  if (n < 1) return { value: null, error: "At least 1 day." };
  if (n > max) {
    return {
      value: null,
      error: max < NO_BOUND_DAYS ? `Your service allows at most ${formatNumber(max)} days.` : `At most ${formatNumber(max)} days.`,
    };
  }
  return { value: n, error: null };
}

/** A threshold as typed ("1,000", "2.5", "5×"); `fallback` is named when it is left empty. */
export function parseThreshold(t: Threshold, text: string, fallback: number): Parsed {
  let s = text.trim().replace(/[×x]$/i, "").replace(/[_\s]/g, "");
  s = t.whole ? s.replace(/,/g, "") : s.includes(".") ? s.replace(/,/g, "") : s.replace(",", ".");
  if (s === "") return { value: null, error: `${t.name}: enter a number, or reset it to the default (${formatNumber(fallback)}).` };
  const ok = t.whole ? /^\d+$/.test(s) : /^\d+(\.\d+)?$|^\.\d+$/.test(s);
  if (!ok) return { value: null, error: t.whole ? `${t.name}: use a whole number.` : `${t.name}: use a number, e.g. 2.5.` };
  const n = Number(s);
  if (n < t.min || n > t.max) {
    return { value: null, error: `${t.name} must be between ${formatNumber(t.min)} and ${formatNumber(t.max)}.` };
  }
  return { value: n, error: null };
}

/** `HH:MM`, 00:00 to 23:59. */
export function isClockTime(text: string): boolean {
  return /^([01]\d|2[0-3]):[0-5]\d$/.test(text);
}

/** "8:00" → "08:00"; anything else unchanged. */
export function padTime(text: string): string {
  const t = text.trim();
  return /^\d:[0-5]\d$/.test(t) ? `0${t}` : t;
}

function hoursErrors(form: PolicyForm, zones: readonly string[], errors: PolicyErrors): BusinessHours {
  const time_zone = normalizeTimeZone(form.timeZone, zones);
  const tzError = validateTimeZone(time_zone, zones);
  if (tzError) errors.time_zone = tzError;
  if (form.days.length === 0) errors.days = "Choose at least one business day.";
  const start = padTime(form.start);
  const end = padTime(form.end);
  if (!isClockTime(start)) errors.start = "Use HH:MM, e.g. 08:00.";
  if (!isClockTime(end)) errors.end = "Use HH:MM, e.g. 18:00.";
  if (!errors.start && !errors.end && start >= end) {
    errors.end = "Business hours end after they start, on the same day (they cannot span midnight).";
  }
  return { time_zone, days: [...form.days], start, end };
}

function rotationErrors(form: PolicyForm, account: AccountView, errors: PolicyErrors): RotationPolicy {
  const out = { ...account.settings.rotation_days };
  for (const env of ENVIRONMENTS) {
    const p = parseRotationDays(form.rotation[env], account.max_rotation_days[env]);
    if (p.error) errors[`rotation.${env}`] = p.error;
    else out[env] = p.value!;
  }
  return out;
}

function countriesErrors(form: PolicyForm, errors: PolicyErrors): string[] {
  const bad = form.countries.find((c) => cleanCountry(c) === null);
  if (bad !== undefined) errors.countries = `“${bad}” is not a two-letter country code.`;
  return [...new Set(form.countries.map((c) => cleanCountry(c) ?? c))].sort();
}

function rulesErrors(form: PolicyForm, account: AccountView, errors: PolicyErrors): AnomalyRules {
  const rules = {} as Record<AnomalyKind, RuleBag>;
  for (const kind of ANOMALY_KINDS) {
    const rf = form.rules[kind];
    const rule: RuleBag = { enabled: rf.enabled };
    for (const t of THRESHOLDS[kind]) {
      if (!rf.custom[t.field]) {
        rule[t.field] = null;
        continue;
      }
      const p = parseThreshold(t, rf.text[t.field] ?? "", defaultNumber(account, kind, t.field));
      if (p.error) errors[ruleKey(kind, t.field)] = p.error;
      rule[t.field] = p.value;
    }
    rules[kind] = rule;
  }
  return rules as unknown as AnomalyRules;
}

/** Everything the form proposes, as the service's types. */
export type Proposal = Required<UpdateAccountRequest>;

export function validatePolicies(
  form: PolicyForm,
  account: AccountView,
  zones: readonly string[] = timeZones(),
): { errors: PolicyErrors; proposal: Proposal | null } {
  const errors: PolicyErrors = {};
  const proposal: Proposal = {
    rotation_days: rotationErrors(form, account, errors),
    business_hours: hoursErrors(form, zones, errors),
    allowed_countries: countriesErrors(form, errors),
    anomaly_rules: rulesErrors(form, account, errors),
    leak_policy: form.leakPolicy,
  };
  return { errors, proposal: Object.keys(errors).length > 0 ? null : proposal };
}

// ---------------------------------------------------------------- what changed

const sortedList = <T>(xs: readonly T[]) => JSON.stringify([...xs].sort());

function sameHours(a: BusinessHours, b: BusinessHours): boolean {
  return a.time_zone === b.time_zone && a.start === b.start && a.end === b.end && sortedList(a.days) === sortedList(b.days);
}

function sameRules(a: AnomalyRules, b: AnomalyRules): boolean {
  return ANOMALY_KINDS.every((kind) =>
    ["enabled", ...THRESHOLDS[kind].map((t) => t.field)].every((f) => ruleValue(a, kind, f) === ruleValue(b, kind, f)),
  );
}

/** Only the parts of `proposal` that differ from the account's settings. */
export function diffPolicies(account: AccountView, proposal: Proposal): UpdateAccountRequest {
  const s = account.settings;
  const patch: UpdateAccountRequest = {};
  if (ENVIRONMENTS.some((e) => proposal.rotation_days[e] !== s.rotation_days[e])) patch.rotation_days = proposal.rotation_days;
  if (!sameHours(proposal.business_hours, s.business_hours)) patch.business_hours = proposal.business_hours;
  if (sortedList(proposal.allowed_countries) !== sortedList(s.allowed_countries)) {
    patch.allowed_countries = proposal.allowed_countries;
  }
  if (!sameRules(proposal.anomaly_rules, s.anomaly_rules)) patch.anomaly_rules = proposal.anomaly_rules;
  if (proposal.leak_policy !== leakPolicyOf(account)) patch.leak_policy = proposal.leak_policy;
  return patch;
}

/** Whether a patch changes anything the preview counts (the leak policy raises no alerts). */
export function changesAlerts(patch: UpdateAccountRequest | null): boolean {
  return patch !== null && Object.keys(patch).some((k) => k !== "leak_policy");
}

/** What Save sends: null when the form has errors or changes nothing. */
export function buildPolicyPatch(
  form: PolicyForm,
  account: AccountView,
  zones: readonly string[] = timeZones(),
): { errors: PolicyErrors; patch: UpdateAccountRequest | null } {
  const { errors, proposal } = validatePolicies(form, account, zones);
  if (!proposal) return { errors, patch: null };
  const patch = diffPolicies(account, proposal);
  return { errors, patch: Object.keys(patch).length > 0 ? patch : null };
}

/** The preview of a patch (an empty one previews the settings as they are). */
export function previewRequest(patch: UpdateAccountRequest | null, days: PreviewDays): AlertPreviewRequest {
  // The preview counts alerts: the leak policy is not part of its request.
  const { leak_policy: _leak, ...rest } = patch ?? {};
  return { days, ...rest };
}

/** Which field a service "invalid" message is about, to show it there too. */
export function policyFieldForMessage(message: string): string | null {
  const m = message.toLowerCase();
  const rule = /anomaly_rules\.([a-z_]+)\.([a-z_]+)/.exec(m);
  if (rule && (ANOMALY_KINDS as readonly string[]).includes(rule[1])) return ruleKey(rule[1] as AnomalyKind, rule[2]);
  const env = /rotation_days\.(live|test|staging)/.exec(m);
  if (env) return `rotation.${env[1]}`;
  if (m.includes("time zone") || m.includes("time_zone")) return "time_zone";
  if (m.includes("business_hours.days")) return "days";
  if (m.includes("business_hours.start")) return "start";
  if (m.includes("business_hours.end")) return "end";
  if (m.includes("allowed_countries") || m.includes("country code")) return "countries";
  return null;
}

// ---------------------------------------------------------------- preview as words

function count(n: number, one: string, many: string): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

const keys = (n: number) => count(n, "key", "keys");
const alerts = (n: number) => count(n, "alert", "alerts");

/** What one kind of alert is called in a sentence. */
export const KIND_NOUN: Readonly<Record<AnomalyKind, [string, string]>> = {
  volume_spike: ["traffic-spike alert", "traffic-spike alerts"],
  error_spike: ["error-spike alert", "error-spike alerts"],
  new_country: ["new-country alert", "new-country alerts"],
  after_hours: ["after-hours alert", "after-hours alerts"],
  unusual_endpoint: ["unusual-endpoint alert", "unusual-endpoint alerts"],
};

/** The tally of `kind` (zeros when the answer leaves it out). */
export function kindTally(kinds: readonly PreviewKind[], kind: AnomalyKind): PreviewKind {
  return kinds.find((k) => k.kind === kind) ?? { kind, alerts: 0, keys: [], key_count: 0 };
}

/** "Last 7 days: 3 after-hours alerts on 2 keys instead of 11." */
export function kindPreviewText(preview: AlertPreview, kind: AnomalyKind): string {
  const p = kindTally(preview.proposed.kinds, kind);
  const c = kindTally(preview.current.kinds, kind);
  const [one, many] = KIND_NOUN[kind];
  const what = p.alerts === 0 ? `no ${many}` : `${count(p.alerts, one, many)} on ${keys(p.key_count)}`;
  const then = p.alerts === c.alerts ? (p.alerts === 0 ? "" : ", as now") : ` instead of ${formatNumber(c.alerts)}`;
  return `Last ${preview.days} days: ${what}${then}.`;
}

/** The preview's headline: "Would have raised 4 alerts on 3 keys (now 12)." */
export function previewSummary(preview: AlertPreview, changed: boolean): string {
  const p = preview.proposed;
  const c = preview.current;
  if (!changed) {
    return `Your current rules raised ${alerts(c.alerts)} on ${keys(c.key_count)} in the last ${preview.days} days.`;
  }
  const now = p.alerts === c.alerts ? "the same as now" : `now ${formatNumber(c.alerts)}`;
  return `With your changes: would have raised ${alerts(p.alerts)} on ${keys(p.key_count)} in the last ${preview.days} days (${now}).`;
}

/** "3 keys become due within 14 days (now 1)." from the rotation tallies. */
export function rotationImpact(current: RotationTally, proposed: RotationTally): string {
  const due = (n: number) => `${keys(n)} ${n === 1 ? "is" : "are"}`;
  if (current.due_soon === proposed.due_soon && current.overdue === proposed.overdue) {
    return `${due(proposed.due_soon)} due within ${DUE_SOON_DAYS} days and ${formatNumber(proposed.overdue)} overdue; no change.`;
  }
  const become = (n: number) => `${keys(n)} ${n === 1 ? "becomes" : "become"}`;
  return (
    `${become(proposed.due_soon)} due within ${DUE_SOON_DAYS} days (now ${formatNumber(current.due_soon)}); ` +
    `${formatNumber(proposed.overdue)} overdue (now ${formatNumber(current.overdue)}).`
  );
}

/** "Traffic spike", for the cards' titles. */
export function kindTitle(kind: AnomalyKind): string {
  return KIND_LABEL[kind];
}

/** The vendor's bound as a hint, or null when there is none. */
export function rotationBoundHint(max: number): string | null {
  return max < NO_BOUND_DAYS ? `Your service allows at most ${count(max, "day", "days")}.` : null;
}
