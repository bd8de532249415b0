// Alerts must not slow down the first screen: they are asked for only once
// the first key list is painted. (Its own file: start-up runs once per app.)
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, expect, it } from "vitest";
import App from "./App.svelte";
import { alert } from "./test/alert-fixtures";
import { key, status } from "./test/fixtures";

afterEach(() => clearMocks());

it("asks for alerts only after the first key list is painted, then badges the sidebar and the key row", async () => {
  const billing = key({ id: "key_billing", name: "Billing worker" });
  const calls: string[] = [];
  let rowsWhenAsked = -1;
  mockIPC((cmd) => {
    calls.push(cmd);
    if (cmd === "portal_status") return status();
    if (cmd === "list_keys") return { keys: [billing, key({ name: "CI" })], next_cursor: null };
    if (cmd === "startup_ready") return null;
    if (cmd === "list_alerts") {
      rowsWhenAsked = document.querySelectorAll("[data-testid='key-row']").length;
      return { alerts: [alert({ key_id: billing.id }), alert({ key_id: billing.id, kind: "new_country" })] };
    }
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  });
  render(App);
  await waitFor(() => expect(screen.getAllByTestId("key-row")).toHaveLength(2));
  await waitFor(() => expect(screen.getByTestId("alerts-count").textContent).toBe("2 open alerts"));

  expect(rowsWhenAsked).toBe(2);
  expect(calls.filter((c) => c === "list_alerts")).toHaveLength(1);
  // After the key list, and after the "painted" report that the start-up benchmark waits for.
  expect(calls.indexOf("list_alerts")).toBeGreaterThan(calls.indexOf("list_keys"));
  expect(calls.indexOf("list_alerts")).toBeGreaterThan(calls.indexOf("startup_ready"));
  const row = screen.getAllByTestId("key-row").find((r) => r.dataset.keyId === billing.id)!;
  expect(row.querySelector("[data-testid='key-alert-badge']")?.textContent).toBe("2");
});
