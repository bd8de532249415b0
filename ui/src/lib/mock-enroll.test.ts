// The dev mock backend's enrollment codes (what `npm run ui:mock` shows):
// one good code for "Acme Corp", every other code already used, links parsed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeEvent } from "./audit";
import type { AuditList, EnrollOffer, KeyList, PortalError, PortalStatus } from "./types";

let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

beforeAll(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  invoke = (await import("./mock-backend")).mockInvoke;
});

afterAll(() => window.history.replaceState({}, "", "/"));

const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: PortalError) => e);

const SERVICE = "http://127.0.0.1:8080";
const CODE = "7K3QM-X9D2A-BC4EF-GH5JK";

describe("mock enrollment", () => {
  it("has no start link", async () => {
    expect(await call("take_enroll_link")).toBeNull();
  });

  it("previews the demo code, also from a pasted link", async () => {
    const offer = await call<EnrollOffer>("enrollment_preview", { serviceUrl: `${SERVICE}/`, code: CODE });
    expect(offer.service_url).toBe(SERVICE);
    expect(offer.preview).toMatchObject({ account_name: "Acme Corp", plan: "starter", admin_keys: 1 });
    const hours = (Date.parse(offer.preview.expires_at) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23);
    expect(hours).toBeLessThanOrEqual(24);
    const link = `keyport://enroll?service=${encodeURIComponent(SERVICE)}&code=${CODE}`;
    const fromLink = await call<EnrollOffer>("enrollment_preview", { serviceUrl: "", code: link });
    expect([fromLink.service_url, fromLink.code]).toEqual([SERVICE, CODE]);
  });

  it("refuses other codes and bad addresses", async () => {
    const used = await refusal(call("enrollment_preview", { serviceUrl: SERVICE, code: "USED00-AAAAA-BBBBB-CCCCC" }));
    expect(used).toMatchObject({ code: "forbidden", message: expect.stringMatching(/already used/) });
    const bad = await refusal(call("enrollment_preview", { serviceUrl: "keys.example.com", code: CODE }));
    expect(bad?.code).toBe("invalid");
  });

  it("enrolls into a remote service once, revoking the other admin keys when asked", async () => {
    const s = await call<PortalStatus>("enroll", { serviceUrl: SERVICE, code: CODE, revokeOtherAdminKeys: true });
    expect(s).toMatchObject({ mode: "remote", service_url: SERVICE, account: { name: "Acme Corp", plan: "starter" } });
    expect(s.saved_services).toContainEqual({ url: SERVICE, account_name: "Acme Corp" });
    expect((await call<PortalStatus>("portal_status")).service_url).toBe(SERVICE);

    const keys = (await call<KeyList>("list_keys", { cursor: null })).keys;
    const admins = keys.filter((k) => k.scopes.includes("admin"));
    expect(admins.filter((k) => k.status === "active").map((k) => k.id)).toEqual([s.account?.credential_key_id]);

    const events = (await call<AuditList>("audit_log", { cursor: null })).events;
    const byId = new Map(keys.map((k) => [k.id, k]));
    const redeemed = events.find((e) => e.action === "enrollment.redeem" && e.key_id === s.account?.credential_key_id)!;
    expect(describeEvent(redeemed, byId).changes).toBe("1 other admin key revoked");

    const again = await refusal(call("enroll", { serviceUrl: SERVICE, code: CODE, revokeOtherAdminKeys: false }));
    expect(again?.code).toBe("forbidden");
  });
});
