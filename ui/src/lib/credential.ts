import type { AccountView, KeyView } from "./types";

/**
 * True for the admin key this portal signs in with (the service names it in
 * `GET /v1/account`). The portal refuses to revoke it: that would lock the
 * portal out of the account.
 */
export function isPortalCredential(key: Pick<KeyView, "id">, account: AccountView | null): boolean {
  return account !== null && account.credential_key_id === key.id;
}
