//! HTTP surface: `/v1` (management, verify, OpenAPI) and the gateway fallback.

pub mod api;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod openapi;
pub mod operator;
pub mod ops;
pub mod restrict;
pub mod upstream;
pub mod webhooks;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use futures_util::FutureExt;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::Service;

use crate::service::KeyService;
use error::ApiError;
pub use upstream::Upstream;

/// What every handler shares. One `Arc`, so the per-request `State` clone
/// is a single reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub service: Arc<KeyService>,
    pub upstream: Option<Upstream>,
    pub geo: GeoConfig,
    /// Where customers reach this service (enrollment links).
    pub public_url: Option<String>,
    /// Who may send leak reports (`POST /v1/leaks`); none: not enabled.
    pub leak_keys: Option<Arc<crate::leaks::LeakKeys>>,
}

impl AppState {
    pub fn new(service: Arc<KeyService>, upstream: Option<Upstream>, geo: GeoConfig) -> Self {
        AppState(Arc::new(AppInner {
            service,
            upstream,
            geo,
            public_url: None,
            leak_keys: None,
        }))
    }

    /// Accepts leak reports signed by these keys (set before the state is
    /// shared).
    pub fn with_leak_keys(mut self, keys: Option<Arc<crate::leaks::LeakKeys>>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.leak_keys = keys;
        }
        self
    }

    /// Enrollment links name `url` (set before the state is shared).
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.public_url = url.map(|u| u.trim_end_matches('/').to_string());
        }
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Where the caller's country comes from: a header set by a trusted proxy.
#[derive(Debug, Clone, Default)]
pub struct GeoConfig {
    pub header: Option<axum::http::HeaderName>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl GeoConfig {
    /// True when the peer is one of the trusted proxies.
    pub fn is_trusted(&self, peer: Option<std::net::IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusted_proxies.iter().any(|n| n.contains(&ip)))
    }

    /// The caller's address: the peer's, or, when the peer is a trusted
    /// proxy, the nearest address in `X-Forwarded-For` (else `Forwarded`)
    /// that is not itself a trusted proxy. A client cannot choose its own.
    pub fn client_ip(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Option<std::net::IpAddr> {
        let peer = peer?;
        if !self.is_trusted(Some(peer)) {
            return Some(peer);
        }
        // Right to left: the first hop no trusted proxy vouches for. At an
        // unreadable hop, or when every hop is a proxy, the last one seen.
        let mut last = peer;
        for hop in forwarded_chain(headers).iter().rev() {
            match hop {
                Some(ip) if self.is_trusted(Some(*ip)) => last = *ip,
                Some(ip) => return Some(*ip),
                None => break,
            }
        }
        Some(last)
    }

    /// The country of a request, or `unknown` unless the header came from a
    /// trusted proxy and holds a country code.
    pub fn country(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> String {
        let trusted = self.is_trusted(peer);
        self.header
            .as_ref()
            .filter(|_| trusted)
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(keyport_core::usage::clean_country)
            .unwrap_or_else(|| "unknown".to_string())
    }
}

/// The addresses of `X-Forwarded-For`, or else `Forwarded`'s `for=`, in
/// order; `None` for an entry that is not an address.
fn forwarded_chain(headers: &axum::http::HeaderMap) -> Vec<Option<std::net::IpAddr>> {
    let joined = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let xff = joined("x-forwarded-for");
    if !xff.trim().is_empty() {
        return xff.split(',').map(|h| parse_node(h.trim())).collect();
    }
    joined("forwarded")
        .split(',')
        .filter_map(|elem| {
            elem.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for").then(|| parse_node(v.trim()))
            })
        })
        .collect()
}

/// `203.0.113.7`, `"[2001:db8::1]:443"`, `203.0.113.7:8080`.
fn parse_node(node: &str) -> Option<std::net::IpAddr> {
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

pub struct HttpLimits {
    pub request_timeout: Duration,
    /// Largest JSON body on `/v1`.
    pub max_json_bytes: usize,
}

/// The whole HTTP surface: the routes wrapped in the URL guard and the
/// request timeout. The guard and timeout sit outside the router (not as
/// router layers), so a request pays for them once, not per route clone.
pub fn app(state: AppState, limits: &HttpLimits) -> Guarded {
    Guarded {
        prefix: Arc::new(state.service.prefix().clone()),
        timeout: limits.request_timeout,
        max_json_bytes: limits.max_json_bytes,
        inner: router(state.clone(), limits),
        state,
    }
}

/// The routes. `/v1` is spelled out on each route rather than nested, which
/// would rewrite every request's URI.
pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    Router::new()
        .route(
            "/v1/account",
            get(api::get_account).patch(api::update_account),
        )
        .route("/v1/account/alerts/preview", post(api::preview_alerts))
        .route("/v1/usage", get(api::account_usage))
        .route("/v1/keys/{id}/usage", get(api::key_usage))
        .route("/v1/keys/{id}/usage.csv", get(api::key_usage_csv))
        .route("/v1/alerts", get(api::list_alerts))
        .route("/v1/alerts/{id}/ack", post(api::ack_alert))
        .route("/v1/keys", get(api::list_keys).post(api::create_key))
        .route("/v1/keys/{id}", get(api::get_key).patch(api::update_key))
        .route("/v1/keys/{id}/revoke", post(api::revoke_key))
        .route("/v1/keys/{id}/rotate", post(api::rotate_key))
        .route("/v1/keys/lookup", post(api::lookup_keys))
        .route("/v1/keys/{id}/quarantine", post(api::quarantine_key))
        .route("/v1/keys/{id}/release", post(api::release_key))
        .route(
            "/v1/keys/{id}/restrictions/proposal",
            axum::routing::put(restrict::propose).delete(restrict::drop_proposal),
        )
        .route(
            "/v1/keys/{id}/restrictions/proposal/enforce",
            post(restrict::enforce),
        )
        .route("/v1/keys/{id}/restrictions/replay", post(restrict::replay))
        .route("/v1/keys/{id}/suggestions", get(restrict::suggestions))
        .route("/v1/audit", get(api::audit))
        .route(
            "/v1/webhooks",
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_webhook)
                .patch(webhooks::update_webhook)
                .delete(webhooks::delete_webhook),
        )
        .route("/v1/webhooks/{id}/test", post(webhooks::test_webhook))
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry_delivery),
        )
        .route("/v1/verify", post(api::verify))
        .route(
            "/v1/leaks",
            post(api::report_leaks).layer(DefaultBodyLimit::max(crate::leaks::MAX_BODY)),
        )
        .route("/v1/enroll", post(operator::enroll))
        .route("/v1/enroll/preview", post(operator::enroll_preview))
        .route(
            "/v1/operator/accounts",
            get(operator::list_accounts).post(operator::create_account),
        )
        .route(
            "/v1/operator/accounts/{id}",
            get(operator::get_account)
                .patch(operator::update_account)
                .delete(operator::delete_account),
        )
        .route(
            "/v1/operator/accounts/{id}/enrollments",
            post(operator::create_enrollment),
        )
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/v1/{*rest}", any(no_such_endpoint))
        .route("/v1/", any(no_such_endpoint))
        .route("/v1", any(no_such_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        // Layered before the fallback: the JSON limit is for `/v1` only, the
        // gateway streams bodies of any size to the upstream.
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .fallback(gateway::proxy)
        .with_state(state)
}

/// [`router`] behind the URL guard and the request timeout.
#[derive(Clone)]
pub struct Guarded {
    inner: Router,
    state: AppState,
    prefix: Arc<keyport_core::KeyPrefix>,
    timeout: Duration,
    max_json_bytes: usize,
}

impl Service<Request> for Guarded {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A Router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // A bug must never drop the connection: a panic anywhere in a
        // handler is logged and answered with a plain 500.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(req))) {
            Ok(fut) => Box::pin(async move {
                match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(res) => res,
                    Err(panic) => Ok(panicked(panic)),
                }
            }),
            Err(panic) => Box::pin(std::future::ready(Ok(panicked(panic)))),
        }
    }
}

/// The 500 for a handler that panicked; the panic's message goes to the log.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::internal(format!("handler panicked: {what}")).into_response()
}

impl Guarded {
    fn dispatch(&mut self, req: Request) -> <Self as Service<Request>>::Future {
        if key_in_url(&req, &self.prefix) {
            tracing::warn!(method = %req.method(), "refused a request with an API key in its URL");
            return Box::pin(std::future::ready(Ok(
                ApiError::key_in_url().into_response()
            )));
        }
        let log = RequestLog::start(&req);
        let limit = self.timeout;
        // `POST /v1/verify` is the call every request of a customer's API
        // makes: it goes straight to its handler (same extractor, same
        // errors) instead of through the router. Every other method on
        // that path still gets the router's 405.
        if req.method() == Method::POST && req.uri().path() == "/v1/verify" {
            let state = self.state.clone();
            let req = req.map(|b| Body::new(http_body_util::Limited::new(b, self.max_json_bytes)));
            return Box::pin(async move {
                let res = match tokio::time::timeout(limit, api::verify_request(state, req)).await {
                    Ok(res) => res,
                    Err(_) => timed_out().into_response(),
                };
                log.finish(&res);
                Ok(res)
            });
        }
        // Every path outside `/v1` and the two probes is the gateway's:
        // straight to it, without the router's matching and boxing.
        if is_gateway_path(req.uri().path()) {
            let proxied = gateway::proxy(axum::extract::State(self.state.clone()), req);
            return Box::pin(async move {
                let res = match tokio::time::timeout(limit, proxied).await {
                    Ok(res) => res,
                    Err(_) => timed_out().into_response(),
                };
                log.finish(&res);
                Ok(res)
            });
        }
        let routed = self.inner.call(req);
        Box::pin(async move {
            let res = match tokio::time::timeout(limit, routed).await {
                Ok(Ok(res)) => res,
                Ok(Err(never)) => match never {},
                Err(_) => timed_out().into_response(),
            };
            log.finish(&res);
            Ok(res)
        })
    }
}

/// Paths the router would hand to its fallback, the gateway.
fn is_gateway_path(path: &str) -> bool {
    !(path == "/v1" || path.starts_with("/v1/") || path == "/healthz" || path == "/readyz")
}

/// True when the URL carries a key-shaped value, in any encoding.
fn key_in_url(req: &Request, prefix: &keyport_core::KeyPrefix) -> bool {
    let raw = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    keyport_core::request::url_carries_key(raw, prefix)
}

async fn no_such_endpoint() -> ApiError {
    ApiError::not_found("no such endpoint; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "the request took too long",
    )
}

/// What a request is logged with: at debug level every request with its
/// time, otherwise only server errors.
enum RequestLog {
    Errors,
    Debug {
        method: String,
        path: String,
        started: Instant,
    },
}

impl RequestLog {
    fn start(req: &Request) -> Self {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return RequestLog::Errors;
        }
        RequestLog::Debug {
            method: keyport_core::usage::truncate(req.method().as_str(), 16).to_string(),
            path: keyport_core::usage::truncate(req.uri().path(), 256).to_string(),
            started: Instant::now(),
        }
    }

    fn finish(self, res: &Response) {
        let status = res.status().as_u16();
        match self {
            RequestLog::Errors if res.status().is_server_error() => {
                tracing::warn!(status, "request failed");
            }
            RequestLog::Errors => {}
            RequestLog::Debug {
                method,
                path,
                started,
            } => {
                let micros = started.elapsed().as_micros() as u64;
                tracing::debug!(%method, %path, status, micros, "request");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    #[test]
    fn the_gateway_gets_what_the_router_would_not_route() {
        for p in [
            "/",
            "/anything",
            "/v1x",
            "/v10/a",
            "/healthzz",
            "/x/v1/keys",
        ] {
            assert!(is_gateway_path(p), "{p}");
        }
        for p in [
            "/v1",
            "/v1/",
            "/v1/verify",
            "/v1/nope",
            "/healthz",
            "/readyz",
        ] {
            assert!(!is_gateway_path(p), "{p}");
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_logged_500_not_a_dropped_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let clock = Arc::new(crate::clock::SystemClock);
        let service = Arc::new(
            KeyService::open(store, clock, Default::default())
                .await
                .unwrap(),
        );
        let state = AppState::new(service.clone(), None, GeoConfig::default());
        let boom = Router::new()
            .route(
                "/v1/boom",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                    "unreachable"
                }),
            )
            .route(
                "/v1/sync-boom",
                get(|| -> std::future::Ready<&'static str> { panic!("a sync bug") }),
            );
        let mut guarded = Guarded {
            inner: boom,
            state,
            prefix: Arc::new(service.prefix().clone()),
            timeout: Duration::from_secs(5),
            max_json_bytes: 1024,
        };
        for path in ["/v1/boom", "/v1/sync-boom"] {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            let res = guarded.call(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "internal");
            assert_eq!(v["error"]["message"], "internal error", "nothing leaks");
        }
    }

    #[test]
    fn country_only_from_trusted_proxies() {
        let geo = GeoConfig {
            header: Some(HeaderName::from_static("cf-ipcountry")),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        };
        let mut h = HeaderMap::new();
        h.insert("cf-ipcountry", HeaderValue::from_static("de"));
        assert_eq!(geo.country(&h, Some("10.1.2.3".parse().unwrap())), "DE");
        assert_eq!(
            geo.country(&h, Some("192.0.2.1".parse().unwrap())),
            "unknown"
        );
        assert_eq!(geo.country(&h, None), "unknown");
        h.insert("cf-ipcountry", HeaderValue::from_static("Germany"));
        assert_eq!(
            geo.country(&h, Some("10.1.2.3".parse().unwrap())),
            "unknown"
        );
        assert_eq!(
            GeoConfig::default().country(&h, Some("10.1.2.3".parse().unwrap())),
            "unknown"
        );
    }
}
