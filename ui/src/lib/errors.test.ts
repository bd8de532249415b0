import { describe, expect, it } from "vitest";
import { adviseEnrollError, adviseError, errorLine } from "./errors";
import type { PortalError, PortalErrorCode } from "./types";

const err = (code: PortalErrorCode, retry_after: number | null = null): PortalError => ({
  code,
  message: "The service said so.",
  retry_after,
});

describe("adviseError", () => {
  it("offers a way forward for each failure", () => {
    expect(adviseError(err("unreachable")).steps).toEqual(["retry", "switch"]);
    expect(adviseError(err("unauthorized")).steps).toEqual(["reconnect"]);
    expect(adviseError(err("unauthorized")).detail).toMatch(/revoked/);
    expect(adviseError(err("not_connected")).steps).toEqual(["connect"]);
    expect(adviseError(err("invalid")).steps).toEqual([]);
  });
  it("keeps the service's message", () => {
    for (const code of ["unreachable", "unauthorized", "invalid", "internal", "conflict"] as const) {
      expect(adviseError(err(code)).detail).toContain("The service said so.");
    }
  });
  it("says when to retry after a 429", () => {
    expect(adviseError(err("rate_limited", 30)).detail).toBe("The service said so.");
    expect(errorLine(err("rate_limited", 90))).toBe("Too many requests: try again in 1 min 30 s.");
    expect(adviseError(err("rate_limited")).detail).toMatch(/moment/);
  });
  it("explains a plan limit without offering a retry", () => {
    const a = adviseError({
      code: "limit_exceeded",
      message: "the free plan allows 5 active keys and this account has 5; revoke a key you no longer use, or upgrade the plan",
      retry_after: null,
    });
    expect(a.title).toBe("Your plan's limit is reached");
    expect(a.detail).toMatch(/^the free plan allows 5 active keys/);
    expect(a.detail).toMatch(/stops counting while it drains/);
    expect(a.steps).toEqual([]);
    expect(errorLine(err("limit_exceeded"))).toBe("Your plan's limit is reached. The service said so.");
  });
  it("says a suspended account is the provider's doing and nothing is lost", () => {
    const a = adviseError(err("account_suspended"));
    expect(a.title).toBe("This account is suspended");
    expect(a.detail).toMatch(/^The service said so\./);
    expect(a.detail).toMatch(/Nothing was deleted/);
    expect(a.detail).not.toMatch(/admin scope/);
    expect(a.steps).toEqual(["retry", "switch"]);
  });
  it("explains an answer too large to read", () => {
    const a = adviseError(err("response_too_large"));
    expect(a.title).toMatch(/too large/);
    expect(a.detail).toBe("The service said so.");
    expect(a.steps).toEqual(["switch"]);
  });
});

describe("adviseEnrollError", () => {
  it("reads a refusal as about the code, not a credential, and offers no reconnect", () => {
    const a = adviseEnrollError(err("forbidden"));
    expect(a.title).toMatch(/did not accept this code/);
    expect(a.detail).toContain("The service said so.");
    expect(a.detail).toMatch(/new one/);
    expect(a.detail).not.toMatch(/admin scope/);
    expect(a.steps).toEqual([]);
  });
  it("offers a retry where waiting or the network can help", () => {
    expect(adviseEnrollError(err("unreachable")).steps).toEqual(["retry"]);
    expect(adviseEnrollError(err("rate_limited", 30)).detail).toBe("The service said so.");
    expect(adviseEnrollError(err("invalid")).steps).toEqual([]);
    expect(adviseEnrollError(err("keychain_unavailable"))).toEqual(adviseError(err("keychain_unavailable")));
  });
});
