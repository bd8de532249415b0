// The dev mock backend plays a whole rotation (what `npm run ui:mock` shows):
// links both ways, the simulated application moving to the new key a few
// seconds after it is created, the portal's checks, revoke.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { KeyList, KeyUsage, KeyView, OnceSecret, ReplacementCheck, ReplacementInfo } from "./types";
import { wizardState } from "./wizard";

let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

beforeAll(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.parse("2026-03-12T12:00:30Z"));
  invoke = (await import("./mock-backend")).mockInvoke;
});

afterAll(() => {
  vi.useRealTimers();
  window.history.replaceState({}, "", "/");
});

const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;
const usage = (id: string) => call<KeyUsage>("key_usage", { id, range: "1h", step: "minute" });
const total = (u: KeyUsage) => u.points.reduce((n, p) => n + p.success + p.client_error + p.server_error + p.rate_limited + p.denied, 0);

async function named(name: string): Promise<KeyView> {
  const list = await call<KeyList>("list_keys", { cursor: null });
  return list.keys.find((k) => k.name === name && k.replaces === null)!;
}

describe("mock rotation", () => {
  it("plays the whole flow", async () => {
    const old = await named("Analytics dashboard");
    expect(old.replaced_by).toBeNull();

    const once = await call<OnceSecret>("rotate_key", { id: old.id });
    expect(once.key.replaces).toBe(old.id);
    expect(once.key.scopes).toEqual(old.scopes);
    expect(once.key.resources).toEqual(old.resources);
    expect(once.key.rate_limit).toEqual(old.rate_limit);
    expect(once.secret.endsWith(once.key.last4)).toBe(true);
    const linked = await call<KeyView>("get_key", { id: old.id });
    expect(linked.replaced_by).toBe(once.key.id);
    expect(linked.rotation_due_at).toBeNull();
    // A second rotation while the replacement is active is refused.
    await expect(call("rotate_key", { id: old.id })).rejects.toMatchObject({ code: "conflict" });
    expect(await call<ReplacementInfo>("replacement_info", { id: once.key.id })).toEqual({ generated_here: true, portal_checks: 0 });

    // No traffic yet on the new key…
    expect(total(await usage(once.key.id))).toBe(0);
    expect((await call<KeyView>("get_key", { id: once.key.id })).last_used_at).toBeNull();
    // …some seconds later the application uses it.
    vi.setSystemTime(Date.now() + 10_000);
    expect(total(await usage(once.key.id))).toBeGreaterThan(0);
    expect((await call<KeyView>("get_key", { id: once.key.id })).last_used_at).not.toBeNull();

    // Checks: the old key's ending is refused locally, the new key is accepted and counted.
    const wrong = await call<ReplacementCheck>("check_replacement", { id: once.key.id, secret: `to_live_${"0".repeat(28)}zzzz` });
    expect(wrong).toMatchObject({ matches: false, accepted: false, checked_by: "hash", portal_checks: 0 });
    expect(wrong.problem).toMatch(/ends in …zzzz/);
    const right = await call<ReplacementCheck>("check_replacement", { id: once.key.id, secret: once.secret });
    expect(right).toMatchObject({ matches: true, accepted: true, problem: null, portal_checks: 1 });
    await expect(call("check_replacement", { id: once.key.id, secret: "hello" })).rejects.toMatchObject({ code: "invalid" });

    // The old key falls quiet once the application has switched; then it drains.
    vi.setSystemTime(Date.now() + 6 * 60_000);
    const [o, n] = await Promise.all([call<KeyView>("get_key", { id: old.id }), call<KeyView>("get_key", { id: once.key.id })]);
    const [ou, nu] = await Promise.all([usage(old.id), usage(once.key.id)]);
    const st = wizardState({
      old: o,
      replacement: n,
      oldPoints: ou.points,
      newPoints: nu.points,
      portalChecks: 1,
      verified: true,
      drainMs: 5 * 60_000,
      now: Date.now(),
    });
    expect(st.step).toBe(4);
    expect(st.newServed).toBeGreaterThan(0);
    expect(st.canRevoke).toBe(true);

    const revoked = await call<KeyView>("revoke_key", { id: old.id });
    expect(revoked.status).toBe("revoked");
    expect(revoked.replaced_by).toBe(once.key.id);
  });

  it("suspected compromise revokes at once; the admin key rotates in place", async () => {
    const k = await named("Staging deploy");
    const r = await call<{ once: OnceSecret; old_revoked: boolean; problem: string | null }>("rotate_compromised", { id: k.id });
    expect(r.old_revoked).toBe(true);
    expect(r.problem).toBeNull();
    expect(r.once.key.replaces).toBe(k.id);
    expect((await call<KeyView>("get_key", { id: k.id })).status).toBe("revoked");

    const before = await call<{ account: { credential_key_id: string } }>("portal_status");
    await expect(call("rotate_key", { id: before.account.credential_key_id })).rejects.toMatchObject({ code: "conflict" });
    const a = await call<{ old_key_id: string; new_key_id: string; old_revoked: boolean }>("rotate_admin_credential");
    expect(a.old_key_id).toBe(before.account.credential_key_id);
    expect(a.old_revoked).toBe(true);
    const after = await call<{ account: { credential_key_id: string } }>("portal_status");
    expect(after.account.credential_key_id).toBe(a.new_key_id);
    expect((await call<KeyView>("get_key", { id: a.old_key_id })).status).toBe("revoked");
  });
});
