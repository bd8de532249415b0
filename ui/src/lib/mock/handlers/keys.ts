// DEV ONLY (the mock backend). Keys: list, create, edit, revoke, quarantine,
// usage, the folder scan.
import { isPortalCredential } from "../../credential";
import { maskKey } from "../../format";
import { atKeyCap } from "../../key-cap";
import { validateQuarantineReason } from "../../quarantine";
import type { FolderFinding, KeyView } from "../../types";
import type { Handlers } from "../commands";
import { profileOf, SCAN, type Weighted } from "../fixtures";
import { normalizeRestriction } from "../restrict";
import { displayPrefix, generateKey, last4 } from "../key-format";
import { accountView, dueAt, effectiveLimits, findKey, live, record, revokeNow, type MockState } from "../state";
import { accountUsage, keyUsage, usageStep } from "../usage";
import { fail, iso, newId, page } from "../util";
import { announce } from "../webhook-worker";

/** Like the service's set_quarantine: active keys only, never admin keys; the same state again changes nothing. */
function setQuarantine(s: MockState, k: KeyView, to: { reason: string; source: string } | null): KeyView {
  if (k.status !== "active") fail("conflict", "only an active key can be quarantined or released");
  if (to && k.scopes.includes("admin")) {
    fail("conflict", "an admin key cannot be made read-only: revoke it (rotate first if it is this portal's)");
  }
  if ((to === null) === (k.quarantine === null)) return k;
  if (to) {
    // Held to where it was used before (the service's known places): a key never used is held nowhere.
    const used = k.last_used_at !== null;
    const p = profileOf(k);
    const places = (values: readonly Weighted[]) => (used ? values.map(([v]) => v).sort() : []);
    k.quarantine = { at: iso(Date.now()), ...to, networks: places(p.networks), countries: places(p.countries) };
    record(s, "key.quarantine", k, { name: k.name, ...to });
    announce(s, "key.quarantined");
  } else {
    k.quarantine = null;
    record(s, "key.release", k, { name: k.name });
  }
  return k;
}

/** An IP allowlist as the service stores it; refused like the service's (`allowed_ips: …`). */
function allowlist(entries: string[] | undefined): string[] {
  if (!entries || entries.length === 0) return [];
  try {
    return normalizeRestriction({ allowed_ips: entries }).allowed_ips ?? [];
  } catch (e) {
    const err = e as { message: string };
    fail("invalid", err.message.replace(/^restriction\./, ""));
  }
}

export const keyHandlers = {
  list_keys: ({ cursor }, s) => {
    const p = page(s.keys.map((k) => live(s, k)), cursor, 100);
    return { keys: p.items, next_cursor: p.next };
  },

  get_key: ({ id }, s) => findKey(s, id),

  create_key: ({ input }, s) => {
    if (s.spec.rateLimited) fail("rate_limited", "The service answered 429 Too Many Requests.", 30);
    const account = accountView(s);
    if (atKeyCap(account)) {
      fail(
        "limit_exceeded",
        `the ${account.plan} plan allows ${account.key_cap} active keys and this account has ${account.active_keys}; revoke a key you no longer use, or upgrade the plan`,
      );
    }
    // Rust generates the key and sends the service only its hash and last four.
    const secret = generateKey(input.environment);
    const now = Date.now();
    const key: KeyView = {
      id: newId("key"),
      name: input.name,
      environment: input.environment,
      prefix: displayPrefix(input.environment),
      last4: last4(secret),
      scopes: input.scopes,
      resources: [...input.resources].sort(),
      created_at: iso(now),
      expires_at: input.expires_at,
      revoked_at: null,
      last_used_at: null,
      status: "active",
      rate_limit: input.rate_limit,
      effective_limits: effectiveLimits(s.account.limits, input.rate_limit),
      replaces: null,
      replaced_by: null,
      rotation_due_at: dueAt(s, input.environment, now),
      quarantine: null,
      // Checked and normalised like a restriction's (host bits cleared, duplicates dropped).
      allowed_ips: allowlist(input.allowed_ips),
      allowed_countries: [],
      proposal: null,
    };
    s.keys.unshift(key);
    record(s, "key.create", key, { name: key.name });
    announce(s, "key.created");
    return { key, secret };
  },

  update_key: ({ id, patch }, s) => {
    const k = findKey(s, id);
    if (k.status === "revoked") fail("conflict", "a revoked key cannot be changed");
    if (Object.keys(patch).length === 0) fail("invalid", "nothing to change");
    if (patch.name !== undefined) k.name = patch.name;
    if (patch.scopes !== undefined) k.scopes = patch.scopes;
    if (patch.resources !== undefined) k.resources = patch.resources;
    if (patch.expires_at !== undefined) k.expires_at = patch.expires_at;
    if (patch.allowed_ips !== undefined) k.allowed_ips = allowlist(patch.allowed_ips);
    if (patch.allowed_countries !== undefined) {
      k.allowed_countries = normalizeRestriction({ allowed_countries: patch.allowed_countries }).allowed_countries ?? [];
    }
    if (patch.rate_limit !== undefined) {
      k.rate_limit = patch.rate_limit;
      k.effective_limits = effectiveLimits(s.account.limits, patch.rate_limit);
    }
    record(s, "key.update", k, { ...patch });
    return k;
  },

  revoke_key: ({ id }, s) => {
    const k = findKey(s, id);
    if (isPortalCredential(k, accountView(s))) {
      fail(
        "conflict",
        "This is the admin key this portal signs in with; revoking it here would lock the portal out. Connect with another admin key first, then revoke this one.",
      );
    }
    revokeNow(s, k);
    return k;
  },

  quarantine_key: ({ id, reason }, s) => {
    const k = findKey(s, id);
    if (validateQuarantineReason(reason) !== null) fail("invalid", "reason must be 1 to 300 printable characters");
    return setQuarantine(s, k, { reason: reason.trim(), source: "manual" });
  },

  release_key: ({ id }, s) => setQuarantine(s, findKey(s, id), null),

  /**
   * The folder picker and the scan, simulated: a working key of this account
   * in a .env file, a revoked one in an old CI file, and a placeholder.
   */
  scan_folder: (_, s) => {
    if (s.scan === "cancel") return null;
    if (s.scan === "clean") return { folder: SCAN.folder, ...SCAN.clean, findings: [] };
    const findings: FolderFinding[] = [];
    for (const hit of SCAN.hits) {
      if ("status" in hit) {
        findings.push(hit);
        continue;
      }
      // The seeded key, not a replacement made since (the file still holds the old one).
      const k = s.keys.find((x) => x.name === hit.key_name && x.replaces === null);
      if (!k) continue;
      const { path, line, column } = hit;
      const status = live(s, k).status === "active" ? "live" : "inactive";
      findings.push({ path, line, column, masked: maskKey(k), status, key_id: k.id, key_name: k.name });
    }
    return { folder: SCAN.folder, files: SCAN.files, skipped: SCAN.skipped, findings };
  },

  key_usage: ({ id, range, step }, s) => keyUsage(s, findKey(s, id), range, step),

  account_usage: ({ range, step }, s) => accountUsage(s, range, step),

  export_usage_csv: ({ id, range, step }, s) => {
    const k = findKey(s, id);
    usageStep(range, step);
    const slug = k.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    return `/home/you/Downloads/keyport-usage-${slug}-${range}.csv`;
  },

  copy_secret: () => undefined,
} satisfies Partial<Handlers>;
