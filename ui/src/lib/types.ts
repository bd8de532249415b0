// The one place the UI takes its types from: API types generated from Rust
// (./bindings, ts-rs; never edited by hand) and the portal types.
export type { AccountView } from "./bindings/AccountView";
export type { AuditList } from "./bindings/AuditList";
export type { AuditView } from "./bindings/AuditView";
export type { Environment } from "./bindings/Environment";
export type { KeyList } from "./bindings/KeyList";
export type { KeyStatus } from "./bindings/KeyStatus";
export type { KeyView } from "./bindings/KeyView";
export type { LimitsView } from "./bindings/LimitsView";
export type { Plan } from "./bindings/Plan";
export type { RateLimitView } from "./bindings/RateLimitView";
export type { Scope } from "./bindings/Scope";
export type { UpdateKeyRequest } from "./bindings/UpdateKeyRequest";

export type {
  KeychainStatus,
  Mode,
  NewKeyInput,
  OnceSecret,
  PlanRow,
  PortalError,
  PortalErrorCode,
  PortalStatus,
  SavedService,
  TryIt,
} from "./portal-types";
