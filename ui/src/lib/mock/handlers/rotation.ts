// DEV ONLY (the mock backend). Rotation: the replacement, the simulated
// application moving to it, the portal's checks, compromise, the portal's
// own admin key.
import { isPortalCredential } from "../../credential";
import type { KeyView, OnceSecret, ReplacementCheck } from "../../types";
import type { Handlers } from "../commands";
import { generateKey, last4 } from "../key-format";
import { accountView, dueAt, findKey, live, record, resolveReminders, revokeNow, type MockState } from "../state";
import { fail, iso, newId } from "../util";
import { announce } from "../webhook-worker";

/** A replacement is picked up by "the application" this long after it is created… */
const TRAFFIC_AFTER_MS = 8_000;
/** …and the old key falls quiet this much later (instances restart one by one). */
const SWITCH_MS = 20_000;

/** A tiny non-cryptographic hash (the portal keeps a SHA-256): enough to tell keys apart. */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** The service's rotate: same settings, linked both ways; the old key keeps working. */
function rotate(s: MockState, old: KeyView, usedAfterMs = TRAFFIC_AFTER_MS): OnceSecret {
  if (old.status !== "active") fail("conflict", "only an active key can be rotated; create a new key instead");
  const next = old.replaced_by ? s.keys.find((k) => k.id === old.replaced_by) : undefined;
  if (next && live(s, next).status === "active") {
    fail("conflict", `this key was already rotated to ${next.id}; rotate that key instead`);
  }
  const now = Date.now();
  const secret = generateKey(old.environment);
  const key: KeyView = {
    ...old,
    id: newId("key"),
    last4: last4(secret),
    created_at: iso(now),
    expires_at: old.expires_at === null ? null : iso(now + (Date.parse(old.expires_at) - Date.parse(old.created_at))),
    revoked_at: null,
    last_used_at: null,
    replaces: old.id,
    replaced_by: null,
    rotation_due_at: dueAt(s, old.environment, now),
    // The replacement is the way out of quarantine; its allowlists are the old key's, a proposal is not.
    quarantine: null,
    proposal: null,
  };
  old.replaced_by = key.id;
  old.rotation_due_at = null;
  s.keys.unshift(key);
  s.generated.set(key.id, digest(secret));
  resolveReminders(s, old);
  record(s, "key.rotate", old, { name: old.name, replaced_by: key.id });
  announce(s, "key.rotated");
  // The simulated application: the new key from a moment on, the old one until it has switched.
  s.traffic.set(key.id, { from: now + usedAfterMs });
  if (old.last_used_at !== null || s.traffic.has(old.id)) {
    const w = s.traffic.get(old.id) ?? {};
    s.traffic.set(old.id, { ...w, until: Math.min(w.until ?? Infinity, now + usedAfterMs + SWITCH_MS) });
  }
  return { key: { ...key }, secret };
}

export const rotationHandlers = {
  rotate_key: ({ id }, s) => {
    const k = findKey(s, id);
    if (isPortalCredential(k, accountView(s))) {
      fail(
        "conflict",
        "This is the admin key this portal signs in with: rotate it from the Account screen, which stores the new one in the keychain before the old one is revoked.",
      );
    }
    return rotate(s, k);
  },

  replacement_info: ({ id }, s) => ({
    generated_here: s.generated.has(id),
    portal_checks: s.checks.get(id)?.length ?? 0,
  }),

  /** Compared here first (by hash when generated here, else the last four), and only then "sent" to the service. */
  check_replacement: ({ id, secret }, s) => {
    const k = findKey(s, id);
    if (!/^to_(live|test|staging)_[0-9a-zA-Z]{8,}$/.test(secret)) {
      fail("invalid", "That is not an API key of this service: keys start with to_live_, to_test_ or to_staging_.");
    }
    const hash = s.generated.get(k.id);
    const checks = s.checks.get(k.id) ?? [];
    const answer: ReplacementCheck = {
      matches: false,
      checked_by: hash ? "hash" : "service",
      accepted: false,
      problem: null,
      portal_checks: checks.length,
    };
    const ending = last4(secret);
    if (hash ? digest(secret) !== hash : ending !== k.last4) {
      answer.problem =
        ending !== k.last4
          ? `This key ends in …${ending}, but the new key ends in …${k.last4}. Paste the key from your application's configuration.`
          : "This key ends like the new key but is not it. Paste the key from your application's configuration.";
      return answer;
    }
    // Sent to POST /v1/verify: one request in the key's usage.
    checks.push(Date.now());
    s.checks.set(k.id, checks);
    answer.portal_checks = checks.length;
    if (k.status === "active") {
      answer.matches = true;
      answer.accepted = true;
    } else {
      answer.matches = answer.checked_by === "hash";
      answer.problem = `The service does not accept this key: it is ${k.status}.`;
    }
    live(s, k);
    return answer;
  },

  rotate_compromised: ({ id }, s) => {
    const k = findKey(s, id);
    if (isPortalCredential(k, accountView(s))) {
      fail("conflict", "This is the admin key this portal signs in with: rotate it from the Account screen.");
    }
    const once = rotate(s, k);
    revokeNow(s, k);
    return { once, old_revoked: true, problem: null };
  },

  rotate_admin_credential: (_, s) => {
    const old = findKey(s, s.account.credential_key_id);
    // The portal itself uses the new key at once; it goes to the keychain, never to the webview.
    const { key } = rotate(s, old, 0);
    s.account.credential_key_id = key.id;
    revokeNow(s, old);
    return { old_key_id: old.id, new_key_id: key.id, old_revoked: true, problem: null };
  },
} satisfies Partial<Handlers>;
