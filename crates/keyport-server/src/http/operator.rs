//! `/v1/operator/…` (the vendor's operator tokens only) and `/v1/enroll`
//! (no credential: the one-time code is the credential, and it can do
//! nothing but register an admin key made by the caller).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{bearer, peer, ApiJson, ApiPath, ApiQuery, Peer, SettingsJson};
use super::openapi::{
    BadRequest, Conflict, Forbidden, Internal, NotFound, PayloadTooLarge, TooManyAttempts,
    Unauthorized, Unavailable, Unprocessable,
};
use super::AppState;
use crate::model::*;
use crate::operator::{Actor, Operator};

type ApiResult<T> = Result<T, ApiError>;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let source = peer(&parts.extensions);
        let presented = bearer(&parts.headers)
            .presented("send an operator token in the Authorization header: Bearer <token>")?;
        Ok(state
            .service
            .authenticate_operator(presented.as_ref(), source.as_deref())
            .await?)
    }
}

/// The service URL enrollment links name: `--public-url`, else the address
/// the operator's request was sent to.
fn service_url(s: &AppState, headers: &HeaderMap) -> ApiResult<String> {
    if let Some(u) = &s.public_url {
        return Ok(u.clone());
    }
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
        })
        .map(|h| format!("http://{h}"))
        .ok_or_else(|| {
            ApiError::invalid(
                "no Host header to build the enrollment link from; start the server with --public-url",
            )
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountSearch {
    /// Part of an account's name or external id (case-insensitive).
    #[param(value_type = String, required = false, max_length = 200)]
    pub search: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; empty or absent for the first.
    #[param(value_type = String, required = false, pattern = "^([0-9]{1,15}\\.[A-Za-z0-9_]{1,64})?$")]
    pub cursor: Option<String>,
}

/// Creates an account (no key yet) and its first enrollment code: send the
/// customer the link; their portal makes the admin key on their machine.
#[utoipa::path(post, path = "/v1/operator/accounts", tag = "operator", operation_id = "operator_create_account",
    request_body = CreateAccountRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedAccount),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn create_account(
    State(s): State<AppState>,
    op: Operator,
    headers: HeaderMap,
    SettingsJson(req): SettingsJson<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    let url = service_url(&s, &headers)?;
    let created = s
        .service
        .create_enrolled_account(Actor::Operator(&op), req, &url)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Accounts, newest first.
#[utoipa::path(get, path = "/v1/operator/accounts", tag = "operator", operation_id = "operator_list_accounts", params(AccountSearch),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OperatorAccountList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn list_accounts(
    State(s): State<AppState>,
    _op: Operator,
    ApiQuery(q): ApiQuery<AccountSearch>,
) -> ApiResult<Json<OperatorAccountList>> {
    if q.search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid("search is at most 200 characters"));
    }
    Ok(Json(
        s.service
            .operator_accounts(q.search.as_deref(), q.cursor.as_deref(), q.limit)
            .await?,
    ))
}

/// One account: plan, limits, keys, usage today and this month.
#[utoipa::path(get, path = "/v1/operator/accounts/{id}", tag = "operator", operation_id = "operator_get_account",
    params(("id" = String, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, body = OperatorAccount),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn get_account(
    State(s): State<AppState>,
    _op: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OperatorAccount>> {
    Ok(Json(s.service.operator_account(&id).await?))
}

/// Changes plan, name, external id, limits, key cap or suspension. A new
/// plan or limit applies from the very next request; a suspended account's
/// keys are refused with `account_suspended` until it is resumed.
#[utoipa::path(patch, path = "/v1/operator/accounts/{id}", tag = "operator", operation_id = "operator_update_account",
    request_body = UpdateOperatorAccount,
    params(("id" = String, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, body = OperatorAccount),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn update_account(
    State(s): State<AppState>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
    SettingsJson(req): SettingsJson<UpdateOperatorAccount>,
) -> ApiResult<Json<OperatorAccount>> {
    Ok(Json(
        s.service.operator_update_account(&op, &id, req).await?,
    ))
}

/// Deletes an account: every key is revoked at once and the account leaves
/// the operator API. Its audit log and usage history are kept.
#[utoipa::path(delete, path = "/v1/operator/accounts/{id}", tag = "operator", operation_id = "operator_delete_account",
    params(("id" = String, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, body = DeletedAccount),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn delete_account(
    State(s): State<AppState>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeletedAccount>> {
    Ok(Json(s.service.operator_delete_account(&op, &id).await?))
}

/// A new one-time enrollment code for an account: onboarding a second
/// person, or recovery for a customer who lost their machine.
#[utoipa::path(post, path = "/v1/operator/accounts/{id}/enrollments", tag = "operator", operation_id = "operator_create_enrollment",
    request_body = CreateEnrollmentRequest,
    params(("id" = String, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 201, body = EnrollmentView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn create_enrollment(
    State(s): State<AppState>,
    op: Operator,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    SettingsJson(req): SettingsJson<CreateEnrollmentRequest>,
) -> ApiResult<(StatusCode, Json<EnrollmentView>)> {
    let url = service_url(&s, &headers)?;
    let view = s
        .service
        .create_enrollment(Actor::Operator(&op), &id, req.hours, &url)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// What an enrollment code is for (account, plan, expiry, key prefix),
/// without using it. Failed attempts count against the caller's address.
#[utoipa::path(post, path = "/v1/enroll/preview", tag = "enrollment", operation_id = "enrollment_preview",
    request_body = EnrollmentCheck,
    responses(
        (status = 200, body = EnrollmentPreview),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyAttempts),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn enroll_preview(
    State(s): State<AppState>,
    Peer(source): Peer,
    ApiJson(req): ApiJson<EnrollmentCheck>,
) -> ApiResult<Json<EnrollmentPreview>> {
    Ok(Json(
        s.service
            .enrollment_preview(&req.code, source.as_deref())
            .await?,
    ))
}

/// Redeems an enrollment code: registers the admin key the caller made
/// (only its SHA-256 and last four travel) and, with
/// `revoke_other_admin_keys`, revokes the account's other admin keys. A
/// code works once.
#[utoipa::path(post, path = "/v1/enroll", tag = "enrollment", operation_id = "enroll", request_body = EnrollRequest,
    responses(
        (status = 201, body = Enrolled),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyAttempts),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn enroll(
    State(s): State<AppState>,
    Peer(source): Peer,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<Enrolled>)> {
    let enrolled = s.service.enroll(req, source.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(enrolled)))
}
