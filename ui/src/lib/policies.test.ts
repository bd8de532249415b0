import { describe, expect, it } from "vitest";
import { ACCOUNT, ALERT_DEFAULTS, unsetRules } from "../test/fixtures";
import {
  addCountry,
  ANOMALY_KINDS,
  buildPolicyPatch,
  changesAlerts,
  diffPolicies,
  formFromAccount,
  isPolicyFormDirty,
  kindPreviewText,
  leakPolicyOf,
  parseRotationDays,
  parseThreshold,
  policyFieldForMessage,
  previewRequest,
  previewSummary,
  removeCountry,
  resetThreshold,
  rotationBoundHint,
  rotationImpact,
  RULE_SENTENCE,
  ruleOn,
  ruleSentence,
  setRuleOn,
  setThreshold,
  threshold,
  THRESHOLDS,
  toggleDay,
  validatePolicies,
  type AnomalyKind,
  type PolicyForm,
} from "./policies";
import type { AccountView, AlertPreview, PreviewKind, PreviewTally } from "./types";

function account(over: Partial<AccountView> = {}): AccountView {
  return structuredClone({ ...ACCOUNT, ...over });
}

function form(acc = account(), edit: (f: PolicyForm) => void = () => {}): PolicyForm {
  const f = formFromAccount(acc);
  edit(f);
  return f;
}

const errorsOf = (f: PolicyForm, acc = account()) => validatePolicies(f, acc).errors;

describe("the form from an account", () => {
  it("holds the account's settings, and the defaults' numbers where the account follows them", () => {
    const acc = account();
    acc.settings.anomaly_rules.volume_spike.factor = 8;
    const f = formFromAccount(acc);
    expect(f.rotation).toEqual({ live: "90", test: "30", staging: "30" });
    expect(f).toMatchObject({ timeZone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00", countries: [] });
    expect(f.rules.volume_spike).toEqual({
      enabled: null,
      text: { min_requests: "100", factor: "8" },
      custom: { min_requests: false, factor: true },
    });
    expect(f.rules.unusual_endpoint.text).toEqual({ learning_requests: "100", denials: "10" });
    expect(isPolicyFormDirty(f, acc)).toBe(false);
  });

  it("has one card's numbers for each kind, each in its sentence", () => {
    expect(Object.keys(THRESHOLDS)).toEqual([...ANOMALY_KINDS]);
    for (const kind of ANOMALY_KINDS) {
      const inSentence = RULE_SENTENCE[kind].filter((p) => typeof p !== "string").map((p) => (p as { field: string }).field);
      expect(inSentence.sort()).toEqual(THRESHOLDS[kind].map((t) => t.field).sort());
    }
  });
});

describe("editing", () => {
  it("keeps a number typed as the default's following the default", () => {
    const acc = account();
    const f = form(acc);
    setThreshold(f, acc, "volume_spike", "min_requests", "250");
    expect(f.rules.volume_spike.custom.min_requests).toBe(true);
    setThreshold(f, acc, "volume_spike", "min_requests", "100");
    expect(f.rules.volume_spike.custom.min_requests).toBe(false);
    expect(isPolicyFormDirty(f, acc)).toBe(false);
  });

  it("keeps a value the account set as set, even at the default's number", () => {
    const acc = account();
    acc.settings.anomaly_rules.after_hours.min_requests = 12;
    const f = form(acc);
    setThreshold(f, acc, "after_hours", "min_requests", "5");
    expect(f.rules.after_hours.custom.min_requests).toBe(true);
    resetThreshold(f, acc, "after_hours", "min_requests");
    expect(f.rules.after_hours).toMatchObject({ text: { min_requests: "5" }, custom: { min_requests: false } });
  });

  it("turns a rule off and back on to the default", () => {
    const acc = account();
    const f = form(acc);
    expect(ruleOn(f, acc, "new_country")).toBe(true);
    setRuleOn(f, acc, "new_country", false);
    expect(f.rules.new_country.enabled).toBe(false);
    expect(ruleOn(f, acc, "new_country")).toBe(false);
    setRuleOn(f, acc, "new_country", true);
    expect(f.rules.new_country.enabled).toBeNull();
    // An account that chose "on" keeps its choice.
    const chose = account();
    chose.settings.anomaly_rules.new_country.enabled = true;
    const g = form(chose);
    setRuleOn(g, chose, "new_country", false);
    setRuleOn(g, chose, "new_country", true);
    expect(g.rules.new_country.enabled).toBe(true);
  });

  it("toggles days in order and adds countries once", () => {
    const f = form();
    toggleDay(f, 7);
    toggleDay(f, 6);
    expect(f.days).toEqual([1, 2, 3, 4, 5, 6, 7]);
    toggleDay(f, 1);
    expect(f.days).toEqual([2, 3, 4, 5, 6, 7]);
    addCountry(f, "de");
    addCountry(f, "DE");
    addCountry(f, "FR");
    addCountry(f, "nope");
    expect(f.countries).toEqual(["DE", "FR"]);
    removeCountry(f, "DE");
    expect(f.countries).toEqual(["FR"]);
  });
});

describe("validation messages", () => {
  it("rotation days: whole, at least 1, within the service's bound", () => {
    expect(parseRotationDays("", 3650).error).toBe("Enter a number of days.");
    expect(parseRotationDays("1.5", 3650).error).toBe("Use a whole number of days.");
    expect(parseRotationDays("0", 3650).error).toBe("At least 1 day.");
    expect(parseRotationDays("3651", 3650).error).toBe("At most 3,650 days.");
    expect(parseRotationDays("91", 90).error).toBe("Your service allows at most 90 days.");
    expect(parseRotationDays(" 1,000 ", 3650)).toEqual({ value: 1000, error: null });
    expect(parseRotationDays("90", 90)).toEqual({ value: 90, error: null });
    const acc = account({ max_rotation_days: { live: 90, test: 3650, staging: 3650 } });
    expect(errorsOf(form(acc, (f) => (f.rotation.live = "120")), acc)).toEqual({
      "rotation.live": "Your service allows at most 90 days.",
    });
    expect(errorsOf(form(acc, (f) => (f.rotation.staging = "")), acc)).toEqual({ "rotation.staging": "Enter a number of days." });
  });

  it("every threshold's range", () => {
    const cases: [AnomalyKind, string, string, string, string][] = [
      ["volume_spike", "factor", "1.4", "100.5", "The factor over the usual rate must be between 1.5 and 100."],
      ["volume_spike", "min_requests", "0", "1000001", "Fewest requests must be between 1 and 1,000,000."],
      ["error_spike", "factor", "1", "101", "The factor over the usual error share must be between 1.1 and 100."],
      ["error_spike", "min_errors", "0", "2000000", "Fewest failed requests must be between 1 and 1,000,000."],
      ["new_country", "learning_requests", "-1", "1000001", "Requests before a new country counts must be between 0 and 1,000,000."],
      ["after_hours", "min_requests", "0", "1000001", "Fewest after-hours requests must be between 1 and 1,000,000."],
      ["unusual_endpoint", "learning_requests", "-5", "1000001", "Requests before a new endpoint counts must be between 0 and 1,000,000."],
      ["unusual_endpoint", "denials", "0", "1000001", "Refused requests must be between 1 and 1,000,000."],
    ];
    for (const [kind, field, low, high, message] of cases) {
      const t = threshold(kind, field);
      expect(parseThreshold(t, high, 1).error, `${kind}.${field} high`).toBe(message);
      // Below the range: out of range, or (a minus sign) not a number at all.
      expect(parseThreshold(t, low, 1).error, `${kind}.${field} low`).not.toBeNull();
      expect(parseThreshold(t, String(t.min), 1)).toEqual({ value: t.min, error: null });
      expect(parseThreshold(t, String(t.max), 1)).toEqual({ value: t.max, error: null });
    }
  });

  it("thresholds: numbers as people type them", () => {
    const factor = threshold("volume_spike", "factor");
    const count = threshold("volume_spike", "min_requests");
    expect(parseThreshold(factor, "2.5", 5).value).toBe(2.5);
    expect(parseThreshold(factor, "2,5", 5).value).toBe(2.5);
    expect(parseThreshold(factor, "7×", 5).value).toBe(7);
    expect(parseThreshold(factor, "abc", 5).error).toBe("The factor over the usual rate: use a number, e.g. 2.5.");
    expect(parseThreshold(count, "1,000", 100).value).toBe(1000);
    expect(parseThreshold(count, "10.5", 100).error).toBe("Fewest requests: use a whole number.");
    expect(parseThreshold(count, "", 100).error).toBe("Fewest requests: enter a number, or reset it to the default (100).");
  });

  it("business hours: zone, days, HH:MM, start before end", () => {
    expect(errorsOf(form(undefined, (f) => (f.timeZone = "Mars/Olympus"))).time_zone).toMatch(/not a time zone/);
    expect(errorsOf(form(undefined, (f) => (f.days = []))).days).toBe("Choose at least one business day.");
    expect(errorsOf(form(undefined, (f) => (f.start = "8am"))).start).toBe("Use HH:MM, e.g. 08:00.");
    expect(errorsOf(form(undefined, (f) => (f.end = "24:00"))).end).toBe("Use HH:MM, e.g. 18:00.");
    expect(errorsOf(form(undefined, (f) => ((f.start = "18:00"), (f.end = "09:00")))).end).toMatch(/end after they start/);
    expect(errorsOf(form(undefined, (f) => ((f.start = "09:00"), (f.end = "09:00")))).end).toMatch(/end after they start/);
    // "8:00" is read as 08:00, and a zone in lower case as its listed name.
    const { errors, proposal } = validatePolicies(
      form(undefined, (f) => ((f.start = "8:00"), (f.timeZone = "europe/berlin"))),
      account(),
    );
    expect(errors).toEqual({});
    expect(proposal?.business_hours).toEqual({ time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" });
  });

  it("countries: two letters", () => {
    expect(errorsOf(form(undefined, (f) => (f.countries = ["DE", "Germany"]))).countries).toBe(
      "“Germany” is not a two-letter country code.",
    );
  });
});

describe("what Save sends", () => {
  it("nothing when nothing changed, or when something is invalid", () => {
    const acc = account();
    expect(buildPolicyPatch(form(acc), acc).patch).toBeNull();
    const bad = buildPolicyPatch(form(acc, (f) => ((f.rotation.live = "0"), (f.countries = ["DE"]))), acc);
    expect(bad.patch).toBeNull();
    expect(bad.errors["rotation.live"]).toBe("At least 1 day.");
  });

  it("only the parts that changed", () => {
    const acc = account();
    expect(buildPolicyPatch(form(acc, (f) => (f.rotation.test = "14")), acc).patch).toEqual({
      rotation_days: { live: 90, test: 14, staging: 30 },
    });
    expect(buildPolicyPatch(form(acc, (f) => addCountry(f, "DE")), acc).patch).toEqual({ allowed_countries: ["DE"] });
    expect(buildPolicyPatch(form(acc, (f) => toggleDay(f, 6)), acc).patch).toEqual({
      business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5, 6], start: "08:00", end: "18:00" },
    });
  });

  it("alert rules as a whole, unset fields left null (they follow the defaults)", () => {
    const acc = account();
    const f = form(acc, (x) => {
      setRuleOn(x, acc, "after_hours", false);
      setThreshold(x, acc, "error_spike", "factor", "4");
    });
    const expected = unsetRules();
    expected.after_hours.enabled = false;
    expected.error_spike.factor = 4;
    expect(buildPolicyPatch(f, acc).patch).toEqual({ anomaly_rules: expected });
  });

  it("a reset to the default sends null", () => {
    const acc = account();
    acc.settings.anomaly_rules.volume_spike.min_requests = 500;
    const f = form(acc, (x) => resetThreshold(x, acc, "volume_spike", "min_requests"));
    expect(buildPolicyPatch(f, acc).patch?.anomaly_rules?.volume_spike).toEqual({ enabled: null, factor: null, min_requests: null });
  });

  it("does not count a reordered list or the same days as a change", () => {
    const acc = account();
    acc.settings.allowed_countries = ["FR", "DE"];
    const { proposal } = validatePolicies(form(acc, (f) => (f.countries = ["DE", "FR"])), acc);
    expect(diffPolicies(acc, proposal!)).toEqual({});
  });

  it("the leak policy: held, sent only when changed, and never previewed", () => {
    const acc = account();
    expect(formFromAccount(acc).leakPolicy).toBe("quarantine");
    expect(buildPolicyPatch(form(acc), acc).patch).toBeNull();
    const f = form(acc, (x) => (x.leakPolicy = "revoke"));
    expect(isPolicyFormDirty(f, acc)).toBe(true);
    const patch = buildPolicyPatch(f, acc).patch;
    expect(patch).toEqual({ leak_policy: "revoke" });
    // It raises no alerts: the preview is of the settings as they are.
    expect(changesAlerts(patch)).toBe(false);
    expect(previewRequest(patch, 7)).toEqual({ days: 7 });
    expect(previewRequest({ leak_policy: "revoke", allowed_countries: ["DE"] }, 7)).toEqual({ days: 7, allowed_countries: ["DE"] });
    expect(changesAlerts({ leak_policy: "revoke", allowed_countries: ["DE"] })).toBe(true);
    // An account that revokes, and an older service that sends no policy (the default).
    const revoking = account();
    revoking.settings.leak_policy = "revoke";
    expect(formFromAccount(revoking).leakPolicy).toBe("revoke");
    const older = account();
    delete (older.settings as Partial<typeof older.settings>).leak_policy;
    expect(leakPolicyOf(older)).toBe("quarantine");
    expect(buildPolicyPatch(form(older), older).patch).toBeNull();
  });

  it("the preview gets the same changes, and the period", () => {
    expect(previewRequest(null, 7)).toEqual({ days: 7 });
    expect(previewRequest({ allowed_countries: ["DE"] }, 30)).toEqual({ days: 30, allowed_countries: ["DE"] });
  });

  it("maps the service's messages to their fields", () => {
    expect(policyFieldForMessage("anomaly_rules.volume_spike.factor must be between 1.5 and 100, not 1")).toBe(
      "rule.volume_spike.factor",
    );
    expect(policyFieldForMessage("rotation_days.live: this service allows at most 90 days for live keys")).toBe("rotation.live");
    expect(policyFieldForMessage('unknown time zone "X"; use an IANA name such as Europe/Berlin')).toBe("time_zone");
    expect(policyFieldForMessage("business_hours.days are ISO week days")).toBe("days");
    expect(policyFieldForMessage("business_hours.start must be before end")).toBe("start");
    expect(policyFieldForMessage('allowed_countries: "X" is not a two-letter country code')).toBe("countries");
    expect(policyFieldForMessage("nothing to change")).toBeNull();
  });
});

describe("rules in plain words", () => {
  it("fills in the numbers", () => {
    expect(ruleSentence("volume_spike", { min_requests: 100, factor: 5 })).toBe(
      "Alert when a key makes at least 100 requests in 10 minutes and 5× its usual rate.",
    );
    expect(ruleSentence("error_spike", { min_errors: 20, factor: 3 })).toBe(
      "Alert when a key has at least 20 failed requests in 10 minutes and 3× its usual share of errors.",
    );
    expect(ruleSentence("after_hours", { min_requests: 1500 })).toBe(
      "Alert when a key that is normally quiet outside business hours makes at least 1,500 requests outside them in 10 minutes.",
    );
    expect(ruleSentence("unusual_endpoint", { learning_requests: 100, denials: "…" })).toMatch(/refused … times/);
    expect(ruleSentence("new_country", {})).toMatch(/made … requests from known countries/);
  });
});

function kinds(counts: Partial<Record<AnomalyKind, [number, number]>>): PreviewKind[] {
  return ANOMALY_KINDS.map((kind) => {
    const [alerts, key_count] = counts[kind] ?? [0, 0];
    return { kind, alerts, key_count, keys: [] };
  });
}

function tally(alerts: number, key_count: number, k: PreviewKind[]): PreviewTally {
  return { alerts, key_count, kinds: k };
}

function preview(current: PreviewTally, proposed: PreviewTally, days = 7): AlertPreview {
  return {
    days,
    from: "2026-03-05T13:00:00Z",
    to: "2026-03-12T13:00:00Z",
    current,
    proposed,
    rotation_current: { overdue: 0, due_soon: 1 },
    rotation_proposed: { overdue: 0, due_soon: 1 },
    approximate: true,
    notes: [],
  };
}

describe("the preview as words", () => {
  const current = tally(12, 4, kinds({ after_hours: [11, 3], volume_spike: [1, 1] }));
  const proposed = tally(4, 3, kinds({ after_hours: [3, 2], volume_spike: [1, 1] }));

  it("per rule: the proposed count, its keys, and the current one", () => {
    const p = preview(current, proposed);
    expect(kindPreviewText(p, "after_hours")).toBe("Last 7 days: 3 after-hours alerts on 2 keys instead of 11.");
    expect(kindPreviewText(p, "volume_spike")).toBe("Last 7 days: 1 traffic-spike alert on 1 key, as now.");
    expect(kindPreviewText(p, "error_spike")).toBe("Last 7 days: no error-spike alerts.");
    const off = preview(current, tally(1, 1, kinds({ volume_spike: [1, 1] })), 30);
    expect(kindPreviewText(off, "after_hours")).toBe("Last 30 days: no after-hours alerts instead of 11.");
  });

  it("the totals, with and without changes", () => {
    expect(previewSummary(preview(current, proposed), true)).toBe(
      "With your changes: would have raised 4 alerts on 3 keys in the last 7 days (now 12).",
    );
    expect(previewSummary(preview(current, current), true)).toMatch(/12 alerts on 4 keys .*\(the same as now\)/);
    expect(previewSummary(preview(current, current, 30), false)).toBe(
      "Your current rules raised 12 alerts on 4 keys in the last 30 days.",
    );
    expect(previewSummary(preview(tally(1, 1, kinds({})), tally(1, 1, kinds({}))), false)).toMatch(/1 alert on 1 key/);
  });

  it("rotation: keys due within 14 days and overdue, against now", () => {
    expect(rotationImpact({ overdue: 0, due_soon: 1 }, { overdue: 2, due_soon: 3 })).toBe(
      "3 keys become due within 14 days (now 1); 2 overdue (now 0).",
    );
    expect(rotationImpact({ overdue: 1, due_soon: 2 }, { overdue: 1, due_soon: 1 })).toBe(
      "1 key becomes due within 14 days (now 2); 1 overdue (now 1).",
    );
    expect(rotationImpact({ overdue: 0, due_soon: 1 }, { overdue: 0, due_soon: 1 })).toBe(
      "1 key is due within 14 days and 0 overdue; no change.",
    );
  });

  it("the service's bound, when there is one", () => {
    expect(rotationBoundHint(90)).toBe("Your service allows at most 90 days.");
    expect(rotationBoundHint(1)).toBe("Your service allows at most 1 day.");
    expect(rotationBoundHint(3650)).toBeNull();
  });
});

describe("fixtures", () => {
  it("follow the server's defaults", () => {
    expect(ACCOUNT.alert_defaults).toEqual(ALERT_DEFAULTS);
  });
});
