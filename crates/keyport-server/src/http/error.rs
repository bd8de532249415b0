//! The one place service errors become HTTP: status, stable code, message.
//! Internal errors are logged and answered with a plain 500.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyport_core::Decision;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Boxed: errors travel by value through every handler's `Result`.
    pub decision: Option<Box<Decision>>,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
    /// `Retry-After` of a 429 that is not about a key's limits.
    pub retry_after: Option<u64>,
    /// The client takes `application/problem+json`: a 429 is then an RFC
    /// 9457 problem of type `quota-exceeded` (see [`wants_problem`]).
    pub problem: bool,
}

/// `{"error":{"code":"…","message":"…"}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: unauthorized, forbidden, not_found, invalid_request, key_in_url,
    /// rate_limited, conflict, payload_too_large, bad_gateway, gateway_timeout,
    /// limit_exceeded, method_not_allowed, timeout, unavailable, internal,
    /// account_suspended, too_many_attempts, enrollment_code_invalid.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            decision: None,
            allow: None,
            retry_after: None,
            problem: false,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A 500 that says nothing; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn key_in_url() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "key_in_url",
            "API keys must never be sent in a URL; send it as Authorization: Bearer <key>. \
             Treat that key as exposed and rotate it.",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unauthorized(m) => Self::unauthorized(m),
            ServiceError::Forbidden {
                code,
                message,
                decision,
            } => Self {
                decision: Some(Box::new(decision)),
                ..Self::new(StatusCode::FORBIDDEN, code, message)
            },
            ServiceError::NotPermitted(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            ServiceError::NotFound(what) => Self::not_found(format!("{what} not found")),
            ServiceError::Invalid(m) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", m)
            }
            ServiceError::BadRequest(m) => Self::invalid(m),
            ServiceError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            ServiceError::LimitExceeded(m) => Self::new(StatusCode::CONFLICT, "limit_exceeded", m),
            ServiceError::RateLimited(d) => Self {
                decision: Some(Box::new(d)),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "rate limit exceeded; retry after {} s",
                        d.retry_after.unwrap_or(1)
                    ),
                )
            },
            ServiceError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            ServiceError::Stale => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this instance has lost track of key changes; try again shortly",
            ),
            ServiceError::Suspended(reason) => Self::new(
                StatusCode::FORBIDDEN,
                "account_suspended",
                suspended_message(&reason),
            ),
            ServiceError::TooManyAttempts { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!(
                        "too many failed attempts from this address; try again in {retry_after} s"
                    ),
                )
            },
            ServiceError::Enrollment(m) => {
                Self::new(StatusCode::FORBIDDEN, "enrollment_code_invalid", m)
            }
            ServiceError::Store(e) => Self::internal(format!("storage failure: {e}")),
        }
    }
}

fn suspended_message(reason: &str) -> String {
    match reason.trim() {
        "" => "this account is suspended by the service's operator; contact them".into(),
        r => format!("this account is suspended by the service's operator: {r}"),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.body_text(),
            ),
            JsonRejection::MissingJsonContentType(_) => {
                Self::invalid("send a JSON body with Content-Type: application/json")
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::payload_too_large()
            }
            other => Self::invalid(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid(r.body_text())
    }
}

/// `X-RateLimit-*` on every verified response, `Retry-After` on refusals.
// Constants, so the names are not parsed again on every response.
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Both header sets: `X-RateLimit-*` (kept for compatibility) and the IETF
/// structured fields of draft-ietf-httpapi-ratelimit-headers
/// (`RateLimit-Policy`, `RateLimit`), plus `Retry-After` when refused.
pub fn put_ratelimit_headers(h: &mut HeaderMap, d: &Decision) {
    h.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
    h.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
    h.insert(RATELIMIT_RESET, HeaderValue::from(d.reset));
    if let Some(v) = policy_value(d) {
        h.insert(RATELIMIT_POLICY, v);
    }
    if let Ok(v) = HeaderValue::try_from(ratelimit_field(d)) {
        h.insert(RATELIMIT, v);
    }
    if let Some(s) = d.retry_after {
        h.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
    }
}

/// `RateLimit-Policy` values already written, by (per minute, per day): a
/// few plans and overrides cover nearly every key, and a cached value is
/// a reference count, not a string built per request.
type PolicyCache = std::collections::HashMap<(u32, Option<u32>), HeaderValue>;
const POLICY_CACHE_MAX: usize = 256;

thread_local! {
    static POLICIES: std::cell::RefCell<PolicyCache> = Default::default();
}

fn policy_value(d: &Decision) -> Option<HeaderValue> {
    let id = (d.limit, d.day_limit);
    POLICIES.with_borrow_mut(|cache| {
        if let Some(v) = cache.get(&id) {
            return Some(v.clone());
        }
        let v = HeaderValue::try_from(ratelimit_policy(d)).ok()?;
        if cache.len() >= POLICY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(id, v.clone());
        Some(v)
    })
}

const MINUTE: &sfv::StringRef = sfv::StringRef::constant("minute");
const DAY: &sfv::StringRef = sfv::StringRef::constant("day");

/// The policy `RateLimit` names: the day's when it binds.
fn binding(d: &Decision) -> &'static sfv::StringRef {
    if d.day_bound {
        DAY
    } else {
        MINUTE
    }
}

/// Structured fields' integers stop at 15 digits.
const SF_INT_MAX: u64 = 999_999_999_999_999;

fn sf_int(n: u64) -> sfv::Integer {
    sfv::integer(n.min(SF_INT_MAX) as i64)
}

/// `"minute";q=60;w=60, "day";q=10000;w=86400` (no day policy when the
/// key has no daily quota).
pub fn ratelimit_policy(d: &Decision) -> String {
    let (q, w) = (sfv::KeyRef::constant("q"), sfv::KeyRef::constant("w"));
    let mut ser = sfv::ListSerializer::new();
    let _ = ser
        .bare_item(MINUTE)
        .parameter(q, sf_int(u64::from(d.limit)))
        .parameter(w, sfv::integer(60));
    if let Some(day) = d.day_limit {
        let _ = ser
            .bare_item(DAY)
            .parameter(q, sf_int(u64::from(day)))
            .parameter(w, sfv::integer(86_400));
    }
    ser.finish().unwrap_or_default()
}

/// `"minute";r=42;t=7`: what is left of the binding policy and the seconds
/// until it has more (`t` is never above `Retry-After`). Written by hand
/// (one small buffer, on every answer): a string item and two integer
/// parameters; the tests parse it back with `sfv`.
pub fn ratelimit_field(d: &Decision) -> String {
    let name = if d.day_bound { "day" } else { "minute" };
    let mut s = String::with_capacity(40);
    s.push('"');
    s.push_str(name);
    s.push_str("\";r=");
    s.push_str(itoa::Buffer::new().format(d.remaining.min(SF_INT_MAX)));
    s.push_str(";t=");
    s.push_str(itoa::Buffer::new().format(d.reset_in.min(SF_INT_MAX)));
    s
}

/// Whether the client asked for RFC 9457 problem details: its `Accept`
/// names `application/problem+json` (with a q above 0).
pub fn wants_problem(h: &HeaderMap) -> bool {
    h.get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            kind.eq_ignore_ascii_case("application/problem+json") && !refused
        })
}

/// The problem type the rate-limit draft registers for a refused quota.
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// An RFC 9457 problem for a 429 (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaProblem {
    /// `https://iana.org/assignments/http-problem-types#quota-exceeded`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The policies of `RateLimit-Policy` that refused it (`minute` or `day`).
    #[serde(rename = "violated-policies")]
    pub violated_policies: Vec<String>,
    /// Keyport's stable error code, as in the JSON error body.
    pub code: String,
}

fn problem_response(e: &ApiError, d: &Decision) -> Response {
    let body = QuotaProblem {
        kind: QUOTA_EXCEEDED.into(),
        title: "Request cannot be satisfied as assigned quota has been exceeded".into(),
        status: e.status.as_u16(),
        detail: e.message.clone(),
        violated_policies: vec![binding(d).as_str().to_string()],
        code: e.code.to_string(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = (e.status, json).into_response();
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let (true, StatusCode::TOO_MANY_REQUESTS, Some(d)) =
            (self.problem, self.status, self.decision.as_deref())
        {
            let mut res = problem_response(&self, d);
            put_ratelimit_headers(res.headers_mut(), d);
            return res;
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(d) = self.decision.as_deref() {
            put_ratelimit_headers(res.headers_mut(), d);
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            res.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// True when a body error is (or wraps) the size limit's error.
pub fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = err.source();
    }
    false
}
