//! A bare Tauri 2 window, the baseline of `bench/portal.sh`: one page that,
//! once painted, calls `startup_ready`, which (with `KEYPORT_STARTUP_PROBE=1`)
//! prints the same phase and ready lines as the portal.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod probe {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    static REPORTED: AtomicBool = AtomicBool::new(false);
    static MARKS: Mutex<Vec<(&'static str, u128)>> = Mutex::new(Vec::new());

    fn on() -> bool {
        std::env::var_os("KEYPORT_STARTUP_PROBE").is_some_and(|v| v == "1")
    }

    fn monotonic_ns() -> u128 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
    }

    /// Records a Rust-side phase (as the portal's `startup::mark`).
    pub fn mark(name: &'static str) {
        if on() {
            if let Ok(mut m) = MARKS.lock() {
                m.push((name, monotonic_ns()));
            }
        }
    }

    /// Prints `KEYPORT_STARTUP_PHASE` lines (Rust marks, then the page's
    /// `[name, performance.now()]` marks placed on the monotonic clock) and
    /// `KEYPORT_STARTUP_READY monotonic_ns=<ns>`, once.
    #[tauri::command]
    pub fn startup_ready(marks: Option<Vec<(String, f64)>>, now_ms: Option<f64>) {
        if !on() || REPORTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let now = monotonic_ns();
        let now_ms = now_ms.unwrap_or(0.0);
        let mut out = std::io::stdout().lock();
        for (name, ns) in MARKS.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(out, "KEYPORT_STARTUP_PHASE name={name} monotonic_ns={ns}");
        }
        for (name, at_ms) in marks.unwrap_or_default() {
            if at_ms.is_finite() && at_ms <= now_ms {
                let ns = now.saturating_sub(((now_ms - at_ms) * 1e6) as u128);
                let _ = writeln!(out, "KEYPORT_STARTUP_PHASE name=ui.{name} monotonic_ns={ns}");
            }
        }
        let _ = writeln!(out, "KEYPORT_STARTUP_READY monotonic_ns={now}");
        let _ = out.flush();
    }
}

fn main() {
    probe::mark("main");
    tauri::Builder::default()
        .setup(|_| {
            probe::mark("setup");
            Ok(())
        })
        .on_page_load(|_, page| {
            probe::mark(match page.event() {
                tauri::webview::PageLoadEvent::Started => "page_load_started",
                tauri::webview::PageLoadEvent::Finished => "page_load_finished",
            })
        })
        .invoke_handler(tauri::generate_handler![probe::startup_ready])
        .run(tauri::generate_context!())
        .expect("error while running the bare Tauri app");
}
