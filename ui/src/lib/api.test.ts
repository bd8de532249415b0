import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emit } from "@tauri-apps/api/event";
import { api, inTauri, isPortalError, onCall, onEnrollLink, toPortalError } from "./api";
import type { EnrollLink } from "./types";

type Call = { cmd: string; args: unknown };
let calls: Call[] = [];
let reply: (cmd: string, args: unknown) => unknown;

beforeEach(() => {
  calls = [];
  reply = () => null;
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    return reply(cmd, args);
  });
});

afterEach(() => clearMocks());

describe("commands and arguments (docs/portal-commands.md)", () => {
  it("sends every command with the contract's camelCase argument names", async () => {
    const input = {
      name: "n",
      environment: "test" as const,
      scopes: ["read" as const],
      resources: [],
      expires_at: null,
      rate_limit: null,
    };
    await api.portalStatus();
    await api.getAccount();
    await api.planTable();
    await api.listKeys();
    await api.listKeys("c2");
    await api.getKey("key_1");
    await api.createKey(input);
    await api.updateKey("key_1", { name: "m" });
    await api.revokeKey("key_1");
    await api.auditLog();
    await api.auditLog("c9");
    await api.copySecret("to_test_x");
    await api.connectRemote("https://k.example", "to_live_admin");
    await api.useService(null);
    await api.useService("https://k.example");
    await api.signOut("https://k.example");
    await api.startupReady([{ name: "keys", at_ms: 12.5 }], 20);
    expect(calls).toEqual([
      { cmd: "portal_status", args: {} },
      { cmd: "get_account", args: {} },
      { cmd: "plan_table", args: {} },
      { cmd: "list_keys", args: { cursor: null } },
      { cmd: "list_keys", args: { cursor: "c2" } },
      { cmd: "get_key", args: { id: "key_1" } },
      { cmd: "create_key", args: { input } },
      { cmd: "update_key", args: { id: "key_1", patch: { name: "m" } } },
      { cmd: "revoke_key", args: { id: "key_1" } },
      { cmd: "audit_log", args: { cursor: null } },
      { cmd: "audit_log", args: { cursor: "c9" } },
      { cmd: "copy_secret", args: { secret: "to_test_x" } },
      { cmd: "connect_remote", args: { url: "https://k.example", adminKey: "to_live_admin" } },
      { cmd: "use_service", args: { url: null } },
      { cmd: "use_service", args: { url: "https://k.example" } },
      { cmd: "sign_out", args: { url: "https://k.example" } },
      { cmd: "startup_ready", args: { marks: [{ name: "keys", at_ms: 12.5 }], nowMs: 20 } },
    ]);
  });

  it("sends the policy and notification commands with their argument names", async () => {
    const rules = {
      volume_spike: { enabled: false, factor: null, min_requests: null },
      error_spike: { enabled: null, factor: 4, min_errors: null },
      new_country: { enabled: null, learning_requests: null },
      after_hours: { enabled: null, min_requests: 12 },
      unusual_endpoint: { enabled: null, learning_requests: null, denials: null },
    };
    const prefs = { muted: ["after_hours" as const], quiet_hours: { start: "22:00", end: "07:00" } };
    await api.updateAccount({ rotation_days: { live: 60, test: 30, staging: 30 }, anomaly_rules: rules });
    await api.previewAlerts({ days: 30, allowed_countries: ["DE"] });
    await api.notifyPrefs();
    await api.setNotifyPrefs(prefs);
    expect(calls).toEqual([
      {
        cmd: "update_account",
        args: { patch: { rotation_days: { live: 60, test: 30, staging: 30 }, anomaly_rules: rules } },
      },
      { cmd: "preview_alerts", args: { request: { days: 30, allowed_countries: ["DE"] } } },
      { cmd: "notify_prefs", args: {} },
      { cmd: "set_notify_prefs", args: { prefs } },
    ]);
  });

  it("sends the webhook commands with their argument names", async () => {
    const req = { url: "https://hooks.example.com/k", events: ["key.created" as const], description: "Ops" };
    await api.listWebhooks();
    await api.createWebhook(req);
    await api.updateWebhook("wh_1", { enabled: false });
    await api.deleteWebhook("wh_1");
    await api.testWebhook("wh_1");
    await api.webhookDeliveries("wh_1");
    await api.retryDelivery("wh_1", 42);
    expect(calls).toEqual([
      { cmd: "list_webhooks", args: {} },
      { cmd: "create_webhook", args: { req } },
      { cmd: "update_webhook", args: { id: "wh_1", req: { enabled: false } } },
      { cmd: "delete_webhook", args: { id: "wh_1" } },
      { cmd: "test_webhook", args: { id: "wh_1" } },
      { cmd: "webhook_deliveries", args: { id: "wh_1" } },
      { cmd: "retry_delivery", args: { id: "wh_1", delivery: 42 } },
    ]);
  });

  it("sends the enrollment commands with their argument names", async () => {
    await api.enrollmentPreview("https://k.example", "7K3QM-X9D2A-BC4EF-GH5JK");
    await api.enroll("https://k.example", "7K3QM-X9D2A-BC4EF-GH5JK", true);
    await api.takeEnrollLink();
    expect(calls).toEqual([
      { cmd: "enrollment_preview", args: { serviceUrl: "https://k.example", code: "7K3QM-X9D2A-BC4EF-GH5JK" } },
      { cmd: "enroll", args: { serviceUrl: "https://k.example", code: "7K3QM-X9D2A-BC4EF-GH5JK", revokeOtherAdminKeys: true } },
      { cmd: "take_enroll_link", args: {} },
    ]);
  });

  it("hands on each enroll-link event's link, and nothing that is not one", async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: EnrollLink[] = [];
    const stop = await onEnrollLink((l) => got.push(l));
    await emit("enroll-link", { service_url: "https://k.example", code: "C0DE" });
    await emit("enroll-link", { service_url: 42 });
    stop();
    await emit("enroll-link", { service_url: "https://late.example", code: "C0DE" });
    expect(got).toEqual([{ service_url: "https://k.example", code: "C0DE" }]);
  });

  it("does not listen for links outside Tauri", async () => {
    clearMocks();
    const internals = window as { __TAURI_INTERNALS__?: unknown };
    delete internals.__TAURI_INTERNALS__;
    const stop = await onEnrollLink(() => undefined);
    expect(calls).toEqual([]);
    expect(() => stop()).not.toThrow();
  });

  it("resolves to what the command returned", async () => {
    reply = () => ({ keys: [], next_cursor: null });
    await expect(api.listKeys()).resolves.toEqual({ keys: [], next_cursor: null });
  });

  it("knows it runs in Tauri when the internals exist", () => {
    expect(inTauri()).toBe(true);
  });
});

describe("rejections become PortalError", () => {
  it("passes a PortalError through", async () => {
    reply = () => {
      throw { code: "rate_limited", message: "Slow down.", retry_after: 30 };
    };
    const e = await api.listKeys().catch((x: unknown) => x);
    expect(e).toEqual({ code: "rate_limited", message: "Slow down.", retry_after: 30 });
    expect(isPortalError(e)).toBe(true);
  });

  it("wraps Tauri's plain string errors", async () => {
    reply = () => {
      throw "command list_keys not found";
    };
    await expect(api.listKeys()).rejects.toEqual({
      code: "internal",
      message: "command list_keys not found",
      retry_after: null,
    });
  });

  it("normalises odd shapes", () => {
    expect(toPortalError({ code: "teapot", message: "short and stout" })).toEqual({
      code: "internal",
      message: "short and stout",
      retry_after: null,
    });
    expect(toPortalError({ code: "unreachable" }).message).toMatch(/could not be reached/);
    // The plan-limit and oversized-answer codes are kept, with a fallback message.
    expect(toPortalError({ code: "limit_exceeded", message: "the free plan allows 5 active keys" }).code).toBe(
      "limit_exceeded",
    );
    expect(toPortalError({ code: "limit_exceeded" }).message).toMatch(/plan allows no more/);
    expect(toPortalError({ code: "response_too_large", message: "too big" }).code).toBe("response_too_large");
    expect(toPortalError({ code: "rate_limited", message: "x", retry_after: 12n }).retry_after).toBe(12);
    expect(toPortalError({ code: "rate_limited", message: "x", retry_after: "7" }).retry_after).toBe(7);
    expect(toPortalError({ code: "rate_limited", message: "x", retry_after: -1 }).retry_after).toBeNull();
    expect(toPortalError(new Error("boom")).message).toBe("boom");
    expect(toPortalError(undefined)).toEqual({
      code: "internal",
      message: "Something went wrong inside the app.",
      retry_after: null,
    });
  });
});

describe("onCall", () => {
  it("reports each outcome and can be removed", async () => {
    const seen: string[] = [];
    const off = onCall(({ command, error }) => seen.push(`${command}:${error?.code ?? "ok"}`));
    await api.getAccount();
    reply = () => {
      throw { code: "unreachable", message: "down", retry_after: null };
    };
    await api.getAccount().catch(() => {});
    off();
    await api.getAccount().catch(() => {});
    expect(seen).toEqual(["get_account:ok", "get_account:unreachable"]);
  });
});

describe("outside Tauri", () => {
  it("refuses clearly instead of crashing", async () => {
    clearMocks();
    delete (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
    expect(inTauri()).toBe(false);
    await expect(api.portalStatus()).rejects.toMatchObject({
      code: "internal",
      message: expect.stringMatching(/Keyport desktop app/),
    });
  });
});
