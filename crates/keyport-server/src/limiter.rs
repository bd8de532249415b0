//! Limiter state in memory: one GCRA cell and a day counter per key, a day
//! counter per account. Counts are written to the database in batches by the
//! flusher, never per request. Only known keys get state, so garbage keys
//! cannot grow memory.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyport_core::limiter::{decide, utc_day, DayQuota, Decision};
use keyport_core::Limits;
use parking_lot::Mutex;

use crate::clock::from_nanos;
use crate::store::DayCount;

#[derive(Debug, Default)]
struct KeyState {
    account_id: String,
    tat: i64,
    day: i64,
    used: u64,
    /// Admitted requests not yet written, per day (usually one entry).
    pending: Vec<(i64, u64)>,
    last_used: Option<i64>,
    last_used_dirty: bool,
}

#[derive(Debug, Default)]
struct DayState {
    day: i64,
    used: u64,
}

impl DayState {
    fn roll(&mut self, today: i64) {
        if self.day != today {
            self.day = today;
            self.used = 0;
        }
    }
}

#[derive(Default)]
pub struct Limiter {
    keys: DashMap<String, Mutex<KeyState>>,
    accounts: DashMap<String, Mutex<DayState>>,
}

/// What the flusher takes out of memory in one go.
#[derive(Debug, Default)]
pub struct Pending {
    pub counts: Vec<DayCount>,
    pub last_used: Vec<(String, DateTime<Utc>)>,
}

impl Limiter {
    /// Decides one request of a known key and, when admitted, counts it.
    pub fn check(
        &self,
        key_id: &str,
        account_id: &str,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> Decision {
        let today = utc_day(now_ns);
        if !self.keys.contains_key(key_id) {
            self.keys.entry(key_id.to_string()).or_insert_with(|| {
                Mutex::new(KeyState {
                    account_id: account_id.to_string(),
                    day: today,
                    ..Default::default()
                })
            });
        }
        if !self.accounts.contains_key(account_id) {
            self.accounts
                .entry(account_id.to_string())
                .or_insert_with(|| {
                    Mutex::new(DayState {
                        day: today,
                        used: 0,
                    })
                });
        }
        let key_entry = self.keys.get(key_id).expect("inserted above");
        let account_entry = self.accounts.get(account_id).expect("inserted above");
        // Lock order is always key, then account.
        let mut key = key_entry.lock();
        let mut account = account_entry.lock();
        if key.day != today {
            key.day = today;
            key.used = 0;
        }
        account.roll(today);
        let (decision, new_tat) = decide(
            limits,
            key.tat,
            now_ns,
            DayQuota {
                used: key.used,
                cap: limits.per_day,
            },
            DayQuota {
                used: account.used,
                cap: account_cap,
            },
        );
        if let Some(tat) = new_tat {
            key.tat = tat;
            key.used += 1;
            account.used += 1;
            match key.pending.last_mut() {
                Some((d, n)) if *d == today => *n += 1,
                _ => key.pending.push((today, 1)),
            }
            key.last_used = Some(key.last_used.map_or(now_ns, |t| t.max(now_ns)));
            key.last_used_dirty = true;
        }
        decision
    }

    /// The newest admitted request of a key, including what is not flushed yet.
    pub fn last_used(&self, key_id: &str) -> Option<DateTime<Utc>> {
        self.keys
            .get(key_id)
            .and_then(|k| k.lock().last_used)
            .map(from_nanos)
    }

    /// Seeds today's counts after a restart, so daily quotas hold across it.
    pub fn preload(&self, counts: &[DayCount], today: i64) {
        for c in counts.iter().filter(|c| c.day == today) {
            self.keys
                .entry(c.key_id.clone())
                .or_insert_with(|| {
                    Mutex::new(KeyState {
                        account_id: c.account_id.clone(),
                        day: today,
                        ..Default::default()
                    })
                })
                .lock()
                .used += c.count;
            let acct = self
                .accounts
                .entry(c.account_id.clone())
                .or_insert_with(|| {
                    Mutex::new(DayState {
                        day: today,
                        used: 0,
                    })
                });
            let mut a = acct.lock();
            a.roll(today);
            a.used += c.count;
        }
    }

    /// Takes everything not yet written. On a failed write, hand it back with
    /// [`Limiter::restore`] so nothing is lost.
    pub fn take_pending(&self) -> Pending {
        let mut out = Pending::default();
        for entry in self.keys.iter() {
            let mut k = entry.lock();
            let k = &mut *k;
            for (day, count) in k.pending.drain(..) {
                out.counts.push(DayCount {
                    key_id: entry.key().clone(),
                    account_id: k.account_id.clone(),
                    day,
                    count,
                });
            }
            if std::mem::take(&mut k.last_used_dirty) {
                if let Some(t) = k.last_used {
                    out.last_used.push((entry.key().clone(), from_nanos(t)));
                }
            }
        }
        out
    }

    pub fn restore(&self, pending: Pending) {
        for c in pending.counts {
            if let Some(entry) = self.keys.get(&c.key_id) {
                let mut k = entry.lock();
                k.pending.insert(0, (c.day, c.count));
            }
        }
        for (key_id, _) in pending.last_used {
            if let Some(entry) = self.keys.get(&key_id) {
                entry.lock().last_used_dirty = true;
            }
        }
    }

    /// Number of keys with limiter state (for tests of bounded memory).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyport_core::Plan;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_800_000_000 * S;

    #[test]
    fn counts_are_pending_until_taken() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert!(
                l.check("k1", "a1", Plan::Free.limits(), Some(1000), NOW)
                    .allowed
            );
        }
        let p = l.take_pending();
        assert_eq!(p.counts.len(), 1);
        assert_eq!(p.counts[0].count, 3);
        assert_eq!(p.last_used.len(), 1);
        assert!(l.take_pending().counts.is_empty());
    }

    #[test]
    fn restore_keeps_counts_after_failure() {
        let l = Limiter::default();
        l.check("k1", "a1", Plan::Free.limits(), Some(1000), NOW);
        let p = l.take_pending();
        l.restore(p);
        l.check("k1", "a1", Plan::Free.limits(), Some(1000), NOW);
        let total: u64 = l.take_pending().counts.iter().map(|c| c.count).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn account_quota_spans_keys() {
        let l = Limiter::default();
        let limits = Plan::Enterprise.limits();
        assert!(l.check("k1", "a1", limits, Some(2), NOW).allowed);
        assert!(l.check("k2", "a1", limits, Some(2), NOW).allowed);
        assert!(!l.check("k3", "a1", limits, Some(2), NOW).allowed);
        assert!(l.check("k4", "a2", limits, Some(2), NOW).allowed);
    }

    #[test]
    fn preload_restores_daily_usage() {
        let l = Limiter::default();
        let today = utc_day(NOW);
        l.preload(
            &[DayCount {
                key_id: "k1".into(),
                account_id: "a1".into(),
                day: today,
                count: 1000,
            }],
            today,
        );
        assert!(
            !l.check("k1", "a1", Plan::Free.limits(), Some(1000), NOW)
                .allowed
        );
        // A new day starts from zero.
        assert!(
            l.check(
                "k1",
                "a1",
                Plan::Free.limits(),
                Some(1000),
                NOW + 86_400 * S
            )
            .allowed
        );
    }
}
