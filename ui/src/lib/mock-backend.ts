// DEV ONLY. An in-memory implementation of docs/portal-commands.md for looking
// at the UI in a plain browser (`vite` dev server or a `--mode mock` build).
// api.ts imports it only when __KEYPORT_MOCK__ is true AND the page is not in
// Tauri; the production build does not contain it.
//
// Scenarios, chosen with ?mock=NAME: demo (default), fresh (no keys at all),
// starter (only the admin key), atcap (the plan's key cap reached),
// disconnected, unreachable, unauthorized, nokeychain, ratelimited. ?delay=MS sets the latency (default 250).
// Webhooks: an endpoint whose host has "down" or "fail" in it (or ends in
// .invalid) never answers; every other one answers 200 within a second.
// Folder scan: ?scan=cancel answers as if the picker was cancelled, ?scan=clean
// finds nothing; otherwise a working key, a revoked one and a placeholder.
// Leak reports: "Billing worker (2026)" was found in a public commit and
// quarantined (its alert is open); "Old CI runner" was found in a gist and revoked.
// Enrollment: code 7K3QM-X9D2A-BC4EF-GH5JK (any http(s) service URL, e.g.
// http://127.0.0.1:8080) is for "Acme Corp"; every other code was "already used".
import { kindMeta, type AlertKind } from "./alerts";
import { ALERT_DEFAULTS, previewAlerts, settingsProblem, unsetRules, withChanges } from "./mock-policies";
import { SUBSCRIBABLE } from "./webhooks";
import type {
  AccountUsage,
  AccountView,
  Alert,
  AuditView,
  AdminRotation,
  CreatedWebhook,
  CreateWebhookRequest,
  EventType,
  UpdateWebhookRequest,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookList,
  CompromiseRotation,
  EnrollLink,
  EnrollOffer,
  Environment,
  FolderFinding,
  FolderScan,
  KeyTotals,
  KeyUsage,
  KeyView,
  LimitsView,
  NewKeyInput,
  NotifyPrefs,
  OnceSecret,
  Plan,
  PlanRow,
  PortalError,
  PortalStatus,
  RateLimitView,
  ReplacementCheck,
  SavedService,
  ReplacementInfo,
  Step,
  UpdateAccountRequest,
  UpdateKeyRequest,
  UsagePoint,
  UsageRange,
} from "./types";

const PLANS: PlanRow[] = [
  { plan: "free", limits: { per_minute: 10, per_day: 1000, burst: 20 }, key_cap: 5 },
  { plan: "starter", limits: { per_minute: 60, per_day: 10000, burst: 100 }, key_cap: 25 },
  { plan: "professional", limits: { per_minute: 300, per_day: 100000, burst: 500 }, key_cap: 100 },
  { plan: "enterprise", limits: { per_minute: 1000, per_day: null, burst: 2000 }, key_cap: 1000 },
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
const account: Omit<AccountView, "key_cap" | "active_keys"> = {
  id: "acc_01hx9c3m2a",
  name: scenario === "disconnected" ? "" : "Acme Robotics",
  plan: "professional",
  limits: limitsOf("professional"),
  created_at: iso(now0 - 120 * DAY),
  settings: {
    rotation_days: { live: 90, test: 30, staging: 30 },
    business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
    allowed_countries: [],
    anomaly_rules: unsetRules(),
    leak_policy: "quarantine",
  },
  credential_key_id: "key_admin",
  alert_defaults: ALERT_DEFAULTS,
  // The vendor bounds live keys (shows "your service allows at most …").
  max_rotation_days: { live: 365, test: 3650, staging: 3650 },
};

/** This computer's notification preferences (notify_prefs). */
let notifyPrefs: NotifyPrefs = { muted: [], quiet_hours: null };

/**
 * Like the service: active keys, except one draining after a rotation (its
 * replacement is active and has not itself been rotated to an active key).
 */
function activeKeys(): number {
  const now = Date.now();
  const byId = new Map(keys.map((k) => [k.id, k]));
  const on = (k: KeyView | undefined) =>
    k !== undefined && k.revoked_at === null && (k.expires_at === null || Date.parse(k.expires_at) > now);
  return keys.filter((k) => {
    if (!on(k)) return false;
    const next = k.replaced_by === null ? undefined : byId.get(k.replaced_by);
    if (!on(next)) return true;
    return on(next!.replaced_by === null ? undefined : byId.get(next!.replaced_by));
  }).length;
}

/** ?mock=atcap: the cap is whatever the seeded keys already use. */
let capOverride: number | null = null;

function accountView(): AccountView {
  return { ...account, key_cap: capOverride ?? PLANS.find((p) => p.plan === account.plan)!.key_cap, active_keys: activeKeys() };
}

/** What the service computes: created + the account's policy, none once revoked or rotated. */
function dueAt(env: Environment, created: number, revoked: boolean): string | null {
  return revoked ? null : iso(created + account.settings.rotation_days[env] * DAY);
}

let keys: KeyView[] = [];
let audit: AuditView[] = [];
let auditId = 1;

// ---- rotation: simulated applications ----
// A key in a rotation gets a traffic window (ms since epoch): a replacement
// is picked up by "the application" TRAFFIC_AFTER_MS after it is created, and
// the old key falls quiet SWITCH_MS later (instances restart one by one).
const TRAFFIC_AFTER_MS = 8_000;
const SWITCH_MS = 20_000;
const traffic = new Map<string, { from?: number; until?: number }>();
/** Replacements generated "here": a hash of the key (never the key), and the checks sent with it. */
const generated = new Map<string, string>();
const checkTimes = new Map<string, number[]>();

/** The service operator's token that created the account (see seed). */
const OPERATOR = { id: "opr_01hx9c0aa1", name: "Acme Robotics billing" };

function record(
  action: string,
  key: KeyView | null,
  at: number,
  detail: Record<string, unknown> = {},
  actor: string = keys[keys.length - 1]?.id ?? "key_admin",
) {
  audit.unshift({
    id: auditId++ as unknown as bigint,
    at: iso(at),
    actor,
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
    quarantine: null,
  };
  keys.unshift(key);
  record("key.create", key, created, { name: key.name });
  if (s.revokedDaysAgo !== undefined) record("key.revoke", key, now0 - s.revokedDaysAgo * DAY, { name: key.name });
  return key;
}

/** The vendor's operator made the account and sent an enrollment code; later it upgraded the plan. */
function seedOperator() {
  const made = now0 - 120 * DAY - 3_600_000;
  const by = { operator: OPERATOR.name };
  record("account.create", null, made, { plan: "starter", name: account.name, external_id: null, ...by }, OPERATOR.id);
  record("enrollment.create", null, made, { enrollment_id: "enr_01hx9c0b", expires_at: iso(made + DAY), ...by }, OPERATOR.id);
  record("account.operator_update", null, now0 - 30 * DAY, { plan: { from: "starter", to: "professional" }, ...by }, OPERATOR.id);
}

function seed() {
  seedOperator();
  if (scenario === "fresh") return;
  const admin = addSeed({
    name: "Admin key",
    env: "live",
    scopes: ["admin"],
    ageDays: 120,
    usedMinAgo: 0.2,
  });
  account.credential_key_id = admin.id;
  record("enrollment.redeem", admin, now0 - 120 * DAY, { enrollment_id: "enr_01hx9c0b", revoked_admin_keys: [] }, admin.id);
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
  old.rotation_due_at = null;
  // Its application moved to the replacement a few minutes ago.
  traffic.set(old.id, { until: now0 - 3 * 60_000 });
}
seed();

type AddAlert = (
  key: KeyView | undefined,
  kind: AlertKind,
  minAgo: number,
  message: string,
  evidence: Record<string, unknown>,
  status?: Alert["status"],
) => void;

/**
 * Leak reports (GitHub secret scanning, say): the newest replacement was
 * pushed to a public commit and quarantined by the account's policy; the old
 * CI runner's test key turned up in a gist and was revoked.
 */
function seedLeaks(add: AddAlert) {
  const MIN = 60_000;
  const pushed = keys.find((k) => k.name === "Billing worker (2026)");
  if (pushed) {
    const url = "https://github.com/acme-robotics/billing-worker/commit/9c1e4b7a2f0d6e3b8a5c4d1e7f9b2a6c3d8e0f14";
    const at = now0 - 35 * MIN;
    pushed.quarantine = { at: iso(at), reason: url, source: "leak_report" };
    record("key.quarantine", pushed, at, { name: pushed.name, reason: url, source: "leak_report" });
    add(pushed, "leak_reported", 35, `key “${pushed.name}” was found public in a commit: quarantined`, {
      url,
      source: "commit",
      token_type: "keyport_live_api_key",
      action: "quarantined",
      masked: `${pushed.prefix}…${pushed.last4}`,
      key_name: pushed.name,
    });
  }
  const ci = keys.find((k) => k.name === "Old CI runner");
  if (ci?.revoked_at) {
    const minAgo = Math.round((now0 - Date.parse(ci.revoked_at)) / MIN) + 1;
    add(ci, "leak_reported", minAgo, `key “${ci.name}” was found public in a gist: revoked`, {
      url: "https://gist.github.com/octo-dev/5b2e8c1f0a9d4e7b3c6a",
      source: "gist",
      token_type: "keyport_test_api_key",
      action: "revoked",
      masked: `${ci.prefix}…${ci.last4}`,
      key_name: ci.name,
    }, "acknowledged");
  }
}

// Alerts: a few of every sort on the seeded keys, with the evidence the
// service's rules attach (keyport-core anomaly.rs, keyport-server alerts.rs).
const alerts: Alert[] = [];

function seedAlerts() {
  const byName = (name: string) => keys.find((k) => k.name === name);
  const MIN = 60_000;
  let n = 0;
  const add: AddAlert = (key, kind, minAgo, message, evidence, status = "open") => {
    if (!key) return;
    n += 1;
    const created = now0 - minAgo * MIN;
    alerts.push({
      id: `alt_${n.toString(16).padStart(20, "0")}`,
      key_id: key.id,
      kind,
      category: kindMeta(kind).category,
      status,
      message,
      evidence,
      created_at: iso(created),
      acknowledged_at: status === "acknowledged" ? iso(created + 30 * MIN) : null,
      resolved_at: status === "resolved" ? iso(created + 2 * DAY) : null,
    });
  };
  const admin = byName("Admin key");
  if (admin?.rotation_due_at) {
    const due = Date.parse(admin.rotation_due_at);
    const late = Math.floor((now0 - due) / DAY);
    add(admin, "rotation_overdue", 90, `live key “Admin key” is ${late} days overdue for rotation (every 90 days)`, {
      rotation_due_at: admin.rotation_due_at, policy_days: 90, environment: "live", days_overdue: late,
    });
  }
  const fresh = byName("Billing worker (2026)");
  add(fresh, "volume_spike", 4, "1240 requests in the last 10 minutes, 13× this key's usual 98.4", {
    window_minutes: 10, requests: 1240, baseline_expected: 98.4, factor: 12.6, threshold_factor: 5,
  });
  add(fresh, "new_country", 12, "first requests ever from BR with this key", {
    countries: [{ name: "BR", requests: 37 }], reason: "never_seen", known_country_requests: 18_422,
  });
  const analytics = byName("Analytics dashboard");
  add(analytics, "error_spike", 26, "48% of requests failed in the last 10 minutes (120 errors), against 1.0% usually", {
    window_minutes: 10, errors: 120, requests: 250, client_errors: 82, server_errors: 38,
    error_share: 0.48, baseline_share: 0.01, threshold_share: 0.26,
  });
  add(analytics, "unusual_endpoint", 65, "first calls ever to DELETE /projects/{id} with this key", {
    endpoints: [{ name: "DELETE /projects/{id}", requests: 3 }], reason: "never_called", known_endpoint_requests: 52_310,
  });
  if (analytics?.rotation_due_at) {
    const left = Math.ceil((Date.parse(analytics.rotation_due_at) - now0) / DAY);
    add(analytics, "rotation_due_soon", 180, `live key “Analytics dashboard” is due for rotation in ${left} days (every 90 days)`, {
      rotation_due_at: analytics.rotation_due_at, policy_days: 90, environment: "live",
    });
  }
  add(analytics, "after_hours", 3 * 24 * 60, "7 requests outside business hours in the last 10 minutes; this key normally has none", {
    window_minutes: 10, after_hours_requests: 7, baseline_requests: 41_200, baseline_after_hours_share: 0,
  }, "acknowledged");
  const staging = byName("Staging deploy");
  if (staging?.expires_at) {
    add(staging, "key_expiring", 240, "staging key “Staging deploy” expires in 5 days: create its replacement", {
      expires_at: staging.expires_at, environment: "staging",
    });
  }
  seedLeaks(add);
  add(byName("Billing worker"), "unusual_endpoint", 20 * 24 * 60, "14 requests refused for scope or resource in the last 10 minutes", {
    window_minutes: 10, denied: 14, reason: "denials",
  }, "resolved");
  alerts.sort((a, b) => b.created_at.localeCompare(a.created_at));
}
seedAlerts();

// ---- webhooks: endpoints, and deliveries sent by a simulated worker ----
// Deliveries are attempted lazily (when read), on the service's retry
// schedule: a pending one turns delivered, or backs off, as time passes.

type MockEndpoint = WebhookEndpoint & { secret: string; down: boolean };
/** `dueMs`: when the next attempt goes out (ms; the ISO field drops the milliseconds). */
type MockDelivery = WebhookDelivery & { dueMs: number | null };

const MAX_WEBHOOKS = 20;
/** keyport-core's RETRY_SCHEDULE_SECS: the last attempt about 27 hours after the first. */
const RETRY_S = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/** The worker picks a new delivery up within a second. */
const SEND_AFTER_MS = 700;
const REFUSED = "could not connect: tcp connect error: Connection refused (os error 111)";

const webhooks: MockEndpoint[] = [];
/** Endpoint id → its deliveries, newest first. */
const deliveryLog = new Map<string, MockDelivery[]>();
let deliveryId = 1;

function webhookSecret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...b))}`;
}

/** The mock's receivers: "down" or "fail" in the host, or a .invalid name, never answer. */
function isDown(url: string): boolean {
  const host = new URL(url).hostname;
  return /down|fail/.test(host) || host.endsWith(".invalid");
}

/** Like the embedded service (private addresses allowed): an http(s) URL with a host, no credentials, no #fragment. */
function checkWebhookUrl(raw: unknown): string {
  const s = typeof raw === "string" ? raw.trim() : "";
  if (s.length > 2000) fail("invalid", "url is longer than 2000 characters");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    // The url crate's words for the usual mistakes.
    const why = /^[a-z][a-z0-9+.-]*:\/\/\/?$/i.test(s) ? "empty host" : "relative URL without a base";
    fail("invalid", `url is not a valid URL: ${why}`);
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (scheme !== "https" && scheme !== "http") fail("invalid", `url must use https://, not ${scheme}://`);
  if (u.username !== "" || u.password !== "") fail("invalid", "url must not carry a user name or password");
  if (u.hash !== "") fail("invalid", "url must not have a #fragment");
  if (u.hostname === "") fail("invalid", "url has no host");
  return u.toString();
}

function cleanEvents(v: unknown): EventType[] {
  const picked = new Set<EventType>();
  for (const e of Array.isArray(v) ? v : []) {
    if (e === "webhook.test") fail("invalid", 'webhook.test cannot be subscribed to (it is sent by "send test event" only)');
    if (!SUBSCRIBABLE.includes(e as EventType)) fail("invalid", `unknown event type ${JSON.stringify(e)}`);
    picked.add(e as EventType);
  }
  if (picked.size === 0) fail("invalid", "events must name at least one event type");
  return SUBSCRIBABLE.filter((t) => picked.has(t));
}

function cleanDescription(v: unknown): string {
  const d = typeof v === "string" ? v.trim() : "";
  if ([...d].length > 200) fail("invalid", "description is longer than 200 characters");
  if (/[\u0000-\u001f\u007f]/.test(d)) fail("invalid", "description must not contain control characters");
  return d;
}

function endpointView(ep: MockEndpoint): WebhookEndpoint {
  const { secret: _secret, down: _down, ...view } = ep;
  return view;
}

function deliveryView(d: MockDelivery): WebhookDelivery {
  const { dueMs: _due, ...view } = d;
  return view;
}

function findWebhook(id: unknown): MockEndpoint {
  const ep = webhooks.find((w) => w.id === id);
  if (!ep) fail("not_found", "webhook endpoint not found");
  return ep;
}

function logOf(ep: MockEndpoint): MockDelivery[] {
  let log = deliveryLog.get(ep.id);
  if (!log) deliveryLog.set(ep.id, (log = []));
  return log;
}

/** A new delivery of one event to one endpoint, sent by the worker a moment later. */
function queueDelivery(ep: MockEndpoint, type: EventType, at = Date.now()): MockDelivery {
  const d: MockDelivery = {
    id: deliveryId++,
    event_id: `msg_${hex(12)}`,
    event_type: type,
    status: "pending",
    attempts: 0,
    response_status: null,
    error: null,
    latency_ms: null,
    created_at: iso(at),
    last_attempt_at: null,
    next_attempt_at: iso(at),
    delivered_at: null,
    dueMs: at + SEND_AFTER_MS,
  };
  const log = logOf(ep);
  log.unshift(d);
  log.length = Math.min(log.length, 200);
  return d;
}

/** An event of the account: one delivery for each enabled endpoint subscribed to it. */
function announce(type: EventType) {
  for (const ep of webhooks) if (ep.enabled && ep.events.includes(type)) queueDelivery(ep, type);
}

/** One attempt at `at`: 200 from a working receiver, else the next back-off or, after the last, failed. */
function attempt(ep: MockEndpoint, d: MockDelivery, at: number) {
  d.attempts += 1;
  d.last_attempt_at = iso(at);
  if (!ep.down) {
    d.latency_ms = 4 + Math.floor(Math.random() * 40);
    d.status = "delivered";
    d.response_status = 200;
    d.error = null;
    d.delivered_at = iso(at + d.latency_ms);
    d.next_attempt_at = null;
    d.dueMs = null;
    return;
  }
  d.latency_ms = 1 + Math.floor(Math.random() * 4);
  d.response_status = null;
  d.error = REFUSED;
  const wait = RETRY_S[d.attempts - 1];
  if (wait === undefined) {
    d.status = "failed";
    d.next_attempt_at = null;
    d.dueMs = null;
  } else {
    d.status = "pending";
    d.dueMs = at + wait * 1000;
    d.next_attempt_at = iso(d.dueMs);
  }
}

/** Runs the attempts that fell due since the log was last read (none while the endpoint is off). */
function advance(ep: MockEndpoint, now = Date.now()) {
  if (!ep.enabled) return;
  for (const d of logOf(ep)) {
    while (d.status === "pending" && d.dueMs !== null && d.dueMs <= now) attempt(ep, d, d.dueMs);
  }
}

function createWebhook(req: CreateWebhookRequest | undefined): CreatedWebhook {
  const url = checkWebhookUrl(req?.url);
  const events = cleanEvents(req?.events);
  const description = cleanDescription(req?.description);
  if (webhooks.length >= MAX_WEBHOOKS) {
    fail("limit_exceeded", `an account has at most ${MAX_WEBHOOKS} webhook endpoints; delete one first`);
  }
  const secret = webhookSecret();
  const ep: MockEndpoint = {
    id: `wh_${hex(10)}`,
    url,
    description,
    events,
    enabled: true,
    disabled_reason: null,
    secret_last4: secret.slice(-4),
    created_at: iso(Date.now()),
    secret,
    down: isDown(url),
  };
  webhooks.push(ep);
  record("webhook.create", null, Date.now(), { endpoint_id: ep.id, url, events }, account.credential_key_id);
  return { endpoint: endpointView(ep), secret };
}

function updateWebhook(id: unknown, req: UpdateWebhookRequest | undefined): WebhookEndpoint {
  const ep = findWebhook(id);
  const r = req ?? {};
  // Checked first: a refused field changes nothing.
  const url = r.url != null ? checkWebhookUrl(r.url) : null;
  const events = r.events != null ? cleanEvents(r.events) : null;
  const description = r.description != null ? cleanDescription(r.description) : null;
  const enabled = typeof r.enabled === "boolean" ? r.enabled : null;
  if (url === null && events === null && description === null && enabled === null) {
    fail("invalid", "nothing to change: send url, events, description or enabled");
  }
  const changed: Record<string, unknown> = {};
  if (url !== null) {
    ep.url = url;
    ep.down = isDown(url);
    changed.url = url;
  }
  if (events !== null) ep.events = changed.events = events;
  if (description !== null) ep.description = changed.description = description;
  if (enabled !== null) {
    const resumed = enabled && !ep.enabled;
    ep.enabled = changed.enabled = enabled;
    if (enabled) ep.disabled_reason = null;
    if (resumed) {
      // Pending deliveries go out again, and the alert that said it was disabled ends.
      const now = Date.now();
      for (const d of logOf(ep)) {
        if (d.status === "pending" && (d.dueMs === null || d.dueMs < now)) {
          d.dueMs = now + SEND_AFTER_MS;
          d.next_attempt_at = iso(now);
        }
      }
      for (const al of alerts) {
        if (al.kind === "webhook_failing" && al.key_id === ep.id && al.status !== "resolved") {
          al.status = "resolved";
          al.resolved_at = iso(now);
        }
      }
    }
  }
  record("webhook.update", null, Date.now(), { ...changed, endpoint_id: ep.id }, account.credential_key_id);
  return endpointView(ep);
}

function deleteWebhook(id: unknown): null {
  const ep = findWebhook(id);
  webhooks.splice(webhooks.indexOf(ep), 1);
  deliveryLog.delete(ep.id);
  record("webhook.delete", null, Date.now(), { endpoint_id: ep.id }, account.credential_key_id);
  return null;
}

function testWebhook(id: unknown): WebhookDelivery {
  const ep = findWebhook(id);
  if (!ep.enabled) fail("conflict", "this endpoint is disabled: enable it first");
  advance(ep);
  return deliveryView(queueDelivery(ep, "webhook.test"));
}

function retryDelivery(id: unknown, delivery: unknown): WebhookDelivery {
  const ep = findWebhook(id);
  advance(ep);
  const d = logOf(ep).find((x) => x.id === delivery);
  if (!d) fail("not_found", "delivery not found");
  if (d.status === "delivered") fail("conflict", "this delivery succeeded; send a test event instead");
  if (!ep.enabled) fail("conflict", "this endpoint is disabled: enable it first");
  const now = Date.now();
  d.status = "pending";
  d.next_attempt_at = iso(now);
  d.dueMs = now + SEND_AFTER_MS;
  return deliveryView(d);
}

/** Two endpoints: one that works, one the service disabled after a day of 503s (with its alert). */
function seedWebhooks() {
  if (scenario === "fresh" || scenario === "starter") return;
  const MIN = 60_000;
  const HOUR = 60 * MIN;
  const past = (ep: MockEndpoint, type: EventType, minAgo: number, over: Partial<MockDelivery>) => {
    const at = now0 - minAgo * MIN;
    const d = queueDelivery(ep, type, at);
    Object.assign(d, { attempts: 1, last_attempt_at: iso(at + 400), next_attempt_at: null, dueMs: null }, over);
  };
  const ok = (latency: number): Partial<MockDelivery> => ({ status: "delivered", response_status: 200, latency_ms: latency });
  const secretA = webhookSecret();
  const relay: MockEndpoint = {
    id: `wh_${hex(10)}`,
    url: "https://hooks.acme-robotics.example/keyport",
    description: "Ops channel relay",
    events: ["key.created", "key.rotated", "key.revoked", "alert.raised"],
    enabled: true,
    disabled_reason: null,
    secret_last4: secretA.slice(-4),
    created_at: iso(now0 - 40 * DAY),
    secret: secretA,
    down: false,
  };
  const failingSince = now0 - 28 * HOUR;
  const secretB = webhookSecret();
  const sync: MockEndpoint = {
    id: `wh_${hex(10)}`,
    url: "https://deploy.acme-robotics.example/hooks/rotate",
    description: "Secrets sync (CI)",
    events: ["key.rotated", "key.revoked", "key.expiring", "key.rotation_due"],
    enabled: false,
    disabled_reason: `disabled after every delivery since ${iso(failingSince).slice(0, 16).replace("T", " ")} UTC failed`,
    secret_last4: secretB.slice(-4),
    created_at: iso(now0 - 20 * DAY),
    secret: secretB,
    down: true,
  };
  webhooks.push(relay, sync);
  for (const ep of [relay, sync]) {
    record("webhook.create", null, Date.parse(ep.created_at), { endpoint_id: ep.id, url: ep.url, events: ep.events }, account.credential_key_id);
  }
  past(relay, "key.created", 2 * 24 * 60, ok(84));
  past(relay, "key.rotated", 24 * 60, { ...ok(131), attempts: 2, last_attempt_at: iso(now0 - 24 * HOUR + 5_400) });
  past(relay, "alert.raised", 65, ok(61));
  past(relay, "alert.raised", 26, ok(58));
  past(relay, "alert.raised", 12, ok(73));
  past(relay, "alert.raised", 4, ok(66));

  const answered503 = { response_status: 503, error: "the endpoint answered HTTP 503", latency_ms: 212 };
  past(sync, "key.rotation_due", 28 * 60, { ...answered503, status: "failed", attempts: 8, last_attempt_at: iso(now0 - 70 * MIN) });
  // Still pending when the endpoint was disabled: they wait for it to be enabled again.
  const inTwoHours = now0 + 2 * HOUR;
  past(sync, "key.rotated", 24 * 60, { ...answered503, status: "pending", attempts: 7, last_attempt_at: iso(now0 - 8 * HOUR), next_attempt_at: iso(inTwoHours), dueMs: inTwoHours });
  const inAnHour = now0 + 65 * MIN;
  past(sync, "key.rotation_due", 90, { ...answered503, status: "pending", attempts: 4, last_attempt_at: iso(now0 - 55 * MIN), next_attempt_at: iso(inAnHour), dueMs: inAnHour });
  for (const log of deliveryLog.values()) log.sort((x, y) => y.created_at.localeCompare(x.created_at));

  alerts.push({
    id: `alt_${"f".padStart(20, "0")}`,
    key_id: sync.id,
    kind: "webhook_failing",
    category: kindMeta("webhook_failing").category,
    status: "open",
    message: `Webhook endpoint ${sync.url} kept failing and was disabled: fix it, then enable it again`,
    evidence: { endpoint_id: sync.id, url: sync.url, failing_since: iso(failingSince) },
    created_at: iso(now0 - 60 * MIN),
    acknowledged_at: null,
    resolved_at: null,
  });
  alerts.sort((a, b) => b.created_at.localeCompare(a.created_at));
}
seedWebhooks();
// Newest first, like the service.
keys.sort((a, b) => b.created_at.localeCompare(a.created_at));
if (scenario === "atcap") capOverride = activeKeys();
audit.sort((a, b) => b.at.localeCompare(a.at));

function status(): PortalStatus {
  return enrolledAt ? enrolledStatus(enrolledAt) : scenarioStatus();
}

function scenarioStatus(): PortalStatus {
  const connected = scenario !== "disconnected" && scenario !== "nokeychain";
  return {
    mode: scenario === "disconnected" ? "remote" : "embedded",
    service_url: scenario === "disconnected" ? "https://keys.example.com" : "http://127.0.0.1:41234",
    account: connected ? accountView() : null,
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
  return live(k);
}

/** Status and last use as of now (expiry passes, simulated applications keep calling). */
function live(k: KeyView): KeyView {
  const now = Date.now();
  if (k.status === "active" && k.expires_at !== null && Date.parse(k.expires_at) <= now) k.status = "expired";
  let last = k.last_used_at === null ? null : Date.parse(k.last_used_at);
  const w = traffic.get(k.id);
  if (w) {
    const from = w.from ?? -Infinity;
    const end = Math.min(w.until ?? Infinity, k.revoked_at ? Date.parse(k.revoked_at) : Infinity);
    const at = Math.min(now - 300, end);
    if (at >= from && (last === null || at > last)) last = at;
  }
  const checked = checkTimes.get(k.id);
  const lastCheck = checked?.[checked.length - 1];
  if (lastCheck !== undefined && (last === null || lastCheck > last)) last = lastCheck;
  if (last !== null) k.last_used_at = iso(last);
  return k;
}

/** A tiny non-cryptographic hash: enough for the mock to tell keys apart. */
function digest(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

function resolveReminders(k: KeyView) {
  for (const al of alerts) {
    if (al.key_id === k.id && al.category === "reminder" && al.status !== "resolved") {
      al.status = "resolved";
      al.resolved_at = iso(Date.now());
    }
  }
}

function revokeNow(k: KeyView, by?: { actor: string; reason: string }) {
  if (k.status === "revoked") return;
  k.status = "revoked";
  k.revoked_at = iso(Date.now());
  k.rotation_due_at = null;
  resolveReminders(k);
  if (by) record("key.revoke", k, Date.now(), { name: k.name, reason: by.reason }, by.actor);
  else record("key.revoke", k, Date.now(), { name: k.name });
  announce("key.revoked");
}

/** Like the service's set_quarantine: active keys only, never admin keys; the same state again changes nothing. */
function setQuarantine(k: KeyView, to: { reason: string; source: string } | null): KeyView {
  if (k.status !== "active") fail("conflict", "only an active key can be quarantined or released");
  if (to && k.scopes.includes("admin")) {
    fail("conflict", "an admin key cannot be made read-only: revoke it (rotate first if it is this portal's)");
  }
  if ((to === null) === (k.quarantine === null)) return { ...k };
  const now = Date.now();
  if (to) {
    k.quarantine = { at: iso(now), reason: to.reason, source: to.source };
    record("key.quarantine", k, now, { name: k.name, reason: to.reason, source: to.source });
    announce("key.quarantined");
  } else {
    k.quarantine = null;
    record("key.release", k, now, { name: k.name });
  }
  return { ...k };
}

/**
 * The folder picker and the scan, simulated: a working key of this account in
 * a .env file, a revoked one in an old CI file, and a documentation placeholder.
 */
function scanFolder(): FolderScan | null {
  const mode = params.get("scan");
  if (mode === "cancel") return null;
  const folder = "/home/you/src/acme-dashboard";
  if (mode === "clean") return { folder, files: 186, skipped: 0, findings: [] };
  // The seeded key, not a replacement made since (the file still holds the old one).
  const pick = (name: string) => keys.find((k) => k.name === name && k.replaces === null);
  const found = (k: KeyView | undefined, path: string, line: number, column: number): FolderFinding | null => {
    if (!k) return null;
    const on = live(k).status === "active";
    return { path, line, column, masked: `${k.prefix}…${k.last4}`, status: on ? "live" : "inactive", key_id: k.id, key_name: k.name };
  };
  const findings = [
    found(pick("Analytics dashboard"), ".env.production", 3, 17),
    found(pick("Old CI runner"), "ci/legacy-pipeline.yml", 41, 22),
    { path: "docs/getting-started.md", line: 58, column: 30, masked: "to_live_…0000", status: "not_a_key", key_id: null, key_name: null },
  ].filter((f): f is FolderFinding => f !== null);
  return { folder, files: 214, skipped: 3, findings };
}

/** The service's rotate: same settings, linked both ways; the old key keeps working. */
function rotate(old: KeyView, usedAfterMs = TRAFFIC_AFTER_MS): OnceSecret {
  if (old.status !== "active") fail("conflict", "only an active key can be rotated; create a new key instead");
  const next = old.replaced_by ? keys.find((k) => k.id === old.replaced_by) : undefined;
  if (next && live(next).status === "active") {
    fail("conflict", `this key was already rotated to ${next.id}; rotate that key instead`);
  }
  const now = Date.now();
  const secret = `to_${old.environment}_${hex(32)}`;
  const key: KeyView = {
    ...old,
    id: `key_${hex(6)}`,
    last4: secret.slice(-4),
    created_at: iso(now),
    expires_at: old.expires_at === null ? null : iso(now + (Date.parse(old.expires_at) - Date.parse(old.created_at))),
    revoked_at: null,
    last_used_at: null,
    replaces: old.id,
    replaced_by: null,
    rotation_due_at: dueAt(old.environment, now, false),
    // The replacement is the way out of quarantine.
    quarantine: null,
  };
  old.replaced_by = key.id;
  old.rotation_due_at = null;
  keys.unshift(key);
  generated.set(key.id, digest(secret));
  resolveReminders(old);
  record("key.rotate", old, now, { name: old.name, replaced_by: key.id });
  announce("key.rotated");
  // The simulated application: the new key from a moment on, the old one until it has switched.
  traffic.set(key.id, { from: now + usedAfterMs });
  if (old.last_used_at !== null || traffic.has(old.id)) {
    const w = traffic.get(old.id) ?? {};
    traffic.set(old.id, { ...w, until: Math.min(w.until ?? Infinity, now + usedAfterMs + SWITCH_MS) });
  }
  return { key: { ...key }, secret };
}

function checkReplacement(id: unknown, secret: string): ReplacementCheck {
  const k = findKey(id);
  if (!/^to_(live|test|staging)_[0-9a-zA-Z]{8,}$/.test(secret)) {
    fail("invalid", "That is not an API key of this service: keys start with to_live_, to_test_ or to_staging_.");
  }
  const hash = generated.get(k.id);
  const checks = checkTimes.get(k.id) ?? [];
  const answer: ReplacementCheck = {
    matches: false,
    checked_by: hash ? "hash" : "service",
    accepted: false,
    problem: null,
    portal_checks: checks.length,
  };
  const last4 = secret.slice(-4);
  if (hash ? digest(secret) !== hash : last4 !== k.last4) {
    answer.problem =
      last4 !== k.last4
        ? `This key ends in …${last4}, but the new key ends in …${k.last4}. Paste the key from your application's configuration.`
        : "This key ends like the new key but is not it. Paste the key from your application's configuration.";
    return answer;
  }
  // Sent to POST /v1/verify: one request in the key's usage.
  checks.push(Date.now());
  checkTimes.set(k.id, checks);
  answer.portal_checks = checks.length;
  if (k.status === "active") {
    answer.matches = true;
    answer.accepted = true;
  } else {
    answer.matches = answer.checked_by === "hash";
    answer.problem = `The service does not accept this key: it is ${k.status}.`;
  }
  live(k);
  return answer;
}

// ---- enrollment codes ----

const ENROLL_CODE = "7K3QM-X9D2A-BC4EF-GH5JK";
/** The mock's code works for a day after the page loaded, and once. */
const enrollExpires = iso(now0 + DAY);
let enrollUsed = false;
/** The service enrolled into (the portal then uses it). */
let enrolledAt: SavedService | null = null;

function enrolledStatus(svc: SavedService): PortalStatus {
  const base = scenarioStatus();
  const others = base.saved_services.filter((x) => x.url !== svc.url);
  return { ...base, mode: "remote", service_url: svc.url, account: accountView(), saved_services: [...others, svc], try_it: null };
}

/** The service and code asked about: a pasted keyport://enroll link names both. */
function enrollTarget(a: Record<string, unknown>): EnrollLink {
  const code = String(a.code ?? "").trim();
  if (!/^keyport:\/\//i.test(code)) {
    return { service_url: String(a.serviceUrl ?? "").trim().replace(/\/+$/, ""), code };
  }
  let link: URL;
  try {
    link = new URL(code);
  } catch {
    fail("invalid", "that keyport:// link is incomplete; copy the whole link again");
  }
  const service = link.searchParams.get("service");
  const inner = link.searchParams.get("code");
  if (link.host !== "enroll" || !service || !inner) {
    fail("invalid", "that is not a Keyport enrollment link (keyport://enroll?service=…&code=…)");
  }
  return { service_url: service.trim().replace(/\/+$/, ""), code: inner.trim() };
}

function enrollOffer(a: Record<string, unknown>): EnrollOffer {
  const t = enrollTarget(a);
  if (!/^https?:\/\/[^/\s]+$/.test(t.service_url)) fail("invalid", "the service URL must start with http:// or https://");
  if (t.service_url.includes("down")) fail("unreachable", `Could not connect to ${t.service_url} (connection refused).`);
  if (scenario === "ratelimited") fail("rate_limited", "too many failed enrollment attempts from this address", 60);
  if (t.code.toUpperCase() !== ENROLL_CODE || enrollUsed) {
    fail("forbidden", "this enrollment code was already used; each code works once");
  }
  const preview = {
    account_id: "acc_01hy2k7q4c",
    account_name: "Acme Corp",
    plan: "starter" as const,
    expires_at: enrollExpires,
    key_prefix: "to",
    admin_keys: keys.filter((k) => k.status === "active" && k.scopes.includes("admin")).length,
  };
  return { service_url: t.service_url, code: ENROLL_CODE, preview };
}

/** The portal's new admin key: made "on this computer", only its hash sent. */
function enrolledKey(): KeyView {
  const now = Date.now();
  const key: KeyView = {
    id: `key_${hex(6)}`,
    name: "Admin key (enrolled)",
    environment: "live",
    prefix: "to_live_",
    last4: hex(2),
    scopes: ["admin"],
    resources: [],
    created_at: iso(now),
    expires_at: null,
    revoked_at: null,
    last_used_at: iso(now),
    status: "active",
    rate_limit: null,
    effective_limits: account.limits,
    replaces: null,
    replaced_by: null,
    rotation_due_at: dueAt("live", now, false),
    quarantine: null,
  };
  keys.unshift(key);
  return key;
}

function enroll(a: Record<string, unknown>): PortalStatus {
  const offer = enrollOffer(a);
  enrollUsed = true;
  Object.assign(account, { id: offer.preview.account_id, name: offer.preview.account_name, plan: offer.preview.plan });
  account.limits = limitsOf(account.plan);
  const others = keys.filter((k) => k.status === "active" && k.scopes.includes("admin"));
  const key = enrolledKey();
  const revoked = a.revokeOtherAdminKeys === true ? others : [];
  record("enrollment.redeem", key, Date.now(), { enrollment_id: "enr_01hy2k7r", revoked_admin_keys: revoked.map((k) => k.id) }, key.id);
  record("key.create", key, Date.now(), { name: key.name, generated_by: "client", reason: "enrollment code" }, key.id);
  for (const k of revoked) revokeNow(k, { actor: key.id, reason: "recovery with an enrollment code" });
  account.credential_key_id = key.id;
  enrolledAt = { url: offer.service_url, account_name: account.name };
  return status();
}

function checkService() {
  // Enrolled into another service: the scenario was about the first one.
  if (enrolledAt) return;
  if (scenario === "unreachable") fail("unreachable", "Could not connect to http://127.0.0.1:41234 (connection refused).");
  if (scenario === "unauthorized") fail("unauthorized", "The service answered 401: the admin key was not accepted.");
  if (scenario === "disconnected") fail("not_connected", "No service is connected.");
}

// ---- usage: deterministic synthetic traffic (same time, same numbers) ----

const STEP_S: Record<Step, number> = { minute: 60, hour: 3600, day: 86_400 };
const RANGE_S: Record<UsageRange, number> = { "1h": 3600, "24h": 86_400, "7d": 604_800, "30d": 2_592_000 };
const DEFAULT_STEP: Record<UsageRange, Step> = { "1h": "minute", "24h": "minute", "7d": "hour", "30d": "hour" };
const ENDPOINTS = ["GET /projects/{id}/items", "GET /projects/{id}/items/{item}", "POST /projects/{id}/items", "DELETE /projects/{id}/items/{item}", "GET /health"];
const COUNTRIES = ["US", "DE", "GB", "IN", "BR", "JP"];

/** A number in [0, 1) from two integers, always the same for the same pair. */
function noise(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  return (h >>> 0) / 4_294_967_296;
}

function seedOf(id: string): number {
  let h = 7;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return h;
}

function usageArgs(a: Record<string, unknown>): { range: UsageRange; step: Step } {
  const range = a.range as UsageRange;
  if (!(range in RANGE_S)) fail("invalid", "range must be one of 1h, 24h, 7d, 30d");
  const step = (a.step as Step | null) ?? DEFAULT_STEP[range];
  if (!(step in STEP_S)) fail("invalid", "step must be minute, hour or day");
  const n = RANGE_S[range] / STEP_S[step];
  if (n < 2 || n > 50_000) fail("invalid", `a ${range} range cannot be shown per ${step}`);
  return { range, step };
}

/** Zero-filled buckets: `n` steps from `from`, the last one the current bucket. */
function usageWindow(range: UsageRange, step: Step): { from: number; n: number; stepS: number } {
  const stepS = STEP_S[step];
  const n = RANGE_S[range] / stepS;
  const end = (Math.floor(Date.now() / 1000 / stepS) + 1) * stepS;
  return { from: end - n * stepS, n, stepS };
}

function keySeries(k: KeyView, range: UsageRange, step: Step): UsagePoint[] {
  const { from, n, stepS } = usageWindow(range, step);
  const seed = seedOf(k.id);
  // A key in a rotation: its simulated application's window, in part-buckets.
  const w = traffic.get(k.id);
  const born = Math.max(Date.parse(k.created_at), w?.from ?? -Infinity) / 1000;
  const gone = Math.min(k.revoked_at ? Date.parse(k.revoked_at) : Infinity, w?.until ?? Infinity) / 1000;
  const used = k.last_used_at !== null || (w?.from !== undefined && Date.now() >= w.from);
  const checks = (checkTimes.get(k.id) ?? []).map((c) => c / 1000);
  const base = (k.environment === "live" ? 8 : 2) * (1 + (Math.abs(seed) % 5));
  const limit = k.effective_limits.per_minute;
  const points: UsagePoint[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = from + i * stepS;
    const p: UsagePoint = { t: iso(t * 1000), success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0 };
    points[i] = p;
    for (const c of checks) if (c >= t && c < t + stepS) p.success += 1;
    if (!used || t + stepS <= born || t >= gone) continue;
    const part = w ? Math.max(0, Math.min(1, (Math.min(t + stepS, gone) - Math.max(t, born)) / stepS)) : 1;
    // A daily rhythm, some noise, and now and then a burst past the limit.
    const day = Math.sin((2 * Math.PI * ((t % 86_400) - 21_600)) / 86_400);
    const minuteBucket = Math.floor(t / 60);
    const r = noise(seed, minuteBucket);
    const burst = r > 0.997 ? 3 + 5 * noise(seed + 4, minuteBucket) : 1;
    const perMinute = base * (1 + 0.7 * day) * (0.6 + 0.8 * r) * burst * part;
    const minutes = stepS / 60;
    const reqs = Math.round(Math.min(perMinute, limit) * minutes);
    p.rate_limited = Math.round(Math.max(0, perMinute - limit) * minutes);
    p.client_error = Math.round(reqs * 0.04 * noise(seed + 1, minuteBucket));
    p.server_error = Math.round(reqs * (noise(seed + 2, minuteBucket) > 0.98 ? 0.2 : 0.004));
    p.denied = Math.round(minutes * (noise(seed + 3, minuteBucket) > 0.9 ? 1 : 0));
    p.success += Math.max(0, reqs - p.client_error - p.server_error);
  }
  return points;
}

function totalsOf(points: UsagePoint[]): Omit<KeyTotals, "key_id" | "name"> {
  const t = { total: 0, success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0 };
  for (const p of points) {
    t.success += p.success;
    t.client_error += p.client_error;
    t.server_error += p.server_error;
    t.rate_limited += p.rate_limited;
    t.denied += p.denied;
  }
  t.total = t.success + t.client_error + t.server_error + t.rate_limited + t.denied;
  return t;
}

/** Splits a total over names with fixed weights (most first). */
function spread(total: number, names: string[], seed: number): { name: string; count: number }[] {
  const w = names.map((_, i) => (names.length - i) * (0.5 + noise(seed, i)));
  const sum = w.reduce((a, b) => a + b, 0);
  return names
    .map((name, i) => ({ name, count: Math.round((total * w[i]) / sum) }))
    .filter((x) => x.count > 0)
    .sort((a, b) => b.count - a.count);
}

function keyUsage(a: Record<string, unknown>): KeyUsage {
  const k = findKey(a.id);
  const { range, step } = usageArgs(a);
  const { from, n, stepS } = usageWindow(range, step);
  const points = keySeries(k, range, step);
  const { total } = totalsOf(points);
  const seed = seedOf(k.id);
  return {
    key_id: k.id,
    from: iso(from * 1000),
    to: iso((from + n * stepS) * 1000),
    step,
    points,
    endpoints: spread(total, ENDPOINTS, seed).map((x) => ({ endpoint: x.name, count: x.count })),
    countries: spread(total, COUNTRIES, seed + 7).map((x) => ({ country: x.name, count: x.count })),
  };
}

function accountUsage(a: Record<string, unknown>): AccountUsage {
  const { range, step } = usageArgs(a);
  const { from, n, stepS } = usageWindow(range, step);
  const points: UsagePoint[] = [];
  for (let i = 0; i < n; i++) {
    points.push({ t: iso((from + i * stepS) * 1000), success: 0, client_error: 0, server_error: 0, rate_limited: 0, denied: 0 });
  }
  const rows: KeyTotals[] = [];
  for (const k of keys) {
    const series = keySeries(k, range, step);
    rows.push({ key_id: k.id, name: k.name, ...totalsOf(series) });
    series.forEach((p, i) => {
      const q = points[i];
      q.success += p.success;
      q.client_error += p.client_error;
      q.server_error += p.server_error;
      q.rate_limited += p.rate_limited;
      q.denied += p.denied;
    });
  }
  rows.sort((x, y) => y.total - x.total);
  return { from: iso(from * 1000), to: iso((from + n * stepS) * 1000), step, points, keys: rows };
}

// ---- account policies, notification preferences ----

function updateAccount(patch: UpdateAccountRequest): AccountView {
  const p = patch ?? {};
  if (Object.keys(p).length === 0) {
    fail("invalid", "nothing to change: send rotation_days, business_hours, allowed_countries, anomaly_rules or leak_policy");
  }
  const problem = settingsProblem(p, account.max_rotation_days);
  if (problem) fail("invalid", problem);
  account.settings = withChanges(account.settings, p);
  // Due dates follow the policy (the service computes them from it).
  if (p.rotation_days) {
    for (const k of keys) {
      if (k.rotation_due_at !== null) k.rotation_due_at = dueAt(k.environment, Date.parse(k.created_at), false);
    }
  }
  record("account.update", null, Date.now(), { ...p });
  return accountView();
}

function setNotifyPrefs(prefs: NotifyPrefs): NotifyPrefs {
  const q = prefs.quiet_hours;
  const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;
  if (q && !hhmm.test(q.start)) fail("invalid", "quiet hours: start must be HH:MM, e.g. 22:00");
  if (q && !hhmm.test(q.end)) fail("invalid", "quiet hours: end must be HH:MM, e.g. 22:00");
  if (q && q.start === q.end) fail("invalid", "quiet hours: start and end must differ");
  notifyPrefs = { muted: [...new Set(prefs.muted)].sort(), quiet_hours: q ? { ...q } : null };
  return notifyPrefs;
}

function handle(cmd: string, a: Record<string, unknown>): unknown {
  switch (cmd) {
    case "portal_status":
      return status();
    case "plan_table":
      return PLANS;
    case "get_account":
      checkService();
      return accountView();
    case "update_account":
      checkService();
      return updateAccount(a.patch as UpdateAccountRequest);
    case "preview_alerts": {
      checkService();
      const req = (a.request ?? {}) as UpdateAccountRequest & { days?: number };
      const days = req.days ?? 7;
      if (!(days >= 1 && days <= 30)) fail("invalid", "days must be between 1 and 30");
      const problem = settingsProblem(req, account.max_rotation_days);
      if (problem) fail("invalid", problem);
      return previewAlerts(keys.map(live), account.settings, withChanges(account.settings, req), days, Date.now());
    }
    case "notify_prefs":
      checkService();
      return notifyPrefs;
    case "set_notify_prefs":
      checkService();
      return setNotifyPrefs(a.prefs as NotifyPrefs);
    case "list_keys": {
      checkService();
      keys.forEach(live);
      const p = page(keys, a.cursor, 100);
      return { keys: p.items, next_cursor: p.next };
    }
    case "get_key":
      checkService();
      return findKey(a.id);
    case "create_key": {
      checkService();
      if (scenario === "ratelimited") fail("rate_limited", "The service answered 429 Too Many Requests.", 30);
      const view = accountView();
      if (view.active_keys >= view.key_cap) {
        fail(
          "limit_exceeded",
          `the ${account.plan} plan allows ${view.key_cap} active keys and this account has ${view.active_keys}; revoke a key you no longer use, or upgrade the plan`,
        );
      }
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
        quarantine: null,
      };
      keys.unshift(key);
      record("key.create", key, Date.now(), { name: key.name });
      announce("key.created");
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
      // The service resolves a revoked key's reminders on its next pass.
      revokeNow(k);
      return { ...k };
    }
    case "quarantine_key": {
      checkService();
      const k = findKey(a.id);
      const reason = String(a.reason ?? "").trim();
      if (reason === "" || [...reason].length > 300 || /[\u0000-\u001f\u007f]/.test(reason)) {
        fail("invalid", "reason must be 1 to 300 printable characters");
      }
      return setQuarantine(k, { reason, source: "manual" });
    }
    case "release_key":
      checkService();
      return setQuarantine(findKey(a.id), null);
    case "scan_folder":
      checkService();
      return scanFolder();
    case "rotate_key": {
      checkService();
      const k = findKey(a.id);
      if (k.id === account.credential_key_id) {
        fail(
          "conflict",
          "This is the admin key this portal signs in with: rotate it from the Account screen, which stores the new one in the keychain before the old one is revoked.",
        );
      }
      return rotate(k);
    }
    case "replacement_info": {
      const id = String(a.id ?? "");
      return {
        generated_here: generated.has(id),
        portal_checks: checkTimes.get(id)?.length ?? 0,
      } satisfies ReplacementInfo;
    }
    case "check_replacement":
      checkService();
      return checkReplacement(a.id, String(a.secret ?? ""));
    case "rotate_compromised": {
      checkService();
      const k = findKey(a.id);
      if (k.id === account.credential_key_id) {
        fail("conflict", "This is the admin key this portal signs in with: rotate it from the Account screen.");
      }
      const once = rotate(k);
      revokeNow(k);
      return { once, old_revoked: true, problem: null } satisfies CompromiseRotation;
    }
    case "rotate_admin_credential": {
      checkService();
      const old = findKey(account.credential_key_id);
      // The portal itself uses the new key at once.
      const once = rotate(old, 0);
      once.secret = "";
      account.credential_key_id = once.key.id;
      revokeNow(old);
      return { old_key_id: old.id, new_key_id: once.key.id, old_revoked: true, problem: null } satisfies AdminRotation;
    }
    case "list_alerts": {
      checkService();
      return { alerts: a.all === true ? alerts : alerts.filter((x) => x.status === "open") };
    }
    case "ack_alert": {
      checkService();
      const al = alerts.find((x) => x.id === a.id);
      if (!al) fail("not_found", "No alert with that id in this account.");
      if (al.status === "open") {
        al.status = "acknowledged";
        al.acknowledged_at = iso(Date.now());
      }
      return { ...al };
    }
    case "list_webhooks":
      checkService();
      return { endpoints: webhooks.map(endpointView), event_types: [...SUBSCRIBABLE] } satisfies WebhookList;
    case "create_webhook":
      checkService();
      return createWebhook(a.req as CreateWebhookRequest | undefined);
    case "update_webhook":
      checkService();
      return updateWebhook(a.id, a.req as UpdateWebhookRequest | undefined);
    case "delete_webhook":
      checkService();
      return deleteWebhook(a.id);
    case "test_webhook":
      checkService();
      return testWebhook(a.id);
    case "webhook_deliveries": {
      checkService();
      const ep = findWebhook(a.id);
      advance(ep);
      return { deliveries: logOf(ep).slice(0, 50).map(deliveryView) };
    }
    case "retry_delivery":
      checkService();
      return retryDelivery(a.id, a.delivery);
    case "audit_log": {
      checkService();
      const p = page(audit, a.cursor, 50);
      return { events: p.items, next_cursor: p.next };
    }
    case "key_usage":
      checkService();
      return keyUsage(a);
    case "account_usage":
      checkService();
      return accountUsage(a);
    case "export_usage_csv": {
      checkService();
      const k = findKey(a.id);
      usageArgs(a);
      const slug = k.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
      return `/home/you/Downloads/keyport-usage-${slug}-${String(a.range)}.csv`;
    }
    case "copy_secret":
    case "startup_ready":
      return null;
    case "connect_remote": {
      const url = String(a.url ?? "");
      if (!/^https?:\/\/[^/\s]+/.test(url)) fail("invalid", "The URL must start with http:// or https://.");
      if (url.includes("down")) fail("unreachable", `Could not connect to ${url}.`);
      if (!String(a.adminKey ?? "").startsWith("to_")) fail("unauthorized", "The service answered 401: that key is not an admin key of any account.");
      return { ...status(), mode: "remote", service_url: url, account: accountView() };
    }
    case "use_service":
      return { ...status(), mode: a.url === null ? "embedded" : "remote", service_url: (a.url as string | null) ?? "http://127.0.0.1:41234", account: accountView() };
    case "enrollment_preview":
      return enrollOffer(a);
    case "enroll":
      return enroll(a);
    case "take_enroll_link":
      return null;
    case "sign_out":
      return { ...status(), mode: "embedded", account: accountView(), saved_services: [] };
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
