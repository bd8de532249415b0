// Desktop notifications on this computer (notify_prefs / set_notify_prefs):
// which kinds are pushed, and quiet hours. Pure.
import { KIND_LABEL } from "./alert-counts";
import { isClockTime, padTime } from "./policies";
import type { AlertKind, NotifyPrefs } from "./types";

/**
 * The kinds that can be pushed (keyport-portal's `notifies`: every kind but
 * an expiring key, which is shown in the app only).
 */
export const NOTIFY_KINDS: readonly AlertKind[] = [
  "volume_spike",
  "error_spike",
  "new_country",
  "after_hours",
  "unusual_endpoint",
  "rotation_due_soon",
  "rotation_overdue",
  "webhook_failing",
  "leak_reported",
];

export type NotifyForm = {
  /** Kind → pushed to the desktop. */
  push: Record<string, boolean>;
  /** Empty both: no quiet hours. */
  quietStart: string;
  quietEnd: string;
  /** Muted kinds this screen does not show, kept as they are. */
  otherMuted: AlertKind[];
};

export type NotifyErrors = { start?: string; end?: string };

export function notifyForm(prefs: NotifyPrefs): NotifyForm {
  const push: Record<string, boolean> = {};
  for (const k of NOTIFY_KINDS) push[k] = !prefs.muted.includes(k);
  return {
    push,
    quietStart: prefs.quiet_hours?.start ?? "",
    quietEnd: prefs.quiet_hours?.end ?? "",
    otherMuted: prefs.muted.filter((k) => !NOTIFY_KINDS.includes(k)),
  };
}

function quietErrors(start: string, end: string): NotifyErrors {
  if (start === "" && end === "") return {};
  const errors: NotifyErrors = {};
  if (start === "") errors.start = "Enter when quiet hours start, or clear both times.";
  else if (!isClockTime(start)) errors.start = "Use HH:MM, e.g. 22:00.";
  if (end === "") errors.end = "Enter when quiet hours end, or clear both times.";
  else if (!isClockTime(end)) errors.end = "Use HH:MM, e.g. 07:00.";
  if (!errors.start && !errors.end && start === end) errors.end = "Quiet hours need different start and end times.";
  return errors;
}

/** The preferences to save, or the errors to show. */
export function notifyPrefsOf(form: NotifyForm): { errors: NotifyErrors; prefs: NotifyPrefs | null } {
  const start = padTime(form.quietStart);
  const end = padTime(form.quietEnd);
  const errors = quietErrors(start, end);
  if (errors.start || errors.end) return { errors, prefs: null };
  const muted = [...NOTIFY_KINDS.filter((k) => !form.push[k]), ...form.otherMuted].sort();
  return { errors, prefs: { muted, quiet_hours: start === "" ? null : { start, end } } };
}

/** Whether saving would change `saved`. */
export function notifyChanged(form: NotifyForm, saved: NotifyPrefs): boolean {
  const { prefs } = notifyPrefsOf(form);
  if (!prefs) return true;
  const muted = [...saved.muted].sort();
  return (
    JSON.stringify(prefs.muted) !== JSON.stringify(muted) ||
    JSON.stringify(prefs.quiet_hours) !== JSON.stringify(saved.quiet_hours)
  );
}

/** "Quiet from 22:00 to 07:00 (overnight)." */
export function quietSummary(form: NotifyForm): string {
  const start = padTime(form.quietStart);
  const end = padTime(form.quietEnd);
  if (start === "" && end === "") return "No quiet hours: notifications show as alerts arrive.";
  if (!isClockTime(start) || !isClockTime(end) || start === end) return "";
  const night = start > end ? " (overnight)" : "";
  return `No notifications from ${start} to ${end}${night}, local time; what arrives meanwhile shows once they end.`;
}

export function notifyLabel(kind: AlertKind): string {
  return KIND_LABEL[kind];
}
