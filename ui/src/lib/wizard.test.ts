import { describe, expect, it } from "vitest";
import { key } from "../test/fixtures";
import type { KeyView, UsagePoint } from "./types";
import {
  DEFAULT_DRAIN_MS,
  formatClock,
  isGone,
  queueStatus,
  rotationTarget,
  wizardState,
  type WizardInput,
} from "./wizard";

const NOW = Date.parse("2026-03-12T12:00:00Z");
const MIN = 60_000;

/** A last-hour minute series: `fill(i)` for minute i (0 = an hour ago, 59 = the current minute). */
function series(fill: (i: number) => Partial<Omit<UsagePoint, "t">> = () => ({})): UsagePoint[] {
  const start = NOW - 59 * MIN;
  return Array.from({ length: 60 }, (_, i) => ({
    t: new Date(start + i * MIN).toISOString(),
    success: 0,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: 0,
    ...fill(i),
  }));
}

const at = (ms: number) => new Date(ms).toISOString();

function input(over: Partial<WizardInput> = {}): WizardInput {
  const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: at(NOW - 10 * MIN) });
  const replacement = key({ id: "key_new", replaces: "key_old" });
  return {
    old,
    replacement,
    oldPoints: series(),
    newPoints: series(),
    portalChecks: 0,
    verified: false,
    drainMs: DEFAULT_DRAIN_MS,
    now: NOW,
    ...over,
  };
}

describe("wizard steps", () => {
  it("step 1 without a replacement", () => {
    const s = wizardState(input({ replacement: null }));
    expect(s.step).toBe(1);
    expect(s.hasReplacement).toBe(false);
    expect(s.canRevoke).toBe(false);
    expect(s.whyNot).toMatch(/Create the replacement/);
  });

  it("step 1 again when the replacement was revoked or has expired", () => {
    const revoked = key({ id: "key_new", status: "revoked", revoked_at: at(NOW - MIN) });
    expect(wizardState(input({ replacement: revoked })).step).toBe(1);
    const expired = key({ id: "key_new", status: "expired", expires_at: at(NOW - MIN) });
    expect(wizardState(input({ replacement: expired })).step).toBe(1);
    // Past its expiry even though the view still says active.
    const lapsed = key({ id: "key_new", expires_at: at(NOW - 1) });
    expect(wizardState(input({ replacement: lapsed })).step).toBe(1);
    // Traffic of a dead replacement does not count.
    const s = wizardState(input({ replacement: revoked, newPoints: series(() => ({ success: 5 })) }));
    expect(s.newRequests).toBe(0);
    expect(s.trafficSeen).toBe(false);
  });

  it("step 2 while the application has not used the new key", () => {
    const s = wizardState(input());
    expect(s.step).toBe(2);
    expect(s.trafficSeen).toBe(false);
    expect(s.newFirstSeen).toBeNull();
    expect(s.canSkip).toBe(false);
    expect(s.whyNot).toMatch(/not used the new key/);
  });

  it("the portal's own checks are not the application's traffic", () => {
    // Two checks, nothing else: still step 2.
    const s = wizardState(input({ newPoints: series((i) => (i === 50 ? { success: 2 } : {})), portalChecks: 2 }));
    expect(s.step).toBe(2);
    expect(s.newRequests).toBe(0);
    expect(s.newServed).toBe(0);
    expect(s.newFirstSeen).toBeNull();
    // The checks' last use does not count either.
    const used = key({ id: "key_new", last_used_at: at(NOW - MIN) });
    expect(wizardState(input({ replacement: used, portalChecks: 2 })).step).toBe(2);
  });

  it("step 3 once traffic is seen, with the first-seen time and the served count", () => {
    const s = wizardState(
      input({
        newPoints: series((i) => (i >= 40 ? { success: 10, client_error: i === 45 ? 3 : 0 } : {})),
        portalChecks: 4,
      }),
    );
    expect(s.step).toBe(3);
    expect(s.trafficSeen).toBe(true);
    expect(s.newFirstSeen).toBe((NOW - 19 * MIN) / 1000);
    // 20 minutes × 10 successes + 3 errors, less the 4 checks.
    expect(s.newRequests).toBe(203 - 4);
    expect(s.newServed).toBe(200 - 4);
    expect(s.canSkip).toBe(true);
    expect(s.canRevoke).toBe(false);
    expect(s.whyNot).toMatch(/skip the check/);
  });

  it("traffic before the window counts when no check could have made it", () => {
    const used = key({ id: "key_new", last_used_at: at(NOW - 3 * 60 * MIN) });
    const s = wizardState(input({ replacement: used }));
    expect(s.step).toBe(3);
    expect(s.newFirstSeen).toBeNull();
    // But nothing was served in the window: revoking waits.
    const v = wizardState(input({ replacement: used, verified: true, old: key({ last_used_at: null }) }));
    expect(v.step).toBe(4);
    expect(v.canRevoke).toBe(false);
    expect(v.whyNot).toMatch(/not served a successful request/);
  });

  it("step 4 after verifying (or skipping); revoke waits for the drain window", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: at(NOW - 83_000) });
    const s = wizardState(input({ old, verified: true, newPoints: series((i) => (i > 50 ? { success: 1 } : {})) }));
    expect(s.step).toBe(4);
    expect(s.oldLastUsed).toBe(NOW - 83_000);
    expect(s.oldQuietMs).toBe(83_000);
    expect(s.drainRemainingMs).toBe(5 * MIN - 83_000);
    expect(s.canRevoke).toBe(false);
    expect(s.whyNot).toBe(
      "The old key was used 1:23 ago: wait until it has been quiet for 5:00, so no running instance still depends on it.",
    );
  });

  it("revoke is allowed once the old key has been quiet for the whole window", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: at(NOW - 5 * MIN) });
    const base = { old, verified: true, newPoints: series((i) => (i > 50 ? { success: 1 } : {})) };
    const s = wizardState(input(base));
    expect(s.drainRemainingMs).toBe(0);
    expect(s.canRevoke).toBe(true);
    expect(s.whyNot).toBeNull();
    // A second less quiet: one second left.
    const t = wizardState(input({ ...base, now: NOW - 1000 }));
    expect(t.drainRemainingMs).toBe(1000);
    expect(t.canRevoke).toBe(false);
    // A shorter window is drained sooner.
    expect(wizardState(input({ ...base, now: NOW - 4 * MIN, drainMs: 30_000 })).canRevoke).toBe(true);
  });

  it("a never used old key counts as quiet", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: null });
    const s = wizardState(input({ old, verified: true, newPoints: series((i) => (i === 59 ? { success: 1 } : {})) }));
    expect(s.oldLastUsed).toBeNull();
    expect(s.oldQuietMs).toBeNull();
    expect(s.drainRemainingMs).toBe(0);
    expect(s.canRevoke).toBe(true);
  });

  it("the old key's series counts as use when it is fresher than last_used_at", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: at(NOW - 30 * MIN) });
    const s = wizardState(
      input({ old, verified: true, oldPoints: series((i) => (i === 58 ? { denied: 1 } : {})), newPoints: series(() => ({ success: 1 })) }),
    );
    expect(s.oldLastUsed).toBe(NOW - MIN);
    expect(s.drainRemainingMs).toBe(4 * MIN);
  });

  it("revoke needs served traffic: checks alone are not enough", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", last_used_at: null });
    // 3 successes, 3 of them the portal's checks, plus some failures from the app.
    const s = wizardState(
      input({ old, verified: true, portalChecks: 3, newPoints: series((i) => (i === 55 ? { success: 3, client_error: 2 } : {})) }),
    );
    expect(s.step).toBe(4);
    expect(s.newServed).toBe(0);
    expect(s.canRevoke).toBe(false);
    expect(s.whyNot).toMatch(/not counting this portal's checks/);
  });

  it("done once the old key is revoked or expired", () => {
    const revoked = key({ id: "key_old", status: "revoked", revoked_at: at(NOW - MIN), replaced_by: "key_new" });
    const s = wizardState(input({ old: revoked }));
    expect(s.step).toBe("done");
    expect(s.canRevoke).toBe(false);
    expect(s.whyNot).toBeNull();
    const expired = key({ id: "key_old", expires_at: at(NOW - 1), replaced_by: "key_new" });
    expect(wizardState(input({ old: expired })).step).toBe("done");
    // Even without a replacement (e.g. revoked after a suspected compromise elsewhere).
    expect(wizardState(input({ old: revoked, replacement: null })).step).toBe("done");
  });

  it("a scheduled expiry in the future is not done yet", () => {
    const old = key({ id: "key_old", replaced_by: "key_new", expires_at: at(NOW + 60 * MIN) });
    expect(wizardState(input({ old, verified: true })).step).not.toBe("done");
    expect(isGone(old, NOW)).toBe(false);
  });
});

describe("countdown", () => {
  it("formats minutes and hours", () => {
    expect(formatClock(0)).toBe("0:00");
    expect(formatClock(5_999)).toBe("0:05");
    expect(formatClock(83_000)).toBe("1:23");
    expect(formatClock(5 * MIN)).toBe("5:00");
    expect(formatClock(15 * MIN)).toBe("15:00");
    expect(formatClock(60 * MIN)).toBe("1:00:00");
    expect(formatClock(-5)).toBe("0:00");
  });
});

describe("which rotation to open", () => {
  const old = key({ id: "k_old", replaced_by: "k_new" });
  const repl = key({ id: "k_new", replaces: "k_old" });
  const all = new Map<string, KeyView>([
    [old.id, old],
    [repl.id, repl],
  ]);
  const lookup = (id: string) => all.get(id);

  it("a key opens its own rotation", () => {
    expect(rotationTarget(old, lookup, NOW)).toBe("k_old");
  });

  it("a replacement whose old key is still active opens the old key's", () => {
    expect(rotationTarget(repl, lookup, NOW)).toBe("k_old");
  });

  it("a replacement whose old key is gone (or unknown, or relinked) opens its own", () => {
    const revoked = { ...old, status: "revoked" as const };
    expect(rotationTarget(repl, (id) => (id === old.id ? revoked : undefined), NOW)).toBe("k_new");
    expect(rotationTarget(repl, () => undefined, NOW)).toBe("k_new");
    const relinked = { ...old, replaced_by: "k_other" };
    expect(rotationTarget(repl, (id) => (id === old.id ? relinked : undefined), NOW)).toBe("k_new");
  });

  it("queue status from the links", () => {
    expect(queueStatus(undefined, lookup, NOW)).toBe("not_started");
    expect(queueStatus(key(), lookup, NOW)).toBe("not_started");
    expect(queueStatus(old, lookup, NOW)).toBe("in_progress");
    expect(queueStatus({ ...old, expires_at: at(NOW + MIN) }, lookup, NOW)).toBe("scheduled");
    expect(queueStatus({ ...old, status: "revoked" }, lookup, NOW)).toBe("done");
    const dead = { ...repl, status: "revoked" as const };
    expect(queueStatus(old, (id) => (id === repl.id ? dead : undefined), NOW)).toBe("not_started");
  });
});
