//! Prometheus metrics (`GET /metrics` on the separate `--metrics-listen`
//! listener, never on the public one). Counters and the latency histogram
//! are fixed-size atomics updated in place (nothing is buffered between
//! scrapes); gauges of state owned elsewhere (change-feed lag, Redis, the
//! database pool) are read when scraped.

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::error::ServiceError;
use crate::rate::SharedState;

/// Which hot path a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Verify = 0,
    Gateway = 1,
}

const ROUTES: [&str; 2] = ["verify", "gateway"];
const OUTCOMES: [&str; 6] = [
    "allowed",
    "rate_limited",
    "forbidden",
    "unauthorized",
    "unavailable",
    "error",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// What a scrape reads from the service besides the counters.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub change_feed_lag_ms: Option<i64>,
    /// Milliseconds since usage was last written to the database.
    pub flush_lag_ms: i64,
    pub shared: Option<SharedState>,
    /// Connections of the database pool: (open, idle).
    pub pool: Option<(u32, u32)>,
}

pub struct Metrics {
    registry: Registry,
    /// Pre-resolved per route and outcome: counting is one atomic add.
    requests: [[Counter; OUTCOMES.len()]; ROUTES.len()],
    verify_seconds: Histogram,
    leases: [Counter; 3],
    /// Lease counts already added to `leases` (they are read from the rate
    /// store's own counters at each scrape).
    leases_seen: Mutex<[u64; 3]>,
    rate_shared: Gauge,
    instances: Gauge,
    feed_lag: Gauge<f64, AtomicU64>,
    flush_lag: Gauge<f64, AtomicU64>,
    pool: Family<StateLabel, Gauge>,
    /// Reported tokens: [true_positive, false_positive].
    leak_tokens: [Counter; 2],
    /// Change feed entries read: [own (skipped), other instances' (applied)].
    feed_entries: [Counter; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyport");
        let requests_family = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Verify and gateway requests by outcome",
            requests_family.clone(),
        );
        let requests = ROUTES.map(|route| {
            OUTCOMES.map(|outcome| {
                requests_family
                    .get_or_create(&RequestLabels { route, outcome })
                    .clone()
            })
        });
        // 50 µs up to ~0.4 s.
        let verify_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 14));
        registry.register(
            "verify_duration_seconds",
            "Time to answer POST /v1/verify, from its body read to its answer",
            verify_seconds.clone(),
        );
        let lease_family = Family::<ResultLabel, Counter>::default();
        registry.register(
            "limiter_leases",
            "Rate decisions on shared limits: hit = from a local token lease or cached refusal, miss = waited on Redis, fallback = Redis down, local share",
            lease_family.clone(),
        );
        let leases = ["hit", "miss", "fallback"]
            .map(|result| lease_family.get_or_create(&ResultLabel { result }).clone());
        let rate_shared = Gauge::default();
        registry.register(
            "rate_limits_shared",
            "1 when limits are shared through Redis, 0 when this instance limits alone or on its fallback share",
            rate_shared.clone(),
        );
        let instances = Gauge::default();
        registry.register(
            "instances",
            "Instances sharing the limits, from the Redis heartbeat (1 without Redis)",
            instances.clone(),
        );
        let feed_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "change_feed_lag_seconds",
            "Time since the change feed was last read to its end (0 without a feed)",
            feed_lag.clone(),
        );
        let flush_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "usage_flush_lag_seconds",
            "Time since usage counts were last written to the database",
            flush_lag.clone(),
        );
        let pool = Family::<StateLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            pool.clone(),
        );
        let leak_family = Family::<ResultLabel, Counter>::default();
        registry.register(
            "leak_report_tokens",
            "Tokens in signed leak reports: true_positive = a live key (acted on), false_positive = anything else (only counted)",
            leak_family.clone(),
        );
        let leak_tokens = ["true_positive", "false_positive"]
            .map(|result| leak_family.get_or_create(&ResultLabel { result }).clone());
        let feed_family = Family::<SourceLabel, Counter>::default();
        registry.register(
            "change_feed_entries",
            "Change feed entries read: own = written by this instance (its cache already has them, skipped), other = written by another instance (applied)",
            feed_family.clone(),
        );
        let feed_entries = ["own", "other"]
            .map(|source| feed_family.get_or_create(&SourceLabel { source }).clone());
        Self {
            leak_tokens,
            feed_entries,
            registry,
            requests,
            verify_seconds,
            leases,
            leases_seen: Mutex::new([0; 3]),
            rate_shared,
            instances,
            feed_lag,
            flush_lag,
            pool,
        }
    }

    /// Counts one hot-path request by how it ended.
    pub fn count<T>(&self, route: Route, result: &Result<T, ServiceError>) {
        let outcome = match result {
            Ok(_) => 0,
            Err(ServiceError::RateLimited(_)) => 1,
            Err(ServiceError::Forbidden { .. }) => 2,
            Err(ServiceError::Unauthorized(_)) => 3,
            Err(ServiceError::Unavailable(_) | ServiceError::Stale) => 4,
            Err(_) => 5,
        };
        self.requests[route as usize][outcome].inc();
    }

    /// Counts change feed entries read in one batch.
    pub fn feed_entries(&self, own: usize, other: usize) {
        self.feed_entries[0].inc_by(own as u64);
        self.feed_entries[1].inc_by(other as u64);
    }

    /// Counts the tokens of one leak report.
    pub fn leak_report(&self, live: u64, other: u64) {
        self.leak_tokens[0].inc_by(live);
        self.leak_tokens[1].inc_by(other);
    }

    /// Records how long a verify took, from `started`.
    pub fn verify_took(&self, started: Instant) {
        self.verify_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// The text exposition, with `snapshot`'s gauges brought up to date.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.feed_lag
            .set(snapshot.change_feed_lag_ms.unwrap_or(0).max(0) as f64 / 1000.0);
        self.flush_lag
            .set(snapshot.flush_lag_ms.max(0) as f64 / 1000.0);
        match snapshot.shared {
            Some(s) => {
                self.rate_shared.set(i64::from(s.up));
                self.instances.set(i64::from(s.instances));
                let now = [s.lease_hits, s.lease_misses, s.fallback];
                let mut seen = self.leases_seen.lock();
                for (i, counter) in self.leases.iter().enumerate() {
                    counter.inc_by(now[i].saturating_sub(seen[i]));
                }
                *seen = now;
            }
            None => {
                self.rate_shared.set(0);
                self.instances.set(1);
            }
        }
        if let Some((open, idle)) = snapshot.pool {
            let used = i64::from(open.saturating_sub(idle));
            self.pool
                .get_or_create(&StateLabel { state: "used" })
                .set(used);
            self.pool
                .get_or_create(&StateLabel { state: "idle" })
                .set(i64::from(idle));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_outcome() {
        let m = Metrics::new();
        m.count::<()>(Route::Verify, &Ok(()));
        m.count::<()>(Route::Verify, &Ok(()));
        m.count::<()>(Route::Gateway, &Err(ServiceError::Stale));
        let text = m.render(&Snapshot::default());
        assert!(text.contains(r#"keyport_requests_total{route="verify",outcome="allowed"} 2"#));
        assert!(text.contains(r#"keyport_requests_total{route="gateway",outcome="unavailable"} 1"#));
        assert!(text.contains(r#"keyport_requests_total{route="verify",outcome="error"} 0"#));
    }

    #[test]
    fn lease_counts_follow_the_rate_store_without_double_counting() {
        let m = Metrics::new();
        let shared = |hits, misses| Snapshot {
            shared: Some(SharedState {
                up: true,
                instances: 3,
                lease_hits: hits,
                lease_misses: misses,
                fallback: 0,
            }),
            ..Snapshot::default()
        };
        m.render(&shared(10, 1));
        let text = m.render(&shared(25, 2));
        assert!(text.contains(r#"keyport_limiter_leases_total{result="hit"} 25"#));
        assert!(text.contains(r#"keyport_limiter_leases_total{result="miss"} 2"#));
        assert!(text.contains("keyport_instances 3"));
        assert!(text.contains("keyport_rate_limits_shared 1"));
    }

    #[test]
    fn latency_lands_in_buckets() {
        let m = Metrics::new();
        m.verify_took(Instant::now());
        let text = m.render(&Snapshot::default());
        assert!(text.contains("keyport_verify_duration_seconds_count 1"));
        assert!(text.contains(r#"keyport_verify_duration_seconds_bucket{le="+Inf"} 1"#));
    }
}
