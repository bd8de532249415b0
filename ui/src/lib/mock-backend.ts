// DEV ONLY. An in-memory implementation of docs/portal-commands.md for looking
// at the UI in a plain browser (`vite` dev server or a `--mode mock` build).
// api.ts imports it only when __KEYPORT_MOCK__ is true AND the page is not in
// Tauri; the production build does not contain it.
//
// Scenarios, chosen with ?mock=NAME: demo (default), fresh (no keys at all),
// starter (only the admin key), atcap (the plan's key cap reached),
// disconnected, unreachable, unauthorized, nokeychain, ratelimited. ?delay=MS sets the latency (default 250).
// Webhooks: an endpoint whose host has "down" or "fail" in it (or ends in
// .invalid) never answers; every other one answers 200 within a second.
// Folder scan: ?scan=cancel answers as if the picker was cancelled, ?scan=clean
// finds nothing; otherwise a working key, a revoked one and a placeholder.
// Leak reports: "Billing worker (2026)" was found in a public commit and
// quarantined (its alert is open); "Old CI runner" was found in a gist and revoked.
// Restrictions: "Analytics dashboard" counts a report-only IP allowlist (the
// billing hosts' network would be refused: would-deny traffic since 2 days);
// "Tighten this key…" on "Staging deploy" has a suggestion of every kind.
// Enrollment: code 7K3QM-X9D2A-BC4EF-GH5JK (any http(s) service URL, e.g.
// http://127.0.0.1:8080) is for "Acme Corp"; every other code was "already used".
//
// The parts, in ./mock/: fixtures.ts (the scenarios' data), commands.ts (the
// commands api.ts invokes, as types), handlers/ (one handler per command,
// checked against those types), state.ts (the service in memory),
// key-format.ts (keys with keyport-core's checksum), usage.ts and
// webhook-worker.ts (simulated traffic and deliveries), restrict.ts (the
// service's restriction checks, replay and suggestions over that traffic).
import { SCENARIOS, type ScenarioName } from "./mock/fixtures";
import { dispatch } from "./mock/handlers";
import { createState } from "./mock/state";

const params = new URLSearchParams(typeof location === "undefined" ? "" : location.search);
const asked = params.get("mock") ?? "demo";
const scenario: ScenarioName = Object.hasOwn(SCENARIOS, asked) ? (asked as ScenarioName) : "demo";
const delay = Number(params.get("delay") ?? 250);

const state = createState({ scenario, scan: params.get("scan") });

export async function mockInvoke(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
  await new Promise((r) => setTimeout(r, delay));
  // Hand out copies, like IPC would.
  return structuredClone(dispatch(state, cmd, args));
}

// Mark the page so a screenshot can never be mistaken for the real app
// (CSSOM styles: allowed by the CSP, unlike a style attribute).
if (typeof document !== "undefined") {
  const flag = document.createElement("div");
  flag.textContent = `Mock backend (${scenario})`;
  flag.setAttribute("aria-hidden", "true");
  Object.assign(flag.style, {
    position: "fixed",
    bottom: "6px",
    left: "50%",
    transform: "translateX(-50%)",
    zIndex: "90",
    padding: "2px 8px",
    borderRadius: "10px",
    background: "rgba(240,181,74,0.18)",
    color: "#9a5b00",
    font: "11px system-ui, sans-serif",
    pointerEvents: "none",
  });
  document.body.append(flag);
}
