use chrono::{DateTime, Duration, TimeZone, Utc};
use keyport_core::Plan;
use keyport_server::clock::ManualClock;
use keyport_server::{start, Server, ServerConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tempfile::TempDir;

pub use crate::db::TestDb;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

pub struct Harness {
    pub server: Option<Server>,
    pub base: String,
    pub http: Client,
    pub clock: Arc<ManualClock>,
    /// Holds the SQLite file, when the test runs on SQLite.
    _dir: TempDir,
    /// The test's own database (see `TestDb`): dropped after the server.
    pub db: TestDb,
    pub upstream: Option<reqwest::Url>,
    /// Proxy range whose CF-IPCountry header is trusted.
    pub trusted: &'static str,
    /// The vendor's longest rotation periods (`--max-rotation-days`).
    pub max_rotation_days: keyport_core::rotation::RotationPolicy,
    /// `--allow-private-webhooks`: on, so receivers on loopback work.
    pub private_webhooks: bool,
    /// `--leak-report-keys`.
    pub leak_keys: Option<Arc<keyport_server::leaks::LeakKeys>>,
}

pub struct Account {
    pub id: String,
    pub admin: String,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_upstream(None).await
    }

    pub async fn with_upstream(upstream: Option<reqwest::Url>) -> Self {
        Self::build(upstream, "127.0.0.0/8").await
    }

    pub async fn build(upstream: Option<reqwest::Url>, trusted: &'static str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::create(dir.path()).await;
        let clock = Arc::new(ManualClock::new(t0()));
        let mut h = Self {
            server: None,
            base: String::new(),
            http: Client::new(),
            clock,
            _dir: dir,
            db,
            upstream,
            trusted,
            max_rotation_days: keyport_core::rotation::RotationPolicy::UNBOUNDED,
            private_webhooks: true,
            leak_keys: None,
        };
        h.boot().await;
        h
    }

    fn config(&self) -> ServerConfig {
        let mut c = ServerConfig::new("127.0.0.1:0".parse::<SocketAddr>().unwrap(), self.db.url());
        c.upstream = self.upstream.clone();
        c.flush_interval = std::time::Duration::from_millis(100);
        c.country_header = Some("CF-IPCountry".into());
        c.trusted_proxies = vec![self.trusted.parse().unwrap()];
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.max_rotation_days = self.max_rotation_days;
        c.allow_private_webhooks = self.private_webhooks;
        c.leak_report_keys = self.leak_keys.clone();
        c
    }

    async fn boot(&mut self) {
        let server = start(self.config(), self.clock.clone()).await.unwrap();
        self.base = format!("http://{}", server.addr());
        self.server = Some(server);
    }

    /// Graceful stop (flushes usage) and a fresh start on the same file.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().shutdown().await;
        self.boot().await;
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }

    pub async fn account(&self, plan: Plan) -> Account {
        let (a, _, secret) = self
            .server()
            .service()
            .create_account("Test account", plan, "test")
            .await
            .unwrap();
        Account {
            id: a.id,
            admin: secret.expose().to_string(),
        }
    }

    pub async fn get(&self, key: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a key server-side; returns (key JSON, raw secret).
    pub async fn create_key(&self, admin: &str, body: Value) -> (Value, String) {
        let res = self.post(admin, "/v1/keys", body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        let secret = v["secret"].as_str().unwrap().to_string();
        (v["key"].clone(), secret)
    }

    pub async fn key_with_scopes(
        &self,
        admin: &str,
        scopes: &[&str],
        resources: &[&str],
    ) -> (Value, String) {
        self.create_key(
            admin,
            json!({"name": "k", "environment": "live", "scopes": scopes, "resources": resources}),
        )
        .await
    }

    pub async fn verify(&self, body: Value) -> Response {
        self.http
            .post(self.url("/v1/verify"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts the error shape and code, and returns the message.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(res.status(), status, "unexpected status");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], code, "body: {v}");
    let msg = v["error"]["message"].as_str().unwrap().to_string();
    assert!(!msg.is_empty());
    msg
}

pub fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// All requests in a usage series (`GET /v1/keys/{id}/usage`), every outcome.
pub fn usage_total(usage: &Value) -> u64 {
    usage["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            keyport_core::Outcome::ALL
                .iter()
                .map(|o| p[o.name()].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum()
}
