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
  } else if (e.action === "account.create" && str(d.plan)) {
    changes = `${String(d.plan)} plan`;
  }
  const actorKey = keys.get(e.actor);
  const actor = actorKey ? `${actorKey.name} (${maskKey(actorKey)})` : e.actor;
  return { action: describeAction(e.action), subject, changes, actor };
}
