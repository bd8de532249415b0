// The Usage screen's states, with the commands answered by mockIPC and the
// uPlot construction swapped for a recorder (jsdom has no canvas): the tests
// check what the chart was given, not its pixels.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { alert } from "../../test/alert-fixtures";
import { key, NOW, status } from "../../test/fixtures";
import { recordPlots, type MadePlot } from "../../test/plot-recorder";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { AccountUsage, KeyTotals, KeyUsage, Step, UsagePoint } from "../types";
import UsagePage from "./UsagePage.svelte";

let made: MadePlot[];
let restorePlots: () => void;

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

const STEP_S: Record<Step, number> = { minute: 60, hour: 3600, day: 86_400 };
const T0 = Date.parse("2026-03-12T00:00:00Z");

function points(n: number, step: Step, fill: (i: number) => Partial<Omit<UsagePoint, "t">> = () => ({})): UsagePoint[] {
  return Array.from({ length: n }, (_, i) => ({
    t: new Date(T0 + i * STEP_S[step] * 1000).toISOString(),
    success: 0,
    client_error: 0,
    server_error: 0,
    rate_limited: 0,
    denied: 0,
    would_deny: 0,
    ...fill(i),
  }));
}

function keyUsage(id: string, step: Step, n: number, fill?: (i: number) => Partial<Omit<UsagePoint, "t">>): KeyUsage {
  return {
    key_id: id,
    from: new Date(T0).toISOString(),
    to: new Date(T0 + n * STEP_S[step] * 1000).toISOString(),
    step,
    points: points(n, step, fill),
    endpoints: [
      { endpoint: "POST /items", count: 20 },
      { endpoint: "GET /items", count: 80 },
    ],
    countries: [
      { country: "DE", count: 30 },
      { country: "US", count: 70 },
    ],
    networks: [{ network: "203.0.113.0/24", count: 100 }],
    would_deny: [],
  };
}

function totals(key_id: string, name: string, total: number, over: Partial<KeyTotals> = {}): KeyTotals {
  return { key_id, name, total, success: total, client_error: 0, server_error: 0, rate_limited: 0, denied: 0, would_deny: 0, ...over };
}

const billing = key({ id: "key_billing", name: "Billing worker" });
const ci = key({ id: "key_ci", name: "CI runner", environment: "test", prefix: "to_test_" });

function account(n = 1440): AccountUsage {
  return {
    from: new Date(T0).toISOString(),
    to: new Date(T0 + n * 60_000).toISOString(),
    step: "minute",
    points: points(n, "minute", (i) => ({ success: i % 5, client_error: i % 7 === 0 ? 1 : 0 })),
    keys: [
      totals("key_idle", "Idle key", 0),
      totals("key_ci", "CI runner", 40, { success: 27, client_error: 6, server_error: 2, rate_limited: 2, would_deny: 3 }),
      totals("key_billing", "Billing worker", 900),
    ],
  };
}

beforeEach(() => {
  ({ made, restore: restorePlots } = recordPlots());
  calls = [];
  reply = (cmd, args) => {
    if (cmd === "account_usage") return account();
    if (cmd === "key_usage") {
      const step = (args.step as Step | null) ?? "minute";
      return keyUsage(String(args.id), step, step === "minute" ? 1440 : 24, (i) => ({ success: i % 3, rate_limited: i === 5 ? 4 : 0 }));
    }
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.keys.items = [billing, ci];
  app.usageKeyId = null;
  app.view = "usage";
  toasts.items = [];
});

afterEach(() => {
  clearMocks();
  restorePlots();
  vi.useRealTimers();
  Object.defineProperty(document, "hidden", { value: false, configurable: true });
});

const usageCalls = () => calls.filter((c) => c.cmd === "key_usage" || c.cmd === "account_usage");

describe("account overview", () => {
  it("shows a loading state, then the account's stacked chart", async () => {
    render(UsagePage);
    expect(screen.getByTestId("usage-loading")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    expect(usageCalls()).toEqual([{ cmd: "account_usage", args: { range: "24h", step: null } }]);

    expect(made).toHaveLength(1);
    const { opts, data } = made[0];
    // x + six outcomes, top of the stack first: each running sum filled to
    // zero over the one before (opaque), so each outcome shows as its band.
    expect(opts.series).toHaveLength(7);
    expect(opts.series.slice(1).map((s) => s.label)).toEqual([
      "Would deny",
      "Denied",
      "Rate limited",
      "Server error",
      "Client error",
      "Success",
    ]);
    expect(opts.bands ?? []).toEqual([]);
    expect(data).toHaveLength(7);
    expect(data[0]).toBeInstanceOf(Float64Array);
    expect(data[0].length).toBe(1440);
    expect(data[0][1] - data[0][0]).toBe(60);
    // The first series is the bucket total, the last the successes alone.
    expect(data[1][7]).toBe((7 % 5) + 1);
    expect(data[6][7]).toBe(7 % 5);
    expect(data[1][0]).toBe(1); // 0 successes + 1 client error

    const plot = screen.getByTestId("usage-chart-plot");
    expect(plot.getAttribute("role")).toBe("img");
    expect(plot.getAttribute("aria-label")).toMatch(/^Requests per minute over the last 24 hours: /);
    // No limit on the account chart.
    expect(screen.queryByTestId("usage-chart-limit")).toBeNull();
  });

  it("lists the top keys busiest first and opens a key's chart from its row", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getAllByTestId("top-key-row")).toHaveLength(2));
    const rows = screen.getAllByTestId("top-key-row");
    expect(rows.map((r) => r.querySelector("button")?.textContent)).toEqual(["Billing worker", "CI runner"]);
    expect(rows[1].textContent).toMatch(/67.5%/); // success rate
    expect(rows[1].textContent).toMatch(/20%/); // error share
    expect(rows.map((r) => r.querySelector('[data-testid="top-key-would-deny"]')?.textContent)).toEqual(["0", "3"]);
    expect(screen.getByTestId("top-keys").querySelector("thead")?.textContent).toMatch(/Would deny/);
    expect(screen.getByText(/1 key made no requests/)).toBeTruthy();

    await fireEvent.click(rows[1].querySelector("button")!);
    expect(app.usageKeyId).toBe("key_ci");
    await waitFor(() =>
      expect(usageCalls().at(-1)).toEqual({ cmd: "key_usage", args: { id: "key_ci", range: "24h", step: "minute" } }),
    );
  });

  it("lists keys whose rotation is due", async () => {
    const old = key({ id: "key_old", name: "Old live key", created_at: new Date(Date.now() - 100 * 86_400_000).toISOString() });
    app.keys.items = [billing, old];
    app.now = Date.now();
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-attention")).toBeTruthy());
    expect(screen.getByTestId("usage-attention").textContent).toMatch(/Old live key.*Rotation overdue/s);
  });

  it("lists keys with open anomaly alerts, and links to them", async () => {
    app.keys.items = [billing, ci];
    app.now = NOW;
    app.alerts = [
      alert({ key_id: "key_ci", kind: "new_country" }),
      alert({ key_id: "key_ci", kind: "error_spike" }),
      alert({ key_id: "key_billing", kind: "rotation_due_soon" }),
    ];
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-attention")).toBeTruthy());
    const badge = screen.getByTestId("attention-alerts");
    expect(badge.textContent).toBe("2 open alerts");
    expect(badge.title).toMatch(/New country.*Error spike|Error spike.*New country/);
    expect(screen.getByTestId("usage-attention").textContent).toMatch(/CI runner/);
    expect(screen.getByTestId("usage-attention").textContent).not.toMatch(/Billing worker/);
    await fireEvent.click(badge);
    expect(app.view).toBe("alerts");
    app.alerts = [];
  });

  it("waits for a connection, then loads", async () => {
    app.status = null;
    render(UsagePage);
    await new Promise((r) => setTimeout(r, 20));
    expect(usageCalls()).toEqual([]);
    expect(screen.getByTestId("usage-loading")).toBeTruthy();
    app.status = status();
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    expect(usageCalls()).toHaveLength(1);
  });

  it("asks for another range", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("range-7d"));
    await waitFor(() => expect(usageCalls().at(-1)).toEqual({ cmd: "account_usage", args: { range: "7d", step: null } }));
  });
});

describe("one key", () => {
  beforeEach(() => {
    app.usageKeyId = "key_billing";
  });

  it("draws the key's series with its per-minute limit, and scales the limit with the step", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    expect(screen.getByTestId("usage-key-name").textContent).toBe("Billing worker");
    expect(screen.getByTestId("usage-chart-limit").textContent).toMatch(/Limit 300\/min/);
    expect(screen.getByTestId("usage-chart-plot").getAttribute("aria-label")).toMatch(/Limit: 300 per minute/);

    // 24 h: per minute or per hour; never per day (one bucket).
    expect(screen.getByTestId("step-minute")).toBeTruthy();
    expect(screen.getByTestId("step-hour")).toBeTruthy();
    expect(screen.queryByTestId("step-day")).toBeNull();

    await fireEvent.click(screen.getByTestId("step-hour"));
    await waitFor(() => expect(screen.getByTestId("usage-chart-limit").textContent).toMatch(/Limit 18,000\/h/));
    expect(usageCalls().at(-1)).toEqual({ cmd: "key_usage", args: { id: "key_billing", range: "24h", step: "hour" } });
    // The same plot, new data: no rebuild.
    expect(made).toHaveLength(1);
    expect(made[0].updates).toBe(1);
    expect(made[0].data[0].length).toBe(24);
  });

  it("offers only the steps a range allows", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    await fireEvent.click(screen.getByTestId("range-1h"));
    await waitFor(() => expect(screen.queryByTestId("step-hour")).toBeNull());
    expect(usageCalls().at(-1)?.args).toEqual({ id: "key_billing", range: "1h", step: "minute" });
    await fireEvent.click(screen.getByTestId("range-30d"));
    await waitFor(() => expect(screen.getByTestId("step-day")).toBeTruthy());
    expect(usageCalls().at(-1)?.args).toEqual({ id: "key_billing", range: "30d", step: "hour" });
  });

  it("shows the endpoint and country breakdowns, ranked", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("endpoints")).toBeTruthy());
    const eps = [...screen.getByTestId("endpoints").querySelectorAll("tr")].map((r) => r.textContent);
    expect(eps[0]).toMatch(/GET \/items.*80.*80%/);
    expect(eps[1]).toMatch(/POST \/items.*20.*20%/);
    const cs = [...screen.getByTestId("countries").querySelectorAll("tr")].map((r) => r.textContent);
    expect(cs[0]).toMatch(/United States.*70/);
    expect(cs[1]).toMatch(/Germany.*30/);
  });

  it("shows the callers' networks, and why a report-only restriction would refuse requests", async () => {
    reply = (cmd, args) =>
      cmd === "key_usage"
        ? {
            ...keyUsage(String(args.id), "minute", 1440, (i) => ({ success: 1, would_deny: i % 10 === 0 ? 1 : 0 })),
            would_deny: [
              { reason: "ip 198.51.100.0/24", count: 120 },
              { reason: "scope write", count: 24 },
            ],
          }
        : account();
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("networks")).toBeTruthy());
    expect(screen.getByTestId("networks").textContent).toMatch(/203\.0\.113\.0\/24.*100/);
    const reasons = [...screen.getByTestId("would-deny-reasons").querySelectorAll("tr")].map((r) => r.textContent);
    expect(reasons[0]).toMatch(/from 198\.51\.100\.0\/24.*120/);
    expect(reasons[1]).toMatch(/needing the write scope.*24/);
    expect(screen.getByTestId("usage-chart-legend").querySelector('[data-outcome="would_deny"]')?.textContent).toMatch(
      /Would deny\s*144/,
    );
  });

  it("has no would-deny breakdown without a proposal", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("endpoints")).toBeTruthy());
    expect(screen.queryByTestId("would-deny-reasons")).toBeNull();
  });

  it("switches keys with the picker and goes back to the overview", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    await fireEvent.change(screen.getByTestId("usage-key-select"), { target: { value: "key_ci" } });
    await waitFor(() => expect(usageCalls().at(-1)?.args.id).toBe("key_ci"));
    await fireEvent.click(screen.getByTestId("usage-back"));
    expect(app.usageKeyId).toBeNull();
    await waitFor(() => expect(usageCalls().at(-1)?.cmd).toBe("account_usage"));
  });

  it("says when there were no requests, and how to make some", async () => {
    reply = (cmd, args) => keyUsage(String(args.id), "minute", 1440);
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-empty")).toBeTruthy());
    expect(screen.getByTestId("usage-empty").textContent).toMatch(/No requests in this range/);
    expect(screen.getByTestId("usage-empty").textContent).toMatch(/curl line on the Keys screen/);
    expect(made).toHaveLength(0);
    await fireEvent.click(screen.getByTestId("usage-go-keys"));
    expect(app.view).toBe("keys");
  });

  it("shows an error with a retry", async () => {
    let fail = true;
    reply = (cmd, args) => {
      if (fail) throw { code: "unreachable", message: "connection refused", retry_after: null };
      return keyUsage(String(args.id), "minute", 60, () => ({ success: 1 }));
    };
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-error")).toBeTruthy());
    expect(screen.getByTestId("usage-error").dataset.code).toBe("unreachable");
    fail = false;
    await fireEvent.click(screen.getByTestId("error-retry"));
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    expect(screen.queryByTestId("usage-error")).toBeNull();
  });

  it("keeps the old chart while the next range loads", async () => {
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const before = reply;
    reply = async (cmd, args) => {
      await held;
      return before(cmd, args);
    };
    await fireEvent.click(screen.getByTestId("range-7d"));
    await waitFor(() => expect(usageCalls().at(-1)?.args.range).toBe("7d"));
    expect(screen.getByTestId("usage-chart")).toBeTruthy();
    expect(screen.queryByTestId("usage-loading")).toBeNull();
    expect(made[0].destroyed).toBe(false);
    release();
    await waitFor(() => expect(made[0].updates).toBe(1));
    expect(made).toHaveLength(1);
  });

  it("exports a CSV: a toast with the path, nothing when cancelled, the reason on failure", async () => {
    let exportReply: () => unknown = () => "/home/me/usage.csv";
    const base = reply;
    reply = (cmd, args) => (cmd === "export_usage_csv" ? exportReply() : base(cmd, args));
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());

    await fireEvent.click(screen.getByTestId("export-csv"));
    await waitFor(() => expect(toasts.items.map((t) => t.text)).toEqual(["Saved to /home/me/usage.csv"]));
    expect(calls.find((c) => c.cmd === "export_usage_csv")?.args).toEqual({ id: "key_billing", range: "24h", step: "minute" });

    toasts.items = [];
    exportReply = () => null;
    await fireEvent.click(screen.getByTestId("export-csv"));
    await waitFor(() => expect(calls.filter((c) => c.cmd === "export_usage_csv")).toHaveLength(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(toasts.items).toEqual([]);

    exportReply = () => {
      throw { code: "internal", message: "disk full", retry_after: null };
    };
    await fireEvent.click(screen.getByTestId("export-csv"));
    await waitFor(() => expect(toasts.items.map((t) => t.kind)).toEqual(["error"]));
    expect(toasts.items[0].text).toMatch(/Could not export the CSV/);
  });
});

describe("auto-refresh", () => {
  it("fetches again every 10 s while visible, not while hidden, and says when it last did", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    vi.setSystemTime(Date.parse("2026-03-12T12:00:00Z"));
    app.usageKeyId = "key_billing";
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    expect(usageCalls()).toHaveLength(1);
    expect(screen.getByTestId("usage-updated").textContent).toMatch(/Updated just now/);

    vi.advanceTimersByTime(10_000);
    await waitFor(() => expect(usageCalls()).toHaveLength(2));
    await waitFor(() => expect(made[0].updates).toBe(1));
    expect(made).toHaveLength(1);

    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    vi.advanceTimersByTime(30_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(usageCalls()).toHaveLength(2);

    // Visible again after a while: at once, then on the usual beat.
    Object.defineProperty(document, "hidden", { value: false, configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
    await waitFor(() => expect(usageCalls()).toHaveLength(3));
  });

  it("counts the seconds since the last update", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    vi.setSystemTime(Date.parse("2026-03-12T12:00:00Z"));
    reply = (cmd) => {
      // Hold the refreshes: only the first load answers.
      if (usageCalls().length > 1) return new Promise(() => undefined);
      return account();
    };
    render(UsagePage);
    await waitFor(() => expect(screen.getByTestId("usage-chart")).toBeTruthy());
    vi.advanceTimersByTime(8_000);
    await waitFor(() => expect(screen.getByTestId("usage-updated").textContent).toMatch(/Updated 8 s ago/));
  });
});
