//! Background threads run below the request path's CPU priority. `POST
//! /v1/verify` needs no database and no background job, so on a busy machine
//! a usage flush, an anomaly scan or a management query must not take its CPU
//! (measured with `bench/verify.sh`: p99 3.5 ms → under 2 ms). On Linux the
//! nice value is per thread; elsewhere these do nothing.

/// How much lower than the rest of the process background threads run, in
/// Unix nice steps.
pub const BACKGROUND_NICE: i32 = 10;

/// The nice value background threads get: the main thread's plus
/// [`BACKGROUND_NICE`], at most 19 (the same whichever thread asks).
#[cfg(target_os = "linux")]
pub fn background_nice() -> i32 {
    let base = nice_in("/proc/self/stat").unwrap_or(0);
    base.saturating_add(BACKGROUND_NICE).min(19)
}

/// The nice value in a `/proc/.../stat` file (its 19th field).
#[cfg(target_os = "linux")]
fn nice_in(stat_path: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields restart after the command name, which may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(16)?.parse().ok()
}

/// Lowers the calling thread's priority.
#[cfg(target_os = "linux")]
pub fn lower_current_thread() {
    // pid 0 (None) is the calling thread on Linux.
    let nice = background_nice();
    if let Err(e) = rustix::process::setpriority_process(None, nice) {
        tracing::debug!(error = %e, "could not lower a background thread's priority");
    }
}

/// Lowers the priority of every thread of this process whose name starts
/// with `prefix` (threads a library starts, such as sqlx's SQLite workers).
#[cfg(target_os = "linux")]
pub fn lower_threads_named(prefix: &str) {
    use rustix::process::{setpriority_process, Pid};
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    let nice = background_nice();
    for task in tasks.flatten() {
        let named = std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|name| name.starts_with(prefix));
        let tid = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse().ok())
            .and_then(Pid::from_raw);
        if let (true, Some(tid)) = (named, tid) {
            if let Err(e) = setpriority_process(Some(tid), nice) {
                tracing::debug!(error = %e, "could not lower a thread's priority");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_current_thread() {}

#[cfg(not(target_os = "linux"))]
pub fn lower_threads_named(_prefix: &str) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_background_thread_runs_below_the_process() {
        let main = nice_in("/proc/self/stat").unwrap();
        let lowered = std::thread::spawn(|| {
            lower_current_thread();
            nice_in("/proc/thread-self/stat").unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (main + BACKGROUND_NICE).min(19));
        // Only that thread: this one is where it was.
        assert_eq!(nice_in("/proc/thread-self/stat").unwrap(), main);
        // Asked from a lowered thread, the target is still main + 10.
        let asked = std::thread::spawn(|| {
            lower_current_thread();
            background_nice()
        })
        .join()
        .unwrap();
        assert_eq!(asked, (main + BACKGROUND_NICE).min(19));
    }
}
