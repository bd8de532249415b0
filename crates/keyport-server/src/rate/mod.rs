//! Rate decisions: a GCRA cell and a day count per key, a day count per
//! account. They sit behind [`RateStore`] so the state can live elsewhere
//! without the verify path changing: [`MemoryRates`] here is the
//! single-instance one, [`redis::RedisRates`] the one shared by instances.
//!
//! The verify path asks the store once per key for a [`RateCell`], keeps it
//! in the key cache, and from then on decides with one synchronous call on
//! the cell (`try_decide`): no map lookup and no await. Only a shared cell
//! whose local token lease is empty answers "ask later", and the caller then
//! awaits `decide_remote`. Only known keys get a cell, so garbage keys
//! cannot grow memory.

pub mod redis;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use keyport_core::limiter::{decide, utc_day, DayQuota, Decision};
use keyport_core::Limits;
use parking_lot::Mutex;
use std::sync::Arc;

use crate::store::DayCount;

/// Maps keyed by server-made ids, hashed with a fast seeded hasher (the
/// default SipHash showed up in the verify profile).
pub(crate) type IdMap<V> = DashMap<String, V, foldhash::fast::RandomState>;

/// Where rate state lives.
pub trait RateStore: Send + Sync {
    /// The cell deciding a key's requests (and counting its account's day),
    /// made on first use. Calling it again for the same key gives a cell on
    /// the same state.
    fn cell(&self, key_id: &str, account_id: &str, now_ns: i64) -> Arc<dyn RateCell>;

    /// Seeds the admitted counts of day `today` (from the database after a
    /// restart), so daily quotas hold across it.
    fn preload(&self, counts: &[DayCount], today: i64);

    /// Number of keys with rate state (for tests of bounded memory).
    fn tracked_keys(&self) -> usize;

    /// The shared store's state, for readiness and metrics; `None` when the
    /// state is this process's own.
    fn shared(&self) -> Option<SharedState> {
        None
    }
}

/// What a shared rate store reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedState {
    /// Whether the shared store answers; when not, limits are this
    /// instance's share of them.
    pub up: bool,
    /// Instances seen by the heartbeat (the share is 1/instances).
    pub instances: u32,
    /// Verifies decided from a local lease or a cached denial.
    pub lease_hits: u64,
    /// Verifies that waited on a round trip to the shared store.
    pub lease_misses: u64,
    /// Verifies decided by the local fallback while the store was down.
    pub fallback: u64,
}

/// One key's rate state.
pub trait RateCell: Send + Sync {
    /// Decides one request at `now_ns` when it can without waiting and, when
    /// admitted, takes its token and counts it against the key's and the
    /// account's day. `None` means "ask [`RateCell::decide_remote`]".
    fn try_decide(&self, limits: Limits, account_cap: Option<u32>, now_ns: i64)
        -> Option<Decision>;

    /// Decides one request that `try_decide` could not: may wait on a
    /// round trip to shared state.
    fn decide_remote(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> BoxFuture<'_, Decision>;
}

/// Rate state in this process's memory.
#[derive(Default)]
pub struct MemoryRates {
    keys: IdMap<Arc<MemoryCell>>,
    accounts: IdMap<Arc<AccountDay>>,
}

/// An account's admitted requests today, shared by its keys' cells (which
/// also find the account's id here rather than each holding a copy).
#[derive(Debug)]
struct AccountDay {
    id: String,
    day: Mutex<DayCounter>,
}

#[derive(Debug, Default)]
struct DayCounter {
    day: i64,
    used: u64,
}

impl DayCounter {
    fn roll(&mut self, today: i64) {
        if self.day != today {
            self.day = today;
            self.used = 0;
        }
    }
}

#[derive(Debug, Default)]
struct KeyRate {
    /// GCRA's theoretical arrival time, 0 for never used.
    tat: i64,
    day: DayCounter,
}

struct MemoryCell {
    key: Mutex<KeyRate>,
    account: Arc<AccountDay>,
}

impl MemoryRates {
    fn account(&self, account_id: &str, day: i64) -> Arc<AccountDay> {
        if let Some(a) = self.accounts.get(account_id) {
            return a.clone();
        }
        self.accounts
            .entry(account_id.to_string())
            .or_insert_with(|| {
                Arc::new(AccountDay {
                    id: account_id.to_string(),
                    day: Mutex::new(DayCounter { day, used: 0 }),
                })
            })
            .clone()
    }

    /// Requests admitted on day `today`, per key: (key id, account id, count).
    pub(crate) fn admitted(&self, today: i64) -> Vec<(String, String, u64)> {
        self.keys
            .iter()
            .filter_map(|e| {
                let k = e.value().key.lock();
                (k.day.day == today && k.day.used > 0)
                    .then(|| (e.key().clone(), e.value().account.id.clone(), k.day.used))
            })
            .collect()
    }

    fn key(&self, key_id: &str, account_id: &str, day: i64) -> Arc<MemoryCell> {
        if let Some(k) = self.keys.get(key_id) {
            return k.clone();
        }
        let account = self.account(account_id, day);
        self.keys
            .entry(key_id.to_string())
            .or_insert_with(|| {
                Arc::new(MemoryCell {
                    key: Mutex::new(KeyRate {
                        tat: 0,
                        day: DayCounter { day, used: 0 },
                    }),
                    account,
                })
            })
            .clone()
    }
}

impl RateStore for MemoryRates {
    fn cell(&self, key_id: &str, account_id: &str, now_ns: i64) -> Arc<dyn RateCell> {
        self.key(key_id, account_id, utc_day(now_ns))
    }

    fn preload(&self, counts: &[DayCount], today: i64) {
        for c in counts.iter().filter(|c| c.day == today) {
            let cell = self.key(&c.key_id, &c.account_id, today);
            let mut k = cell.key.lock();
            k.day.roll(today);
            k.day.used += c.count;
            let mut a = cell.account.day.lock();
            a.roll(today);
            a.used += c.count;
        }
    }

    fn tracked_keys(&self) -> usize {
        self.keys.len()
    }
}

impl RateCell for MemoryCell {
    fn try_decide(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> Option<Decision> {
        Some(self.decide(limits, account_cap, now_ns))
    }

    fn decide_remote(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> BoxFuture<'_, Decision> {
        Box::pin(std::future::ready(self.decide(limits, account_cap, now_ns)))
    }
}

impl MemoryCell {
    fn decide(&self, limits: Limits, account_cap: Option<u32>, now_ns: i64) -> Decision {
        let today = utc_day(now_ns);
        // Lock order is always key, then account.
        let mut key = self.key.lock();
        let mut account = self.account.day.lock();
        key.day.roll(today);
        account.roll(today);
        let (decision, new_tat) = decide(
            limits,
            key.tat,
            now_ns,
            DayQuota {
                used: key.day.used,
                cap: limits.per_day,
            },
            DayQuota {
                used: account.used,
                cap: account_cap,
            },
        );
        if let Some(tat) = new_tat {
            key.tat = tat;
            key.day.used += 1;
            account.used += 1;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyport_core::Plan;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_800_000_000 * S;

    fn decide(cell: &dyn RateCell, limits: Limits, cap: u32, now: i64) -> Decision {
        cell.try_decide(limits, Some(cap), now)
            .expect("memory cells always decide at once")
    }

    fn allowed(r: &MemoryRates, key: &str, account: &str, limits: Limits, cap: u32) -> bool {
        decide(&*r.cell(key, account, NOW), limits, cap, NOW).allowed
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let r = MemoryRates::default();
        let cell = r.cell("k1", "a1", NOW);
        let limits = Plan::Free.limits();
        let admitted = (0..100)
            .filter(|_| decide(&*cell, limits, 1000, NOW).allowed)
            .count();
        assert_eq!(admitted as u32, limits.burst);
        let refused = decide(&*cell, limits, 1000, NOW);
        assert!(!refused.allowed);
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
        // One emission interval later (60 s / 10 per minute) there is room again.
        assert!(decide(&*cell, limits, 1000, NOW + 6 * S).allowed);
    }

    #[test]
    fn cells_of_one_key_share_state() {
        let r = MemoryRates::default();
        let limits = Plan::Free.limits();
        for _ in 0..limits.burst {
            assert!(allowed(&r, "k1", "a1", limits, 1000));
        }
        assert!(!allowed(&r, "k1", "a1", limits, 1000));
        assert!(allowed(&r, "k2", "a1", limits, 1000));
        assert_eq!(r.tracked_keys(), 2);
    }

    #[test]
    fn account_quota_spans_keys() {
        let r = MemoryRates::default();
        let limits = Plan::Enterprise.limits();
        assert!(allowed(&r, "k1", "a1", limits, 2));
        assert!(allowed(&r, "k2", "a1", limits, 2));
        assert!(!allowed(&r, "k3", "a1", limits, 2));
        assert!(allowed(&r, "k4", "a2", limits, 2));
    }

    #[test]
    fn preload_restores_daily_usage() {
        let r = MemoryRates::default();
        let today = utc_day(NOW);
        r.preload(
            &[DayCount {
                key_id: "k1".into(),
                account_id: "a1".into(),
                day: today,
                count: 1000,
            }],
            today,
        );
        let limits = Plan::Free.limits();
        assert!(!allowed(&r, "k1", "a1", limits, 1000));
        // The account's day is used up for its other keys too.
        assert!(!allowed(&r, "k2", "a1", limits, 1000));
        // A new day starts from zero.
        assert!(decide(&*r.cell("k1", "a1", NOW), limits, 1000, NOW + 86_400 * S).allowed);
    }

    #[test]
    fn counts_of_other_days_are_not_preloaded() {
        let r = MemoryRates::default();
        let today = utc_day(NOW);
        r.preload(
            &[DayCount {
                key_id: "k1".into(),
                account_id: "a1".into(),
                day: today - 1,
                count: 1000,
            }],
            today,
        );
        assert!(allowed(&r, "k1", "a1", Plan::Free.limits(), 1000));
    }
}
