// "Tighten this key…": suggestions, own rules merged into one restriction,
// the replay against history, and starting report-only mode.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { key, NOW, status } from "../../test/fixtures";
import { app } from "../app.svelte";
import { toasts } from "../toasts.svelte";
import type { KeyView, ReplayReport, Suggestions } from "../types";
import TightenDialog from "./TightenDialog.svelte";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let reply: (cmd: string, args: Record<string, unknown>) => unknown;

const text = (id: string) => (screen.getByTestId(id).textContent ?? "").replace(/\s+/g, " ").trim();
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;

const SUGGESTIONS: Suggestions = {
  from: iso(NOW - 30 * 24 * HOUR),
  to: iso(NOW),
  requests: 12_034,
  suggestions: [
    {
      rule: "scope",
      title: "Drop the write scope",
      detail: "12034 requests in the window, all of them reads (GET, HEAD, OPTIONS)",
      restriction: { scopes: ["read"] },
      evidence: [{ value: "GET /projects/demo/items", requests: 12_034, last_seen: iso(NOW - HOUR) }],
    },
    {
      rule: "ip",
      title: "Allow only 2 networks",
      detail: "every request in the window came from 203.0.113.0/24, 2001:db8:42::/48",
      restriction: { allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] },
      evidence: [
        { value: "203.0.113.0/24", requests: 11_204, last_seen: iso(NOW - HOUR) },
        { value: "2001:db8:42::/48", requests: 830, last_seen: iso(NOW - 3 * HOUR) },
      ],
    },
    {
      rule: "rate_limit",
      title: "Lower the rate to 90 a minute",
      detail: "the busiest minute had 60 requests (2026-03-11 09:35 UTC)",
      restriction: { per_minute: 90 },
      evidence: [{ value: "2026-03-11 09:35 UTC", requests: 60, last_seen: iso(NOW - 26 * HOUR) }],
    },
  ],
  notes: ["some requests have no known country: a country list would refuse them"],
};

const REPORT: ReplayReport = {
  from: iso(NOW - 7 * 24 * HOUR),
  to: iso(NOW),
  requests: 12_034,
  refused_at_least: 41,
  refused_at_most: 41,
  share: 41 / 12_034,
  rules: [
    {
      rule: "ip",
      refused: 41,
      undetermined: 12,
      examples: [{ value: "198.51.100.0/24", requests: 41, last_seen: iso(NOW - 2 * HOUR) }],
    },
    { rule: "scope", refused: 0, undetermined: 0, examples: [] },
  ],
  notes: ["12 requests have no recorded address (verify calls without \"ip\")"],
};

let k: KeyView;

beforeEach(() => {
  calls = [];
  reply = (cmd) => {
    if (cmd === "key_suggestions") return SUGGESTIONS;
    throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
  };
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    return reply(cmd, args as Record<string, unknown>);
  });
  app.status = status();
  app.now = NOW;
  k = key({ id: "key_t", name: "Staging deploy", scopes: ["read", "write"] });
  app.keys.items = [k];
  app.tightenTarget = k;
  toasts.items = [];
});

afterEach(() => clearMocks());

const sent = (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args);

async function open() {
  render(TightenDialog, { key: k });
  await waitFor(() => expect(screen.getByTestId("suggestion-ip")).toBeTruthy());
}

describe("suggestions", () => {
  it("loads the last 30 days' suggestions, each a checkbox with its evidence, and the notes", async () => {
    await open();
    expect(sent("key_suggestions")).toEqual([{ id: "key_t", days: 30 }]);
    expect(screen.getByTestId("tighten-dialog")).toBeTruthy();
    expect(text("tighten-dialog")).toMatch(/Suggested from the last 30 days · 12,034 requests/);
    for (const rule of ["scope", "ip", "rate_limit"]) {
      const box = screen.getByTestId(`suggestion-${rule}`) as HTMLInputElement;
      expect(box.type).toBe("checkbox");
      expect(box.checked).toBe(false);
    }
    const ip = screen.getByTestId("suggestion-ip").closest("label")!;
    expect(ip.textContent).toMatch(/Allow only 2 networks/);
    expect(ip.textContent).toMatch(/Every request in the window came from 203\.0\.113\.0\/24/);
    const evidence = [...screen.getByTestId("suggestion-evidence-ip").querySelectorAll(".ev")].map((e) =>
      (e.textContent ?? "").replace(/\s+/g, " ").trim(),
    );
    expect(evidence).toEqual(["203.0.113.0/24 11,204", "2001:db8:42::/48 830"]);
    expect(text("suggestion-notes")).toBe("Some requests have no known country: a country list would refuse them.");
  });

  it("says when nothing narrower fits, with the notes", async () => {
    reply = (cmd) =>
      cmd === "key_suggestions"
        ? { ...SUGGESTIONS, suggestions: [], notes: ["no recorded addresses in the window: no IP allowlist can be suggested"] }
        : undefined;
    render(TightenDialog, { key: k });
    await waitFor(() => expect(screen.getByTestId("suggestions-empty")).toBeTruthy());
    expect(text("suggestions-empty")).toBe("No narrower setting fits the last 30 days without refusing something.");
    expect(text("suggestion-notes")).toMatch(/^No recorded addresses in the window/);
  });

  it("a failed load says so with a retry; own rules still work", async () => {
    let fail = true;
    reply = (cmd) => {
      if (cmd === "key_suggestions" && fail) throw { code: "unreachable", message: "connection refused", retry_after: null };
      if (cmd === "key_suggestions") return SUGGESTIONS;
      return undefined;
    };
    render(TightenDialog, { key: k });
    await waitFor(() => expect(screen.getByTestId("suggestions-error")).toBeTruthy());
    expect(screen.getByTestId("tighten-ips")).toBeTruthy();
    fail = false;
    await fireEvent.click(within(screen.getByTestId("suggestions-error")).getByRole("button", { name: /try again/i }));
    await waitFor(() => expect(screen.getByTestId("suggestion-ip")).toBeTruthy());
  });
});

describe("building the restriction", () => {
  it("merges chosen suggestions and own fields into one restriction for the replay", async () => {
    reply = (cmd) => (cmd === "key_suggestions" ? SUGGESTIONS : REPORT);
    await open();
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.click(screen.getByTestId("suggestion-rate_limit"));
    await fireEvent.input(screen.getByTestId("tighten-ips"), { target: { value: "198.51.100.7\n203.0.113.0/24" } });
    await fireEvent.input(screen.getByTestId("tighten-countries"), { target: { value: "us, ie" } });
    await fireEvent.click(screen.getByTestId("tighten-scope-write"));
    await fireEvent.input(screen.getByTestId("tighten-per-minute"), { target: { value: "120" } });
    expect(text("tighten-summary")).toMatch(/Only from 203\.0\.113\.0\/24, 2001:db8:42::\/48 and 198\.51\.100\.7/);
    expect(text("tighten-summary")).toMatch(/Read only/);
    expect(text("tighten-summary")).toMatch(/At most 90 requests a minute/);
    await fireEvent.change(screen.getByTestId("tighten-days"), { target: { value: "30" } });
    await fireEvent.click(screen.getByTestId("tighten-replay"));
    await waitFor(() => expect(screen.getByTestId("replay-result")).toBeTruthy());
    expect(sent("replay_restriction")).toEqual([
      {
        id: "key_t",
        days: 30,
        restriction: {
          scopes: ["read"],
          allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48", "198.51.100.7"],
          allowed_countries: ["US", "IE"],
          per_minute: 90,
        },
      },
    ]);
  });

  it("the write scope box is limited to the key's scopes, and the last one cannot be unticked", async () => {
    await open();
    expect(screen.getByTestId("tighten-scope-read")).toBeTruthy();
    expect(screen.getByTestId("tighten-scope-write")).toBeTruthy();
    expect(screen.queryByTestId("tighten-scope-admin")).toBeNull();
    await fireEvent.click(screen.getByTestId("tighten-scope-write"));
    expect((screen.getByTestId("tighten-scope-read") as HTMLInputElement).disabled).toBe(true);
  });

  it("checks the shape of what is typed, says what is wrong, and sends nothing", async () => {
    await open();
    await fireEvent.input(screen.getByTestId("tighten-ips"), { target: { value: "203.0.113.0/24\n10.0.0.300" } });
    await fireEvent.blur(screen.getByTestId("tighten-ips"));
    expect(text("tighten-ips-error")).toMatch(/“10\.0\.0\.300” is not an IP address or CIDR network/);
    await fireEvent.input(screen.getByTestId("tighten-per-minute"), { target: { value: "5000" } });
    await fireEvent.click(screen.getByTestId("tighten-replay"));
    expect(text("tighten-per-minute-error")).toMatch(/already allows 300 a minute/);
    await fireEvent.click(screen.getByTestId("tighten-start"));
    expect(sent("replay_restriction")).toEqual([]);
    expect(sent("propose_restriction")).toEqual([]);
    // What was typed stays.
    expect((screen.getByTestId("tighten-ips") as HTMLTextAreaElement).value).toBe("203.0.113.0/24\n10.0.0.300");
  });

  it("asks for a rule before replaying nothing", async () => {
    await open();
    expect(screen.getByTestId("tighten-summary-empty")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("tighten-replay"));
    expect(text("tighten-rules-error")).toMatch(/Choose a suggestion above, or write a rule below/);
    expect(sent("replay_restriction")).toEqual([]);
  });
});

describe("replay result", () => {
  async function replayWith(report: ReplayReport, days = "7") {
    reply = (cmd) => (cmd === "key_suggestions" ? SUGGESTIONS : report);
    await open();
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.change(screen.getByTestId("tighten-days"), { target: { value: days } });
    await fireEvent.click(screen.getByTestId("tighten-replay"));
    await waitFor(() => expect(screen.getByTestId("replay-result")).toBeTruthy());
  }

  it("gives the share and count, the examples per rule, what could not be judged, and the notes", async () => {
    await replayWith(REPORT);
    expect(text("replay-headline")).toBe("Would have refused 0.3 % of the last 7 days: 41 of 12,034 requests");
    expect(screen.getByTestId("replay-result").classList.contains("tone-warn")).toBe(true);
    expect(text("replay-rule-ip")).toMatch(/^IP allowlist: would have refused 41/);
    expect(text("replay-rule-ip")).toMatch(/41 requests from 198\.51\.100\.0\/24, last seen 2 h ago/);
    expect(text("replay-undetermined-ip")).toMatch(/12 could not be judged from history/);
    expect(text("replay-rule-scope")).toBe("Scopes: refuses nothing");
    expect(text("replay-notes")).toBe('12 requests have no recorded address (verify calls without "ip").');
    expect(screen.getByTestId("replay-result").querySelector("time")?.getAttribute("title")).toMatch(/UTC/);
  });

  it("says between least and most when the rules may overlap", async () => {
    await replayWith({ ...REPORT, refused_at_least: 12, refused_at_most: 41 }, "90");
    expect(text("replay-headline")).toBe(
      "Would have refused 0.3 % of the last 90 days: between 12 and 41 of 12,034 requests",
    );
    expect(sent("replay_restriction")[0].days).toBe(90);
  });

  it("reassures in green when nothing would have been refused", async () => {
    await replayWith({ ...REPORT, refused_at_least: 0, refused_at_most: 0, share: 0, rules: [], notes: [] });
    expect(text("replay-headline")).toBe("Would have refused nothing in the last 7 days: all 12,034 requests fit.");
    expect(screen.getByTestId("replay-result").classList.contains("tone-ok")).toBe(true);
  });

  it("marks the result when the rules change after it", async () => {
    await replayWith(REPORT);
    expect(screen.queryByTestId("replay-stale")).toBeNull();
    await fireEvent.click(screen.getByTestId("suggestion-scope"));
    expect(screen.getByTestId("replay-stale")).toBeTruthy();
  });

  it("a refused replay says why and keeps the input", async () => {
    reply = (cmd) => {
      if (cmd === "key_suggestions") return SUGGESTIONS;
      throw { code: "invalid", message: "restriction.allowed_ips: `x` is not an IP address", retry_after: null };
    };
    await open();
    await fireEvent.input(screen.getByTestId("tighten-ips"), { target: { value: "203.0.113.0/24" } });
    await fireEvent.click(screen.getByTestId("tighten-replay"));
    await waitFor(() => expect(text("replay-error")).toMatch(/is not an IP address/));
    expect((screen.getByTestId("tighten-ips") as HTMLTextAreaElement).value).toBe("203.0.113.0/24");
  });
});

describe("start report-only", () => {
  it("proposes the restriction for the days chosen, closes, stores the key and says so", async () => {
    const proposal = {
      restriction: { scopes: ["read" as const], allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] },
      started_at: iso(NOW),
      ends_at: iso(NOW + 10 * 24 * HOUR),
    };
    reply = (cmd) => (cmd === "key_suggestions" ? SUGGESTIONS : { ...k, proposal });
    await open();
    expect((screen.getByTestId("tighten-period") as HTMLInputElement).value).toBe("7");
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.click(screen.getByTestId("suggestion-scope"));
    await fireEvent.input(screen.getByTestId("tighten-period"), { target: { value: "10" } });
    await fireEvent.click(screen.getByTestId("tighten-start"));
    await waitFor(() => expect(app.tightenTarget).toBeNull());
    expect(sent("propose_restriction")).toEqual([
      {
        id: "key_t",
        days: 10,
        restriction: { scopes: ["read"], allowed_ips: ["203.0.113.0/24", "2001:db8:42::/48"] },
      },
    ]);
    expect(sent("replay_restriction")).toEqual([]);
    expect(app.keyById("key_t")?.proposal).toEqual(proposal);
    expect(toasts.items.map((t) => t.text)).toEqual([
      "Report-only for “Staging deploy” until 22 Mar 2026: what it would refuse is counted, not refused.",
    ]);
  });

  it("refuses a period outside 1–30 days before calling", async () => {
    await open();
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.input(screen.getByTestId("tighten-period"), { target: { value: "45" } });
    await fireEvent.click(screen.getByTestId("tighten-start"));
    expect(text("tighten-period-error")).toMatch(/Between 1 and 30 days/);
    expect(sent("propose_restriction")).toEqual([]);
  });

  it("a refusal is shown, the dialog stays and keeps what was chosen and typed", async () => {
    reply = (cmd) => {
      if (cmd === "key_suggestions") return SUGGESTIONS;
      throw {
        code: "invalid",
        message: "restriction.per_minute: 400 is above the key's 300 a minute; a restriction only narrows",
        retry_after: null,
      };
    };
    await open();
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.input(screen.getByTestId("tighten-countries"), { target: { value: "DE" } });
    await fireEvent.click(screen.getByTestId("tighten-start"));
    await waitFor(() => expect(text("tighten-error")).toMatch(/a restriction only narrows/));
    expect(app.tightenTarget?.id).toBe("key_t");
    expect((screen.getByTestId("suggestion-ip") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId("tighten-countries") as HTMLInputElement).value).toBe("DE");
    expect((screen.getByTestId("tighten-start") as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows progress while starting", async () => {
    let answer: (v: unknown) => void = () => undefined;
    reply = (cmd) => (cmd === "key_suggestions" ? SUGGESTIONS : new Promise((r) => (answer = r)));
    await open();
    await fireEvent.click(screen.getByTestId("suggestion-ip"));
    await fireEvent.click(screen.getByTestId("tighten-start"));
    await waitFor(() => expect(text("tighten-start")).toBe("Starting…"));
    expect((screen.getByTestId("tighten-start") as HTMLButtonElement).disabled).toBe(true);
    answer({ ...k, proposal: { restriction: {}, started_at: iso(NOW), ends_at: iso(NOW) } });
    await waitFor(() => expect(app.tightenTarget).toBeNull());
  });

  it("says a running proposal is replaced; Cancel closes without a call", async () => {
    k = key({
      id: "key_t",
      proposal: { restriction: { per_minute: 10 }, started_at: iso(NOW - HOUR), ends_at: iso(NOW + 6 * 24 * HOUR) },
    });
    app.tightenTarget = k;
    await open();
    expect(text("tighten-replaces")).toMatch(/already counts a proposal until 18 Mar 2026\. Starting this one replaces it\./);
    await fireEvent.click(screen.getByTestId("tighten-cancel"));
    expect(app.tightenTarget).toBeNull();
    expect(calls.map((c) => c.cmd)).toEqual(["key_suggestions"]);
  });
});
