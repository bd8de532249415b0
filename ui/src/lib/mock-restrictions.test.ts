// The dev mock backend's key restrictions (what `npm run ui:mock` shows):
// suggestions, replay, report-only proposals with would-deny traffic,
// enforcing and dropping, and the service's refusals.
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { KeyList, KeyUsage, KeyView, OnceSecret, ReplayReport, Suggestions } from "./types";

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

const sum = (u: KeyUsage) => u.points.reduce((n, p) => n + p.would_deny, 0);

describe("mock demo data", () => {
  it("a key tries an IP allowlist in report-only mode, and some of its traffic would be refused", async () => {
    const k = await named("Analytics dashboard");
    expect(k.proposal?.restriction).toEqual({ allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] });
    expect(Date.parse(k.proposal!.ends_at)).toBeGreaterThan(Date.now());
    const u = await call<KeyUsage>("key_usage", { id: k.id, range: "7d", step: "hour" });
    expect(u.networks.map((n) => n.network)).toEqual(["203.0.113.0/24", "2001:db8:42::/48", "198.51.100.0/24"]);
    expect(sum(u)).toBeGreaterThan(0);
    expect(u.would_deny.map((r) => r.reason)).toEqual(["ip 198.51.100.0/24"]);
    // Only since it started, two days ago.
    const started = Date.parse(k.proposal!.started_at);
    expect(u.points.filter((p) => Date.parse(p.t) + 3_600_000 <= started).every((p) => p.would_deny === 0)).toBe(true);
  });

  it("every key has the new fields; a quarantined key is held to where it was used", async () => {
    const list = await call<KeyList>("list_keys", { cursor: null });
    for (const k of list.keys) {
      expect(Array.isArray(k.allowed_ips)).toBe(true);
      expect(Array.isArray(k.allowed_countries)).toBe(true);
      expect(k.proposal === null || typeof k.proposal.ends_at === "string").toBe(true);
    }
    const q = await named("Billing worker (2026)");
    expect(q.quarantine).toMatchObject({ networks: ["198.51.100.0/24"], countries: ["US"] });
  });
});

describe("mock suggestions and replay", () => {
  it("suggests every kind of narrowing for a key that only reads one project from two networks", async () => {
    const k = await named("Staging deploy");
    const s = await call<Suggestions>("key_suggestions", { id: k.id, days: 30 });
    expect(s.requests).toBeGreaterThan(0);
    expect(s.suggestions.map((x) => x.rule)).toEqual(["scope", "resource", "ip", "country", "rate_limit"]);
    const byRule = Object.fromEntries(s.suggestions.map((x) => [x.rule, x.restriction]));
    expect(byRule.scope).toEqual({ scopes: ["read"] });
    expect(byRule.resource).toEqual({ resources: ["project:demo"] });
    expect(byRule.ip).toEqual({ allowed_ips: ["192.0.2.0/24", "2001:db8:7::/48"] });
    expect(byRule.country).toEqual({ allowed_countries: ["DE"] });
    expect(byRule.rate_limit?.per_minute).toBeLessThan(k.effective_limits.per_minute);
    for (const x of s.suggestions) expect(x.evidence.length).toBeGreaterThan(0);
  });

  it("notes what it cannot suggest", async () => {
    const k = await named("Local development");
    const s = await call<Suggestions>("key_suggestions", { id: k.id, days: null });
    expect(s.suggestions).toEqual([]);
    expect(s.notes.length).toBeGreaterThan(0);
  });

  it("replays: what a suggestion refuses is nothing, what leaves a network out is that network", async () => {
    const k = await named("Staging deploy");
    const fits = await call<ReplayReport>("replay_restriction", {
      id: k.id,
      restriction: { allowed_ips: ["192.0.2.0/24", "2001:db8:7::/48"], scopes: ["read"] },
      days: 7,
    });
    expect(fits.requests).toBeGreaterThan(0);
    expect(fits.refused_at_most).toBe(0);
    expect(fits.share).toBe(0);
    const narrow = await call<ReplayReport>("replay_restriction", {
      id: k.id,
      restriction: { allowed_ips: ["192.0.2.0/24"], allowed_countries: ["FR"] },
      days: 30,
    });
    const ip = narrow.rules.find((r) => r.rule === "ip")!;
    expect(ip.refused).toBeGreaterThan(0);
    expect(ip.examples[0].value).toBe("2001:db8:7::/48");
    expect(narrow.refused_at_least).toBe(narrow.requests);
    expect(narrow.refused_at_most).toBe(narrow.requests);
    expect(narrow.share).toBe(1);
    const rate = await call<ReplayReport>("replay_restriction", { id: k.id, restriction: { per_minute: 1 }, days: 30 });
    expect(rate.rules[0].rule).toBe("rate_limit");
    expect(rate.notes.some((n) => /calendar minute/.test(n))).toBe(true);
    expect(rate.notes.some((n) => /kept for less time/.test(n))).toBe(true);
  });

  it("refuses what the service refuses", async () => {
    const k = await named("Staging deploy");
    await expect(call("replay_restriction", { id: k.id, restriction: {}, days: 7 })).rejects.toMatchObject({ code: "invalid" });
    await expect(
      call("replay_restriction", { id: k.id, restriction: { allowed_ips: ["10.0.0.300"] }, days: 7 }),
    ).rejects.toMatchObject({ code: "invalid", message: expect.stringMatching(/^restriction\.allowed_ips: /) });
    await expect(call("key_suggestions", { id: k.id, days: 91 })).rejects.toMatchObject({ code: "invalid" });
  });
});

describe("mock proposals", () => {
  it("propose counts would-deny, enforce makes the rules the key's, normalised", async () => {
    const k = await named("Staging deploy");
    const p = await call<KeyView>("propose_restriction", {
      id: k.id,
      restriction: { allowed_ips: ["192.0.2.9/24"], scopes: ["read"], per_minute: 40 },
      days: 3,
    });
    expect(p.proposal?.restriction).toEqual({ scopes: ["read"], allowed_ips: ["192.0.2.0/24"], per_minute: 40 });
    expect(Date.parse(p.proposal!.ends_at) - Date.parse(p.proposal!.started_at)).toBe(3 * 86_400_000);
    expect(p.scopes).toEqual(["read", "write"]);
    const e = await call<KeyView>("enforce_proposal", { id: k.id });
    expect(e.proposal).toBeNull();
    expect(e.scopes).toEqual(["read"]);
    expect(e.allowed_ips).toEqual(["192.0.2.0/24"]);
    expect(e.effective_limits.per_minute).toBe(40);
    expect(e.effective_limits.burst).toBe(40);
    await expect(call("enforce_proposal", { id: k.id })).rejects.toMatchObject({ code: "conflict" });
  });

  it("drop clears the proposal and nothing else", async () => {
    const k = await named("Analytics dashboard");
    const d = await call<KeyView>("drop_proposal", { id: k.id });
    expect(d.proposal).toBeNull();
    expect(d.allowed_ips).toEqual([]);
    expect(d.scopes).toEqual(k.scopes);
    // Dropping again changes nothing.
    expect((await call<KeyView>("drop_proposal", { id: k.id })).proposal).toBeNull();
  });

  it("only narrows, only active keys, 1–30 days", async () => {
    const k = await named("Analytics dashboard");
    await expect(call("propose_restriction", { id: k.id, restriction: { scopes: ["write"] }, days: null })).rejects.toMatchObject({
      code: "invalid",
      message: "restriction.scopes: the key does not have write; a restriction only narrows",
    });
    await expect(call("propose_restriction", { id: k.id, restriction: { per_minute: 61 }, days: 7 })).rejects.toMatchObject({
      code: "invalid",
    });
    await expect(call("propose_restriction", { id: k.id, restriction: { per_minute: 10 }, days: 31 })).rejects.toMatchObject({
      code: "invalid",
      message: "days: between 1 and 30",
    });
    const revoked = await named("Old CI runner");
    await expect(call("propose_restriction", { id: revoked.id, restriction: { per_minute: 1 }, days: 7 })).rejects.toMatchObject({
      code: "conflict",
    });
    const admin = await named("Admin key");
    await expect(call("propose_restriction", { id: admin.id, restriction: { scopes: ["read"] }, days: 7 })).rejects.toMatchObject({
      code: "invalid",
      message: expect.stringMatching(/keeps its admin scope/),
    });
  });
});

describe("mock allowlists on keys", () => {
  it("create and update take allowed IPs (normalised) and countries", async () => {
    const input = { name: "Edge", environment: "test", scopes: ["read"], resources: [], expires_at: null, rate_limit: null };
    const once = await call<OnceSecret>("create_key", { input: { ...input, allowed_ips: ["203.0.113.7/24", "192.0.2.1"] } });
    expect(once.key.allowed_ips).toEqual(["203.0.113.0/24", "192.0.2.1/32"]);
    await expect(call("create_key", { input: { ...input, allowed_ips: ["nope"] } })).rejects.toMatchObject({ code: "invalid" });
    const u = await call<KeyView>("update_key", { id: once.key.id, patch: { allowed_ips: [], allowed_countries: ["de"] } });
    expect(u.allowed_ips).toEqual([]);
    expect(u.allowed_countries).toEqual(["DE"]);
  });
});
