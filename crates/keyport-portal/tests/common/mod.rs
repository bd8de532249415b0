//! Shared test helpers: a portal on temp folders, a real key service on
//! loopback with a temp SQLite file, and a scriptable stub service.
#![allow(dead_code)]

use keyport_core::{Plan, SecretKey};
use keyport_portal::{CredentialStore, MemoryKeychain, Portal, PortalConfig};
use keyport_server::clock::SystemClock;
use keyport_server::{Server, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

/// A portal whose data and config folders live in a temp dir.
pub struct TestPortal {
    pub portal: Portal,
    pub dir: TempDir,
    pub keychain: Arc<dyn CredentialStore>,
}

impl TestPortal {
    pub fn new() -> Self {
        Self::with_keychain(Arc::new(MemoryKeychain::new()))
    }

    pub fn with_keychain(keychain: Arc<dyn CredentialStore>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let portal = Portal::new(config(dir.path()), keychain.clone());
        Self {
            portal,
            dir,
            keychain,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        config(self.dir.path()).data_dir
    }

    pub fn config_dir(&self) -> PathBuf {
        config(self.dir.path()).config_dir
    }

    /// Stops the portal and starts a fresh one on the same folders and
    /// keychain: an app restart.
    pub async fn restart(&mut self) {
        self.portal.shutdown().await;
        self.portal = Portal::new(config(self.dir.path()), self.keychain.clone());
    }
}

pub fn config(root: &Path) -> PortalConfig {
    PortalConfig {
        data_dir: root.join("data/dev.keyport.portal"),
        config_dir: root.join("config/dev.keyport.portal"),
    }
}

/// A standalone key service (a "remote" one) on loopback.
pub struct Remote {
    pub server: Server,
    pub url: String,
    pub dir: TempDir,
}

impl Remote {
    pub async fn start() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A remote service on a clock the test moves.
    pub async fn with_clock(clock: Arc<dyn keyport_server::clock::Clock>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig::new(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
            format!("sqlite://{}", dir.path().join("remote.db").display()),
        );
        let server = keyport_server::start(config, clock).await.unwrap();
        let url = format!("http://{}", server.addr());
        Self { server, url, dir }
    }

    /// A new account; returns its name and admin key.
    pub async fn account(&self, name: &str) -> (String, SecretKey) {
        self.account_on(name, Plan::Starter).await
    }

    /// A new account on `plan`; returns its name and admin key.
    pub async fn account_on(&self, name: &str, plan: Plan) -> (String, SecretKey) {
        let (a, _, secret) = self
            .server
            .service()
            .create_account(name, plan, "test")
            .await
            .unwrap();
        (a.name, secret)
    }

    /// Revokes a key from the service side, as another admin tool would.
    pub async fn revoke(&self, admin: &str, key_id: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/keys/{key_id}/revoke", self.url))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "revoke answered {}",
            res.status()
        );
    }
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

/// A port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn new_admin_shaped_key() -> SecretKey {
    keyport_core::KeyPrefix::default()
        .generate(keyport_core::Environment::Live, &mut rand::rngs::OsRng)
}

/// A scriptable fake key service: `GET /v1/keys/{status}` answers with that
/// status (and a few special ids), `POST /v1/keys` records its body.
pub struct Stub {
    pub url: String,
    pub created: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Stub {
    pub async fn start() -> Self {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::get;
        use axum::Json;
        use serde_json::json;

        type Created = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

        fn err(status: u16, message: String) -> Response {
            (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"error": {"code": "x", "message": message}})),
            )
                .into_response()
        }

        async fn key(h: HeaderMap, Path(id): Path<String>) -> Response {
            match id.as_str() {
                "echo-credential" => {
                    let auth = h["authorization"].to_str().unwrap().to_string();
                    err(404, format!("no key for {auth}"))
                }
                "key-shaped" => {
                    let k = new_admin_shaped_key();
                    err(422, format!("bad key {}", k.expose()))
                }
                "html" => (StatusCode::OK, "<html>hello</html>").into_response(),
                "429" => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    Json(json!({"error": {"code": "rate_limited", "message": "slow down"}})),
                )
                    .into_response(),
                "429-no-header" => err(429, "slow down".into()),
                "plain-500" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
                "503-database" => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": {"code": "unavailable", "message": "the database cannot be reached; try again shortly"}})),
                )
                    .into_response(),
                code => err(code.parse().unwrap(), format!("server says {code}")),
            }
        }

        #[derive(Clone)]
        struct St {
            created: Created,
            account: serde_json::Value,
            key: serde_json::Value,
        }

        async fn account(State(st): State<St>) -> Json<serde_json::Value> {
            Json(st.account)
        }

        async fn create(State(st): State<St>, Json(body): Json<serde_json::Value>) -> Response {
            st.created.lock().unwrap().push(body.clone());
            let mut key = st.key.clone();
            key["name"] = body["name"].clone();
            key["environment"] = body["environment"].clone();
            key["prefix"] = json!(format!("to_{}_", body["environment"].as_str().unwrap()));
            key["last4"] = body["last4"].clone();
            (StatusCode::CREATED, Json(json!({"key": key}))).into_response()
        }

        // Answers shaped exactly like the real service's, taken from one.
        let (account_json, key_json) = {
            let remote = Remote::start().await;
            let (_, admin) = remote.account("Stub account").await;
            let http = reqwest::Client::new();
            let account: serde_json::Value = http
                .get(format!("{}/v1/account", remote.url))
                .bearer_auth(admin.expose())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let list: serde_json::Value = http
                .get(format!("{}/v1/keys", remote.url))
                .bearer_auth(admin.expose())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            remote.server.shutdown().await;
            (account, list["keys"][0].clone())
        };
        let created: Created = Arc::default();
        let app = axum::Router::new()
            .route("/v1/account", get(account))
            .route("/v1/keys", axum::routing::post(create))
            .route("/v1/keys/{id}", get(key))
            .with_state(St {
                created: created.clone(),
                account: account_json,
                key: key_json,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, created }
    }
}

/// A loopback TCP listener standing in for an HTTP proxy: it counts the
/// connections it gets, keeps what each sent first (a request head), and
/// answers 502.
pub struct FakeProxy {
    pub url: String,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeProxy {
    pub async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let i = {
                    let mut h = seen.lock().unwrap();
                    h.push(String::new());
                    h.len() - 1
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut len = 0;
                    while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::time::timeout(
                            std::time::Duration::from_secs(5),
                            conn.read(&mut buf[len..]),
                        )
                        .await
                        {
                            Ok(Ok(n)) if n > 0 => len += n,
                            _ => break,
                        }
                    }
                    seen.lock().unwrap()[i] = String::from_utf8_lossy(&buf[..len]).into_owned();
                    let _ = conn
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        Self { url, heads }
    }

    /// What each connection sent first, in the order they came.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// How a [`Hostile`] server answers one path.
#[derive(Clone)]
pub enum Answer {
    /// `200` announcing a `Content-Length` of this many bytes, then
    /// sending spaces until the client goes away.
    Announced(u64),
    /// `200`, chunked, never ending.
    EndlessChunked,
    /// `200` without a length, ending only when the connection closes:
    /// never.
    EndlessUntilClose,
    /// This status, chunked, never ending.
    EndlessError(u16),
    /// `200` with exactly this body.
    Body(&'static str, Arc<Vec<u8>>),
}

/// A loopback HTTP/1.1 server over a raw socket (so bodies can be endless)
/// that answers each path (query ignored) as told; one request per
/// connection.
pub struct Hostile {
    pub url: String,
}

impl Hostile {
    pub async fn start(routes: Vec<(&'static str, Answer)>) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes = Arc::new(routes);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let target = line.split(' ').nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/");
                    let Some((_, answer)) = routes.iter().find(|(p, _)| *p == path) else {
                        let _ = conn
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        return;
                    };
                    let filler = vec![b' '; 64 << 10];
                    let chunk = {
                        let mut c = format!("{:x}\r\n", filler.len()).into_bytes();
                        c.extend_from_slice(&filler);
                        c.extend_from_slice(b"\r\n");
                        c
                    };
                    // Each loop ends when the client stops reading and goes away.
                    match answer {
                        Answer::Announced(n) => {
                            let h = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n");
                            if conn.write_all(h.as_bytes()).await.is_err() {
                                return;
                            }
                            while conn.write_all(&filler).await.is_ok() {}
                        }
                        Answer::EndlessChunked | Answer::EndlessError(_) => {
                            let status = match answer {
                                Answer::EndlessError(s) => *s,
                                _ => 200,
                            };
                            let h = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
                            if conn.write_all(h.as_bytes()).await.is_err() {
                                return;
                            }
                            while conn.write_all(&chunk).await.is_ok() {}
                        }
                        Answer::EndlessUntilClose => {
                            let h = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
                            if conn.write_all(h.as_bytes()).await.is_err() {
                                return;
                            }
                            while conn.write_all(&filler).await.is_ok() {}
                        }
                        Answer::Body(content_type, body) => {
                            let h = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                body.len()
                            );
                            if conn.write_all(h.as_bytes()).await.is_ok() {
                                let _ = conn.write_all(body).await;
                            }
                        }
                    }
                });
            }
        });
        Self { url }
    }
}
