// The plan's cap on active keys on screen: the Account screen's count and
// meter, the Keys screen's note, and Create key at the cap.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCOUNT, key, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import type { AccountView, PlanRow } from "../types";
import { emptyForm } from "../validation";
import AccountPage from "./AccountPage.svelte";
import CreateKeyDialog from "./CreateKeyDialog.svelte";
import KeysPage from "./KeysPage.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;
let account: AccountView;

const PLANS: PlanRow[] = [
  { plan: "free", limits: { per_minute: 10, per_day: 1000, burst: 20 }, key_cap: 5 },
  { plan: "starter", limits: { per_minute: 60, per_day: 10000, burst: 100 }, key_cap: 25 },
  { plan: "professional", limits: { per_minute: 300, per_day: 100000, burst: 500 }, key_cap: 100 },
  { plan: "enterprise", limits: { per_minute: 1000, per_day: null, burst: 2000 }, key_cap: 1000 },
];

const STARTER: AccountView = {
  ...ACCOUNT,
  plan: "starter",
  limits: PLANS[1]!.limits,
  key_cap: 25,
  active_keys: 12,
};

function use(a: AccountView) {
  account = a;
  app.status = status({ account: a });
}

beforeEach(() => {
  calls = [];
  reply = (cmd) => {
    if (cmd === "get_account") return account;
    if (cmd === "plan_table") return PLANS;
    throw { code: "not_found", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  use(STARTER);
  app.keys.items = [key({ name: "Billing worker" }), key({ name: "CI" })];
  app.keys.loaded = true;
  app.keys.cursor = null;
  app.keys.error = null;
  app.view = "keys";
  app.createDraft = emptyForm();
  app.createOpen = false;
  app.once = null;
});

afterEach(() => clearMocks());

describe("Account screen", () => {
  it("shows how many of the plan's keys are active, with a meter and what counts", async () => {
    app.view = "account";
    render(AccountPage);
    const text = screen.getByTestId("key-cap-text");
    expect(text.textContent).toBe("12 of 25 active");
    const meter = screen.getByTestId("key-cap-meter") as HTMLMeterElement;
    expect(meter.tagName).toBe("METER");
    expect(meter.getAttribute("max")).toBe("25");
    expect(meter.getAttribute("value")).toBe("12");
    expect(meter.getAttribute("aria-label")).toBe("Active keys: 12 of 25 active");
    const card = screen.getByTestId("key-cap");
    expect(card.dataset.level).toBe("ok");
    expect(card.textContent).toMatch(/13 more keys can be created/);
    expect(card.textContent).toMatch(/Starter plan allows 25 active keys/);
    expect(card.textContent).toMatch(/rotated to a replacement stops counting while it drains/);
    // The plans table has each plan's cap.
    await waitFor(() => expect(screen.getAllByTestId("plan-key-cap")).toHaveLength(4));
    expect(screen.getAllByTestId("plan-key-cap").map((c) => c.textContent)).toEqual(["5", "25", "100", "1,000"]);
  });

  it("takes the count the service gives when the screen opens", async () => {
    account = { ...STARTER, active_keys: 25 };
    app.view = "account";
    render(AccountPage);
    await waitFor(() => expect(screen.getByTestId("key-cap-text").textContent).toBe("25 of 25 active"));
    expect(screen.getByTestId("key-cap").dataset.level).toBe("full");
    expect(screen.getByTestId("key-cap-meter").className).toMatch(/full/);
    expect(screen.getByTestId("key-cap-left").textContent).toMatch(/No more keys can be created/);
  });

  it("shows the enterprise cap the service set, not the default", async () => {
    const ent: AccountView = { ...STARTER, plan: "enterprise", limits: PLANS[3]!.limits, key_cap: 2500, active_keys: 2100 };
    use(ent);
    app.view = "account";
    render(AccountPage);
    expect(screen.getByTestId("key-cap-text").textContent).toBe("2,100 of 2,500 active");
    expect(screen.getByTestId("key-cap").dataset.level).toBe("near");
    await waitFor(() => expect(screen.getAllByTestId("plan-key-cap")).toHaveLength(4));
    expect(screen.getAllByTestId("plan-key-cap")[3]!.textContent).toBe("2,500");
  });
});

describe("Keys screen at the cap", () => {
  it("says nothing while there is room", () => {
    render(KeysPage);
    expect(screen.queryByTestId("key-cap-note")).toBeNull();
    expect(screen.getByTestId("create-key-button").getAttribute("aria-describedby")).toBeNull();
  });

  it("explains next to Create key why a new key will be refused", async () => {
    use({ ...STARTER, plan: "free", key_cap: 5, active_keys: 5 });
    render(KeysPage);
    const note = screen.getByTestId("key-cap-note");
    expect(note.textContent).toMatch(/Free plan allows 5 active keys and all of them are in use/);
    expect(note.textContent).toMatch(/Revoke a key you no longer use, or upgrade the plan/);
    const button = screen.getByTestId("create-key-button");
    expect(button.getAttribute("aria-describedby")).toBe("key-cap-note");
    // Still usable: the service decides (another admin may have revoked a key meanwhile).
    expect((button as HTMLButtonElement).disabled).toBe(false);
    await fireEvent.click(screen.getByText("See the plan"));
    expect(app.view).toBe("account");
  });
});

describe("Create key at the cap", () => {
  it("says up front that the plan's keys are all in use", () => {
    use({ ...STARTER, key_cap: 25, active_keys: 25 });
    app.createOpen = true;
    render(CreateKeyDialog);
    const notice = screen.getByTestId("create-key-cap");
    expect(notice.textContent).toMatch(/Starter plan allows 25 active keys and all of them are in use/);
    expect(notice.textContent).toMatch(/stops counting while it drains/);
  });

  it("shows the service's answer, keeps what was typed, and takes the new count", async () => {
    // The count shown was behind: the service refuses.
    const message =
      "the starter plan allows 25 active keys and this account has 25; revoke a key you no longer use, or upgrade the plan";
    reply = (cmd) => {
      if (cmd === "create_key") throw { code: "limit_exceeded", message, retry_after: null };
      if (cmd === "get_account") return { ...STARTER, active_keys: 25 };
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    };
    app.createOpen = true;
    render(CreateKeyDialog);
    expect(screen.queryByTestId("create-key-cap")).toBeNull();
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Worker" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    const err = await waitFor(() => screen.getByTestId("create-key-error"));
    expect(err.dataset.code).toBe("limit_exceeded");
    expect(err.textContent).toMatch(/Your plan's limit is reached/);
    expect(err.textContent).toContain(message);
    expect(err.textContent).toMatch(/stops counting while it drains/);
    // Nothing to retry until a key is revoked.
    expect(screen.queryByTestId("error-retry")).toBeNull();
    expect((screen.getByTestId("key-name") as HTMLInputElement).value).toBe("Worker");
    expect(app.createOpen).toBe(true);
    await waitFor(() => expect(app.account?.active_keys).toBe(25));
    expect(calls.map((c) => c.cmd)).toEqual(["create_key", "get_account"]);
  });
});
