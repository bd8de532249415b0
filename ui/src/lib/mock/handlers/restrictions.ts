// DEV ONLY (the mock backend). "Tighten this key…": suggestions, replays,
// report-only proposals, enforcing and dropping them (service/restrict.rs).
import type { KeyView } from "../../types";
import type { Handlers } from "../commands";
import { applyRestriction, historyDays, narrowing, normalizeRestriction, proposalDays, replay, suggest } from "../restrict";
import { findKey, record, type MockState } from "../state";
import { DAY, fail, iso } from "../util";

/** An active key the admin may change (the service's `changeable_key`). */
function changeable(s: MockState, id: string): KeyView {
  const k = findKey(s, id);
  if (k.status !== "active") fail("conflict", "only an active key can be restricted");
  return k;
}

/** The key's running proposal stops counting now (its would-deny history stays). */
function endPeriod(s: MockState, k: KeyView) {
  const last = s.proposals.get(k.id)?.at(-1);
  if (last) last.until = Math.min(last.until, Date.now());
}

export const restrictionHandlers = {
  key_suggestions: ({ id, days }, s) => suggest(s, findKey(s, id), historyDays(days, 30)),

  replay_restriction: ({ id, restriction, days }, s) => {
    const k = findKey(s, id);
    // Parsed and normalised like the service; a replay changes nothing, so it need not narrow.
    const r = normalizeRestriction(restriction);
    if (Object.keys(r).length === 0) fail("invalid", "restriction: give at least one rule to replay");
    return replay(s, k, r, historyDays(days, 7));
  },

  propose_restriction: ({ id, restriction, days }, s) => {
    const period = proposalDays(days);
    const k = changeable(s, id);
    const r = narrowing(k, restriction);
    const now = Date.now();
    endPeriod(s, k);
    k.proposal = { restriction: r, started_at: iso(now), ends_at: iso(now + period * DAY) };
    const periods = s.proposals.get(k.id) ?? [];
    periods.push({ restriction: r, from: now, until: now + period * DAY });
    s.proposals.set(k.id, periods);
    record(s, "key.propose", k, { name: k.name, restriction: r, ends_at: k.proposal.ends_at });
    return k;
  },

  enforce_proposal: ({ id }, s) => {
    const k = changeable(s, id);
    const p = k.proposal;
    if (!p) fail("conflict", "this key has no proposed restriction to enforce");
    // Checked again: the key may have changed since it was proposed.
    const r = narrowing(k, p.restriction);
    endPeriod(s, k);
    applyRestriction(k, r, s.account.limits);
    k.proposal = null;
    record(s, "key.restrict", k, { name: k.name, restriction: p.restriction });
    return k;
  },

  drop_proposal: ({ id }, s) => {
    const k = findKey(s, id);
    const p = k.proposal;
    if (!p) return k;
    endPeriod(s, k);
    k.proposal = null;
    record(s, "key.proposal_drop", k, { name: k.name, restriction: p.restriction });
    return k;
  },
} satisfies Partial<Handlers>;

