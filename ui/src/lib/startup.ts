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

export function startupMarks(): StartupMark[] {
  return marks.slice();
}
