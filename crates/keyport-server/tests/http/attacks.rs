//! The attack suite: each test plays a hostile key holder or a stranger
//! against the real `keyport-server` binary over real sockets, and checks
//! the documented answer and that nothing was lost or leaked. One test per
//! finding of the hardening issue; each failed before its fix.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::expect_error;
use crate::db::TestDb;
use crate::gateway::upstream;

/// The real binary on `127.0.0.1:0` with its own database (a SQLite file or
/// a fresh PostgreSQL database, see `TestDb`), killed when the test ends.
struct Real {
    child: Option<Child>,
    dir: TempDir,
    /// Dropped after the process is killed (`Drop` runs before the fields').
    db: TestDb,
    addr: String,
    admin: String,
    http: reqwest::Client,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Drop for Real {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The binary under attack: this build's, or any other named by
/// `KEYPORT_ATTACK_BIN` (to show an older build falls to these attacks).
fn bin() -> Command {
    match std::env::var_os("KEYPORT_ATTACK_BIN") {
        Some(path) => Command::new(path),
        None => Command::new(env!("CARGO_BIN_EXE_keyport-server")),
    }
}

impl Real {
    /// An account on `plan` (created with the CLI) and a server with `args`.
    async fn start(plan: &str, args: &[&str]) -> Self {
        Self::start_env(plan, args, &[]).await
    }

    /// [`Real::start`] with settings given as environment variables (an
    /// older build that lacks a flag still starts, and shows its weakness).
    async fn start_env(plan: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let test_db = TestDb::create(dir.path()).await;
        let db = test_db.url();
        let out = bin()
            .args([
                "account",
                "create",
                "--name",
                "Mallory's victim",
                "--plan",
                plan,
            ])
            .args(["--json", "--database", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut all = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--flush-ms",
            "50",
        ];
        all.extend_from_slice(args);
        let mut real = Real {
            child: None,
            dir,
            db: test_db,
            addr: String::new(),
            admin: v["admin_key"].as_str().unwrap().to_string(),
            http: reqwest::Client::new(),
            args: all.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        real.boot();
        real
    }

    fn boot(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = bin()
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "keyport_server=debug")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.addr = line
            .trim()
            .strip_prefix("listening on http://")
            .expect("listening line")
            .to_string();
        self.child = Some(child);
    }

    /// SIGTERM: requests finish, the last batch is written; then start again.
    fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()
                .unwrap();
            assert!(c.wait().unwrap().success());
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("server.log")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    async fn call(
        &self,
        method: &str,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Creates a key; answers (status, body).
    async fn create(&self, admin: &str, body: Value) -> (StatusCode, Value) {
        let res = self.call("POST", admin, "/v1/keys", Some(body)).await;
        (res.status(), res.json().await.unwrap())
    }

    /// Creates a key that must succeed: (id, secret).
    async fn key(&self, admin: &str, body: Value) -> (String, String) {
        let (status, v) = self.create(admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        (
            v["key"]["id"].as_str().unwrap().into(),
            v["secret"].as_str().unwrap().into(),
        )
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// One request written byte for byte (no client normalises the path), with
/// `Connection: close`; answers the status and the whole response.
async fn raw(addr: &str, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, text)
}

fn get(path: &str, key: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
}

async fn flushed() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

// 1. Junk HTTP methods.
#[tokio::test]
async fn junk_methods_are_refused_and_never_stored() {
    let (up, seen) = upstream().await;
    let r = Real::start("enterprise", &["--upstream", up.as_str()]).await;
    let (id, secret) = r
        .key(
            &r.admin,
            json!({"name": "victim", "environment": "live", "scopes": ["read", "write"]}),
        )
        .await;
    // Warm the key so its state exists before measuring memory.
    assert_eq!(raw(&r.addr, &get("/items", &secret)).await.0, 200);
    let rss_before = r.rss_kib();
    for i in 0..60 {
        let method = format!("X{i}{}", "M".repeat(20_000));
        let head = format!(
            "{method} /items HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
        );
        let (status, text) = raw(&r.addr, &head).await;
        assert_eq!(status, 405, "{}", &text[..text.len().min(300)]);
        assert!(text.contains("method_not_allowed"));
        assert!(text
            .to_ascii_lowercase()
            .contains("allow: get, head, post, put, delete, options, patch"));
    }
    // TRACE would echo the credential back.
    let head = format!("TRACE /items HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(&r.addr, &head).await.0, 405);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the warm-up reached the upstream"
    );
    flushed().await;
    let res = r
        .call("GET", &r.admin, &format!("/v1/keys/{id}/usage"), None)
        .await;
    let body = res.text().await.unwrap();
    assert!(body.len() < 10_000, "usage answer is {} bytes", body.len());
    let usage: Value = serde_json::from_str(&body).unwrap();
    let endpoints: Vec<&str> = usage["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints, ["GET /items"]);
    let client_errors: u64 = usage["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["client_error"].as_u64().unwrap())
        .sum();
    assert_eq!(
        client_errors, 61,
        "each refused method counts as a client_error"
    );
    let grown = r.rss_kib().saturating_sub(rss_before);
    assert!(grown < 8 * 1024, "RSS grew {grown} KiB");
    assert!(
        !r.log().contains(&"M".repeat(100)),
        "junk methods are not logged whole"
    );
}

// 2. Slowloris and connection floods.
#[tokio::test]
async fn slow_and_idle_connections_are_cut_off_and_excess_refused_fast() {
    let r = Real::start_env(
        "free",
        &[],
        &[
            ("KEYPORT_HEADER_TIMEOUT_SECS", "2"),
            ("KEYPORT_MAX_CONNECTIONS", "40"),
        ],
    )
    .await;
    // 30 clients send half a request head and then nothing; 5 send nothing.
    let mut slow = Vec::new();
    for i in 0..35 {
        let mut s = TcpStream::connect(&r.addr).await.unwrap();
        if i < 30 {
            s.write_all(b"GET /v1/account HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    // Five more fit under the cap; the next ones are answered 503 at once.
    let mut fill = Vec::new();
    for _ in 0..5 {
        fill.push(TcpStream::connect(&r.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, text) = raw(&r.addr, "GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("\"unavailable\"") && text.to_ascii_lowercase().contains("retry-after: 1")
    );
    assert!(started.elapsed() < Duration::from_secs(1), "refused fast");
    // Within the header timeout (+ slack) the server has closed them all.
    let started = Instant::now();
    for mut s in slow.into_iter().chain(fill) {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server closes a slow connection")
            .unwrap_or(0);
        // Closed (0), or a 408 then closed: never a request served.
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // And the service is there for everyone else again.
    let res = r.call("GET", &r.admin, "/v1/account", None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

// 3. Escalation.
#[tokio::test]
async fn restricted_admin_keys_cannot_escalate() {
    let r = Real::start("starter", &[]).await;
    let root = r.admin.clone();
    let root_id = r
        .call("GET", &root, "/v1/account", None)
        .await
        .json::<Value>()
        .await
        .unwrap()["credential_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = |env: &str, res: &[&str]| json!({"name": "sub-admin", "environment": env, "scopes": ["admin"], "resources": res});
    let (alpha_id, alpha) = r.key(&root, admin("live", &["project:alpha"])).await;
    let (test_id, test) = r.key(&root, admin("test", &[])).await;
    let refused = |res: reqwest::Response| async move {
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    };

    // The alpha admin: nothing unrestricted, nothing outside alpha.
    for body in [
        admin("live", &[]),
        admin("live", &["project:beta"]),
        admin("live", &["project:alpha", "project:beta"]),
        json!({"name": "r", "environment": "live", "scopes": ["read"]}),
    ] {
        refused(r.call("POST", &alpha, "/v1/keys", Some(body)).await).await;
    }
    let (inside_id, _) = r
        .key(&alpha, json!({"name": "r", "environment": "test", "scopes": ["read"], "resources": ["project:alpha"]}))
        .await;
    refused(
        r.call(
            "PATCH",
            &alpha,
            &format!("/v1/keys/{alpha_id}"),
            Some(json!({"resources": []})),
        )
        .await,
    )
    .await;
    refused(
        r.call(
            "PATCH",
            &alpha,
            &format!("/v1/keys/{alpha_id}"),
            Some(json!({"resources": ["project:alpha", "project:beta"]})),
        )
        .await,
    )
    .await;
    refused(
        r.call(
            "PATCH",
            &alpha,
            &format!("/v1/keys/{inside_id}"),
            Some(json!({"resources": []})),
        )
        .await,
    )
    .await;
    for path in [
        format!("/v1/keys/{root_id}/revoke"),
        format!("/v1/keys/{root_id}/rotate"),
    ] {
        refused(r.call("POST", &alpha, &path, None).await).await;
    }
    refused(
        r.call(
            "PATCH",
            &alpha,
            &format!("/v1/keys/{root_id}"),
            Some(json!({"name": "mine"})),
        )
        .await,
    )
    .await;
    refused(
        r.call(
            "PATCH",
            &alpha,
            "/v1/account",
            Some(json!({"allowed_countries": ["DE"]})),
        )
        .await,
    )
    .await;
    // What it may do: narrow keys within alpha, rotate itself (same limits).
    let res = r
        .call(
            "PATCH",
            &alpha,
            &format!("/v1/keys/{inside_id}"),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = r
        .call("POST", &alpha, &format!("/v1/keys/{alpha_id}/rotate"), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["key"]["resources"], json!(["project:alpha"]));

    // The test-environment admin: only test keys.
    for env in ["live", "staging"] {
        refused(
            r.call("POST", &test, "/v1/keys", Some(admin(env, &[])))
                .await,
        )
        .await;
    }
    r.key(
        &test,
        json!({"name": "t", "environment": "test", "scopes": ["read", "write"]}),
    )
    .await;
    refused(
        r.call("POST", &test, &format!("/v1/keys/{root_id}/revoke"), None)
            .await,
    )
    .await;
    let res = r
        .call("POST", &test, &format!("/v1/keys/{test_id}/rotate"), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Every refusal was audited? No: refusals change nothing; the root admin
    // still works and was never touched.
    let me: Value = r
        .call("GET", &root, &format!("/v1/keys/{root_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["status"], "active");
    assert_eq!(me["name"], "Admin key");
}

// 4. Path tricks.
#[tokio::test]
async fn path_tricks_never_reach_the_upstream() {
    let (up, seen) = upstream().await;
    let r = Real::start("starter", &["--upstream", up.as_str()]).await;
    let (_, alpha) = r
        .key(&r.admin, json!({"name": "alpha only", "environment": "live", "scopes": ["read"], "resources": ["project:alpha"]}))
        .await;
    for path in [
        "/projects/alpha/..;/beta/items",
        "/projects/alpha/..%3b/beta",
        "/projects/alpha/..%3B/beta/items",
        "/projects/alpha/%2e%2e/beta",
        "/projects/alpha/.%2e/beta",
        "/projects/alpha/%252e%252e/beta",
        "/projects/alpha/%252e%252e%253b/beta",
        "/projects/alpha;jsessionid=x/../beta",
        "/projects/alpha;x/items",
        "/projects/alpha/%2f../beta",
        "/projects/alpha/../beta",
    ] {
        let (status, text) = raw(&r.addr, &get(path, &alpha)).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("invalid_request"), "{path}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // The honest path still works.
    assert_eq!(
        raw(&r.addr, &get("/projects/alpha/items", &alpha)).await.0,
        200
    );
    assert_eq!(
        raw(&r.addr, &get("/projects/beta/items", &alpha)).await.0,
        403
    );
}

// 5. Keys in URLs, in any encoding.
#[tokio::test]
async fn keys_hidden_in_urls_are_refused_and_never_logged() {
    let (up, seen) = upstream().await;
    let r = Real::start("starter", &["--upstream", up.as_str()]).await;
    let (_, secret) = r
        .key(
            &r.admin,
            json!({"name": "k", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let body = &secret["to_live_".len()..];
    let once: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    for path in [
        format!("/x/{secret}"),
        format!("/x/%2574o_live_{body}"),
        format!("/x/%25{}", &once[1..]),
        format!("/x?q={once}"),
        format!("/x?a=to_live_&b={body}"),
        format!("/x?a=to_&b=live_{}&c={}", &body[..20], &body[20..]),
        format!("/v1/keys?cursor={secret}"),
    ] {
        let (status, text) = raw(&r.addr, &get(&path, &secret)).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("key_in_url"), "{path}");
    }
    assert!(seen.lock().unwrap().is_empty());
    let log = r.log();
    assert!(!log.contains(body), "the key's body reached the log");
    assert!(!log.contains(&body[..32]));
}

// 6. Far-out dates.
#[tokio::test]
async fn far_out_dates_get_clear_errors_and_panics_become_500s() {
    let mut r = Real::start("starter", &[]).await;
    for q in [
        "/v1/usage?to=-262143-01-01T00:00:00Z",
        "/v1/usage?from=-262143-01-01T00:00:00Z",
        "/v1/usage?to=%2B262142-12-31T23:59:59Z",
        "/v1/usage?from=1969-12-31T23:59:59Z&to=2026-01-01T00:00:00Z",
    ] {
        let res = r.call("GET", &r.admin, q, None).await;
        let code = expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            code.contains("range") || code.contains("before"),
            "{q}: {code}"
        );
    }
    let far = json!({"name": "far", "environment": "live", "scopes": ["read"], "expires_at": "+262142-12-31T23:59:59Z"});
    let (status, v) = r.create(&r.admin, far).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (id, _) = r
        .key(&r.admin, json!({"name": "late", "environment": "live", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59Z"}))
        .await;
    let res = r
        .call(
            "PATCH",
            &r.admin,
            &format!("/v1/keys/{id}"),
            Some(json!({"expires_at": "+262142-12-31T23:59:59Z"})),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // A key stored with a far-out expiry (before dates were bounded) rotates
    // with a clamped one, instead of panicking and dropping the connection.
    r.stop();
    r.db.execute(&format!(
        "UPDATE api_keys SET expires_at = 8210298412799000 WHERE id = '{id}'"
    ))
    .await;
    r.boot();
    let res = r
        .call("POST", &r.admin, &format!("/v1/keys/{id}/rotate"), None)
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["key"]["expires_at"], "9999-12-31T23:59:59Z");
}

// 7. Spoofed forwarding headers.
#[tokio::test]
async fn spoofed_forwarding_headers_never_reach_the_upstream() {
    let (up, seen) = upstream().await;
    let country = ["--country-header", "CF-IPCountry"];
    let untrusted = Real::start(
        "starter",
        &[
            "--upstream",
            up.as_str(),
            country[0],
            country[1],
            "--trusted-proxy",
            "10.0.0.0/8",
        ],
    )
    .await;
    let (id, secret) = untrusted
        .key(
            &untrusted.admin,
            json!({"name": "k", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let spoofed = |r: &Real| {
        r.http
            .get(r.url("/items"))
            .bearer_auth(&secret)
            .header("forwarded", "for=203.0.113.7;proto=https")
            .header("x-forwarded-for", "203.0.113.7")
            .header("x-forwarded-host", "admin.internal")
            .header("x-forwarded-proto", "https")
            .header("x-real-ip", "203.0.113.7")
            .header("cf-ipcountry", "KP")
            .header("connection", "keep-alive, X-Internal-Token")
            .header("x-internal-token", "let-me-in")
            .send()
    };
    assert_eq!(spoofed(&untrusted).await.unwrap().status(), StatusCode::OK);
    let got = seen.lock().unwrap().pop().unwrap();
    let h = &got["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h}");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(
        h["forwarded"]
            .as_str()
            .unwrap()
            .starts_with("for=127.0.0.1;proto=http"),
        "{h}"
    );
    assert_ne!(h["x-forwarded-host"], "admin.internal");
    for absent in [
        "x-real-ip",
        "cf-ipcountry",
        "x-internal-token",
        "authorization",
    ] {
        assert!(
            h.get(absent).is_none(),
            "{absent} reached the upstream: {h}"
        );
    }
    flushed().await;
    let usage: Value = untrusted
        .call(
            "GET",
            &untrusted.admin,
            &format!("/v1/keys/{id}/usage"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["countries"][0]["country"], "unknown", "{usage}");
    drop(untrusted);

    // Behind a trusted proxy (loopback here), its chain and country pass.
    let trusted = Real::start(
        "starter",
        &[
            "--upstream",
            up.as_str(),
            country[0],
            country[1],
            "--trusted-proxy",
            "127.0.0.0/8",
        ],
    )
    .await;
    let (_, key) = trusted
        .key(
            &trusted.admin,
            json!({"name": "k", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let res = trusted
        .http
        .get(trusted.url("/items"))
        .bearer_auth(&key)
        .header("x-forwarded-for", "203.0.113.7")
        .header("cf-ipcountry", "DE")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got = seen.lock().unwrap().pop().unwrap();
    assert_eq!(got["headers"]["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(got["headers"]["cf-ipcountry"], "DE");
}

/// (account, action, detail as text) of every failed-login audit row.
async fn audit_rows(db: &TestDb) -> Vec<(Option<String>, String, String)> {
    db.query(
        "SELECT account_id, action, CAST(detail AS TEXT) AS detail FROM audit_events \
         WHERE action = 'auth.failed'",
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r["account_id"].as_str().map(String::from),
            r["action"].as_str().unwrap().to_string(),
            r["detail"].as_str().unwrap().to_string(),
        )
    })
    .collect()
}

// 8. Bogus logins.
#[tokio::test]
async fn bogus_logins_are_rolled_up_not_written_per_request() {
    let mut r = Real::start("starter", &[]).await;
    let (reader_id, reader) = r
        .key(
            &r.admin,
            json!({"name": "reader", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    for i in 0..400 {
        let junk = if i % 2 == 0 {
            format!("to_live_{:064x}", i)
        } else {
            format!("garbage-{i}")
        };
        let res = r.call("GET", &junk, "/v1/account", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // A key of the account, without the admin scope, hammering management.
    for _ in 0..50 {
        let res = r.call("GET", &reader, "/v1/keys", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    flushed().await;
    // 450 failures, a handful of rows (at most 10 per account and minute,
    // one per past minute and source for strangers).
    let during = audit_rows(&r.db).await;
    assert!(during.len() <= 25, "{}", during.len());
    r.restart(); // SIGTERM writes the rollups of the current minute
    let rows = audit_rows(&r.db).await;
    let strangers: Vec<_> = rows.iter().filter(|(a, ..)| a.is_none()).collect();
    assert!(
        !strangers.is_empty() && strangers.len() <= 2,
        "{strangers:?}"
    );
    let counted: u64 = strangers
        .iter()
        .map(|(_, _, d)| {
            serde_json::from_str::<Value>(d).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 400);
    // The account sees its own failures: a few rows, then their count.
    let audit: Value = r
        .call("GET", &r.admin, "/v1/audit?limit=100", None)
        .await
        .json()
        .await
        .unwrap();
    let failed: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.failed")
        .collect();
    let total: u64 = failed
        .iter()
        .map(|e| e["detail"]["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(total, 50, "{failed:?}");
    assert!(failed.len() <= 22, "{}", failed.len());
    assert!(failed.iter().any(|e| e["key_id"] == reader_id.as_str()));
    // Real events are still there, not buried.
    assert!(audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "key.create"));
}

// 9. Key caps.
#[tokio::test]
async fn active_keys_are_capped_per_plan() {
    let r = Real::start("free", &[]).await;
    let body =
        |n: usize| json!({"name": format!("k{n}"), "environment": "live", "scopes": ["read"]});
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(r.key(&r.admin, body(n)).await.0);
    }
    let (status, v) = r.create(&r.admin, body(9)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "limit_exceeded");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("5 active keys"));
    let account: Value = r
        .call("GET", &r.admin, "/v1/account", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (account["key_cap"].as_u64(), account["active_keys"].as_u64()),
        (Some(5), Some(5))
    );
    // Rotation needs no room: the draining key does not count…
    let res = r
        .call(
            "POST",
            &r.admin,
            &format!("/v1/keys/{}/rotate", ids[0]),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let next = res.json::<Value>().await.unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // …but chaining rotations while the first old key still works does.
    let res = r
        .call("POST", &r.admin, &format!("/v1/keys/{next}/rotate"), None)
        .await;
    expect_error(res, StatusCode::CONFLICT, "limit_exceeded").await;
    let res = r
        .call(
            "POST",
            &r.admin,
            &format!("/v1/keys/{}/revoke", ids[0]),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = r
        .call("POST", &r.admin, &format!("/v1/keys/{next}/rotate"), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Revoking frees a slot.
    r.call(
        "POST",
        &r.admin,
        &format!("/v1/keys/{}/revoke", ids[1]),
        None,
    )
    .await;
    let (status, _) = r.create(&r.admin, body(10)).await;
    assert_eq!(status, StatusCode::CREATED);
}

// 10. Smaller items: OPTIONS, invisible names.
#[tokio::test]
async fn options_is_a_read_and_names_cannot_hide_characters() {
    let (up, _) = upstream().await;
    let r = Real::start("starter", &["--upstream", up.as_str()]).await;
    let (_, reader) = r
        .key(
            &r.admin,
            json!({"name": "reader", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let res = r.call("OPTIONS", &reader, "/items", None).await;
    assert_eq!(res.status(), StatusCode::OK, "OPTIONS is safe: read scope");
    let res = r.call("DELETE", &reader, "/items", None).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    for name in [
        "invoice\u{202E}fdp.exe",
        "zero\u{200B}width",
        "bom\u{FEFF}",
        "iso\u{2066}late",
    ] {
        let (status, v) = r
            .create(
                &r.admin,
                json!({"name": name, "environment": "live", "scopes": ["read"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invisible"));
    }
}

// Exact admission under concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_verifies_admit_exactly_the_burst() {
    let r = Real::start("enterprise", &[]).await;
    // One request a minute after a burst of 50: during the run no token
    // comes back, so exactly 50 may pass.
    let (_, secret) = r
        .key(&r.admin, json!({"name": "hot", "environment": "live", "scopes": ["read"], "rate_limit": {"per_minute": 1, "burst": 50}}))
        .await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1_000)
        .build()
        .unwrap();
    let url = r.url("/v1/verify");
    let admitted = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(1_000));
    let mut tasks = Vec::new();
    for _ in 0..10_000 {
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        let (admitted, limited, gate) = (admitted.clone(), limited.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _p = gate.acquire().await.unwrap();
            let res = http
                .post(url)
                .json(&json!({"key": secret}))
                .send()
                .await
                .unwrap();
            match res.status() {
                StatusCode::OK => admitted.fetch_add(1, Ordering::Relaxed),
                StatusCode::TOO_MANY_REQUESTS => limited.fetch_add(1, Ordering::Relaxed),
                other => panic!("unexpected {other}"),
            };
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(admitted.load(Ordering::Relaxed), 50);
    assert_eq!(limited.load(Ordering::Relaxed), 9_950);
}
