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
  it("says what an account.update changed, and who", () => {
    const line = describeEvent(
      ev({
        action: "account.update",
        key_id: null,
        detail: {
          rotation_days: { live: 60, test: 30, staging: 30 },
          business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5], start: "08:00", end: "19:00" },
          allowed_countries: ["AT", "DE"],
          anomaly_rules: { after_hours: { enabled: false }, volume_spike: { enabled: null, factor: 4, min_requests: null } },
        },
      }),
      keys,
    );
    expect(line.action).toBe("Account policies changed");
    expect(line.changes).toBe(
      "rotation live 60 d, test 30 d, staging 30 d; business hours Europe/Berlin Mon–Fri 08:00–19:00; " +
        "allowed countries AT, DE; alert rules: volume spike tuned, after hours off",
    );
    const bound = describeEvent(
      ev({ action: "account.update", actor: "server", key_id: null, detail: { allowed_countries: [], anomaly_rules: {} } }),
      keys,
    );
    expect(bound.actor).toBe("the key service (its limits)");
    expect(bound.changes).toBe("allowed countries: anywhere; alert rules: server defaults");
    const weekend = describeEvent(
      ev({ action: "account.update", key_id: null, detail: { business_hours: { time_zone: "UTC", days: [1, 3, 6], start: "09:00", end: "17:00" } } }),
      keys,
    );
    expect(weekend.changes).toBe("business hours UTC Mon, Wed, Sat 09:00–17:00");
  });
});
