// The one place the UI takes its types from: API types generated from Rust
// (./bindings, ts-rs; never edited by hand), API and portal types alike.
export type { AccountUsage } from "./bindings/AccountUsage";
export type { AccountView } from "./bindings/AccountView";
export type { Alert } from "./bindings/Alert";
export type { AlertList } from "./bindings/AlertList";
export type { AlertStatus } from "./bindings/AlertStatus";
export type { AuditList } from "./bindings/AuditList";
export type { AuditView } from "./bindings/AuditView";
export type { CountryCount } from "./bindings/CountryCount";
export type { EndpointCount } from "./bindings/EndpointCount";
export type { Environment } from "./bindings/Environment";
export type { KeyTotals } from "./bindings/KeyTotals";
export type { KeyUsage } from "./bindings/KeyUsage";
export type { KeyList } from "./bindings/KeyList";
export type { KeyStatus } from "./bindings/KeyStatus";
export type { KeyView } from "./bindings/KeyView";
export type { LimitsView } from "./bindings/LimitsView";
export type { Plan } from "./bindings/Plan";
export type { RateLimitView } from "./bindings/RateLimitView";
export type { Scope } from "./bindings/Scope";
export type { Step } from "./bindings/Step";
export type { UpdateKeyRequest } from "./bindings/UpdateKeyRequest";
export type { UsagePoint } from "./bindings/UsagePoint";
export type { UsageRange } from "./bindings/UsageRange";

export type { KeychainStatus } from "./bindings/KeychainStatus";
export type { Mode } from "./bindings/Mode";
export type { NewKeyInput } from "./bindings/NewKeyInput";
export type { OnceSecret } from "./bindings/OnceSecret";
export type { PlanRow } from "./bindings/PlanRow";
export type { PortalError } from "./bindings/PortalError";
export type { PortalErrorCode } from "./bindings/PortalErrorCode";
export type { PortalStatus } from "./bindings/PortalStatus";
export type { SavedService } from "./bindings/SavedService";
export type { TryIt } from "./bindings/TryIt";
