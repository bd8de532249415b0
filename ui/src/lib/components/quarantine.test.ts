// Quarantine: the key drawer's banner (rotate, release, revoke), the
// "Quarantine…" dialog, and the badge on key rows.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACCOUNT, daysAgo, emptyUsage, key, NOW, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { validateQuarantineReason } from "../quarantine";
import { toasts } from "../toasts.svelte";
import type { KeyView, Quarantine } from "../types";
import KeyDrawer from "./KeyDrawer.svelte";
import KeysPage from "./KeysPage.svelte";
import QuarantineDialog from "./QuarantineDialog.svelte";
import RotatePickerDialog from "./RotatePickerDialog.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

const text = (id: string) => (screen.getByTestId(id).textContent ?? "").replace(/\s+/g, " ").trim();
const LEAK_URL = "https://github.com/acme/app/commit/4f2c9e1a7b3d";
const manual: Quarantine = {
  at: new Date(NOW - 2 * 3_600_000).toISOString(),
  reason: "Pasted in #ops",
  source: "manual",
  networks: [],
  countries: [],
};

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
  app.now = NOW;
  app.keys.items = [];
  app.keys.loaded = true;
  app.keys.cursor = null;
  app.detailsId = null;
  app.compromiseTarget = null;
  app.revokeTarget = null;
  app.quarantineTarget = null;
  app.alerts = [];
  toasts.items = [];
});

afterEach(() => clearMocks());

function put(k: KeyView): KeyView {
  app.keys.items = [...app.keys.items, k];
  return k;
}

describe("quarantine banner", () => {
  it("says why, since when and what it means, and offers rotate, release and revoke", () => {
    const k = put(key({ id: "key_q", name: "Billing worker", quarantine: manual }));
    render(KeyDrawer, { id: k.id });
    const banner = text("quarantine-banner");
    expect(banner).toMatch(/Quarantined 2 h(ours)? ago/);
    expect(banner).toMatch(/may only read, at most 10 requests a minute/);
    expect(text("quarantine-banner-reason")).toBe("Reason: Pasted in #ops");
    expect(screen.getByTestId("quarantine-banner").querySelector("time")?.getAttribute("title")).toMatch(/UTC/);
    expect(screen.getByTestId("details-status").dataset.status).toBe("active");
    expect(screen.getByTestId("key-quarantined-badge").textContent).toMatch(/Quarantined/);
    // The banner's own buttons replace the usual compromise and revoke, and a quarantined key is not quarantined again.
    expect(screen.queryByTestId("compromise-button")).toBeNull();
    expect(screen.queryByTestId("revoke-button")).toBeNull();
    expect(screen.queryByTestId("key-quarantine")).toBeNull();
    expect(screen.getByTestId("quarantine-limit-note")).toBeTruthy();
  });

  it("names the report's URL for a leak report", () => {
    const k = put(key({ quarantine: { ...manual, reason: LEAK_URL, source: "leak_report" } }));
    render(KeyDrawer, { id: k.id });
    expect(text("quarantine-banner-reason")).toBe(`Reported public: ${LEAK_URL}`);
  });

  it("Rotate now opens the compromise rotation; Revoke… the revoke dialog", async () => {
    const k = put(key({ id: "key_q", quarantine: manual }));
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("quarantine-rotate"));
    expect(app.compromiseTarget?.id).toBe("key_q");
    app.compromiseTarget = null;
    await fireEvent.click(screen.getByTestId("quarantine-revoke"));
    expect(app.revokeTarget?.id).toBe("key_q");
    expect(calls).toEqual([]);
  });

  it("Release calls release_key and the banner goes", async () => {
    const k = put(key({ id: "key_q", name: "Billing worker", quarantine: manual }));
    reply = (cmd) => (cmd === "release_key" ? { ...k, quarantine: null } : undefined);
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("quarantine-release"));
    await waitFor(() => expect(screen.queryByTestId("quarantine-banner")).toBeNull());
    expect(calls).toEqual([{ cmd: "release_key", args: { id: "key_q" } }]);
    expect(app.keyById("key_q")?.quarantine).toBeNull();
    expect(screen.getByTestId("details-status").textContent).toMatch(/Active/);
    expect(toasts.items.map((t) => t.text)).toEqual([
      "Released “Billing worker” from quarantine: it works as before.",
    ]);
    // Back to normal: it can be quarantined again.
    expect(screen.getByTestId("key-quarantine")).toBeTruthy();
  });

  it("a refused release says why in the banner, which stays", async () => {
    const k = put(key({ id: "key_q", quarantine: manual }));
    reply = () => {
      throw { code: "conflict", message: "only an active key can be quarantined or released", retry_after: null };
    };
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("quarantine-release"));
    await waitFor(() => expect(text("quarantine-release-error")).toMatch(/only an active key/));
    expect(screen.getByTestId("quarantine-banner")).toBeTruthy();
  });

  it("no banner for a revoked key that was quarantined", () => {
    const k = put(key({ status: "revoked", revoked_at: daysAgo(1), quarantine: manual }));
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("quarantine-banner")).toBeNull();
    expect(screen.queryByTestId("key-quarantined-badge")).toBeNull();
  });
});

describe("Quarantine… action", () => {
  it("is offered for an active app key", () => {
    const ok = put(key({ id: "key_ok" }));
    render(KeyDrawer, { id: ok.id });
    expect(screen.getByTestId("key-quarantine")).toBeTruthy();
  });

  it.each([
    ["an admin key", () => key({ scopes: ["admin"] })],
    ["a revoked key", () => key({ status: "revoked", revoked_at: daysAgo(1) })],
    ["an expired key", () => key({ status: "expired", expires_at: daysAgo(1) })],
  ])("is not offered for %s", (_, make) => {
    const k = put(make());
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("key-quarantine")).toBeNull();
  });

  it("opens the dialog for the key", async () => {
    const k = put(key({ id: "key_ok" }));
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("key-quarantine"));
    expect(app.quarantineTarget?.id).toBe("key_ok");
  });
});

describe("quarantine dialog", () => {
  it("asks for a reason before calling the service", async () => {
    const k = put(key({ id: "key_ok", name: "Billing worker" }));
    app.quarantineTarget = k;
    render(QuarantineDialog, { key: k });
    expect(text("quarantine-dialog")).toMatch(/Quarantine “Billing worker”\?/);
    await fireEvent.click(screen.getByTestId("quarantine-confirm"));
    expect(text("quarantine-reason-error")).toMatch(/Say why/);
    expect(calls).toEqual([]);
  });

  it("quarantines with the typed reason, stores the key and closes", async () => {
    const k = put(key({ id: "key_ok", name: "Billing worker" }));
    app.quarantineTarget = k;
    reply = (cmd, args) =>
      cmd === "quarantine_key"
        ? { ...k, quarantine: { at: new Date(NOW).toISOString(), reason: args.reason, source: "manual" } }
        : undefined;
    render(QuarantineDialog, { key: k });
    await fireEvent.input(screen.getByTestId("quarantine-reason"), { target: { value: "  Pasted in a public channel " } });
    await fireEvent.click(screen.getByTestId("quarantine-confirm"));
    await waitFor(() => expect(app.quarantineTarget).toBeNull());
    expect(calls).toEqual([{ cmd: "quarantine_key", args: { id: "key_ok", reason: "Pasted in a public channel" } }]);
    expect(app.keyById("key_ok")?.quarantine?.reason).toBe("Pasted in a public channel");
    expect(toasts.items[0]?.text).toMatch(/^Quarantined “Billing worker”/);
  });

  it("a suggested reason fills the field", async () => {
    const k = put(key());
    render(QuarantineDialog, { key: k });
    await fireEvent.click(screen.getByRole("button", { name: "Found in a public repository" }));
    expect((screen.getByTestId("quarantine-reason") as HTMLInputElement).value).toBe("Found in a public repository");
  });

  it("shows the service's refusal inline and keeps what was typed", async () => {
    const k = put(key({ id: "key_ok" }));
    app.quarantineTarget = k;
    reply = () => {
      throw {
        code: "conflict",
        message: "an admin key cannot be made read-only: revoke it (rotate first if it is this portal's)",
        retry_after: null,
      };
    };
    render(QuarantineDialog, { key: k });
    await fireEvent.input(screen.getByTestId("quarantine-reason"), { target: { value: "Leaked" } });
    await fireEvent.click(screen.getByTestId("quarantine-confirm"));
    await waitFor(() => expect(text("quarantine-error")).toMatch(/cannot be made read-only/));
    expect(app.quarantineTarget?.id).toBe("key_ok");
    expect((screen.getByTestId("quarantine-reason") as HTMLInputElement).value).toBe("Leaked");
  });

  it("Cancel closes without a call", async () => {
    const k = put(key());
    app.quarantineTarget = k;
    render(QuarantineDialog, { key: k });
    await fireEvent.click(screen.getByTestId("quarantine-cancel"));
    expect(app.quarantineTarget).toBeNull();
    expect(calls).toEqual([]);
  });

  it("reasons follow the service's rules", () => {
    expect(validateQuarantineReason("   ")).toMatch(/Say why/);
    expect(validateQuarantineReason("x".repeat(301))).toMatch(/At most 300/);
    expect(validateQuarantineReason("a\u0007b")).toMatch(/printable/);
    expect(validateQuarantineReason("found\u200Bhere")).toMatch(/invisible character \(U\+200B/);
    expect(validateQuarantineReason("Found in a gist")).toBeNull();
  });
});

describe("quarantined badge", () => {
  it("shows on the key's row instead of Active", () => {
    app.keys.items = [
      key({ id: "key_q", name: "Quarantined one", quarantine: manual }),
      key({ id: "key_a", name: "Fine one" }),
    ];
    render(KeysPage);
    const rows = screen.getAllByTestId("key-row");
    const q = rows.find((r) => r.dataset.keyId === "key_q")!;
    const a = rows.find((r) => r.dataset.keyId === "key_a")!;
    expect(within(q).getByTestId("key-quarantined-badge").textContent).toMatch(/Quarantined/);
    expect(within(q).getByTestId("key-status").dataset.quarantined).toBe("true");
    expect(within(a).queryByTestId("key-quarantined-badge")).toBeNull();
    expect(within(a).getByTestId("key-status").textContent).toMatch(/Active/);
  });

  it("shows in Rotate several keys…, where quarantined keys come first, ticked", () => {
    app.status = status({ account: { ...ACCOUNT, credential_key_id: "key_portal" } });
    app.keys.items = [key({ id: "key_a", name: "A fine one" }), key({ id: "key_q", name: "Z quarantined", quarantine: manual })];
    render(RotatePickerDialog);
    const rows = screen.getAllByTestId("picker-row");
    expect(rows.map((r) => r.dataset.keyId)).toEqual(["key_q", "key_a"]);
    expect(within(rows[0]).getByTestId("key-quarantined-badge")).toBeTruthy();
    expect((within(rows[0]).getByTestId("picker-check") as HTMLInputElement).checked).toBe(true);
  });
});
