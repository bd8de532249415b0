import { describe, expect, it } from "vitest";
import { atKeyCap, KEY_CAP_NOTE, keyCap, keyCapLeft, keyCapReason } from "./key-cap";

const acct = (active_keys: number, key_cap: number, plan: "free" | "starter" | "professional" | "enterprise" = "starter") => ({
  active_keys,
  key_cap,
  plan,
});

describe("keyCap", () => {
  it("says how many of the cap are active", () => {
    expect(keyCap(acct(12, 25))).toEqual({ active: 12, cap: 25, left: 13, level: "ok", text: "12 of 25 active" });
    expect(keyCap(acct(1200, 1000))?.text).toBe("1,200 of 1,000 active");
    expect(keyCap(null)).toBeNull();
  });

  it("turns amber from 80 % and red when full", () => {
    expect(keyCap(acct(19, 25))?.level).toBe("ok");
    expect(keyCap(acct(20, 25))?.level).toBe("near");
    expect(keyCap(acct(24, 25))?.level).toBe("near");
    expect(keyCap(acct(25, 25))?.level).toBe("full");
    expect(keyCap(acct(4, 5))?.level).toBe("near");
    // Over the cap (a plan downgraded, say): full, nothing left.
    expect(keyCap(acct(30, 25))).toMatchObject({ level: "full", left: 0 });
  });

  it("knows when Create key will be refused", () => {
    expect(atKeyCap(acct(5, 5))).toBe(true);
    expect(atKeyCap(acct(6, 5))).toBe(true);
    expect(atKeyCap(acct(4, 5))).toBe(false);
    expect(atKeyCap(null)).toBe(false);
  });

  it("explains the cap and what to do", () => {
    expect(keyCapReason(acct(5, 5, "free"))).toBe(
      "Your Free plan allows 5 active keys and all of them are in use. Revoke a key you no longer use, or upgrade the plan, to create another.",
    );
    expect(keyCapReason(acct(7, 5, "free"))).toMatch(/allows 5 active keys and 7 are in use/);
    expect(keyCapLeft(keyCap(acct(24, 25))!)).toBe("1 more key can be created.");
    expect(keyCapLeft(keyCap(acct(12, 25))!)).toBe("13 more keys can be created.");
    expect(keyCapLeft(keyCap(acct(25, 25))!)).toMatch(/No more keys/);
    // What counts: a key still draining after a rotation does not.
    expect(KEY_CAP_NOTE).toMatch(/rotated to a replacement stops counting while it drains/);
  });
});
