//! Several instances on one PostgreSQL database sharing rate limits through
//! Redis: the limits hold across them, and they keep answering (on their
//! share of the limits) while Redis is stopped or restarted empty. These
//! run when `KEYPORT_TEST_DATABASE` names a PostgreSQL server (scripts/test.sh
//! does); Redis must be at `KEYPORT_TEST_REDIS` (default 127.0.0.1:6379),
//! or the tests fail.

use keyport_core::limiter::{decide, DayQuota};
use keyport_core::{Limits, Plan};
use keyport_server::clock::SystemClock;
use keyport_server::{start, Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::TestDb;
use crate::postgres::postgres_db;

fn redis_url() -> String {
    std::env::var("KEYPORT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// `n` in-process instances on `db_url` sharing limits in the Redis at
/// `redis`, under a namespace of their own; with an admin key of a fresh
/// enterprise account.
async fn cluster(db_url: &str, redis: &str, n: usize) -> (Vec<Server>, String) {
    let namespace = format!("kptest-{:016x}", rand::random::<u64>());
    let mut servers = Vec::new();
    for _ in 0..n {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db_url);
        config.redis = Some(redis.to_string());
        config.redis_namespace = namespace.clone();
        config.flush_interval = Duration::from_millis(50);
        servers.push(start(config, Arc::new(SystemClock)).await.unwrap());
    }
    let (_, _, admin) = servers[0]
        .service()
        .create_account("Cluster", Plan::Enterprise, "test")
        .await
        .unwrap();
    (servers, admin.expose().to_string())
}

fn bases(servers: &[Server]) -> Vec<String> {
    servers
        .iter()
        .map(|s| format!("http://{}", s.addr()))
        .collect()
}

/// Makes a key with `rate_limit` on `base`: its secret.
async fn limited_key(http: &reqwest::Client, base: &str, admin: &str, rate_limit: Value) -> String {
    let res = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(admin)
        .json(&json!({"name": "k", "environment": "live", "scopes": ["read"], "rate_limit": rate_limit}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["secret"].as_str().unwrap().to_string()
}

async fn verify(http: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    http.post(format!("{base}/v1/verify"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap()
}

/// Deadlocks PostgreSQL counted in the test's database (its statistics
/// are flushed about once a second, so wait for that first).
async fn deadlocks(db: &TestDb) -> i64 {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    db.scalar(&format!(
        "SELECT CAST(deadlocks AS BIGINT) AS n FROM pg_stat_database WHERE datname = '{}'",
        db.name()
    ))
    .await
    .as_i64()
    .unwrap()
}

async fn readiness(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (at most `within`) until every instance reports `rate_limits`
/// as `state`.
async fn wait_for_rate_limits(
    http: &reqwest::Client,
    bases: &[String],
    state: &str,
    within: Duration,
) {
    let started = Instant::now();
    for base in bases {
        loop {
            let r = readiness(http, base).await;
            if r["rate_limits"] == state {
                break;
            }
            assert!(
                started.elapsed() < within,
                "{base} still says {r} after {within:?}, expected rate_limits {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A client that round-robins every request over three instances sees one
/// service: a key's daily cap is exact, and per-minute admission is that of
/// a single GCRA fed the same requests at the same times.
#[tokio::test]
async fn limits_hold_across_three_instances_sharing_redis() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "limits_across_instances").await else {
        return;
    };
    let (servers, admin) = cluster(&db.url(), &redis_url(), 3).await;
    let bases = bases(&servers);
    let http = reqwest::Client::new();
    for base in &bases {
        let r = readiness(&http, base).await;
        assert_eq!(r["rate_limits"], "shared", "{r}");
        assert_eq!(r["ready"], true);
    }

    // Daily cap: 300 of 400, whichever instance answers.
    let key = limited_key(&http, &bases[0], &admin, json!({"per_day": 300})).await;
    let mut admitted = 0;
    for i in 0..400 {
        let res = verify(&http, &bases[i % 3], &key).await;
        match res.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(res.headers().contains_key("retry-after"));
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(admitted, 300, "the daily cap holds across instances");

    // Per minute: 600 a minute (one per 100 ms) with bursts of 10, asked
    // about 100 times a second for 3 s.
    let key = limited_key(
        &http,
        &bases[0],
        &admin,
        json!({"per_minute": 600, "burst": 10}),
    )
    .await;
    let started = Instant::now();
    let mut times = Vec::new();
    let mut admitted = 0u64;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(3) {
        times.push(keyport_server::clock::nanos(chrono::Utc::now()));
        let status = verify(&http, &bases[i % 3], &key).await.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
        admitted += u64::from(status == StatusCode::OK);
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let limits = Limits {
        per_minute: 600,
        per_day: None,
        burst: 10,
    };
    let (mut tat, mut single) = (0, 0u64);
    let unlimited = DayQuota { used: 0, cap: None };
    for t in times {
        let (d, new_tat) = decide(limits, tat, t, unlimited, unlimited);
        tat = new_tat.unwrap_or(tat);
        single += u64::from(d.allowed);
    }
    eprintln!("{i} requests: {admitted} admitted across 3 instances, {single} by one GCRA");
    // +0.5 % / -2 %, and a request either way for the timing of the edges.
    assert!(
        admitted as f64 <= single as f64 * 1.005 + 1.0
            && admitted as f64 >= single as f64 * 0.98 - 1.0,
        "admitted {admitted}, one GCRA {single}"
    );
    assert_eq!(deadlocks(&db).await, 0, "no PostgreSQL deadlocks");
    for s in servers {
        s.shutdown().await;
    }
}

/// A Redis of the test's own, on a port of its own, that can be stopped,
/// resumed and killed.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal}");
    }

    /// SIGKILL, then a fresh server on the same port: everything is lost.
    fn restart_empty(&mut self) {
        self.signal("-CONT");
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        *self = Self::start(self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Round-robin load over three instances while Redis is stopped
/// (`kill -STOP`), resumed, then killed and restarted empty: never a 5xx;
/// while stopped the instances' shares admit some but not more than is left
/// of the daily cap; once resumed the cap is exact; after the restart lost
/// Redis's counts they are rebuilt from PostgreSQL's usage, within the
/// documented bound.
#[tokio::test]
async fn instances_keep_answering_while_redis_stops_and_restarts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "redis_outage").await else {
        return;
    };
    let mut redis = PrivateRedis::start(PrivateRedis::free_port());
    let (servers, admin) = cluster(&db.url(), &redis.url(), 3).await;
    let bases = bases(&servers);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Every instance has seen the others' heartbeat.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for base in &bases {
        assert_eq!(readiness(&http, base).await["instances"], 3);
    }
    const CAP: u64 = 600;
    let key = limited_key(&http, &bases[0], &admin, json!({"per_day": CAP})).await;
    let mut admitted = 0u64;
    let run = |n: usize| {
        let (http, bases, key) = (http.clone(), bases.clone(), key.clone());
        async move {
            let mut ok = 0u64;
            let mut slowest = Duration::ZERO;
            for i in 0..n {
                let t = Instant::now();
                let status = verify(&http, &bases[i % 3], &key).await.status();
                slowest = slowest.max(t.elapsed());
                assert!(
                    status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
                    "request {i}: {status}"
                );
                ok += u64::from(status == StatusCode::OK);
            }
            (ok, slowest)
        }
    };
    let (ok, _) = run(150).await;
    assert_eq!(ok, 150);
    admitted += ok;

    // Stopped: answers go on, each instance on its share of what is left.
    redis.signal("-STOP");
    let (ok, slowest) = run(600).await;
    eprintln!("while Redis was stopped: {ok} admitted, slowest answer {slowest:?}");
    assert!(
        ok <= CAP - admitted,
        "{ok} admitted while stopped, more than the {} left",
        CAP - admitted
    );
    assert!(
        ok > 0,
        "the shares admit requests: fails neither open nor closed"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "an answer waited {slowest:?}"
    );
    admitted += ok;
    wait_for_rate_limits(&http, &bases, "fallback", Duration::from_secs(3)).await;
    for base in &bases {
        assert_eq!(readiness(&http, base).await["ready"], true, "still ready");
    }

    // Resumed (after longer than a lease call may wait): what each admitted
    // meanwhile is added to Redis's counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.signal("-CONT");
    wait_for_rate_limits(&http, &bases, "shared", Duration::from_secs(3)).await;
    let (ok, _) = run(CAP as usize).await;
    admitted += ok;
    assert_eq!(admitted, CAP, "counts reconciled: the cap is exact again");

    // Killed and restarted empty: the day's counts are rebuilt from the
    // usage the instances wrote to PostgreSQL, so what is admitted from
    // now on tops the day up to its cap exactly, and no further.
    tokio::time::sleep(Duration::from_millis(300)).await; // a few flushes
    let before_loss = admitted;
    redis.restart_empty();
    let (ok, _) = run(300).await;
    admitted += ok;
    wait_for_rate_limits(&http, &bases, "shared", Duration::from_secs(3)).await;
    let (ok, _) = run(CAP as usize).await;
    admitted += ok;
    // Tokens leased from the lost Redis and spent after the rebuild are in
    // no count: near a cap leases are at most half of what is left.
    let bound = CAP + (CAP - before_loss) / 2 + 1;
    eprintln!("admitted {admitted} of a daily cap of {CAP} (bound after the loss: {bound})");
    assert!(
        admitted >= CAP,
        "{admitted}: the rebuilt count holds the day back"
    );
    assert!(
        admitted <= bound,
        "{admitted} admitted, more than {bound} after Redis lost its counts"
    );
    assert_eq!(deadlocks(&db).await, 0, "no PostgreSQL deadlocks");
    for s in servers {
        s.shutdown().await;
    }
}

/// A plan change and a suspension made through the operator API on one
/// instance reach another instance's cache through the change feed, within
/// the feed's bound (1 s), like a revoke.
#[tokio::test]
async fn plan_changes_and_suspension_reach_every_instance_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "operator_changes_across_instances").await else {
        return;
    };
    let (servers, _) = cluster(&db.url(), &redis_url(), 2).await;
    let bases = bases(&servers);
    let http = reqwest::Client::new();
    let (account, _, admin) = servers[0]
        .service()
        .create_account("Upgrader", Plan::Free, "test")
        .await
        .unwrap();
    let (_, token) = servers[0]
        .service()
        .create_operator_token("ops")
        .await
        .unwrap();
    let key = limited_key(&http, &bases[0], admin.expose(), Value::Null).await;
    let res = verify(&http, &bases[1], &key).await;
    assert_eq!(res.headers()["x-ratelimit-limit"], "10");

    let patch = |body: Value| {
        http.patch(format!("{}/v1/operator/accounts/{}", bases[0], account.id))
            .bearer_auth(token.expose())
            .json(&body)
            .send()
    };
    let wait_on_b = |want: &'static str| {
        let (http, base, key) = (http.clone(), bases[1].clone(), key.clone());
        async move {
            let started = Instant::now();
            loop {
                let res = verify(&http, &base, &key).await;
                let seen = match res.status() {
                    StatusCode::OK => res.headers()["x-ratelimit-limit"]
                        .to_str()
                        .unwrap()
                        .to_string(),
                    s => s.as_u16().to_string(),
                };
                if seen == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "instance B still answers {seen}, not {want}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    assert_eq!(
        patch(json!({"plan": "professional"}))
            .await
            .unwrap()
            .status(),
        200
    );
    let took = wait_on_b("300").await;
    eprintln!("plan change seen on B after {took:?}");
    assert_eq!(
        patch(json!({"suspended": true, "suspension_reason": "unpaid"}))
            .await
            .unwrap()
            .status(),
        200
    );
    wait_on_b("403").await;
    assert_eq!(
        patch(json!({"suspended": false})).await.unwrap().status(),
        200
    );
    wait_on_b("300").await;
    for s in servers {
        s.shutdown().await;
    }
}
