//! A bare Tauri 2 window, the baseline of `bench/portal.sh`: one page that,
//! once painted, calls `startup_ready`, which (with `KEYPORT_STARTUP_PROBE=1`)
//! prints the same ready line as the portal.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod probe {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    static REPORTED: AtomicBool = AtomicBool::new(false);

    /// `KEYPORT_STARTUP_READY monotonic_ns=<CLOCK_MONOTONIC in ns>`, once.
    #[tauri::command]
    pub fn startup_ready() {
        let on = std::env::var_os("KEYPORT_STARTUP_PROBE").is_some_and(|v| v == "1");
        if !on || REPORTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let ns = t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "KEYPORT_STARTUP_READY monotonic_ns={ns}");
        let _ = out.flush();
    }
}

fn main() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![probe::startup_ready])
        .run(tauri::generate_context!())
        .expect("error while running the bare Tauri app");
}
