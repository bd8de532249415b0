// DEV ONLY (the mock backend). The commands api.ts invokes, as types the
// handler table (./handlers) must match: one handler per command, taking
// the arguments api.ts sends and answering what api.ts declares it returns.
//
// Argument and result types are derived from api.ts's own signatures; this
// file only says which command each api method sends and under which names
// its parameters travel. ./commands.test.ts calls every api method and checks
// both against what actually goes over IPC.
import type { Api } from "../api";
import type { MockState } from "./state";

type Spec = { readonly command: string; readonly args: readonly string[] };

/**
 * Each api.ts method: the command it invokes and its parameters' names on
 * the wire, in parameter order (camelCase, as Tauri takes them). A method
 * missing here, or one that is not in api.ts, is a type error.
 */
export const COMMANDS = {
  portalStatus: { command: "portal_status", args: [] },
  getAccount: { command: "get_account", args: [] },
  updateAccount: { command: "update_account", args: ["patch"] },
  previewAlerts: { command: "preview_alerts", args: ["request"] },
  notifyPrefs: { command: "notify_prefs", args: [] },
  setNotifyPrefs: { command: "set_notify_prefs", args: ["prefs"] },
  planTable: { command: "plan_table", args: [] },
  listKeys: { command: "list_keys", args: ["cursor"] },
  getKey: { command: "get_key", args: ["id"] },
  createKey: { command: "create_key", args: ["input"] },
  updateKey: { command: "update_key", args: ["id", "patch"] },
  revokeKey: { command: "revoke_key", args: ["id"] },
  quarantineKey: { command: "quarantine_key", args: ["id", "reason"] },
  releaseKey: { command: "release_key", args: ["id"] },
  keySuggestions: { command: "key_suggestions", args: ["id", "days"] },
  replayRestriction: { command: "replay_restriction", args: ["id", "restriction", "days"] },
  proposeRestriction: { command: "propose_restriction", args: ["id", "restriction", "days"] },
  enforceProposal: { command: "enforce_proposal", args: ["id"] },
  dropProposal: { command: "drop_proposal", args: ["id"] },
  scanFolder: { command: "scan_folder", args: [] },
  auditLog: { command: "audit_log", args: ["cursor"] },
  copySecret: { command: "copy_secret", args: ["secret"] },
  connectRemote: { command: "connect_remote", args: ["url", "adminKey"] },
  useService: { command: "use_service", args: ["url"] },
  signOut: { command: "sign_out", args: ["url"] },
  listAlerts: { command: "list_alerts", args: ["all"] },
  ackAlert: { command: "ack_alert", args: ["id"] },
  listWebhooks: { command: "list_webhooks", args: [] },
  createWebhook: { command: "create_webhook", args: ["req"] },
  updateWebhook: { command: "update_webhook", args: ["id", "req"] },
  deleteWebhook: { command: "delete_webhook", args: ["id"] },
  testWebhook: { command: "test_webhook", args: ["id"] },
  webhookDeliveries: { command: "webhook_deliveries", args: ["id"] },
  retryDelivery: { command: "retry_delivery", args: ["id", "delivery"] },
  keyUsage: { command: "key_usage", args: ["id", "range", "step"] },
  accountUsage: { command: "account_usage", args: ["range", "step"] },
  exportUsageCsv: { command: "export_usage_csv", args: ["id", "range", "step"] },
  rotateKey: { command: "rotate_key", args: ["id"] },
  replacementInfo: { command: "replacement_info", args: ["id"] },
  checkReplacement: { command: "check_replacement", args: ["id", "secret"] },
  rotateCompromised: { command: "rotate_compromised", args: ["id"] },
  rotateAdminCredential: { command: "rotate_admin_credential", args: [] },
  enrollmentPreview: { command: "enrollment_preview", args: ["serviceUrl", "code"] },
  enroll: { command: "enroll", args: ["serviceUrl", "code", "revokeOtherAdminKeys"] },
  takeEnrollLink: { command: "take_enroll_link", args: [] },
  startupReady: { command: "startup_ready", args: ["marks", "nowMs"] },
} as const satisfies { [M in keyof Api]: Spec };

type Table = typeof COMMANDS;
type Method = keyof Api;

/** Every command api.ts can invoke. */
export type CommandName = Table[Method]["command"];

/** The api method that sends command `C`. */
export type MethodOf<C extends CommandName> = { [M in Method]: Table[M]["command"] extends C ? M : never }[Method];

/** A method's parameters with the defaults filled in (api.ts always sends every argument). */
type Sent<M extends Method> = Required<Parameters<Api[M]>>;

type ArgsOfMethod<M extends Method> = {
  [I in keyof Table[M]["args"] & `${number}` as Table[M]["args"][I] & string]: Exclude<Sent<M>[I & keyof Sent<M>], undefined>;
};

/** What command `C` receives: `{ id: string; range: UsageRange; step: Step | null }` for key_usage. */
export type CommandArgs<C extends CommandName> = ArgsOfMethod<MethodOf<C>>;

/** What command `C` resolves to, as api.ts declares it. */
export type CommandResult<C extends CommandName> = Awaited<ReturnType<Api[MethodOf<C>]>>;

/** Answers one command from (and by changing) the mock's state; refuses by throwing a PortalError. */
export type Handler<C extends CommandName> = (args: CommandArgs<C>, state: MockState) => CommandResult<C>;

/** One handler for every command: a missing one, or one of the wrong type, does not compile. */
export type Handlers = { [C in CommandName]: Handler<C> };

// ---- compile-time checks of the table above: each names the culprits

/** Accepts only `never`: an error here names what is wrong. */
type NoneOf<T extends never> = T;
/** Methods whose parameter count differs from the names listed for them. */
type Miscounted = {
  [M in Method]: Sent<M>["length"] extends Table[M]["args"]["length"] ? never : M;
}[Method];
/** Methods sending a command another method sends too (each command has one meaning). */
type Shared = { [M in Method]: Exclude<MethodOf<Table[M]["command"]>, M> }[Method];
export type CommandTableChecks = [NoneOf<Miscounted>, NoneOf<Shared>];
