import { describe, expect, it } from "vitest";
import { key } from "../test/fixtures";
import { describeEvent } from "./audit";
import type { AuditView } from "./types";

const admin = key({ id: "key_admin", name: "Admin key", last4: "ad01", scopes: ["admin"] });
const worker = key({ id: "key_w", name: "Worker" });
const keys = new Map([admin, worker].map((k) => [k.id, k]));

function ev(over: Partial<AuditView>): AuditView {
  return {
    id: 1n,
    at: "2026-03-12T10:00:00Z",
    actor: "key_admin",
    action: "key.create",
    key_id: "key_w",
    source: "127.0.0.1",
    detail: {},
    ...over,
  };
}

describe("describeEvent", () => {
  it("names the key and the acting key", () => {
    expect(describeEvent(ev({}), keys)).toEqual({
      action: "Key created",
      subject: "Worker",
      changes: null,
      actor: "Admin key (to_live_…ad01)",
    });
  });
  it("lists changed fields of an update", () => {
    const line = describeEvent(ev({ action: "key.update", detail: { name: "x", rate_limit: null } }), keys);
    expect(line.changes).toBe("name, rate limit");
  });
  it("falls back to the recorded name, then the id", () => {
    expect(describeEvent(ev({ key_id: "key_gone", detail: { name: "Old" } }), keys).subject).toBe("Old");
    expect(describeEvent(ev({ key_id: "key_gone" }), keys).subject).toBe("key_gone");
    expect(describeEvent(ev({ key_id: null, action: "account.create", detail: { plan: "free" } }), keys)).toMatchObject({
      subject: null,
      changes: "free plan",
    });
  });
  it("shows an unknown actor as recorded", () => {
    expect(describeEvent(ev({ actor: "cli" }), keys).actor).toBe("cli");
  });
});
