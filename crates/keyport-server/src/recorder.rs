//! The usage write-behind buffer: admitted counts per day, last-used times,
//! per-minute outcomes, endpoints and countries, counted in memory and taken
//! by the flusher in batches, never written per request. Also the registry
//! of endpoints each key has called, which bounds their number.
//!
//! Always local to one instance: every instance writes its own batches
//! (idempotent by batch id), and the database adds them up. Only known keys
//! get an entry, so garbage keys cannot grow memory.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
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

#[derive(Debug)]
struct KeyUsage {
    /// Shared by every slot of the account (see [`UsageRecorder::account`]).
    account_id: Arc<str>,
    /// Admitted requests not yet written, per UTC day.
    admitted: Buckets<u64>,
    last_used: Option<i64>,
    last_used_dirty: bool,
    /// On the recorder's dirty list.
    queued: bool,
    /// Outcome counts per minute not yet written.
    minutes: Buckets<Counts>,
    /// Breakdowns by endpoint, country, network and would-deny reason,
    /// made on the key's first request that has one: a key only ever
    /// verified without them (most, with a million keys) carries none of
    /// their maps (a slot is half the size without them).
    detail: Option<Box<Detail>>,
}

#[derive(Debug, Default)]
struct Detail {
    pending: PendingDetail,
    /// Endpoints this key has called, bounded; the rest count as "other".
    /// A tally names one by its index in `endpoint_names`.
    endpoints: FastMap<Arc<str>, u16>,
    endpoint_names: Vec<Arc<str>>,
    /// The endpoint of the key's last request: the usual next one, found
    /// without a map lookup.
    last_endpoint: Option<u16>,
    /// Networks seen here, bounded likewise.
    networks: FastSet<IpNet>,
    /// The last network counted as known (the usual next one).
    last_network: Option<IpNet>,
    /// Would-deny reasons seen here, bounded likewise.
    reasons: FastSet<String>,
}

/// Counts per time bucket (minute or day), in the order they came: the
/// newest inline, since between two flushes there is almost always only
/// one, so counting needs no allocation and no second cache line.
#[derive(Debug, Default)]
struct Buckets<T> {
    newest: Option<(i64, T)>,
    older: Vec<(i64, T)>,
}

trait Merge: Copy {
    fn merge(&mut self, other: &Self);
}

impl Merge for u64 {
    fn merge(&mut self, other: &Self) {
        *self += other;
    }
}

impl Merge for Counts {
    fn merge(&mut self, other: &Self) {
        self.add(other);
    }
}

impl<T: Merge> Buckets<T> {
    fn add(&mut self, t: i64, value: T) {
        match &mut self.newest {
            Some((newest, sum)) if *newest == t => sum.merge(&value),
            _ => {
                if let Some(done) = self.newest.replace((t, value)) {
                    self.older.push(done);
                }
            }
        }
    }

    /// Everything counted, oldest first; empty afterwards.
    fn take(&mut self) -> impl Iterator<Item = (i64, T)> {
        let older = std::mem::take(&mut self.older);
        older.into_iter().chain(self.newest.take())
    }
}

/// Breakdowns counted in memory since the last flush.
#[derive(Debug, Default)]
struct PendingDetail {
    /// Breakdown counts, newest last; the same (minute, value) may appear
    /// more than once until [`merge_tallies`] runs (when taken, or when
    /// the list reaches `compact_at`).
    tallies: Vec<Tally>,
    compact_at: usize,
    reasons: FastMap<(i64, String), u64>,
}

/// One breakdown count: a minute, what was counted and how often.
#[derive(Debug, Clone, Copy)]
struct Tally {
    minute: i64,
    what: What,
    count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    /// Index into the key's `endpoint_names`.
    Endpoint(u16),
    Country(Country),
    /// `None`: a network past the key's bound.
    Network(Option<IpNet>),
}

/// Tallies looked at from the end before a new one is added: a request
/// counts an endpoint, a network and perhaps a country, so the previous
/// request's entries are the last few.
const TALLY_SCAN: usize = 4;

/// The list is merged when it reaches twice its size after the last merge,
/// at least this: the request path's cost stays a few entries per request,
/// and the list at most twice the distinct values counted.
const COMPACT_MIN: usize = 64;

impl Tally {
    /// What equal tallies share.
    fn key(&self) -> (i64, What) {
        (self.minute, self.what)
    }
}

/// Sorts tallies and adds up equal (minute, value) entries.
fn merge_tallies(tallies: &mut Vec<Tally>) {
    tallies.sort_unstable_by_key(Tally::key);
    tallies.dedup_by(|later, kept| {
        let same = later.key() == kept.key();
        if same {
            kept.count += later.count;
        }
        same
    });
}

impl PendingDetail {
    fn tally(&mut self, minute: i64, what: What) {
        if let Some(t) = self
            .tallies
            .iter_mut()
            .rev()
            .take(TALLY_SCAN)
            .find(|t| t.key() == (minute, what))
        {
            t.count += 1;
            return;
        }
        if self.tallies.len() >= self.compact_at.max(COMPACT_MIN) {
            merge_tallies(&mut self.tallies);
            self.compact_at = 2 * self.tallies.len();
        }
        self.tallies.push(Tally {
            minute,
            what,
            count: 1,
        });
    }
}

/// A country value (at most [`MAX_COUNTRY_LEN`] bytes) held inline, so
/// counting one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Also the recorder's map key (one allocation for both).
    key_id: Arc<str>,
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
    fn new(account_id: Arc<str>) -> Self {
        KeyUsage {
            account_id,
            admitted: Buckets::default(),
            last_used: None,
            last_used_dirty: false,
            queued: false,
            minutes: Buckets::default(),
            detail: None,
        }
    }

    fn admit(&mut self, now_ns: i64) {
        self.admitted.add(utc_day(now_ns), 1);
        self.touch(now_ns);
    }

    fn touch(&mut self, now_ns: i64) {
        self.last_used = Some(self.last_used.map_or(now_ns, |t| t.max(now_ns)));
        self.last_used_dirty = true;
    }

    fn detail(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Box::default)
    }

    /// Counts one request by minute and outcome, endpoint and country.
    fn count(&mut self, now_ns: i64, event: UsageEvent<'_>) {
        let minute = bucket(now_ns, 60);
        self.minutes.add(minute, Counts::one(event.outcome));
        if event.endpoint.is_some() || event.country.is_some() || event.ip.is_some() {
            self.detail().count(minute, event);
        }
    }

    /// Counts why a report-only proposal would have refused a request.
    fn count_reason(&mut self, now_ns: i64, reason: &str) {
        self.detail().count_reason(bucket(now_ns, 60), reason);
    }

    /// A name the key called before a restart. Rows written before the
    /// bound existed may name more: past the bound they count as "other".
    fn preload_endpoint(&mut self, name: &str) {
        let d = self.detail();
        if d.endpoint_names.len() < MAX_ENDPOINTS_PER_KEY {
            d.register_endpoint(name);
        }
    }
}

impl Detail {
    fn count(&mut self, minute: i64, event: UsageEvent<'_>) {
        if let Some(ep) = event.endpoint {
            let id = self.endpoint_id(truncate(ep, MAX_ENDPOINT_LEN));
            self.pending.tally(minute, What::Endpoint(id));
        }
        if let Some(c) = event.country {
            self.pending.tally(minute, What::Country(Country::new(c)));
        }
        if let Some(ip) = event.ip {
            let net = network_of(ip);
            let known = self.knows_network(net);
            self.pending
                .tally(minute, What::Network(known.then_some(net)));
        }
    }

    /// Whether `net` is one of the key's counted networks, adding it while
    /// the key has room.
    fn knows_network(&mut self, net: IpNet) -> bool {
        if self.last_network == Some(net) {
            return true;
        }
        let known = self.networks.contains(&net)
            || (self.networks.len() < MAX_NETWORKS_PER_KEY && self.networks.insert(net));
        if known {
            self.last_network = Some(net);
        }
        known
    }

    fn count_reason(&mut self, minute: i64, reason: &str) {
        let name = if self.reasons.contains(reason) {
            reason.to_string()
        } else if self.reasons.len() < MAX_REASONS_PER_KEY {
            self.reasons.insert(reason.to_string());
            reason.to_string()
        } else {
            OTHER_ENDPOINT.to_string()
        };
        *self.pending.reasons.entry((minute, name)).or_default() += 1;
    }

    /// The index of the endpoint's own name while the key has room for
    /// it, else of "other".
    fn endpoint_id(&mut self, ep: &str) -> u16 {
        if let Some(id) = self.last_endpoint {
            if *self.endpoint_names[usize::from(id)] == *ep {
                return id;
            }
        }
        let id = match self.endpoints.get(ep) {
            Some(&id) => id,
            None if self.endpoint_names.len() < MAX_ENDPOINTS_PER_KEY => self.register_endpoint(ep),
            // "(other)" joins the names too: a key past its bound adds it once.
            None => self.register_endpoint(OTHER_ENDPOINT),
        };
        self.last_endpoint = Some(id);
        id
    }

    /// The index of `name`, added if new.
    fn register_endpoint(&mut self, name: &str) -> u16 {
        if let Some(&id) = self.endpoints.get(name) {
            return id;
        }
        // At most MAX_ENDPOINTS_PER_KEY + 1 names (see `preload_endpoint`).
        let id = self.endpoint_names.len() as u16;
        let name: Arc<str> = Arc::from(name);
        self.endpoint_names.push(name.clone());
        self.endpoints.insert(name, id);
        id
    }

    /// Moves the pending breakdown counts into `out`.
    fn take(&mut self, key_id: &str, out: &mut UsageBatch) {
        let mut tallies = std::mem::take(&mut self.pending.tallies);
        self.pending.compact_at = 0;
        merge_tallies(&mut tallies);
        for Tally {
            minute,
            what,
            count,
        } in tallies
        {
            let (rows, value) = match what {
                What::Endpoint(id) => (
                    &mut out.endpoints,
                    self.endpoint_names[usize::from(id)].to_string(),
                ),
                What::Country(c) => (&mut out.countries, c.as_str().to_string()),
                What::Network(net) => (
                    &mut out.networks,
                    net.map_or_else(|| OTHER_ENDPOINT.to_string(), |n| n.to_string()),
                ),
            };
            rows.push(DimensionRow {
                key_id: key_id.to_string(),
                t: minute,
                value,
                count,
            });
        }
        out.reasons
            .extend(std::mem::take(&mut self.pending.reasons).into_iter().map(
                |((t, value), count)| DimensionRow {
                    key_id: key_id.to_string(),
                    t,
                    value,
                    count,
                },
            ));
    }
}

#[derive(Default)]
pub struct UsageRecorder {
    keys: DashMap<Arc<str>, UsageSlot, foldhash::fast::RandomState>,
    /// Account ids, one allocation per account shared by its keys' slots.
    accounts: IdMap<Arc<str>>,
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
        let account_id = self.account(account_id);
        let key_id: Arc<str> = Arc::from(key_id);
        self.keys
            .entry(key_id.clone())
            .or_insert_with(|| {
                UsageSlot(Arc::new(SlotInner {
                    key_id,
                    usage: Mutex::new(KeyUsage::new(account_id)),
                    dirty: self.dirty.clone(),
                }))
            })
            .clone()
    }

    fn account(&self, id: &str) -> Arc<str> {
        if let Some(a) = self.accounts.get(id) {
            return a.clone();
        }
        self.accounts
            .entry(id.to_string())
            .or_insert_with(|| Arc::from(id))
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
                .preload_endpoint(truncate(endpoint, MAX_ENDPOINT_LEN));
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
            let key_id = &*slot.0.key_id;
            let mut k = slot.0.usage.lock();
            let k = &mut *k;
            k.queued = false;
            for (day, count) in k.admitted.take() {
                out.counts.push(DayCount {
                    key_id: key_id.to_string(),
                    account_id: k.account_id.to_string(),
                    day,
                    count,
                });
            }
            if std::mem::take(&mut k.last_used_dirty) {
                if let Some(t) = k.last_used {
                    out.last_used.push((key_id.to_string(), from_nanos(t)));
                }
            }
            for (t, counts) in k.minutes.take() {
                out.usage.minutes.push(UsageRow {
                    key_id: key_id.to_string(),
                    account_id: k.account_id.to_string(),
                    t,
                    counts,
                });
            }
            if let Some(d) = &mut k.detail {
                d.take(key_id, &mut out.usage);
            }
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

    /// With a million keys the slots are most of the memory a used key
    /// adds: plain verifies (no endpoint, country or address) make no
    /// breakdown maps, and keys of one account share its id.
    #[test]
    fn plain_verifies_keep_a_slot_small() {
        let r = UsageRecorder::default();
        r.record("k1", "a1", NOW, ev(Outcome::Success, None, None));
        r.slot("k2", "a1").note(NOW, true, None);
        let (k1, k2) = (r.slot("k1", "a1"), r.slot("k2", "a1"));
        assert!(k1.0.usage.lock().detail.is_none());
        assert!(k2.0.usage.lock().detail.is_none());
        let shared = |s: &UsageSlot| s.0.usage.lock().account_id.clone();
        assert!(Arc::ptr_eq(&shared(&k1), &shared(&k2)));
        assert!(!Arc::ptr_eq(&shared(&k1), &shared(&r.slot("k3", "a2"))));
        assert!(
            std::mem::size_of::<SlotInner>() <= 224,
            "{}",
            std::mem::size_of::<SlotInner>()
        );
        // The first request with a breakdown makes it; its counts are taken.
        r.record("k1", "a1", NOW, ev(Outcome::Success, None, Some("DE")));
        assert!(k1.0.usage.lock().detail.is_some());
        let p = r.take_pending();
        assert_eq!(p.usage.minutes.len(), 1);
        assert_eq!(p.usage.minutes[0].counts.get(Outcome::Success), 2);
        assert_eq!(p.usage.countries.len(), 1);
        assert_eq!(p.counts.len(), 1);
        assert_eq!(p.counts[0].account_id, "a1");
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

    /// Any sequence of requests over endpoints, countries, networks and
    /// minutes (back and forth, past every bound) is taken as the sums a
    /// plain map of every request gives: the request path's shortcuts
    /// (last endpoint and network, inline newest minute, unmerged tallies
    /// merged late) change nothing that is written.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        type Rows = BTreeMap<(&'static str, String, i64, String), u64>;

        fn rows(p: &Pending) -> Rows {
            let mut out = Rows::new();
            let dims = [
                ("endpoint", &p.usage.endpoints),
                ("country", &p.usage.countries),
                ("network", &p.usage.networks),
            ];
            for (dim, list) in dims {
                for r in list {
                    *out.entry((dim, r.key_id.clone(), r.t, r.value.clone()))
                        .or_default() += r.count;
                }
            }
            for r in &p.usage.minutes {
                for o in [Outcome::Success, Outcome::Denied] {
                    *out.entry(("minute", r.key_id.clone(), r.t, format!("{o:?}")))
                        .or_default() += r.counts.get(o);
                }
            }
            for c in &p.counts {
                *out.entry(("day", c.key_id.clone(), c.day, String::new()))
                    .or_default() += c.count;
            }
            out.retain(|_, n| *n > 0);
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn taken_counts_are_the_sums_of_the_requests(
                reqs in proptest::collection::vec(
                    (0..3u8, 0..130u16, 0..4u8, 0..1100u16, 0..3i64, any::<bool>(), any::<bool>()),
                    0..2_500,
                ),
                flush_at in 0..2_500usize,
            ) {
                let r = UsageRecorder::default();
                let mut want = Rows::new();
                let mut endpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut networks: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut got = Rows::new();
                for (i, &(key, ep, country, net, minute, denied, admitted)) in reqs.iter().enumerate() {
                    if i == flush_at {
                        for (k, n) in rows(&r.take_pending()) {
                            *got.entry(k).or_default() += n;
                        }
                    }
                    let key = format!("k{key}");
                    let ep = format!("GET /e{ep}");
                    let country = ["DE", "FR", "unknown", "US"][usize::from(country)];
                    let ip: IpAddr = format!("10.{}.{}.1", net / 256, net % 256).parse().unwrap();
                    let now = NOW + minute * 60 * S + (i as i64);
                    let t = bucket(now, 60);
                    let outcome = if denied { Outcome::Denied } else { Outcome::Success };
                    r.slot(&key, "a1").note(now, admitted, Some(UsageEvent {
                        outcome,
                        endpoint: Some(&ep),
                        country: Some(country),
                        ip: Some(ip),
                    }));
                    // The model: the bounds as documented, by plain lookups.
                    let names = endpoints.entry(key.clone()).or_default();
                    let ep_name = if names.contains(&ep) {
                        ep.clone()
                    } else if names.len() < MAX_ENDPOINTS_PER_KEY {
                        names.push(ep.clone());
                        ep.clone()
                    } else {
                        OTHER_ENDPOINT.to_string()
                    };
                    let net_name = network_of(ip).to_string();
                    let nets = networks.entry(key.clone()).or_default();
                    let net_name = if nets.contains(&net_name) {
                        net_name
                    } else if nets.len() < MAX_NETWORKS_PER_KEY {
                        nets.push(net_name.clone());
                        net_name
                    } else {
                        OTHER_ENDPOINT.to_string()
                    };
                    for (dim, value) in [("endpoint", ep_name), ("country", country.to_string()), ("network", net_name)] {
                        *want.entry((dim, key.clone(), t, value)).or_default() += 1;
                    }
                    *want.entry(("minute", key.clone(), t, format!("{outcome:?}"))).or_default() += 1;
                    if admitted {
                        *want.entry(("day", key.clone(), utc_day(now), String::new())).or_default() += 1;
                    }
                }
                for (k, n) in rows(&r.take_pending()) {
                    *got.entry(k).or_default() += n;
                }
                prop_assert_eq!(got, want);
            }
        }
    }

    /// A key that keeps changing endpoint and network between flushes
    /// holds at most twice the distinct values it counted (and the merge
    /// floor), not one entry per request.
    fn pending_tallies(slot: &UsageSlot) -> usize {
        let k = slot.0.usage.lock();
        k.detail.as_ref().map_or(0, |d| d.pending.tallies.len())
    }

    #[test]
    fn unmerged_tallies_stay_bounded() {
        let r = UsageRecorder::default();
        let slot = r.slot("k1", "a1");
        let endpoints: Vec<String> = (0..50).map(|i| format!("GET /e{i}")).collect();
        let mut longest = 0;
        for i in 0..20_000usize {
            let ip: IpAddr = format!("10.0.{}.1", i % 7).parse().unwrap();
            slot.note(
                NOW,
                true,
                Some(UsageEvent {
                    ip: Some(ip),
                    ..ev(Outcome::Success, Some(&endpoints[i % 50]), None)
                }),
            );
            longest = longest.max(pending_tallies(&slot));
        }
        // 50 endpoints + 7 networks in one minute.
        assert!((57..=2 * 57 + 1).contains(&longest), "{longest}");
        let p = r.take_pending();
        assert_eq!(p.usage.endpoints.len(), 50);
        assert!(p.usage.endpoints.iter().all(|e| e.count == 400));
        assert_eq!(p.usage.networks.len(), 7);
        assert!(
            slot.0
                .usage
                .lock()
                .detail
                .as_ref()
                .unwrap()
                .pending
                .tallies
                .capacity()
                == 0,
            "freed when taken"
        );
    }
}
