//! HTTP surface: `/v1` (management, verify, OpenAPI) and the gateway fallback.

pub mod api;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod openapi;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{BoxError, Router};
use percent_encoding::percent_decode_str;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;

use crate::service::KeyService;
use error::ApiError;

#[derive(Clone)]
pub struct Upstream {
    pub url: reqwest::Url,
    pub client: reqwest::Client,
}

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<KeyService>,
    pub upstream: Option<Arc<Upstream>>,
    pub geo: Arc<GeoConfig>,
}

/// Where the caller's country comes from: a header set by a trusted proxy.
#[derive(Debug, Clone, Default)]
pub struct GeoConfig {
    pub header: Option<axum::http::HeaderName>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl GeoConfig {
    /// The country of a request, or `unknown` unless the header came from a
    /// trusted proxy and holds a country code.
    pub fn country(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> String {
        let trusted = peer.is_some_and(|ip| self.trusted_proxies.iter().any(|n| n.contains(&ip)));
        self.header
            .as_ref()
            .filter(|_| trusted)
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(keyport_core::usage::clean_country)
            .unwrap_or_else(|| "unknown".to_string())
    }
}

pub struct HttpLimits {
    pub request_timeout: Duration,
    /// Largest JSON body on `/v1`.
    pub max_json_bytes: usize,
}

pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    let v1 = Router::new()
        .route("/account", get(api::get_account).patch(api::update_account))
        .route("/usage", get(api::account_usage))
        .route("/keys/{id}/usage", get(api::key_usage))
        .route("/keys/{id}/usage.csv", get(api::key_usage_csv))
        .route("/alerts", get(api::list_alerts))
        .route("/alerts/{id}/ack", post(api::ack_alert))
        .route("/keys", get(api::list_keys).post(api::create_key))
        .route("/keys/{id}", get(api::get_key).patch(api::update_key))
        .route("/keys/{id}/revoke", post(api::revoke_key))
        .route("/keys/{id}/rotate", post(api::rotate_key))
        .route("/audit", get(api::audit))
        .route("/verify", post(api::verify))
        .route("/openapi.json", get(openapi::serve))
        .route("/{*rest}", any(no_such_endpoint))
        .route("/", any(no_such_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_json_bytes));
    Router::new()
        .nest("/v1", v1)
        .fallback(gateway::proxy)
        .layer(middleware::from_fn_with_state(state.clone(), guard_and_log))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(limits.request_timeout),
        )
        .with_state(state)
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

async fn timed_out(_: BoxError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "the request took too long",
    )
}

/// Refuses any URL that carries a key-shaped value (never verified, never
/// logged raw), then logs the request with its outcome.
async fn guard_and_log(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let raw = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let prefix = s.service.prefix();
    let in_url = keyport_core::find_key_in_text(raw, prefix)
        || (raw.contains('%')
            && keyport_core::find_key_in_text(
                &percent_decode_str(raw).decode_utf8_lossy(),
                prefix,
            ));
    if in_url {
        tracing::warn!(method = %req.method(), "refused a request with an API key in its URL");
        return ApiError::key_in_url().into_response();
    }
    if !tracing::enabled!(tracing::Level::DEBUG) {
        let res = next.run(req).await;
        if res.status().is_server_error() {
            tracing::warn!(status = res.status().as_u16(), "request failed");
        }
        return res;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status();
    let micros = started.elapsed().as_micros() as u64;
    tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

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
