import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { tick } from "svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCOUNT, key, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { emptyForm } from "../validation";
import CreateKeyDialog from "./CreateKeyDialog.svelte";
import RevokeDialog from "./RevokeDialog.svelte";
import ShowOnceDialog from "./ShowOnceDialog.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

beforeEach(() => {
  calls = [];
  reply = () => null;
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.keys.items = [];
  app.createDraft = emptyForm();
  app.createOpen = true;
  app.once = null;
  app.revokeTarget = null;
});

afterEach(() => clearMocks());

const SECRET = "to_live_" + "ab12".repeat(16);

describe("show-once dialog", () => {
  it("shows the key, copies it through Rust, and only 'I have stored it' closes it", async () => {
    const once = { key: key({ name: "Billing worker", last4: "ab12" }), secret: SECRET };
    app.once = once;
    render(ShowOnceDialog);

    expect(screen.getByTestId("show-once-secret").textContent).toBe(SECRET);

    // Esc does nothing here.
    await fireEvent.keyDown(screen.getByRole("dialog"), { key: "Escape" });
    expect(app.once).not.toBeNull();

    await fireEvent.click(screen.getByTestId("copy-secret"));
    await waitFor(() =>
      expect(screen.getByTestId("copy-confirm").textContent).toMatch(/Copied — clipboard clears in 60 s/),
    );
    expect(calls).toEqual([{ cmd: "copy_secret", args: { secret: SECRET } }]);

    await fireEvent.click(screen.getByTestId("stored-it"));
    expect(app.once).toBeNull();
    // The only copy the app held is overwritten.
    expect(once.secret).toBe("");
  });

  it("shows the storage advice", () => {
    app.once = { key: key(), secret: SECRET };
    render(ShowOnceDialog);
    const text = screen.getByRole("dialog").textContent ?? "";
    expect(text).toMatch(/environment variable/);
    expect(text).toMatch(/secret manager/);
    expect(text).toMatch(/version control/);
    expect(text).toMatch(/client-side/);
    expect(text).toMatch(/\.gitignore/);
  });

  it("keeps the key on screen and explains when copying fails", async () => {
    app.once = { key: key(), secret: SECRET };
    reply = () => {
      throw { code: "internal", message: "No clipboard on this system.", retry_after: null };
    };
    render(ShowOnceDialog);
    await fireEvent.click(screen.getByTestId("copy-secret"));
    await waitFor(() => expect(screen.getByTestId("copy-error").textContent).toMatch(/No clipboard/));
    expect(screen.getByTestId("show-once-secret").textContent).toBe(SECRET);
  });
});

describe("create key dialog", () => {
  it("sends the allowed IPs typed, one per line, after checking their shape", async () => {
    reply = (cmd) => (cmd === "get_account" ? ACCOUNT : { key: key({ name: "Edge" }), secret: SECRET });
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Edge" } });
    const ips = screen.getByTestId("allowed-ips") as HTMLTextAreaElement;
    await fireEvent.input(ips, { target: { value: "203.0.113.0/24\n10.0.0.300" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await tick();
    expect(screen.getByTestId("allowed-ips-error").textContent).toMatch(/“10\.0\.0\.300” is not an IP address/);
    expect(calls).toEqual([]);
    await fireEvent.input(ips, { target: { value: "203.0.113.0/24\n2001:db8::/32" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await waitFor(() => expect(app.once).not.toBeNull());
    expect(calls[0]).toMatchObject({ cmd: "create_key", args: { input: { name: "Edge", allowed_ips: ["203.0.113.0/24", "2001:db8::/32"] } } });
  });

  it("validates inline without calling Rust", async () => {
    render(CreateKeyDialog);
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await tick();
    expect(screen.getByText(/Give the key a name/)).toBeTruthy();
    expect(calls).toEqual([]);
  });

  it("refuses a limit above the plan, with the plan value as the hint", async () => {
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Worker" } });
    await fireEvent.click(screen.getByTestId("custom-limits"));
    const perMinute = screen.getByTestId("limit-per-minute") as HTMLInputElement;
    expect(perMinute.placeholder).toBe("300 (plan)");
    await fireEvent.input(perMinute, { target: { value: "301" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await tick();
    expect(screen.getByText(/Your plan allows at most 300/)).toBeTruthy();
    expect(calls).toEqual([]);
  });

  it("sends NewKeyInput and hands over to the show-once dialog", async () => {
    const created = key({ name: "Worker" });
    reply = (cmd) => (cmd === "get_account" ? { ...ACCOUNT, active_keys: 13 } : { key: created, secret: SECRET });
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: " Worker " } });
    await fireEvent.click(screen.getByTestId("env-live"));
    await fireEvent.click(screen.getByTestId("scope-write"));
    const res = screen.getByTestId("resource-input");
    await fireEvent.input(res, { target: { value: "project:alpha" } });
    await fireEvent.keyDown(res, { key: "Enter" });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await waitFor(() => expect(app.once).not.toBeNull());
    // Then the account is read again, for its key count.
    await waitFor(() => expect(app.account?.active_keys).toBe(13));
    expect(calls.map((c) => c.cmd)).toEqual(["create_key", "get_account"]);
    expect(calls.slice(0, 1)).toEqual([
      {
        cmd: "create_key",
        args: {
          input: {
            name: "Worker",
            environment: "live",
            scopes: ["read", "write"],
            resources: ["project:alpha"],
            expires_at: null,
            rate_limit: null,
          },
        },
      },
    ]);
    expect(app.createOpen).toBe(false);
    expect(app.keys.items[0]?.id).toBe(created.id);
    expect(app.createDraft.name).toBe("");
  });

  it("keeps what was typed when the service refuses, and points at the field", async () => {
    reply = () => {
      throw { code: "invalid", message: "name must be 1 to 100 printable characters", retry_after: null };
    };
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Worker" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await waitFor(() => expect(screen.getByTestId("create-key-error")).toBeTruthy());
    expect((screen.getByTestId("key-name") as HTMLInputElement).value).toBe("Worker");
    expect(screen.getByTestId("key-name").getAttribute("aria-invalid")).toBe("true");
    expect(app.createOpen).toBe(true);
    expect(app.once).toBeNull();
  });

  it("shows the wait after a 429", async () => {
    reply = () => {
      throw { code: "rate_limited", message: "Too many requests.", retry_after: 30 };
    };
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Worker" } });
    await fireEvent.click(screen.getByTestId("create-key-submit"));
    await waitFor(() => expect(screen.getByTestId("create-key-error").textContent).toMatch(/try again in 30 s/));
  });

  it("Esc closes it but keeps the draft", async () => {
    render(CreateKeyDialog);
    await fireEvent.input(screen.getByTestId("key-name"), { target: { value: "Half typed" } });
    await fireEvent.keyDown(screen.getByRole("dialog"), { key: "Escape" });
    expect(app.createOpen).toBe(false);
    expect(app.createDraft.name).toBe("Half typed");
  });
});

describe("revoke dialog", () => {
  it("names the key and revokes at once", async () => {
    const k = key({ name: "Billing worker", last4: "9f3c" });
    app.keys.items = [k];
    app.revokeTarget = k;
    reply = (cmd) =>
      cmd === "get_account" ? { ...ACCOUNT, active_keys: 11 } : { ...k, status: "revoked", revoked_at: "2026-03-12T12:00:00Z" };
    render(RevokeDialog, { props: { key: k } });
    expect(screen.getByRole("dialog").textContent).toMatch(/Revoke “Billing worker”\?/);
    expect(screen.getByRole("dialog").textContent).toMatch(/to_live_…9f3c/);
    const confirm = screen.getByTestId("confirm-revoke");
    expect(confirm.className).toMatch(/btn-danger/);
    await fireEvent.click(confirm);
    await waitFor(() => expect(app.revokeTarget).toBeNull());
    expect(calls[0]).toEqual({ cmd: "revoke_key", args: { id: k.id } });
    expect(app.keys.items[0]?.status).toBe("revoked");
    // The key count is read again.
    await waitFor(() => expect(app.account?.active_keys).toBe(11));
    expect(calls.map((c) => c.cmd)).toEqual(["revoke_key", "get_account"]);
  });

  it("warns before revoking an admin key", () => {
    const k = key({ scopes: ["admin"] });
    app.revokeTarget = k;
    render(RevokeDialog, { props: { key: k } });
    expect(screen.getByTestId("revoke-admin-warning")).toBeTruthy();
  });

  it("stays open with the error when revoking fails", async () => {
    const k = key();
    app.revokeTarget = k;
    reply = () => {
      throw { code: "unreachable", message: "Connection refused.", retry_after: null };
    };
    render(RevokeDialog, { props: { key: k } });
    await fireEvent.click(screen.getByTestId("confirm-revoke"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toMatch(/Connection refused/));
    expect(app.revokeTarget).not.toBeNull();
  });
});
