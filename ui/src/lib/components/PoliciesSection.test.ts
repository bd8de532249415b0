// Account → Policies against the dev mock backend (its preview replays
// synthetic traffic, so rule switches and countries move real numbers).
// Only Date is faked: the preview's 400 ms debounce runs on real timers.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { PortalStatus } from "../types";
import { views } from "../lazy.svelte";
import { policyDraft } from "../policy-draft";
import AccountPage from "./AccountPage.svelte";
import PoliciesSection from "./PoliciesSection.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let fail: ((cmd: string) => unknown) | null;

beforeAll(async () => {
  // Loaded before the modules are reset below: the Account page's chunk is this same component.
  await views.policies.load();
  window.history.replaceState({}, "", "/?delay=0");
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.parse("2026-03-12T12:00:30Z"));
});

afterAll(() => {
  vi.useRealTimers();
  window.history.replaceState({}, "", "/");
});

beforeEach(async () => {
  // A fresh mock service for each test.
  vi.resetModules();
  const { mockInvoke } = await import("../mock-backend");
  calls = [];
  fail = null;
  mockIPC(async (cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    const refused = fail?.(cmd);
    if (refused) throw refused;
    return mockInvoke(cmd, args as Record<string, unknown>);
  });
  app.status = (await mockInvoke("portal_status")) as PortalStatus;
  app.accountTab = "policies";
  toasts.items = [];
  policyDraft.forget();
});

afterEach(() => clearMocks());

const SLOW = { timeout: 4000 };
const byId = (id: string) => screen.getByTestId(id);
const input = (id: string) => byId(id) as HTMLInputElement;
const text = (id: string) => byId(id).textContent?.trim() ?? "";
const sent = (cmd: string) => calls.filter((c) => c.cmd === cmd);

async function settled() {
  await waitFor(() => expect(byId("policies-preview").dataset.loading).toBe("false"), SLOW);
  await waitFor(() => expect(screen.getByTestId("preview-proposed-after_hours").textContent).toMatch(/^\d+$/), SLOW);
}

async function type(id: string, value: string) {
  await fireEvent.input(input(id), { target: { value } });
}

describe("Policies", () => {
  it("shows the account's policies, the preview of them, and nothing to save", async () => {
    render(PoliciesSection);
    expect(input("rotation-live").value).toBe("90");
    expect(input("rotation-test").value).toBe("30");
    expect(input("policies-tz").value).toBe("UTC");
    expect(input("policies-start").value).toBe("08:00");
    expect(byId("policies-day-1").getAttribute("aria-pressed")).toBe("true");
    expect(byId("policies-day-7").getAttribute("aria-pressed")).toBe("false");
    expect(byId("policies-countries-anywhere").textContent).toMatch(/anywhere/);
    expect(input("rule-after_hours-enabled").checked).toBe(true);
    expect(text("rule-volume_spike-sentence")).toMatch(/at least\s+requests in 10 minutes and\s+× its usual rate/);
    expect(input("rule-volume_spike-min_requests").value).toBe("100");
    // The mock's vendor bounds live keys.
    expect(text("rotation-live-bound")).toBe("Your service allows at most 365 days.");
    await settled();
    expect(text("preview-proposed-after_hours")).toBe(text("preview-current-after_hours"));
    expect(text("policies-preview-summary")).toMatch(/Your current rules raised \d+ alerts/);
    expect(text("rotation-impact")).toMatch(/due within 14 days .* no change/);
    expect((byId("policies-save") as HTMLButtonElement).disabled).toBe(true);
    expect(sent("preview_alerts")[0].args).toEqual({ request: { days: 7 } });
  });

  it("switching a rule off previews its effect, and Save sends only the rules", async () => {
    render(PoliciesSection);
    await settled();
    const before = Number(text("preview-current-after_hours"));
    expect(before).toBeGreaterThan(0);

    await fireEvent.click(byId("rule-after_hours-enabled"));
    expect(byId("policies-preview").dataset.loading).toBe("true");
    await waitFor(() => expect(text("preview-proposed-after_hours")).toBe("0"), SLOW);
    expect(text("preview-current-after_hours")).toBe(String(before));
    expect(text("rule-after_hours-preview")).toBe(`Last 7 days: no after-hours alerts instead of ${before}.`);
    expect(text("policies-preview-summary")).toMatch(/^With your changes: would have raised/);

    const save = byId("policies-save") as HTMLButtonElement;
    expect(save.disabled).toBe(false);
    await fireEvent.click(save);
    await waitFor(() => expect(byId("policies-saved")).toBeTruthy(), SLOW);
    const [update] = sent("update_account");
    const patch = update.args.patch as Record<string, unknown>;
    expect(Object.keys(patch)).toEqual(["anomaly_rules"]);
    expect(patch.anomaly_rules).toMatchObject({
      after_hours: { enabled: false, min_requests: null },
      volume_spike: { enabled: null, factor: null, min_requests: null },
    });
    expect(toasts.items.map((t) => t.text)).toContain("Policies saved.");
    expect(app.account?.settings.anomaly_rules.after_hours.enabled).toBe(false);
    expect(save.disabled).toBe(true);
    expect(input("rule-after_hours-enabled").checked).toBe(false);
  });

  it("invalid input disables Save, says what is wrong, and holds the preview", async () => {
    render(PoliciesSection);
    await settled();
    const previews = sent("preview_alerts").length;

    await type("rule-volume_spike-factor", "1");
    expect(screen.getByText("The factor over the usual rate must be between 1.5 and 100.")).toBeTruthy();
    expect(input("rule-volume_spike-factor").getAttribute("aria-invalid")).toBe("true");
    expect((byId("policies-save") as HTMLButtonElement).disabled).toBe(true);
    expect(byId("policies-preview-invalid")).toBeTruthy();

    await type("rotation-live", "400");
    expect(text("rotation-live-error")).toBe("Your service allows at most 365 days.");
    await type("policies-end", "07:00");
    expect(screen.getByText(/end after they start/)).toBeTruthy();
    await new Promise((r) => setTimeout(r, 500));
    expect(sent("preview_alerts").length).toBe(previews);

    // Fixed: the preview and Save come back.
    await type("rule-volume_spike-factor", "8");
    await type("rotation-live", "120");
    await type("policies-end", "18:00");
    await settled();
    expect((byId("policies-save") as HTMLButtonElement).disabled).toBe(false);
    expect(sent("preview_alerts").at(-1)!.args.request).toMatchObject({
      rotation_days: { live: 120, test: 30, staging: 30 },
      anomaly_rules: { volume_spike: { factor: 8 } },
    });
    expect(sent("preview_alerts").at(-1)!.args.request).not.toHaveProperty("business_hours");
  });

  it("allowed countries: search, choose, chip, preview, save only them", async () => {
    render(PoliciesSection);
    await settled();
    await type("policies-country-search", "icel");
    await fireEvent.click(byId("policies-country-option-IS"));
    expect(text("policies-country-chip-IS")).toMatch(/Iceland/);
    expect(input("policies-country-search").value).toBe("");
    await waitFor(
      () => expect(Number(text("preview-proposed-new_country"))).toBeGreaterThan(Number(text("preview-current-new_country"))),
      SLOW,
    );
    await fireEvent.click(byId("policies-save"));
    await waitFor(() => expect(sent("update_account")).toHaveLength(1), SLOW);
    expect(sent("update_account")[0].args.patch).toEqual({ allowed_countries: ["IS"] });
    await waitFor(() => expect(app.account?.settings.allowed_countries).toEqual(["IS"]));
    await fireEvent.click(byId("policies-country-remove-IS"));
    expect(screen.queryByTestId("policies-country-chip-IS")).toBeNull();
  });

  it("business hours and rotation: days, zone, times, and the rotation impact", async () => {
    render(PoliciesSection);
    await settled();
    await fireEvent.click(byId("policies-day-6"));
    expect(byId("policies-day-6").getAttribute("aria-pressed")).toBe("true");
    await type("policies-tz", "europe/berl");
    await fireEvent.click(await screen.findByText("Europe/Berlin"));
    expect(input("policies-tz").value).toBe("Europe/Berlin");
    await type("policies-start", "9:00");
    await type("rotation-live", "7");
    await settled();
    await waitFor(() => expect(text("rotation-impact")).toMatch(/\(now \d+\)/), SLOW);
    await fireEvent.click(byId("policies-save"));
    await waitFor(() => expect(sent("update_account")).toHaveLength(1), SLOW);
    expect(sent("update_account")[0].args.patch).toEqual({
      rotation_days: { live: 7, test: 30, staging: 30 },
      business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5, 6], start: "09:00", end: "18:00" },
    });
  });

  it("a refused save keeps the form and shows the service's message at its field", async () => {
    render(PoliciesSection);
    await settled();
    fail = (cmd) =>
      cmd === "update_account"
        ? { code: "invalid", message: "anomaly_rules.error_spike.min_errors must be between 1 and 1000000, not 7", retry_after: null }
        : null;
    await type("rule-error_spike-min_errors", "7");
    await fireEvent.click(byId("policies-save"));
    await waitFor(() => expect(byId("policies-save-error").textContent).toMatch(/Please check what you entered/), SLOW);
    expect(input("rule-error_spike-min_errors").value).toBe("7");
    expect(input("rule-error_spike-min_errors").getAttribute("aria-invalid")).toBe("true");
    expect(app.account?.settings.anomaly_rules.error_spike.min_errors).toBeNull();
  });

  it("per-field defaults: a custom number can be reset, and Discard puts everything back", async () => {
    render(PoliciesSection);
    await settled();
    await type("rule-unusual_endpoint-denials", "25");
    expect(byId("rule-unusual_endpoint-denials-state").dataset.custom).toBe("true");
    await fireEvent.click(byId("rule-unusual_endpoint-denials-reset"));
    expect(input("rule-unusual_endpoint-denials").value).toBe("10");
    expect(byId("rule-unusual_endpoint-denials-state").textContent).toMatch(/default \(10\)/);

    await type("rotation-test", "14");
    await fireEvent.click(byId("policies-day-1"));
    await fireEvent.click(byId("policies-discard"));
    expect(input("rotation-test").value).toBe("30");
    expect(byId("policies-day-1").getAttribute("aria-pressed")).toBe("true");
    expect(screen.queryByTestId("policies-discard")).toBeNull();
  });

  it("leaked keys: shows the saved choice, and Save sends only the new one", async () => {
    render(PoliciesSection);
    await settled();
    expect(input("leak-policy-quarantine").checked).toBe(true);
    expect(input("leak-policy-revoke").checked).toBe(false);
    expect(text("leak-policy")).toMatch(/Admin keys are always revoked/);
    const previews = sent("preview_alerts").length;

    await fireEvent.click(input("leak-policy-revoke"));
    expect(input("leak-policy-revoke").checked).toBe(true);
    expect(text("leak-policy-current")).toBe("saved");
    const save = byId("policies-save") as HTMLButtonElement;
    expect(save.disabled).toBe(false);
    // Nothing the preview counts changed: no new preview, and it says so.
    await new Promise((r) => setTimeout(r, 500));
    expect(sent("preview_alerts").length).toBe(previews);
    expect(text("policies-preview-summary")).toMatch(/^Your current rules raised/);

    await fireEvent.click(save);
    await waitFor(() => expect(byId("policies-saved")).toBeTruthy(), SLOW);
    expect(sent("update_account").map((c) => c.args)).toEqual([{ patch: { leak_policy: "revoke" } }]);
    expect(app.account?.settings.leak_policy).toBe("revoke");
    expect(input("leak-policy-revoke").checked).toBe(true);
    expect(screen.queryByTestId("leak-policy-current")).toBeNull();
    expect(save.disabled).toBe(true);
    for (const c of sent("preview_alerts")) expect(c.args.request).not.toHaveProperty("leak_policy");
  });

  it("the 30-day preview asks for 30 days", async () => {
    render(PoliciesSection);
    await settled();
    await fireEvent.click(byId("preview-days-30"));
    await settled();
    expect(sent("preview_alerts").at(-1)!.args).toEqual({ request: { days: 30 } });
    expect(text("rule-after_hours-preview")).toMatch(/^Last 30 days:/);
  });

  it("notification preferences are saved on their own", async () => {
    render(PoliciesSection);
    await waitFor(() => expect(input("notify-kind-after_hours").checked).toBe(true), SLOW);
    const save = byId("notify-save") as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    await fireEvent.click(byId("notify-kind-after_hours"));
    await type("notify-quiet-start", "22:00");
    expect(save.disabled).toBe(true);
    expect(screen.getByText("Enter when quiet hours end, or clear both times.")).toBeTruthy();
    await type("notify-quiet-end", "07:00");
    expect(text("notify-quiet-summary")).toMatch(/overnight/);
    expect(save.disabled).toBe(false);
    await fireEvent.click(save);
    await waitFor(() => expect(sent("set_notify_prefs")).toHaveLength(1), SLOW);
    expect(sent("set_notify_prefs")[0].args).toEqual({
      prefs: { muted: ["after_hours"], quiet_hours: { start: "22:00", end: "07:00" } },
    });
    await waitFor(
      () => expect(toasts.items.map((t) => t.text)).toContain("Notification preferences saved for this computer."),
      SLOW,
    );
    expect(save.disabled).toBe(true);
    expect(input("notify-kind-after_hours").checked).toBe(false);
    expect(sent("update_account")).toHaveLength(0);
  });
});

describe("Account page", () => {
  it("opens Policies from its tab (loaded on demand)", async () => {
    app.accountTab = "overview";
    render(AccountPage);
    expect(screen.queryByTestId("policies-section")).toBeNull();
    await fireEvent.click(byId("account-policies-tab"));
    expect(byId("account-policies-tab").getAttribute("aria-selected")).toBe("true");
    await waitFor(() => expect(byId("policies-section")).toBeTruthy(), SLOW);
    await fireEvent.click(byId("account-overview-tab"));
    expect(screen.queryByTestId("policies-section")).toBeNull();
    expect(byId("account-plan")).toBeTruthy();
  });

  it("keeps unsaved edits when the tab is left and opened again", async () => {
    app.accountTab = "policies";
    render(AccountPage);
    await waitFor(() => expect(byId("policies-section")).toBeTruthy(), SLOW);
    await type("rotation-staging", "21");
    await fireEvent.click(byId("account-overview-tab"));
    await fireEvent.click(byId("account-policies-tab"));
    await waitFor(() => expect(input("rotation-staging").value).toBe("21"), SLOW);
    expect((byId("policies-save") as HTMLButtonElement).disabled).toBe(false);
  });
});
