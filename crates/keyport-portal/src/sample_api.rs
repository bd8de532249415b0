//! The built-in sample API: the embedded gateway's upstream, so a new user
//! can try a key with curl at once. It answers only requests that came
//! through the gateway (which adds `X-Keyport-Key-Id`) and says which key
//! called.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to try a key against the embedded gateway. The curl line reads the
/// key from `$KEYPORT_KEY`; the key itself never appears in it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TryIt {
    pub gateway_url: String,
    pub curl: String,
}

impl TryIt {
    pub fn for_gateway(gateway_url: &str) -> Self {
        let gateway_url = gateway_url.trim_end_matches('/').to_string();
        Self {
            curl: format!("curl -H \"Authorization: Bearer $KEYPORT_KEY\" {gateway_url}/hello"),
            gateway_url,
        }
    }
}

/// A running sample API on `127.0.0.1:<random port>`.
pub struct SampleApi {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SampleApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router())
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "sample API stopped with an error");
            }
        });
        Ok(Self { addr, stop, task })
    }

    pub fn url(&self) -> reqwest::Url {
        format!("http://{}/", self.addr)
            .parse()
            .expect("a socket address makes a URL")
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub fn router() -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/projects/{project}/items", get(list_items).post(add_item))
        .fallback(not_found)
}

type Answer = (StatusCode, Json<Value>);

/// Who called, as the gateway says; `None` for a direct call.
fn caller(h: &HeaderMap) -> Option<(String, String)> {
    let get = |n: &str| h.get(n)?.to_str().ok().map(str::to_string);
    Some((get("x-keyport-key-id")?, get("x-keyport-account-id")?))
}

fn direct_call() -> Answer {
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": "call the sample API through the Keyport gateway, with your key in Authorization: Bearer"
        })),
    )
}

async fn hello(h: HeaderMap) -> Answer {
    let Some((key_id, account_id)) = caller(&h) else {
        return direct_call();
    };
    (
        StatusCode::OK,
        Json(json!({
            "message": "Hello from the Keyport sample API! Your key was accepted.",
            "key_id": key_id,
            "account_id": account_id,
        })),
    )
}

async fn list_items(h: HeaderMap, Path(project): Path<String>) -> Answer {
    let Some((key_id, _)) = caller(&h) else {
        return direct_call();
    };
    (
        StatusCode::OK,
        Json(json!({
            "project": project,
            "items": [
                {"id": 1, "name": "First item"},
                {"id": 2, "name": "Second item"},
            ],
            "key_id": key_id,
        })),
    )
}

async fn add_item(h: HeaderMap, Path(project): Path<String>, body: axum::body::Bytes) -> Answer {
    let Some((key_id, _)) = caller(&h) else {
        return direct_call();
    };
    let item: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if body.is_empty() => json!({}),
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "send a JSON body"})),
            )
        }
    };
    (
        StatusCode::CREATED,
        Json(json!({"project": project, "created": item, "key_id": key_id})),
    )
}

async fn not_found(uri: Uri) -> Answer {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": format!("the sample API has no {}; try GET /hello or GET /projects/demo/items", uri.path())
        })),
    )
}
