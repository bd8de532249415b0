//! Endpoints for load balancers and orchestrators: liveness and readiness.
//! Outside `/v1` because that is where load balancers look for them; they
//! take no credential and say nothing about keys or accounts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::openapi::{BadRequest, Internal, Unavailable};
use super::AppState;
use crate::model::Readiness;

/// The process is up and serving HTTP (it may still not be ready).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "`ok`", content_type = "text/plain", body = String),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether this instance should take traffic: its database answers and,
/// on PostgreSQL, its change feed is current. Red (503) a while before the
/// instance would stop verifying for lack of the feed, so a load balancer
/// drains it first.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Readiness, description = "Ready."),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
        (status = 503, body = Readiness, description = "Not ready: see which part.")))]
pub async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.service.readiness().await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

/// `GET /metrics` in Prometheus text format, on the metrics listener only.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.service.metrics.render(&s.service.metrics_snapshot());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The metrics listener's routes: `/metrics` and nothing else.
pub fn metrics_app(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}
