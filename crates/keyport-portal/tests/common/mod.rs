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
        let (a, _, secret) = self
            .server
            .service()
            .create_account(name, Plan::Starter, "test")
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
