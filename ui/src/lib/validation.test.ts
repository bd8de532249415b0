import { describe, expect, it } from "vitest";
import { ENTERPRISE, key, NOW, PRO } from "../test/fixtures";
import {
  addResources,
  buildPatch,
  emptyForm,
  expiryValue,
  fieldForServerMessage,
  formFromKey,
  invisibleCharIn,
  isDirty,
  isInsecureRemote,
  parseLimit,
  validateKeyForm,
  validateName,
  validateResource,
  validateServiceUrl,
  type KeyForm,
} from "./validation";

function form(over: Partial<KeyForm> = {}): KeyForm {
  return { ...emptyForm(), name: "Billing worker", ...over };
}

describe("name", () => {
  it("needs 1 to 100 printable characters", () => {
    expect(validateName("  ")).toMatch(/name/i);
    expect(validateName("a".repeat(100))).toBeNull();
    expect(validateName("a".repeat(101))).toMatch(/100/);
    expect(validateName("tab\there")).toMatch(/printable/);
    expect(validateName("Zahlungsdienst – Produktion ✓")).toBeNull();
  });

  it("refuses the invisible characters the service refuses, naming the one found", () => {
    const refused: [string, string][] = [
      ["\u202A", "U+202A"], // left-to-right embedding
      ["\u202B", "U+202B"],
      ["\u202C", "U+202C"],
      ["\u202D", "U+202D"],
      ["\u202E", "U+202E"], // right-to-left override
      ["\u2066", "U+2066"], // isolates
      ["\u2067", "U+2067"],
      ["\u2068", "U+2068"],
      ["\u2069", "U+2069"],
      ["\u200B", "U+200B"], // zero width space
      ["\u200C", "U+200C"],
      ["\u200D", "U+200D"],
      ["\u200E", "U+200E"], // direction marks
      ["\u200F", "U+200F"],
      ["\u2060", "U+2060"], // word joiner
      ["\uFEFF", "U+FEFF"], // zero width no-break space (BOM)
      ["\u00AD", "U+00AD"], // soft hyphen
      ["\u061C", "U+061C"],
      ["\u180E", "U+180E"],
      ["\u2064", "U+2064"],
      ["\uFFF9", "U+FFF9"],
      ["\u{E0041}", "U+E0041"], // tag character
    ];
    for (const [c, code] of refused) {
      const e = validateName(`invoice${c}gpj.exe`);
      expect(e, code).toContain(`(${code},`);
      expect(e, code).toMatch(/invisible character/);
    }
    expect(validateName("admin\u202Etset")).toMatch(/text-direction control/);
    expect(validateName("billing\u200Bworker")).toMatch(/zero-width/);
    expect(validateName("soft\u00ADhyphen")).toMatch(/invisible formatting character/);
  });

  it("finds them at either end too, where trimming would hide them", () => {
    expect(validateName("\uFEFFBilling")).toMatch(/U\+FEFF/);
    expect(validateName("Billing\uFEFF ")).toMatch(/U\+FEFF/);
    expect(validateName(" \u200BBilling")).toMatch(/U\+200B/);
  });

  it("keeps visible text that merely looks unusual", () => {
    for (const ok of ["שירות חיוב", "خدمة الفواتير", "請求サービス", "Ops 🚀", "naïve café", "a\u00A0b", "x ≠ y"]) {
      expect(validateName(ok), ok).toBeNull();
      expect(invisibleCharIn(ok), ok).toBeNull();
    }
  });

  it("stops the create form with the message on the name field", () => {
    const v = validateKeyForm(form({ name: "prod\u202Ekey" }), PRO, NOW);
    expect(v.input).toBeNull();
    expect(v.errors.name).toMatch(/U\+202E/);
  });

  it("lets an older key keep its name while other settings change", () => {
    const old = key({ name: "legacy\u200Bname", scopes: ["read"] });
    const f = formFromKey(old, true);
    f.scopes = ["read", "write"];
    expect(buildPatch(old, f, PRO, NOW)).toEqual({ errors: {}, patch: { scopes: ["read", "write"] } });
    f.name = "other\u200Bname";
    expect(buildPatch(old, f, PRO, NOW).errors.name).toMatch(/U\+200B/);
  });
});

describe("resources (mirrors keyport-core)", () => {
  it("accepts kind:name", () => {
    for (const ok of ["project:alpha", "domain:example.com", "team-a_1:x.y-z_9", "p:A"]) {
      expect(validateResource(ok), ok).toBeNull();
    }
  });
  it("explains what is wrong", () => {
    expect(validateResource("alpha")).toMatch(/kind:name/);
    expect(validateResource("Project:alpha")).toMatch(/kind/);
    expect(validateResource("1p:alpha")).toMatch(/kind/);
    expect(validateResource(`${"k".repeat(33)}:a`)).toMatch(/kind/);
    expect(validateResource("project:")).toMatch(/name/);
    expect(validateResource("project:..")).toMatch(/name/);
    expect(validateResource("project:a/b")).toMatch(/name/);
    expect(validateResource(`project:${"n".repeat(65)}`)).toMatch(/name/);
  });
  it("adds several at once, skips duplicates, keeps the bad ones typed", () => {
    const r = addResources(["project:alpha"], "project:beta, project:alpha nope");
    expect(r.resources).toEqual(["project:alpha", "project:beta"]);
    expect(r.rest).toBe("nope");
    expect(r.error).toMatch(/kind:name/);
  });
  it("caps at 50 per key", () => {
    const many = Array.from({ length: 50 }, (_, i) => `project:p${i}`);
    const r = addResources(many, "project:extra");
    expect(r.error).toMatch(/50/);
    expect(r.resources).toHaveLength(50);
    expect(r.rest).toBe("project:extra");
  });
});

describe("limits", () => {
  it("empty means the plan's value", () => {
    expect(parseLimit("", 300)).toEqual({ value: null, error: null });
  });
  it("must be a whole number from 1 up to the plan", () => {
    expect(parseLimit("30", 300)).toEqual({ value: 30, error: null });
    expect(parseLimit("300", 300).value).toBe(300);
    expect(parseLimit("301", 300).error).toMatch(/at most 300/);
    expect(parseLimit("0", 300).error).toMatch(/at least 1/i);
    expect(parseLimit("1.5", 300).error).toMatch(/whole/);
    expect(parseLimit("-3", 300).error).toMatch(/whole/);
    expect(parseLimit("100,000", 100000).value).toBe(100000);
    expect(parseLimit("100001", 100000).error).toMatch(/100,000/);
  });
  it("an unlimited plan has no ceiling (but u32 still applies)", () => {
    expect(parseLimit("5000000", null).value).toBe(5000000);
    expect(parseLimit("5000000000", null).error).toMatch(/too large/);
  });
});

describe("expiry", () => {
  it("presets count from now", () => {
    expect(expiryValue({ expiry: "never", expiryDate: "" }, NOW).value).toBeNull();
    expect(expiryValue({ expiry: "30d", expiryDate: "" }, NOW).value).toBe("2026-04-11T12:00:00Z");
    expect(expiryValue({ expiry: "keep", expiryDate: "" }, NOW).value).toBeUndefined();
  });
  it("a custom date lasts to the end of that UTC day and must be in the future", () => {
    expect(expiryValue({ expiry: "custom", expiryDate: "2027-01-01" }, NOW).value).toBe("2027-01-01T23:59:59Z");
    expect(expiryValue({ expiry: "custom", expiryDate: "2026-03-11" }, NOW).error).toMatch(/future/);
    expect(expiryValue({ expiry: "custom", expiryDate: "" }, NOW).error).toMatch(/date/);
  });
});

describe("validateKeyForm", () => {
  it("builds the NewKeyInput", () => {
    const r = validateKeyForm(
      form({
        name: "  Billing worker ",
        environment: "live",
        scopes: ["write", "read"],
        resources: ["project:alpha"],
        expiry: "custom",
        expiryDate: "2027-01-01",
        customLimits: true,
        perMinute: "30",
      }),
      PRO,
      NOW,
    );
    expect(r.errors).toEqual({});
    expect(r.input).toEqual({
      name: "Billing worker",
      environment: "live",
      scopes: ["read", "write"],
      resources: ["project:alpha"],
      expires_at: "2027-01-01T23:59:59Z",
      rate_limit: { per_minute: 30, per_day: null, burst: null },
    });
  });
  it("sends no rate limit when the fields are empty or the box is off", () => {
    expect(validateKeyForm(form({ customLimits: true }), PRO, NOW).input?.rate_limit).toBeNull();
    expect(validateKeyForm(form({ perMinute: "9999" }), PRO, NOW).input?.rate_limit).toBeNull();
  });
  it("reports every problem at once and builds nothing", () => {
    const r = validateKeyForm(
      form({ name: "", scopes: [], customLimits: true, perMinute: "301", perDay: "0", burst: "x", expiry: "custom" }),
      PRO,
      NOW,
    );
    expect(r.input).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(["burst", "expiry", "name", "perDay", "perMinute", "scopes"]);
  });
  it("takes a valid resource that was typed but not added", () => {
    const r = validateKeyForm(form({ resourceDraft: "project:alpha" }), PRO, NOW);
    expect(r.input?.resources).toEqual(["project:alpha"]);
    expect(validateKeyForm(form({ resourceDraft: "alpha" }), PRO, NOW).errors.resources).toMatch(/kind:name/);
  });
  it("allows any daily limit on an unlimited plan", () => {
    const r = validateKeyForm(form({ customLimits: true, perDay: "2000000" }), ENTERPRISE, NOW);
    expect(r.input?.rate_limit).toEqual({ per_minute: null, per_day: 2000000, burst: null });
  });
});

describe("buildPatch", () => {
  const k = key({
    name: "Worker",
    scopes: ["read", "write"],
    resources: ["project:a"],
    expires_at: "2026-06-01T00:00:00Z",
    rate_limit: { per_minute: 30, per_day: null, burst: null },
  });

  it("is null when nothing changed", () => {
    expect(buildPatch(k, formFromKey(k, true), PRO, NOW)).toEqual({ errors: {}, patch: null });
  });
  it("contains only what changed", () => {
    const f = formFromKey(k, true);
    f.name = "Worker v2";
    f.scopes = ["write", "read"]; // same set, other order
    f.resources = ["project:a", "project:b"];
    expect(buildPatch(k, f, PRO, NOW).patch).toEqual({ name: "Worker v2", resources: ["project:a", "project:b"] });
  });
  it("clears the expiry and the rate limit with null", () => {
    const f = formFromKey(k, true);
    f.expiry = "never";
    f.customLimits = false;
    expect(buildPatch(k, f, PRO, NOW).patch).toEqual({ expires_at: null, rate_limit: null });
  });
  it("changes one limit", () => {
    const f = formFromKey(k, true);
    f.burst = "50";
    expect(buildPatch(k, f, PRO, NOW).patch).toEqual({
      rate_limit: { per_minute: 30, per_day: null, burst: 50 },
    });
  });
  it("validates like create", () => {
    const f = formFromKey(k, true);
    f.perMinute = "500";
    const r = buildPatch(k, f, PRO, NOW);
    expect(r.patch).toBeNull();
    expect(r.errors.perMinute).toMatch(/300/);
  });
  it("a key without expiry left on 'never' is unchanged", () => {
    const plain = key({ name: "Plain" });
    expect(formFromKey(plain, true).expiry).toBe("never");
    expect(buildPatch(plain, formFromKey(plain, true), PRO, NOW).patch).toBeNull();
  });
});

describe("allowed IPs", () => {
  it("are sent with a new key only when there are some", () => {
    expect(validateKeyForm(form(), PRO, NOW).input).not.toHaveProperty("allowed_ips");
    const r = validateKeyForm(form({ allowedIps: "203.0.113.0/24\n 2001:db8::1 \n\n203.0.113.0/24" }), PRO, NOW);
    expect(r.errors).toEqual({});
    expect(r.input?.allowed_ips).toEqual(["203.0.113.0/24", "2001:db8::1"]);
  });

  it("are checked for shape with a clear message", () => {
    const r = validateKeyForm(form({ allowedIps: "203.0.113.0/24\nintranet" }), PRO, NOW);
    expect(r.input).toBeNull();
    expect(r.errors.allowedIps).toMatch(/“intranet” is not an IP address or CIDR network/);
  });

  it("an edit sends the list only when it changed; [] removes it", () => {
    const k = key({ allowed_ips: ["203.0.113.0/24"], allowed_countries: ["DE"] });
    const f = formFromKey(k, true);
    expect(f.allowedIps).toBe("203.0.113.0/24");
    expect(f.allowedCountries).toBe("DE");
    expect(buildPatch(k, f, PRO, NOW).patch).toBeNull();
    f.allowedIps = "203.0.113.0/24\n198.51.100.7";
    f.allowedCountries = "de, fr";
    expect(buildPatch(k, f, PRO, NOW).patch).toEqual({
      allowed_ips: ["203.0.113.0/24", "198.51.100.7"],
      allowed_countries: ["DE", "FR"],
    });
    f.allowedIps = "";
    f.allowedCountries = " ";
    expect(buildPatch(k, f, PRO, NOW).patch).toEqual({ allowed_ips: [], allowed_countries: [] });
    f.allowedCountries = "Germany";
    expect(buildPatch(k, f, PRO, NOW).errors.allowedCountries).toMatch(/two-letter/);
  });

  it("the service's messages about them point at the field", () => {
    expect(fieldForServerMessage("allowed_ips: `x` is not an IP address or CIDR network")).toBe("allowedIps");
    expect(fieldForServerMessage("allowed_countries: `DEU` is not a two-letter country code")).toBe("allowedCountries");
  });
});

describe("helpers", () => {
  it("maps service messages to fields", () => {
    expect(fieldForServerMessage("rate_limit.burst is 900, above the plan's 500")).toBe("burst");
    expect(fieldForServerMessage("expires_at must be in the future")).toBe("expiry");
    expect(fieldForServerMessage('resource "x": a resource is written kind:name')).toBe("resources");
    expect(fieldForServerMessage("name must be 1 to 100 printable characters")).toBe("name");
    expect(fieldForServerMessage("something else")).toBeNull();
  });
  it("knows when the form holds input", () => {
    expect(isDirty(emptyForm())).toBe(false);
    expect(isDirty({ ...emptyForm(), resourceDraft: "project:" })).toBe(true);
  });
  it("a replacement copies the settings but not the expiry", () => {
    const k = key({ environment: "staging", expires_at: "2026-06-01T00:00:00Z", scopes: ["admin"] });
    const f = formFromKey(k, false);
    expect(f.environment).toBe("staging");
    expect(f.scopes).toEqual(["admin"]);
    expect(f.expiry).toBe("never");
  });
});

describe("service URL", () => {
  it("accepts http(s) base URLs", () => {
    expect(validateServiceUrl("https://keys.example.com")).toBeNull();
    expect(validateServiceUrl(" http://127.0.0.1:8080 ")).toBeNull();
  });
  it("refuses the rest with a reason", () => {
    expect(validateServiceUrl("")).toMatch(/address/);
    expect(validateServiceUrl("keys.example.com")).toMatch(/https/);
    expect(validateServiceUrl("ftp://x")).toMatch(/https/);
    expect(validateServiceUrl("https://u:p@x.com")).toMatch(/credentials/);
    expect(validateServiceUrl("https://x.com/?key=1")).toMatch(/without/);
  });
  it("warns about plain http off this computer", () => {
    expect(isInsecureRemote("http://keys.example.com")).toBe(true);
    expect(isInsecureRemote("http://127.0.0.1:1")).toBe(false);
    expect(isInsecureRemote("http://localhost:1")).toBe(false);
    expect(isInsecureRemote("https://keys.example.com")).toBe(false);
  });
});
