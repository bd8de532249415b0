//! Limiter state in memory: one GCRA cell and a day counter per key, a day
//! counter per account. Counts are written to the database in batches by the
//! flusher, never per request. Only known keys get state, so garbage keys
//! cannot grow memory.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyport_core::limiter::{decide, utc_day, DayQuota, Decision};
use keyport_core::usage::{truncate, MAX_ENDPOINT_LEN};
use keyport_core::{Counts, Limits, Outcome};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::clock::from_nanos;
use crate::store::{DayCount, DimensionRow, UsageBatch, UsageRow};

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
    usage: PendingUsage,
    /// Endpoints this key has called, bounded; the rest count as "other".
    endpoints: HashSet<String>,
}

/// Usage counted in memory since the last flush.
#[derive(Debug, Default)]
struct PendingUsage {
    /// (minute start in unix seconds, counts), usually one or two entries.
    minutes: Vec<(i64, Counts)>,
    endpoints: HashMap<(i64, String), u64>,
    countries: HashMap<(i64, String), u64>,
}

/// Longest country value kept: two-letter codes and `unknown`.
const MAX_COUNTRY_LEN: usize = 8;

/// Most distinct endpoints kept per key.
pub const MAX_ENDPOINTS_PER_KEY: usize = 100;
pub const OTHER_ENDPOINT: &str = "(other)";

/// One request's usage facts.
#[derive(Debug, Clone, Copy)]
pub struct UsageEvent<'a> {
    pub outcome: Outcome,
    /// Folded endpoint (gateway only).
    pub endpoint: Option<&'a str>,
    /// Country from a trusted proxy (gateway only).
    pub country: Option<&'a str>,
}

#[derive(Debug, Default)]
struct DayState {
    day: i64,
    used: u64,
}

impl KeyState {
    /// Counts one request by minute and outcome, endpoint and country.
    fn count(&mut self, now_ns: i64, event: UsageEvent<'_>) {
        let minute = bucket(now_ns, 60);
        let one = Counts::one(event.outcome);
        match self.usage.minutes.last_mut() {
            Some((t, c)) if *t == minute => c.add(&one),
            _ => self.usage.minutes.push((minute, one)),
        }
        if let Some(ep) = event.endpoint {
            let ep = truncate(ep, MAX_ENDPOINT_LEN);
            let known = self.endpoints.contains(ep);
            let name = if known || self.endpoints.len() < MAX_ENDPOINTS_PER_KEY {
                if !known {
                    self.endpoints.insert(ep.to_string());
                }
                ep
            } else {
                OTHER_ENDPOINT
            };
            *self
                .usage
                .endpoints
                .entry((minute, name.to_string()))
                .or_default() += 1;
        }
        if let Some(c) = event.country {
            let c = truncate(c, MAX_COUNTRY_LEN);
            *self
                .usage
                .countries
                .entry((minute, c.to_string()))
                .or_default() += 1;
        }
    }
}

/// What `check` counts as usage, under the same lock as the decision.
#[derive(Debug, Clone, Copy)]
pub enum Count<'a> {
    Nothing,
    /// Count only a refusal by the limiter (as `rate_limited`); the caller
    /// counts the outcome of an admitted request later (the gateway).
    OnRefusal(UsageEvent<'a>),
    /// Count the request either way: as given when admitted, as
    /// `rate_limited` when refused (verify).
    Always(UsageEvent<'a>),
}

impl DayState {
    fn roll(&mut self, today: i64) {
        if self.day != today {
            self.day = today;
            self.used = 0;
        }
    }
}

/// Maps keyed by server-made ids, hashed with a fast seeded hasher (the
/// default SipHash showed up in the verify profile).
pub(crate) type IdMap<V> = DashMap<String, V, foldhash::fast::RandomState>;

#[derive(Default)]
pub struct Limiter {
    keys: IdMap<Arc<Mutex<KeyState>>>,
    accounts: IdMap<Arc<Mutex<DayState>>>,
}

/// A key's and its account's limiter state, held by the service's key cache
/// so a verify finds them without two more map lookups. Entries are never
/// removed from the limiter, so a slot stays the key's state for good.
#[derive(Clone)]
pub struct Slots {
    key: Arc<Mutex<KeyState>>,
    account: Arc<Mutex<DayState>>,
}

/// What the flusher takes out of memory in one go.
#[derive(Debug, Default)]
pub struct Pending {
    pub counts: Vec<DayCount>,
    pub last_used: Vec<(String, DateTime<Utc>)>,
    pub usage: UsageBatch,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty() && self.usage.is_empty()
    }
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

fn bucket(now_ns: i64, secs: i64) -> i64 {
    now_ns.div_euclid(NANOS_PER_SEC).div_euclid(secs) * secs
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
        count: Count<'_>,
    ) -> Decision {
        let slots = self.slots(key_id, account_id, now_ns);
        self.check_slots(&slots, limits, account_cap, now_ns, count)
    }

    /// The state of a key and its account, made on first use.
    pub fn slots(&self, key_id: &str, account_id: &str, now_ns: i64) -> Slots {
        let today = utc_day(now_ns);
        Slots {
            key: self.key_state(key_id, account_id, today),
            account: self.account_state(account_id, today),
        }
    }

    /// A key's state, made (for `day`) on first use.
    fn key_state(&self, key_id: &str, account_id: &str, day: i64) -> Arc<Mutex<KeyState>> {
        if let Some(state) = self.keys.get(key_id) {
            return state.clone();
        }
        self.keys
            .entry(key_id.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(KeyState {
                    account_id: account_id.to_string(),
                    day,
                    ..Default::default()
                }))
            })
            .clone()
    }

    /// An account's daily count, made (for `day`) on first use.
    fn account_state(&self, account_id: &str, day: i64) -> Arc<Mutex<DayState>> {
        if let Some(state) = self.accounts.get(account_id) {
            return state.clone();
        }
        self.accounts
            .entry(account_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(DayState { day, used: 0 })))
            .clone()
    }

    /// [`Limiter::check`] on state already looked up.
    pub fn check_slots(
        &self,
        slots: &Slots,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
        count: Count<'_>,
    ) -> Decision {
        let today = utc_day(now_ns);
        // Lock order is always key, then account.
        let mut key = slots.key.lock();
        let mut account = slots.account.lock();
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
        match count {
            Count::Always(e) if decision.allowed => key.count(now_ns, e),
            Count::Always(e) | Count::OnRefusal(e) if !decision.allowed => key.count(
                now_ns,
                UsageEvent {
                    outcome: Outcome::RateLimited,
                    ..e
                },
            ),
            _ => {}
        }
        decision
    }

    /// Marks a key as used now (its `last_used_at`, flushed in the next
    /// batch) without counting a request against its limits or usage.
    pub fn touch(&self, key_id: &str, account_id: &str, now_ns: i64) {
        let state = self.key_state(key_id, account_id, utc_day(now_ns));
        let mut key = state.lock();
        key.last_used = Some(key.last_used.map_or(now_ns, |t| t.max(now_ns)));
        key.last_used_dirty = true;
    }

    /// Counts one request of a known key by outcome (and, for the gateway,
    /// endpoint and country). Memory only; the flusher writes it.
    pub fn record(&self, key_id: &str, account_id: &str, now_ns: i64, event: UsageEvent<'_>) {
        self.key_state(key_id, account_id, utc_day(now_ns))
            .lock()
            .count(now_ns, event);
    }

    /// Seeds the endpoints each key has called, so the cardinality bound
    /// holds across restarts.
    pub fn preload_endpoints(&self, rows: &[(String, String, String)]) {
        for (key_id, account_id, endpoint) in rows {
            // Day 0: the key's first request rolls its day forward.
            self.key_state(key_id, account_id, 0)
                .lock()
                .endpoints
                .insert(truncate(endpoint, MAX_ENDPOINT_LEN).to_string());
        }
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
            self.key_state(&c.key_id, &c.account_id, today).lock().used += c.count;
            let acct = self.account_state(&c.account_id, today);
            let mut a = acct.lock();
            a.roll(today);
            a.used += c.count;
        }
    }

    /// Takes everything not yet written. A failed write is kept by the
    /// service and retried as it is (same batch id), never merged back.
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
            let usage = std::mem::take(&mut k.usage);
            for (t, counts) in usage.minutes {
                out.usage.minutes.push(UsageRow {
                    key_id: entry.key().clone(),
                    account_id: k.account_id.clone(),
                    t,
                    counts,
                });
            }
            let dims = |m: HashMap<(i64, String), u64>| {
                m.into_iter().map(|((t, value), count)| DimensionRow {
                    key_id: entry.key().clone(),
                    t,
                    value,
                    count,
                })
            };
            out.usage.endpoints.extend(dims(usage.endpoints));
            out.usage.countries.extend(dims(usage.countries));
        }
        out
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

    /// Whether key `k1` of account `a1` (free plan, account cap 1000) is
    /// admitted at `now`, counting nothing but the limits.
    fn free_k1(l: &Limiter, now: i64) -> bool {
        l.check(
            "k1",
            "a1",
            Plan::Free.limits(),
            Some(1000),
            now,
            Count::Nothing,
        )
        .allowed
    }

    #[test]
    fn counts_are_pending_until_taken() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert!(free_k1(&l, NOW));
        }
        let p = l.take_pending();
        assert_eq!(p.counts.len(), 1);
        assert_eq!(p.counts[0].count, 3);
        assert_eq!(p.last_used.len(), 1);
        assert!(l.take_pending().counts.is_empty());
    }

    #[test]
    fn usage_is_counted_by_minute_outcome_endpoint_country() {
        let l = Limiter::default();
        let ev = |o, e: Option<&'static str>, c: Option<&'static str>| UsageEvent {
            outcome: o,
            endpoint: e,
            country: c,
        };
        l.record(
            "k1",
            "a1",
            NOW,
            ev(Outcome::Success, Some("GET /a"), Some("DE")),
        );
        l.record(
            "k1",
            "a1",
            NOW + 1,
            ev(Outcome::Denied, Some("GET /a"), Some("DE")),
        );
        l.record(
            "k1",
            "a1",
            NOW + 61 * S,
            ev(Outcome::ServerError, None, None),
        );
        let p = l.take_pending();
        assert_eq!(p.usage.minutes.len(), 2);
        assert_eq!(p.usage.minutes[0].counts.get(Outcome::Success), 1);
        assert_eq!(p.usage.minutes[0].counts.get(Outcome::Denied), 1);
        assert_eq!(p.usage.minutes[0].t % 60, 0);
        assert_eq!(p.usage.endpoints[0].count, 2);
        assert_eq!(p.usage.countries[0].value, "DE");
        assert!(l.take_pending().is_empty());
    }

    #[test]
    fn endpoint_cardinality_is_bounded() {
        let l = Limiter::default();
        let names: Vec<String> = (0..MAX_ENDPOINTS_PER_KEY + 5)
            .map(|i| {
                format!(
                    "GET /e{}",
                    char::from(b'a' + (i % 26) as u8)
                        .to_string()
                        .repeat(i / 26 + 1)
                )
            })
            .collect();
        for n in &names {
            l.record(
                "k1",
                "a1",
                NOW,
                UsageEvent {
                    outcome: Outcome::Success,
                    endpoint: Some(n),
                    country: None,
                },
            );
        }
        let p = l.take_pending();
        assert_eq!(p.usage.endpoints.len(), MAX_ENDPOINTS_PER_KEY + 1);
        let other = p
            .usage
            .endpoints
            .iter()
            .find(|r| r.value == OTHER_ENDPOINT)
            .unwrap();
        assert_eq!(other.count, 5);
    }

    #[test]
    fn account_quota_spans_keys() {
        let l = Limiter::default();
        let limits = Plan::Enterprise.limits();
        assert!(
            l.check("k1", "a1", limits, Some(2), NOW, Count::Nothing)
                .allowed
        );
        assert!(
            l.check("k2", "a1", limits, Some(2), NOW, Count::Nothing)
                .allowed
        );
        assert!(
            !l.check("k3", "a1", limits, Some(2), NOW, Count::Nothing)
                .allowed
        );
        assert!(
            l.check("k4", "a2", limits, Some(2), NOW, Count::Nothing)
                .allowed
        );
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
        assert!(!free_k1(&l, NOW));
        // A new day starts from zero.
        assert!(free_k1(&l, NOW + 86_400 * S));
    }
}
