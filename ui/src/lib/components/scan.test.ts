// Keys → "Scan a folder…": the button, a cancelled picker, and the results
// (working keys first with "Rotate now", the others explained, the empty state).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { daysAgo, key, NOW, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { filesLine, findingPlace, folderName, liveLine, otherLine, sortFindings, tallyFindings } from "../scan";
import { toasts } from "../toasts.svelte";
import type { FolderFinding, FolderScan } from "../types";
import KeysPage from "./KeysPage.svelte";
import ScanResultsDialog from "./ScanResultsDialog.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string) => unknown;

const billing = key({ id: "key_billing", name: "Billing worker" });
const old = key({ id: "key_old", name: "Old CI runner", environment: "test", prefix: "to_test_", status: "revoked", revoked_at: daysAgo(3) });

function finding(over: Partial<FolderFinding>): FolderFinding {
  return { path: "src/x.ts", line: 1, column: 1, masked: "to_live_…0000", status: "not_a_key", key_id: null, key_name: null, ...over };
}

const LIVE = finding({ path: ".env", line: 3, column: 17, masked: "to_live_…a1b2", status: "live", key_id: "key_billing", key_name: "Billing worker" });
const INACTIVE = finding({ path: "ci/old.yml", line: 41, column: 9, masked: "to_test_…c3d4", status: "inactive", key_id: "key_old", key_name: "Old CI runner" });
const FAKE = finding({ path: "docs/README.md", line: 58, column: 30, masked: "to_live_…0000", status: "not_a_key" });
const SCAN: FolderScan = { folder: "/home/me/src/acme-app", files: 214, skipped: 3, findings: [FAKE, INACTIVE, LIVE] };

beforeEach(() => {
  calls = [];
  reply = (cmd) => {
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd);
  });
  app.status = status();
  app.now = NOW;
  app.keys.items = [billing, old];
  app.keys.loaded = true;
  app.keys.cursor = null;
  app.scan = null;
  app.scanning = false;
  app.compromiseTarget = null;
  app.detailsId = null;
  app.alerts = [];
  toasts.items = [];
});

afterEach(() => clearMocks());

const text = (el: HTMLElement) => (el.textContent ?? "").replace(/\s+/g, " ").trim();

describe("scan results, as words", () => {
  it("working keys first, then by file and line", () => {
    expect(sortFindings(SCAN.findings)).toEqual([LIVE, INACTIVE, FAKE]);
    const tally = tallyFindings(SCAN.findings);
    expect(tally).toEqual({ live: 1, inactive: 1, unknown: 0, not_a_key: 1 });
    expect(liveLine(tally)).toBe("1 working key of this account found");
    expect(liveLine(tallyFindings([]))).toBe("No working keys of this account found");
    expect(otherLine(tally)).toBe("1 revoked or expired, 1 placeholder or fake");
    expect(filesLine(SCAN)).toBe("214 files scanned (3 skipped: too large or unreadable)");
    expect(filesLine({ files: 1, skipped: 0 })).toBe("1 file scanned");
    expect(findingPlace(LIVE)).toBe(".env:3:17");
    expect(folderName("/home/me/src/acme-app/")).toBe("acme-app");
    expect(folderName("C:\\Users\\me\\app")).toBe("app");
  });
});

describe("Scan a folder…", () => {
  it("shows the findings when the folder was scanned", async () => {
    reply = (cmd) => (cmd === "scan_folder" ? SCAN : undefined);
    render(KeysPage);
    await fireEvent.click(screen.getByTestId("scan-folder"));
    await waitFor(() => expect(app.scan).toEqual(SCAN));
    expect(calls.map((c) => c.cmd)).toEqual(["scan_folder"]);
  });

  it("does nothing when the picker is cancelled", async () => {
    reply = (cmd) => (cmd === "scan_folder" ? null : undefined);
    render(KeysPage);
    await fireEvent.click(screen.getByTestId("scan-folder"));
    await waitFor(() => expect(app.scanning).toBe(false));
    expect(app.scan).toBeNull();
    expect(toasts.items).toEqual([]);
  });

  it("says so when the scan fails", async () => {
    reply = () => {
      throw { code: "unreachable", message: "The key service could not be reached.", retry_after: null };
    };
    render(KeysPage);
    await fireEvent.click(screen.getByTestId("scan-folder"));
    await waitFor(() => expect(toasts.items[0]?.text).toMatch(/^The folder could not be scanned\. .*The key service could not be reached/));
    expect(app.scan).toBeNull();
  });
});

describe("scan results dialog", () => {
  it("sums up, lists each finding with its place, masked key, name and status", () => {
    app.scan = SCAN;
    render(ScanResultsDialog, { scan: SCAN });
    expect(text(screen.getByTestId("scan-results"))).toMatch(/Keys in “acme-app”/);
    const summary = text(screen.getByTestId("scan-summary"));
    expect(summary).toMatch(/1 working key of this account found/);
    expect(summary).toMatch(/214 files scanned \(3 skipped/);
    expect(screen.getByTestId("scan-summary").dataset.live).toBe("1");
    expect(screen.getByTestId("scan-advice")).toBeTruthy();

    const rows = screen.getAllByTestId("scan-finding");
    expect(rows.map((r) => r.dataset.status)).toEqual(["live", "inactive", "not_a_key"]);
    const [live, inactive, fake] = rows;
    expect(within(live).getByTestId("scan-finding-place").textContent).toBe(".env:3:17");
    expect(within(live).getByTestId("scan-finding-masked").textContent).toBe("to_live_…a1b2");
    expect(within(live).getByTestId("scan-finding-key").textContent).toBe("Billing worker");
    expect(within(live).getByTestId("scan-finding-status").textContent).toBe("Working key");
    expect(live.classList.contains("live")).toBe(true);
    expect(within(live).getByTestId("scan-rotate")).toBeTruthy();

    expect(within(inactive).getByTestId("scan-finding-status").textContent).toBe("Revoked or expired");
    expect(within(inactive).queryByTestId("scan-rotate")).toBeNull();
    expect(within(fake).getByTestId("scan-finding-status").textContent).toBe("Not a real key");
    expect(within(fake).queryByTestId("scan-finding-key")).toBeNull();
    expect(within(fake).queryByTestId("scan-rotate")).toBeNull();
    expect(screen.queryByTestId("scan-empty")).toBeNull();
  });

  it("Rotate now opens the compromise rotation for that key, over the results", async () => {
    app.scan = SCAN;
    render(ScanResultsDialog, { scan: SCAN });
    await fireEvent.click(screen.getByTestId("scan-rotate"));
    await waitFor(() => expect(app.compromiseTarget?.id).toBe("key_billing"));
    expect(app.scan).toBe(SCAN);
  });

  it("a working key rotated since is marked done, and the warning goes", () => {
    app.keys.items = [{ ...billing, status: "revoked", revoked_at: daysAgo(0), replaced_by: "key_new" }, old];
    app.scan = SCAN;
    render(ScanResultsDialog, { scan: SCAN });
    const live = screen.getAllByTestId("scan-finding")[0];
    expect(within(live).queryByTestId("scan-rotate")).toBeNull();
    expect(within(live).getByTestId("scan-finding-done").textContent).toMatch(/Rotated/);
    expect(screen.queryByTestId("scan-advice")).toBeNull();
    expect(text(screen.getByTestId("scan-summary"))).toMatch(/Rotated since: now take it out of the files/);
  });

  it("says when nothing was found", () => {
    const clean: FolderScan = { folder: "/home/me/empty", files: 12, skipped: 0, findings: [] };
    app.scan = clean;
    render(ScanResultsDialog, { scan: clean });
    expect(text(screen.getByTestId("scan-empty"))).toMatch(/Nothing in this folder looks like an API key/);
    expect(text(screen.getByTestId("scan-summary"))).toMatch(/No keys found.*12 files scanned\./);
    expect(screen.queryAllByTestId("scan-finding")).toEqual([]);
  });

  it("Done closes it", async () => {
    app.scan = SCAN;
    render(ScanResultsDialog, { scan: SCAN });
    await fireEvent.click(screen.getByTestId("scan-close"));
    expect(app.scan).toBeNull();
  });
});
