use keyport_core::{Environment, KeyPrefix, Plan};
use keyport_server::clock::ManualClock;
use keyport_server::{start, ServerConfig};
use rand::rngs::OsRng;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::common::*;

#[tokio::test]
async fn malformed_authorization_headers_are_401_without_panic() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, good) = h.key_with_scopes(&a.admin, &["admin"], &[]).await;
    let mut bad_checksum = good.clone().into_bytes();
    let n = bad_checksum.len();
    bad_checksum[n - 1] = if bad_checksum[n - 1] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    let values: Vec<HeaderValue> = vec![
        HeaderValue::from_static(""),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer "),
        HeaderValue::from_str(&good).unwrap(), // no scheme
        HeaderValue::from_str(&format!("Basic {good}")).unwrap(),
        HeaderValue::from_bytes(b"Bearer \xff\xfe\xfd").unwrap(),
        HeaderValue::from_bytes(&[b"Bearer ".as_slice(), &bad_checksum].concat()).unwrap(),
    ];
    for v in values {
        for path in ["/v1/account", "/v1/keys"] {
            let res = h
                .http
                .get(h.url(path))
                .header(AUTHORIZATION, v.clone())
                .send()
                .await
                .unwrap();
            expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
    // A request head over the 64 KiB limit is refused before any handler.
    let res = h
        .http
        .get(h.url("/v1/account"))
        .header(AUTHORIZATION, HeaderValue::from_str(&huge).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Two Authorization headers are ambiguous: refused.
    let res = h
        .http
        .get(h.url("/v1/account"))
        .header(AUTHORIZATION, format!("Bearer {good}"))
        .header(AUTHORIZATION, format!("Bearer {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Still alive and well.
    assert_eq!(h.get(&good, "/v1/account").await.status(), StatusCode::OK);
}

/// Liveness and readiness answer without a credential, at the paths load
/// balancers use, and say nothing about keys or accounts.
#[tokio::test]
async fn health_and_readiness_answer_without_a_credential() {
    let h = Harness::new().await;
    let res = h.http.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok\n");
    let res = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let feed = if h.server().service().follows_changes() {
        "ok"
    } else {
        "not_used"
    };
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["change_feed"], feed, "{body}");
    assert_eq!(body["rate_limits"], "local", "{body}");
    let res = h.http.post(h.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Prometheus metrics are served on their own listener only, and count
/// what the hot paths did.
#[tokio::test]
async fn metrics_count_verifies_on_their_own_listener_only() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, key) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    assert_eq!(h.verify(json!({"key": key})).await.status(), StatusCode::OK);
    let res = h.verify(json!({"key": "to_live_nope"})).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let metrics = format!("http://{}/metrics", h.server().metrics_addr().unwrap());
    let res = h.http.get(&metrics).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for line in [
        r#"keyport_requests_total{route="verify",outcome="allowed"} 1"#,
        r#"keyport_requests_total{route="verify",outcome="unauthorized"} 1"#,
        "keyport_verify_duration_seconds_count 2",
        "keyport_rate_limits_shared 0",
        "# TYPE keyport_change_feed_lag_seconds gauge",
        "# TYPE keyport_usage_flush_lag_seconds gauge",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(
        text.contains(r#"keyport_db_pool_connections{state="idle"}"#),
        "{text}"
    );
    // Not on the public listener, where anyone could read it.
    let res = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_keys_create_no_limiter_state() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, good) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    h.verify(json!({"key": good})).await;
    // Rate state for `good`; usage entries for it and the admin key (used
    // to create `good`, which marks it used).
    let svc = h.server().service();
    let tracked = (svc.rates().tracked_keys(), svc.recorder().tracked_keys());
    assert_eq!(tracked, (1, 2));
    for i in 0..300 {
        let garbage = if i % 2 == 0 {
            KeyPrefix::default()
                .generate(Environment::Live, &mut OsRng)
                .expose()
                .to_string()
        } else {
            format!("to_live_{i:064x}")
        };
        assert_eq!(
            h.verify(json!({"key": garbage})).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let svc = h.server().service();
    let after = (svc.rates().tracked_keys(), svc.recorder().tracked_keys());
    assert_eq!(after, tracked);
}

#[tokio::test]
async fn verify_does_no_database_write_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create(dir.path()).await;
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db.url());
    config.flush_interval = std::time::Duration::from_secs(3600);
    let server = start(config, Arc::new(ManualClock::new(t0())))
        .await
        .unwrap();
    let (_, _, admin) = server
        .service()
        .create_account("A", Plan::Enterprise, "test")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr());
    for _ in 0..50 {
        let res = http
            .post(format!("{base}/v1/verify"))
            .json(&json!({"key": admin.expose()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let usage_rows = || async {
        let day = &db
            .query("SELECT COUNT(*) AS n, SUM(count) AS total FROM key_day_usage")
            .await[0];
        let used = db.scalar(&db.keys_used_sql()).await;
        (day["n"].as_i64(), day["total"].as_i64(), used.as_i64())
    };
    assert_eq!(
        usage_rows().await,
        (Some(0), None, Some(0)),
        "nothing written while serving"
    );
    server.shutdown().await;
    assert_eq!(
        usage_rows().await,
        (Some(1), Some(50), Some(1)),
        "exact totals after the flush"
    );
}

/// A server process that is killed when the test ends, even by a panic.
pub struct ServerProc(pub Child);

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for ServerProc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ServerProc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Runs the real binary; returns the child and its bound address.
pub fn spawn_server(db: &str, upstream: Option<&str>, log: &Path) -> (ServerProc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport-server"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        db,
        "--flush-ms",
        "50",
    ])
    .env("RUST_LOG", "trace")
    .stdout(Stdio::piped())
    .stderr(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap(),
    );
    if let Some(u) = upstream {
        cmd.args(["--upstream", u]);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("listening line")
        .to_string();
    (ServerProc(child), addr)
}

pub fn cli_account(db: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyport-server"))
        .args([
            "account",
            "create",
            "--name",
            "Acme",
            "--plan",
            "starter",
            "--json",
            "--database",
            db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["account_id"].as_str().unwrap().into(),
        v["admin_key"].as_str().unwrap().into(),
    )
}

/// The status of one request (the flows below only care about that).
async fn status(req: reqwest::RequestBuilder) -> StatusCode {
    req.send().await.unwrap().status()
}

pub fn sigterm(child: &mut ServerProc) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

/// On either database: the files (SQLite's database and WAL, the logs) and
/// a dump of every table, every column as text (the only way to see what
/// PostgreSQL holds).
#[tokio::test]
async fn full_flow_leaves_no_raw_key_in_database_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path()).await;
    let db = test_db.url();
    let log = dir.path().join("server.log");
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}/", upstream.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "ok" });
        axum::serve(upstream, app).await.unwrap()
    });
    let (account_id, admin) = cli_account(&db);
    // The CLI's own logs go to stderr and must not carry the key either.
    let (mut child, addr) = spawn_server(&db, Some(&upstream_url), &log);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let mut secrets = vec![admin.clone()];

    let created: Value = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "app", "environment": "live", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = created["key"]["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    secrets.push(secret.clone());
    assert_eq!(
        status(
            http.post(format!("{base}/v1/verify"))
                .json(&json!({"key": secret, "scope": "admin"}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(http.get(format!("{base}/items/1")).bearer_auth(&secret)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(http.get(format!("{base}/v1/keys")).bearer_auth(&secret)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(http.get(format!("{base}/items?key={secret}"))).await,
        StatusCode::BAD_REQUEST
    );
    let rotated: Value = http
        .post(format!("{base}/v1/keys/{key_id}/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(rotated["secret"].as_str().unwrap().to_string());
    http.post(format!("{base}/v1/keys/{key_id}/revoke"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(
            http.post(format!("{base}/v1/verify"))
                .json(&json!({"key": secret}))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let audit: Value = http
        .get(format!("{base}/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit["events"].as_array().unwrap().len() >= 5);
    assert!(
        audit.to_string().contains(&account_id) || !audit["events"].as_array().unwrap().is_empty()
    );
    sigterm(&mut child);

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("key created") && logs.contains("key revoked"),
        "logs are being written"
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a raw key was found on disk or in the logs"
            );
            // Not even the random body without its prefix.
            assert!(!text.contains(&s[8..40]));
        }
        checked += 1;
    }
    assert!(checked >= 1, "the log (and SQLite's files) were checked");
    let dump = test_db.dump().await;
    let tables: Vec<&str> = dump.iter().map(|(t, _)| t.as_str()).collect();
    for t in [
        "accounts",
        "api_keys",
        "audit_events",
        "usage_minutes",
        "key_dimensions",
    ] {
        assert!(tables.contains(&t), "{t} dumped: {tables:?}");
    }
    let mut cells = 0;
    for (table, rows) in &dump {
        for row in rows {
            for s in &secrets {
                assert!(
                    !row.contains(s.as_str()),
                    "a raw key in table {table}: {row}"
                );
                assert!(!row.contains(&s[8..40]), "a key's body in table {table}");
            }
            cells += 1;
        }
    }
    assert!(cells >= 10, "the dump holds the flow's rows ({cells})");
    let hash = keyport_core::KeyHash::of(&secret).to_hex();
    let n = test_db
        .scalar(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash = '{hash}'"
        ))
        .await;
    assert_eq!(n, 1, "the hash is what is stored");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path()).await;
    let db = test_db.url();
    let log = dir.path().join("server.log");
    let (_, admin) = cli_account(&db);
    let (mut child, addr) = spawn_server(&db, None, &log);
    let http = reqwest::Client::new();
    let mut ids = vec![];
    let mut secrets = vec![];
    for i in 0..5 {
        let v: Value = http
            .post(format!("http://{addr}/v1/keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("k{i}"), "environment": "live", "scopes": ["read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["key"]["id"].as_str().unwrap().to_string());
        secrets.push(v["secret"].as_str().unwrap().to_string());
    }
    let revoked = &ids[0];
    assert_eq!(
        status(
            http.post(format!("http://{addr}/v1/keys/{revoked}/revoke"))
                .bearer_auth(&admin)
        )
        .await,
        StatusCode::OK
    );
    let renamed = &ids[1];
    assert_eq!(
        status(
            http.patch(format!("http://{addr}/v1/keys/{renamed}"))
                .bearer_auth(&admin)
                .json(&json!({"name": "renamed"}))
        )
        .await,
        StatusCode::OK
    );
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();

    let (mut child, addr) = spawn_server(&db, None, &log);
    let list: Value = http
        .get(format!("http://{addr}/v1/keys"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "{id} lost");
    }
    let names: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["id"] == renamed.as_str())
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["renamed"], "the acknowledged rename survived");
    for (i, s) in secrets.iter().enumerate() {
        let status = http
            .post(format!("http://{addr}/v1/verify"))
            .json(&json!({"key": s}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status,
            if i == 0 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            }
        );
    }
    sigterm(&mut child);
}

/// A request whose body never finishes gets the API's 503 `timeout` after
/// the request timeout, on the verify fast path and through the router.
#[tokio::test]
async fn a_stalled_body_times_out_with_the_api_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create(dir.path()).await;
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db.url());
    config.request_timeout = std::time::Duration::from_millis(300);
    let server = start(config, Arc::new(ManualClock::new(t0())))
        .await
        .unwrap();
    let (_, _, admin) = server
        .service()
        .create_account("Slow", Plan::Free, "test")
        .await
        .unwrap();
    for path in ["/v1/verify", "/v1/keys"] {
        let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"key\":",
            admin.expose()
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut answer))
            .await
            .expect("an answer before the client gives up")
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 503"), "{path}: {text}");
        assert!(text.contains(r#""code":"timeout""#), "{path}: {text}");
    }
    server.shutdown().await;
}
