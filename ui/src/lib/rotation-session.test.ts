// The rotation wizard's session against a small in-memory service (mockIPC):
// step transitions, each action's error path, and the polls' cleanup.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { key, NOW, status } from "../test/fixtures";
import { app } from "./app.svelte";
import { POLL_MS, RotationSession } from "./rotation-session.svelte";
import { toasts } from "./toasts.svelte";
import type { KeyView, PortalError, ReplacementCheck, UsagePoint } from "./types";
import { GRACE_CHOICES } from "./wizard";
import { confirmed, forgetChecks } from "./wizard-session";

const MIN = 60_000;
const SECRET = "to_live_" + "c0ffee".repeat(5) + "ab12";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
/** The service: keys, their last hour per minute, and the portal's checks. */
let keys: Map<string, KeyView>;
let usage: Map<string, (i: number) => Partial<Omit<UsagePoint, "t">>>;
let portalChecks: number;
/** Per command, an answer that replaces the service's (e.g. a refusal). */
let override: Map<string, (args: Record<string, unknown>) => unknown>;
let session: RotationSession;
let stop: (() => void) | null;

const refusal = (code: PortalError["code"], message: string): PortalError => ({ code, message, retry_after: null });

function series(id: string): UsagePoint[] {
  const fill = usage.get(id) ?? (() => ({}));
  const start = Math.floor(Date.now() / MIN) * MIN - 59 * MIN;
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

function put(k: KeyView): KeyView {
  keys.set(k.id, k);
  return k;
}

function get(id: unknown): KeyView {
  const k = keys.get(String(id));
  if (!k) throw refusal("not_found", "No key with that id in this account.");
  return structuredClone(k);
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const sent = (cmd: string) => calls.filter((c) => c.cmd === cmd);
/** Lets the service's answers in (fake intervals, real timeouts). */
const settle = () => new Promise((r) => setTimeout(r, 0));

/** A promise the test resolves when it chooses. */
function held<T>() {
  let release!: (v: T) => void;
  const promise = new Promise<T>((r) => (release = r));
  return { promise, release };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
  vi.setSystemTime(NOW);
  calls = [];
  keys = new Map();
  usage = new Map();
  portalChecks = 0;
  override = new Map();
  mockIPC(async (cmd, raw) => {
    const args = raw as Record<string, unknown>;
    calls.push({ cmd, args });
    const o = override.get(cmd);
    if (o) return o(args);
    switch (cmd) {
      case "get_key":
        return get(args.id);
      case "key_usage":
        return { key_id: args.id, from: "", to: "", step: "minute", points: series(String(args.id)), endpoints: [], countries: [] };
      case "replacement_info":
        return { generated_here: true, portal_checks: portalChecks };
      case "rotate_key": {
        const old = keys.get(String(args.id))!;
        const n = put(key({ id: "key_new", name: old.name, replaces: old.id, last4: "ab12" }));
        old.replaced_by = n.id;
        return { key: structuredClone(n), secret: SECRET };
      }
      case "check_replacement":
        return { matches: true, checked_by: "hash", accepted: true, problem: null, portal_checks: ++portalChecks };
      case "revoke_key": {
        const k = keys.get(String(args.id))!;
        k.status = "revoked";
        k.revoked_at = new Date().toISOString();
        return structuredClone(k);
      }
      case "update_key": {
        const k = keys.get(String(args.id))!;
        Object.assign(k, args.patch);
        return structuredClone(k);
      }
      default:
        throw refusal("internal", `unexpected ${cmd}`);
    }
  });
  app.status = status();
  app.keys.items = [];
  app.once = null;
  app.view = "rotate";
  app.rotation = null;
  toasts.items = [];
  forgetChecks();
  session = new RotationSession();
  stop = null;
});

afterEach(() => {
  stop?.();
  clearMocks();
  vi.useRealTimers();
  app.rotation = null;
  app.once = null;
});

/** An old key and its replacement; the application already uses the new key when `traffic`. */
function pair(opts: { traffic?: boolean; oldUsedAgo?: number | null } = {}) {
  const old = put(
    key({
      id: "key_old",
      name: "Billing worker",
      replaced_by: "key_new",
      last4: "9f3c",
      last_used_at: opts.oldUsedAgo === null ? null : ago(opts.oldUsedAgo ?? 10 * MIN),
    }),
  );
  const repl = put(key({ id: "key_new", name: "Billing worker", replaces: "key_old", last4: "ab12" }));
  if (opts.traffic) usage.set(repl.id, (i) => (i >= 50 ? { success: 10 } : {}));
  return { old, repl };
}

/** Opens the pair at step 3 and skips the check: step 4. */
async function atRevoke(oldUsedAgo: number | null) {
  pair({ traffic: true, oldUsedAgo });
  await session.open("key_old");
  session.skip();
  expect(session.step).toBe(4);
}

describe("open", () => {
  it("with no key shows no rotation and asks nothing", async () => {
    await session.open(null);
    expect(session.loading).toBe(false);
    expect(session.oldId).toBeNull();
    expect(session.step).toBeNull();
    expect(session.live).toBe(false);
    expect(calls).toEqual([]);
  });

  it("follows the app's queue", () => {
    expect(session.queueId).toBeNull();
    app.rotation = { queue: ["key_a", "key_b"], index: 1 };
    expect(session.queueId).toBe("key_b");
    expect(session.queue).toEqual(["key_a", "key_b"]);
    expect(session.hasNext).toBe(false);
  });

  it("starts at the step the links and traffic show, with the evidence of the first poll", async () => {
    pair({ traffic: true });
    portalChecks = 2;
    await session.open("key_old");
    expect(session.loading).toBe(false);
    expect(session.step).toBe(3);
    expect(session.live).toBe(true);
    expect(session.newFor).toBe("key_new");
    expect(session.generatedHere).toBe(true);
    expect(session.portalChecks).toBe(2);
    // 100 successes in the window, 2 of them the portal's checks.
    expect(session.st?.newServed).toBe(98);
    expect(session.updatedAt).toBe(NOW);
    expect(session.chart?.kind).toBe("lines");
    expect(session.chartLabel).toMatch(/new key 100; new key first seen/);
    expect(sent("key_usage").map((c) => c.args.id)).toEqual(["key_old", "key_new"]);
  });

  it("opens the old key's rotation for a replacement", async () => {
    pair();
    await session.open("key_new");
    expect(session.oldId).toBe("key_old");
    expect(session.step).toBe(2);
    expect(session.oldLabel).toBe("Old key to_live_…9f3c");
  });

  it("says why when the key cannot be read", async () => {
    await session.open("key_gone");
    expect(session.loading).toBe(false);
    expect(session.loadError?.code).toBe("not_found");
    expect(session.oldId).toBeNull();
  });

  it("a failed first poll is a load error, not a poll error", async () => {
    pair();
    override.set("key_usage", () => {
      throw refusal("unreachable", "The key service is not answering.");
    });
    await session.open("key_old");
    expect(session.loadError?.code).toBe("unreachable");
    expect(session.pollError).toBeNull();
  });

  it("drops the answers for a key no longer shown", async () => {
    put(key({ id: "key_a" }));
    put(key({ id: "key_b" }));
    const slow = held<KeyView>();
    override.set("get_key", (args) => (args.id === "key_a" ? slow.promise : get(args.id)));
    const first = session.open("key_a");
    await session.open("key_b");
    slow.release(get("key_a"));
    await first;
    expect(session.oldId).toBe("key_b");
    expect(session.loading).toBe(false);
  });

  it("forgets the previous key's errors and pasted key", async () => {
    pair({ traffic: true });
    session.createError = refusal("conflict", "x");
    session.revokeError = refusal("conflict", "x");
    session.scheduleError = refusal("conflict", "x");
    session.pollError = refusal("conflict", "x");
    session.pasted = SECRET;
    session.anywayOpen = true;
    await session.open("key_old");
    expect(session.createError).toBeNull();
    expect(session.revokeError).toBeNull();
    expect(session.scheduleError).toBeNull();
    expect(session.pollError).toBeNull();
    expect(session.pasted).toBe("");
    expect(session.anywayOpen).toBe(false);
  });
});

describe("refresh", () => {
  it("does not poll at step 1", async () => {
    put(key({ id: "key_old" }));
    await session.open("key_old");
    expect(session.step).toBe(1);
    const before = calls.length;
    await session.refresh();
    expect(calls.length).toBe(before);
  });

  it("shows a failed poll and clears it with the next", async () => {
    pair();
    await session.open("key_old");
    override.set("key_usage", () => {
      throw refusal("unreachable", "The key service is not answering.");
    });
    await session.refresh();
    expect(session.pollError?.code).toBe("unreachable");
    expect(session.step).toBe(2);
    override.delete("key_usage");
    await session.refresh();
    expect(session.pollError).toBeNull();
  });

  it("asks for the replacement's info once", async () => {
    pair();
    await session.open("key_old");
    await session.refresh();
    await session.refresh();
    expect(sent("replacement_info")).toHaveLength(1);
  });

  it("moves to step 3 when the new key's first request shows", async () => {
    const { repl } = pair();
    await session.open("key_old");
    expect(session.step).toBe(2);
    expect(session.firstSeen).toBeNull();
    usage.set(repl.id, (i) => (i >= 58 ? { success: 4 } : {}));
    await session.refresh();
    expect(session.step).toBe(3);
    expect(session.firstSeen).toBe((Math.floor(NOW / MIN) * MIN - MIN) / 1000);
  });
});

describe("step 1: create the replacement", () => {
  it("creates it, hands it to the show-once dialog, and moves to step 2", async () => {
    put(key({ id: "key_old", name: "Billing worker" }));
    await session.open("key_old");
    expect(session.step).toBe(1);
    await session.create();
    expect(sent("rotate_key")).toEqual([{ cmd: "rotate_key", args: { id: "key_old" } }]);
    expect(app.once?.secret).toBe(SECRET);
    // The old key names its replacement at once.
    expect(app.keyById("key_old")?.replaced_by).toBe("key_new");
    expect(session.creating).toBe(false);
    expect(session.newFor).toBe("key_new");
    expect(session.generatedHere).toBe(true);
    expect(session.step).toBe(2);
  });

  it("keeps step 1 and says why when the service refuses", async () => {
    put(key({ id: "key_old" }));
    await session.open("key_old");
    override.set("rotate_key", () => {
      throw refusal("conflict", "this key was already rotated to key_x");
    });
    const before = sent("get_key").length;
    await session.create();
    expect(session.createError?.message).toMatch(/already rotated/);
    expect(session.creating).toBe(false);
    expect(app.once).toBeNull();
    expect(session.step).toBe(1);
    // It reads the key again: another portal may have rotated it.
    await settle();
    expect(sent("get_key").length).toBeGreaterThan(before);
  });

  it("creates one replacement however often it is asked", async () => {
    put(key({ id: "key_old" }));
    await session.open("key_old");
    await Promise.all([session.create(), session.create()]);
    expect(sent("rotate_key")).toHaveLength(1);
  });
});

describe("step 3: verify", () => {
  beforeEach(async () => {
    pair({ traffic: true });
    await session.open("key_old");
    expect(session.step).toBe(3);
  });

  it("a key the service accepts moves to step 4, and the pasted key is forgotten", async () => {
    override.set("check_replacement", (): ReplacementCheck => ({
      matches: true,
      checked_by: "service",
      accepted: true,
      problem: null,
      portal_checks: 1,
    }));
    session.pasted = `  ${SECRET}  `;
    await session.runCheck();
    expect(sent("check_replacement")).toEqual([{ cmd: "check_replacement", args: { id: "key_new", secret: SECRET } }]);
    expect(session.pasted).toBe("");
    expect(session.checking).toBe(false);
    expect(session.portalChecks).toBe(1);
    expect(session.confirmation).toEqual({ how: "checked", by: "service" });
    expect(session.step).toBe(4);
  });

  it("a different key stays at step 3 with the verdict", async () => {
    override.set("check_replacement", (): ReplacementCheck => ({
      matches: false,
      checked_by: "hash",
      accepted: false,
      problem: "This key ends in …0000.",
      portal_checks: 0,
    }));
    session.pasted = "to_live_olderkey0000";
    await session.runCheck();
    expect(session.check?.matches).toBe(false);
    expect(session.pasted).toBe("");
    expect(session.step).toBe(3);
  });

  it("a refused check is an error, and the pasted key is forgotten", async () => {
    override.set("check_replacement", () => {
      throw refusal("invalid", "That is not an API key of this service.");
    });
    session.pasted = "hello";
    await session.runCheck();
    expect(session.checkError?.code).toBe("invalid");
    expect(session.check).toBeNull();
    expect(session.pasted).toBe("");
    expect(session.step).toBe(3);
  });

  it("sends nothing for an empty paste", async () => {
    session.pasted = "   ";
    await session.runCheck();
    expect(sent("check_replacement")).toEqual([]);
  });

  it("skipping the check moves to step 4", () => {
    session.skip();
    expect(session.confirmation).toEqual({ how: "skipped" });
    expect(session.step).toBe(4);
  });
});

describe("skip", () => {
  it("is refused before the application uses the new key", async () => {
    pair();
    await session.open("key_old");
    session.skip();
    expect(confirmed.size).toBe(0);
    expect(session.step).toBe(2);
  });
});

describe("step 4: revoke the old key", () => {
  it("revokes once the old key has drained", async () => {
    await atRevoke(null);
    expect(session.st?.canRevoke).toBe(true);
    await session.revoke();
    expect(sent("revoke_key")).toEqual([{ cmd: "revoke_key", args: { id: "key_old" } }]);
    expect(session.revoking).toBe(false);
    expect(session.step).toBe("done");
  });

  it("refuses before the drain window is over, until Revoke anyway is confirmed", async () => {
    await atRevoke(10_000);
    expect(session.st?.canRevoke).toBe(false);
    await session.revoke();
    expect(sent("revoke_key")).toEqual([]);

    session.openAnyway();
    expect(session.anywayOpen).toBe(true);
    expect(session.anywayUnderstood).toBe(false);
    await session.revoke();
    expect(sent("revoke_key")).toEqual([]);

    session.anywayUnderstood = true;
    await session.revoke();
    expect(sent("revoke_key")).toHaveLength(1);
    expect(session.anywayOpen).toBe(false);
    expect(session.step).toBe("done");
  });

  it("keeps Revoke anyway open and says why when the service refuses", async () => {
    await atRevoke(10_000);
    override.set("revoke_key", () => {
      throw refusal("unreachable", "The key service is not answering.");
    });
    session.openAnyway();
    session.anywayUnderstood = true;
    await session.revoke();
    expect(session.revokeError?.code).toBe("unreachable");
    expect(session.revoking).toBe(false);
    expect(session.anywayOpen).toBe(true);
    expect(session.step).toBe(4);
    // Opening it again starts without the old error.
    session.closeAnyway();
    session.openAnyway();
    expect(session.revokeError).toBeNull();
  });

  it("Revoke anyway cannot be closed while the revoke runs", async () => {
    await atRevoke(10_000);
    const slow = held<KeyView>();
    override.set("revoke_key", () => slow.promise);
    session.openAnyway();
    session.anywayUnderstood = true;
    const revoking = session.revoke();
    expect(session.revoking).toBe(true);
    session.closeAnyway();
    expect(session.anywayOpen).toBe(true);
    slow.release({ ...get("key_old"), status: "revoked", revoked_at: new Date().toISOString() });
    await revoking;
    expect(session.anywayOpen).toBe(false);
  });

  it("or schedules the old key's expiry after the grace period", async () => {
    await atRevoke(10_000);
    expect(session.graceMs).toBe(GRACE_CHOICES[1]!.ms);
    session.graceMs = GRACE_CHOICES[2]!.ms;
    await session.schedule();
    const at = new Date(NOW + GRACE_CHOICES[2]!.ms).toISOString();
    expect(sent("update_key")).toEqual([{ cmd: "update_key", args: { id: "key_old", patch: { expires_at: at } } }]);
    expect(session.old?.expires_at).toBe(at);
    expect(session.scheduling).toBe(false);
    expect(toasts.items.map((t) => t.text)).toEqual([expect.stringMatching(/stops working in 7 days/)]);
  });

  it("says why a schedule was refused", async () => {
    await atRevoke(10_000);
    override.set("update_key", () => {
      throw refusal("invalid", "expires_at is in the past");
    });
    await session.schedule();
    expect(session.scheduleError?.code).toBe("invalid");
    expect(session.scheduling).toBe(false);
    expect(session.old?.expires_at).toBeNull();
  });
});

describe("polls and their cleanup", () => {
  it("polls every 3 s and ticks the clock every second; stopping clears both", async () => {
    pair();
    await session.open("key_old");
    stop = session.start();
    expect(vi.getTimerCount()).toBe(2);

    const before = sent("get_key").length;
    vi.advanceTimersByTime(1_000);
    expect(session.now).toBe(NOW + 1_000);
    vi.advanceTimersByTime(POLL_MS - 1_000);
    await settle();
    expect(sent("get_key").length).toBeGreaterThan(before);
    expect(session.updatedAt).toBe(NOW + POLL_MS);

    stop();
    stop = null;
    expect(vi.getTimerCount()).toBe(0);
    const after = calls.length;
    vi.advanceTimersByTime(10 * POLL_MS);
    await settle();
    expect(calls.length).toBe(after);
    expect(session.now).toBe(NOW + POLL_MS);
  });

  it("pauses while the window is hidden and refreshes when it shows again", async () => {
    pair();
    await session.open("key_old");
    stop = session.start();
    const before = calls.length;
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    try {
      document.dispatchEvent(new Event("visibilitychange"));
      expect(session.hidden).toBe(true);
      vi.advanceTimersByTime(3 * POLL_MS);
      await settle();
      expect(calls.length).toBe(before);
      expect(session.now).toBe(NOW);
    } finally {
      Object.defineProperty(document, "hidden", { value: false, configurable: true });
    }
    document.dispatchEvent(new Event("visibilitychange"));
    expect(session.hidden).toBe(false);
    expect(session.now).toBe(NOW + 3 * POLL_MS);
    await settle();
    expect(calls.length).toBeGreaterThan(before);
  });

  it("stopping forgets the pasted key and stops listening for the window", async () => {
    pair({ traffic: true });
    await session.open("key_old");
    stop = session.start();
    session.pasted = SECRET;
    stop();
    stop = null;
    expect(session.pasted).toBe("");
    const before = calls.length;
    document.dispatchEvent(new Event("visibilitychange"));
    await settle();
    expect(calls.length).toBe(before);
  });
});

describe("queue", () => {
  it("moves between the keys and back to the key list", () => {
    app.rotation = { queue: ["key_a", "key_b"], index: 0 };
    expect(session.hasNext).toBe(true);
    session.go(5);
    expect(app.rotation.index).toBe(0);
    session.go(1);
    expect(app.rotation.index).toBe(1);
    expect(session.hasNext).toBe(false);
    session.backToKeys();
    expect(app.rotation).toBeNull();
    expect(app.view).toBe("keys");
  });

  it("each queued key's status comes from the key list", () => {
    app.keys.items = [
      key({ id: "key_a", status: "revoked", revoked_at: ago(MIN), replaced_by: "key_a2" }),
      key({ id: "key_a2", replaces: "key_a" }),
      key({ id: "key_b" }),
    ];
    expect(session.statusOf("key_a")).toBe("done");
    expect(session.statusOf("key_b")).toBe("not_started");
    expect(session.statusOf("key_unknown")).toBe("not_started");
  });
});
