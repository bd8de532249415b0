//! The usage write-behind buffer: admitted counts per day, last-used times,
//! per-minute outcomes, endpoints and countries, counted in memory and taken
//! by the flusher in batches, never written per request. Also the registry
//! of endpoints each key has called, which bounds their number.
//!
//! Always local to one instance: every instance writes its own batches
//! (idempotent by batch id), and the database adds them up. Only known keys
//! get an entry, so garbage keys cannot grow memory.

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use keyport_core::restrict::network_of;
use keyport_core::usage::{truncate, MAX_ENDPOINT_LEN};
use keyport_core::{limiter::utc_day, Counts, Outcome};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::from_nanos;
use crate::rate::IdMap;
use crate::store::{DayCount, DimensionRow, UsageBatch, UsageRow};

/// Longest country value kept: two-letter codes and `unknown`.
const MAX_COUNTRY_LEN: usize = 8;

/// Most distinct endpoints kept per key.
pub const MAX_ENDPOINTS_PER_KEY: usize = 100;
pub const OTHER_ENDPOINT: &str = "(other)";

// Counted once per request under the key's lock: a fast hasher (the keys
// are bounded per key, so flooding one map costs only its own key).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Most distinct networks kept per key in this process; the rest count as
/// "(other)" (a key used from everywhere is not one to allowlist).
pub const MAX_NETWORKS_PER_KEY: usize = 1_000;

/// Most distinct would-deny reasons kept per key in this process.
pub const MAX_REASONS_PER_KEY: usize = 200;

/// One request's usage facts.
#[derive(Debug, Clone, Copy)]
pub struct UsageEvent<'a> {
    pub outcome: Outcome,
    /// Folded endpoint (gateway only).
    pub endpoint: Option<&'a str>,
    /// Country from a trusted proxy (gateway) or the verify body.
    pub country: Option<&'a str>,
    /// The caller's address (gateway peer, or `ip` in a verify), counted
    /// as its network.
    pub ip: Option<IpAddr>,
}

#[derive(Debug, Default)]
struct KeyUsage {
    account_id: String,
    /// Admitted requests not yet written, per UTC day (usually one entry).
    admitted: Vec<(i64, u64)>,
    last_used: Option<i64>,
    last_used_dirty: bool,
    usage: PendingUsage,
    /// Endpoints this key has called, bounded; the rest count as "other".
    /// Shared with the pending counts, so counting one allocates nothing.
    endpoints: FastSet<Arc<str>>,
    /// Networks and would-deny reasons seen here, bounded likewise.
    networks: FastSet<IpNet>,
    reasons: FastSet<String>,
    /// On the recorder's dirty list.
    queued: bool,
}

/// Usage counted in memory since the last flush.
#[derive(Debug, Default)]
struct PendingUsage {
    /// (minute start in unix seconds, counts), usually one or two entries.
    minutes: Vec<(i64, Counts)>,
    endpoints: FastMap<(i64, Arc<str>), u64>,
    countries: FastMap<(i64, Country), u64>,
    /// `None`: a network past the key's bound.
    networks: FastMap<(i64, Option<IpNet>), u64>,
    reasons: FastMap<(i64, String), u64>,
}

/// A country value (at most [`MAX_COUNTRY_LEN`] bytes) held inline, so
/// counting one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Country {
    bytes: [u8; MAX_COUNTRY_LEN],
    len: u8,
}

impl Country {
    fn new(c: &str) -> Self {
        let c = truncate(c, MAX_COUNTRY_LEN);
        let mut bytes = [0; MAX_COUNTRY_LEN];
        bytes[..c.len()].copy_from_slice(c.as_bytes());
        Country {
            bytes,
            len: c.len() as u8,
        }
    }

    fn as_str(&self) -> &str {
        // Built from a `&str` cut at a character boundary.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("unknown")
    }
}

/// A key's entry in the recorder, held by the service's key cache so a
/// verify finds it without a map lookup. Entries are never removed, so a
/// slot stays the key's for good.
#[derive(Clone)]
pub struct UsageSlot(Arc<SlotInner>);

struct SlotInner {
    key_id: String,
    usage: Mutex<KeyUsage>,
    /// The recorder's list of slots with something to flush.
    dirty: Arc<Dirty>,
}

/// Slots with counts not yet taken, each listed once (its `queued` flag):
/// a flush walks only the keys used since the last one, not every key
/// ever seen (a million keys would make each flush a long walk that holds
/// locks the request path needs).
type Dirty = Mutex<Vec<UsageSlot>>;

impl std::fmt::Debug for UsageSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageSlot")
    }
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

impl KeyUsage {
    fn admit(&mut self, now_ns: i64) {
        let today = utc_day(now_ns);
        match self.admitted.last_mut() {
            Some((d, n)) if *d == today => *n += 1,
            _ => self.admitted.push((today, 1)),
        }
        self.touch(now_ns);
    }

    fn touch(&mut self, now_ns: i64) {
        self.last_used = Some(self.last_used.map_or(now_ns, |t| t.max(now_ns)));
        self.last_used_dirty = true;
    }

    /// Counts one request by minute and outcome, endpoint and country.
    fn count(&mut self, now_ns: i64, event: UsageEvent<'_>) {
        let minute = bucket(now_ns, 60);
        let one = Counts::one(event.outcome);
        match self.usage.minutes.last_mut() {
            Some((t, c)) if *t == minute => c.add(&one),
            _ => self.usage.minutes.push((minute, one)),
        }
        if let Some(ep) = event.endpoint {
            let name = self.endpoint_name(truncate(ep, MAX_ENDPOINT_LEN));
            *self.usage.endpoints.entry((minute, name)).or_default() += 1;
        }
        if let Some(c) = event.country {
            *self
                .usage
                .countries
                .entry((minute, Country::new(c)))
                .or_default() += 1;
        }
        if let Some(ip) = event.ip {
            let net = network_of(ip);
            let known = self.networks.contains(&net)
                || (self.networks.len() < MAX_NETWORKS_PER_KEY && self.networks.insert(net));
            *self
                .usage
                .networks
                .entry((minute, known.then_some(net)))
                .or_default() += 1;
        }
    }

    /// Counts why a report-only proposal would have refused a request.
    fn count_reason(&mut self, now_ns: i64, reason: &str) {
        let minute = bucket(now_ns, 60);
        let name = if self.reasons.contains(reason) {
            reason.to_string()
        } else if self.reasons.len() < MAX_REASONS_PER_KEY {
            self.reasons.insert(reason.to_string());
            reason.to_string()
        } else {
            OTHER_ENDPOINT.to_string()
        };
        *self.usage.reasons.entry((minute, name)).or_default() += 1;
    }

    /// The endpoint's own name while the key has room for it, else "other".
    fn endpoint_name(&mut self, ep: &str) -> Arc<str> {
        if let Some(name) = self.endpoints.get(ep) {
            return name.clone();
        }
        let name: Arc<str> = if self.endpoints.len() < MAX_ENDPOINTS_PER_KEY {
            Arc::from(ep)
        } else if let Some(other) = self.endpoints.get(OTHER_ENDPOINT) {
            return other.clone();
        } else {
            Arc::from(OTHER_ENDPOINT)
        };
        // "(other)" joins the set too: a key past its bound allocates it once.
        self.endpoints.insert(name.clone());
        name
    }
}

#[derive(Default)]
pub struct UsageRecorder {
    keys: IdMap<UsageSlot>,
    dirty: Arc<Dirty>,
}

impl UsageSlot {
    /// Notes one request decided by the rate limiter: `admitted` counts
    /// against the day and marks the key used; `event` is its usage, if it
    /// is counted now. One lock for both.
    pub fn note(&self, now_ns: i64, admitted: bool, event: Option<UsageEvent<'_>>) {
        self.change(|k| {
            if admitted {
                k.admit(now_ns);
            }
            if let Some(e) = event {
                k.count(now_ns, e);
            }
        });
    }

    /// Records why a report-only proposal would have refused a request.
    pub fn note_reason(&self, now_ns: i64, reason: &str) {
        self.change(|k| k.count_reason(now_ns, reason));
    }

    /// Changes the slot's pending counts and lists it for the next flush.
    /// The list is pushed under the slot's lock (slot, then list; the
    /// flusher never holds the list while it locks a slot).
    fn change(&self, f: impl FnOnce(&mut KeyUsage)) {
        let mut k = self.0.usage.lock();
        f(&mut k);
        if !k.queued {
            k.queued = true;
            self.0.dirty.lock().push(self.clone());
        }
    }
}

impl UsageRecorder {
    /// A key's entry, made on first use.
    pub fn slot(&self, key_id: &str, account_id: &str) -> UsageSlot {
        if let Some(s) = self.keys.get(key_id) {
            return s.clone();
        }
        self.keys
            .entry(key_id.to_string())
            .or_insert_with(|| {
                UsageSlot(Arc::new(SlotInner {
                    key_id: key_id.to_string(),
                    usage: Mutex::new(KeyUsage {
                        account_id: account_id.to_string(),
                        ..Default::default()
                    }),
                    dirty: self.dirty.clone(),
                }))
            })
            .clone()
    }

    /// Marks a key as used now (its `last_used_at`, flushed in the next
    /// batch) without counting a request.
    pub fn touch(&self, key_id: &str, account_id: &str, now_ns: i64) {
        self.slot(key_id, account_id).change(|k| k.touch(now_ns));
    }

    /// Counts one request of a known key by outcome (and, for the gateway,
    /// endpoint and country).
    pub fn record(&self, key_id: &str, account_id: &str, now_ns: i64, event: UsageEvent<'_>) {
        self.slot(key_id, account_id)
            .change(|k| k.count(now_ns, event));
    }

    /// Seeds the endpoints each key has called, so the cardinality bound
    /// holds across restarts.
    pub fn preload_endpoints(&self, rows: &[(String, String, String)]) {
        for (key_id, account_id, endpoint) in rows {
            self.slot(key_id, account_id)
                .0
                .usage
                .lock()
                .endpoints
                .insert(Arc::from(truncate(endpoint, MAX_ENDPOINT_LEN)));
        }
    }

    /// The newest use of a key seen here, including what is not flushed yet.
    pub fn last_used(&self, key_id: &str) -> Option<DateTime<Utc>> {
        self.keys
            .get(key_id)
            .and_then(|k| k.0.usage.lock().last_used)
            .map(from_nanos)
    }

    /// Takes everything not yet written. A failed write is kept by the
    /// service and retried as it is (same batch id), never merged back.
    pub fn take_pending(&self) -> Pending {
        let mut out = Pending::default();
        let dirty = std::mem::take(&mut *self.dirty.lock());
        for slot in dirty {
            let key_id = &slot.0.key_id;
            let mut k = slot.0.usage.lock();
            let k = &mut *k;
            k.queued = false;
            for (day, count) in k.admitted.drain(..) {
                out.counts.push(DayCount {
                    key_id: key_id.clone(),
                    account_id: k.account_id.clone(),
                    day,
                    count,
                });
            }
            if std::mem::take(&mut k.last_used_dirty) {
                if let Some(t) = k.last_used {
                    out.last_used.push((key_id.clone(), from_nanos(t)));
                }
            }
            let usage = std::mem::take(&mut k.usage);
            for (t, counts) in usage.minutes {
                out.usage.minutes.push(UsageRow {
                    key_id: key_id.clone(),
                    account_id: k.account_id.clone(),
                    t,
                    counts,
                });
            }
            let dims = |m: FastMap<(i64, String), u64>| {
                m.into_iter().map(|((t, value), count)| DimensionRow {
                    key_id: key_id.clone(),
                    t,
                    value,
                    count,
                })
            };
            out.usage
                .endpoints
                .extend(
                    usage
                        .endpoints
                        .into_iter()
                        .map(|((t, value), count)| DimensionRow {
                            key_id: key_id.clone(),
                            t,
                            value: value.to_string(),
                            count,
                        }),
                );
            out.usage
                .countries
                .extend(
                    usage
                        .countries
                        .into_iter()
                        .map(|((t, value), count)| DimensionRow {
                            key_id: key_id.clone(),
                            t,
                            value: value.as_str().to_string(),
                            count,
                        }),
                );
            out.usage.reasons.extend(dims(usage.reasons));
            out.usage
                .networks
                .extend(
                    usage
                        .networks
                        .into_iter()
                        .map(|((t, net), count)| DimensionRow {
                            key_id: key_id.clone(),
                            t,
                            value: net
                                .map_or_else(|| OTHER_ENDPOINT.to_string(), |n| n.to_string()),
                            count,
                        }),
                );
        }
        out
    }

    /// Number of keys with an entry (for tests of bounded memory).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    /// Keys with counts waiting for the next flush.
    pub fn dirty_keys(&self) -> usize {
        self.dirty.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_800_000_000 * S;

    fn ev<'a>(o: Outcome, e: Option<&'a str>, c: Option<&'a str>) -> UsageEvent<'a> {
        UsageEvent {
            outcome: o,
            endpoint: e,
            country: c,
            ip: None,
        }
    }

    #[test]
    fn a_flush_visits_only_the_keys_used_since_the_last() {
        let r = UsageRecorder::default();
        for n in 0..1000 {
            r.record(
                &format!("k{n}"),
                "a1",
                NOW,
                ev(Outcome::Success, None, None),
            );
        }
        assert_eq!(r.dirty_keys(), 1000);
        assert_eq!(r.take_pending().usage.minutes.len(), 1000);
        assert_eq!(r.dirty_keys(), 0);
        // One key used twice, one touched: each listed once.
        r.record("k7", "a1", NOW, ev(Outcome::Success, None, None));
        r.slot("k7", "a1").note(NOW + S, true, None);
        r.touch("k9", "a1", NOW);
        assert_eq!(r.dirty_keys(), 2);
        let p = r.take_pending();
        assert_eq!(p.usage.minutes.len(), 1);
        assert_eq!(p.usage.minutes[0].counts, Counts::one(Outcome::Success));
        assert_eq!(p.counts.len(), 1);
        let mut used: Vec<_> = p.last_used.iter().map(|(k, _)| k.as_str()).collect();
        used.sort();
        assert_eq!(used, ["k7", "k9"]);
        assert!(r.take_pending().is_empty());
        assert_eq!(r.tracked_keys(), 1000);
    }

    #[test]
    fn networks_and_reasons_are_counted_and_bounded() {
        let r = UsageRecorder::default();
        let at = |ip: &str| UsageEvent {
            ip: Some(ip.parse().unwrap()),
            ..ev(Outcome::Success, None, None)
        };
        r.record("k1", "a1", NOW, at("198.51.100.7"));
        r.record("k1", "a1", NOW, at("198.51.100.200"));
        r.record("k1", "a1", NOW, at("2001:db8:1:2::1"));
        for i in 0..MAX_NETWORKS_PER_KEY + 3 {
            r.record(
                "k2",
                "a1",
                NOW,
                at(&format!("10.{}.{}.1", i / 256, i % 256)),
            );
        }
        let slot = r.slot("k1", "a1");
        slot.note_reason(NOW, "ip 192.0.2.0/24");
        slot.note_reason(NOW + S, "ip 192.0.2.0/24");
        let p = r.take_pending();
        let mut k1: Vec<(String, u64)> = p
            .usage
            .networks
            .iter()
            .filter(|n| n.key_id == "k1")
            .map(|n| (n.value.clone(), n.count))
            .collect();
        k1.sort();
        assert_eq!(
            k1,
            [
                ("198.51.100.0/24".to_string(), 2),
                ("2001:db8:1::/48".to_string(), 1)
            ]
        );
        let other: u64 = p
            .usage
            .networks
            .iter()
            .filter(|n| n.key_id == "k2" && n.value == OTHER_ENDPOINT)
            .map(|n| n.count)
            .sum();
        assert_eq!(other, 3);
        assert_eq!(p.usage.reasons.len(), 1);
        assert_eq!(p.usage.reasons[0].count, 2);
        assert_eq!(p.usage.reasons[0].value, "ip 192.0.2.0/24");
    }

    #[test]
    fn admitted_counts_are_pending_until_taken() {
        let r = UsageRecorder::default();
        let slot = r.slot("k1", "a1");
        for _ in 0..3 {
            slot.note(NOW, true, None);
        }
        // A refusal marks nothing used and counts nothing against the day.
        slot.note(NOW + S, false, None);
        let p = r.take_pending();
        assert_eq!(p.counts.len(), 1);
        assert_eq!(p.counts[0].count, 3);
        assert_eq!(p.counts[0].day, utc_day(NOW));
        assert_eq!(p.last_used, vec![("k1".to_string(), from_nanos(NOW))]);
        assert!(p.usage.is_empty());
        assert!(r.take_pending().is_empty());
        assert_eq!(r.last_used("k1"), Some(from_nanos(NOW)));
    }

    #[test]
    fn admitted_counts_split_at_midnight() {
        let r = UsageRecorder::default();
        let slot = r.slot("k1", "a1");
        slot.note(NOW, true, None);
        slot.note(NOW + 86_400 * S, true, None);
        let days: Vec<_> = r.take_pending().counts.iter().map(|c| c.day).collect();
        assert_eq!(days, vec![utc_day(NOW), utc_day(NOW) + 1]);
    }

    #[test]
    fn usage_is_counted_by_minute_outcome_endpoint_country() {
        let r = UsageRecorder::default();
        r.record(
            "k1",
            "a1",
            NOW,
            ev(Outcome::Success, Some("GET /a"), Some("DE")),
        );
        r.record(
            "k1",
            "a1",
            NOW + 1,
            ev(Outcome::Denied, Some("GET /a"), Some("DE")),
        );
        r.record(
            "k1",
            "a1",
            NOW + 61 * S,
            ev(Outcome::ServerError, None, None),
        );
        let p = r.take_pending();
        assert_eq!(p.usage.minutes.len(), 2);
        assert_eq!(p.usage.minutes[0].counts.get(Outcome::Success), 1);
        assert_eq!(p.usage.minutes[0].counts.get(Outcome::Denied), 1);
        assert_eq!(p.usage.minutes[0].t % 60, 0);
        assert_eq!(p.usage.endpoints[0].count, 2);
        assert_eq!(p.usage.countries[0].value, "DE");
        // Recording is not a use of the key's day quota.
        assert!(p.counts.is_empty());
        assert!(r.take_pending().is_empty());
    }

    #[test]
    fn endpoint_cardinality_is_bounded() {
        let r = UsageRecorder::default();
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
            r.record("k1", "a1", NOW, ev(Outcome::Success, Some(n), None));
        }
        let p = r.take_pending();
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
    fn preloaded_endpoints_count_toward_the_bound() {
        let r = UsageRecorder::default();
        let rows: Vec<_> = (0..MAX_ENDPOINTS_PER_KEY)
            .map(|i| ("k1".to_string(), "a1".to_string(), format!("GET /{i}")))
            .collect();
        r.preload_endpoints(&rows);
        r.record(
            "k1",
            "a1",
            NOW,
            ev(Outcome::Success, Some("GET /new"), None),
        );
        r.record("k1", "a1", NOW, ev(Outcome::Success, Some("GET /7"), None));
        let mut names: Vec<_> = r
            .take_pending()
            .usage
            .endpoints
            .into_iter()
            .map(|e| e.value)
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![OTHER_ENDPOINT.to_string(), "GET /7".to_string()]
        );
    }
}
