import { describe, expect, it } from "vitest";
import { isPortalCredential } from "./credential";
import { ACCOUNT } from "../test/fixtures";

describe("isPortalCredential", () => {
  it("matches only the key the portal signs in with", () => {
    const account = { ...ACCOUNT, credential_key_id: "key_admin" };
    expect(isPortalCredential({ id: "key_admin" }, account)).toBe(true);
    expect(isPortalCredential({ id: "key_other" }, account)).toBe(false);
  });

  it("is false while the account is unknown", () => {
    expect(isPortalCredential({ id: "key_admin" }, null)).toBe(false);
  });
});
