//! What only PostgreSQL has: a server that can drop our connections, and
//! several instances on one database. These run when `KEYPORT_TEST_DATABASE`
//! names a PostgreSQL server (scripts/test.sh does); on SQLite they say so
//! and pass.

use keyport_core::Plan;
use keyport_server::clock::ManualClock;
use keyport_server::{start, ServerConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{expect_error, t0};
use crate::db::TestDb;
use crate::hygiene::{cli_account, spawn_server, ServerProc};

pub async fn postgres_db(dir: &std::path::Path, test: &str) -> Option<TestDb> {
    let db = TestDb::create(dir).await;
    if db.is_postgres() {
        Some(db)
    } else {
        eprintln!("{test}: PostgreSQL only (set KEYPORT_TEST_DATABASE=postgres://…); not run");
        None
    }
}

/// Terminates every connection of the server to the test's database (from
/// the admin connection); answers how many there were.
async fn kill_connections(db: &TestDb) -> i64 {
    let rows = db
        .query(&format!(
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name LIKE 'keyport-server/%'",
            db.name()
        ))
        .await;
    rows.iter().filter(|r| r["killed"] == true).count() as i64
}

/// The pool's connections are killed with `pg_terminate_backend`:
/// 1. with the database still up, the pool replaces them at once and the
///    next calls succeed;
/// 2. with the database refusing connections, management answers 503
///    `unavailable` (not 500) within the acquire timeout while a cached key
///    keeps verifying, and the usage flush keeps its batch;
/// 3. once it accepts connections again, the service recovers by itself:
///    management works, and the held usage batch is written exactly once.
#[tokio::test]
async fn lost_connections_answer_503_then_recover_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut db) = postgres_db(dir.path(), "lost_connections").await else {
        return;
    };
    // A role held to the database's connection limit (the superuser is not).
    let url = db.login_role().await;
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), url);
    config.flush_interval = Duration::from_millis(100);
    config.database_pool.acquire_timeout = Duration::from_secs(1);
    let server = start(config, Arc::new(ManualClock::new(t0())))
        .await
        .unwrap();
    let (account, _, admin) = server
        .service()
        .create_account("Outage", Plan::Starter, "test")
        .await
        .unwrap();
    let admin = admin.expose().to_string();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr());
    let list = || {
        http.get(format!("{base}/v1/keys"))
            .bearer_auth(&admin)
            .send()
    };
    let create = |name: &str| {
        http.post(format!("{base}/v1/keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "environment": "live", "scopes": ["read"]}))
            .send()
    };
    let verify = |key: &str| {
        http.post(format!("{base}/v1/verify"))
            .json(&json!({"key": key}))
            .send()
    };
    let res = create("cached").await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let (key_id, secret) = (
        v["key"]["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    );
    let mut verified = 0;
    assert_eq!(verify(&secret).await.unwrap().status(), StatusCode::OK);
    verified += 1;

    // 1. Killed, database up: replaced at once.
    assert!(kill_connections(&db).await >= 1, "the pool had connections");
    assert_eq!(list().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        create("after-kill").await.unwrap().status(),
        StatusCode::CREATED
    );

    // 2. Killed, and no new connection accepted.
    db.admin(&format!("ALTER DATABASE {} CONNECTION LIMIT 0", db.name()))
        .await;
    assert!(kill_connections(&db).await >= 1);
    let started = Instant::now();
    expect_error(
        list().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    expect_error(
        create("during-outage").await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the acquire timeout, not the request timeout: {:?}",
        started.elapsed()
    );
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(verify(&secret).await.unwrap().status(), StatusCode::OK);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "verify never waits on the database"
        );
        verified += 1;
    }
    // Flushes fail meanwhile (the batch is kept aside, not merged back).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 3. Back: no restart, no intervention.
    db.admin(&format!("ALTER DATABASE {} CONNECTION LIMIT -1", db.name()))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = list().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = create("after-outage").await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(
        verify(fresh["secret"].as_str().unwrap())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let names: Vec<String> = db
        .query(&format!(
            "SELECT name FROM api_keys WHERE account_id = '{}' ORDER BY seq",
            account.id
        ))
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Admin key", "cached", "after-kill", "after-outage"]);
    // Every verify of the cached key counted once: the batch that failed
    // during the outage was written when the database came back.
    let sql = format!("SELECT count FROM key_day_usage WHERE key_id = '{key_id}'");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = db.scalar(&sql).await.as_i64();
        if n == Some(verified) {
            break;
        }
        assert!(
            Instant::now() < deadline && n.unwrap_or(0) < verified,
            "day count {n:?}, verified {verified}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
    assert_eq!(db.scalar(&sql).await.as_i64(), Some(verified));
}

/// Two real `keyport-server` processes started at the same moment on a
/// fresh database: both come up, the migrations ran exactly once (sqlx's
/// migrator holds an advisory lock), and both serve the same data.
#[tokio::test]
async fn two_instances_starting_at_once_migrate_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "two_instances").await else {
        return;
    };
    let url = db.url();
    let log = dir.path().join("server.log");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_keyport-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &url])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap()
    };
    // Both started before either is waited for.
    let mut procs = vec![ServerProc(spawn()), ServerProc(spawn())];
    let mut addrs = vec![];
    for p in &mut procs {
        let mut line = String::new();
        BufReader::new(p.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "an instance did not come up: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        addrs.push(addr);
    }
    let migrations = db
        .query("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(migrations.len(), files, "each migration recorded once");
    assert!(migrations.iter().all(|m| m["success"] == true));
    // One database behind both: an account made now (by the CLI) is found
    // by each instance (an unknown key falls back to the database).
    let (_, admin) = cli_account(&url);
    let http = reqwest::Client::new();
    for addr in &addrs {
        let res = http
            .post(format!("http://{addr}/v1/verify"))
            .json(&json!({"key": admin}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{addr}");
    }
    drop(procs);
}

/// Two in-process instances on one database, with an admin key of a fresh
/// account (made on the first).
async fn two_instances(
    url: &str,
    tune: impl Fn(&mut ServerConfig),
) -> (keyport_server::Server, keyport_server::Server, String) {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), url);
        tune(&mut config);
        servers.push(start(config, clock.clone()).await.unwrap());
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    let (_, _, admin) = a
        .service()
        .create_account("Cluster", Plan::Enterprise, "test")
        .await
        .unwrap();
    (a, b, admin.expose().to_string())
}

/// Milliseconds until `verify` on `base` stops answering 200 for `key`
/// (polled every millisecond, at most 5 s).
async fn ms_until_refused(http: &reqwest::Client, base: &str, key: &str) -> u128 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let res = http
            .post(format!("{base}/v1/verify"))
            .json(&json!({"key": key}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::UNAUTHORIZED {
            return started.elapsed().as_millis();
        }
        assert_eq!(res.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{key:.12}… still verifies on {base} after 5 s");
}

/// Makes a read key on `a`: its id and secret.
async fn new_key(http: &reqwest::Client, a: &str, admin: &str) -> (String, String) {
    let res = http
        .post(format!("{a}/v1/keys"))
        .bearer_auth(admin)
        .json(&json!({"name": "k", "environment": "live", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (
        v["key"]["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

/// Makes a key on `a` and has `b` verify (and so cache) it: its id and secret.
async fn key_cached_on_b(
    http: &reqwest::Client,
    a: &str,
    b: &str,
    admin: &str,
) -> (String, String) {
    let (id, secret) = new_key(http, a, admin).await;
    let res = http
        .post(format!("{b}/v1/verify"))
        .json(&json!({"key": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a key made on A verifies on B"
    );
    (id, secret)
}

/// Makes a key on `a`, has `b` verify (and so cache) it, revokes it on `a`,
/// and answers how long `b` kept accepting it.
async fn revoke_delay(http: &reqwest::Client, a: &str, b: &str, admin: &str) -> u128 {
    let (id, secret) = key_cached_on_b(http, a, b, admin).await;
    let res = http
        .post(format!("{a}/v1/keys/{id}/revoke"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    ms_until_refused(http, b, &secret).await
}

fn p99(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[(v.len() * 99).div_ceil(100) - 1]
}

/// A revoke on one instance reaches another instance's verify cache
/// through the change feed: notified at once, and within the periodic read
/// when the LISTEN connection is gone. An account change travels the same
/// way.
#[tokio::test]
async fn a_revoke_on_one_instance_is_refused_on_another_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "revoke_across_instances").await else {
        return;
    };
    let (a, b, admin) = two_instances(&db.url(), |_| {}).await;
    let (a_url, b_url) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let http = reqwest::Client::new();

    let mut notified = Vec::new();
    for _ in 0..100 {
        notified.push(revoke_delay(&http, &a_url, &b_url, &admin).await);
    }
    let (p, max) = (p99(notified.clone()), *notified.iter().max().unwrap());
    eprintln!("revoke on A refused on B: p99 {p} ms, max {max} ms over 100 rounds (notified)");
    assert!(max < 1_000, "max {max} ms");
    assert!(p <= 50, "p99 {p} ms");

    // Without notifications: the LISTEN connection (and every other) is
    // killed before each revoke; the periodic read still finds it.
    let mut polled = Vec::new();
    for _ in 0..10 {
        assert!(kill_connections(&db).await >= 1);
        polled.push(revoke_delay(&http, &a_url, &b_url, &admin).await);
    }
    let max = *polled.iter().max().unwrap();
    eprintln!("with connections killed: max {max} ms over 10 rounds");
    assert!(max < 1_000, "max {max} ms");

    // A change logged with no notification at all (the trigger off, the
    // log row written by hand): only the periodic read can find it.
    let mut silent = Vec::new();
    for _ in 0..5 {
        let (id, secret) = key_cached_on_b(&http, &a_url, &b_url, &admin).await;
        db.execute(&format!(
            "BEGIN; \
             ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed; \
             UPDATE api_keys SET revoked_at = 1773144000000 WHERE id = '{id}'; \
             INSERT INTO changes (kind, id, account_id) \
                 SELECT 'key', id, account_id FROM api_keys WHERE id = '{id}'; \
             ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed; \
             COMMIT;"
        ))
        .await;
        silent.push(ms_until_refused(&http, &b_url, &secret).await);
    }
    let max = *silent.iter().max().unwrap();
    eprintln!("without notifications: max {max} ms over 5 rounds");
    assert!(max < 1_000, "max {max} ms");

    // An account change made on A is what B shows.
    let res = http
        .patch(format!("{a_url}/v1/account"))
        .bearer_auth(&admin)
        .json(&json!({"allowed_countries": ["DE", "AT"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let started = Instant::now();
    loop {
        let v: Value = http
            .get(format!("{b_url}/v1/account"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["settings"]["allowed_countries"] == json!(["AT", "DE"]) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "{v}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// An instance that cannot read the change feed stops verifying once the
/// feed is older than its bound (503 `unavailable`, fail closed: it may
/// have missed a revoke), and verifies again by itself once it can read.
#[tokio::test]
async fn an_instance_that_loses_the_change_feed_fails_closed_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut db) = postgres_db(dir.path(), "stale_feed").await else {
        return;
    };
    let url = db.login_role().await;
    let (a, b, admin) = two_instances(&url, |c| {
        c.feed_stale_after = Duration::from_secs(1);
        c.database_pool.acquire_timeout = Duration::from_millis(500);
    })
    .await;
    let http = reqwest::Client::new();
    let verify = |base: String| {
        let http = http.clone();
        let admin = admin.clone();
        async move {
            http.post(format!("{base}/v1/verify"))
                .json(&json!({"key": admin}))
                .send()
                .await
                .unwrap()
        }
    };
    let b_url = format!("http://{}", b.addr());
    assert_eq!(verify(b_url.clone()).await.status(), StatusCode::OK);

    db.admin(&format!("ALTER DATABASE {} CONNECTION LIMIT 0", db.name()))
        .await;
    assert!(kill_connections(&db).await >= 1);
    let started = Instant::now();
    loop {
        let res = verify(b_url.clone()).await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still verifying"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stale_after = started.elapsed();
    assert!(stale_after >= Duration::from_millis(500), "{stale_after:?}");
    let ready = |base: String| {
        let http = http.clone();
        async move {
            let res = http.get(format!("{base}/readyz")).send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ready(b_url.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["change_feed"], "behind", "{body}");
    assert_eq!(body["database"], "unavailable", "{body}");

    db.admin(&format!("ALTER DATABASE {} CONNECTION LIMIT -1", db.name()))
        .await;
    let started = Instant::now();
    while verify(b_url.clone()).await.status() != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// One detector runs across the cluster: the first instance to pass takes
/// the lease and renews it; the other's passes do nothing until the holder
/// gives it up (at shutdown) or lets it run out.
#[tokio::test]
async fn exactly_one_instance_runs_the_detector() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "one_detector").await else {
        return;
    };
    let (a, b, _) = two_instances(&db.url(), |_| {}).await;
    // Each instance makes a pass as it starts: on a busy machine either may
    // have come first. Whichever holds the lease keeps it.
    let (a, b) = if a.service().detector_pass().await.unwrap().is_some() {
        (a, b)
    } else {
        (b, a)
    };
    assert!(a.service().detector_pass().await.unwrap().is_some());
    for _ in 0..3 {
        assert_eq!(b.service().detector_pass().await.unwrap(), None);
        assert!(
            a.service().detector_pass().await.unwrap().is_some(),
            "renewed"
        );
    }
    a.shutdown().await;
    assert!(b.service().detector_pass().await.unwrap().is_some());
    b.shutdown().await;
}

/// A verify on B that misses its cache (the key is new to it) racing a
/// revoke on A: whichever way they interleave, B refuses the key within the
/// bound once the revoke has answered, never caching the old state for good.
#[tokio::test]
async fn a_revoke_racing_a_cache_miss_never_leaves_the_key_usable() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "revoke_race").await else {
        return;
    };
    let (a, b, admin) = two_instances(&db.url(), |_| {}).await;
    let (a_url, b_url) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let http = reqwest::Client::new();
    let mut slowest = 0;
    let mut verified_first = 0;
    for _ in 0..1_000 {
        let (id, secret) = new_key(&http, &a_url, &admin).await;
        let (verified, revoked) = tokio::join!(
            http.post(format!("{b_url}/v1/verify"))
                .json(&json!({"key": secret}))
                .send(),
            http.post(format!("{a_url}/v1/keys/{id}/revoke"))
                .bearer_auth(&admin)
                .send(),
        );
        assert_eq!(revoked.unwrap().status(), StatusCode::OK);
        if verified.unwrap().status() == StatusCode::OK {
            verified_first += 1;
        }
        slowest = slowest.max(ms_until_refused(&http, &b_url, &secret).await);
    }
    eprintln!(
        "revoke racing a miss: {verified_first} of 1000 verifies won the race; \
         refused at most {slowest} ms after the revoke answered"
    );
    assert!(slowest < 1_000, "{slowest} ms");
    a.shutdown().await;
    b.shutdown().await;
}

/// Two real instances share the load; one is killed with SIGKILL mid-load.
/// The usage stored adds up to the requests answered, less at most what the
/// killed one answered within its last flush intervals (50 ms each here; ten
/// allowed, for a busy test machine), and never more: nothing counts twice.
#[tokio::test]
async fn usage_adds_up_across_instances_when_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "usage_across_instances").await else {
        return;
    };
    let url = db.url();
    let log = dir.path().join("server.log");
    let (account_id, admin) = cli_account(&url);
    let (mut a, a_addr) = spawn_server(&url, None, &log);
    let (_b, b_addr) = spawn_server(&url, None, &log);
    let http = reqwest::Client::new();
    let verify = |addr: String| {
        let http = http.clone();
        let admin = admin.clone();
        async move {
            http.post(format!("http://{addr}/v1/verify"))
                .json(&json!({"key": admin}))
                .send()
                .await
                .map(|r| r.status())
        }
    };
    let counted = |s: StatusCode| s == StatusCode::OK || s == StatusCode::TOO_MANY_REQUESTS;
    let mut answered = 0u64;
    let mut a_answers: Vec<Instant> = Vec::new();
    for i in 0..400 {
        let (addr, on_a) = if i % 2 == 0 {
            (a_addr.clone(), true)
        } else {
            (b_addr.clone(), false)
        };
        let status = verify(addr).await.unwrap();
        assert!(counted(status), "{status}");
        answered += 1;
        if on_a {
            a_answers.push(Instant::now());
        }
        // Paced, so one flush interval holds a small share of the load.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    a.kill().unwrap(); // SIGKILL: no shutdown, no last flush
    a.wait().unwrap();
    let killed = Instant::now();
    let at_risk = a_answers
        .iter()
        .filter(|t| killed.duration_since(**t) < Duration::from_millis(500))
        .count() as u64;
    for _ in 0..100 {
        let status = verify(b_addr.clone()).await.unwrap();
        assert!(counted(status), "{status}");
        answered += 1;
    }
    // B flushes every 50 ms.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(success + client_error + server_error + rate_limited + denied), 0) \
         AS BIGINT) AS n FROM usage_minutes WHERE account_id = '{account_id}'"
    );
    let stored = db.scalar(&sql).await.as_u64().unwrap();
    eprintln!("answered {answered}, stored {stored}, at risk on the killed instance {at_risk}");
    assert!(stored <= answered, "counted twice: {stored} > {answered}");
    assert!(
        stored + at_risk >= answered,
        "lost more than the last flush interval: {stored} + {at_risk} < {answered}"
    );
}

/// A burst of management writes on one instance (each logged in the feed,
/// which the instance also follows) never starves its own feed follower
/// into failing closed: it stays ready and verifying throughout.
#[tokio::test]
async fn a_burst_of_writes_does_not_make_an_instance_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "write_burst").await else {
        return;
    };
    let (a, _b, admin) = two_instances(&db.url(), |_| {}).await;
    let a_url = format!("http://{}", a.addr());
    let http = reqwest::Client::new();
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (http, a_url, admin) = (http.clone(), a_url.clone(), admin.clone());
            tokio::spawn(async move {
                for _ in 0..60 {
                    new_key(&http, &a_url, &admin).await;
                }
            })
        })
        .collect();
    while !writers.iter().all(|w| w.is_finished()) {
        let res = http.get(format!("{a_url}/readyz")).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        let res = http
            .post(format!("{a_url}/v1/verify"))
            .json(&json!({"key": admin}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// The feed follower skips what its own instance wrote (its cache took the
/// change as it wrote) and applies what the other wrote: counted in
/// `/metrics`, and the other instance still sees every change.
#[tokio::test]
async fn a_follower_skips_its_own_writes_and_applies_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "own_writes").await else {
        return;
    };
    let (a, b, admin) = two_instances(&db.url(), |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (a_url, b_url) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let http = reqwest::Client::new();
    let entries = |server: &keyport_server::Server| {
        let url = format!("http://{}/metrics", server.metrics_addr().unwrap());
        let http = http.clone();
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            let count = |source: &str| -> u64 {
                let name = format!("keyport_change_feed_entries_total{{source=\"{source}\"}} ");
                text.lines()
                    .find_map(|l| l.strip_prefix(&name))
                    .unwrap_or_else(|| panic!("no {name} in {text}"))
                    .trim()
                    .parse()
                    .unwrap()
            };
            (count("own"), count("other"))
        }
    };
    // Both followers have read past the account's creation.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (a0, b0) = (entries(&a).await, entries(&b).await);
    let mut last = String::new();
    for _ in 0..10 {
        last = new_key(&http, &a_url, &admin).await.1;
    }
    // B applies A's writes; the last key verifies there.
    let started = Instant::now();
    loop {
        let res = http
            .post(format!("{b_url}/v1/verify"))
            .json(&json!({"key": last}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A's periodic read has passed its own entries too.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (a1, b1) = (entries(&a).await, entries(&b).await);
    // Each key is at least one entry (its insert); A skipped them all.
    assert!(a1.0 - a0.0 >= 10, "A own: {a0:?} -> {a1:?}");
    assert_eq!(a1.1, a0.1, "A applied none of its own writes");
    assert!(b1.1 - b0.1 >= 10, "B other: {b0:?} -> {b1:?}");
    assert_eq!(b1.0, b0.0, "B wrote nothing");
    // A revoke on A still reaches B, and holds on A at once.
    let (id, key) = new_key(&http, &a_url, &admin).await;
    let res = http
        .post(format!("{a_url}/v1/keys/{id}/revoke"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http
        .post(format!("{a_url}/v1/verify"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(ms_until_refused(&http, &b_url, &key).await < 1_000);
    a.shutdown().await;
    b.shutdown().await;
}

/// One instance delivers webhooks at a time (a lease): events written on
/// either instance reach the endpoint once each.
#[tokio::test]
async fn one_instance_delivers_each_webhook_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "one_deliverer").await else {
        return;
    };
    let (a, b, admin) = two_instances(&db.url(), |c| c.allow_private_webhooks = true).await;
    let rx = crate::webhooks::Receiver::start(200).await;
    let (a_url, b_url) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{a_url}/v1/webhooks"))
        .bearer_auth(&admin)
        .json(&json!({"url": rx.url, "events": ["key.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    for i in 0..20 {
        let base = if i % 2 == 0 { &a_url } else { &b_url };
        new_key(&http, base, &admin).await;
    }
    let got = rx.wait_for("key.created", 20).await;
    // Both workers had time to pick up anything twice.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let got_after = rx.got();
    let mut ids: Vec<&str> = got_after.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), got_after.len(), ids.len()), (20, 20, 20));
    a.shutdown().await;
    b.shutdown().await;
}

/// A quarantine made on one instance holds on the other within the feed's
/// bound, like a revoke; so do its release and an IP allowlist.
#[tokio::test]
async fn a_quarantine_reaches_every_instance() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "quarantine_feed").await else {
        return;
    };
    let (a, b, admin) = two_instances(&db.url(), |_| {}).await;
    let (a_url, b_url) = (
        format!("http://{}", a.addr()),
        format!("http://{}", b.addr()),
    );
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{a_url}/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "k", "environment": "live", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    let (id, secret) = (
        v["key"]["id"].as_str().unwrap(),
        v["secret"].as_str().unwrap(),
    );
    let write_on_b = || {
        http.post(format!("{b_url}/v1/verify"))
            .json(&json!({"key": secret, "scope": "write", "ip": "198.51.100.7"}))
            .send()
    };
    assert_eq!(write_on_b().await.unwrap().status(), StatusCode::OK);
    let until = |want: StatusCode| {
        let write_on_b = &write_on_b;
        async move {
            let started = Instant::now();
            while write_on_b().await.unwrap().status() != want {
                assert!(started.elapsed() < Duration::from_secs(1), "not within 1 s");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let res = http
        .post(format!("{a_url}/v1/keys/{id}/quarantine"))
        .bearer_auth(&admin)
        .json(&json!({"reason": "leaked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    until(StatusCode::FORBIDDEN).await;
    let res = http
        .post(format!("{a_url}/v1/keys/{id}/release"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    until(StatusCode::OK).await;
    // An IP allowlist set on A holds on B too (the feed carries restrictions).
    let res = http
        .patch(format!("{a_url}/v1/keys/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"allowed_ips": ["203.0.113.0/24"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    until(StatusCode::FORBIDDEN).await;
    a.shutdown().await;
    b.shutdown().await;
}

/// Failed enrollment attempts count across instances: a stranger guessing
/// codes gets the same number of tries whichever instance it reaches.
#[tokio::test]
async fn enrollment_attempts_are_counted_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = postgres_db(dir.path(), "enroll_attempts").await else {
        return;
    };
    let (a, b, _) = two_instances(&db.url(), |_| {}).await;
    let http = reqwest::Client::new();
    let per_window = keyport_server::operator::ATTEMPTS_PER_WINDOW;
    for i in 0..per_window {
        let base = if i % 2 == 0 { a.addr() } else { b.addr() };
        let wrong = keyport_core::enrollment::generate(&mut rand::rngs::OsRng);
        let res = http
            .post(format!("http://{base}/v1/enroll/preview"))
            .json(&json!({"code": wrong.expose()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "attempt {i}");
    }
    for server in [&a, &b] {
        let wrong = keyport_core::enrollment::generate(&mut rand::rngs::OsRng);
        let res = http
            .post(format!("http://{}/v1/enroll/preview", server.addr()))
            .json(&json!({"code": wrong.expose()}))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    }
    a.shutdown().await;
    b.shutdown().await;
}
