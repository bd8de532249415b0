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

/** The marks so far, with the page and asset loads from the browser's timing entries. */
export function startupMarks(): StartupMark[] {
  const loads: StartupMark[] = [];
  if (typeof performance.getEntriesByType === "function") {
    const [nav] = performance.getEntriesByType("navigation") as PerformanceNavigationTiming[];
    if (nav && nav.responseEnd > 0) loads.push({ name: "html", at_ms: nav.responseEnd });
    for (const r of performance.getEntriesByType("resource") as PerformanceResourceTiming[]) {
      const kind = r.name.endsWith(".js") ? "js" : r.name.endsWith(".css") ? "css" : null;
      if (kind && r.responseEnd > 0) loads.push({ name: `${kind}_loaded`, at_ms: r.responseEnd });
    }
  }
  return [...loads, ...marks];
}
