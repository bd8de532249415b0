// DEV ONLY (the mock backend). The portal's own state: which service it
// talks to, connecting, enrollment codes, the start-up hooks.
import type { EnrollLink, EnrollOffer, KeyView, PortalStatus } from "../../types";
import { isEnrollLinkText, serviceBase, validateServiceUrl } from "../../validation";
import type { Handlers } from "../commands";
import { EMBEDDED_URL, ENROLLMENT, KEYCHAINS, planRow, SERVICES } from "../fixtures";
import { displayPrefix, generateKey, last4 } from "../key-format";
import { accountView, dueAt, record, revokeNow, type MockState } from "../state";
import { fail, iso, newId } from "../util";

function status(s: MockState): PortalStatus {
  const service = SERVICES[s.spec.service];
  const base: PortalStatus = {
    mode: s.spec.service,
    service_url: service.url,
    account: s.spec.connected ? accountView(s) : null,
    keychain: KEYCHAINS[s.spec.keychain],
    saved_services: [...service.saved],
    try_it: service.try_it,
  };
  const enrolled = s.enrollment.service;
  if (!enrolled) return base;
  // Enrolled into another service: the portal now uses that one.
  const others = base.saved_services.filter((x) => x.url !== enrolled.url);
  return { ...base, mode: "remote", service_url: enrolled.url, account: accountView(s), saved_services: [...others, enrolled], try_it: null };
}

function checkUrl(url: string) {
  const problem = validateServiceUrl(url);
  if (problem) fail("invalid", problem);
}

/** The service and code asked about: a pasted keyport://enroll link names both. */
function enrollTarget(serviceUrl: string, code: string): EnrollLink {
  const text = code.trim();
  if (!isEnrollLinkText(text)) return { service_url: serviceBase(serviceUrl), code: text };
  let link: URL;
  try {
    link = new URL(text);
  } catch {
    fail("invalid", "that keyport:// link is incomplete; copy the whole link again");
  }
  const service = link.searchParams.get("service");
  const inner = link.searchParams.get("code");
  if (link.host !== "enroll" || !service || !inner) {
    fail("invalid", "that is not a Keyport enrollment link (keyport://enroll?service=…&code=…)");
  }
  return { service_url: serviceBase(service), code: inner.trim() };
}

function enrollOffer(s: MockState, serviceUrl: string, code: string): EnrollOffer {
  const t = enrollTarget(serviceUrl, code);
  checkUrl(t.service_url);
  if (t.service_url.includes("down")) fail("unreachable", `Could not connect to ${t.service_url} (connection refused).`);
  if (s.spec.rateLimited) fail("rate_limited", "too many failed enrollment attempts from this address", 60);
  if (t.code.toUpperCase() !== ENROLLMENT.code || s.enrollment.used) {
    fail("forbidden", "this enrollment code was already used; each code works once");
  }
  const preview = {
    account_id: ENROLLMENT.account_id,
    account_name: ENROLLMENT.account_name,
    plan: ENROLLMENT.plan,
    expires_at: s.enrollment.expiresAt,
    key_prefix: ENROLLMENT.key_prefix,
    admin_keys: s.keys.filter((k) => k.status === "active" && k.scopes.includes("admin")).length,
  };
  return { service_url: t.service_url, code: ENROLLMENT.code, preview };
}

/** The portal's new admin key: made "on this computer", only its hash and last four sent. */
function enrolledKey(s: MockState): KeyView {
  const now = Date.now();
  const key: KeyView = {
    id: newId("key"),
    name: ENROLLMENT.key_name,
    environment: "live",
    prefix: displayPrefix("live"),
    last4: last4(generateKey("live")),
    scopes: ["admin"],
    resources: [],
    created_at: iso(now),
    expires_at: null,
    revoked_at: null,
    last_used_at: iso(now),
    status: "active",
    rate_limit: null,
    effective_limits: s.account.limits,
    replaces: null,
    replaced_by: null,
    rotation_due_at: dueAt(s, "live", now),
    quarantine: null,
    allowed_ips: [],
    allowed_countries: [],
    proposal: null,
  };
  s.keys.unshift(key);
  return key;
}

export const connectionHandlers = {
  portal_status: (_, s) => status(s),

  connect_remote: ({ url, adminKey }, s) => {
    checkUrl(url);
    if (url.includes("down")) fail("unreachable", `Could not connect to ${url}.`);
    if (!adminKey.startsWith("to_")) fail("unauthorized", "The service answered 401: that key is not an admin key of any account.");
    return { ...status(s), mode: "remote", service_url: url, account: accountView(s) };
  },

  use_service: ({ url }, s) => ({
    ...status(s),
    mode: url === null ? "embedded" : "remote",
    service_url: url ?? EMBEDDED_URL,
    account: accountView(s),
  }),

  sign_out: (_, s) => ({ ...status(s), mode: "embedded", account: accountView(s), saved_services: [] }),

  enrollment_preview: ({ serviceUrl, code }, s) => enrollOffer(s, serviceUrl, code),

  enroll: ({ serviceUrl, code, revokeOtherAdminKeys }, s) => {
    const offer = enrollOffer(s, serviceUrl, code);
    s.enrollment.used = true;
    const { plan } = offer.preview;
    Object.assign(s.account, { id: offer.preview.account_id, name: offer.preview.account_name, plan, limits: planRow(plan).limits });
    const others = s.keys.filter((k) => k.status === "active" && k.scopes.includes("admin"));
    const key = enrolledKey(s);
    const revoked = revokeOtherAdminKeys ? others : [];
    const detail = { enrollment_id: ENROLLMENT.enrollment_id, revoked_admin_keys: revoked.map((k) => k.id) };
    record(s, "enrollment.redeem", key, detail, key.id);
    record(s, "key.create", key, { name: key.name, generated_by: "client", reason: "enrollment code" }, key.id);
    for (const k of revoked) revokeNow(s, k, { actor: key.id, reason: "recovery with an enrollment code" });
    s.account.credential_key_id = key.id;
    s.enrollment.service = { url: offer.service_url, account_name: s.account.name };
    return status(s);
  },

  take_enroll_link: () => null,

  startup_ready: () => undefined,
} satisfies Partial<Handlers>;
