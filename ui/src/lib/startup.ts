/**
 * Startup phases for the benchmark probe (bench/portal.sh): `performance.now()`
 * at each phase, sent once with `startup_ready`. Rust prints them only when
 * the app runs with KEYPORT_STARTUP_PROBE=1.
 */
export type StartupMark = { name: string; at_ms: number };

const marks: StartupMark[] = [];

export function startupMark(name: string) {
  marks.push({ name, at_ms: performance.now() });
}

/** The marks so far, and when the page's HTML arrived (from its navigation timing entry). */
export function startupMarks(): StartupMark[] {
  const html: StartupMark[] = [];
  if (typeof performance.getEntriesByType === "function") {
    const [nav] = performance.getEntriesByType("navigation") as PerformanceNavigationTiming[];
    if (nav && nav.responseEnd > 0) html.push({ name: "html", at_ms: nav.responseEnd });
  }
  return [...html, ...marks];
}
