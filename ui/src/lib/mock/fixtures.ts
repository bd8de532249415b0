// DEV ONLY (the mock backend). The scenarios' data: plain values of the
// generated API types (../types), with times relative to when the page
// loaded. The handlers (./handlers) only change a copy of it.
//
// The demo account ("Acme Robotics", professional plan) has seven keys: the
// portal's admin key (overdue for rotation), "Billing worker" rotated a day
// ago to "Billing worker (2026)" (then found in a public commit and
// quarantined), a revoked "Old CI runner" (found in a gist), "Analytics
// dashboard" with its own limits, "Staging deploy" expiring in 5 days and an
// unused "Local development" key; alerts of every kind on them; two webhook
// endpoints, one disabled by the service after a day of 503s.
// Restrictions: "Analytics dashboard" tries an IP allowlist in report-only
// mode (since 2 days; the billing hosts' network still uses the key, so some
// requests count as would-deny); "Staging deploy" only reads one project
// from two networks in Germany, so "Tighten this key…" has a suggestion of
// every kind for it.
import { kindMeta } from "../alerts";
import { ALERT_DEFAULTS, unsetRules } from "../mock-policies";
import type {
  AccountView,
  Alert,
  AuditView,
  EventType,
  FolderFinding,
  KeychainStatus,
  KeyView,
  LimitsView,
  Plan,
  PlanRow,
  PortalError,
  Proposal,
  SavedService,
  TryIt,
  WebhookDelivery,
  WebhookEndpoint,
} from "../types";
import { DAY, HOUR, iso, MIN } from "./util";

// ---------------------------------------------------------------- scenarios (?mock=NAME)

export type ScenarioName =
  | "demo"
  | "fresh"
  | "starter"
  | "atcap"
  | "disconnected"
  | "unreachable"
  | "unauthorized"
  | "nokeychain"
  | "ratelimited";

export type ScenarioSpec = {
  /** The demo account's data, only its admin key, or nothing (a new account). */
  data: "all" | "admin" | "none";
  /** The service the portal is set to: this computer's, or a remote one. */
  service: "embedded" | "remote";
  /** portal_status names the account. */
  connected: boolean;
  keychain: "available" | "missing";
  /** What every command that needs the service answers instead. */
  fault: PortalError | null;
  /** create_key and enrollment_preview answer 429. */
  rateLimited: boolean;
  /** The plan's key cap is what the account's keys already use. */
  capAtActive: boolean;
};

const NORMAL: ScenarioSpec = {
  data: "all",
  service: "embedded",
  connected: true,
  keychain: "available",
  fault: null,
  rateLimited: false,
  capAtActive: false,
};

const refusal = (code: PortalError["code"], message: string): PortalError => ({ code, message, retry_after: null });

export const SCENARIOS: Readonly<Record<ScenarioName, ScenarioSpec>> = {
  demo: NORMAL,
  fresh: { ...NORMAL, data: "none" },
  starter: { ...NORMAL, data: "admin" },
  atcap: { ...NORMAL, capAtActive: true },
  disconnected: {
    ...NORMAL,
    service: "remote",
    connected: false,
    fault: refusal("not_connected", "No service is connected."),
  },
  unreachable: { ...NORMAL, fault: refusal("unreachable", "Could not connect to http://127.0.0.1:41234 (connection refused).") },
  unauthorized: { ...NORMAL, fault: refusal("unauthorized", "The service answered 401: the admin key was not accepted.") },
  nokeychain: { ...NORMAL, connected: false, keychain: "missing" },
  ratelimited: { ...NORMAL, rateLimited: true },
};

// ---------------------------------------------------------------- services, keychain

export const EMBEDDED_URL = "http://127.0.0.1:41234";

export const SERVICES: Readonly<Record<ScenarioSpec["service"], { url: string; saved: SavedService[]; try_it: TryIt | null }>> = {
  embedded: {
    url: EMBEDDED_URL,
    saved: [{ url: "https://keys.staging.example.com", account_name: "Acme (staging)" }],
    try_it: {
      gateway_url: EMBEDDED_URL,
      curl: `curl -H "Authorization: Bearer $KEYPORT_KEY" ${EMBEDDED_URL}/projects/demo/items`,
    },
  },
  remote: {
    url: "https://keys.example.com",
    saved: [{ url: "https://keys.example.com", account_name: "Acme Robotics" }],
    try_it: null,
  },
};

export const KEYCHAINS: Readonly<Record<ScenarioSpec["keychain"], KeychainStatus>> = {
  available: { available: true, backend: "Secret Service", problem: null, fix: null },
  missing: {
    available: false,
    backend: "Secret Service",
    problem: "No Secret Service provider is running on the session bus (org.freedesktop.secrets).",
    fix: "Install and start a keyring, e.g. `sudo apt install gnome-keyring`, then log out and back in.",
  },
};

// ---------------------------------------------------------------- plans

export const PLANS: readonly PlanRow[] = [
  { plan: "free", limits: { per_minute: 10, per_day: 1000, burst: 20 }, key_cap: 5 },
  { plan: "starter", limits: { per_minute: 60, per_day: 10000, burst: 100 }, key_cap: 25 },
  { plan: "professional", limits: { per_minute: 300, per_day: 100000, burst: 500 }, key_cap: 100 },
  { plan: "enterprise", limits: { per_minute: 1000, per_day: null, burst: 2000 }, key_cap: 1000 },
];

export function planRow(plan: Plan): PlanRow {
  return PLANS.find((p) => p.plan === plan)!;
}

// ---------------------------------------------------------------- enrollment, folder scan, usage

/** The one enrollment code that works (for a day, once); every other was "already used". */
export const ENROLLMENT = {
  code: "7K3QM-X9D2A-BC4EF-GH5JK",
  enrollment_id: "enr_01hy2k7r",
  account_id: "acc_01hy2k7q4c",
  account_name: "Acme Corp",
  plan: "starter",
  key_prefix: "to",
  key_name: "Admin key (enrolled)",
} as const satisfies { plan: Plan; [field: string]: string };

/**
 * What the simulated scan finds: a key of the account (by name; its status
 * is looked up when scanning), or a finding as the scanner reports it.
 */
export type ScanHit = (Pick<FolderFinding, "path" | "line" | "column"> & { key_name: string }) | FolderFinding;

const SCAN_HITS: ScanHit[] = [
  { path: ".env.production", line: 3, column: 17, key_name: "Analytics dashboard" },
  { path: "ci/legacy-pipeline.yml", line: 41, column: 22, key_name: "Old CI runner" },
  {
    path: "docs/getting-started.md",
    line: 58,
    column: 30,
    masked: "to_live_…0000",
    status: "not_a_key",
    key_id: null,
    key_name: null,
  },
];

/** The folder picker's answer, and what is in the folder (?scan=clean: nothing). */
export const SCAN = {
  folder: "/home/you/src/acme-dashboard",
  files: 214,
  skipped: 3,
  hits: SCAN_HITS,
  clean: { files: 186, skipped: 0 },
};

/** A value of a key's simulated traffic and its share of the requests (the shares add up to 1). */
export type Weighted = readonly [value: string, share: number];

/** Where and how a key is used: its endpoints, countries and networks (./usage.ts). */
export type UsageProfile = {
  endpoints: readonly Weighted[];
  countries: readonly Weighted[];
  networks: readonly Weighted[];
};

/** The synthetic traffic of most keys, busiest first. */
export const USAGE_PROFILE: UsageProfile = {
  endpoints: [
    ["GET /projects/{id}/items", 0.42],
    ["GET /projects/{id}/items/{item}", 0.27],
    ["POST /projects/{id}/items", 0.17],
    ["DELETE /projects/{id}/items/{item}", 0.09],
    ["GET /health", 0.05],
  ],
  countries: [
    ["US", 0.38],
    ["DE", 0.22],
    ["GB", 0.16],
    ["IN", 0.12],
    ["BR", 0.08],
    ["JP", 0.04],
  ],
  networks: [
    ["203.0.113.0/24", 0.46],
    ["198.51.100.0/24", 0.3],
    ["192.0.2.0/24", 0.16],
    ["2001:db8:1::/48", 0.08],
  ],
};

/**
 * Keys whose traffic looks like their own, by name (a replacement keeps its
 * key's name, and its application).
 */
export const KEY_PROFILES: Readonly<Record<string, UsageProfile>> = {
  // Reads two projects' reports from the office network and its IPv6 range;
  // the billing hosts (198.51.100.0/24) borrow the key now and then.
  "Analytics dashboard": {
    endpoints: [
      ["GET /projects/alpha/reports", 0.48],
      ["GET /projects/beta/reports", 0.34],
      ["GET /projects/alpha/reports/{id}", 0.18],
    ],
    countries: [
      ["US", 0.91],
      ["IE", 0.09],
    ],
    networks: [
      ["203.0.113.0/24", 0.9],
      ["2001:db8:42::/48", 0.07],
      ["198.51.100.0/24", 0.03],
    ],
  },
  // Deploy checks: reads only, one project, two networks in Frankfurt.
  "Staging deploy": {
    endpoints: [
      ["GET /projects/demo/items", 0.61],
      ["GET /projects/demo/items/{id}", 0.3],
      ["HEAD /projects/demo/status", 0.09],
    ],
    countries: [["DE", 1]],
    networks: [
      ["192.0.2.0/24", 0.72],
      ["2001:db8:7::/48", 0.28],
    ],
  },
  "Billing worker": {
    endpoints: [
      ["POST /projects/billing/invoices", 0.44],
      ["GET /projects/billing/invoices/{id}", 0.36],
      ["GET /projects/billing/customers/{id}", 0.2],
    ],
    countries: [["US", 1]],
    networks: [["198.51.100.0/24", 1]],
  },
  "Billing worker (2026)": {
    endpoints: [
      ["POST /projects/billing/invoices", 0.44],
      ["GET /projects/billing/invoices/{id}", 0.36],
      ["GET /projects/billing/customers/{id}", 0.2],
    ],
    countries: [["US", 1]],
    networks: [["198.51.100.0/24", 1]],
  },
};

/** The profile a key's traffic follows. */
export function profileOf(k: { name: string }): UsageProfile {
  return Object.hasOwn(KEY_PROFILES, k.name) ? KEY_PROFILES[k.name] : USAGE_PROFILE;
}

// ---------------------------------------------------------------- the account's data

/** A key in a rotation: when its (simulated) application uses it, ms since epoch. */
export type TrafficWindow = { from?: number; until?: number };

export type Fixtures = {
  account: Omit<AccountView, "key_cap" | "active_keys">;
  /** Newest first, like the service. */
  keys: KeyView[];
  /** Newest first. */
  alerts: Alert[];
  /** Oldest first (ids in order). */
  audit: AuditView[];
  /** Oldest first. */
  webhooks: WebhookEndpoint[];
  /** Endpoint id → its deliveries, newest first. */
  deliveries: Record<string, WebhookDelivery[]>;
  traffic: Record<string, TrafficWindow>;
};

export const ADMIN_KEY_ID = "key_0a9c4e21f7b3d5860c1e";
const BILLING = "key_3f8b2d6a91c04e7f5b20";
const OLD_CI = "key_51d7e0a3c9f28b6e4a13";
const ANALYTICS = "key_7c2e9f4b0d6a138e5f94";
const STAGING = "key_92b4f1e8a07c3d5b6e21";
const LOCAL = "key_a4e60c3b8f1d2975e0c8";
const BILLING_2026 = "key_c81f5a2e6b09d4f37a6d";
const RELAY = "wh_4be1c07a9d23f6e58b10";
const SYNC = "wh_9e03d5a1f7c42b6e8d37";
const OPERATOR = { id: "opr_01hx9c0aa1", name: "Acme Robotics billing" };
const SOURCE = "127.0.0.1";
const LEAK_COMMIT = "https://github.com/acme-robotics/billing-worker/commit/9c1e4b7a2f0d6e3b8a5c4d1e7f9b2a6c3d8e0f14";

const PRO: LimitsView = planRow("professional").limits;

/** "Analytics dashboard" tries an allowlist of the office's networks (report-only, 7 days, 2 of them gone). */
function analyticsProposal(now: number): Proposal {
  return {
    restriction: { allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] },
    started_at: iso(now - 2 * DAY),
    ends_at: iso(now + 5 * DAY),
  };
}

/** The demo account as it is `now`. */
export function demoFixtures(now: number): Fixtures {
  const ago = (ms: number) => iso(now - ms);
  const from = (ms: number) => iso(now + ms);

  const keys: KeyView[] = [
    {
      id: BILLING_2026,
      name: "Billing worker (2026)",
      environment: "live",
      prefix: "to_live_",
      last4: "a8e4",
      scopes: ["read", "write"],
      resources: ["project:billing"],
      created_at: ago(1 * DAY),
      expires_at: null,
      revoked_at: null,
      last_used_at: ago(1 * MIN),
      status: "active",
      rate_limit: null,
      effective_limits: PRO,
      replaces: BILLING,
      replaced_by: null,
      rotation_due_at: from(89 * DAY),
      // Held to where it was used before (the service's known places).
      quarantine: {
        at: ago(35 * MIN),
        reason: LEAK_COMMIT,
        source: "leak_report",
        networks: ["198.51.100.0/24"],
        countries: ["US"],
      },
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
    {
      id: LOCAL,
      name: "Local development",
      environment: "test",
      prefix: "to_test_",
      last4: "1f6d",
      scopes: ["read", "write"],
      resources: [],
      created_at: ago(2 * DAY),
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
      status: "active",
      rate_limit: null,
      effective_limits: PRO,
      replaces: null,
      replaced_by: null,
      rotation_due_at: from(28 * DAY),
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
    {
      id: STAGING,
      name: "Staging deploy",
      environment: "staging",
      prefix: "to_staging_",
      last4: "c802",
      scopes: ["read", "write"],
      resources: [],
      created_at: ago(9 * DAY),
      expires_at: from(5 * DAY),
      revoked_at: null,
      last_used_at: ago(3 * HOUR),
      status: "active",
      rate_limit: null,
      effective_limits: PRO,
      replaces: null,
      replaced_by: null,
      rotation_due_at: from(21 * DAY),
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
    {
      id: OLD_CI,
      name: "Old CI runner",
      environment: "test",
      prefix: "to_test_",
      last4: "d41a",
      scopes: ["read"],
      resources: [],
      created_at: ago(60 * DAY),
      expires_at: null,
      revoked_at: ago(12 * DAY),
      last_used_at: ago(20_000 * MIN),
      status: "revoked",
      rate_limit: null,
      effective_limits: PRO,
      replaces: null,
      replaced_by: null,
      rotation_due_at: null,
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
    {
      id: ANALYTICS,
      name: "Analytics dashboard",
      environment: "live",
      prefix: "to_live_",
      last4: "7b3e",
      scopes: ["read"],
      resources: ["project:alpha", "project:beta", "domain:example.com"],
      created_at: ago(80 * DAY),
      expires_at: null,
      revoked_at: null,
      last_used_at: ago(42 * MIN),
      status: "active",
      rate_limit: { per_minute: 60, per_day: 20000, burst: null },
      effective_limits: { per_minute: 60, per_day: 20000, burst: PRO.burst },
      replaces: null,
      replaced_by: null,
      rotation_due_at: from(10 * DAY),
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: analyticsProposal(now),
    },
    {
      id: BILLING,
      name: "Billing worker",
      environment: "live",
      prefix: "to_live_",
      last4: "9f2c",
      scopes: ["read", "write"],
      resources: ["project:billing"],
      created_at: ago(97 * DAY),
      expires_at: null,
      revoked_at: null,
      last_used_at: ago(3 * MIN),
      status: "active",
      rate_limit: null,
      effective_limits: PRO,
      replaces: null,
      replaced_by: BILLING_2026,
      rotation_due_at: null,
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
    {
      id: ADMIN_KEY_ID,
      name: "Admin key",
      environment: "live",
      prefix: "to_live_",
      last4: "5e0b",
      scopes: ["admin"],
      resources: [],
      created_at: ago(120 * DAY),
      expires_at: null,
      revoked_at: null,
      last_used_at: ago(12_000),
      status: "active",
      rate_limit: null,
      effective_limits: PRO,
      replaces: null,
      replaced_by: null,
      rotation_due_at: ago(30 * DAY),
      quarantine: null,
      allowed_ips: [],
      allowed_countries: [],
      proposal: null,
    },
  ];

  const webhooks: WebhookEndpoint[] = [
    {
      id: RELAY,
      url: "https://hooks.acme-robotics.example/keyport",
      description: "Ops channel relay",
      events: ["key.created", "key.rotated", "key.revoked", "alert.raised"],
      enabled: true,
      disabled_reason: null,
      secret_last4: "k9Q=",
      created_at: ago(40 * DAY),
    },
    {
      id: SYNC,
      url: "https://deploy.acme-robotics.example/hooks/rotate",
      description: "Secrets sync (CI)",
      events: ["key.rotated", "key.revoked", "key.expiring", "key.rotation_due"],
      enabled: false,
      disabled_reason: `disabled after every delivery since ${ago(28 * HOUR).slice(0, 16).replace("T", " ")} UTC failed`,
      secret_last4: "mT4=",
      created_at: ago(20 * DAY),
    },
  ];

  /** A delivery made `minAgo` minutes ago, tried once 400 ms later unless `over` says otherwise. */
  const delivery = (id: number, event_type: EventType, minAgo: number, over: Partial<WebhookDelivery>): WebhookDelivery => ({
    id,
    event_id: `msg_${(0x5a17c0de00 + id).toString(16).padStart(20, "0")}`,
    event_type,
    status: "delivered",
    attempts: 1,
    response_status: null,
    error: null,
    latency_ms: null,
    created_at: ago(minAgo * MIN),
    last_attempt_at: iso(now - minAgo * MIN + 400),
    next_attempt_at: null,
    delivered_at: null,
    ...over,
  });
  const ok = (latency_ms: number): Partial<WebhookDelivery> => ({ status: "delivered", response_status: 200, latency_ms });
  const answered503: Partial<WebhookDelivery> = { response_status: 503, error: "the endpoint answered HTTP 503", latency_ms: 212 };
  const deliveries: Record<string, WebhookDelivery[]> = {
    [RELAY]: [
      delivery(6, "alert.raised", 4, ok(66)),
      delivery(5, "alert.raised", 12, ok(73)),
      delivery(4, "alert.raised", 26, ok(58)),
      delivery(3, "alert.raised", 65, ok(61)),
      delivery(2, "key.rotated", 24 * 60, { ...ok(131), attempts: 2, last_attempt_at: iso(now - 24 * HOUR + 5_400) }),
      delivery(1, "key.created", 2 * 24 * 60, ok(84)),
    ],
    // Still pending when the endpoint was disabled: they wait for it to be enabled again.
    [SYNC]: [
      delivery(9, "key.rotation_due", 90, {
        ...answered503,
        status: "pending",
        attempts: 4,
        last_attempt_at: ago(55 * MIN),
        next_attempt_at: from(65 * MIN),
      }),
      delivery(8, "key.rotated", 24 * 60, {
        ...answered503,
        status: "pending",
        attempts: 7,
        last_attempt_at: ago(8 * HOUR),
        next_attempt_at: from(2 * HOUR),
      }),
      delivery(7, "key.rotation_due", 28 * 60, { ...answered503, status: "failed", attempts: 8, last_attempt_at: ago(70 * MIN) }),
    ],
  };

  type AlertFields = Omit<Alert, "category" | "acknowledged_at" | "resolved_at">;
  /** Acknowledged half an hour after it was raised; resolved two days after. */
  const alert = (a: AlertFields): Alert => {
    const raised = Date.parse(a.created_at);
    return {
      ...a,
      category: kindMeta(a.kind).category,
      acknowledged_at: a.status === "acknowledged" ? iso(raised + 30 * MIN) : null,
      resolved_at: a.status === "resolved" ? iso(raised + 2 * DAY) : null,
    };
  };
  const ciRevokedMinAgo = 12 * 24 * 60 + 1;
  // The evidence the service's rules attach (keyport-core anomaly.rs, keyport-server alerts.rs).
  const alerts: Alert[] = [
    alert({
      id: "alt_00000000000000000002",
      key_id: BILLING_2026,
      kind: "volume_spike",
      status: "open",
      message: "1240 requests in the last 10 minutes, 13× this key's usual 98.4",
      evidence: { window_minutes: 10, requests: 1240, baseline_expected: 98.4, factor: 12.6, threshold_factor: 5 },
      created_at: ago(4 * MIN),
    }),
    alert({
      id: "alt_00000000000000000003",
      key_id: BILLING_2026,
      kind: "new_country",
      status: "open",
      message: "first requests ever from BR with this key",
      evidence: { countries: [{ name: "BR", requests: 37 }], reason: "never_seen", known_country_requests: 18_422 },
      created_at: ago(12 * MIN),
    }),
    alert({
      id: "alt_00000000000000000004",
      key_id: ANALYTICS,
      kind: "error_spike",
      status: "open",
      message: "48% of requests failed in the last 10 minutes (120 errors), against 1.0% usually",
      evidence: {
        window_minutes: 10,
        errors: 120,
        requests: 250,
        client_errors: 82,
        server_errors: 38,
        error_share: 0.48,
        baseline_share: 0.01,
        threshold_share: 0.26,
      },
      created_at: ago(26 * MIN),
    }),
    // Leak reports (GitHub secret scanning, say): the newest replacement was
    // pushed to a public commit and quarantined by the account's policy.
    alert({
      id: "alt_00000000000000000009",
      key_id: BILLING_2026,
      kind: "leak_reported",
      status: "open",
      message: "key “Billing worker (2026)” was found public in a commit: quarantined",
      evidence: {
        url: LEAK_COMMIT,
        source: "commit",
        token_type: "keyport_live_api_key",
        action: "quarantined",
        masked: "to_live_…a8e4",
        key_name: "Billing worker (2026)",
      },
      created_at: ago(35 * MIN),
    }),
    alert({
      id: `alt_${"f".padStart(20, "0")}`,
      key_id: SYNC,
      kind: "webhook_failing",
      status: "open",
      message: `Webhook endpoint ${webhooks[1].url} kept failing and was disabled: fix it, then enable it again`,
      evidence: { endpoint_id: SYNC, url: webhooks[1].url, failing_since: ago(28 * HOUR) },
      created_at: ago(60 * MIN),
    }),
    alert({
      id: "alt_00000000000000000005",
      key_id: ANALYTICS,
      kind: "unusual_endpoint",
      status: "open",
      message: "first calls ever to DELETE /projects/{id} with this key",
      evidence: { endpoints: [{ name: "DELETE /projects/{id}", requests: 3 }], reason: "never_called", known_endpoint_requests: 52_310 },
      created_at: ago(65 * MIN),
    }),
    alert({
      id: "alt_00000000000000000001",
      key_id: ADMIN_KEY_ID,
      kind: "rotation_overdue",
      status: "open",
      message: "live key “Admin key” is 30 days overdue for rotation (every 90 days)",
      evidence: { rotation_due_at: keys[6].rotation_due_at, policy_days: 90, environment: "live", days_overdue: 30 },
      created_at: ago(90 * MIN),
    }),
    alert({
      id: "alt_00000000000000000006",
      key_id: ANALYTICS,
      kind: "rotation_due_soon",
      status: "open",
      message: "live key “Analytics dashboard” is due for rotation in 10 days (every 90 days)",
      evidence: { rotation_due_at: keys[4].rotation_due_at, policy_days: 90, environment: "live" },
      created_at: ago(3 * HOUR),
    }),
    alert({
      id: "alt_00000000000000000008",
      key_id: STAGING,
      kind: "key_expiring",
      status: "open",
      message: "staging key “Staging deploy” expires in 5 days: create its replacement",
      evidence: { expires_at: keys[2].expires_at, environment: "staging" },
      created_at: ago(4 * HOUR),
    }),
    alert({
      id: "alt_00000000000000000007",
      key_id: ANALYTICS,
      kind: "after_hours",
      status: "acknowledged",
      message: "7 requests outside business hours in the last 10 minutes; this key normally has none",
      evidence: { window_minutes: 10, after_hours_requests: 7, baseline_requests: 41_200, baseline_after_hours_share: 0 },
      created_at: ago(3 * DAY),
    }),
    // The old CI runner's test key turned up in a gist and was revoked.
    alert({
      id: "alt_0000000000000000000a",
      key_id: OLD_CI,
      kind: "leak_reported",
      status: "acknowledged",
      message: "key “Old CI runner” was found public in a gist: revoked",
      evidence: {
        url: "https://gist.github.com/octo-dev/5b2e8c1f0a9d4e7b3c6a",
        source: "gist",
        token_type: "keyport_test_api_key",
        action: "revoked",
        masked: "to_test_…d41a",
        key_name: "Old CI runner",
      },
      created_at: ago(ciRevokedMinAgo * MIN),
    }),
    alert({
      id: "alt_0000000000000000000b",
      key_id: BILLING,
      kind: "unusual_endpoint",
      status: "resolved",
      message: "14 requests refused for scope or resource in the last 10 minutes",
      evidence: { window_minutes: 10, denied: 14, reason: "denials" },
      created_at: ago(20 * DAY),
    }),
  ];

  // The vendor's operator made the account and sent an enrollment code, the
  // admin key redeemed it; later the operator upgraded the plan.
  const made = now - 120 * DAY - HOUR;
  const byOperator = { operator: OPERATOR.name };
  const events: Omit<AuditView, "id" | "source">[] = [
    {
      at: iso(made),
      actor: OPERATOR.id,
      action: "account.create",
      key_id: null,
      detail: { plan: "starter", name: "Acme Robotics", external_id: null, ...byOperator },
    },
    {
      at: iso(made),
      actor: OPERATOR.id,
      action: "enrollment.create",
      key_id: null,
      detail: { enrollment_id: "enr_01hx9c0b", expires_at: iso(made + DAY), ...byOperator },
    },
    { at: ago(120 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: ADMIN_KEY_ID, detail: { name: "Admin key" } },
    {
      at: ago(120 * DAY),
      actor: ADMIN_KEY_ID,
      action: "enrollment.redeem",
      key_id: ADMIN_KEY_ID,
      detail: { enrollment_id: "enr_01hx9c0b", revoked_admin_keys: [] },
    },
    { at: ago(97 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: BILLING, detail: { name: "Billing worker" } },
    { at: ago(80 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: ANALYTICS, detail: { name: "Analytics dashboard" } },
    { at: ago(60 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: OLD_CI, detail: { name: "Old CI runner" } },
    ...webhooks.slice(0, 1).map((w) => ({
      at: w.created_at,
      actor: ADMIN_KEY_ID,
      action: "webhook.create",
      key_id: null,
      detail: { endpoint_id: w.id, url: w.url, events: w.events },
    })),
    {
      at: ago(30 * DAY),
      actor: OPERATOR.id,
      action: "account.operator_update",
      key_id: null,
      detail: { plan: { from: "starter", to: "professional" }, ...byOperator },
    },
    ...webhooks.slice(1).map((w) => ({
      at: w.created_at,
      actor: ADMIN_KEY_ID,
      action: "webhook.create",
      key_id: null,
      detail: { endpoint_id: w.id, url: w.url, events: w.events },
    })),
    { at: ago(12 * DAY), actor: ADMIN_KEY_ID, action: "key.revoke", key_id: OLD_CI, detail: { name: "Old CI runner" } },
    { at: ago(9 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: STAGING, detail: { name: "Staging deploy" } },
    { at: ago(2 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: LOCAL, detail: { name: "Local development" } },
    {
      at: ago(2 * DAY),
      actor: ADMIN_KEY_ID,
      action: "key.propose",
      key_id: ANALYTICS,
      detail: { name: "Analytics dashboard", ...analyticsProposal(now) },
    },
    { at: ago(1 * DAY), actor: ADMIN_KEY_ID, action: "key.create", key_id: BILLING_2026, detail: { name: "Billing worker (2026)" } },
    {
      at: ago(35 * MIN),
      actor: ADMIN_KEY_ID,
      action: "key.quarantine",
      key_id: BILLING_2026,
      detail: { name: "Billing worker (2026)", reason: LEAK_COMMIT, source: "leak_report" },
    },
  ];
  // AuditView.id is an i64 (bigint in the bindings); IPC hands it over as a JSON number.
  const audit = events.map((e, i): AuditView => ({ id: (i + 1) as unknown as bigint, source: SOURCE, ...e }));

  return {
    account: {
      id: "acc_01hx9c3m2a",
      name: "Acme Robotics",
      plan: "professional",
      limits: PRO,
      created_at: ago(120 * DAY),
      settings: {
        rotation_days: { live: 90, test: 30, staging: 30 },
        business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
        allowed_countries: [],
        anomaly_rules: unsetRules(),
        leak_policy: "quarantine",
      },
      credential_key_id: ADMIN_KEY_ID,
      alert_defaults: ALERT_DEFAULTS,
      // The vendor bounds live keys (shows "your service allows at most …").
      max_rotation_days: { live: 365, test: 3650, staging: 3650 },
    },
    keys,
    alerts,
    audit,
    webhooks,
    deliveries,
    // Billing worker's application moved to the replacement a few minutes ago.
    traffic: { [BILLING]: { until: now - 3 * MIN } },
  };
}

/** A scenario's share of the demo data: everything, only the admin key, or none of the keys. */
export function fixturesFor(data: ScenarioSpec["data"], now: number): Fixtures {
  const all = demoFixtures(now);
  if (data === "all") return all;
  const keys = data === "admin" ? all.keys.filter((k) => k.id === ADMIN_KEY_ID) : [];
  const kept = new Set(keys.map((k) => k.id));
  return {
    ...all,
    keys,
    alerts: all.alerts.filter((a) => kept.has(a.key_id)),
    // No webhooks either: what is left is about the account itself and the keys kept.
    audit: all.audit.filter((e) => (e.key_id === null || kept.has(e.key_id)) && !("endpoint_id" in e.detail)),
    webhooks: [],
    deliveries: {},
    traffic: {},
  };
}
