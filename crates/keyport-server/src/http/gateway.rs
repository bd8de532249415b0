//! The gateway: every request outside `/v1` is authenticated, checked for
//! scope and resource, rate-limited, then proxied with method, path, query,
//! headers and body intact, minus the credential.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::error::{put_ratelimit_headers, ApiError};
use super::extract::{bearer, peer};
use super::AppState;
use crate::limiter::UsageEvent;
use keyport_core::{fold_endpoint, Outcome};

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub async fn proxy(State(s): State<AppState>, req: Request) -> Response {
    match forward(s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(s: AppState, req: Request) -> Result<Response, ApiError> {
    let Some(upstream) = s.upstream.as_ref() else {
        return Err(ApiError::not_found(
            "no such endpoint; the API lives under /v1",
        ));
    };
    let path = checked_path(req.uri().path())?;
    let key = bearer(req.headers()).require()?;
    let method = req.method().clone();
    let peer_ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let country = s.geo.country(req.headers(), peer_ip);
    let endpoint = fold_endpoint(method.as_str(), &path);
    let event = UsageEvent {
        outcome: Outcome::Success,
        endpoint: Some(&endpoint),
        country: Some(&country),
    };
    let verified = s
        .service
        .admit_gateway(&key, method.as_str(), &path, event)
        .await?;
    let record = |outcome| {
        s.service
            .record(&verified.key, UsageEvent { outcome, ..event })
    };
    drop(key);

    let mut url = upstream.url.clone();
    url.set_path(&join_path(upstream.url.path(), req.uri().path()));
    url.set_query(req.uri().query());

    let mut headers = forwarded_headers(req.headers());
    headers.insert("x-keyport-key-id", header_value(&verified.key.id));
    headers.insert(
        "x-keyport-account-id",
        header_value(&verified.key.account_id),
    );
    if let Some(ip) = peer(req.extensions()) {
        headers.insert("x-forwarded-for", header_value(&ip));
    }
    let body = reqwest::Body::wrap_stream(req.into_body().into_data_stream());
    let sent = upstream
        .client
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream_res = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            record(Outcome::ServerError);
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the upstream API did not answer in time",
            ));
        }
        Err(e) => {
            record(Outcome::ServerError);
            tracing::warn!(error = %e, "upstream unreachable");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream API is unreachable",
            ));
        }
    };
    let status = upstream_res.status();
    record(Outcome::from_status(status.as_u16()));
    let mut res_headers = HeaderMap::new();
    for (name, value) in upstream_res.headers() {
        if !is_hop_by_hop(name) {
            res_headers.append(name.clone(), value.clone());
        }
    }
    let stream = upstream_res.bytes_stream().map_err(std::io::Error::other);
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = status;
    *res.headers_mut() = res_headers;
    put_ratelimit_headers(res.headers_mut(), &verified.decision);
    Ok(res)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The client's headers minus hop-by-hop ones, the credential, `Host`, and
/// any `X-Keyport-*` a client might forge.
fn forwarded_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in h {
        let n = name.as_str();
        if is_hop_by_hop(name)
            || n == "authorization"
            || n == "host"
            || n.starts_with("x-keyport-")
            || n == "content-length"
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(len) = h.get("content-length") {
        out.insert("content-length", len.clone());
    }
    out
}

fn join_path(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// The decoded path used for resource checks (see
/// [`keyport_core::request::checked_path`] for what is refused).
fn checked_path(raw: &str) -> Result<String, ApiError> {
    keyport_core::request::checked_path(raw).map_err(|e| ApiError::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_checks() {
        assert_eq!(
            checked_path("/projects/%61lpha/x").unwrap(),
            "/projects/alpha/x"
        );
        assert!(checked_path("/projects/alpha/../beta").is_err());
        assert!(checked_path("/projects/alpha/%2e%2e/beta").is_err());
        assert!(checked_path("/projects/alpha%2F..%2Fbeta").is_err());
        assert!(checked_path("/projects//beta").is_err());
        assert!(checked_path("/projects/%ff").is_err());
        assert!(checked_path("/").is_ok());
    }

    #[test]
    fn strips_credential_and_forged_headers() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("x-keyport-key-id", HeaderValue::from_static("forged"));
        h.insert("connection", HeaderValue::from_static("close"));
        h.insert("x-custom", HeaderValue::from_static("kept"));
        let out = forwarded_headers(&h);
        assert_eq!(out.len(), 1);
        assert_eq!(out["x-custom"], "kept");
    }

    #[test]
    fn joins_base_paths() {
        assert_eq!(join_path("/", "/a"), "/a");
        assert_eq!(join_path("/api/", "/a"), "/api/a");
    }
}
