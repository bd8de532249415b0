// Portal types from docs/portal-commands.md, written by hand until the Rust side
// generates them with ts-rs into ./bindings/. Switching over: replace each
// declaration below with `export type { X } from "./bindings/X";` (or delete this
// file and point ./types.ts at the bindings). Nothing else imports this file.

import type { AccountView } from "./bindings/AccountView";
import type { Environment } from "./bindings/Environment";
import type { KeyView } from "./bindings/KeyView";
import type { LimitsView } from "./bindings/LimitsView";
import type { Plan } from "./bindings/Plan";
import type { RateLimitView } from "./bindings/RateLimitView";
import type { Scope } from "./bindings/Scope";

export type Mode = "embedded" | "remote";

export type KeychainStatus = {
  available: boolean;
  backend: string;
  problem: string | null;
  fix: string | null;
};

export type SavedService = { url: string; account_name: string | null };

/** `curl` reads the key from $KEYPORT_KEY, never inline. */
export type TryIt = { gateway_url: string; curl: string };

export type PortalStatus = {
  mode: Mode;
  /** The /v1 base in use, e.g. http://127.0.0.1:41234 */
  service_url: string;
  /** null when not connected */
  account: AccountView | null;
  keychain: KeychainStatus;
  /** Remote services with a credential in the keychain. */
  saved_services: SavedService[];
  /** Embedded mode only. */
  try_it: TryIt | null;
};

export type NewKeyInput = {
  name: string;
  environment: Environment;
  scopes: Scope[];
  resources: string[];
  expires_at: string | null;
  rate_limit: RateLimitView | null;
};

/** The only time a raw key reaches the webview. */
export type OnceSecret = { key: KeyView; secret: string };

export type PlanRow = { plan: Plan; limits: LimitsView };

export type PortalErrorCode =
  | "unreachable"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "invalid"
  | "conflict"
  | "rate_limited"
  | "keychain_unavailable"
  | "not_connected"
  | "internal";

export type PortalError = {
  code: PortalErrorCode;
  /** Safe to show as is: never contains a key or the admin credential. */
  message: string;
  retry_after: number | null;
};
