// The ways into a rotation (key details, the picker) and the two one-shot
// rotations: suspected compromise and the portal's own admin key.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCOUNT, daysAgo, emptyUsage, key, status } from "../../test/fixtures";
import { api } from "../api";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { KeyView } from "../types";
import AccountPage from "./AccountPage.svelte";
import AdminRotationDialog from "./AdminRotationDialog.svelte";
import CompromiseDialog from "./CompromiseDialog.svelte";
import KeyDrawer from "./KeyDrawer.svelte";
import RotatePickerDialog from "./RotatePickerDialog.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

const SECRET = "to_live_" + "5eed".repeat(8);
const text = (id: string) => (screen.getByTestId(id).textContent ?? "").replace(/\s+/g, " ");

beforeEach(() => {
  calls = [];
  reply = (cmd) => {
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    // The key drawer reads the key's usage when it opens: answered, not recorded.
    if (cmd === "key_usage") return emptyUsage(String((args as { id?: unknown }).id));
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.keys.items = [];
  app.once = null;
  app.view = "keys";
  app.rotation = null;
  app.detailsId = null;
  app.compromiseTarget = null;
  app.rotatePickerOpen = false;
  app.adminRotationOpen = false;
  toasts.items = [];
});

afterEach(() => clearMocks());

describe("key details", () => {
  it("Rotate… opens the wizard for the key", async () => {
    const k = key({ id: "key_b", name: "Billing worker" });
    app.keys.items = [k];
    app.detailsId = k.id;
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("create-replacement")).toBeNull();
    await fireEvent.click(screen.getByTestId("rotate-key"));
    expect(app.view).toBe("rotate");
    expect(app.rotation).toEqual({ queue: ["key_b"], index: 0 });
    expect(app.detailsId).toBeNull();
  });

  it.each([
    ["revoked", key({ id: "key_r", status: "revoked", revoked_at: daysAgo(1) })],
    ["expired", key({ id: "key_e", status: "expired", expires_at: daysAgo(1) })],
  ])("Rotate… is disabled for a %s key, which has no Suspected compromise either", (_, k) => {
    app.keys.items = [k];
    render(KeyDrawer, { id: k.id });
    expect((screen.getByTestId("rotate-key") as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByTestId("compromise-button")).toBeNull();
  });

  it("the portal's own admin key goes to the admin rotation", async () => {
    const own = key({ id: ACCOUNT.credential_key_id, scopes: ["admin"] });
    app.keys.items = [own];
    render(KeyDrawer, { id: own.id });
    await fireEvent.click(screen.getByTestId("rotate-key"));
    expect(app.view).toBe("account");
    expect(app.adminRotationOpen).toBe(true);
    expect(app.rotation).toBeNull();
  });

  it("Suspected compromise… asks first", async () => {
    const k = key({ id: "key_b" });
    app.keys.items = [k];
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("compromise-button"));
    expect(app.compromiseTarget?.id).toBe("key_b");
    expect(calls).toEqual([]);
  });
});

describe("suspected compromise", () => {
  function setup(over: { problem?: string | null; oldRevoked?: boolean } = {}) {
    const old = key({ id: "key_b", name: "Billing worker", last4: "9f3c" });
    const repl = key({ id: "key_b2", name: "Billing worker", replaces: "key_b", last4: "5eed" });
    app.keys.items = [old];
    app.compromiseTarget = old;
    reply = (cmd) => {
      if (cmd === "rotate_compromised") {
        return { once: { key: repl, secret: SECRET }, old_revoked: over.oldRevoked ?? true, problem: over.problem ?? null };
      }
      if (cmd === "get_key") {
        return over.oldRevoked === false
          ? { ...old, replaced_by: repl.id }
          : { ...old, status: "revoked", revoked_at: new Date().toISOString(), replaced_by: repl.id };
      }
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    };
    return { old, repl };
  }

  it("says what happens, then revokes, replaces and shows the new key once", async () => {
    const { old } = setup();
    render(CompromiseDialog, { key: old });
    const t = text("compromise-dialog");
    expect(t).toMatch(/Billing worker/);
    expect(t).toMatch(/to_live_…9f3c/);
    expect(t).toMatch(/revoked now/);
    expect(t).toMatch(/fails at once/);
    expect(t).toMatch(/shown once/);
    await fireEvent.click(screen.getByTestId("confirm-compromise"));
    await waitFor(() => expect(app.once).not.toBeNull());
    expect(app.once?.secret).toBe(SECRET);
    expect(app.compromiseTarget).toBeNull();
    expect(calls.map((c) => c.cmd)).toEqual(["rotate_compromised", "get_key"]);
    expect(calls[0]!.args).toEqual({ id: "key_b" });
    expect(app.keyById("key_b")?.status).toBe("revoked");
    expect(app.keyById("key_b2")).toBeTruthy();
    expect(toasts.items.some((x) => x.kind === "error")).toBe(false);
  });

  it("still shows the new key, and says so in an error toast, when the old one could not be revoked", async () => {
    const problem = "The replacement was created, but the old key could not be revoked: timeout. Revoke it from its page now.";
    const { old } = setup({ oldRevoked: false, problem });
    render(CompromiseDialog, { key: old });
    await fireEvent.click(screen.getByTestId("confirm-compromise"));
    await waitFor(() => expect(app.once).not.toBeNull());
    expect(toasts.items).toEqual([expect.objectContaining({ kind: "error", text: problem })]);
    expect(app.keyById("key_b")?.status).toBe("active");
  });

  it("stays open with the error when nothing was done", async () => {
    const { old } = setup();
    reply = () => {
      throw { code: "unreachable", message: "Could not connect to the key service.", retry_after: null };
    };
    render(CompromiseDialog, { key: old });
    await fireEvent.click(screen.getByTestId("confirm-compromise"));
    await waitFor(() => expect(text("compromise-dialog")).toMatch(/Could not connect/));
    expect(app.once).toBeNull();
    expect(app.compromiseTarget).not.toBeNull();
  });
});

describe("the portal's admin key", () => {
  const own = key({ id: ACCOUNT.credential_key_id, name: "Admin key", scopes: ["admin"], last4: "ad01", created_at: daysAgo(120) });

  it("the Account screen shows it masked, with its age, and offers to rotate it", async () => {
    reply = (cmd) => {
      if (cmd === "get_account") return ACCOUNT;
      if (cmd === "plan_table") return [];
      if (cmd === "get_key") return own;
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    };
    app.view = "account";
    render(AccountPage);
    await waitFor(() => expect(screen.getByTestId("admin-key-masked").textContent).toBe("to_live_…ad01"));
    expect(text("admin-key-section")).toMatch(/Created .*(days ago|Nov|Dec)/);
    await fireEvent.click(screen.getByTestId("admin-rotate"));
    expect(app.adminRotationOpen).toBe(true);
  });

  it("explains the steps, rotates, lists what was done and refreshes the status", async () => {
    app.keys.items = [own];
    app.adminRotationOpen = true;
    const fresh = key({ id: "key_admin2", name: "Admin key", scopes: ["admin"], last4: "ad02", replaces: own.id });
    reply = (cmd, args) => {
      if (cmd === "rotate_admin_credential") return { old_key_id: own.id, new_key_id: fresh.id, old_revoked: true, problem: null };
      if (cmd === "portal_status") return status({ account: { ...ACCOUNT, credential_key_id: fresh.id } });
      if (cmd === "get_key") return args.id === fresh.id ? fresh : { ...own, status: "revoked", revoked_at: new Date().toISOString() };
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    };
    render(AdminRotationDialog);
    const before = text("admin-rotation-dialog");
    expect(before).toMatch(/checks that the service accepts it/);
    expect(before).toMatch(/stored in the keychain/);
    expect(before).toMatch(/Only then is the old admin key revoked/);
    await fireEvent.click(screen.getByTestId("admin-rotation-confirm"));
    await waitFor(() => expect(screen.getByTestId("admin-rotation-result")).toBeTruthy());
    expect(text("admin-step-created")).toMatch(/New admin key created to_live_…ad02/);
    expect(text("admin-step-checked")).toMatch(/Checked/);
    expect(text("admin-step-stored")).toMatch(/Stored in the keychain \(Secret Service\)/);
    expect(text("admin-step-revoked")).toMatch(/Old admin key revoked/);
    expect(calls.map((c) => c.cmd)).toEqual(["rotate_admin_credential", "portal_status", "get_key", "get_key"]);
    expect(app.account?.credential_key_id).toBe("key_admin2");
    expect(app.keyById(own.id)?.status).toBe("revoked");
    // Never a secret: the new key went to the keychain.
    expect(app.once).toBeNull();
    await fireEvent.click(screen.getByTestId("admin-rotation-close"));
    expect(app.adminRotationOpen).toBe(false);
  });

  it("says when the old key could not be revoked", async () => {
    const problem = "The new admin key is in use, but the old one could not be revoked: timeout. Revoke it from the key list.";
    reply = (cmd, args) => {
      if (cmd === "rotate_admin_credential") return { old_key_id: own.id, new_key_id: "key_admin2", old_revoked: false, problem };
      if (cmd === "portal_status") return status();
      if (cmd === "get_key") return { ...own, id: String(args.id) };
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    };
    render(AdminRotationDialog);
    await fireEvent.click(screen.getByTestId("admin-rotation-confirm"));
    await waitFor(() => expect(screen.getByTestId("admin-rotation-problem").textContent).toBe(problem));
    expect(text("admin-step-revoked")).toMatch(/not revoked/);
    expect(toasts.items).toEqual([expect.objectContaining({ kind: "error", text: problem })]);
  });

  it("nothing changed when a step before the revoke failed", async () => {
    reply = () => {
      throw { code: "keychain_unavailable", message: "The keychain is locked.", retry_after: null };
    };
    render(AdminRotationDialog);
    await fireEvent.click(screen.getByTestId("admin-rotation-confirm"));
    await waitFor(() => expect(text("admin-rotation-error")).toMatch(/keychain is locked/));
    expect(text("admin-rotation-error")).toMatch(/Nothing changed/);
    expect(screen.queryByTestId("admin-rotation-result")).toBeNull();
    expect(calls.map((c) => c.cmd)).toEqual(["rotate_admin_credential"]);
  });
});

describe("rotate several keys", () => {
  it("lists active keys with the due ones ticked, and hands them to the wizard in order", async () => {
    const overdue = key({ id: "k_over", name: "Overdue", created_at: daysAgo(100) });
    const soon = key({ id: "k_soon", name: "Soon", created_at: daysAgo(80) });
    const fine = key({ id: "k_fine", name: "Fine", created_at: daysAgo(1) });
    const gone = key({ id: "k_gone", name: "Gone", status: "revoked", revoked_at: daysAgo(1) });
    const own = key({ id: ACCOUNT.credential_key_id, name: "Admin key", scopes: ["admin"] });
    const rotating = key({ id: "k_rot", name: "Rotating", replaced_by: "k_rot2" });
    const rotating2 = key({ id: "k_rot2", name: "Rotating", replaces: "k_rot" });
    app.keys.items = [fine, gone, own, soon, rotating, rotating2, overdue] as KeyView[];
    app.now = Date.parse("2026-03-12T12:00:00Z");
    app.rotatePickerOpen = true;
    render(RotatePickerDialog);
    const rows = screen.getAllByTestId("picker-row");
    expect(rows.map((r) => r.dataset.keyId)).toEqual(["k_over", "k_soon", "k_rot", "k_fine"]);
    const checked = screen.getAllByTestId("picker-check").map((c) => (c as HTMLInputElement).checked);
    expect(checked).toEqual([true, true, true, false]);
    expect(text("rotate-picker")).toMatch(/own admin key is rotated from the Account screen/);

    await fireEvent.click(screen.getAllByTestId("picker-check")[3]!);
    await fireEvent.click(screen.getAllByTestId("picker-check")[1]!);
    expect(screen.getByTestId("picker-count").textContent).toBe("3 selected");
    await fireEvent.click(screen.getByTestId("picker-start"));
    expect(app.rotation).toEqual({ queue: ["k_over", "k_rot", "k_fine"], index: 0 });
    expect(app.view).toBe("rotate");
    expect(app.rotatePickerOpen).toBe(false);
  });
});

describe("commands", () => {
  it("are sent with the contract's argument names", async () => {
    reply = () => null;
    await api.rotateKey("key_1");
    await api.replacementInfo("key_2");
    await api.checkReplacement("key_2", "to_live_x");
    await api.rotateCompromised("key_3");
    await api.rotateAdminCredential();
    expect(calls).toEqual([
      { cmd: "rotate_key", args: { id: "key_1" } },
      { cmd: "replacement_info", args: { id: "key_2" } },
      { cmd: "check_replacement", args: { id: "key_2", secret: "to_live_x" } },
      { cmd: "rotate_compromised", args: { id: "key_3" } },
      { cmd: "rotate_admin_credential", args: {} },
    ]);
  });
});
