// Key names come from the service (and so from whoever created the key): they
// are always shown as text, never interpreted as HTML.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { render, screen } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { key, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import KeysPage from "./KeysPage.svelte";
import RevokeDialog from "./RevokeDialog.svelte";
import ShowOnceDialog from "./ShowOnceDialog.svelte";

const HOSTILE = [
  '<img src=x onerror="window.__pwned=1">',
  "<b>bold</b> & <script>window.__pwned=1</script>",
  "&lt;escaped&gt; &amp;",
  // Stored before the service refused these: shown as the characters they are.
  "invoice\u202Egpj.exe",
];

beforeEach(() => {
  mockIPC(() => {
    throw { code: "internal", message: "unexpected", retry_after: null };
  });
  app.status = status();
  app.keys.loaded = true;
  app.keys.cursor = null;
  app.keys.error = null;
  app.view = "keys";
  app.once = null;
  (window as { __pwned?: number }).__pwned = undefined;
});

afterEach(() => clearMocks());

describe("key names", () => {
  it("are text in the key list", () => {
    app.keys.items = HOSTILE.map((name) => key({ name }));
    const { container } = render(KeysPage);
    const names = screen.getAllByTestId("key-open").map((b) => b.textContent?.trim());
    expect(names).toEqual(HOSTILE);
    expect(container.querySelector("img, script, b")).toBeNull();
    expect(screen.getAllByTestId("key-row").map((r) => r.dataset.keyName)).toEqual(HOSTILE);
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it.each(HOSTILE)("are text in the revoke confirmation: %s", (name) => {
    const k = key({ name });
    app.revokeTarget = k;
    render(RevokeDialog, { props: { key: k } });
    const dialog = screen.getByRole("dialog");
    expect(dialog.textContent).toContain(`Revoke “${name}”?`);
    expect(dialog.querySelector("img, script, b")).toBeNull();
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it.each(HOSTILE)("are text in the show-once dialog: %s", (name) => {
    app.once = { key: key({ name }), secret: "to_live_" + "ab12".repeat(16) };
    render(ShowOnceDialog);
    const dialog = screen.getByRole("dialog");
    expect(dialog.textContent).toContain(name);
    expect(dialog.querySelector("img, script, b")).toBeNull();
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });
});
