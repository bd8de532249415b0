/**
 * Startup phases for the benchmark probe (bench/portal.sh): `performance.now()`
 * at each phase, sent once with `startup_ready`. Rust prints them only when
 * the app runs with KEYPORT_STARTUP_PROBE=1.
 */
export type StartupMark = { name: string; at_ms: number };

// The first of the page's modules to run (main.ts imports it first): when
// the script files had arrived and evaluation began.
const marks: StartupMark[] = [{ name: "modules", at_ms: performance.now() }];

export function startupMark(name: string) {
  marks.push({ name, at_ms: performance.now() });
}

/** The marks so far, and the HTML's phases (from its navigation timing entry). */
export function startupMarks(): StartupMark[] {
  const html: StartupMark[] = [];
  if (typeof performance.getEntriesByType === "function") {
    const [nav] = performance.getEntriesByType("navigation") as PerformanceNavigationTiming[];
    if (nav) {
      // Request sent, first byte, whole HTML, and the document parsed.
      const phases: [string, number][] = [
        ["html_request", nav.requestStart],
        ["html_first_byte", nav.responseStart],
        ["html", nav.responseEnd],
        ["dom_interactive", nav.domInteractive],
      ];
      for (const [name, at] of phases) if (at > 0) html.push({ name, at_ms: at });
    }
  }
  return [...html, ...marks];
}
