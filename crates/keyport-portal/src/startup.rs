//! The startup probe of the portal benchmark (`bench/portal.sh`).
//!
//! With `KEYPORT_STARTUP_PROBE=1` in the app's environment, the first time the
//! UI has painted its key list it calls the `startup_ready` command, which
//! prints one line to stdout with the `CLOCK_MONOTONIC` time; the benchmark
//! compares it with the time it started the process. Without the variable the
//! command does nothing.
//!
//! Before the ready line it prints one `KEYPORT_STARTUP_PHASE` line per
//! startup phase (Rust phases marked with [`mark`], UI phases passed to
//! [`startup_ready`]), so the benchmark can say where the time went.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Set to `1` to turn the probe on.
pub const PROBE_ENV: &str = "KEYPORT_STARTUP_PROBE";
/// The first word of the line the probe prints.
pub const READY_PREFIX: &str = "KEYPORT_STARTUP_READY";
/// The first word of each phase line.
pub const PHASE_PREFIX: &str = "KEYPORT_STARTUP_PHASE";

static REPORTED: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<(String, u128)>> = Mutex::new(Vec::new());

/// Records that a startup phase was reached, when the probe is on.
pub fn mark(phase: &str) {
    if !probe_enabled() {
        return;
    }
    if let (Some(ns), Ok(mut marks)) = (monotonic_ns(), MARKS.lock()) {
        marks.push((phase.to_string(), ns));
    }
}

/// A phase of the UI: its name and `performance.now()` in ms.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct UiMark {
    pub name: String,
    pub at_ms: f64,
}

/// Places UI marks on the monotonic clock: `now_ms` is the UI's
/// `performance.now()` when it sent them, `received_ns` the monotonic time
/// they arrived (the call's own latency, about a millisecond, is ignored).
pub fn align(marks: &[UiMark], now_ms: f64, received_ns: u128) -> Vec<(String, u128)> {
    marks
        .iter()
        .filter(|m| m.at_ms.is_finite() && m.at_ms <= now_ms)
        .map(|m| {
            let back_ns = ((now_ms - m.at_ms) * 1e6) as u128;
            (
                format!("ui.{}", m.name),
                received_ns.saturating_sub(back_ns),
            )
        })
        .collect()
}

/// `KEYPORT_STARTUP_PHASE name=<phase> monotonic_ns=<ns>`.
pub fn phase_line(name: &str, ns: u128) -> String {
    format!("{PHASE_PREFIX} name={name} monotonic_ns={ns}")
}

pub fn probe_enabled() -> bool {
    std::env::var_os(PROBE_ENV).is_some_and(|v| v == "1")
}

/// `KEYPORT_STARTUP_READY monotonic_ns=<CLOCK_MONOTONIC in ns>`.
pub fn ready_line(monotonic_ns: Option<u128>) -> String {
    match monotonic_ns {
        Some(ns) => format!("{READY_PREFIX} monotonic_ns={ns}"),
        None => format!("{READY_PREFIX} monotonic_ns=unavailable"),
    }
}

/// Prints the phase lines and the ready line, the first time only and only
/// when the probe is on. Returns whether it printed.
pub fn startup_ready(ui_marks: &[UiMark], ui_now_ms: f64) -> bool {
    if !probe_enabled() || REPORTED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let now = monotonic_ns();
    let mut phases = MARKS.lock().map(|m| m.clone()).unwrap_or_default();
    if let Some(now) = now {
        phases.extend(align(ui_marks, ui_now_ms, now));
    }
    phases.sort_by_key(|(_, ns)| *ns);
    let line = ready_line(now);
    let mut out = std::io::stdout().lock();
    for (name, ns) in &phases {
        let _ = writeln!(out, "{}", phase_line(name, *ns));
    }
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    true
}

/// `CLOCK_MONOTONIC` (the clock `time.monotonic()` and friends read), in ns.
#[cfg(unix)]
pub fn monotonic_ns() -> Option<u128> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Some(u128::try_from(t.tv_sec).ok()? * 1_000_000_000 + u128::try_from(t.tv_nsec).ok()?)
}

#[cfg(not(unix))]
pub fn monotonic_ns() -> Option<u128> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_carries_the_monotonic_time() {
        assert_eq!(
            ready_line(Some(12_345)),
            "KEYPORT_STARTUP_READY monotonic_ns=12345"
        );
        assert_eq!(
            ready_line(None),
            "KEYPORT_STARTUP_READY monotonic_ns=unavailable"
        );
    }

    #[test]
    fn ui_marks_are_placed_back_from_their_arrival() {
        let marks = [
            UiMark {
                name: "script".into(),
                at_ms: 100.0,
            },
            UiMark {
                name: "keys".into(),
                at_ms: 250.5,
            },
            UiMark {
                name: "later".into(),
                at_ms: 999.0,
            },
        ];
        let aligned = align(&marks, 300.0, 10_000_000_000);
        assert_eq!(
            aligned,
            vec![
                ("ui.script".to_string(), 10_000_000_000 - 200_000_000),
                ("ui.keys".to_string(), 10_000_000_000 - 49_500_000),
            ]
        );
        assert_eq!(
            phase_line("ui.keys", 42),
            "KEYPORT_STARTUP_PHASE name=ui.keys monotonic_ns=42"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_ns().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_ns().unwrap();
        assert!(b >= a + 1_000_000, "{a} then {b}");
    }
}
