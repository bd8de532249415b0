//! `/v1` handlers: thin adapters from HTTP to the service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyport_core::{Resource, SecretKey};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::error::{put_ratelimit_headers, ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Object, SettingsJson};
use super::openapi::{
    BadRequest, Conflict, Forbidden, Internal, NotFound, PayloadTooLarge, RateLimited,
    Unauthorized, Unavailable, Unprocessable,
};
use super::AppState;
use crate::model::*;
use crate::service::Admin;
use crate::usage::Window;
use chrono::{DateTime, Utc};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; empty or absent for the first.
    #[param(value_type = String, required = false, pattern = "^([+-]?[0-9]{1,18})?$")]
    pub cursor: Option<String>,
}

/// The account of the admin key, with its plan limits.
#[utoipa::path(get, path = "/v1/account", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, body = AccountView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn get_account(State(s): State<AppState>, admin: Admin) -> ApiResult<Json<AccountView>> {
    Ok(Json(s.service.account_view(&admin).await?))
}

/// The account's keys, newest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn list_keys(
    State(s): State<AppState>,
    admin: Admin,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<KeyList>> {
    Ok(Json(
        s.service
            .list_keys(&admin, p.cursor.as_deref(), p.limit)
            .await?,
    ))
}

/// Creates a key. Without `key_hash`/`last4` the server generates it and
/// returns it once as `secret`.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedKey, links(
            ("VerifyTheNewKey" = (operation_id = "verify", request_body = json!({"key": "$response.body#/secret"}),
                description = "Verify the key the server generated.")))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn create_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.service.create_key(&admin, req).await?),
    ))
}

#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn get_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.get_key(&admin, &id).await?))
}

#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", request_body = UpdateKeyRequest, security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
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
pub async fn update_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.update_key(&admin, &id, req).await?))
}

/// Revokes a key; the very next request with it is refused.
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn revoke_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.revoke_key(&admin, &id).await?))
}

/// Creates a replacement with the same settings, linked both ways; the old
/// key stays active until revoked. The body is optional: without one (or
/// with `null`) the server generates the new key.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", request_body(content = Option<RotateKeyRequest>), security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id of the key to replace")),
    responses(
        (status = 201, body = CreatedKey, links(
            ("VerifyTheReplacement" = (operation_id = "verify", request_body = json!({"key": "$response.body#/secret"}),
                description = "Verify the replacement the server generated.")))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn rotate_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::invalid(e.body_text())
        }
    })?;
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        RotateKeyRequest::default()
    } else {
        parse_json::<Option<Object<RotateKeyRequest>>>(&body)?
            .map(|o| o.0)
            .unwrap_or_default()
    };
    Ok((
        StatusCode::CREATED,
        Json(s.service.rotate_key(&admin, &id, req).await?),
    ))
}

/// Append-only audit events of the account, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = AuditList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn audit(
    State(s): State<AppState>,
    admin: Admin,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<AuditList>> {
    Ok(Json(
        s.service
            .audit_log(&admin, p.cursor.as_deref(), p.limit)
            .await?,
    ))
}

/// Verifies a key for the vendor's own API servers. Each call counts against
/// the key's limits.
#[utoipa::path(post, path = "/v1/verify", tag = "verify", request_body = VerifyRequest,
    responses(
        (status = 200, body = VerifyResponse, description = "The key is valid for this scope and resource.",
            headers(
                ("X-RateLimit-Limit" = u32, description = "Requests per minute the key may make."),
                ("X-RateLimit-Remaining" = u64, description = "Requests left now."),
                ("X-RateLimit-Reset" = i64, description = "Unix seconds when the limit is whole again."),
                ("RateLimit-Policy" = String, description = "Structured Field List (RFC 9651) of the key's quota policies: `\"minute\";q=60;w=60, \"day\";q=10000;w=86400` (no `day` without a daily quota)."),
                ("RateLimit" = String, description = "Structured Field List of the binding policy: `\"minute\";r=42;t=7`: r requests left, t seconds until more quota (not an epoch)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, body = ErrorBody, description = "`forbidden`: the key is valid but not granted this scope or resource.",
            headers(
                ("X-RateLimit-Limit" = u32, description = "Requests per minute the key may make."),
                ("X-RateLimit-Remaining" = u64, description = "Requests left now."),
                ("X-RateLimit-Reset" = i64, description = "Unix seconds when the limit is whole again."),
                ("RateLimit-Policy" = String, description = "Structured Field List (RFC 9651) of the key's quota policies: `\"minute\";q=60;w=60, \"day\";q=10000;w=86400` (no `day` without a daily quota)."),
                ("RateLimit" = String, description = "Structured Field List of the binding policy: `\"minute\";r=42;t=7`: r requests left, t seconds until more quota (not an epoch)."))),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn verify(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Response> {
    let problem = super::error::wants_problem(&headers);
    verified(&s, req)
        .await
        .map_err(|e| ApiError { problem, ..e })
}

/// The verify call itself, after the body was read, timed for metrics.
async fn verified(s: &AppState, req: VerifyRequest) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let answer = answer_verify(s, req).await;
    s.service.metrics.verify_took(started);
    answer
}

async fn answer_verify(s: &AppState, req: VerifyRequest) -> ApiResult<Response> {
    let secret = SecretKey::new(req.key);
    let resource = req
        .resource
        .as_deref()
        .map(|r| {
            r.parse::<Resource>().map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    format!("resource: {e}"),
                )
            })
        })
        .transpose()?;
    let ip = req
        .ip
        .as_deref()
        .map(|ip| {
            ip.trim().parse::<std::net::IpAddr>().map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    "ip: not an IPv4 or IPv6 address",
                )
            })
        })
        .transpose()?;
    let country = req
        .country
        .as_deref()
        .map(|c| {
            keyport_core::usage::clean_country(c).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    "country: not a two-letter country code",
                )
            })
        })
        .transpose()?;
    let caller = crate::service::Caller {
        ip,
        country: country.as_deref(),
    };
    let v = s
        .service
        .verify(&secret, req.scope, resource.as_ref(), caller)
        .await?;
    let mut res = Response::new(axum::body::Body::from(verify_answer(&v)?));
    res.headers_mut().reserve(6);
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    put_ratelimit_headers(res.headers_mut(), &v.decision);
    Ok(res)
}

/// The verify answer: the key's unchanging part, serialised once per cached
/// key and kept in its memo, then the rate-limit numbers. This response is
/// the service's hottest path.
fn verify_answer(v: &crate::service::Verified) -> Result<Vec<u8>, ApiError> {
    let prefix = match v.memo.get() {
        Some(p) => p,
        None => {
            let p = verify_prefix(&v.key)?;
            v.memo.get_or_init(|| p)
        }
    };
    let d = &v.decision;
    let mut body = Vec::with_capacity(prefix.len() + 80);
    body.extend_from_slice(prefix);
    // `{"limit":…,"remaining":…,"reset":…}}` with itoa, not `write!`: the
    // formatting machinery was a tenth of this handler's instructions.
    let mut n = itoa::Buffer::new();
    body.extend_from_slice(br#"{"limit":"#);
    body.extend_from_slice(n.format(d.limit).as_bytes());
    body.extend_from_slice(br#","remaining":"#);
    body.extend_from_slice(n.format(d.remaining).as_bytes());
    body.extend_from_slice(br#","reset":"#);
    body.extend_from_slice(n.format(d.reset).as_bytes());
    body.extend_from_slice(b"}}");
    Ok(body)
}

/// `{"valid":true,…,"resources":[…],"ratelimit":` for a key.
fn verify_prefix(key: &crate::model::KeyRecord) -> Result<Box<[u8]>, ApiError> {
    let mut out = serde_json::to_vec(&VerifyStatic::new(key))
        .map_err(|e| ApiError::internal(format!("verify body: {e}")))?;
    out.pop(); // the object's closing brace
    out.extend_from_slice(br#","ratelimit":"#);
    Ok(out.into_boxed_slice())
}

/// `POST /v1/verify` without the router (see `http::Guarded`). The body
/// checks and error codes are those of [`ApiJson`], without its per-field
/// path tracking; the caller has put the JSON size limit on the body.
pub async fn verify_request(state: AppState, req: axum::extract::Request) -> Response {
    let problem = super::error::wants_problem(req.headers());
    let result = match read_json::<Object<VerifyRequest>>(req).await {
        Ok(Object(body)) => verified(&state, body)
            .await
            .map_err(|e| ApiError { problem, ..e }),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: axum::extract::Request,
) -> Result<T, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::invalid(
            "send a JSON body with Content-Type: application/json",
        ));
    }
    let bytes = http_body_util::BodyExt::collect(req.into_body())
        .await
        .map_err(|e| {
            if super::error::is_length_limit(&e) {
                ApiError::payload_too_large()
            } else {
                ApiError::invalid(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    parse_json(&bytes)
}

/// A JSON body: syntax errors are `400`, values of the wrong shape `422`
/// (as [`ApiJson`] answers them).
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        ),
        _ => ApiError::invalid(format!("Failed to parse the request body as JSON: {e}")),
    })
}

/// `application/json` or `application/<anything>+json`, parameters allowed.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(raw) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    // What nearly every client sends: no parsing needed.
    if raw.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return true;
    }
    let Ok(value) = raw.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Changes the rotation policy, business hours, allowed countries or alert
/// rules. `anomaly_rules` replaces the account's rules as a whole; fields left
/// out follow the server's defaults (`alert_defaults`). `rotation_days` may
/// not exceed the service's `max_rotation_days`.
#[utoipa::path(patch, path = "/v1/account", tag = "account", request_body = UpdateAccountRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = AccountView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn update_account(
    State(s): State<AppState>,
    admin: Admin,
    SettingsJson(req): SettingsJson<UpdateAccountRequest>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(s.service.update_account(&admin, req).await?))
}

/// What proposed alert rules, business hours, allowed countries or rotation
/// periods would have done over the last 7 (or up to 30) days of stored
/// hourly usage, next to the current settings. Approximate (hourly data),
/// and `notes` say where. Changes nothing.
#[utoipa::path(post, path = "/v1/account/alerts/preview", tag = "account", request_body = AlertPreviewRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = AlertPreview),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn preview_alerts(
    State(s): State<AppState>,
    admin: Admin,
    SettingsJson(req): SettingsJson<AlertPreviewRequest>,
) -> ApiResult<Json<AlertPreview>> {
    Ok(Json(s.service.preview_alerts(&admin, req).await?))
}

/// The window of a usage query: `from` must be before `to`, and the window
/// at most 50,000 steps long.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// RFC 3339, between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z;
    /// default `to` − 24 h. Floored to the step.
    #[param(value_type = String, format = DateTime, required = false, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z;
    /// default now. Ceiled to the step.
    #[param(value_type = String, format = DateTime, required = false, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub to: Option<DateTime<Utc>>,
    /// minute, hour or day; default from the span (≤ 6 h minute, ≤ 14 d hour, else day).
    #[param(value_type = Step, required = false)]
    pub step: Option<Step>,
}

fn window(s: &AppState, p: &UsageParams) -> ApiResult<Window> {
    Ok(Window::new(p.from, p.to, p.step, s.service.now())?)
}

/// A key's requests over time by outcome (zero-filled), with endpoint and
/// country breakdowns. At most 50,000 points per call.
#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "usage", params(("id" = String, Path, description = "Key id"), UsageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = KeyUsage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn key_usage(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> ApiResult<Json<KeyUsage>> {
    let w = window(&s, &p)?;
    Ok(Json(s.service.usage().key_usage(&admin, &id, w).await?))
}

/// The same series as CSV, for export.
#[utoipa::path(get, path = "/v1/keys/{id}/usage.csv", tag = "usage", params(("id" = String, Path, description = "Key id"), UsageParams), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String,
            description = "`t,success,client_error,server_error,rate_limited,denied`, one line per step.",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"<id>-usage.csv\"`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn key_usage_csv(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> ApiResult<Response> {
    let w = window(&s, &p)?;
    let csv = s.service.usage().key_usage_csv(&admin, &id, w).await?;
    let disposition = format!("attachment; filename=\"{id}-usage.csv\"");
    Ok((
        [
            ("content-type", "text/csv; charset=utf-8".to_string()),
            ("content-disposition", disposition),
        ],
        csv,
    )
        .into_response())
}

/// All keys of the account in one call: their requests together over time
/// by outcome, and totals per key (busiest first).
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = AccountUsage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn account_usage(
    State(s): State<AppState>,
    admin: Admin,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> ApiResult<Json<AccountUsage>> {
    let w = window(&s, &p)?;
    Ok(Json(s.service.usage().account_usage(&admin, w).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// `open` (default) or `all`.
    #[param(schema_with = alert_filter, required = false)]
    pub status: Option<String>,
    /// 1 to 500, default 100.
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

fn alert_filter() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["open", "all"]))
        .build()
}

/// Anomaly alerts and rotation reminders together, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertParams), security(("bearer" = [])),
    responses(
        (status = 200, body = AlertList, links(
            ("AcknowledgeTheNewest" = (operation_id = "ack_alert", parameters(("id" = "$response.body#/alerts/0/id")),
                description = "Acknowledge the newest alert.")))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn list_alerts(
    State(s): State<AppState>,
    admin: Admin,
    ApiQuery(p): ApiQuery<AlertParams>,
) -> ApiResult<Json<AlertList>> {
    let open_only = match p.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("status must be open or all")),
    };
    Ok(Json(
        s.service
            .alerts()
            .list_alerts(&admin, open_only, p.limit)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "alerts", params(("id" = String, Path, description = "Alert id")), security(("bearer" = [])),
    responses(
        (status = 200, body = Alert),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn ack_alert(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Alert>> {
    Ok(Json(s.service.alerts().ack_alert(&admin, &id).await?))
}

/// Leaked-key reports in the format of GitHub's secret scanning partner
/// program: a JSON array of `{token, type, url, source}` (at most 1,000),
/// signed with ECDSA P-256 over the raw body, the key named in
/// `Github-Public-Key-Identifier` and the base64 DER signature in
/// `Github-Public-Key-Signature`; the keys are the server's
/// `--leak-report-keys` file. Each token that is a live key is quarantined
/// or revoked at once (the account's `leak_policy`) and alerted on; the
/// answer says per token (by its SHA-256) only `true_positive` or
/// `false_positive`. `404` when the server takes no reports.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks", request_body = Vec<crate::leaks::LeakReport>,
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which listed key signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 DER ECDSA P-256 (SHA-256) signature of the raw body"),
    ),
    responses(
        (status = 200, body = Vec<crate::leaks::LeakVerdict>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn report_leaks(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Vec<crate::leaks::LeakVerdict>>> {
    use crate::leaks::{LeakReport, KEY_ID_HEADER, MAX_TOKENS, SIGNATURE_HEADER};
    let Some(keys) = &s.leak_keys else {
        return Err(ApiError::not_found(
            "this server takes no leak reports (start it with --leak-report-keys FILE)",
        ));
    };
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if !keys.verify(header(KEY_ID_HEADER), header(SIGNATURE_HEADER), &body) {
        return Err(crate::error::ServiceError::Unauthorized(
            "missing or invalid leak report signature",
        )
        .into());
    }
    let reports: Vec<LeakReport> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::from(crate::error::ServiceError::Invalid(format!(
            "a leak report is a JSON array of {{token, type, url, source}}: {e}"
        )))
    })?;
    if reports.len() > MAX_TOKENS {
        return Err(crate::error::ServiceError::Invalid(format!(
            "at most {MAX_TOKENS} tokens per report"
        ))
        .into());
    }
    Ok(Json(s.service.report_leaks(&reports).await?))
}

/// Which of these SHA-256 hashes are keys of the caller's account: what a
/// scanner (the portal's folder scan) sends instead of the keys it found.
#[utoipa::path(post, path = "/v1/keys/lookup", tag = "keys", request_body = KeyLookupRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = KeyLookup),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn lookup_keys(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<KeyLookupRequest>,
) -> ApiResult<Json<KeyLookup>> {
    Ok(Json(s.service.lookup_keys(&admin, req).await?))
}

/// Sets a key aside as possibly compromised: from its next request it may
/// only read (`403 forbidden` for anything else), at most 10 requests a
/// minute, until released or revoked; rotating it gives a clean
/// replacement. Admin keys cannot be quarantined (revoke them).
#[utoipa::path(post, path = "/v1/keys/{id}/quarantine", tag = "keys", params(("id" = String, Path, description = "Key id")),
    request_body = QuarantineRequest, security(("bearer" = [])),
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
pub async fn quarantine_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<QuarantineRequest>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.quarantine_key(&admin, &id, req).await?))
}

/// Ends a quarantine: the key works as before from its next request.
#[utoipa::path(post, path = "/v1/keys/{id}/release", tag = "keys", params(("id" = String, Path, description = "Key id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn release_key(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(s.service.release_key(&admin, &id).await?))
}

/// [`VerifyResponse`] without its last field, `ratelimit`, serialised from
/// the cached key (see [`verify_answer`]).
#[derive(Serialize)]
struct VerifyStatic<'a> {
    valid: bool,
    key_id: &'a str,
    account_id: &'a str,
    environment: keyport_core::Environment,
    scopes: &'a [keyport_core::Scope],
    resources: Vec<AsText<'a, Resource>>,
}

impl<'a> VerifyStatic<'a> {
    fn new(key: &'a crate::model::KeyRecord) -> Self {
        VerifyStatic {
            valid: true,
            key_id: &key.id,
            account_id: &key.account_id,
            environment: key.environment,
            scopes: key.scopes.as_slice(),
            resources: key.resources.iter().map(AsText).collect(),
        }
    }
}

/// Serialises a value as its `Display` text.
struct AsText<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for AsText<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let ok = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert("content-type", v.parse().unwrap());
            is_json(&h)
        };
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/vnd.api+json",
        ] {
            assert!(ok(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "application/+json",
            "json",
            "",
        ] {
            assert!(!ok(no), "{no}");
        }
        assert!(!is_json(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn verify_body_is_the_documented_verify_response() {
        let key = crate::model::KeyRecord {
            id: "key_1".into(),
            account_id: "acct_1".into(),
            name: "ci".into(),
            environment: keyport_core::Environment::Live,
            hash: keyport_core::KeyHash::of("to_live_x"),
            last4: "abcd".into(),
            scopes: keyport_core::ScopeSet::new(vec![
                keyport_core::Scope::Read,
                keyport_core::Scope::Write,
            ]),
            resources: vec!["project:alpha".parse().unwrap()],
            expires_at: None,
            rate_limit: Default::default(),
            created_at: chrono::Utc::now(),
            revoked_at: None,
            last_used_at: None,
            replaces: None,
            replaced_by: None,
            quarantine: None,
            restrictions: Default::default(),
        };
        let d = keyport_core::Decision {
            allowed: true,
            limit: 60,
            remaining: 59,
            reset: 1_700_000_000,
            retry_after: None,
            day_bound: false,
            day_limit: Some(10_000),
            reset_in: 7,
        };
        let verified = crate::service::Verified {
            key: std::sync::Arc::new(key.clone()),
            decision: d,
            memo: Default::default(),
            would_deny: false,
            usage: None,
        };
        let first = verify_answer(&verified).unwrap();
        // The second answer comes from the memo and is the same.
        assert_eq!(verify_answer(&verified).unwrap(), first);
        assert!(verified.memo.get().is_some());
        let json: serde_json::Value = serde_json::from_slice(&first).unwrap();
        let typed: VerifyResponse = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), json);
        assert_eq!(typed.key_id, key.id);
        assert_eq!(typed.resources, vec!["project:alpha".to_string()]);
        assert_eq!(typed.scopes, key.scopes.as_slice());
        assert_eq!(typed.ratelimit.remaining, 59);
        assert_eq!(typed.ratelimit.reset, 1_700_000_000);
    }
}
