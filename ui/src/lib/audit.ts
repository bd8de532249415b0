// Turning audit events into one readable line each.
import { describeAction, exactUtc, formatNumber, maskKey, planLabel } from "./format";
import { describeRestriction } from "./restrictions";
import type { AuditView, KeyView, Restriction } from "./types";

export type AuditLine = {
  action: string;
  /** The key the event is about: its name when known. */
  subject: string | null;
  /** What changed, for updates ("name, scopes"). */
  changes: string | null;
  /** Who did it: a key's name and masked form when it is a loaded key. */
  actor: string;
};

function str(v: unknown): string | null {
  return typeof v === "string" && v.trim() !== "" ? v : null;
}

type Detail = Record<string, unknown>;
type Keys = ReadonlyMap<string, KeyView>;

/** What an event changed, per action ("name, scopes"; "reason: …"). */
const CHANGES: Record<string, (d: Detail, keys: Keys) => string | null> = {
  "key.update": (d) => {
    const fields = Object.keys(d).map((f) => f.replace(/_/g, " "));
    return fields.length > 0 ? fields.join(", ") : null;
  },
  "key.rotate": (d, keys) => {
    const id = str(d.replaced_by);
    return id ? `replaced by ${keys.get(id)?.name ?? id}` : null;
  },
  "key.revoke": (d) => reasonWords(d.reason),
  "key.quarantine": (d) =>
    str(d.source) === "leak_report" && str(d.reason) ? `reported public: ${String(d.reason)}` : reasonWords(d.reason),
  "key.propose": (d) => restrictionWords(d.restriction),
  "key.restrict": (d) => restrictionWords(d.restriction),
  "key.proposal_drop": (d) => restrictionWords(d.restriction),
  "account.update": (d) => accountChanges(d),
  "account.create": (d) => joined([quoted(d.name), str(d.plan) ? `${String(d.plan)} plan` : null], ", "),
  "account.delete": (d) => quoted(d.name),
  "account.suspend": (d) => joined([reasonWords(record(d.suspended)?.reason), ...operatorChanges(d)]),
  "account.resume": (d) => joined(operatorChanges(d)),
  "account.operator_update": (d) => {
    const parts = operatorChanges(d);
    // One change is the headline itself (see `actionWords`).
    return parts.length > 1 ? parts.join("; ") : null;
  },
  "enrollment.create": (d) => (str(d.expires_at) ? `expires ${exactUtc(String(d.expires_at))}` : null),
  "enrollment.redeem": (d) => revokedWords(d.revoked_admin_keys),
  "webhook.create": (d) => str(d.url),
  "webhook.update": (d) => webhookChanges(d),
  "webhook.delete": (d) => str(d.endpoint_id),
};

/** webhook.update: "url https://…, enabled" (the fields sent, the endpoint id aside). */
function webhookChanges(d: Detail): string | null {
  const parts = Object.keys(d)
    .filter((f) => f !== "endpoint_id")
    .map((f) => {
      if (f === "url" && str(d.url)) return `url ${String(d.url)}`;
      if (f === "enabled" && typeof d.enabled === "boolean") return d.enabled ? "enabled" : "disabled";
      return f.replace(/_/g, " ");
    });
  return parts.length > 0 ? parts.join(", ") : null;
}

export function describeEvent(e: AuditView, keys: Keys): AuditLine {
  const d = (e.detail ?? {}) as Detail;
  const key = e.key_id ? keys.get(e.key_id) : undefined;
  const subject = key?.name ?? str(d.name) ?? e.key_id;
  const changes = CHANGES[e.action]?.(d, keys) ?? null;
  return { action: actionWords(e.action, d), subject, changes, actor: actorWords(e.actor, d, keys) };
}

/** An operator's single change reads as a sentence: "Plan changed from Starter to Professional by …". */
function actionWords(action: string, d: Detail): string {
  if (action === "account.operator_update") {
    const parts = operatorChanges(d);
    if (parts.length === 1) return `${capital(parts[0])} by the service operator`;
  }
  return describeAction(action);
}

/** Who did it: a loaded key's name, the service, the service's operator (opr_…), or as recorded. */
function actorWords(actor: string, d: Detail, keys: Keys): string {
  const actorKey = keys.get(actor);
  if (actorKey) return `${actorKey.name} (${maskKey(actorKey)})`;
  if (actor === "server") return "the key service (its limits)";
  if (actor.startsWith("opr_")) {
    const name = str(d.operator);
    return name ? `Service operator (${name})` : "Service operator";
  }
  return actor;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function quoted(v: unknown): string | null {
  const s = str(v);
  return s ? `“${s}”` : null;
}

function joined(parts: (string | null)[], sep = "; "): string | null {
  const set = parts.filter((p): p is string => p !== null);
  return set.length > 0 ? set.join(sep) : null;
}

/** key.propose, key.restrict: "only from 203.0.113.0/24; read only". */
function restrictionWords(v: unknown): string | null {
  const r = record(v);
  if (!r) return null;
  const lines = describeRestriction(r as Restriction);
  return lines.length > 0 ? lines.map((l) => l.charAt(0).toLowerCase() + l.slice(1)).join("; ") : null;
}

function reasonWords(v: unknown): string | null {
  const reason = str(v);
  return reason ? `reason: ${reason}` : null;
}

/** enrollment.redeem: how many admin keys the new one replaced. */
function revokedWords(v: unknown): string | null {
  const n = Array.isArray(v) ? v.length : 0;
  if (n === 0) return null;
  return `${n} other admin ${n === 1 ? "key" : "keys"} revoked`;
}

/** "60/min, 10,000/day, burst 100" (the limits set). */
function limitWords(v: Detail): string {
  const parts: string[] = [];
  if (typeof v.per_minute === "number") parts.push(`${formatNumber(v.per_minute)}/min`);
  if (typeof v.per_day === "number") parts.push(`${formatNumber(v.per_day)}/day`);
  if (typeof v.burst === "number") parts.push(`burst ${formatNumber(v.burst)}`);
  return parts.join(", ");
}

function planChange(v: unknown): string | null {
  const p = record(v);
  if (!p || !str(p.to)) return null;
  const to = planLabel(String(p.to));
  return str(p.from) ? `plan changed from ${planLabel(String(p.from))} to ${to}` : `plan changed to ${to}`;
}

function rateLimitChange(v: unknown): string {
  const r = record(v);
  const words = r ? limitWords(r) : "";
  return r === null ? "rate limit back to the plan's" : words ? `rate limit set to ${words}` : "rate limit changed";
}

/** What the service's operator changed (account.operator_update and the like), one phrase each. */
export function operatorChanges(d: Detail): string[] {
  const out: string[] = [];
  const plan = planChange(d.plan);
  if (plan) out.push(plan);
  if (str(d.name)) out.push(`renamed to “${String(d.name)}”`);
  if ("external_id" in d) out.push(str(d.external_id) ? `external id set to ${String(d.external_id)}` : "external id removed");
  if ("rate_limit" in d) out.push(rateLimitChange(d.rate_limit));
  if ("key_cap" in d) {
    out.push(typeof d.key_cap === "number" ? `key cap set to ${formatNumber(d.key_cap)}` : "key cap back to the plan's");
  }
  return out;
}

const DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const RULE_NAMES: Record<string, string> = {
  volume_spike: "volume spike",
  error_spike: "error spike",
  new_country: "new country",
  after_hours: "after hours",
  unusual_endpoint: "unusual endpoint",
};

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** "live 60 d, test 30 d" */
function rotationWords(v: Record<string, unknown>): string {
  return ["live", "test", "staging"]
    .filter((env) => typeof v[env] === "number")
    .map((env) => `${env} ${String(v[env])} d`)
    .join(", ");
}

/** "Europe/Berlin Mon–Fri 08:00–19:00" (days listed when not a run). */
function hoursWords(v: Record<string, unknown>): string {
  const days = Array.isArray(v.days) ? v.days.filter((d): d is number => typeof d === "number").sort() : [];
  const run = days.length > 1 && days.every((d, i) => i === 0 || d === days[i - 1] + 1);
  const names = run
    ? `${DAY_NAMES[days[0] - 1]}–${DAY_NAMES[days[days.length - 1] - 1]}`
    : days.map((d) => DAY_NAMES[d - 1] ?? String(d)).join(", ");
  return `${String(v.time_zone ?? "")} ${names} ${String(v.start ?? "")}–${String(v.end ?? "")}`.trim();
}

/** Each rule the account set: "after hours off", "volume spike tuned". */
function rulesWords(v: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [rule, name] of Object.entries(RULE_NAMES)) {
    const r = record(v[rule]);
    if (!r) continue;
    const set = Object.entries(r).filter(([, x]) => x !== null && x !== undefined);
    if (r.enabled === false) parts.push(`${name} off`);
    else if (set.some(([f]) => f !== "enabled")) parts.push(`${name} tuned`);
  }
  return parts.length > 0 ? parts.join(", ") : "server defaults";
}

/** What an `account.update` changed, in a few words per setting. */
export function accountChanges(d: Record<string, unknown>): string | null {
  const out: string[] = [];
  const rotation = record(d.rotation_days);
  if (rotation) out.push(`rotation ${rotationWords(rotation)}`);
  const hours = record(d.business_hours);
  if (hours) out.push(`business hours ${hoursWords(hours)}`);
  if (Array.isArray(d.allowed_countries)) {
    const list = d.allowed_countries.map(String);
    out.push(list.length > 0 ? `allowed countries ${list.join(", ")}` : "allowed countries: anywhere");
  }
  const rules = record(d.anomaly_rules);
  if (rules) out.push(`alert rules: ${rulesWords(rules)}`);
  if (d.leak_policy === "quarantine" || d.leak_policy === "revoke") {
    out.push(`leaked keys: ${d.leak_policy === "revoke" ? "revoked at once" : "quarantined"}`);
  }
  return out.length > 0 ? out.join("; ") : null;
}
