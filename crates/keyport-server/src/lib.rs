//! The Keyport key service as a library: open a store, build the service,
//! and serve HTTP on an address of your choice (the desktop app embeds it on
//! `127.0.0.1:0`; the `keyport-server` binary runs it standalone).

pub mod admin;
pub mod alerts;
mod authlog;
pub mod clock;
pub mod detector;
pub mod error;
pub mod feed;
mod flush;
pub mod http;
pub mod leaks;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod operator;
pub mod preview;
mod priority;
pub mod rate;
pub mod recorder;
pub mod restrictions;
pub mod scan;
pub mod serve;
pub mod service;
pub mod store;
pub mod usage;
pub mod webhooks;

use keyport_core::KeyPrefix;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::http::{AppState, GeoConfig, HttpLimits, Upstream};
use crate::rate::redis::RedisRates;
use crate::rate::{MemoryRates, RateStore};
use crate::service::{KeyService, ServiceOptions};
use keyport_core::anomaly::AnomalyConfig;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `sqlite://path/to/keyport.db` or `postgres://user@host/db`
    pub database_url: String,
    /// Connection pool of the PostgreSQL store (size, acquire timeout).
    pub database_pool: store::PoolConfig,
    /// Gateway upstream; without it, paths outside `/v1` answer 404.
    pub upstream: Option<reqwest::Url>,
    pub key_prefix: KeyPrefix,
    /// How far usage counts and last-used times may lag in the database
    /// while flushes are small (under `flush::STRETCH_MIN_KEYS` keys).
    pub flush_interval: Duration,
    /// The most a large flush may be spaced out to under load (see
    /// `flush`); at most `flush_interval` disables spacing.
    pub flush_max_interval: Duration,
    pub request_timeout: Duration,
    pub upstream_timeout: Duration,
    pub max_json_bytes: usize,
    /// Header with the caller's country, honoured only from `trusted_proxies`.
    pub country_header: Option<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Count usage per key; off only to measure its cost.
    pub record_usage: bool,
    pub anomaly: AnomalyConfig,
    /// How often the anomaly detector and reminders run.
    pub detector_interval: Duration,
    pub minute_retention_days: u32,
    pub hour_retention_days: u32,
    /// Most active keys per enterprise account.
    pub enterprise_key_cap: u32,
    /// The longest rotation period per environment accounts may choose.
    pub max_rotation_days: keyport_core::rotation::RotationPolicy,
    /// Header-read timeout, connection cap and the like.
    pub conn: serve::ConnLimits,
    /// On PostgreSQL: how long the change feed may go unread before this
    /// instance answers verifications 503 (it may have missed a revoke).
    pub feed_stale_after: Duration,
    /// `redis://host:port/db`: rate limits shared with every instance using
    /// the same Redis (see `rate::redis`). Without it, limits are this
    /// instance's own.
    pub redis: Option<String>,
    /// Prefix of this service's keys in Redis: instances share limits when
    /// they share Redis and this.
    pub redis_namespace: String,
    /// Where to serve `GET /metrics` (Prometheus); never the public
    /// listener. `None`: no metrics listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The URL customers reach this service at, for enrollment links. Without
    /// it a link names the address the operator's request was sent to.
    pub public_url: Option<String>,
    /// Hours an enrollment code is valid by default.
    pub enrollment_hours: u32,
    /// Let webhooks go to loopback, private and link-local addresses and
    /// plain `http://` (development; the embedded service).
    pub allow_private_webhooks: bool,
    /// The public keys leak reports are signed with (`POST /v1/leaks`);
    /// without them the endpoint answers 404.
    pub leak_report_keys: Option<Arc<leaks::LeakKeys>>,
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen,
            database_url: database_url.into(),
            database_pool: store::PoolConfig::default(),
            upstream: None,
            key_prefix: KeyPrefix::default(),
            flush_interval: Duration::from_secs(1),
            flush_max_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(25),
            max_json_bytes: 64 * 1024,
            country_header: None,
            trusted_proxies: Vec::new(),
            record_usage: true,
            anomaly: AnomalyConfig::default(),
            detector_interval: Duration::from_secs(60),
            minute_retention_days: 90,
            hour_retention_days: 400,
            enterprise_key_cap: service::DEFAULT_ENTERPRISE_KEY_CAP,
            max_rotation_days: keyport_core::rotation::RotationPolicy::UNBOUNDED,
            conn: serve::ConnLimits::default(),
            feed_stale_after: service::DEFAULT_FEED_STALE_AFTER,
            redis: None,
            redis_namespace: REDIS_NAMESPACE.to_string(),
            metrics_listen: None,
            public_url: None,
            enrollment_hours: operator::DEFAULT_ENROLLMENT_HOURS,
            allow_private_webhooks: false,
            leak_report_keys: None,
        }
    }

    fn service_options(&self) -> ServiceOptions {
        ServiceOptions {
            prefix: self.key_prefix.clone(),
            record_usage: self.record_usage,
            anomaly: self.anomaly.clone(),
            minute_retention_days: self.minute_retention_days,
            hour_retention_days: self.hour_retention_days,
            enterprise_key_cap: self.enterprise_key_cap,
            max_rotation_days: self.max_rotation_days,
            feed_stale_after: self.feed_stale_after,
            // Renewed every pass: another instance takes over within three
            // passes of the holder dying.
            detector_lease: (self.detector_interval * 3).max(Duration::from_secs(1)),
            enrollment_hours: self.enrollment_hours,
            webhook_destinations: webhooks::Destinations {
                allow_private: self.allow_private_webhooks,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Service(#[from] error::ServiceError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Upstream(#[from] http::upstream::UpstreamError),
    #[error("invalid country header name {0:?}")]
    CountryHeader(String),
    #[error("cannot start the background thread: {0}")]
    Background(std::io::Error),
    #[error("cannot use redis for rate limits: {0}")]
    Redis(#[from] rate::redis::SharedError),
}

/// A running service. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    service: Arc<KeyService>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The usage flush and the anomaly detector (see [`spawn_background`]).
    background: std::thread::JoinHandle<()>,
    /// The shared rate store's heartbeat, when limits are in Redis.
    rates: Option<JoinHandle<()>>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn service(&self) -> &Arc<KeyService> {
        &self.service
    }

    /// Stops accepting, lets requests in flight finish, then writes the last
    /// usage batch.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(rates) = self.rates {
            let _ = rates.await;
        }
        let background = self.background;
        let _ = tokio::task::spawn_blocking(move || background.join()).await;
        if let Err(e) = self.service.flush_all().await {
            tracing::error!(error = %e, "final usage flush failed");
        }
        if let Err(e) = self.service.release_detector().await {
            tracing::warn!(error = %e, "could not give up the detector lease");
        }
        if let Err(e) = self.service.webhooks().release().await {
            tracing::warn!(error = %e, "could not give up the webhook lease");
        }
    }

    /// Waits until the server stops by itself (it does not, unless shut down).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens the database and starts serving. Returns once the socket is bound.
pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Server, StartError> {
    let store = store::open_with(&config.database_url, config.database_pool).await?;
    let shared = match &config.redis {
        Some(url) => Some(
            RedisRates::connect(url, &config.redis_namespace, store.clone(), clock.clone()).await?,
        ),
        None => None,
    };
    let rates: Arc<dyn RateStore> = match &shared {
        Some(r) => r.clone(),
        None => Arc::new(MemoryRates::default()),
    };
    let service =
        KeyService::open_with_rates(store, rates, clock, config.service_options()).await?;
    serve_service(config, Arc::new(service), shared).await
}

/// Where keyport-server keeps its keys in Redis, by default.
pub const REDIS_NAMESPACE: &str = "keyport";

/// Serves an already opened service (for callers that also use it directly).
pub async fn start_with_service(
    config: ServerConfig,
    service: Arc<KeyService>,
) -> Result<Server, StartError> {
    serve_service(config, service, None).await
}

async fn serve_service(
    config: ServerConfig,
    service: Arc<KeyService>,
    shared: Option<Arc<RedisRates>>,
) -> Result<Server, StartError> {
    let upstream = match &config.upstream {
        Some(url) => Some(Upstream::new(url, config.upstream_timeout)?),
        None => None,
    };
    let header = match &config.country_header {
        Some(h) => Some(
            h.parse()
                .map_err(|_| StartError::CountryHeader(h.clone()))?,
        ),
        None => None,
    };
    let geo = GeoConfig {
        header,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let state = AppState::new(service.clone(), upstream, geo)
        .with_public_url(config.public_url.clone())
        .with_leak_keys(config.leak_report_keys.clone());
    let metrics_addr = match config.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, state.clone()).await?),
        None => None,
    };
    let app = http::app(
        state,
        &HttpLimits {
            request_timeout: config.request_timeout,
            max_json_bytes: config.max_json_bytes,
        },
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve::serve(listener, app, config.conn, stopped.clone()));
    // On the request path's runtime: its Redis connection serves verifies.
    let rates = shared.map(|r| tokio::spawn(r.run(stopped.clone())));
    let background =
        spawn_background(service.clone(), &config, stopped).map_err(StartError::Background)?;
    tracing::info!(%addr, "keyport key service listening");
    Ok(Server {
        addr,
        metrics_addr,
        service,
        stop,
        task,
        background,
        rates,
    })
}

/// Serves `GET /metrics` on its own listener until the process ends.
async fn serve_metrics(addr: SocketAddr, state: AppState) -> Result<SocketAddr, StartError> {
    let listen_error = |source| StartError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::ops::metrics_app(state)).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    tracing::info!(addr = %bound, "metrics on http://{bound}/metrics");
    Ok(bound)
}

/// Starts the background jobs, the usage flush and the anomaly detector (with
/// rotation reminders), on a thread of their own: its own single-threaded
/// runtime, below the request path's CPU priority (see `priority`). On a
/// busy machine they then never hold up a verify; they still run, only
/// later. They stop when `stopped` turns true.
fn spawn_background(
    service: Arc<KeyService>,
    config: &ServerConfig,
    stopped: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (flush_every, flush_max) = (config.flush_interval, config.flush_max_interval);
    let detect_every = config.detector_interval;
    std::thread::Builder::new()
        .name("keyport-background".into())
        .spawn(move || {
            priority::lower_current_thread();
            let flusher = service.clone();
            let follower = service.clone();
            let detector = service.clone();
            let webhooks = service;
            runtime.block_on(async move {
                tokio::join!(
                    follow_changes(follower, stopped.clone()),
                    // Nothing to flush at start: the first flush is one
                    // period in, never racing the first requests.
                    flush::run(flush_every, flush_max, stopped.clone(), move || {
                        let svc = flusher.clone();
                        async move { svc.flush().await }
                    }),
                    every(
                        detect_every,
                        stopped.clone(),
                        "anomaly detection",
                        move || {
                            let svc = detector.clone();
                            async move { svc.run_detector().await.map(drop) }
                        }
                    ),
                    deliver_webhooks(webhooks, stopped),
                );
            });
        })
}

/// Keeps the verify cache current with the change feed, when the store has
/// one: woken by each notification, and reading at least every
/// [`feed::POLL`] regardless.
async fn follow_changes(service: Arc<KeyService>, mut stopped: watch::Receiver<bool>) {
    if !service.follows_changes() {
        return;
    }
    let store = service.store.clone();
    loop {
        if let Err(e) = service.catch_up().await {
            tracing::warn!(error = %e, "reading the change feed failed; will retry");
        }
        tokio::select! {
            _ = store.wait_for_change(feed::POLL) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Delivers due webhooks: a pass each second, or at once when this
/// instance writes an event.
async fn deliver_webhooks(service: Arc<KeyService>, mut stopped: watch::Receiver<bool>) {
    let webhooks = service.webhooks();
    loop {
        if let Err(e) = webhooks.run_once().await {
            tracing::warn!(error = %e, "delivering webhooks failed; will retry");
        }
        tokio::select! {
            _ = webhooks.wait(Duration::from_secs(1)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Runs `job` every `every` until the server stops; a failure is logged
/// and retried on the next tick.
async fn every<F, Fut, E>(
    every: Duration,
    mut stopped: watch::Receiver<bool>,
    what: &'static str,
    job: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // The first run is one period in, like the flush's: start-up and the
    // first requests never race a pass.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if let Err(e) = job().await {
            tracing::error!(error = %e, "{what} failed; will retry");
        }
    }
}
