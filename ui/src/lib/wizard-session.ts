// What the rotation wizard learnt in this session and the service does not
// keep: replacements whose key in the application was checked (or the check
// skipped), by replacement id. Survives leaving and reopening the wizard;
// never holds a key.
import { SvelteMap } from "svelte/reactivity";
import type { CheckedBy } from "./types";

export type Confirmation = { how: "checked"; by: CheckedBy } | { how: "skipped" };

export const confirmed = new SvelteMap<string, Confirmation>();

/** Forgets this session's checks (tests). */
export function forgetChecks() {
  confirmed.clear();
}
