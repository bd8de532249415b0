// The key drawer and restrictions: the report-only proposal's card (enforce
// with an inline confirmation, drop), where the key is used from and what it
// does, the enforced allowlist, "Tighten this key…", and the quarantine
// banner's known places.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { daysAgo, emptyUsage, key, NOW, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { KeyUsage, KeyView, Proposal, UsagePoint } from "../types";
import KeyDrawer from "./KeyDrawer.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;
let usage: KeyUsage;

const text = (id: string) => (screen.getByTestId(id).textContent ?? "").replace(/\s+/g, " ").trim();
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Hourly buckets of the last 30 days; `wouldDeny` requests in each of the last `hours`. */
function points(wouldDeny: number, hours: number): UsagePoint[] {
  const start = NOW - 720 * HOUR;
  return Array.from({ length: 720 }, (_, i) => ({
    t: iso(start + i * HOUR),
    success: 10,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: i >= 720 - hours ? wouldDeny : 0,
  }));
}

const proposal: Proposal = {
  restriction: { allowed_ips: ["203.0.113.0/24"], scopes: ["read"] },
  started_at: iso(NOW - 2 * 24 * HOUR),
  ends_at: iso(NOW + 5 * 24 * HOUR),
};

beforeEach(() => {
  calls = [];
  usage = emptyUsage("key_p", { step: "hour", points: points(0, 0) });
  reply = (cmd) => {
    if (cmd === "key_usage") return usage;
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.now = NOW;
  app.keys.items = [];
  app.keys.loaded = true;
  app.detailsId = null;
  app.tightenTarget = null;
  toasts.items = [];
});

afterEach(() => clearMocks());

function put(k: KeyView): KeyView {
  app.keys.items = [...app.keys.items, k];
  return k;
}

const acts = () => calls.filter((c) => c.cmd !== "key_usage");

describe("proposal card", () => {
  function withProposal(over: Partial<KeyView> = {}) {
    usage = {
      ...emptyUsage("key_p", { step: "hour", points: points(1, 3) }),
      would_deny: [
        { reason: "ip 198.51.100.0/24", count: 2 },
        { reason: "scope write", count: 1 },
      ],
    };
    return put(key({ id: "key_p", name: "Analytics dashboard", scopes: ["read", "write"], proposal, ...over }));
  }

  it("says until when it counts, what it would do and how many requests it would have refused", async () => {
    const k = withProposal();
    render(KeyDrawer, { id: k.id });
    expect(text("proposal-status")).toBe("Report-only until 17 Mar 2026");
    const rules = [...screen.getByTestId("proposal-rules").querySelectorAll("li")].map((li) => li.textContent);
    expect(rules).toEqual(["Only from 203.0.113.0/24", "Read only"]);
    await waitFor(() => expect(text("proposal-would-deny")).toMatch(/^3 requests would have been refused since it started 2 days ago\./));
    expect(text("proposal-would-deny")).toMatch(/2 requests from 198\.51\.100\.0\/24/);
    expect(text("proposal-would-deny")).toMatch(/1 request needing the write scope/);
    expect(calls.filter((c) => c.cmd === "key_usage").map((c) => c.args)).toEqual([{ id: "key_p", range: "30d", step: "hour" }]);
  });

  it("counts only since the proposal started", async () => {
    usage = emptyUsage("key_p", { step: "hour", points: points(1, 24 * 10) });
    const k = put(key({ id: "key_p", proposal }));
    render(KeyDrawer, { id: k.id });
    // Ten days of 1 an hour in the window, two days' worth since it started.
    await waitFor(() => expect(text("proposal-would-deny")).toMatch(/^48 requests would have been refused/));
  });

  it("a proposal that refuses nothing says so", async () => {
    const k = put(key({ id: "key_p", proposal }));
    render(KeyDrawer, { id: k.id });
    await waitFor(() => expect(text("proposal-would-deny")).toMatch(/^No request would have been refused so far/));
  });

  it("Enforce asks inline first; confirming enforces, the drawer shows the updated key and a toast", async () => {
    const k = withProposal();
    const enforced: KeyView = { ...k, scopes: ["read"], allowed_ips: ["203.0.113.0/24"], proposal: null };
    reply = (cmd) => (cmd === "enforce_proposal" ? enforced : usage);
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("proposal-enforce"));
    expect(acts()).toEqual([]);
    expect(text("proposal-confirm")).toMatch(/Enforce on “Analytics dashboard”\? From the next request the key refuses/);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("proposal-enforce-confirm")));
    await fireEvent.click(screen.getByTestId("proposal-enforce-confirm"));
    await waitFor(() => expect(screen.queryByTestId("proposal-card")).toBeNull());
    expect(acts()).toEqual([{ cmd: "enforce_proposal", args: { id: "key_p" } }]);
    expect(app.keyById("key_p")?.proposal).toBeNull();
    expect(text("key-allowed-ips")).toBe("203.0.113.0/24");
    expect(toasts.items.map((t) => t.text)).toEqual([
      "Enforced on “Analytics dashboard”: from now on it refuses what the proposal counted.",
    ]);
    // The counts are read again for the key as it is now.
    await waitFor(() => expect(calls.filter((c) => c.cmd === "key_usage")).toHaveLength(2));
  });

  it("Cancel leaves the proposal as it is", async () => {
    const k = withProposal();
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("proposal-enforce"));
    await fireEvent.click(screen.getByTestId("proposal-enforce-cancel"));
    expect(screen.queryByTestId("proposal-enforce-confirm")).toBeNull();
    expect(screen.getByTestId("proposal-enforce")).toBeTruthy();
    expect(acts()).toEqual([]);
  });

  it("Drop drops it at once: the key is unchanged, the card goes", async () => {
    const k = withProposal();
    reply = (cmd) => (cmd === "drop_proposal" ? { ...k, proposal: null } : usage);
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("proposal-drop"));
    await waitFor(() => expect(screen.queryByTestId("proposal-card")).toBeNull());
    expect(acts()).toEqual([{ cmd: "drop_proposal", args: { id: "key_p" } }]);
    expect(toasts.items[0]?.text).toMatch(/^Dropped the report-only restriction of “Analytics dashboard”/);
    expect(screen.queryByTestId("key-allowed-ips")).toBeNull();
  });

  it("a refused enforce says why in the card, which stays", async () => {
    const k = withProposal();
    reply = (cmd) => {
      if (cmd === "key_usage") return usage;
      throw {
        code: "invalid",
        message: "restriction.scopes: the key does not have write; a restriction only narrows",
        retry_after: null,
      };
    };
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("proposal-enforce"));
    await fireEvent.click(screen.getByTestId("proposal-enforce-confirm"));
    await waitFor(() => expect(text("proposal-error")).toMatch(/a restriction only narrows/));
    expect(screen.getByTestId("proposal-card")).toBeTruthy();
    expect(app.keyById("key_p")?.proposal).toEqual(proposal);
  });

  it("one past its end says it stopped counting, and still offers Enforce and Drop", async () => {
    const ended = { ...proposal, started_at: daysAgo(9), ends_at: daysAgo(2) };
    const k = put(key({ id: "key_p", proposal: ended }));
    render(KeyDrawer, { id: k.id });
    expect(text("proposal-status")).toBe("Stopped counting on 10 Mar 2026");
    expect(text("proposal-card")).toMatch(/It no longer counts/);
    expect(screen.getByTestId("proposal-enforce")).toBeTruthy();
    expect(screen.getByTestId("proposal-drop")).toBeTruthy();
  });

  it("is not shown for a revoked key", () => {
    const k = put(key({ id: "key_p", status: "revoked", revoked_at: daysAgo(1), proposal }));
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("proposal-card")).toBeNull();
  });
});

describe("key drawer: restrictions and use", () => {
  it("offers Tighten this key… for an active key, which opens the dialog", async () => {
    const k = put(key({ id: "key_p" }));
    render(KeyDrawer, { id: k.id });
    await fireEvent.click(screen.getByTestId("tighten-key"));
    expect(app.tightenTarget?.id).toBe("key_p");
  });

  it.each([
    ["revoked", { status: "revoked" as const, revoked_at: daysAgo(1) }],
    ["expired", { status: "expired" as const, expires_at: daysAgo(1) }],
  ])("does not offer it for a %s key", (_, over) => {
    const k = put(key({ id: "key_p", ...over }));
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("tighten-key")).toBeNull();
  });

  it("shows where the key is used from: networks with their counts, and countries", async () => {
    usage = emptyUsage("key_p", {
      networks: [
        { network: "203.0.113.0/24", count: 11_204 },
        { network: "2001:db8:42::/48", count: 830 },
      ],
      countries: [
        { country: "US", count: 11_000 },
        { country: "IE", count: 1_034 },
      ],
    });
    const k = put(key({ id: "key_p" }));
    render(KeyDrawer, { id: k.id });
    await waitFor(() => expect(screen.getAllByTestId("key-network")).toHaveLength(2));
    const rows = screen.getAllByTestId("key-network").map((r) => (r.textContent ?? "").replace(/\s+/g, " ").trim());
    expect(rows).toEqual(["203.0.113.0/24 11,204", "2001:db8:42::/48 830"]);
    expect(text("key-countries")).toMatch(/(United States \(US\)|US) 11,000 · (Ireland \(IE\)|IE) 1,034/);
  });

  it("says when no callers were recorded, and when the usage could not be read", async () => {
    const k = put(key({ id: "key_p" }));
    render(KeyDrawer, { id: k.id });
    await waitFor(() => expect(text("key-networks-empty")).toBe("No recorded callers in the last 30 days."));
  });

  it("a failed read offers a retry", async () => {
    let fail = true;
    reply = (cmd) => {
      if (cmd === "key_usage" && fail) throw { code: "unreachable", message: "connection refused", retry_after: null };
      return emptyUsage("key_p", { networks: [{ network: "192.0.2.0/24", count: 5 }] });
    };
    const k = put(key({ id: "key_p" }));
    render(KeyDrawer, { id: k.id });
    await waitFor(() => expect(screen.getByTestId("key-usage-error")).toBeTruthy());
    fail = false;
    await fireEvent.click(screen.getByRole("button", { name: /try again/i }));
    await waitFor(() => expect(screen.getAllByTestId("key-network")).toHaveLength(1));
  });

  it("shows what it does next to what it may: scopes and endpoints used, scopes and resources allowed", async () => {
    usage = emptyUsage("key_p", {
      endpoints: [
        { endpoint: "GET /projects/demo/items", count: 900 },
        { endpoint: "HEAD /projects/demo/status", count: 100 },
      ],
    });
    const k = put(key({ id: "key_p", scopes: ["read", "write"], resources: ["project:demo"] }));
    render(KeyDrawer, { id: k.id });
    await waitFor(() => expect(screen.getAllByTestId("key-endpoint")).toHaveLength(2));
    const chips = (id: string) => [...screen.getByTestId(id).querySelectorAll(".chip")].map((c) => c.textContent);
    expect(chips("key-activity-used-scopes")).toEqual(["read"]);
    expect(chips("key-activity-allowed-scopes")).toEqual(["read", "write"]);
    expect(text("key-activity")).toMatch(/GET \/projects\/demo\/items 900/);
    expect(text("key-activity")).toMatch(/project:demo/);
    expect(text("key-activity-hint")).toMatch(/Not used in the last 30 days: the write scope\./);
  });

  it("shows the enforced allowlist and countries", () => {
    const k = put(key({ id: "key_p", allowed_ips: ["203.0.113.0/24", "2001:db8::/32"], allowed_countries: ["DE"] }));
    render(KeyDrawer, { id: k.id });
    const chips = [...screen.getByTestId("key-allowed-ips").querySelectorAll(".chip")].map((c) => c.textContent);
    expect(chips).toEqual(["203.0.113.0/24", "2001:db8::/32", "DE"]);
  });

  it("says a key without lists works from anywhere", () => {
    const open = put(key({ id: "key_o" }));
    render(KeyDrawer, { id: open.id });
    expect(screen.queryByTestId("key-allowed-ips")).toBeNull();
    expect(screen.getByText("Anywhere")).toBeTruthy();
  });

  it("the quarantine banner names the places the key is held to", () => {
    const quarantine = {
      at: iso(NOW - HOUR),
      reason: "Pasted in #ops",
      source: "manual",
      networks: ["198.51.100.0/24", "192.0.2.0/24"],
      countries: ["US"],
    };
    const k = put(key({ id: "key_q", quarantine }));
    render(KeyDrawer, { id: k.id });
    expect(text("quarantine-banner")).toMatch(/may only read, at most 10 requests a minute, only from 198\.51\.100\.0\/24 and 192\.0\.2\.0\/24 in (United States \(US\)|US)/);
    expect(text("quarantine-banner-places")).toMatch(/^only from 198\.51\.100\.0\/24 and 192\.0\.2\.0\/24 in/);
    expect(text("quarantine-limit-note")).toMatch(/only from 198\.51\.100\.0\/24/);
  });

  it("a quarantine without known places says nothing about them", () => {
    const k = put(key({ id: "key_q", quarantine: { at: iso(NOW), reason: "x", source: "manual", networks: [], countries: [] } }));
    render(KeyDrawer, { id: k.id });
    expect(screen.queryByTestId("quarantine-banner-places")).toBeNull();
    expect(text("quarantine-banner")).not.toMatch(/only from/);
  });
});
