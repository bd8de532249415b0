// The one place the UI takes its types from: API types generated from Rust
// (./bindings, ts-rs; never edited by hand), API and portal types alike.
export type { AccountUsage } from "./bindings/AccountUsage";
export type { AdminRotation } from "./bindings/AdminRotation";
export type { CheckedBy } from "./bindings/CheckedBy";
export type { CompromiseRotation } from "./bindings/CompromiseRotation";
export type { ReplacementCheck } from "./bindings/ReplacementCheck";
export type { ReplacementInfo } from "./bindings/ReplacementInfo";
export type { AccountView } from "./bindings/AccountView";
export type { Alert } from "./bindings/Alert";
export type { AlertList } from "./bindings/AlertList";
export type { AlertStatus } from "./bindings/AlertStatus";
export type { AuditList } from "./bindings/AuditList";
export type { AuditView } from "./bindings/AuditView";
export type { CountryCount } from "./bindings/CountryCount";
export type { EndpointCount } from "./bindings/EndpointCount";
export type { EnrollLink } from "./bindings/EnrollLink";
export type { EnrollmentPreview } from "./bindings/EnrollmentPreview";
export type { EnrollOffer } from "./bindings/EnrollOffer";
export type { Environment } from "./bindings/Environment";
export type { KeyTotals } from "./bindings/KeyTotals";
export type { KeyUsage } from "./bindings/KeyUsage";
export type { KeyList } from "./bindings/KeyList";
export type { KeyStatus } from "./bindings/KeyStatus";
export type { KeyView } from "./bindings/KeyView";
export type { Quarantine } from "./bindings/Quarantine";
export type { QuarantineRequest } from "./bindings/QuarantineRequest";
export type { LimitsView } from "./bindings/LimitsView";
export type { Plan } from "./bindings/Plan";
export type { RateLimitView } from "./bindings/RateLimitView";
export type { Scope } from "./bindings/Scope";
export type { Step } from "./bindings/Step";
export type { UpdateKeyRequest } from "./bindings/UpdateKeyRequest";
export type { UsagePoint } from "./bindings/UsagePoint";
export type { UsageRange } from "./bindings/UsageRange";
export type { NetworkCount } from "./bindings/NetworkCount";
export type { ReasonCount } from "./bindings/ReasonCount";

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

// Account policies (Account → Policies) and this computer's notification preferences.
export type { AccountSettings } from "./bindings/AccountSettings";
export type { AfterHoursRule } from "./bindings/AfterHoursRule";
export type { AlertKind } from "./bindings/AlertKind";
export type { AlertPreview } from "./bindings/AlertPreview";
export type { AlertPreviewRequest } from "./bindings/AlertPreviewRequest";
export type { AnomalyRules } from "./bindings/AnomalyRules";
export type { BusinessHours } from "./bindings/BusinessHours";
export type { ErrorSpikeRule } from "./bindings/ErrorSpikeRule";
export type { LeakPolicy } from "./bindings/LeakPolicy";
export type { NewCountryRule } from "./bindings/NewCountryRule";
export type { NotifyPrefs } from "./bindings/NotifyPrefs";
export type { PreviewKey } from "./bindings/PreviewKey";
export type { PreviewKind } from "./bindings/PreviewKind";
export type { PreviewTally } from "./bindings/PreviewTally";
export type { QuietHours } from "./bindings/QuietHours";
export type { RotationPolicy } from "./bindings/RotationPolicy";
export type { RotationTally } from "./bindings/RotationTally";
export type { UnusualEndpointRule } from "./bindings/UnusualEndpointRule";
export type { UpdateAccountRequest } from "./bindings/UpdateAccountRequest";
export type { VolumeSpikeRule } from "./bindings/VolumeSpikeRule";

// Account → Webhooks: endpoints, their signing secrets (shown once) and delivery logs.
export type { CreateWebhookRequest } from "./bindings/CreateWebhookRequest";
export type { CreatedWebhook } from "./bindings/CreatedWebhook";
export type { DeliveryList } from "./bindings/DeliveryList";
export type { DeliveryStatus } from "./bindings/DeliveryStatus";
export type { EventType } from "./bindings/EventType";
export type { UpdateWebhookRequest } from "./bindings/UpdateWebhookRequest";
export type { WebhookDelivery } from "./bindings/WebhookDelivery";
export type { WebhookEndpoint } from "./bindings/WebhookEndpoint";
export type { WebhookList } from "./bindings/WebhookList";

// Keys → "Scan a folder…" (scan_folder): keys found in a folder's files, never the raw keys.
export type { FolderScan } from "./bindings/FolderScan";
export type { FolderFinding } from "./bindings/FolderFinding";
export type { FindingStatus } from "./bindings/FindingStatus";

// Keys → "Tighten this key…": least-privilege suggestions, replays against
// history, report-only proposals and the restrictions they become.
export type { Proposal } from "./bindings/Proposal";
export type { ReplayReport } from "./bindings/ReplayReport";
export type { Restriction } from "./bindings/Restriction";
export type { RuleReplay } from "./bindings/RuleReplay";
export type { SeenValue } from "./bindings/SeenValue";
export type { Suggestion } from "./bindings/Suggestion";
export type { Suggestions } from "./bindings/Suggestions";
