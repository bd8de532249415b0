// A leak report quarantines its key on the service after the key list was
// read: when its alert arrives, the key is read again, so the list shows
// the quarantine without a manual refresh. (Its own file: start-up runs
// once per app.)
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, expect, it } from "vitest";
import App from "./App.svelte";
import { alert } from "./test/alert-fixtures";
import { key, status } from "./test/fixtures";

afterEach(() => clearMocks());

it("reads a reported key again when its leak alert arrives, once", async () => {
  const leaky = key({ id: "key_leaky", name: "Leaky worker" });
  const quarantined = { ...leaky, quarantine: { at: "2026-03-12T12:00:00Z", reason: "reported public at https://github.com/x", source: "leak_report" } };
  const gets: string[] = [];
  mockIPC((cmd, args) => {
    if (cmd === "portal_status") return status();
    if (cmd === "list_keys") return { keys: [leaky], next_cursor: null };
    if (cmd === "startup_ready") return null;
    if (cmd === "list_alerts")
      return {
        alerts: [
          alert({
            id: "alt_leak",
            key_id: leaky.id,
            kind: "leak_reported",
            evidence: { url: "https://github.com/x", source: "commit", token_type: "t", action: "quarantined", masked: "to_live_…abcd", key_name: leaky.name },
          }),
        ],
      };
    if (cmd === "get_key") {
      gets.push((args as { id: string }).id);
      return quarantined;
    }
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  });
  render(App);
  await waitFor(() => expect(screen.getByTestId("key-quarantined-badge")).toBeTruthy());
  expect(gets).toEqual(["key_leaky"]);
});
