//! The startup probe of the portal benchmark (`bench/portal.sh`).
//!
//! With `KEYPORT_STARTUP_PROBE=1` in the app's environment, the first time the
//! UI has painted its key list it calls the `startup_ready` command, which
//! prints one line to stdout with the `CLOCK_MONOTONIC` time; the benchmark
//! compares it with the time it started the process. Without the variable the
//! command does nothing.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set to `1` to turn the probe on.
pub const PROBE_ENV: &str = "KEYPORT_STARTUP_PROBE";
/// The first word of the line the probe prints.
pub const READY_PREFIX: &str = "KEYPORT_STARTUP_READY";

static REPORTED: AtomicBool = AtomicBool::new(false);

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

/// Prints the ready line, the first time only and only when the probe is
/// on. Returns whether it printed.
pub fn startup_ready() -> bool {
    if !probe_enabled() || REPORTED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let line = ready_line(monotonic_ns());
    let mut out = std::io::stdout().lock();
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

    #[cfg(unix)]
    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_ns().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_ns().unwrap();
        assert!(b >= a + 1_000_000, "{a} then {b}");
    }
}
