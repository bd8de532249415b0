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
  it("says what a restriction tried, enforced or dropped does", () => {
    const restriction = { allowed_ips: ["203.0.113.0/24"], scopes: ["read"], per_minute: 60 };
    expect(describeEvent(ev({ action: "key.propose", detail: { name: "Worker", restriction } }), keys)).toMatchObject({
      action: "Restriction tried in report-only mode",
      changes: "only from 203.0.113.0/24; read only; at most 60 requests a minute",
    });
    expect(describeEvent(ev({ action: "key.restrict", detail: { restriction } }), keys).action).toBe("Key restricted");
    expect(describeEvent(ev({ action: "key.proposal_drop", detail: {} }), keys)).toMatchObject({
      action: "Report-only restriction dropped",
      changes: null,
    });
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

  it("describes what the service's operator did, and says it was the operator", () => {
    const op = { actor: "opr_01hx9c0aa1", key_id: null };
    const created = describeEvent(
      ev({ ...op, action: "account.create", detail: { plan: "starter", name: "Acme Corp", external_id: null, operator: "Billing sync" } }),
      keys,
    );
    expect(created).toMatchObject({ action: "Account created", changes: "“Acme Corp”, starter plan", actor: "Service operator (Billing sync)" });
    expect(describeEvent(ev({ ...op, action: "account.resume", detail: { suspended: false } }), keys)).toMatchObject({
      action: "Account resumed",
      changes: null,
      actor: "Service operator",
    });
    const suspended = describeEvent(ev({ ...op, action: "account.suspend", detail: { suspended: { reason: "Invoice 1042 unpaid" } } }), keys);
    expect(suspended).toMatchObject({ action: "Account suspended", changes: "reason: Invoice 1042 unpaid" });
    expect(describeEvent(ev({ ...op, action: "account.delete", detail: { name: "Acme Corp" } }), keys)).toMatchObject({
      action: "Account deleted",
      changes: "“Acme Corp”",
    });
  });

  it("turns an operator's single change into the headline, and lists several", () => {
    const op = { actor: "opr_1", key_id: null, action: "account.operator_update" };
    const plan = describeEvent(ev({ ...op, detail: { plan: { from: "starter", to: "professional" }, operator: "Ops" } }), keys);
    expect(plan).toMatchObject({
      action: "Plan changed from Starter to Professional by the service operator",
      changes: null,
      actor: "Service operator (Ops)",
    });
    const several = describeEvent(
      ev({
        ...op,
        detail: {
          name: "Acme Corporation",
          external_id: "cus_42",
          rate_limit: { per_minute: 60, per_day: 10000, burst: null },
          key_cap: 50,
        },
      }),
      keys,
    );
    expect(several.action).toBe("Account changed by the service operator");
    expect(several.changes).toBe(
      "renamed to “Acme Corporation”; external id set to cus_42; rate limit set to 60/min, 10,000/day; key cap set to 50",
    );
    const reset = describeEvent(ev({ ...op, detail: { rate_limit: null, key_cap: null } }), keys);
    expect(reset.changes).toBe("rate limit back to the plan's; key cap back to the plan's");
  });

  it("describes enrollment codes, created and redeemed", () => {
    const made = describeEvent(
      ev({ actor: "cli", key_id: null, action: "enrollment.create", detail: { enrollment_id: "enr_1", expires_at: "2026-03-13T10:00:00Z" } }),
      keys,
    );
    expect(made).toMatchObject({ action: "Enrollment code created", changes: "expires 2026-03-13 10:00:00 UTC", actor: "cli" });
    const redeem = (revoked: string[]) =>
      describeEvent(ev({ actor: "key_admin", key_id: "key_admin", action: "enrollment.redeem", detail: { revoked_admin_keys: revoked } }), keys);
    expect(redeem([])).toMatchObject({ action: "Admin key enrolled with a code", subject: "Admin key", changes: null });
    expect(redeem(["key_old"]).changes).toBe("1 other admin key revoked");
    expect(redeem(["key_a", "key_b"]).changes).toBe("2 other admin keys revoked");
  });

  it("shows why a key was revoked, when the service says", () => {
    const line = describeEvent(ev({ action: "key.revoke", detail: { name: "Worker", reason: "recovery with an enrollment code" } }), keys);
    expect(line).toMatchObject({ action: "Key revoked", subject: "Worker", changes: "reason: recovery with an enrollment code" });
    expect(describeEvent(ev({ action: "key.revoke", detail: { name: "Worker" } }), keys).changes).toBeNull();
  });
});
