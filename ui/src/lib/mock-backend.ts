// DEV ONLY. An in-memory implementation of docs/portal-commands.md for looking
// at the UI in a plain browser (`vite` dev server or a `--mode mock` build).
// api.ts imports it only when __KEYPORT_MOCK__ is true AND the page is not in
// Tauri; the production build does not contain it.
//
// Scenarios, chosen with ?mock=NAME: demo (default), fresh (no keys at all),
// starter (only the admin key), disconnected, unreachable, unauthorized,
// nokeychain, ratelimited. ?delay=MS sets the latency (default 250).
import type {
  AccountView,
  AuditView,
  Environment,
  KeyView,
  LimitsView,
  NewKeyInput,
  OnceSecret,
  Plan,
  PlanRow,
  PortalError,
  PortalStatus,
  RateLimitView,
  UpdateKeyRequest,
} from "./types";

const PLANS: PlanRow[] = [
  { plan: "free", limits: { per_minute: 10, per_day: 1000, burst: 20 } },
  { plan: "starter", limits: { per_minute: 60, per_day: 10000, burst: 100 } },
  { plan: "professional", limits: { per_minute: 300, per_day: 100000, burst: 500 } },
  { plan: "enterprise", limits: { per_minute: 1000, per_day: null, burst: 2000 } },
];

const DAY = 86_400_000;
const params = new URLSearchParams(typeof location === "undefined" ? "" : location.search);
const scenario = params.get("mock") ?? "demo";
const delay = Number(params.get("delay") ?? 250);

function limitsOf(plan: Plan): LimitsView {
  return PLANS.find((p) => p.plan === plan)!.limits;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function hex(n: number): string {
  const b = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function fail(code: PortalError["code"], message: string, retry_after: number | null = null): never {
  throw { code, message, retry_after } satisfies PortalError;
}

function effective(plan: LimitsView, rl: RateLimitView | null): LimitsView {
  if (!rl) return plan;
  return {
    per_minute: Math.min(plan.per_minute, rl.per_minute ?? Infinity),
    per_day:
      plan.per_day === null ? rl.per_day : rl.per_day === null ? plan.per_day : Math.min(plan.per_day, rl.per_day),
    burst: Math.min(plan.burst, rl.burst ?? Infinity),
  };
}

type Seed = {
  name: string;
  env: Environment;
  scopes: KeyView["scopes"];
  resources?: string[];
  ageDays: number;
  usedMinAgo?: number | null;
  revokedDaysAgo?: number;
  expiresInDays?: number;
  rate?: RateLimitView;
};

const now0 = Date.now();
const account: AccountView = {
  id: "acc_01hx9c3m2a",
  name: scenario === "disconnected" ? "" : "Acme Robotics",
  plan: "professional",
  limits: limitsOf("professional"),
  created_at: iso(now0 - 120 * DAY),
  settings: {
    rotation_days: { live: 90, test: 30, staging: 30 },
    business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
    allowed_countries: [],
  },
  credential_key_id: "key_admin",
};

/** What the service computes: created + the account's policy, none once revoked or rotated. */
function dueAt(env: Environment, created: number, revoked: boolean): string | null {
  return revoked ? null : iso(created + account.settings.rotation_days[env] * DAY);
}

let keys: KeyView[] = [];
let audit: AuditView[] = [];
let auditId = 1;

function record(action: string, key: KeyView | null, at: number, detail: Record<string, unknown> = {}) {
  audit.unshift({
    id: auditId++ as unknown as bigint,
    at: iso(at),
    actor: keys[keys.length - 1]?.id ?? "key_admin",
    action,
    key_id: key?.id ?? null,
    source: "127.0.0.1",
    detail,
  });
}

function addSeed(s: Seed) {
  const created = now0 - s.ageDays * DAY;
  const rl = s.rate ?? null;
  const key: KeyView = {
    id: `key_${hex(6)}`,
    name: s.name,
    environment: s.env,
    prefix: `to_${s.env}_`,
    last4: hex(2),
    scopes: s.scopes,
    resources: s.resources ?? [],
    created_at: iso(created),
    expires_at: s.expiresInDays === undefined ? null : iso(now0 + s.expiresInDays * DAY),
    revoked_at: s.revokedDaysAgo === undefined ? null : iso(now0 - s.revokedDaysAgo * DAY),
    last_used_at:
      s.usedMinAgo === undefined || s.usedMinAgo === null ? null : iso(now0 - s.usedMinAgo * 60_000),
    status: s.revokedDaysAgo !== undefined ? "revoked" : "active",
    rate_limit: rl,
    effective_limits: effective(account.limits, rl),
    replaces: null,
    replaced_by: null,
    rotation_due_at: dueAt(s.env, created, s.revokedDaysAgo !== undefined),
  };
  keys.unshift(key);
  record("key.create", key, created, { name: key.name });
  if (s.revokedDaysAgo !== undefined) record("key.revoke", key, now0 - s.revokedDaysAgo * DAY, { name: key.name });
  return key;
}

function seed() {
  record("account.create", null, now0 - 120 * DAY, { plan: "professional" });
  if (scenario === "fresh") return;
  account.credential_key_id = addSeed({
    name: "Admin key",
    env: "live",
    scopes: ["admin"],
    ageDays: 120,
    usedMinAgo: 0.2,
  }).id;
  if (scenario === "starter") return;
  const old = addSeed({
    name: "Billing worker",
    env: "live",
    scopes: ["read", "write"],
    resources: ["project:billing"],
    ageDays: 97,
    usedMinAgo: 3,
  });
  addSeed({ name: "Old CI runner", env: "test", scopes: ["read"], ageDays: 60, revokedDaysAgo: 12, usedMinAgo: 20_000 });
  addSeed({
    name: "Analytics dashboard",
    env: "live",
    scopes: ["read"],
    resources: ["project:alpha", "project:beta", "domain:example.com"],
    ageDays: 80,
    usedMinAgo: 42,
    rate: { per_minute: 60, per_day: 20000, burst: null },
  });
  addSeed({ name: "Staging deploy", env: "staging", scopes: ["read", "write"], ageDays: 9, usedMinAgo: 180, expiresInDays: 5 });
  addSeed({ name: "Local development", env: "test", scopes: ["read", "write"], ageDays: 2, usedMinAgo: null });
  const repl = addSeed({
    name: "Billing worker (2026)",
    env: "live",
    scopes: ["read", "write"],
    resources: ["project:billing"],
    ageDays: 1,
    usedMinAgo: 1,
  });
  old.replaced_by = repl.id;
  repl.replaces = old.id;
}
seed();
// Newest first, like the service.
keys.sort((a, b) => b.created_at.localeCompare(a.created_at));
audit.sort((a, b) => b.at.localeCompare(a.at));

function status(): PortalStatus {
  const connected = scenario !== "disconnected" && scenario !== "nokeychain";
  return {
    mode: scenario === "disconnected" ? "remote" : "embedded",
    service_url: scenario === "disconnected" ? "https://keys.example.com" : "http://127.0.0.1:41234",
    account: connected ? { ...account } : null,
    keychain:
      scenario === "nokeychain"
        ? {
            available: false,
            backend: "Secret Service",
            problem: "No Secret Service provider is running on the session bus (org.freedesktop.secrets).",
            fix: "Install and start a keyring, e.g. `sudo apt install gnome-keyring`, then log out and back in.",
          }
        : { available: true, backend: "Secret Service", problem: null, fix: null },
    saved_services:
      scenario === "disconnected"
        ? [{ url: "https://keys.example.com", account_name: "Acme Robotics" }]
        : [{ url: "https://keys.staging.example.com", account_name: "Acme (staging)" }],
    try_it:
      scenario === "disconnected"
        ? null
        : {
            gateway_url: "http://127.0.0.1:41234",
            curl: 'curl -H "Authorization: Bearer $KEYPORT_KEY" http://127.0.0.1:41234/projects/demo/items',
          },
  };
}

function page<T>(all: T[], cursor: unknown, size: number): { items: T[]; next: string | null } {
  const start = typeof cursor === "string" && cursor !== "" ? Number(cursor) : 0;
  const items = all.slice(start, start + size);
  return { items, next: start + size < all.length ? String(start + size) : null };
}

function findKey(id: unknown): KeyView {
  const k = keys.find((x) => x.id === id);
  if (!k) fail("not_found", "No key with that id in this account.");
  return k;
}

function checkService() {
  if (scenario === "unreachable") fail("unreachable", "Could not connect to http://127.0.0.1:41234 (connection refused).");
  if (scenario === "unauthorized") fail("unauthorized", "The service answered 401: the admin key was not accepted.");
  if (scenario === "disconnected") fail("not_connected", "No service is connected.");
}

function handle(cmd: string, a: Record<string, unknown>): unknown {
  switch (cmd) {
    case "portal_status":
      return status();
    case "plan_table":
      return PLANS;
    case "get_account":
      checkService();
      return { ...account };
    case "list_keys": {
      checkService();
      const p = page(keys, a.cursor, 100);
      return { keys: p.items, next_cursor: p.next };
    }
    case "get_key":
      checkService();
      return findKey(a.id);
    case "create_key": {
      checkService();
      if (scenario === "ratelimited") fail("rate_limited", "The service answered 429 Too Many Requests.", 30);
      const input = a.input as NewKeyInput;
      const secret = `to_${input.environment}_${hex(32)}`;
      const key: KeyView = {
        id: `key_${hex(6)}`,
        name: input.name,
        environment: input.environment,
        prefix: `to_${input.environment}_`,
        last4: secret.slice(-4),
        scopes: input.scopes,
        resources: [...input.resources].sort(),
        created_at: iso(Date.now()),
        expires_at: input.expires_at,
        revoked_at: null,
        last_used_at: null,
        status: "active",
        rate_limit: input.rate_limit,
        effective_limits: effective(account.limits, input.rate_limit),
        replaces: null,
        replaced_by: null,
        rotation_due_at: dueAt(input.environment, Date.now(), false),
      };
      keys.unshift(key);
      record("key.create", key, Date.now(), { name: key.name });
      return { key, secret } satisfies OnceSecret;
    }
    case "update_key": {
      checkService();
      const k = findKey(a.id);
      if (k.status === "revoked") fail("conflict", "a revoked key cannot be changed");
      const p = a.patch as UpdateKeyRequest;
      if (Object.keys(p).length === 0) fail("invalid", "nothing to change");
      if (p.name !== undefined) k.name = p.name;
      if (p.scopes !== undefined) k.scopes = p.scopes;
      if (p.resources !== undefined) k.resources = p.resources;
      if (p.expires_at !== undefined) k.expires_at = p.expires_at;
      if (p.rate_limit !== undefined) {
        k.rate_limit = p.rate_limit;
        k.effective_limits = effective(account.limits, p.rate_limit);
      }
      record("key.update", k, Date.now(), { ...p });
      return { ...k };
    }
    case "revoke_key": {
      checkService();
      const k = findKey(a.id);
      if (k.id === account.credential_key_id) {
        fail(
          "conflict",
          "This is the admin key this portal signs in with; revoking it here would lock the portal out. Connect with another admin key first, then revoke this one.",
        );
      }
      if (k.status !== "revoked") {
        k.status = "revoked";
        k.revoked_at = iso(Date.now());
        record("key.revoke", k, Date.now(), { name: k.name });
      }
      return { ...k };
    }
    case "audit_log": {
      checkService();
      const p = page(audit, a.cursor, 50);
      return { events: p.items, next_cursor: p.next };
    }
    case "copy_secret":
    case "startup_ready":
      return null;
    case "connect_remote": {
      const url = String(a.url ?? "");
      if (!/^https?:\/\/[^/\s]+/.test(url)) fail("invalid", "The URL must start with http:// or https://.");
      if (url.includes("down")) fail("unreachable", `Could not connect to ${url}.`);
      if (!String(a.adminKey ?? "").startsWith("to_")) fail("unauthorized", "The service answered 401: that key is not an admin key of any account.");
      return { ...status(), mode: "remote", service_url: url, account: { ...account } };
    }
    case "use_service":
      return { ...status(), mode: a.url === null ? "embedded" : "remote", service_url: (a.url as string | null) ?? "http://127.0.0.1:41234", account: { ...account } };
    case "sign_out":
      return { ...status(), mode: "embedded", account: { ...account }, saved_services: [] };
    default:
      throw `command ${cmd} not found`;
  }
}

export async function mockInvoke(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
  await new Promise((r) => setTimeout(r, delay));
  // Hand out copies, like IPC would.
  return structuredClone(handle(cmd, args));
}

// Mark the page so a screenshot can never be mistaken for the real app
// (CSSOM styles: allowed by the CSP, unlike a style attribute).
if (typeof document !== "undefined") {
  const flag = document.createElement("div");
  flag.textContent = `Mock backend (${scenario})`;
  flag.setAttribute("aria-hidden", "true");
  Object.assign(flag.style, {
    position: "fixed",
    bottom: "6px",
    left: "50%",
    transform: "translateX(-50%)",
    zIndex: "90",
    padding: "2px 8px",
    borderRadius: "10px",
    background: "rgba(240,181,74,0.18)",
    color: "#9a5b00",
    font: "11px system-ui, sans-serif",
    pointerEvents: "none",
  });
  document.body.append(flag);
}
