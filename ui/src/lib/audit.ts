// Turning audit events into one readable line each.
import { describeAction, maskKey } from "./format";
import type { AuditView, KeyView } from "./types";

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

export function describeEvent(e: AuditView, keys: ReadonlyMap<string, KeyView>): AuditLine {
  const d = (e.detail ?? {}) as Record<string, unknown>;
  const key = e.key_id ? keys.get(e.key_id) : undefined;
  const subject = key?.name ?? str(d.name) ?? e.key_id;
  let changes: string | null = null;
  if (e.action === "key.update") {
    const fields = Object.keys(d).map((f) => f.replace(/_/g, " "));
    changes = fields.length > 0 ? fields.join(", ") : null;
  } else if (e.action === "key.rotate" && str(d.replaced_by)) {
    const by = keys.get(String(d.replaced_by));
    changes = `replaced by ${by?.name ?? String(d.replaced_by)}`;
  } else if (e.action === "account.update") {
    changes = accountChanges(d);
  } else if (e.action === "account.create" && str(d.plan)) {
    changes = `${String(d.plan)} plan`;
  }
  const actorKey = keys.get(e.actor);
  const actor = actorKey
    ? `${actorKey.name} (${maskKey(actorKey)})`
    : e.actor === "server"
      ? "the key service (its limits)"
      : e.actor;
  return { action: describeAction(e.action), subject, changes, actor };
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
  return out.length > 0 ? out.join("; ") : null;
}
