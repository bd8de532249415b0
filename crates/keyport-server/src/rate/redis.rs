//! Rate state shared by several instances, in Redis.
//!
//! (Times in the scripts are microseconds since the epoch: below 2^53, so
//! exact in Lua's doubles; they are written back with `%.0f`, since Redis
//! turns a Lua number into a string with only 14 significant digits.)
//!
//! Redis holds each key's GCRA state (its theoretical arrival time) and the
//! day counts of keys and accounts. An instance does not ask Redis per
//! request: one Lua script checks GCRA room, the key's day quota and the
//! account's day quota together, with Redis `TIME` as the clock, and hands
//! out a small *lease* of tokens that the instance then spends locally.
//! So a verify usually decides from memory; it waits on Redis only when its
//! key's lease is empty (counted as a lease miss), and the lease is topped up
//! in the background before it runs dry.
//!
//! Bounds, argued in ARCHITECTURE.md:
//! - A token is counted in Redis when leased, so day quotas are never
//!   exceeded across instances.
//! - Unspent tokens go back after [`LEASE_TTL_NS`] (a top-up at low water
//!   keeps the few left, so at most twice that); a token is spent at most
//!   that long after Redis admitted it, so admissions over any window are at
//!   most `rate × 2 × LEASE_TTL` above a single GCRA's.
//! - A refusal is cached until its retry-after.
//! - Every key of an account uses the account's hash tag, so one script only
//!   touches one Redis Cluster slot.
//!
//! When Redis does not answer (within [`REDIS_TIMEOUT`]), verification goes
//! on: each instance limits with its share of every limit (1/N, N from a
//! heartbeat) counted locally, and adds what it admitted to the day counts
//! when Redis is back. Day counts missing from Redis (a restart that lost
//! its data, or a new day) are rebuilt from the store's usage.

use futures_util::future::BoxFuture;
use keyport_core::limiter::{next_utc_midnight, utc_day, Decision};
use keyport_core::Limits;
use parking_lot::{Mutex, RwLock};
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{IdMap, MemoryRates, RateCell, RateStore, SharedState};
use crate::clock::Clock;
use crate::store::{DayCount, Store};
use std::collections::HashMap;

/// Unspent leased tokens go back to Redis this long after the lease.
pub const LEASE_TTL_NS: i64 = 500_000_000;
/// ... or after this for a slow key's lease leaving at least half the
/// burst free. A slow key sees few requests per instance per second, so a
/// short life would make most of them wait on Redis; spending such a token
/// late can let through at most the lease's tokens (an eighth of the burst
/// over all instances) more than one GCRA would, once per idle spell.
const SLOW_LEASE_TTL_NS: i64 = 10_000_000_000;
/// A key spending at most this many tokens per [`BATCH_SPAN_NS`] on an
/// instance is slow there.
const SLOW_LEASE: u32 = 2;
/// Fewest tokens a lease asks for (within the burst's half): a slow key
/// would otherwise lease one token at a time and wait on every other verify.
const MIN_BATCH: u32 = 1;
/// A lease is sized to last about this long at the key's observed rate.
const BATCH_SPAN_NS: i64 = 100_000_000;
/// ... or this long while the key has at least half its burst free in
/// Redis: no instance can then be refused for tokens another one holds, and
/// a token is still spent within [`LEASE_TTL_NS`] of its lease, so the
/// bounds above hold; a busy key then asks Redis about 4 times less often.
const AMPLE_SPAN_NS: i64 = 400_000_000;
/// How far apart the clocks of instances and Redis may be.
const CLOCK_MARGIN_US: i64 = 250_000;
/// How long a day-quota refusal is kept before asking Redis again.
const DAY_RECHECK_NS: i64 = 1_000_000_000;
/// Shortest time a key's local rate is measured over.
const MIN_RATE_WINDOW_NS: i64 = 20_000_000;
/// Most tokens one lease takes.
const MAX_BATCH: u32 = 512;
/// A Redis round trip slower than this counts as Redis being down.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
/// The heartbeat's own timeout: longer than a lease's, since it decides
/// that Redis is down for every key, and an instance saturated with
/// requests may only get to read its reply late.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often each instance says it is alive, gives back stale leases and,
/// while Redis is down, checks whether it is back.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// An instance not heard from for this long no longer counts in N.
const INSTANCE_TTL_MS: i64 = 3_000;
/// Day hashes outlive their day by a day (late give-backs land on them).
const DAY_TTL_SECS: u64 = 2 * 86_400;
/// Store day counts read for rebuilding are reused for this long.
const SEED_CACHE: Duration = Duration::from_secs(1);

const NS_PER_US: i64 = 1_000;
const NS_PER_SEC: i64 = 1_000_000_000;

/// Checks and advances GCRA room and both day counts together, after
/// giving back `back` unspent tokens; answers how many tokens it leased.
/// Answers n = -1 when the day hash is missing (to be rebuilt first).
/// Tokens leased before the day hash was rebuilt (another epoch) are not
/// in its counts, so they are not given back to it. A call run after its
/// caller gave up (Redis was stopped meanwhile) leases nothing (n = -2):
/// tokens nobody holds would be lost for the day.
const LEASE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now > tonumber(ARGV[10]) then
  return {-2, now, 0, 0, 0, ''}
end
-- One read of the day hash: its epoch 's' is set whenever it exists.
local day = redis.call('HMGET', KEYS[2], 's', ARGV[1], 'a')
if not day[1] then
  return {-1, now, 0, 0, 0, ''}
end
local epoch = day[1]
local field = ARGV[1]
local em = tonumber(ARGV[2])
local tol = tonumber(ARGV[3])
local kcap = tonumber(ARGV[4])
local acap = tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local back = tonumber(ARGV[7])
if ARGV[8] ~= epoch then back = 0 end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local kused = tonumber(day[2] or '0')
local aused = tonumber(day[3] or '0')
if back > 0 then
  tat = tat - back * em
  kused = math.max(0, kused - back)
  aused = math.max(0, aused - back)
end
if tat < now then tat = now end
local room = math.floor((tol - (tat - now)) / em)
-- Near a day cap, leases shrink to a share of what is left, so tokens
-- held by other instances can always still be spent.
local instances = tonumber(ARGV[9])
local function share(left)
  if left <= 0 then return 0 end
  return math.max(1, math.floor(left / (2 * instances)))
end
local n = math.min(want, room)
if kcap >= 0 then n = math.min(n, share(kcap - kused)) end
if acap >= 0 then n = math.min(n, share(acap - aused)) end
if n < 0 then n = 0 end
if n > 0 or back > 0 then
  tat = tat + n * em
  kused = kused + n
  aused = aused + n
  redis.call('HSET', KEYS[2], field, kused, 'a', aused)
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 60000)
end
return {n, now, tat, kused, aused, epoch}
"#;

/// Gives back `n` unspent tokens of a lease.
const REFUND: &str = r#"
local back = tonumber(ARGV[3])
if redis.call('HGET', KEYS[2], 's') ~= ARGV[4] then return 0 end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', tat - back * tonumber(ARGV[2])), 'KEEPTTL')
end
local k = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local a = tonumber(redis.call('HGET', KEYS[2], 'a') or '0')
redis.call('HSET', KEYS[2], ARGV[1], math.max(0, k - back), 'a', math.max(0, a - back))
return 1
"#;

/// Creates a missing day hash from counts read from the store.
/// ARGV: ttl, account total, a new epoch, then field/count pairs.
const SEED: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'a', ARGV[2], 's', ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"#;

/// Adds what an instance admitted while Redis was down to a day hash that
/// survived; a lost one is rebuilt from the store, which has them.
const RECONCILE: &str = r#"
local t = redis.call('TIME')
if tonumber(t[1]) * 1000000 + tonumber(t[2]) > tonumber(ARGV[3]) then
  return redis.error_reply('too late: the caller gave up')
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'a', ARGV[2])
return 1
"#;

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("no redis connection")]
    NotConnected,
    #[error("reading day counts to rebuild them: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// One request's question to a cell.
#[derive(Debug, Clone, Copy)]
struct Ask {
    limits: Limits,
    account_cap: Option<u32>,
    now: i64,
    day: i64,
}

/// What one lease round trip answered.
#[derive(Debug, Clone)]
struct Grant {
    leased: u32,
    redis_now_us: i64,
    tat_us: i64,
    key_used: u64,
    account_used: u64,
    epoch: Arc<str>,
}

/// The lease script's answer: (leased or -1/-2, Redis now µs, TAT µs, key
/// used, account used, epoch).
type LeaseReply = (i64, i64, i64, i64, i64, String);

/// The arguments of one lease script run, owned (it runs on its own task).
struct LeaseCall {
    tat_key: String,
    day_key: String,
    field: String,
    emission_us: i64,
    tolerance_us: i64,
    key_cap: i64,
    account_cap: i64,
    want: u32,
    back: u32,
    epoch: String,
    instances: u32,
}

struct Scripts {
    lease: redis::Script,
    refund: redis::Script,
    seed: redis::Script,
    reconcile: redis::Script,
}

/// Day counts read from the store: (day, when read, counts).
type SeedCounts = (i64, Instant, Arc<Vec<DayCount>>);

/// State every cell of one [`RedisRates`] uses.
struct Shared {
    url: String,
    conn: RwLock<Option<ConnectionManager>>,
    scripts: Scripts,
    namespace: String,
    instance: String,
    up: AtomicBool,
    /// Set at shutdown: leases landing after it go straight back.
    closing: AtomicBool,
    instances: AtomicU32,
    hits: AtomicU64,
    misses: AtomicU64,
    fallback_decisions: AtomicU64,
    /// Local limits while Redis is down (a fresh one per outage).
    fallback: RwLock<Arc<MemoryRates>>,
    /// Cells holding leased tokens, checked for stale leases.
    holding: Mutex<Vec<Weak<RedisCell>>>,
    /// Day counts known from the store at start (key and account ids).
    known: IdMap<u64>,
    store: Arc<dyn Store>,
    /// The service's clock: lease lives, days and cached refusals are in
    /// its time, like the requests' (Redis keeps its own for GCRA).
    clock: Arc<dyn Clock>,
    seed_cache: tokio::sync::Mutex<Option<SeedCounts>>,
    /// What this outage's fallback admissions already added to Redis, per
    /// key: a reconcile cut short resumes without counting anything twice.
    reconciled: Mutex<HashMap<String, u64>>,
}

/// Rate state in Redis, shared by every instance using the same Redis and
/// namespace.
pub struct RedisRates {
    shared: Arc<Shared>,
    cells: IdMap<Arc<RedisCell>>,
}

struct RedisCell {
    me: Weak<RedisCell>,
    shared: Arc<Shared>,
    key_id: String,
    account_id: String,
    lease: Mutex<Lease>,
}

#[derive(Debug, Default)]
struct Lease {
    tokens: u32,
    /// The UTC day the tokens are counted in.
    day: i64,
    /// Local time after which unspent tokens go back.
    expires: i64,
    /// Local time until which requests are refused without asking.
    denied_until: i64,
    /// Whether the cached refusal is a day quota (reset at midnight).
    denied_for_day: bool,
    /// Redis-side room left after the last lease (for `remaining`).
    room: u64,
    /// Unix seconds when the key's window is whole again.
    reset: i64,
    key_used: u64,
    account_used: u64,
    /// Next lease size, from the rate the key is spent at here.
    want: u32,
    spent: u32,
    since: i64,
    /// How long the current lease's tokens live.
    ttl: i64,
    /// Whether the key is slow on this instance (see `next_lease`).
    slow: bool,
    /// GCRA emission interval of the last lease (what a give-back undoes).
    emission_us: i64,
    /// The day hash's epoch the tokens were counted in.
    epoch: Arc<str>,
    refilling: bool,
    listed: bool,
}

impl RedisRates {
    /// Rate state in the Redis at `url` (`redis://host:port/db`), under keys
    /// starting with `namespace`. Redis need not be up: until it answers,
    /// limits are this instance's share (see the module docs).
    pub async fn connect(
        url: &str,
        namespace: &str,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, SharedError> {
        // Validates the URL now; the connection itself may come later.
        redis::Client::open(url)?;
        let shared = Arc::new(Shared {
            url: url.to_string(),
            conn: RwLock::new(None),
            scripts: Scripts {
                lease: redis::Script::new(LEASE),
                refund: redis::Script::new(REFUND),
                seed: redis::Script::new(SEED),
                reconcile: redis::Script::new(RECONCILE),
            },
            namespace: namespace.to_string(),
            instance: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            up: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            instances: AtomicU32::new(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            fallback_decisions: AtomicU64::new(0),
            fallback: RwLock::new(Arc::new(MemoryRates::default())),
            holding: Mutex::new(Vec::new()),
            known: IdMap::default(),
            store,
            clock,
            seed_cache: tokio::sync::Mutex::new(None),
            reconciled: Mutex::new(HashMap::new()),
        });
        let rates = Arc::new(Self {
            shared,
            cells: IdMap::default(),
        });
        if let Err(e) = rates.tick().await {
            tracing::warn!(error = %e, "redis is not answering; limiting with this instance's share until it does");
        }
        Ok(rates)
    }

    /// Heartbeat, stale-lease give-back and recovery, every [`HEARTBEAT`]
    /// until `stopped` turns true; then leaves the heartbeat set.
    pub async fn run(self: Arc<Self>, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            if let Err(e) = self.tick().await {
                if self.shared.up.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis stopped answering; limiting with this instance's share");
                }
                self.shared.mark_down();
            }
        }
        // Tokens this instance will never spend go back for the others.
        self.shared.closing.store(true, Ordering::Relaxed);
        if self.shared.up.load(Ordering::Relaxed) {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.give_back(true)).await;
        }
        self.leave().await;
    }

    /// One heartbeat: connect if needed, count instances, reconcile after an
    /// outage, give back stale leases.
    async fn tick(&self) -> Result<(), SharedError> {
        let sh = &self.shared;
        let mut conn = match sh.connection() {
            Some(c) => c,
            None => {
                let client = redis::Client::open(sh.url.as_str())?;
                let c = timed(client.get_connection_manager()).await?;
                *sh.conn.write() = Some(c.clone());
                c
            }
        };
        let now_ms = sh.now_ns() / 1_000_000;
        let set = format!("{}:instances", sh.namespace);
        let (_, _, n): (i64, i64, u32) = timed_for(
            HEARTBEAT_TIMEOUT,
            redis::pipe()
                .zadd(&set, &sh.instance, now_ms)
                .zrembyscore(&set, "-inf", now_ms - INSTANCE_TTL_MS)
                .zcard(&set)
                .query_async(&mut conn),
        )
        .await?;
        sh.instances.store(n.max(1), Ordering::Relaxed);
        if !sh.up.load(Ordering::Relaxed) {
            // Counts read before the outage may be behind the store's now.
            *sh.seed_cache.lock().await = None;
            self.reconcile(&mut conn).await?;
            sh.up.store(true, Ordering::Relaxed);
            tracing::info!(instances = n, "redis answers; limits are shared again");
        }
        self.give_back_stale().await;
        Ok(())
    }

    /// Adds what this instance admitted while Redis was down to the day
    /// counts, then starts a fresh fallback for the next outage.
    async fn reconcile(&self, conn: &mut ConnectionManager) -> Result<(), SharedError> {
        let sh = &self.shared;
        let fallback = sh.fallback.read().clone();
        let today = utc_day(sh.now_ns());
        for (key_id, account_id, used) in fallback.admitted(today) {
            let sent = sh.reconciled.lock().get(&key_id).copied().unwrap_or(0);
            if used <= sent {
                continue;
            }
            let _: i64 = timed(
                sh.scripts
                    .reconcile
                    .key(sh.day_key(&account_id, today))
                    .arg(key_field(&key_id))
                    .arg(used - sent)
                    .arg(deadline_us())
                    .invoke_async(conn),
            )
            .await?;
            sh.reconciled.lock().insert(key_id, used);
        }
        sh.reconciled.lock().clear();
        *sh.fallback.write() = Arc::new(MemoryRates::default());
        Ok(())
    }

    async fn give_back_stale(&self) {
        self.give_back(false).await;
    }

    /// Gives back the unspent tokens of expired leases, or of all leases
    /// (`all`, at shutdown), except those a top-up in flight gives back.
    async fn give_back(&self, all: bool) {
        let now = self.shared.now_ns();
        let cells: Vec<Weak<RedisCell>> = std::mem::take(&mut *self.shared.holding.lock());
        let mut keep = Vec::new();
        for weak in cells {
            let Some(cell) = weak.upgrade() else { continue };
            let back = {
                let mut l = cell.lease.lock();
                let live = l.tokens > 0 && now < l.expires && l.day == utc_day(now);
                if l.refilling || (live && !all) {
                    keep.push(weak);
                    continue;
                }
                l.listed = false;
                std::mem::take(&mut l.tokens)
            };
            if back > 0 {
                let day = cell.lease.lock().day;
                cell.refund(back, day).await;
            }
        }
        self.shared.holding.lock().extend(keep);
    }

    async fn leave(&self) {
        let sh = &self.shared;
        if let Some(mut conn) = sh.connection() {
            let set = format!("{}:instances", sh.namespace);
            let _ = timed(async {
                redis::cmd("ZREM")
                    .arg(&set)
                    .arg(&sh.instance)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
        }
    }
}

impl RateStore for RedisRates {
    fn cell(&self, key_id: &str, account_id: &str, _now_ns: i64) -> Arc<dyn RateCell> {
        if let Some(c) = self.cells.get(key_id) {
            return c.clone();
        }
        let sh = &self.shared;
        let known = |id: &str| sh.known.get(id).map_or(0, |v| *v);
        self.cells
            .entry(key_id.to_string())
            .or_insert_with(|| {
                Arc::new_cyclic(|me| RedisCell {
                    me: me.clone(),
                    shared: sh.clone(),
                    key_id: key_id.to_string(),
                    account_id: account_id.to_string(),
                    lease: Mutex::new(Lease {
                        key_used: known(key_id),
                        account_used: known(account_id),
                        want: SLOW_LEASE,
                        slow: true,
                        ..Lease::default()
                    }),
                })
            })
            .clone()
    }

    fn preload(&self, counts: &[DayCount], today: i64) {
        for c in counts.iter().filter(|c| c.day == today) {
            *self.shared.known.entry(c.key_id.clone()).or_default() += c.count;
            *self.shared.known.entry(c.account_id.clone()).or_default() += c.count;
        }
    }

    fn tracked_keys(&self) -> usize {
        self.cells.len()
    }

    fn shared(&self) -> Option<SharedState> {
        let sh = &self.shared;
        Some(SharedState {
            up: sh.up.load(Ordering::Relaxed),
            instances: sh.instances.load(Ordering::Relaxed),
            lease_hits: sh.hits.load(Ordering::Relaxed),
            lease_misses: sh.misses.load(Ordering::Relaxed),
            fallback: sh.fallback_decisions.load(Ordering::Relaxed),
        })
    }
}

impl Shared {
    fn now_ns(&self) -> i64 {
        crate::clock::nanos(self.clock.now())
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.conn.read().clone()
    }

    /// Switches to the local fallback; on the switch, refreshes the day
    /// counts it starts from with the store's (every instance's usage, at
    /// most a flush interval old), so the instances' shares add up to what
    /// is left of each day quota.
    fn mark_down(self: &Arc<Self>) {
        if self.up.swap(false, Ordering::Relaxed) {
            *self.fallback.write() = Arc::new(MemoryRates::default());
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let sh = self.clone();
                handle.spawn(async move { sh.refresh_known().await });
            }
        }
    }

    async fn refresh_known(&self) {
        let today = utc_day(self.now_ns());
        match self.store.day_counts(today).await {
            Ok(counts) => {
                self.known.clear();
                for c in counts.iter().filter(|c| c.day == today) {
                    *self.known.entry(c.key_id.clone()).or_default() += c.count;
                    *self.known.entry(c.account_id.clone()).or_default() += c.count;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading today's usage for the fallback limits failed")
            }
        }
    }

    fn tat_key(&self, account_id: &str, key_id: &str) -> String {
        format!("{}:{{{account_id}}}:tat:{key_id}", self.namespace)
    }

    fn day_key(&self, account_id: &str, day: i64) -> String {
        format!("{}:{{{account_id}}}:day:{day}", self.namespace)
    }

    /// Today's counts of every key from the store, read at most once per
    /// [`SEED_CACHE`] however many accounts need rebuilding.
    async fn store_counts(&self, day: i64) -> Result<Arc<Vec<DayCount>>, SharedError> {
        let mut cache = self.seed_cache.lock().await;
        if let Some((d, at, counts)) = cache.as_ref() {
            if *d == day && at.elapsed() < SEED_CACHE {
                return Ok(counts.clone());
            }
        }
        let counts = Arc::new(self.store.day_counts(day).await?);
        *cache = Some((day, Instant::now(), counts.clone()));
        Ok(counts)
    }

    /// Rebuilds an account's missing day hash from the store's usage.
    async fn seed(
        &self,
        conn: &mut ConnectionManager,
        account_id: &str,
        day: i64,
    ) -> Result<(), SharedError> {
        let counts = self.store_counts(day).await?;
        let mine: Vec<&DayCount> = counts
            .iter()
            .filter(|c| c.account_id == account_id && c.day == day)
            .collect();
        let total: u64 = mine.iter().map(|c| c.count).sum();
        let mut call = self.scripts.seed.key(self.day_key(account_id, day));
        call.arg(DAY_TTL_SECS)
            .arg(total)
            .arg(format!("{:016x}", rand::random::<u64>()));
        for c in mine {
            call.arg(key_field(&c.key_id)).arg(c.count);
        }
        let _: i64 = timed(call.invoke_async(conn)).await?;
        Ok(())
    }
}

impl RedisCell {
    /// One lease round trip, rebuilding the day hash first when missing.
    async fn lease(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        want: u32,
        back: u32,
        day: i64,
    ) -> Result<Grant, SharedError> {
        let epoch = self.lease.lock().epoch.clone();
        let sh = &self.shared;
        let mut conn = sh.connection().ok_or(SharedError::NotConnected)?;
        let (emission_us, tolerance_us) = gcra_us(limits);
        let cap = |c: Option<u32>| c.map_or(-1, i64::from);
        for _ in 0..2 {
            let call = LeaseCall {
                tat_key: sh.tat_key(&self.account_id, &self.key_id),
                day_key: sh.day_key(&self.account_id, day),
                field: key_field(&self.key_id),
                emission_us,
                tolerance_us,
                key_cap: cap(limits.per_day),
                account_cap: cap(account_cap),
                want,
                back,
                epoch: epoch.to_string(),
                instances: sh.instances.load(Ordering::Relaxed).max(1),
            };
            let reply = self.run_lease(conn.clone(), call, day).await?;
            if reply.0 == -2 {
                // Redis did nothing (its clock is past our deadline): what
                // this call was to give back is still counted there.
                if back > 0 {
                    self.refund(back, day).await;
                }
                return Err(SharedError::Timeout(REDIS_TIMEOUT));
            }
            if reply.0 >= 0 {
                return Ok(Grant {
                    leased: reply.0 as u32,
                    redis_now_us: reply.1,
                    tat_us: reply.2,
                    key_used: reply.3.max(0) as u64,
                    account_used: reply.4.max(0) as u64,
                    epoch: reply.5.into(),
                });
            }
            sh.seed(&mut conn, &self.account_id, day).await?;
        }
        Err(SharedError::Redis(redis::RedisError::from((
            redis::ErrorKind::ResponseError,
            "day counts missing right after rebuilding them",
        ))))
    }

    /// One run of the lease script, on a task of its own so that a reply
    /// later than [`REDIS_TIMEOUT`] is not lost with the caller's wait: when
    /// it comes, what the call did is undone (the tokens it leased, which
    /// nobody will spend, are given back), or, when Redis did nothing (its
    /// deadline had passed), the tokens the call was to give back are.
    /// Either way the day counts stay exact.
    async fn run_lease(
        &self,
        mut conn: ConnectionManager,
        call: LeaseCall,
        day: i64,
    ) -> Result<LeaseReply, SharedError> {
        let script = self.shared.scripts.lease.clone();
        let back = call.back;
        let mut task = tokio::spawn(async move {
            script
                .key(&call.tat_key)
                .key(&call.day_key)
                .arg(&call.field)
                .arg(call.emission_us)
                .arg(call.tolerance_us)
                .arg(call.key_cap)
                .arg(call.account_cap)
                .arg(call.want)
                .arg(call.back)
                .arg(&call.epoch)
                .arg(call.instances)
                .arg(deadline_us())
                .invoke_async::<LeaseReply>(&mut conn)
                .await
        });
        match tokio::time::timeout(REDIS_TIMEOUT, &mut task).await {
            Ok(Ok(reply)) => reply.map_err(SharedError::from),
            Ok(Err(_)) => Err(SharedError::Timeout(REDIS_TIMEOUT)),
            Err(_) => {
                let cell = self.me.clone();
                tokio::spawn(async move {
                    let (Ok(Ok(reply)), Some(cell)) = (task.await, cell.upgrade()) else {
                        return;
                    };
                    let unused = match reply.0 {
                        n if n > 0 => n as u32,
                        -2 => back,
                        _ => 0,
                    };
                    if unused > 0 {
                        cell.refund(unused, day).await;
                    }
                });
                Err(SharedError::Timeout(REDIS_TIMEOUT))
            }
        }
    }

    async fn refund(&self, back: u32, day: i64) {
        let sh = &self.shared;
        let Some(mut conn) = sh.connection() else {
            return;
        };
        let (em, epoch) = {
            let l = self.lease.lock();
            (l.emission_us, l.epoch.clone())
        };
        let result: Result<i64, SharedError> = timed(
            sh.scripts
                .refund
                .key(sh.tat_key(&self.account_id, &self.key_id))
                .key(sh.day_key(&self.account_id, day))
                .arg(key_field(&self.key_id))
                .arg(em)
                .arg(back)
                .arg(&*epoch)
                .invoke_async(&mut conn),
        )
        .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "giving back leased tokens failed; they expire with the day");
        }
    }

    fn fallback(&self, limits: Limits, account_cap: Option<u32>, now: i64) -> Decision {
        let sh = &self.shared;
        sh.fallback_decisions.fetch_add(1, Ordering::Relaxed);
        let n = sh.instances.load(Ordering::Relaxed).max(1);
        let known = |id: &str| sh.known.get(id).map_or(0, |v| *v);
        let (key_used, account_used) = {
            let l = self.lease.lock();
            (l.key_used, l.account_used)
        };
        let key_used = key_used.max(known(&self.key_id));
        let account_used = account_used.max(known(&self.account_id));
        let share = |x: u32| (x / n).max(1);
        // Half of what is left by this instance's view, split N ways: the
        // views of instances differ by at most the tokens others hold,
        // which leases keep below half of what is left.
        let day_share = |cap: u32, used: u64| {
            (u64::from(cap).saturating_sub(used) / (2 * u64::from(n))).min(u64::from(u32::MAX))
                as u32
        };
        let scaled = Limits {
            per_minute: share(limits.per_minute),
            burst: share(limits.burst),
            per_day: limits.per_day.map(|c| day_share(c, key_used)),
        };
        let account = account_cap.map(|c| day_share(c, account_used));
        let fallback = sh.fallback.read().clone();
        fallback
            .key(&self.key_id, &self.account_id, utc_day(now))
            .decide(scaled, account, now)
    }

    /// Applies a lease's answer; takes one token for the request when
    /// `take` (the caller then is admitted), else refuses it.
    fn apply(&self, ask: Ask, grant: Grant, take: bool) -> Option<Decision> {
        let Ask {
            limits,
            account_cap,
            now,
            day,
        } = ask;
        let (emission_us, tolerance_us) = gcra_us(limits);
        let mut l = self.lease.lock();
        if l.epoch != grant.epoch {
            // Redis rebuilt the day's counts (it lost them): tokens leased
            // before are in no count now and were not taken back; drop them.
            l.tokens = grant.leased;
            l.epoch = grant.epoch.clone();
        } else if grant.leased > 0 && (l.day != day || now >= l.expires) {
            l.tokens = grant.leased;
        } else {
            l.tokens += grant.leased;
        }
        l.emission_us = emission_us;
        l.key_used = grant.key_used;
        l.account_used = grant.account_used;
        let room_us = tolerance_us - (grant.tat_us - grant.redis_now_us);
        l.room = (room_us.max(0) / emission_us) as u64;
        l.reset = (grant.tat_us + 999_999).div_euclid(1_000_000);
        if grant.leased > 0 {
            l.day = day;
            let instances = self.shared.instances.load(Ordering::Relaxed);
            (l.want, l.slow) = next_lease(&l, now, limits, account_cap, instances);
            l.ttl = if l.slow && l.room >= u64::from(limits.burst / 2) {
                SLOW_LEASE_TTL_NS
            } else {
                LEASE_TTL_NS
            };
            l.expires = now + l.ttl;
            l.denied_until = 0;
            l.spent = 0;
            l.since = now;
            if !l.listed {
                l.listed = true;
                self.shared.holding.lock().push(self.me.clone());
            }
        }
        if !take {
            return None;
        }
        if l.tokens > 0 && l.day == day {
            let decision = spend(&mut l, limits, now);
            if l.tokens <= l.want / 2 && !l.refilling {
                l.refilling = true;
                drop(l);
                self.top_up(limits, account_cap, 0);
            }
            return Some(decision);
        }
        let exhausted = |cap: Option<u32>, used: u64| cap.is_some_and(|c| used >= u64::from(c));
        l.denied_for_day =
            exhausted(limits.per_day, grant.key_used) || exhausted(account_cap, grant.account_used);
        let wait = if l.denied_for_day {
            // Tokens other instances hold may still come back: look again
            // soon, though the answer says to retry at midnight.
            (next_utc_midnight(now) - now).min(DAY_RECHECK_NS)
        } else {
            let ahead_us = grant.tat_us + emission_us - grant.redis_now_us - tolerance_us;
            (ahead_us * NS_PER_US).max(1_000_000)
        };
        l.denied_until = now + wait;
        Some(denial(&l, limits, now))
    }

    /// Refuses at once while a cached refusal holds, or spends a leased
    /// token; `None` when neither (the caller asks Redis).
    fn spend_lease(&self, limits: Limits, account_cap: Option<u32>, now: i64) -> Option<Decision> {
        let mut l = self.lease.lock();
        if l.tokens == 0 || now >= l.expires || l.day != utc_day(now) {
            return (now < l.denied_until).then(|| denial(&l, limits, now));
        }
        let decision = spend(&mut l, limits, now);
        let low = l.tokens <= l.want / 2;
        let ageing = now >= l.expires - l.ttl / 2;
        if (low || ageing) && !l.refilling {
            l.refilling = true;
            // Renewing an old lease gives its tokens back: they leave the
            // lease now, so none is spent while Redis already uncounted it.
            let back = match low {
                true => 0,
                false => std::mem::take(&mut l.tokens),
            };
            drop(l);
            self.top_up(limits, account_cap, back);
        }
        Some(decision)
    }

    /// Leases more tokens in the background before the lease runs dry or
    /// gets old, giving back `back` tokens already taken out of the lease
    /// in the same round trip. If the round trip fails they stay lost for
    /// the day: whether Redis took them back is unknown, and counting them
    /// twice would be the unsafe way round (a reply that comes late settles
    /// it, see `run_lease`).
    fn top_up(&self, limits: Limits, account_cap: Option<u32>, back: u32) {
        let (Some(cell), Ok(handle)) = (self.me.upgrade(), tokio::runtime::Handle::try_current())
        else {
            self.lease.lock().refilling = false;
            return;
        };
        handle.spawn(async move {
            let now = cell.shared.now_ns();
            let day = utc_day(now);
            let (want, lease_day) = {
                let l = cell.lease.lock();
                (l.want, l.day)
            };
            // Tokens of another day go back to their own day's counts.
            let back = if back > 0 && lease_day != day {
                cell.refund(back, lease_day).await;
                0
            } else {
                back
            };
            match cell.lease(limits, account_cap, want, back, day).await {
                Ok(grant) => {
                    let ask = Ask {
                        limits,
                        account_cap,
                        now,
                        day,
                    };
                    cell.apply(ask, grant, false);
                    if cell.shared.closing.load(Ordering::Relaxed) {
                        let back = std::mem::take(&mut cell.lease.lock().tokens);
                        if back > 0 {
                            cell.refund(back, day).await;
                        }
                    }
                }
                // A slow background round trip on a busy instance is not an
                // outage: the heartbeat and the requests that wait decide that.
                Err(e) => tracing::debug!(error = %e, "topping up a lease failed"),
            }
            cell.lease.lock().refilling = false;
        });
    }
}

impl RateCell for RedisCell {
    fn try_decide(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> Option<Decision> {
        if !self.shared.up.load(Ordering::Relaxed) {
            return Some(self.fallback(limits, account_cap, now_ns));
        }
        let decision = self.spend_lease(limits, account_cap, now_ns)?;
        self.shared.hits.fetch_add(1, Ordering::Relaxed);
        Some(decision)
    }

    fn decide_remote(
        &self,
        limits: Limits,
        account_cap: Option<u32>,
        now_ns: i64,
    ) -> BoxFuture<'_, Decision> {
        Box::pin(async move {
            // Another request may have topped the lease up meanwhile.
            if let Some(d) = self.spend_lease(limits, account_cap, now_ns) {
                self.shared.hits.fetch_add(1, Ordering::Relaxed);
                return d;
            }
            self.shared.misses.fetch_add(1, Ordering::Relaxed);
            let day = utc_day(now_ns);
            let (back, back_day, want) = {
                let mut l = self.lease.lock();
                // A top-up in flight gives these back itself.
                let back = match l.refilling {
                    true => 0,
                    false => std::mem::take(&mut l.tokens),
                };
                (back, l.day, l.want.max(1))
            };
            // Unspent tokens of another day go back on their own.
            let back = if back > 0 && back_day != day {
                self.refund(back, back_day).await;
                0
            } else {
                back
            };
            match self.lease(limits, account_cap, want, back, day).await {
                Ok(grant) => self
                    .apply(
                        Ask {
                            limits,
                            account_cap,
                            now: now_ns,
                            day,
                        },
                        grant,
                        true,
                    )
                    .expect("a lease taken for a request decides it"),
                Err(e) => {
                    if self.shared.up.load(Ordering::Relaxed) {
                        tracing::warn!(error = %e, "redis did not answer a lease; limiting with this instance's share");
                    }
                    self.shared.mark_down();
                    self.fallback(limits, account_cap, now_ns)
                }
            }
        })
    }
}

/// Runs a Redis call with [`REDIS_TIMEOUT`].
async fn timed<T, E>(
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SharedError>
where
    SharedError: From<E>,
{
    timed_for(REDIS_TIMEOUT, call).await
}

async fn timed_for<T, E>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SharedError>
where
    SharedError: From<E>,
{
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r.map_err(SharedError::from),
        Err(_) => Err(SharedError::Timeout(limit)),
    }
}

/// Until when (unix µs, this host's clock) a call may still act: its
/// timeout, plus a margin for clocks that differ between hosts (NTP keeps
/// them within milliseconds).
fn deadline_us() -> i64 {
    let timeout = REDIS_TIMEOUT.as_micros() as i64;
    chrono::Utc::now().timestamp_micros() + timeout + CLOCK_MARGIN_US
}

fn key_field(key_id: &str) -> String {
    format!("k:{key_id}")
}

/// GCRA's emission interval and tolerance in microseconds (Lua's numbers
/// hold microseconds since the epoch exactly).
fn gcra_us(limits: Limits) -> (i64, i64) {
    let emission = 60_000_000 / i64::from(limits.per_minute.max(1));
    (emission, emission * i64::from(limits.burst.max(1)))
}

/// The next lease's size, and whether the key is slow here: a fast key
/// leases what it spent per [`BATCH_SPAN_NS`] since the last lease (per
/// [`AMPLE_SPAN_NS`] while half its burst is free in Redis); a slow
/// one (at most [`SLOW_LEASE`] per span) what it would spend in half a slow
/// lease's life, at most an eighth of the burst split over the instances.
/// Always within 1..=min(MAX_BATCH, burst / 2).
fn next_lease(
    l: &Lease,
    now: i64,
    limits: Limits,
    account_cap: Option<u32>,
    instances: u32,
) -> (u32, bool) {
    let cap = (limits.burst / 2).clamp(1, MAX_BATCH);
    // One request since the last lease says nothing about the rate.
    if l.since == 0 || l.spent < 2 {
        return (l.want.clamp(1, cap), l.slow);
    }
    // Over at least a few milliseconds, so one quick pair of requests does
    // not look like a flood.
    let elapsed = (now - l.since).max(MIN_RATE_WINDOW_NS);
    let spent = i64::from(l.spent);
    let per_span = (spent * BATCH_SPAN_NS + elapsed - 1) / elapsed;
    if per_span <= i64::from(SLOW_LEASE) {
        let slow_cap =
            (limits.burst / (8 * instances.max(1))).clamp(SLOW_LEASE, cap.max(SLOW_LEASE));
        let want = (spent * (SLOW_LEASE_TTL_NS / 2) + elapsed - 1) / elapsed;
        return (want.clamp(1, i64::from(slow_cap.min(cap))) as u32, true);
    }
    let ample = (spent * AMPLE_SPAN_NS + elapsed - 1) / elapsed;
    // Near a day cap the tokens other instances hold would be refused here:
    // the longer span only while the day has far more left than all
    // instances' leases of that size could hold.
    let day_left = |cap: Option<u32>, used: u64| cap.map(|c| u64::from(c).saturating_sub(used));
    let far_from_day_cap = [
        day_left(limits.per_day, l.key_used),
        day_left(account_cap, l.account_used),
    ]
    .into_iter()
    .flatten()
    .all(|left| left >= 16 * u64::from(instances.max(1)) * ample as u64);
    let want = if l.room >= u64::from(limits.burst / 2) && far_from_day_cap {
        ample
    } else {
        per_span
    };
    let want = want.clamp(i64::from(MIN_BATCH.min(cap)), i64::from(cap)) as u32;
    (want, false)
}

fn spend(l: &mut Lease, limits: Limits, now: i64) -> Decision {
    l.tokens -= 1;
    l.spent += 1;
    let day_left = |cap: Option<u32>, used: u64| {
        cap.map(|c| u64::from(c).saturating_sub(used) + u64::from(l.tokens))
    };
    let rate_left = l.room + u64::from(l.tokens);
    let day = day_left(limits.per_day, l.key_used);
    let remaining = day.map_or(rate_left, |d| d.min(rate_left));
    let day_bound = day.is_some_and(|d| d < rate_left);
    Decision {
        allowed: true,
        limit: limits.per_minute,
        remaining,
        reset: l.reset.max(now.div_euclid(NS_PER_SEC)),
        retry_after: None,
        day_bound,
        day_limit: limits.per_day,
        reset_in: if day_bound {
            secs_ceil(next_utc_midnight(now) - now)
        } else {
            (l.reset - now.div_euclid(NS_PER_SEC)).max(0) as u64
        },
    }
}

fn denial(l: &Lease, limits: Limits, now: i64) -> Decision {
    let (wait, reset) = if l.denied_for_day {
        let midnight = next_utc_midnight(now);
        (midnight - now, midnight.div_euclid(NS_PER_SEC))
    } else {
        ((l.denied_until - now).max(1), l.reset)
    };
    Decision {
        allowed: false,
        limit: limits.per_minute,
        remaining: 0,
        reset,
        retry_after: Some(secs_ceil(wait).max(1)),
        day_bound: l.denied_for_day,
        day_limit: limits.per_day,
        reset_in: secs_ceil(wait).max(1),
    }
}

/// Whole seconds, rounded up, of a non-negative span in nanoseconds.
fn secs_ceil(ns: i64) -> u64 {
    ((ns.max(0) + NS_PER_SEC - 1) / NS_PER_SEC) as u64
}

#[cfg(test)]
mod tests {
    //! Against the real Redis at 127.0.0.1:6379 (`KEYPORT_TEST_REDIS` to
    //! change it), each test under a namespace of its own. A test fails
    //! loudly when Redis is not there.
    use super::*;
    use keyport_core::limiter::{decide, DayQuota};

    fn redis_url() -> String {
        std::env::var("KEYPORT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
    }

    async fn empty_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        crate::store::open(&url).await.unwrap()
    }

    /// `n` instances sharing one fresh namespace of `url`.
    async fn instances(n: usize, url: &str, store: &Arc<dyn Store>) -> Vec<Arc<RedisRates>> {
        let ns = format!("kptest-{:016x}", rand::random::<u64>());
        let mut out = Vec::new();
        for _ in 0..n {
            let r =
                RedisRates::connect(url, &ns, store.clone(), Arc::new(crate::clock::SystemClock))
                    .await
                    .unwrap();
            assert!(
                r.shared().unwrap().up,
                "Redis at {url} must be running for this test"
            );
            out.push(r);
        }
        out
    }

    fn now() -> i64 {
        crate::clock::nanos(chrono::Utc::now())
    }

    async fn ask(
        r: &RedisRates,
        key: &str,
        account: &str,
        limits: Limits,
        cap: Option<u32>,
    ) -> Decision {
        let cell = r.cell(key, account, now());
        let t = now();
        match cell.try_decide(limits, cap, t) {
            Some(d) => d,
            None => cell.decide_remote(limits, cap, t).await,
        }
    }

    fn limits(per_minute: u32, burst: u32, per_day: Option<u32>) -> Limits {
        Limits {
            per_minute,
            per_day,
            burst,
        }
    }

    #[tokio::test]
    async fn daily_quotas_are_exact_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(3, &redis_url(), &store).await;
        // A key's own day cap, requests round-robin over three instances.
        let l = limits(1_000, 2_000, Some(50));
        let mut admitted = 0;
        let mut last = None;
        for i in 0..200 {
            let d = ask(&rs[i % 3], "k1", "a1", l, None).await;
            if d.allowed {
                admitted += 1;
                // The day, not the rate of 1,000 a minute, is what binds.
                assert!(d.day_bound, "{d:?}");
                assert_eq!(d.day_limit, Some(50));
            }
            last = Some(d);
        }
        assert_eq!(admitted, 50, "the key's day cap");
        let refused = last.unwrap();
        assert!(!refused.allowed && refused.day_bound, "{refused:?}");
        assert_eq!(refused.retry_after, Some(refused.reset_in));
        // The account's day cap, shared by two keys.
        let l = limits(1_000, 2_000, None);
        let mut admitted = 0;
        for i in 0..200 {
            let key = if i % 2 == 0 { "k2" } else { "k3" };
            if ask(&rs[i % 3], key, "a2", l, Some(30)).await.allowed {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 30, "the account's day cap over its keys");
    }

    /// Saturating traffic, round-robin over three instances, admitted
    /// within +0.5 % / -2 % of one GCRA deciding the same requests at the
    /// same times.
    #[tokio::test]
    async fn per_minute_admission_tracks_a_single_gcra() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(3, &redis_url(), &store).await;
        // 1,000 a second with bursts of 50, asked about 2,000 times a second.
        let l = limits(60_000, 50, None);
        let started = Instant::now();
        let mut times = Vec::new();
        let mut admitted = 0u64;
        let mut i = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let target = Duration::from_micros(500 * i as u64);
            if let Some(wait) = target.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            times.push(now());
            if ask(&rs[i % 3], "k", "a", l, None).await.allowed {
                admitted += 1;
            }
            i += 1;
        }
        let mut tat = 0;
        let mut single = 0u64;
        let unlimited = DayQuota { used: 0, cap: None };
        for t in times.iter().copied() {
            let (d, new_tat) = decide(l, tat, t, unlimited, unlimited);
            if let Some(n) = new_tat {
                tat = n;
            }
            single += u64::from(d.allowed);
        }
        let ratio = admitted as f64 / single as f64;
        let state = rs[0].shared().unwrap();
        eprintln!(
            "{} requests: admitted {admitted} across instances, {single} by one GCRA (ratio {ratio:.4}); \
             instance 0: {} lease hits, {} misses",
            times.len(),
            state.lease_hits,
            state.lease_misses
        );
        assert!(
            (0.98..=1.005).contains(&ratio),
            "admitted {admitted} vs {single} by a single GCRA"
        );
    }

    /// An instance that stops gives its unspent tokens back, so the others
    /// can still use the whole day.
    #[tokio::test]
    async fn a_stopping_instance_gives_its_tokens_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(2, &redis_url(), &store).await;
        let l = limits(1_000, 2_000, Some(10));
        assert!(ask(&rs[0], "k", "a", l, None).await.allowed);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(rs[0].clone().run(stopped));
        stop.send(true).unwrap();
        running.await.unwrap();
        let mut admitted = 0;
        for _ in 0..20 {
            admitted += u32::from(ask(&rs[1], "k", "a", l, None).await.allowed);
        }
        assert_eq!(
            admitted, 9,
            "the rest of the day, including what the first instance held"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_cached_until_its_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(1, &redis_url(), &store).await;
        let l = limits(60, 2, None);
        assert!(ask(&rs[0], "k", "a", l, None).await.allowed);
        assert!(ask(&rs[0], "k", "a", l, None).await.allowed);
        let refused = ask(&rs[0], "k", "a", l, None).await;
        assert!(!refused.allowed);
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
        let misses = rs[0].shared().unwrap().lease_misses;
        for _ in 0..100 {
            assert!(!ask(&rs[0], "k", "a", l, None).await.allowed);
        }
        assert_eq!(
            rs[0].shared().unwrap().lease_misses,
            misses,
            "no round trip while the refusal holds"
        );
    }

    /// Under a steady load below the limits, a verify almost never waits on
    /// Redis: leases are sized to the key's rate and topped up early.
    #[tokio::test]
    async fn steady_traffic_rarely_waits_on_redis() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(2, &redis_url(), &store).await;
        let l = limits(1_000_000, 100_000, None);
        let started = Instant::now();
        let mut i = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            // About 2,000 a second per instance, paced a millisecond at a time.
            if i.is_multiple_of(4) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let r = &rs[(i % 2) as usize];
            assert!(ask(r, "k", "a", l, None).await.allowed);
            i += 1;
        }
        let (hits, misses) = rs.iter().fold((0, 0), |(h, m), r| {
            let s = r.shared().unwrap();
            (h + s.lease_hits, m + s.lease_misses)
        });
        let share = misses as f64 / (hits + misses) as f64;
        eprintln!(
            "{i} verifies: {hits} from leases, {misses} waited ({:.3} %)",
            share * 100.0
        );
        assert!(
            share <= 0.01,
            "{misses} of {} waited on Redis",
            hits + misses
        );
    }

    /// A busy key leases 100 ms of its rate while its burst is mostly
    /// spent, and 400 ms of it while at least half is free.
    #[test]
    fn a_busy_key_leases_longer_while_its_burst_is_mostly_free() {
        let l = limits(60_000, 2_000, None);
        let lease = |room: u64| Lease {
            since: 1_000_000_000,
            spent: 30,
            room,
            ..Lease::default()
        };
        let now = 1_000_000_000 + BATCH_SPAN_NS;
        assert_eq!(next_lease(&lease(10), now, l, None, 1), (30, false));
        assert_eq!(next_lease(&lease(999), now, l, None, 1), (30, false));
        assert_eq!(next_lease(&lease(1_000), now, l, None, 1), (120, false));
        // Still within half the burst and MAX_BATCH.
        let small = limits(60_000, 100, None);
        assert_eq!(next_lease(&lease(100), now, small, None, 1), (50, false));
        // Not near a day cap: with 3 instances, 16 × 3 × 120 must be left.
        let capped = limits(60_000, 2_000, Some(5_760));
        assert_eq!(
            next_lease(&lease(1_000), now, capped, None, 3),
            (120, false)
        );
        assert_eq!(next_lease(&lease(1_000), now, capped, None, 4), (30, false));
        assert_eq!(
            next_lease(&lease(1_000), now, l, Some(5_759), 3),
            (30, false)
        );
    }

    /// Many slow keys (a few requests a second on each instance): after a
    /// key's first lease on an instance, its verifies do not wait on Redis.
    #[tokio::test]
    async fn slow_keys_keep_their_leases_between_requests() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        let rs = instances(2, &redis_url(), &store).await;
        let l = limits(1_000, 2_000, None);
        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let started = Instant::now();
        let (mut asked, mut round) = (0u64, 0usize);
        while started.elapsed() < Duration::from_secs(4) {
            // Each key every ~300 ms, alternating instances: each instance
            // sees a key every ~600 ms, longer than a busy key's lease lives.
            for (i, key) in keys.iter().enumerate() {
                assert!(ask(&rs[(round + i) % 2], key, "a", l, None).await.allowed);
                asked += 1;
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let misses: u64 = rs.iter().map(|r| r.shared().unwrap().lease_misses).sum();
        let first_leases = (keys.len() * rs.len()) as u64;
        eprintln!(
            "{asked} verifies of {} slow keys: {misses} waited on Redis",
            keys.len()
        );
        assert!(
            misses <= first_leases + asked / 100,
            "{misses} waited, beyond the {first_leases} first leases and 1 % of {asked}"
        );
    }

    #[tokio::test]
    async fn a_redis_nobody_answers_limits_with_the_local_share() {
        let dir = tempfile::tempdir().unwrap();
        let store = empty_store(&dir).await;
        // A port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let r = RedisRates::connect(
            &format!("redis://127.0.0.1:{port}/0"),
            "kp",
            store,
            Arc::new(crate::clock::SystemClock),
        )
        .await
        .unwrap();
        assert!(!r.shared().unwrap().up);
        let l = limits(60, 10, Some(100));
        let admitted = {
            let mut n = 0;
            for _ in 0..50 {
                n += u32::from(ask(&r, "k", "a", l, None).await.allowed);
            }
            n
        };
        assert_eq!(
            admitted, 10,
            "the burst, shared by the one instance it knows of"
        );
        assert!(r.shared().unwrap().fallback >= 50);
    }
}
