//! `/v1/keys/{id}/restrictions…` and `/v1/keys/{id}/suggestions`: try a
//! restriction on recorded and live traffic before enforcing it.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::openapi::{
    BadRequest, Conflict, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, Unprocessable,
};
use super::AppState;
use crate::model::*;
use crate::service::Admin;

type ApiResult<T> = Result<T, ApiError>;

/// Starts (or replaces) the key's report-only proposal: from the next
/// request, requests it would refuse are served and counted as
/// `would_deny` with the reason, until `days` have passed.
#[utoipa::path(put, path = "/v1/keys/{id}/restrictions/proposal", tag = "restrictions",
    operation_id = "propose_restriction", params(("id" = String, Path, description = "Key id")),
    request_body = ProposeRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn propose(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.propose_restriction(&admin, &id, req).await?))
}

/// Drops the key's proposal; the key is unchanged.
#[utoipa::path(delete, path = "/v1/keys/{id}/restrictions/proposal", tag = "restrictions",
    operation_id = "drop_proposal", params(("id" = String, Path, description = "Key id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn drop_proposal(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.drop_proposal(&admin, &id).await?))
}

/// Enforces the key's proposal: its rules become the key's, from the next
/// request, and the proposal ends.
#[utoipa::path(post, path = "/v1/keys/{id}/restrictions/proposal/enforce", tag = "restrictions",
    operation_id = "enforce_proposal", params(("id" = String, Path, description = "Key id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn enforce(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.enforce_proposal(&admin, &id).await?))
}

/// What a restriction would have refused of the key's recorded traffic over
/// the last `days`, rule by rule, with examples and what history cannot
/// tell. Changes nothing.
#[utoipa::path(post, path = "/v1/keys/{id}/restrictions/replay", tag = "restrictions",
    operation_id = "replay_restriction", params(("id" = String, Path, description = "Key id")),
    request_body = ReplayRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = ReplayReport),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn replay(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> ApiResult<Json<ReplayReport>> {
    Ok(Json(s.service.replay_restriction(&admin, &id, req).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionParams {
    /// The window: the last 1–90 days (default 30).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 90)]
    days: Option<u32>,
}

/// Narrower settings that would have refused none of the key's use in the
/// window, each with its evidence, ready to replay or propose.
#[utoipa::path(get, path = "/v1/keys/{id}/suggestions", tag = "restrictions",
    operation_id = "key_suggestions",
    params(("id" = String, Path, description = "Key id"), SuggestionParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Suggestions),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn suggestions(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<SuggestionParams>,
) -> ApiResult<Json<Suggestions>> {
    Ok(Json(s.service.key_suggestions(&admin, &id, p.days).await?))
}
