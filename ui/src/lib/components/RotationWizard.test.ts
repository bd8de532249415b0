// The rotation wizard against a small in-memory service (mockIPC), with the
// chart's uPlot swapped for a recorder (jsdom has no canvas).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { key, NOW, status } from "../../test/fixtures";
import { recordPlots, type MadePlot } from "../../test/plot-recorder";
import WizardHarness from "../../test/WizardHarness.svelte";
import { api } from "../api";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { KeyView, ReplacementCheck, UsagePoint } from "../types";
import { forgetChecks } from "../wizard-session";

const MIN = 60_000;
const SECRET = "to_live_" + "c0ffee".repeat(5) + "ab12";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let made: MadePlot[];
let restorePlots: () => void;

/** The service: keys, their last hour per minute, and the portal's checks. */
let keys: Map<string, KeyView>;
let usage: Map<string, (i: number) => Partial<Omit<UsagePoint, "t">>>;
let portalChecks: number;
let onCheck: (id: string, secret: string) => ReplacementCheck | Promise<ReplacementCheck>;

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
  if (!k) throw { code: "not_found", message: "No key with that id in this account.", retry_after: null };
  return structuredClone(k);
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
  vi.setSystemTime(NOW);
  ({ made, restore: restorePlots } = recordPlots());
  calls = [];
  keys = new Map();
  usage = new Map();
  portalChecks = 0;
  onCheck = () => ({ matches: true, checked_by: "hash", accepted: true, problem: null, portal_checks: ++portalChecks });
  mockIPC(async (cmd, raw) => {
    const args = raw as Record<string, unknown>;
    calls.push({ cmd, args });
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
        return onCheck(String(args.id), String(args.secret));
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
        throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    }
  });
  app.status = status();
  app.keys.items = [];
  app.once = null;
  app.view = "rotate";
  toasts.items = [];
  forgetChecks();
});

afterEach(() => {
  clearMocks();
  restorePlots();
  vi.useRealTimers();
  app.rotation = null;
  app.once = null;
});

function open(...ids: string[]) {
  app.rotation = { queue: ids, index: 0 };
  return render(WizardHarness);
}

/** Text with whitespace runs collapsed (templates wrap lines). */
const text = (id: string) => (screen.getByTestId(id).textContent ?? "").replace(/\s+/g, " ");

const current = () => screen.getByTestId("wizard").querySelector('[aria-current="step"]')?.getAttribute("data-testid");

async function atStep(n: 1 | 2 | 3 | 4) {
  await waitFor(() => expect(current()).toBe(`wizard-step-${n}`));
}

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

/** Clock and polls forward (fake setInterval and Date; promises run for real). */
async function advance(ms: number) {
  vi.advanceTimersByTime(ms);
  await Promise.resolve();
}

describe("step 1: create the replacement", () => {
  it("creates it, shows it once, and goes on to step 2 when the dialog closes", async () => {
    const old = put(key({ id: "key_old", name: "Billing worker", last_used_at: ago(MIN), resources: ["project:billing"] }));
    open(old.id);
    await atStep(1);
    const step1 = screen.getByTestId("wizard-step-1");
    expect(step1.dataset.state).toBe("current");
    expect(screen.getByTestId("wizard").textContent).toMatch(/old key keeps working/);

    await fireEvent.click(screen.getByTestId("wizard-create"));
    await waitFor(() => expect(screen.getByTestId("show-once-dialog")).toBeTruthy());
    expect(screen.getByTestId("show-once-secret").textContent).toBe(SECRET);
    expect(calls.filter((c) => c.cmd === "rotate_key")).toEqual([{ cmd: "rotate_key", args: { id: old.id } }]);
    // The old key names its replacement at once.
    expect(app.keyById(old.id)?.replaced_by).toBe("key_new");

    await fireEvent.click(screen.getByTestId("stored-it"));
    await waitFor(() => expect(screen.queryByTestId("show-once-dialog")).toBeNull());
    await atStep(2);
    expect(screen.getByTestId("wizard-step-1").dataset.state).toBe("done");
    expect(app.once).toBeNull();
    // The raw key is nowhere on the page any more.
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it("keeps step 1 and says why when the service refuses", async () => {
    const old = put(key({ id: "key_old" }));
    open(old.id);
    await atStep(1);
    const refuse = api.rotateKey;
    api.rotateKey = () => Promise.reject({ code: "conflict", message: "this key was already rotated to key_x", retry_after: null });
    try {
      await fireEvent.click(screen.getByTestId("wizard-create"));
      await waitFor(() => expect(screen.getByTestId("wizard-create-error").textContent).toMatch(/already rotated/));
    } finally {
      api.rotateKey = refuse;
    }
    expect(app.once).toBeNull();
  });
});

describe("step 2: update your application", () => {
  it("watches both keys every 3 s and marks when the new key is first seen", async () => {
    const { repl } = pair();
    open("key_old");
    await atStep(2);
    expect(text("wizard")).toMatch(/environment variable/);
    expect(text("wizard")).toMatch(/secret manager/);
    expect(screen.getByTestId("wizard-first-seen").textContent).toMatch(/Waiting for the first request/);
    expect(screen.getByTestId("wizard-chart")).toBeTruthy();
    const usageCalls = () => calls.filter((c) => c.cmd === "key_usage");
    expect(usageCalls().map((c) => c.args)).toEqual([
      { id: "key_old", range: "1h", step: "minute" },
      { id: "key_new", range: "1h", step: "minute" },
    ]);

    // The application is redeployed: requests with the new key from minute 58.
    usage.set(repl.id, (i) => (i >= 58 ? { success: 4 } : {}));
    repl.last_used_at = ago(5_000);
    await advance(3_000);
    await waitFor(() => expect(screen.getByTestId("wizard-first-seen").textContent).toMatch(/New key first seen/));
    const seenAt = (Math.floor(NOW / MIN) * MIN - MIN) / 1000;
    expect(screen.getByTestId("wizard-first-seen").dataset.seen).toBe(String(seenAt));
    expect(screen.getByTestId("wizard-first-seen").textContent).toMatch(/11:59 UTC/);
    await atStep(3);
    expect(usageCalls().length).toBeGreaterThanOrEqual(4);
    // The chart got the new data, not a new plot.
    expect(made).toHaveLength(1);
    expect(made[0]!.updates).toBeGreaterThan(0);
  });

  it("pauses while the window is hidden", async () => {
    pair();
    open("key_old");
    await atStep(2);
    const before = calls.length;
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    try {
      await advance(9_000);
      expect(calls.length).toBe(before);
    } finally {
      Object.defineProperty(document, "hidden", { value: false, configurable: true });
    }
  });
});

describe("step 3: verify", () => {
  it("keeps the pasted key only until the check returns, and states each result", async () => {
    pair({ traffic: true });
    portalChecks = 2;
    open("key_old");
    await atStep(3);
    // 100 successes in the window, 2 of them the portal's checks.
    expect(text("wizard-served")).toMatch(/served 98 successful requests .* not counting this portal's 2 checks/);

    const input = screen.getByTestId("wizard-check-input") as HTMLInputElement;
    expect(input.type).toBe("password");
    expect(screen.getByLabelText("Paste the key from your application's configuration")).toBe(input);

    // Not the new key.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    onCheck = async (id, secret) => {
      await held;
      expect(id).toBe("key_new");
      expect(secret).toBe("to_live_olderkey0000");
      return {
        matches: false,
        checked_by: "hash",
        accepted: false,
        problem: "This key ends in …0000, but the new key ends in …ab12. Paste the key from your application's configuration.",
        portal_checks: 2,
      };
    };
    await fireEvent.input(input, { target: { value: "to_live_olderkey0000" } });
    await fireEvent.click(screen.getByTestId("wizard-check-button"));
    // While the check runs the key is still in the input, and only there.
    expect(input.value).toBe("to_live_olderkey0000");
    release();
    await waitFor(() => expect(screen.getByTestId("wizard-check-result").dataset.tone).toBe("bad"));
    expect(input.value).toBe("");
    expect(screen.getByTestId("wizard-check-result").textContent).toMatch(/This is not the new key/);
    expect(screen.getByTestId("wizard-check-problem").textContent).toMatch(/ends in …0000/);

    // The new key, but the service refuses it.
    onCheck = () => ({
      matches: true,
      checked_by: "hash",
      accepted: false,
      problem: "The service does not accept this key: it is revoked.",
      portal_checks: 3,
    });
    await fireEvent.input(input, { target: { value: SECRET } });
    await fireEvent.click(screen.getByTestId("wizard-check-button"));
    await waitFor(() => expect(screen.getByTestId("wizard-check-result").dataset.tone).toBe("warn"));
    expect(screen.getByTestId("wizard-check-result").textContent).toMatch(/matched by hash.*did not accept/s);
    expect(input.value).toBe("");
    expect(text("wizard-served")).toMatch(/served 97 successful/);

    // Not a key at all.
    onCheck = () => {
      throw { code: "invalid", message: "That is not an API key of this service.", retry_after: null };
    };
    await fireEvent.input(input, { target: { value: "hello" } });
    await fireEvent.click(screen.getByTestId("wizard-check-button"));
    await waitFor(() => expect(screen.getByTestId("wizard-check-result").dataset.tone).toBe("error"));
    expect(screen.getByTestId("wizard-check-result").textContent).toMatch(/not an API key/);
    expect(input.value).toBe("");

    // The new key, accepted: on to step 4, which says how it was checked.
    onCheck = () => ({ matches: true, checked_by: "service", accepted: true, problem: null, portal_checks: 4 });
    await fireEvent.input(input, { target: { value: SECRET } });
    await fireEvent.click(screen.getByTestId("wizard-check-button"));
    await atStep(4);
    expect(screen.getByTestId("wizard-verified").textContent).toMatch(/is the new key \(matched by the service, accepted/);
    expect(screen.getByTestId("wizard-step-3").dataset.state).toBe("done");
  });

  it("Skip is offered once traffic is seen", async () => {
    pair({ traffic: true });
    open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    expect(screen.getByTestId("wizard-verified").textContent).toMatch(/Check skipped/);
  });
});

describe("step 4: revoke the old key", () => {
  it("enables Revoke only once the old key has been quiet for the drain window", async () => {
    pair({ traffic: true, oldUsedAgo: 290_000 });
    open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    const revoke = screen.getByTestId("wizard-revoke") as HTMLButtonElement;
    expect((screen.getByTestId("wizard-drain") as HTMLSelectElement).value).toBe(String(5 * MIN));
    expect(screen.getByTestId("wizard-countdown").textContent).toMatch(/Old key quiet for 4:50 of 5:00/);
    expect(revoke.disabled).toBe(true);
    expect(screen.getByTestId("wizard-why-not").textContent).toMatch(/used 4:50 ago: wait until it has been quiet for 5:00/);

    await advance(5_000);
    await waitFor(() => expect(screen.getByTestId("wizard-countdown").textContent).toMatch(/quiet for 4:55 of 5:00/));
    expect(revoke.disabled).toBe(true);
    await advance(5_000);
    await waitFor(() => expect(screen.getByTestId("wizard-countdown").textContent).toMatch(/quiet for 5:00 of 5:00/));
    expect(revoke.disabled).toBe(false);
    expect(screen.queryByTestId("wizard-why-not")).toBeNull();
    expect(screen.queryByTestId("wizard-revoke-anyway")).toBeNull();

    await fireEvent.click(revoke);
    await waitFor(() => expect(screen.getByTestId("wizard-done")).toBeTruthy());
    expect(calls.filter((c) => c.cmd === "revoke_key")).toEqual([{ cmd: "revoke_key", args: { id: "key_old" } }]);
    expect(screen.getByTestId("wizard-done").textContent).toMatch(/Billing worker.*revoked/);
    for (const n of [1, 2, 3, 4]) expect(screen.getByTestId(`wizard-step-${n}`).dataset.state).toBe("done");
  });

  it("a shorter drain window is over sooner", async () => {
    pair({ traffic: true, oldUsedAgo: 45_000 });
    open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    expect((screen.getByTestId("wizard-revoke") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.change(screen.getByTestId("wizard-drain"), { target: { value: String(30_000) } });
    await waitFor(() => expect((screen.getByTestId("wizard-revoke") as HTMLButtonElement).disabled).toBe(false));
    expect(screen.getByTestId("wizard-countdown").textContent).toMatch(/quiet for 0:30 of 0:30/);
  });

  it("Revoke anyway names the risk and needs the checkbox", async () => {
    pair({ traffic: true, oldUsedAgo: 10_000 });
    open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    await fireEvent.click(screen.getByTestId("wizard-revoke-anyway"));
    const dialog = await screen.findByTestId("wizard-anyway-dialog");
    expect(dialog.textContent).toMatch(/Revoke “Billing worker” now\?/);
    expect(dialog.textContent).toMatch(/still using the old key will fail with 401/);
    const confirm = within(dialog).getByTestId("wizard-anyway-confirm") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await fireEvent.click(confirm);
    expect(calls.some((c) => c.cmd === "revoke_key")).toBe(false);

    await fireEvent.click(within(dialog).getByTestId("wizard-anyway-check"));
    expect(confirm.disabled).toBe(false);
    await fireEvent.click(confirm);
    await waitFor(() => expect(screen.getByTestId("wizard-done")).toBeTruthy());
    expect(screen.queryByTestId("wizard-anyway-dialog")).toBeNull();
    expect(calls.filter((c) => c.cmd === "revoke_key")).toHaveLength(1);
  });

  it("or schedules the old key's expiry", async () => {
    pair({ traffic: true, oldUsedAgo: 10_000 });
    open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    await fireEvent.change(screen.getByTestId("wizard-grace"), { target: { value: String(7 * 24 * 60 * MIN) } });
    await fireEvent.click(screen.getByTestId("wizard-schedule"));
    await waitFor(() => expect(screen.getByTestId("wizard-scheduled")).toBeTruthy());
    const at = new Date(NOW + 7 * 24 * 60 * MIN).toISOString();
    expect(calls.filter((c) => c.cmd === "update_key")).toEqual([
      { cmd: "update_key", args: { id: "key_old", patch: { expires_at: at } } },
    ]);
    expect(screen.getByTestId("wizard-scheduled").textContent).toMatch(/stops working in 7 days/);
    expect(screen.getByTestId("wizard-back-keys")).toBeTruthy();
  });
});

describe("resuming", () => {
  it("opens at the step the links and traffic show", async () => {
    pair({ traffic: true });
    open("key_old");
    await atStep(3);
    expect(screen.getByTestId("wizard-step-1").dataset.state).toBe("done");
    expect(screen.getByTestId("wizard-step-2").dataset.state).toBe("done");
  });

  it("a replacement opens its old key's rotation", async () => {
    pair();
    open("key_new");
    await atStep(2);
    expect(screen.getByRole("heading", { level: 1 }).textContent).toMatch(/Rotate “Billing worker”/);
    expect(screen.getByTestId("wizard").textContent).toMatch(/…9f3c/);
  });

  it("a check from earlier in the session still counts", async () => {
    pair({ traffic: true });
    const first = open("key_old");
    await atStep(3);
    await fireEvent.click(screen.getByTestId("wizard-skip"));
    await atStep(4);
    first.unmount();
    open("key_old");
    await atStep(4);
  });

  it("a revoked old key is done", async () => {
    put(key({ id: "key_old", status: "revoked", revoked_at: ago(MIN), replaced_by: "key_new" }));
    put(key({ id: "key_new", replaces: "key_old" }));
    open("key_old");
    await waitFor(() => expect(screen.getByTestId("wizard-done")).toBeTruthy());
    expect(current()).toBeUndefined();
  });

  it("a revoked replacement means starting again at step 1", async () => {
    put(key({ id: "key_old", replaced_by: "key_new" }));
    put(key({ id: "key_new", replaces: "key_old", status: "revoked", revoked_at: ago(MIN) }));
    open("key_old");
    await atStep(1);
    expect(screen.getByTestId("wizard-dead-replacement").textContent).toMatch(/is revoked/);
  });

  it("the portal's own admin key goes to its own rotation", async () => {
    put(key({ id: "key_portal_admin", scopes: ["admin"] }));
    open("key_portal_admin");
    await waitFor(() => expect(screen.getByTestId("wizard-own-credential")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("wizard-admin-rotate"));
    expect(app.view).toBe("account");
    expect(app.adminRotationOpen).toBe(true);
    app.adminRotationOpen = false;
  });
});

describe("several keys", () => {
  it("shows the progress and moves on to the next key", async () => {
    put(key({ id: "key_a", name: "Alpha", status: "revoked", revoked_at: ago(MIN), replaced_by: "key_a2" }));
    put(key({ id: "key_a2", name: "Alpha", replaces: "key_a" }));
    put(key({ id: "key_b", name: "Beta" }));
    app.keys.items = [get("key_a"), get("key_a2"), get("key_b")];
    open("key_a", "key_b");
    await waitFor(() => expect(screen.getByTestId("wizard-done")).toBeTruthy());
    expect(screen.getByTestId("wizard-progress").textContent).toBe("Key 1 of 2");
    const items = screen.getAllByTestId("wizard-queue-item");
    expect(items.map((i) => i.dataset.status)).toEqual(["done", "not_started"]);
    await fireEvent.click(screen.getByTestId("wizard-next"));
    await atStep(1);
    expect(screen.getByTestId("wizard-progress").textContent).toBe("Key 2 of 2");
    expect(screen.getByRole("heading", { level: 1 }).textContent).toMatch(/Beta/);
    expect(screen.queryByTestId("wizard-next")).toBeNull();
  });
});
