import { describe, expect, it } from "vitest";
import { key } from "../test/fixtures";
import {
  buildRestriction,
  describeReason,
  describeRestriction,
  describeSeen,
  emptyDraft,
  formatNetwork,
  formatShare,
  isEmptyRestriction,
  listAnd,
  narrowableScopes,
  networkContains,
  normalizeNetwork,
  parseCountryList,
  parseIpList,
  parseNetwork,
  parsePerMinute,
  parsePeriod,
  reasonLine,
  replayHeadline,
  usedScopes,
  wouldDenyLine,
  type TightenDraft,
} from "./restrictions";
import type { ReplayReport } from "./types";

const norm = (s: string) => formatNetwork(normalizeNetwork(parseNetwork(s)!));

describe("networks (keyport-core's allowlist parser)", () => {
  it("reads addresses and CIDR networks, IPv4 and IPv6", () => {
    for (const ok of [
      "203.0.113.7",
      "203.0.113.0/24",
      "0.0.0.0/0",
      "2001:db8::1",
      "2001:db8::/32",
      "::",
      "::1/128",
      "fe80::1:2:3:4",
      "1:2:3:4:5:6:7:8",
      "::ffff:203.0.113.9",
      " 192.0.2.1 ",
    ]) {
      expect(parseNetwork(ok), ok).not.toBeNull();
    }
  });

  it("refuses what the service refuses", () => {
    for (const bad of [
      "",
      "10.0.0.0/33",
      "not-an-ip",
      "1.2.3",
      "1.2.3.4.5",
      "10.0.0.300",
      "010.0.0.1",
      "::/129",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "2001:db8::g",
      "203.0.113.0/",
      "203.0.113.0/x",
      "fe80::1%eth0",
    ]) {
      expect(parseNetwork(bad), bad).toBeNull();
    }
  });

  it("normalises like the service stores them: host bits cleared, single addresses as /32 and /128", () => {
    expect(norm("203.0.113.7/24")).toBe("203.0.113.0/24");
    expect(norm("192.0.2.1")).toBe("192.0.2.1/32");
    expect(norm("2001:db8::1")).toBe("2001:db8::1/128");
    expect(norm("2001:0db8:0000:0000:0000:0000:0000:0000/32")).toBe("2001:db8::/32");
    expect(norm("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1/128");
    expect(norm("::ffff:10.0.0.0/104")).toBe("10.0.0.0/8");
    expect(norm("0.0.0.0/0")).toBe("0.0.0.0/0");
  });

  it("tells whether one network lies inside another", () => {
    const n = (s: string) => normalizeNetwork(parseNetwork(s)!);
    expect(networkContains(n("203.0.113.0/24"), n("203.0.113.0/24"))).toBe(true);
    expect(networkContains(n("203.0.0.0/16"), n("203.0.113.0/24"))).toBe(true);
    expect(networkContains(n("203.0.113.0/24"), n("203.0.0.0/16"))).toBe(false);
    expect(networkContains(n("198.51.100.7"), n("198.51.100.0/24"))).toBe(false);
    expect(networkContains(n("2001:db8::/32"), n("2001:db8:42::/48"))).toBe(true);
    expect(networkContains(n("2001:db8::/32"), n("203.0.113.0/24"))).toBe(false);
  });
});

describe("what is typed", () => {
  it("an IP allowlist: one per line (commas and spaces too), duplicates dropped", () => {
    expect(parseIpList("")).toEqual({ values: [], error: null });
    expect(parseIpList("  \n ")).toEqual({ values: [], error: null });
    expect(parseIpList("203.0.113.0/24\n 2001:db8::/32 \n\n203.0.113.0/24, 192.0.2.1")).toEqual({
      values: ["203.0.113.0/24", "2001:db8::/32", "192.0.2.1"],
      error: null,
    });
  });

  it("names the first entry that is not an address, and how many more", () => {
    const one = parseIpList("203.0.113.0/24\n10.0.0.300");
    expect(one.values).toEqual([]);
    expect(one.error).toMatch(/^“10\.0\.0\.300” is not an IP address or CIDR network/);
    expect(one.error).toMatch(/203\.0\.113\.0\/24/);
    expect(parseIpList("a\nb\nc").error).toMatch(/^“a” \(and 2 more\)/);
  });

  it("holds at most 300 entries", () => {
    const many = Array.from({ length: 301 }, (_, i) => `10.${Math.floor(i / 256)}.${i % 256}.0/24`).join("\n");
    expect(parseIpList(many).error).toMatch(/At most 300/);
  });

  it("countries: two letters each, upper-cased, duplicates dropped", () => {
    expect(parseCountryList("de, FR fr;us")).toEqual({ values: ["DE", "FR", "US"], error: null });
    expect(parseCountryList("")).toEqual({ values: [], error: null });
    expect(parseCountryList("DE, DEU").error).toMatch(/“DEU” is not a two-letter country code/);
    expect(parseCountryList("1A").error).toMatch(/two-letter/);
  });

  it("a rate: empty for none, else 1 up to the key's current rate", () => {
    expect(parsePerMinute("", 300)).toEqual({ value: null, error: null });
    expect(parsePerMinute(" 1,200 ", 5000)).toEqual({ value: 1200, error: null });
    expect(parsePerMinute("300", 300)).toEqual({ value: 300, error: null });
    expect(parsePerMinute("301", 300).error).toMatch(/already allows 300 a minute/);
    expect(parsePerMinute("0", 300).error).toMatch(/At least 1/);
    expect(parsePerMinute("2.5", 300).error).toMatch(/whole number/);
  });

  it("a report-only period: 1 to 30 days", () => {
    expect(parsePeriod("7")).toEqual({ value: 7, error: null });
    expect(parsePeriod("30").value).toBe(30);
    for (const bad of ["0", "31", "", "1.5", "x"]) expect(parsePeriod(bad).error, bad).toMatch(/Between 1 and 30/);
  });
});

describe("buildRestriction: chosen suggestions and own rules as one restriction", () => {
  const rw = key({ scopes: ["read", "write"] });
  const draft = (over: Partial<TightenDraft> = {}): TightenDraft => ({ ...emptyDraft(rw), ...over });

  it("starts with the key's scopes ticked and nothing to send", () => {
    expect(emptyDraft(rw)).toEqual({ ips: "", countries: "", scopes: ["read", "write"], perMinute: "" });
    const r = buildRestriction(rw, [], draft());
    expect(r.restriction).toBeNull();
    expect(r.errors).toEqual({ rules: "Choose a suggestion above, or write a rule below." });
  });

  it("omits every field left empty", () => {
    expect(buildRestriction(rw, [], draft({ ips: "203.0.113.0/24" }))).toEqual({
      restriction: { allowed_ips: ["203.0.113.0/24"] },
      errors: {},
    });
    expect(buildRestriction(rw, [], draft({ perMinute: "30" })).restriction).toEqual({ per_minute: 30 });
    expect(buildRestriction(rw, [], draft({ countries: "de" })).restriction).toEqual({ allowed_countries: ["DE"] });
    expect(buildRestriction(rw, [], draft({ scopes: ["read"] })).restriction).toEqual({ scopes: ["read"] });
  });

  it("adds up networks and countries, and takes the narrower scopes and rate", () => {
    const chosen = [
      { allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] },
      { scopes: ["read" as const] },
      { allowed_countries: ["US"] },
      { per_minute: 90 },
      { resources: ["project:demo"] },
    ];
    const r = buildRestriction(rw, chosen, draft({ ips: "198.51.100.7\n203.0.113.0/24", countries: "ie", perMinute: "120" }));
    expect(r.errors).toEqual({});
    expect(r.restriction).toEqual({
      scopes: ["read"],
      resources: ["project:demo"],
      allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48", "198.51.100.7"],
      allowed_countries: ["US", "IE"],
      per_minute: 90,
    });
    expect(buildRestriction(rw, [{ per_minute: 90 }], draft({ perMinute: "20" })).restriction).toEqual({ per_minute: 20 });
  });

  it("refuses what is typed wrong, and a choice that keeps no scope", () => {
    const r = buildRestriction(rw, [], draft({ ips: "10.0.0.300", countries: "DEU", perMinute: "999" }));
    expect(r.restriction).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(["countries", "ips", "perMinute"]);
    const none = buildRestriction(rw, [{ scopes: ["read"] }], draft({ scopes: ["write"] }));
    expect(none.restriction).toBeNull();
    expect(none.errors.scopes).toMatch(/at least one scope/);
  });

  it("an admin key keeps admin whatever is ticked", () => {
    const admin = key({ scopes: ["admin"] });
    expect(narrowableScopes(admin)).toEqual([]);
    expect(buildRestriction(admin, [], { ...emptyDraft(admin), scopes: [], ips: "192.0.2.0/24" })).toEqual({
      restriction: { allowed_ips: ["192.0.2.0/24"] },
      errors: {},
    });
  });

  it("knows an empty restriction", () => {
    expect(isEmptyRestriction({})).toBe(true);
    expect(isEmptyRestriction({ per_minute: 1 })).toBe(false);
  });
});

describe("in plain words", () => {
  it("says each rule of a restriction", () => {
    expect(describeRestriction({ allowed_ips: ["203.0.113.0/24"] })).toEqual(["Only from 203.0.113.0/24"]);
    expect(
      describeRestriction({
        allowed_ips: ["a", "b", "c", "d", "e"],
        allowed_countries: ["DE", "FR"],
        scopes: ["read"],
        resources: ["project:alpha"],
        per_minute: 60,
      }),
    ).toEqual([
      "Only from a, b, c and 2 more",
      expect.stringMatching(/^Only from (Germany \(DE\)|DE) and (France \(FR\)|FR)$/),
      "Read only",
      "Only project:alpha",
      "At most 60 requests a minute",
    ]);
    expect(describeRestriction({ scopes: ["read", "write"] })).toEqual(["Only the read and write scopes"]);
    expect(describeRestriction({ per_minute: 1 })).toEqual(["At most 1 request a minute"]);
  });

  it("lists", () => {
    expect(listAnd([])).toBe("");
    expect(listAnd(["a"])).toBe("a");
    expect(listAnd(["a", "b"])).toBe("a and b");
    expect(listAnd(["a", "b", "c"])).toBe("a, b and c");
  });

  it("says the service's would-deny reasons", () => {
    expect(describeReason("ip 198.51.100.0/24")).toBe("from 198.51.100.0/24");
    expect(describeReason("ip unknown")).toBe("from an unknown address");
    expect(describeReason("scope write")).toBe("needing the write scope");
    expect(describeReason("country unknown")).toBe("from an unknown country");
    expect(describeReason("country FR")).toMatch(/^from (France \(FR\)|FR)$/);
    expect(describeReason("resource /projects/beta")).toBe("for /projects/beta");
    expect(describeReason("rate_limit")).toBe("over the lower rate");
    expect(describeReason("something new")).toBe("something new");
    expect(reasonLine({ reason: "ip 198.51.100.0/24", count: 41 })).toBe("41 requests from 198.51.100.0/24");
    expect(wouldDenyLine(3)).toBe("3 requests would have been refused");
    expect(wouldDenyLine(1)).toBe("1 request would have been refused");
    expect(wouldDenyLine(0)).toMatch(/^No request/);
  });

  it("says replay examples per rule", () => {
    const v = (value: string, requests: number) => ({ value, requests, last_seen: "2026-03-12T11:00:00Z" });
    expect(describeSeen("ip", v("198.51.100.0/24", 41))).toBe("41 requests from 198.51.100.0/24");
    expect(describeSeen("scope", v("POST /items", 1))).toBe("1 request to POST /items");
    expect(describeSeen("rate_limit", v("2026-03-12 11:03 UTC", 12_034))).toBe(
      "12,034 requests in the minute 2026-03-12 11:03 UTC",
    );
  });

  it("formats shares", () => {
    expect(formatShare(0)).toBe("0 %");
    expect(formatShare(41 / 12_034)).toBe("0.3 %");
    expect(formatShare(0.0004)).toBe("<0.1 %");
    expect(formatShare(0.5)).toBe("50 %");
    expect(formatShare(0.9999)).toBe(">99.9 %");
    expect(formatShare(1)).toBe("100 %");
  });

  it("reads the scopes the key's endpoints needed", () => {
    expect(usedScopes([])).toEqual([]);
    expect(
      usedScopes([
        { endpoint: "GET /a", count: 3 },
        { endpoint: "HEAD /b", count: 1 },
      ]),
    ).toEqual(["read"]);
    expect(
      usedScopes([
        { endpoint: "DELETE /a", count: 1 },
        { endpoint: "GET /a", count: 1 },
        { endpoint: "POST /c", count: 0 },
      ]),
    ).toEqual(["read", "write"]);
    expect(usedScopes([{ endpoint: "other", count: 5 }])).toEqual([]);
  });
});

describe("replayHeadline", () => {
  const report = (over: Partial<ReplayReport>): ReplayReport => ({
    from: "2026-03-05T12:00:00Z",
    to: "2026-03-12T12:00:00Z",
    requests: 12_034,
    refused_at_least: 41,
    refused_at_most: 41,
    share: 41 / 12_034,
    rules: [],
    notes: [],
    ...over,
  });

  it("gives the share and the count", () => {
    expect(replayHeadline(report({}), 7)).toEqual({
      tone: "warn",
      text: "Would have refused 0.3 % of the last 7 days: 41 of 12,034 requests",
    });
  });

  it("gives a range when rules could overlap", () => {
    expect(replayHeadline(report({ refused_at_least: 12 }), 30).text).toBe(
      "Would have refused 0.3 % of the last 30 days: between 12 and 41 of 12,034 requests",
    );
  });

  it("reassures when nothing would have been refused, and says when there was nothing to judge", () => {
    expect(replayHeadline(report({ refused_at_least: 0, refused_at_most: 0, share: 0 }), 7)).toEqual({
      tone: "ok",
      text: "Would have refused nothing in the last 7 days: all 12,034 requests fit.",
    });
    expect(replayHeadline(report({ requests: 0, refused_at_least: 0, refused_at_most: 0, share: 0 }), 1)).toEqual({
      tone: "none",
      text: "No requests in the last day to judge by.",
    });
  });
});
