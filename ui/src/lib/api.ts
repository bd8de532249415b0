// The one typed wrapper over Tauri's `invoke` for every command of
// docs/portal-commands.md. Every rejection becomes a PortalError.
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { StartupMark } from "./startup";
import type {
  AccountView,
  AdminRotation,
  AlertPreview,
  AlertPreviewRequest,
  NotifyPrefs,
  UpdateAccountRequest,
  CompromiseRotation,
  EnrollLink,
  EnrollOffer,
  ReplacementCheck,
  ReplacementInfo,
  Alert,
  AlertList,
  AccountUsage,
  AuditList,
  KeyList,
  KeyUsage,
  KeyView,
  NewKeyInput,
  OnceSecret,
  PlanRow,
  PortalError,
  PortalErrorCode,
  PortalStatus,
  ReplayReport,
  Restriction,
  Step,
  Suggestions,
  UpdateKeyRequest,
  UsageRange,
  CreateWebhookRequest,
  CreatedWebhook,
  FolderScan,
  DeliveryList,
  UpdateWebhookRequest,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookList,
} from "./types";

type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

const CODES: ReadonlySet<string> = new Set<PortalErrorCode>([
  "unreachable",
  "unauthorized",
  "forbidden",
  "not_found",
  "invalid",
  "conflict",
  "limit_exceeded",
  "account_suspended",
  "rate_limited",
  "response_too_large",
  "keychain_unavailable",
  "not_connected",
  "internal",
]);

const FALLBACK: Record<PortalErrorCode, string> = {
  unreachable: "The key service could not be reached.",
  unauthorized: "The service did not accept this portal's credential.",
  forbidden: "This credential is not allowed to do that.",
  not_found: "That no longer exists.",
  invalid: "Some of what was sent is not valid.",
  conflict: "That conflicts with the current state.",
  limit_exceeded: "The account's plan allows no more of these.",
  account_suspended: "This account is suspended by the service's operator.",
  rate_limited: "Too many requests right now.",
  response_too_large: "The service's answer was larger than the portal reads.",
  keychain_unavailable: "The system keychain is not available.",
  not_connected: "Not connected to a key service.",
  internal: "Something went wrong inside the app.",
};

export function isPortalError(e: unknown): e is PortalError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { code?: unknown }).code === "string" &&
    CODES.has((e as { code: string }).code) &&
    typeof (e as { message?: unknown }).message === "string"
  );
}

function toSeconds(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return Math.ceil(v);
  if (typeof v === "bigint" && v >= 0n) return Number(v);
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** Whatever `invoke` rejected with, as a PortalError (never throws). */
export function toPortalError(e: unknown): PortalError {
  if (typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string") {
    const raw = e as { code: string; message?: unknown; retry_after?: unknown };
    const code: PortalErrorCode = CODES.has(raw.code) ? (raw.code as PortalErrorCode) : "internal";
    const message =
      typeof raw.message === "string" && raw.message.trim() !== "" ? raw.message : FALLBACK[code];
    return { code, message, retry_after: toSeconds(raw.retry_after) };
  }
  // Tauri itself rejects with a plain string (unknown command, bad arguments).
  if (typeof e === "string" && e.trim() !== "") {
    return { code: "internal", message: e, retry_after: null };
  }
  if (e instanceof Error && e.message) {
    return { code: "internal", message: e.message, retry_after: null };
  }
  return { code: "internal", message: FALLBACK.internal, retry_after: null };
}

/** True inside the Tauri webview. */
export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

const notInApp: Invoke = () =>
  Promise.reject({
    code: "internal",
    message: "This page only works inside the Keyport desktop app.",
    retry_after: null,
  });

let mockBackend: Promise<Invoke> | null = null;

function getBackend(): Promise<Invoke> {
  if (inTauri()) return Promise.resolve(invoke as Invoke);
  // The in-memory mock exists only in `--mode mock` builds and the dev server,
  // and even there only outside Tauri. In the production build this branch is
  // constant-false and the mock module is never bundled.
  if (__KEYPORT_MOCK__) {
    mockBackend ??= import("./mock-backend").then((m) => m.mockInvoke as Invoke);
    return mockBackend;
  }
  return Promise.resolve(notInApp);
}

export type CallOutcome = { command: string; error: PortalError | null };
type Listener = (outcome: CallOutcome) => void;
const listeners = new Set<Listener>();

/** Observe every call's outcome (the app uses it for the connection indicator). */
export function onCall(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  let result: T;
  try {
    const run = await getBackend();
    result = (await run(command, args)) as T;
  } catch (e) {
    const error = toPortalError(e);
    for (const l of listeners) l({ command, error });
    throw error;
  }
  for (const l of listeners) l({ command, error: null });
  return result;
}

export const api = {
  portalStatus: () => call<PortalStatus>("portal_status"),
  getAccount: () => call<AccountView>("get_account"),
  /** Rotation policy, business hours, allowed countries, alert rules: only the fields present change. */
  updateAccount: (patch: UpdateAccountRequest) => call<AccountView>("update_account", { patch }),
  /** What proposed policies would have raised over the last 7 or 30 days, next to the current ones. */
  previewAlerts: (request: AlertPreviewRequest) => call<AlertPreview>("preview_alerts", { request }),
  /** This computer's desktop-notification preferences for the connected account. */
  notifyPrefs: () => call<NotifyPrefs>("notify_prefs"),
  /** Saves them; "invalid" for bad quiet hours. */
  setNotifyPrefs: (prefs: NotifyPrefs) => call<NotifyPrefs>("set_notify_prefs", { prefs }),
  planTable: () => call<PlanRow[]>("plan_table"),
  listKeys: (cursor?: string | null) => call<KeyList>("list_keys", { cursor: cursor ?? null }),
  getKey: (id: string) => call<KeyView>("get_key", { id }),
  createKey: (input: NewKeyInput) => call<OnceSecret>("create_key", { input }),
  updateKey: (id: string, patch: UpdateKeyRequest) => call<KeyView>("update_key", { id, patch }),
  revokeKey: (id: string) => call<KeyView>("revoke_key", { id }),
  /**
   * Sets the key aside as possibly compromised: read-only, at most 10 requests
   * a minute, until released or revoked. "conflict" for admin keys and keys
   * that are not active; "invalid" for an empty or over-long reason.
   */
  quarantineKey: (id: string, reason: string) => call<KeyView>("quarantine_key", { id, reason }),
  /** Ends a key's quarantine: it works as before from the next request. */
  releaseKey: (id: string) => call<KeyView>("release_key", { id }),
  /**
   * Narrower settings that would have refused none of the key's use over the
   * last `days` (null: 30), each with its evidence and a ready restriction;
   * `notes` say what could not be suggested.
   */
  keySuggestions: (id: string, days: number | null = null) => call<Suggestions>("key_suggestions", { id, days }),
  /**
   * What `restriction` would have refused of the key's served requests over
   * the last `days` (1–90; null: 7), rule by rule. Changes nothing.
   */
  replayRestriction: (id: string, restriction: Restriction, days: number | null = null) =>
    call<ReplayReport>("replay_restriction", { id, restriction, days }),
  /**
   * Starts (or replaces) report-only mode for `days` (1–30; null: 7):
   * requests it would refuse are served and counted as `would_deny`.
   * "invalid" when the restriction would widen the key.
   */
  proposeRestriction: (id: string, restriction: Restriction, days: number | null = null) =>
    call<KeyView>("propose_restriction", { id, restriction, days }),
  /** The proposal's rules become the key's, from the next request; "conflict" without one. */
  enforceProposal: (id: string) => call<KeyView>("enforce_proposal", { id }),
  /** The proposal ends; the key is unchanged. */
  dropProposal: (id: string) => call<KeyView>("drop_proposal", { id }),
  /**
   * Asks for a folder (native picker) and looks through its files for keys:
   * what was found (never the raw keys), or null when the picker was cancelled.
   */
  scanFolder: () => call<FolderScan | null>("scan_folder"),
  auditLog: (cursor?: string | null) => call<AuditList>("audit_log", { cursor: cursor ?? null }),
  copySecret: (secret: string) => call<void>("copy_secret", { secret }),
  connectRemote: (url: string, adminKey: string) =>
    call<PortalStatus>("connect_remote", { url, adminKey }),
  useService: (url: string | null) => call<PortalStatus>("use_service", { url }),
  signOut: (url: string) => call<PortalStatus>("sign_out", { url }),
  listAlerts: (all: boolean) => call<AlertList>("list_alerts", { all }),
  ackAlert: (id: string) => call<Alert>("ack_alert", { id }),
  /** The account's webhook endpoints (oldest first) and the event types they can subscribe to. */
  listWebhooks: () => call<WebhookList>("list_webhooks"),
  /** A new endpoint and its signing secret `whsec_…`: the only time the secret is shown. */
  createWebhook: (req: CreateWebhookRequest) => call<CreatedWebhook>("create_webhook", { req }),
  /** URL, events, description or enabled changed (only the fields present). */
  updateWebhook: (id: string, req: UpdateWebhookRequest) => call<WebhookEndpoint>("update_webhook", { id, req }),
  /** The endpoint and its delivery log deleted. */
  deleteWebhook: (id: string) => call<null>("delete_webhook", { id }),
  /** A `webhook.test` event queued for this endpoint and sent at once: its (pending) delivery. */
  testWebhook: (id: string) => call<WebhookDelivery>("test_webhook", { id }),
  /** The endpoint's last 50 deliveries, newest first. */
  webhookDeliveries: (id: string) => call<DeliveryList>("webhook_deliveries", { id }),
  /** A pending or failed delivery sent again now; "conflict" for a delivered one or a disabled endpoint. */
  retryDelivery: (id: string, delivery: number) => call<WebhookDelivery>("retry_delivery", { id, delivery }),
  /** One key's series by outcome; step null = the service's default for the range. */
  keyUsage: (id: string, range: UsageRange, step: Step | null = null) =>
    call<KeyUsage>("key_usage", { id, range, step }),
  accountUsage: (range: UsageRange, step: Step | null = null) =>
    call<AccountUsage>("account_usage", { range, step }),
  /** Asks where to save (native dialog) and writes the CSV: the path, or null when cancelled. */
  exportUsageCsv: (id: string, range: UsageRange, step: Step | null = null) =>
    call<string | null>("export_usage_csv", { id, range, step }),
  /** The replacement of key `id` (same settings; the old key keeps working), shown once. */
  rotateKey: (id: string) => call<OnceSecret>("rotate_key", { id }),
  /** Whether this portal generated replacement `id`, and how many checks it sent with it. */
  replacementInfo: (id: string) => call<ReplacementInfo>("replacement_info", { id }),
  /** Is `secret` (pasted from the application) the replacement `id`? Drop `secret` once this returns. */
  checkReplacement: (id: string, secret: string) => call<ReplacementCheck>("check_replacement", { id, secret }),
  /** Suspected compromise: a replacement (shown once), and the old key revoked at once. */
  rotateCompromised: (id: string) => call<CompromiseRotation>("rotate_compromised", { id }),
  /** The portal's own admin key: new one created, checked, stored in the keychain, then the old one revoked. */
  rotateAdminCredential: () => call<AdminRotation>("rotate_admin_credential"),
  /**
   * What an enrollment code is for (account, plan, expiry), without using it.
   * `code` may be a whole keyport:// link: then the link names the service
   * and `serviceUrl` is ignored. Rejects with "invalid" (bad URL, not a code,
   * not a Keyport service), "forbidden" (code wrong, used or expired; account
   * suspended), "rate_limited" or "unreachable".
   */
  enrollmentPreview: (serviceUrl: string, code: string) =>
    call<EnrollOffer>("enrollment_preview", { serviceUrl, code }),
  /**
   * Uses the code: Rust makes a new admin key on this computer, sends the
   * service only its hash, keeps it in the keychain and connects (like
   * `connectRemote`). Same errors as the preview, plus "keychain_unavailable".
   */
  enroll: (serviceUrl: string, code: string, revokeOtherAdminKeys: boolean) =>
    call<PortalStatus>("enroll", { serviceUrl, code, revokeOtherAdminKeys }),
  /** The keyport://enroll link the app was started with; each link is handed out once. */
  takeEnrollLink: () => call<EnrollLink | null>("take_enroll_link"),
  startupReady: (marks: StartupMark[] = [], nowMs = 0) => call<void>("startup_ready", { marks, nowMs }),
};

export type Api = typeof api;

function isEnrollLink(v: unknown): v is EnrollLink {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { service_url?: unknown }).service_url === "string" &&
    typeof (v as { code?: unknown }).code === "string"
  );
}

/**
 * Calls `handler` for each keyport://enroll link opened while the app runs
 * (the "enroll-link" event). Outside Tauri there are no links: nothing to do.
 * Resolves to the function that stops listening.
 */
export async function onEnrollLink(handler: (link: EnrollLink) => void): Promise<() => void> {
  const none = () => undefined;
  if (!inTauri()) return none;
  try {
    const stop = await listen<unknown>("enroll-link", (e) => {
      if (isEnrollLink(e.payload)) handler({ service_url: e.payload.service_url, code: e.payload.code });
    });
    // Unlistening is an IPC call too (typed as returning nothing, it returns
    // a promise): one that fails, the app closing, is no news.
    return () => {
      const done: unknown = stop();
      if (done instanceof Promise) done.catch(() => undefined);
    };
  } catch {
    // No event system (e.g. a test's IPC mock): links then only come at start.
    return none;
  }
}
