// The dev mock backend's quarantine, leak reports, leak policy and folder
// scan (what `npm run ui:mock` shows): the service's rules and answers.
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { AccountView, Alert, CompromiseRotation, FolderScan, KeyList, KeyView } from "./types";

let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

beforeEach(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  vi.resetModules();
  invoke = (await import("./mock-backend")).mockInvoke;
});

const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;

async function named(name: string): Promise<KeyView> {
  const list = await call<KeyList>("list_keys", { cursor: null });
  return list.keys.find((k) => k.name === name)!;
}

describe("mock quarantine", () => {
  it("quarantines an active key with a reason, and releases it", async () => {
    const k = await named("Analytics dashboard");
    expect(k.quarantine).toBeNull();
    const q = await call<KeyView>("quarantine_key", { id: k.id, reason: " Pasted in chat " });
    expect(q.status).toBe("active");
    expect(q.quarantine).toMatchObject({ reason: "Pasted in chat", source: "manual" });
    expect(Date.parse(q.quarantine!.at)).toBeGreaterThan(0);
    expect((await call<KeyView>("get_key", { id: k.id })).quarantine).not.toBeNull();
    const r = await call<KeyView>("release_key", { id: k.id });
    expect(r.quarantine).toBeNull();
  });

  it("refuses admin keys, revoked keys and empty reasons", async () => {
    const admin = await named("Admin key");
    await expect(call("quarantine_key", { id: admin.id, reason: "x" })).rejects.toMatchObject({ code: "conflict" });
    const revoked = await named("Old CI runner");
    await expect(call("quarantine_key", { id: revoked.id, reason: "x" })).rejects.toMatchObject({ code: "conflict" });
    await expect(call("release_key", { id: revoked.id })).rejects.toMatchObject({ code: "conflict" });
    const k = await named("Local development");
    await expect(call("quarantine_key", { id: k.id, reason: "  " })).rejects.toMatchObject({ code: "invalid" });
  });

  it("rotating a quarantined key gives a clean replacement", async () => {
    const k = await named("Billing worker (2026)");
    expect(k.quarantine?.source).toBe("leak_report");
    const r = await call<CompromiseRotation>("rotate_compromised", { id: k.id });
    expect(r.once.key.quarantine).toBeNull();
    expect(r.once.key.replaces).toBe(k.id);
    expect((await call<KeyView>("get_key", { id: k.id })).status).toBe("revoked");
  });
});

describe("mock leak reports", () => {
  it("seeds an open report of a quarantined key and an older one of a revoked key", async () => {
    const open = (await call<{ alerts: Alert[] }>("list_alerts", { all: false })).alerts.filter((a) => a.kind === "leak_reported");
    expect(open).toHaveLength(1);
    const pushed = await named("Billing worker (2026)");
    expect(open[0]).toMatchObject({ key_id: pushed.id, category: "anomaly", status: "open" });
    expect(open[0].evidence).toMatchObject({ source: "commit", action: "quarantined", key_name: pushed.name });
    expect(open[0].evidence.url).toBe(pushed.quarantine?.reason);
    const all = (await call<{ alerts: Alert[] }>("list_alerts", { all: true })).alerts.filter((a) => a.kind === "leak_reported");
    expect(all.map((a) => a.evidence.action)).toEqual(["quarantined", "revoked"]);
  });

  it("the leak policy is saved like the other policies", async () => {
    const before = await call<AccountView>("get_account");
    expect(before.settings.leak_policy).toBe("quarantine");
    const after = await call<AccountView>("update_account", { patch: { leak_policy: "revoke" } });
    expect(after.settings.leak_policy).toBe("revoke");
    await expect(call("update_account", { patch: { leak_policy: "ignore" } })).rejects.toMatchObject({ code: "invalid" });
  });
});

describe("mock folder scan", () => {
  it("finds a working key, a revoked one and a placeholder, never a raw key", async () => {
    const scan = (await call<FolderScan>("scan_folder"))!;
    expect(scan.files).toBeGreaterThan(0);
    expect(scan.findings.map((f) => f.status)).toEqual(["live", "inactive", "not_a_key"]);
    const live = scan.findings[0];
    const k = await named("Analytics dashboard");
    expect(live).toMatchObject({ key_id: k.id, key_name: k.name, masked: `${k.prefix}…${k.last4}` });
    expect(JSON.stringify(scan)).not.toMatch(/to_(live|test|staging)_[0-9a-f]{16,}/);
    // Rotated since: it no longer works.
    await call("rotate_compromised", { id: k.id });
    const again = (await call<FolderScan>("scan_folder"))!;
    expect(again.findings[0].status).toBe("inactive");
  });

  it("?scan=cancel answers like a cancelled picker", async () => {
    window.history.replaceState({}, "", "/?delay=0&scan=cancel");
    vi.resetModules();
    invoke = (await import("./mock-backend")).mockInvoke;
    expect(await call("scan_folder")).toBeNull();
    window.history.replaceState({}, "", "/?delay=0");
  });
});
