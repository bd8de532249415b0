import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { app } from "./lib/app.svelte";
import type { PortalStatus } from "./lib/types";
import { key, status } from "./test/fixtures";

let current: PortalStatus;
let keysReply: () => unknown;

beforeEach(() => {
  // A fresh start each time.
  app.status = null;
  app.createOpen = false;
  app.detailsId = null;
  app.once = null;
  app.view = "keys";
  current = status({ try_it: { gateway_url: "http://127.0.0.1:5", curl: "curl -H \"Authorization: Bearer $KEYPORT_KEY\" http://127.0.0.1:5/x" } });
  keysReply = () => ({
    keys: [key({ name: "Billing worker", last4: "9f3c" }), key({ name: "CI", environment: "test", prefix: "to_test_", status: "revoked" })],
    next_cursor: "c1",
  });
  mockIPC((cmd) => {
    if (cmd === "portal_status") return current;
    if (cmd === "list_keys") return keysReply();
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  });
});

afterEach(() => clearMocks());

async function started() {
  render(App);
  await waitFor(() => expect(screen.getAllByTestId("key-row")).toHaveLength(2));
}

describe("the app", () => {
  it("starts, lists keys masked, and offers Load more", async () => {
    await started();
    const masked = screen.getAllByTestId("key-masked").map((e) => e.textContent);
    expect(masked[0]).toBe("to_live_…9f3c");
    expect(screen.getAllByTestId("key-status").map((e) => e.dataset.status)).toEqual(["active", "revoked"]);
    expect(screen.getByTestId("load-more-keys")).toBeTruthy();
  });

  it("N opens Create key, Esc closes it; / focuses search and N typed there is just text", async () => {
    await started();
    await fireEvent.keyDown(window, { key: "n" });
    // The dialog is a lazy chunk: under Vitest its first import is compiled on
    // demand, behind the preload of every other screen (charts included).
    await waitFor(() => expect(screen.getByTestId("create-key-dialog")).toBeTruthy(), { timeout: 5000 });
    await fireEvent.keyDown(screen.getByRole("dialog"), { key: "Escape" });
    await waitFor(() => expect(screen.queryByTestId("create-key-dialog")).toBeNull());

    await fireEvent.keyDown(window, { key: "/" });
    const search = screen.getByTestId("key-search");
    await waitFor(() => expect(document.activeElement).toBe(search));
    await fireEvent.keyDown(search, { key: "n" });
    expect(screen.queryByTestId("create-key-dialog")).toBeNull();
  });

  it("draws the shell once, with its key list, not a loading skeleton first", async () => {
    let release!: () => void;
    const keysHeld = new Promise<void>((resolve) => (release = resolve));
    mockIPC(async (cmd) => {
      if (cmd === "portal_status") return current;
      if (cmd === "list_keys") {
        await keysHeld;
        return keysReply();
      }
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    render(App);
    // The status is in, the keys are not (yet within the wait): still the blank start screen.
    await waitFor(() => expect(app.status).not.toBeNull());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.getByTestId("booting").textContent?.trim()).toBe("");
    expect(screen.queryByTestId("keys-loading")).toBeNull();
    release();
    await waitFor(() => expect(screen.getAllByTestId("key-row")).toHaveLength(2));
    expect(screen.queryByTestId("booting")).toBeNull();
  });

  it("shows the shell and its loading state when the keys are slow", async () => {
    mockIPC((cmd) => {
      if (cmd === "portal_status") return current;
      if (cmd === "list_keys") return new Promise(() => undefined);
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    render(App);
    await waitFor(() => expect(screen.getByTestId("keys-loading")).toBeTruthy(), { timeout: 2000 });
    expect(screen.getByTestId("create-key-button")).toBeTruthy();
  });

  it("says it is starting only when the start is slow", async () => {
    mockIPC((cmd) => {
      if (cmd === "portal_status") return new Promise(() => undefined);
      if (cmd === "list_keys") return keysReply();
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    render(App);
    expect(screen.getByTestId("booting").textContent).not.toMatch(/Starting/);
    await waitFor(() => expect(screen.getByTestId("booting").textContent).toMatch(/Starting Keyport/), {
      timeout: 2000,
    });
  });

  it("filters by status and search", async () => {
    await started();
    await fireEvent.click(screen.getByTestId("filter-status-revoked"));
    expect(screen.getAllByTestId("key-row")).toHaveLength(1);
    await fireEvent.click(screen.getByTestId("filter-status-all"));
    await fireEvent.input(screen.getByTestId("key-search"), { target: { value: "billing" } });
    expect(screen.getAllByTestId("key-row").map((r) => r.dataset.keyName)).toEqual(["Billing worker"]);
  });

  it("asks for the first key page next to the status, once", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "portal_status") return current;
      if (cmd === "list_keys") return keysReply();
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    await started();
    expect(calls.filter((c) => c === "list_keys")).toHaveLength(1);
    // Sent together with the status, not after it came back.
    expect(calls.slice(0, 2).sort()).toEqual(["list_keys", "portal_status"]);
  });

  it("takes the answers of calls begun before the app mounted (as main.ts does)", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "portal_status") return current;
      if (cmd === "list_keys") return keysReply();
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    app.begin();
    await waitFor(() => expect([...calls].sort()).toEqual(["list_keys", "portal_status"]));
    await started();
    expect(calls.filter((c) => c === "portal_status" || c === "list_keys")).toHaveLength(2);
  });

  it("marks the portal's own admin key and will not revoke it", async () => {
    const own = key({ id: "key_portal_admin", name: "Admin key", scopes: ["admin"] });
    const other = key({ name: "Billing worker" });
    keysReply = () => ({ keys: [own, other], next_cursor: null });
    await started();
    expect(screen.getAllByTestId("own-credential-tag")).toHaveLength(1);
    const ownRow = screen.getAllByTestId("key-row").find((r) => r.dataset.keyId === own.id)!;
    await fireEvent.click(ownRow);
    await waitFor(() => expect(screen.getByTestId("own-credential-note")).toBeTruthy());
    expect((screen.getByTestId("revoke-button") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("close-details"));
    const otherRow = screen.getAllByTestId("key-row").find((r) => r.dataset.keyId === other.id)!;
    await fireEvent.click(otherRow);
    await waitFor(() => expect(screen.getByTestId("details-name").textContent).toBe("Billing worker"));
    expect(screen.queryByTestId("own-credential-note")).toBeNull();
    expect((screen.getByTestId("revoke-button") as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows the try-it curl line while no app key has traffic", async () => {
    await started();
    expect(screen.getByTestId("try-it-curl").textContent).toMatch(/\$KEYPORT_KEY/);
  });

  it("on a first launch (only the admin key) teaches to create a key, and shows the curl line only once one exists", async () => {
    const admin = key({ name: "Admin key", scopes: ["admin"] });
    keysReply = () => ({ keys: [admin], next_cursor: null });
    render(App);
    await waitFor(() => expect(screen.getByTestId("keys-teach")).toBeTruthy());
    expect(screen.getByTestId("keys-teach").textContent).toMatch(/try it with curl/);
    expect(screen.queryByTestId("try-it")).toBeNull();
  });

  it("teaches when there are no keys", async () => {
    keysReply = () => ({ keys: [], next_cursor: null });
    render(App);
    await waitFor(() => expect(screen.getByTestId("keys-empty")).toBeTruthy());
    expect(screen.getByTestId("create-first-key").textContent).toMatch(/Create your first key/);
  });

  it("explains an unreachable service and marks it in the sidebar", async () => {
    keysReply = () => {
      throw { code: "unreachable", message: "Connection refused.", retry_after: null };
    };
    render(App);
    await waitFor(() => expect(screen.getByTestId("keys-error").dataset.code).toBe("unreachable"));
    expect(screen.getByTestId("service-status").textContent).toMatch(/Unreachable/);
  });

  it("asks to reconnect when the credential is rejected", async () => {
    current = status({ mode: "remote", service_url: "https://keys.example.com" });
    keysReply = () => {
      throw { code: "unauthorized", message: "401.", retry_after: null };
    };
    render(App);
    await waitFor(() => expect(screen.getByTestId("error-reconnect")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("error-reconnect"));
    await waitFor(() => expect(screen.getByTestId("connect-url")).toBeTruthy());
    expect((screen.getByTestId("connect-url") as HTMLInputElement).value).toBe("https://keys.example.com");
  });

  it("shows the keychain problem instead of a silent fallback", async () => {
    current = status({
      account: null,
      keychain: { available: false, backend: "Secret Service", problem: "No provider.", fix: "Start gnome-keyring." },
    });
    render(App);
    await waitFor(() => expect(screen.getByTestId("keychain-problem").textContent).toMatch(/Start gnome-keyring/));
  });

  it("goes to Connect when not connected", async () => {
    current = status({ mode: "remote", account: null });
    render(App);
    await waitFor(() => expect(screen.getByTestId("connect-submit")).toBeTruthy());
  });
});
