// Create/edit key form: state, inline validation (the same rules as the key
// service, plus "a key's limits may not exceed the plan's"), and conversion to
// NewKeyInput / UpdateKeyRequest.
import { formatNumber } from "./format";
import { parseCountryList, parseIpList } from "./restrictions";
import type {
  Environment,
  KeyView,
  LimitsView,
  NewKeyInput,
  RateLimitView,
  Scope,
  UpdateKeyRequest,
} from "./types";

export const MAX_NAME = 100;
export const MAX_RESOURCES = 50;
const U32_MAX = 4_294_967_295;
const DAY = 86_400_000;

/** "keep" only exists when editing: leave the expiry as it is. */
export type ExpiryChoice = "keep" | "never" | "30d" | "90d" | "1y" | "custom";

export type KeyForm = {
  name: string;
  environment: Environment;
  scopes: Scope[];
  resources: string[];
  /** What is typed in the resource field but not yet added as a chip. */
  resourceDraft: string;
  expiry: ExpiryChoice;
  /** YYYY-MM-DD, for expiry "custom". */
  expiryDate: string;
  customLimits: boolean;
  perMinute: string;
  perDay: string;
  burst: string;
  /** The IP allowlist as typed: one address or CIDR network per line; empty = anywhere. */
  allowedIps: string;
  /** Edit only: the country list as typed (comma-separated codes); empty = anywhere. */
  allowedCountries: string;
};

export type FormField =
  | "name"
  | "scopes"
  | "resources"
  | "expiry"
  | "perMinute"
  | "perDay"
  | "burst"
  | "allowedIps"
  | "allowedCountries";
export type FormErrors = Partial<Record<FormField, string>>;

export function emptyForm(): KeyForm {
  return {
    name: "",
    environment: "test",
    scopes: ["read"],
    resources: [],
    resourceDraft: "",
    expiry: "never",
    expiryDate: "",
    customLimits: false,
    perMinute: "",
    perDay: "",
    burst: "",
    allowedIps: "",
    allowedCountries: "",
  };
}

function limitText(n: number | null | undefined): string {
  return n === null || n === undefined ? "" : String(n);
}

/** A form holding a key's current settings (for editing, or a replacement). */
export function formFromKey(key: KeyView, forEdit: boolean): KeyForm {
  const rl = key.rate_limit;
  return {
    name: key.name,
    environment: key.environment,
    scopes: [...key.scopes],
    resources: [...key.resources],
    resourceDraft: "",
    expiry: forEdit ? (key.expires_at === null ? "never" : "keep") : "never",
    expiryDate: "",
    customLimits: rl !== null && (rl.per_minute !== null || rl.per_day !== null || rl.burst !== null),
    perMinute: limitText(rl?.per_minute),
    perDay: limitText(rl?.per_day),
    burst: limitText(rl?.burst),
    allowedIps: key.allowed_ips.join("\n"),
    allowedCountries: key.allowed_countries.join(", "),
  };
}

/**
 * Characters the key service refuses in names: they make a name read
 * differently from what it holds. Bidirectional overrides, embeddings and
 * isolates, zero-width characters and the other invisible format characters
 * (Unicode Cf that occur in text; the same set as the service's).
 */
const INVISIBLE =
  /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFEFF\uFFF9-\uFFFB\u{E0000}-\u{E007F}]/u;

/** What kind of invisible character `c` is, for the message. */
function invisibleKind(c: string): string {
  const cp = c.codePointAt(0)!;
  const direction =
    cp === 0x061c || cp === 0x200e || cp === 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
  if (direction) return "a text-direction control, which can make the name read backwards";
  if ((cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || cp === 0xfeff || cp === 0x180e) {
    return "a zero-width character, which makes two names that look the same differ";
  }
  return "an invisible formatting character";
}

/** The first invisible character in `name`, as "U+202E", or null. */
export function invisibleCharIn(name: string): { code: string; kind: string } | null {
  const m = INVISIBLE.exec(name);
  if (!m) return null;
  const code = `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  return { code, kind: invisibleKind(m[0]) };
}

/**
 * `current`: the key's name when editing. A name kept as it is is not
 * checked for invisible characters (the service checks only new names, and
 * an older key's other settings stay editable).
 */
export function validateName(name: string, current?: string): string | null {
  const n = name.trim();
  if (n === "") return "Give the key a name, e.g. where it is used.";
  if ([...n].length > MAX_NAME) return `At most ${MAX_NAME} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(n)) return "Use printable characters only.";
  // The untrimmed text: trim() would drop a U+FEFF at either end unseen.
  const hidden = n === current ? null : invisibleCharIn(name);
  if (hidden) {
    return (
      `The name contains an invisible character (${hidden.code}, ${hidden.kind}). ` +
      "Remove it: type the name rather than pasting it."
    );
  }
  return null;
}

/** Mirrors keyport-core's Resource parser. null when valid. */
export function validateResource(raw: string): string | null {
  const r = raw.trim();
  const i = r.indexOf(":");
  if (i === -1) return "Write a resource as kind:name, e.g. project:alpha.";
  const kind = r.slice(0, i);
  const name = r.slice(i + 1);
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(kind)) {
    return "The kind (before ':') is 1–32 lowercase letters, digits, '-' or '_', starting with a letter.";
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name === "." || name === "..") {
    return "The name (after ':') is 1–64 letters, digits, '.', '-' or '_'.";
  }
  return null;
}

/** Adds the typed resource(s) — commas or spaces separate several. */
export function addResources(
  current: string[],
  draft: string,
): { resources: string[]; rest: string; error: string | null } {
  const parts = draft.split(/[\s,]+/).filter(Boolean);
  const out = [...current];
  const bad: string[] = [];
  let error: string | null = null;
  for (const p of parts) {
    const e = validateResource(p);
    if (e) {
      bad.push(p);
      error ??= e;
    } else if (!out.includes(p)) {
      out.push(p);
    }
  }
  if (out.length > MAX_RESOURCES) {
    return { resources: current, rest: draft, error: `At most ${MAX_RESOURCES} resources per key.` };
  }
  return { resources: out, rest: bad.join(" "), error };
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** undefined = unchanged ("keep"), null = never expires. */
export function expiryValue(
  form: Pick<KeyForm, "expiry" | "expiryDate">,
  now: number,
): { value: string | null | undefined; error: string | null } {
  switch (form.expiry) {
    case "keep":
      return { value: undefined, error: null };
    case "never":
      return { value: null, error: null };
    case "30d":
      return { value: isoSeconds(now + 30 * DAY), error: null };
    case "90d":
      return { value: isoSeconds(now + 90 * DAY), error: null };
    case "1y":
      return { value: isoSeconds(now + 365 * DAY), error: null };
    case "custom": {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(form.expiryDate)) {
        return { value: undefined, error: "Pick the date the key stops working." };
      }
      // The key works through the end of that day (UTC).
      const end = Date.parse(`${form.expiryDate}T23:59:59Z`);
      if (Number.isNaN(end)) return { value: undefined, error: "That is not a valid date." };
      if (end <= now) return { value: undefined, error: "Pick a date in the future." };
      return { value: isoSeconds(end), error: null };
    }
  }
}

/** A limit field: "" = use the plan's; otherwise a whole number 1…plan. */
export function parseLimit(
  text: string,
  planMax: number | null,
): { value: number | null; error: string | null } {
  const t = text.trim().replace(/[,_\s]/g, "");
  if (t === "") return { value: null, error: null };
  if (!/^\d+$/.test(t)) return { value: null, error: "Use a whole number." };
  const n = Number(t);
  if (n < 1) return { value: null, error: "At least 1 (leave empty to use the plan's)." };
  if (planMax !== null && n > planMax) {
    return { value: null, error: `Your plan allows at most ${formatNumber(planMax)}.` };
  }
  if (n > U32_MAX) return { value: null, error: "That number is too large." };
  return { value: n, error: null };
}

function rateLimit(
  form: KeyForm,
  plan: LimitsView,
  errors: FormErrors,
): RateLimitView | null {
  if (!form.customLimits) return null;
  const m = parseLimit(form.perMinute, plan.per_minute);
  const d = parseLimit(form.perDay, plan.per_day);
  const b = parseLimit(form.burst, plan.burst);
  if (m.error) errors.perMinute = m.error;
  if (d.error) errors.perDay = d.error;
  if (b.error) errors.burst = b.error;
  if (m.value === null && d.value === null && b.value === null) return null;
  return { per_minute: m.value, per_day: d.value, burst: b.value };
}

function resourcesOf(form: KeyForm, errors: FormErrors): string[] {
  if (form.resourceDraft.trim() === "") return form.resources;
  // Something typed but not added yet: take it if it is valid.
  const r = addResources(form.resources, form.resourceDraft);
  if (r.error || r.rest) errors.resources = r.error ?? "Press Enter to add it, or clear the field.";
  return r.resources;
}

function common(form: KeyForm, plan: LimitsView, now: number, currentName?: string) {
  const errors: FormErrors = {};
  const nameError = validateName(form.name, currentName);
  if (nameError) errors.name = nameError;
  if (form.scopes.length === 0) errors.scopes = "Choose at least one scope.";
  const resources = resourcesOf(form, errors);
  const exp = expiryValue(form, now);
  if (exp.error) errors.expiry = exp.error;
  const rate_limit = rateLimit(form, plan, errors);
  const ips = parseIpList(form.allowedIps);
  if (ips.error) errors.allowedIps = ips.error;
  return { errors, resources, expires: exp.value, rate_limit, allowedIps: ips.values };
}

/** Scopes in a stable order without duplicates. */
export function normalizeScopes(scopes: Scope[]): Scope[] {
  return (["read", "write", "admin"] as const).filter((s) => scopes.includes(s));
}

export function validateKeyForm(
  form: KeyForm,
  plan: LimitsView,
  now: number,
): { errors: FormErrors; input: NewKeyInput | null } {
  const { errors, resources, expires, rate_limit, allowedIps } = common(form, plan, now);
  if (Object.keys(errors).length > 0) return { errors, input: null };
  const input: NewKeyInput = {
    name: form.name.trim(),
    environment: form.environment,
    scopes: normalizeScopes(form.scopes),
    resources,
    expires_at: expires ?? null,
    rate_limit,
  };
  // Sent only when there is a list: without one the key works from anywhere.
  if (allowedIps.length > 0) input.allowed_ips = allowedIps;
  return { errors, input };
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");
}

function sameRateLimit(a: RateLimitView | null, b: RateLimitView | null): boolean {
  const n = (r: RateLimitView | null) =>
    r === null || (r.per_minute === null && r.per_day === null && r.burst === null)
      ? null
      : r;
  const x = n(a);
  const y = n(b);
  if (x === null || y === null) return x === y;
  return x.per_minute === y.per_minute && x.per_day === y.per_day && x.burst === y.burst;
}

/** Only what changed; `patch` is null when there are errors or nothing changed. */
export function buildPatch(
  key: KeyView,
  form: KeyForm,
  plan: LimitsView,
  now: number,
): { errors: FormErrors; patch: UpdateKeyRequest | null } {
  const { errors, resources, expires, rate_limit, allowedIps } = common(form, plan, now, key.name);
  const countries = parseCountryList(form.allowedCountries);
  if (countries.error) errors.allowedCountries = countries.error;
  if (Object.keys(errors).length > 0) return { errors, patch: null };
  const patch: UpdateKeyRequest = {};
  const name = form.name.trim();
  if (name !== key.name) patch.name = name;
  const scopes = normalizeScopes(form.scopes);
  if (!sameList(scopes, key.scopes)) patch.scopes = scopes;
  if (!sameList(resources, key.resources)) patch.resources = resources;
  if (expires !== undefined && expires !== key.expires_at) patch.expires_at = expires;
  if (!sameRateLimit(rate_limit, key.rate_limit)) patch.rate_limit = rate_limit;
  // `[]` removes a list: the key works from anywhere again.
  if (!sameList(allowedIps, key.allowed_ips)) patch.allowed_ips = allowedIps;
  if (!sameList(countries.values, key.allowed_countries)) patch.allowed_countries = countries.values;
  return { errors, patch: Object.keys(patch).length > 0 ? patch : null };
}

/** Which field a service "invalid" message is about, to show it there too. */
export function fieldForServerMessage(message: string): FormField | null {
  const m = message.toLowerCase();
  if (m.includes("allowed_ips")) return "allowedIps";
  if (m.includes("allowed_countries")) return "allowedCountries";
  if (m.includes("rate_limit.per_minute")) return "perMinute";
  if (m.includes("rate_limit.per_day")) return "perDay";
  if (m.includes("rate_limit.burst")) return "burst";
  if (m.includes("expires_at") || m.includes("expir")) return "expiry";
  if (m.includes("resource")) return "resources";
  if (m.includes("scope")) return "scopes";
  if (m.includes("name")) return "name";
  return null;
}

/** Whether anything was typed (to offer "Start over"). */
export function isDirty(form: KeyForm): boolean {
  const e = emptyForm();
  return (
    form.name.trim() !== "" ||
    form.environment !== e.environment ||
    form.scopes.join() !== e.scopes.join() ||
    form.resources.length > 0 ||
    form.resourceDraft.trim() !== "" ||
    form.expiry !== e.expiry ||
    form.customLimits ||
    form.allowedIps.trim() !== ""
  );
}

/** The connect form's URL: null when usable. */
export function validateServiceUrl(raw: string): string | null {
  const s = raw.trim();
  if (s === "") return "Enter the service's address, e.g. https://keys.example.com.";
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "That is not a URL. It starts with https:// (or http:// on this computer).";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "Use an https:// (or http://) address.";
  if (u.username || u.password) return "Leave the credentials out of the URL; put the admin key below.";
  if (u.search || u.hash) return "Use the service's base address, without ? or #.";
  return null;
}

/** Plain http to another machine sends the admin key unencrypted. */
export function isInsecureRemote(raw: string): boolean {
  try {
    const u = new URL(raw.trim());
    const loopback = u.hostname === "localhost" || u.hostname === "[::1]" || /^127\./.test(u.hostname);
    return u.protocol === "http:" && !loopback;
  } catch {
    return false;
  }
}

/** The service's base address as sent: trimmed, without trailing slashes. */
export function serviceBase(raw: string): string {
  return raw.trim().replace(/\/+$/, "");
}

/** A whole keyport:// link pasted where the enrollment code goes (it names the service itself). */
export function isEnrollLinkText(raw: string): boolean {
  return /^keyport:\/\//i.test(raw.trim());
}

/** The enrollment code field: only "is there one" (the service checks the rest). */
export function validateEnrollCode(raw: string): string | null {
  return raw.trim() === "" ? "Enter the enrollment code from your provider, or paste its keyport:// link." : null;
}
