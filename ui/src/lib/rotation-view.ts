// The rotation wizard's view logic (pure): the stepper, the check verdict,
// the live panel's chart and times, and how a poll's answers update the
// evidence. The session (rotation-session.svelte.ts) holds the state.
import { formatNumber, formatSeconds, relativeTime } from "./format";
import type { CheckedBy, KeyView, ReplacementCheck, ReplacementInfo, UsagePoint } from "./types";
import { compareSeries, formatBucket } from "./usage";
import type { ChartInput } from "./usage-plot";
import { queueStatus, rotationTarget, type QueueStatus, type WizardStep } from "./wizard";

export const STEPS: readonly { n: 1 | 2 | 3 | 4; label: string }[] = [
  { n: 1, label: "Create the replacement" },
  { n: 2, label: "Update your application" },
  { n: 3, label: "Verify" },
  { n: 4, label: "Revoke the old key" },
];

export type StepState = "done" | "current" | "todo";

/** How step `n` shows in the stepper while the wizard is at `step`. */
export function stepState(step: WizardStep | null, n: number): StepState {
  if (step === "done") return "done";
  if (step === null) return "todo";
  return n < step ? "done" : n === step ? "current" : "todo";
}

/** The steps that show the live panel (both keys are watched). */
export function isLive(step: WizardStep | null): boolean {
  return step === 2 || step === 3 || step === 4;
}

export type Verdict = { tone: "ok" | "warn" | "bad"; title: string };

export function checkVerdict(c: ReplacementCheck): Verdict {
  if (c.matches && c.accepted) return { tone: "ok", title: "This is the new key, and the service accepts it." };
  if (c.matches) return { tone: "warn", title: "This is the new key, but the service does not accept it." };
  return { tone: "bad", title: "This is not the new key." };
}

export const CHECKED_BY: Record<CheckedBy, string> = {
  hash: "matched by hash here, where the key was generated",
  service: "matched by the service",
};

/** "12 s ago" within the hour, then relative ("3 hours ago"); "never" for null. */
export function agoText(ms: number | null, now: number): string {
  if (ms === null) return "never";
  const d = now - ms;
  if (d < 3_600_000) return `${formatSeconds(Math.max(0, d) / 1000)} ago`;
  return relativeTime(new Date(ms).toISOString(), now);
}

/** Both keys' last hour per minute, with the new key's first request marked. */
export function compareChart(
  lines: { oldLabel: string; oldPoints: readonly UsagePoint[]; newLabel: string; newPoints: readonly UsagePoint[] },
  firstSeen: number | null,
): ChartInput {
  const series = compareSeries([
    { label: lines.oldLabel, points: lines.oldPoints },
    { label: lines.newLabel, points: lines.newPoints },
  ]);
  const markers = firstSeen === null ? [] : [{ at: firstSeen, label: "New key first seen" }];
  return { kind: "lines", series, step: "minute", markers };
}

/** The chart's text for screen readers. */
export function compareChartLabel(chart: ChartInput | null, firstSeen: number | null): string {
  if (!chart || chart.kind !== "lines") return "";
  const [o, n] = chart.series.lines;
  const seen = firstSeen === null ? "not seen yet" : `first seen ${formatBucket(firstSeen, "minute")}`;
  return (
    `Requests per minute over the last hour: old key ${formatNumber(o?.total ?? 0)}, ` +
    `new key ${formatNumber(n?.total ?? 0)}; new key ${seen}.`
  );
}

/** What a poll learns, besides the keys themselves. */
export type Evidence = {
  oldPoints: UsagePoint[];
  newPoints: UsagePoint[];
  /** The replacement `newPoints` and `portalChecks` belong to. */
  newFor: string | null;
  portalChecks: number;
  generatedHere: boolean | null;
};

export type PollAnswers = {
  /** The old key's `replaced_by`. */
  rid: string | null;
  oldPoints: UsagePoint[];
  /** The replacement's usage; null when there is none or it could not be read. */
  newPoints: UsagePoint[] | null;
  info: ReplacementInfo | null;
};

/** Whether a poll should ask for the replacement's info (once per replacement). */
export function needsInfo(rid: string | null, ev: Pick<Evidence, "newFor" | "generatedHere">): boolean {
  return rid !== null && (ev.newFor !== rid || ev.generatedHere === null);
}

/** The evidence after a poll; a new replacement starts its check count afresh. */
export function applyPoll(ev: Evidence, a: PollAnswers): Evidence {
  const next = { ...ev, oldPoints: a.oldPoints };
  if (a.rid && a.newPoints) {
    if (next.newFor !== a.rid) next.portalChecks = 0;
    next.newPoints = a.newPoints;
    next.newFor = a.rid;
  }
  if (a.info) {
    next.generatedHere = a.info.generated_here;
    next.portalChecks = Math.max(next.portalChecks, a.info.portal_checks);
  }
  return next;
}

/** Revoke is allowed when the wizard calls it safe, or, via "Revoke anyway…", once the risk is acknowledged. */
export function mayRevoke(o: { anywayOpen: boolean; anywayUnderstood: boolean; canRevoke: boolean }): boolean {
  return o.anywayOpen ? o.anywayUnderstood : o.canRevoke;
}

/** A queued key's rotation status (a replacement in the queue stands for its old key's rotation). */
export function queuedStatus(id: string, lookup: (id: string) => KeyView | undefined, now: number): QueueStatus {
  const k = lookup(id);
  const target = k ? lookup(rotationTarget(k, lookup, now)) : undefined;
  return queueStatus(target, lookup, now);
}
