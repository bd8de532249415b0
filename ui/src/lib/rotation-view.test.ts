import { describe, expect, it } from "vitest";
import { key } from "../test/fixtures";
import { relativeTime } from "./format";
import {
  agoText,
  applyPoll,
  checkVerdict,
  compareChart,
  compareChartLabel,
  isLive,
  mayRevoke,
  needsInfo,
  queuedStatus,
  STEPS,
  stepState,
  type Evidence,
} from "./rotation-view";
import type { KeyView, ReplacementCheck, UsagePoint } from "./types";

const NOW = Date.parse("2026-03-12T12:00:00Z");
const MIN = 60_000;

function point(ms: number, success: number): UsagePoint {
  return { t: new Date(ms).toISOString(), success, client_error: 0, server_error: 0, rate_limited: 0, denied: 0, would_deny: 0 };
}

const check = (over: Partial<ReplacementCheck>): ReplacementCheck => ({
  matches: true,
  checked_by: "hash",
  accepted: true,
  problem: null,
  portal_checks: 0,
  ...over,
});

describe("stepper", () => {
  it("has the four steps in order", () => {
    expect(STEPS.map((s) => s.n)).toEqual([1, 2, 3, 4]);
  });

  it("marks the steps before the current one done", () => {
    expect([1, 2, 3, 4].map((n) => stepState(3, n))).toEqual(["done", "done", "current", "todo"]);
    expect([1, 2, 3, 4].map((n) => stepState(1, n))).toEqual(["current", "todo", "todo", "todo"]);
  });

  it("every step is done once the old key is gone, and to do before the key is loaded", () => {
    expect([1, 2, 3, 4].map((n) => stepState("done", n))).toEqual(["done", "done", "done", "done"]);
    expect([1, 2, 3, 4].map((n) => stepState(null, n))).toEqual(["todo", "todo", "todo", "todo"]);
  });

  it("watches the keys from step 2 to step 4", () => {
    expect([null, 1, 2, 3, 4, "done"].map((s) => isLive(s as Parameters<typeof isLive>[0]))).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
  });
});

describe("checkVerdict", () => {
  it("tells a match the service accepts, one it refuses, and another key apart", () => {
    expect(checkVerdict(check({})).tone).toBe("ok");
    expect(checkVerdict(check({ accepted: false }))).toEqual({
      tone: "warn",
      title: "This is the new key, but the service does not accept it.",
    });
    expect(checkVerdict(check({ matches: false, accepted: false })).tone).toBe("bad");
  });
});

describe("agoText", () => {
  it("counts seconds and minutes within the hour, then says it relatively", () => {
    expect(agoText(null, NOW)).toBe("never");
    expect(agoText(NOW - 5_000, NOW)).toBe("5 s ago");
    expect(agoText(NOW - 90_000, NOW)).toBe("1 min 30 s ago");
    // A clock a little behind the service's never reads as the future.
    expect(agoText(NOW + 5_000, NOW)).toBe("0 s ago");
    expect(agoText(NOW - 3 * 60 * MIN, NOW)).toBe(relativeTime(new Date(NOW - 3 * 60 * MIN).toISOString(), NOW));
  });
});

describe("the live panel's chart", () => {
  const lines = {
    oldLabel: "Old key …9f3c",
    oldPoints: [point(NOW - 2 * MIN, 7), point(NOW - MIN, 3)],
    newLabel: "New key …ab12",
    newPoints: [point(NOW - MIN, 4)],
  };

  it("draws both keys per minute and marks the new key's first request", () => {
    const seen = (NOW - MIN) / 1000;
    const chart = compareChart(lines, seen);
    expect(chart.kind).toBe("lines");
    if (chart.kind !== "lines") return;
    expect(chart.step).toBe("minute");
    expect(chart.series.lines.map((l) => [l.label, l.total])).toEqual([
      ["Old key …9f3c", 10],
      ["New key …ab12", 4],
    ]);
    expect(chart.markers).toEqual([{ at: seen, label: "New key first seen" }]);
    expect(compareChartLabel(chart, seen)).toBe(
      "Requests per minute over the last hour: old key 10, new key 4; new key first seen 12 Mar 11:59 UTC.",
    );
  });

  it("has no marker before the new key is seen", () => {
    const chart = compareChart({ ...lines, newPoints: [] }, null);
    expect(chart.markers).toEqual([]);
    expect(compareChartLabel(chart, null)).toMatch(/new key 0; new key not seen yet\.$/);
    expect(compareChartLabel(null, null)).toBe("");
  });
});

describe("applyPoll", () => {
  const ev: Evidence = {
    oldPoints: [],
    newPoints: [point(NOW, 1)],
    newFor: "key_new",
    portalChecks: 3,
    generatedHere: true,
  };

  it("takes both series and keeps the larger check count", () => {
    const oldPoints = [point(NOW, 5)];
    const newPoints = [point(NOW, 9)];
    const info = { generated_here: true, portal_checks: 2 };
    expect(applyPoll(ev, { rid: "key_new", oldPoints, newPoints, info })).toEqual({
      ...ev,
      oldPoints,
      newPoints,
    });
  });

  it("starts the check count afresh for a new replacement", () => {
    const next = applyPoll(ev, { rid: "key_newer", oldPoints: [], newPoints: [], info: null });
    expect(next).toMatchObject({ newFor: "key_newer", portalChecks: 0, newPoints: [] });
    const info = { generated_here: false, portal_checks: 1 };
    expect(applyPoll(ev, { rid: "key_newer", oldPoints: [], newPoints: [], info })).toMatchObject({
      portalChecks: 1,
      generatedHere: false,
    });
  });

  it("keeps the new key's evidence when its usage could not be read", () => {
    const next = applyPoll(ev, { rid: "key_newer", oldPoints: [], newPoints: null, info: null });
    expect(next).toMatchObject({ newFor: "key_new", portalChecks: 3, newPoints: ev.newPoints });
  });

  it("asks for a replacement's info once", () => {
    expect(needsInfo(null, ev)).toBe(false);
    expect(needsInfo("key_new", ev)).toBe(false);
    expect(needsInfo("key_newer", ev)).toBe(true);
    expect(needsInfo("key_new", { ...ev, generatedHere: null })).toBe(true);
  });
});

describe("mayRevoke", () => {
  it("needs the wizard's word, or the risk acknowledged in Revoke anyway", () => {
    expect(mayRevoke({ anywayOpen: false, anywayUnderstood: false, canRevoke: true })).toBe(true);
    expect(mayRevoke({ anywayOpen: false, anywayUnderstood: true, canRevoke: false })).toBe(false);
    expect(mayRevoke({ anywayOpen: true, anywayUnderstood: false, canRevoke: true })).toBe(false);
    expect(mayRevoke({ anywayOpen: true, anywayUnderstood: true, canRevoke: false })).toBe(true);
  });
});

describe("queuedStatus", () => {
  it("a replacement in the queue stands for its old key's rotation", () => {
    const keys = new Map<string, KeyView>();
    for (const k of [
      key({ id: "key_old", replaced_by: "key_new" }),
      key({ id: "key_new", replaces: "key_old" }),
      key({ id: "key_b" }),
    ]) {
      keys.set(k.id, k);
    }
    const lookup = (id: string) => keys.get(id);
    expect(queuedStatus("key_new", lookup, NOW)).toBe("in_progress");
    expect(queuedStatus("key_old", lookup, NOW)).toBe("in_progress");
    expect(queuedStatus("key_b", lookup, NOW)).toBe("not_started");
    expect(queuedStatus("key_missing", lookup, NOW)).toBe("not_started");
  });
});
