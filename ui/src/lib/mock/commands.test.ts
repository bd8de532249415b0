// The handler table against api.ts itself: every method api.ts has sends the
// command and argument names ./commands.ts lists for it, every such command
// has a handler (and there is none for a command api.ts never sends), and
// every handler answers or refuses with a PortalError, never a crash.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { api, isPortalError, type Api } from "../api";
import { COMMANDS } from "./commands";
import { handlers } from "./handlers";

type Method = keyof Api;
type Call = { cmd: string; args: Record<string, unknown> };

const CODE = "7K3QM-X9D2A-BC4EF-GH5JK";

/** One call of each api.ts method, every parameter given (a new method without one does not compile). */
const SAMPLE: { [M in Method]: Required<Parameters<Api[M]>> } = {
  portalStatus: [],
  getAccount: [],
  updateAccount: [{ leak_policy: "revoke" }],
  previewAlerts: [{ days: 7 }],
  notifyPrefs: [],
  setNotifyPrefs: [{ muted: ["after_hours"], quiet_hours: { start: "22:00", end: "07:00" } }],
  planTable: [],
  listKeys: ["0"],
  getKey: ["key_00000000000000000000"],
  createKey: [{ name: "n", environment: "test", scopes: ["read"], resources: [], expires_at: null, rate_limit: null }],
  updateKey: ["key_00000000000000000000", { name: "m" }],
  revokeKey: ["key_00000000000000000000"],
  quarantineKey: ["key_00000000000000000000", "Pasted in chat"],
  releaseKey: ["key_00000000000000000000"],
  keySuggestions: ["key_00000000000000000000", 30],
  replayRestriction: ["key_00000000000000000000", { allowed_ips: ["203.0.113.0/24"] }, 7],
  proposeRestriction: ["key_00000000000000000000", { scopes: ["read"], per_minute: 30 }, 7],
  enforceProposal: ["key_00000000000000000000"],
  dropProposal: ["key_00000000000000000000"],
  scanFolder: [],
  auditLog: ["0"],
  copySecret: ["to_test_x"],
  connectRemote: ["https://k.example", "to_live_admin"],
  useService: ["https://k.example"],
  signOut: ["https://k.example"],
  listAlerts: [true],
  ackAlert: ["alt_00000000000000000000"],
  listWebhooks: [],
  createWebhook: [{ url: "https://ok.example/h", events: ["key.created"], description: "d" }],
  updateWebhook: ["wh_00000000000000000000", { enabled: true }],
  deleteWebhook: ["wh_00000000000000000000"],
  testWebhook: ["wh_00000000000000000000"],
  webhookDeliveries: ["wh_00000000000000000000"],
  retryDelivery: ["wh_00000000000000000000", 1],
  keyUsage: ["key_00000000000000000000", "1h", "minute"],
  accountUsage: ["24h", null],
  exportUsageCsv: ["key_00000000000000000000", "7d", "hour"],
  rotateKey: ["key_00000000000000000000"],
  replacementInfo: ["key_00000000000000000000"],
  checkReplacement: ["key_00000000000000000000", `to_live_${"0".repeat(56)}96ea3aaf`],
  rotateCompromised: ["key_00000000000000000000"],
  rotateAdminCredential: [],
  enrollmentPreview: ["http://127.0.0.1:8080", CODE],
  enroll: ["http://127.0.0.1:8080", CODE, false],
  takeEnrollLink: [],
  startupReady: [[{ name: "keys", at_ms: 12.5 }], 20],
};

const methods = Object.keys(api) as Method[];
/** What api.ts sent for each method (through Tauri's IPC mock). */
const sent = new Map<Method, Call[]>();

beforeAll(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  let calls: Call[] = [];
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
    return null;
  });
  try {
    for (const m of methods) {
      calls = [];
      await (api[m] as (...a: unknown[]) => Promise<unknown>)(...SAMPLE[m]);
      sent.set(m, calls);
    }
  } finally {
    clearMocks();
  }
});

afterAll(() => window.history.replaceState({}, "", "/"));

/** The one command method `m` sent. */
function sentBy(m: Method): Call {
  const calls = sent.get(m) ?? [];
  expect(calls, m).toHaveLength(1);
  return calls[0];
}

describe("the mock's command table", () => {
  it("lists every api.ts method, with the command and argument names api.ts sends", () => {
    expect(Object.keys(COMMANDS).sort()).toEqual([...methods].sort());
    expect(Object.keys(SAMPLE).sort()).toEqual([...methods].sort());
    for (const m of methods) {
      const spec = COMMANDS[m];
      const params: readonly unknown[] = SAMPLE[m];
      const args = Object.fromEntries(spec.args.map((name, i) => [name, params[i]]));
      expect(sentBy(m), m).toEqual({ cmd: spec.command, args });
    }
  });

  it("has a handler for every command api.ts invokes, and for nothing else", () => {
    const invoked = new Set(methods.map((m) => sentBy(m).cmd));
    expect(Object.keys(handlers).sort()).toEqual([...invoked].sort());
  });

  it("every handler answers what api.ts sends, or refuses with a PortalError", async () => {
    vi.resetModules();
    const { mockInvoke } = await import("../mock-backend");
    const refused = new Map<string, unknown>();
    for (const m of methods) {
      const { cmd, args } = sentBy(m);
      await mockInvoke(cmd, args).catch((e: unknown) => refused.set(cmd, e));
    }
    for (const [cmd, e] of refused) expect(isPortalError(e), `${cmd}: ${String(e)}`).toBe(true);
    // The samples' ids name nothing in the demo account: only those lookups are refused.
    expect(Object.fromEntries([...refused].map(([cmd, e]) => [cmd, (e as { code: string }).code]))).toEqual({
      ack_alert: "not_found",
      check_replacement: "not_found",
      delete_webhook: "not_found",
      drop_proposal: "not_found",
      enforce_proposal: "not_found",
      export_usage_csv: "not_found",
      get_key: "not_found",
      key_suggestions: "not_found",
      key_usage: "not_found",
      propose_restriction: "not_found",
      quarantine_key: "not_found",
      release_key: "not_found",
      replay_restriction: "not_found",
      retry_delivery: "not_found",
      revoke_key: "not_found",
      rotate_compromised: "not_found",
      rotate_key: "not_found",
      test_webhook: "not_found",
      update_key: "not_found",
      update_webhook: "not_found",
      webhook_deliveries: "not_found",
    });
    await expect(mockInvoke("no_such_command")).rejects.toBe("command no_such_command not found");
  });
});
