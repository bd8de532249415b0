//! When the usage flush runs. A flush's cost grows with the keys it writes
//! (SQLite and PostgreSQL rewrite each key's minute, hour, day and
//! breakdown rows, whatever its count), not with the requests counted. So
//! under a load spread over many keys, flushing every second spends CPU
//! the request path needs on rewriting the same rows; spaced out, each
//! write carries more requests. Small flushes keep the base interval.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Flushes of fewer keys than this are cheap: never spaced out.
pub const STRETCH_MIN_KEYS: usize = 1_000;

/// A large flush is followed by at least this many times its own duration,
/// so flushing takes at most ~1/21 (under 5 %) of the time.
pub const DUTY_FACTOR: u32 = 20;

/// The wait from the start of one flush to the start of the next, after
/// one that wrote `keys` keys in `took`: `base` for small flushes, else 20
/// times `took`, between `base` and `max`.
pub fn next_wait(base: Duration, max: Duration, took: Duration, keys: usize) -> Duration {
    if keys < STRETCH_MIN_KEYS {
        return base;
    }
    took.saturating_mul(DUTY_FACTOR).clamp(base, max.max(base))
}

/// Runs `flush` (which returns the keys it wrote) first after `base`, then
/// by [`next_wait`], until `stopped` changes. A failed flush is retried
/// after `base`.
pub async fn run<F, Fut, E>(
    base: Duration,
    max: Duration,
    mut stopped: watch::Receiver<bool>,
    flush: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: std::fmt::Display,
{
    let mut due = Instant::now() + base;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stopped.changed() => return,
        }
        let started = Instant::now();
        let wait = match flush().await {
            Ok(keys) => next_wait(base, max, started.elapsed(), keys),
            Err(e) => {
                tracing::error!(error = %e, "usage flush failed; will retry");
                base
            }
        };
        // A flush that overran its wait starts the next one at once, as a
        // delayed tick would: never a burst of catch-up flushes.
        due = (started + wait).max(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const S: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn small_flushes_keep_the_base_interval() {
        assert_eq!(next_wait(S, MAX, ms(900), STRETCH_MIN_KEYS - 1), S);
        assert_eq!(next_wait(S, MAX, ms(900), 0), S);
    }

    #[test]
    fn large_flushes_are_spaced_by_their_cost_up_to_the_max() {
        assert_eq!(next_wait(S, MAX, ms(20), 20_000), S, "cheap: base");
        assert_eq!(next_wait(S, MAX, ms(100), 20_000), ms(2_000));
        assert_eq!(next_wait(S, MAX, ms(400), 20_000), MAX);
        assert_eq!(next_wait(S, MAX, Duration::MAX, 20_000), MAX);
        // A max below the base means no stretching.
        assert_eq!(next_wait(S, ms(10), ms(400), 20_000), S);
    }

    /// The loop waits what the last flush's size and time call for: after
    /// a large slow flush, 20 × its time; after a small one, the base.
    #[tokio::test(start_paused = true)]
    async fn the_loop_spaces_flushes_by_the_last_one() {
        let (stop, stopped) = watch::channel(false);
        let starts = Arc::new(Mutex::new(Vec::new()));
        let n = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let task = {
            let (starts, n) = (starts.clone(), n.clone());
            tokio::spawn(run(ms(100), ms(3_000), stopped, move || {
                let (starts, n) = (starts.clone(), n.clone());
                async move {
                    starts.lock().unwrap().push(t0.elapsed());
                    match n.fetch_add(1, Ordering::SeqCst) {
                        // 50 ms for 5,000 keys: next start 1 s after this one.
                        0 => {
                            tokio::time::sleep(ms(50)).await;
                            Ok(5_000)
                        }
                        1 => Err("store down"),
                        _ => Ok(3),
                    }
                }
            }))
        };
        tokio::time::sleep(ms(1_350)).await;
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(
            *starts.lock().unwrap(),
            vec![ms(100), ms(1_100), ms(1_200), ms(1_300)]
        );
    }
}
