//! The gateway: every request outside `/v1` is authenticated, checked for
//! scope and resource, rate-limited, then proxied with method, path, query,
//! headers and body intact, minus the credential.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{put_ratelimit_headers, wants_problem, ApiError};
use super::extract::bearer;
use super::upstream::SendError;
use super::AppState;
use crate::recorder::UsageEvent;
use keyport_core::request::{gateway_method, GATEWAY_METHODS};
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
    let problem = wants_problem(req.headers());
    match forward(s, req).await {
        Ok(r) => r,
        Err(e) => ApiError { problem, ..e }.into_response(),
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
    let client_ip = s.geo.client_ip(req.headers(), peer_ip);
    if !gateway_method(method.as_str()) {
        return Err(unknown_method(&s, &key, &country, client_ip).await);
    }
    let endpoint = fold_endpoint(method.as_str(), &path);
    let event = UsageEvent {
        outcome: Outcome::Success,
        endpoint: Some(&endpoint),
        country: Some(&country),
        ip: client_ip,
    };
    let verified = s
        .service
        .admit_gateway(&key, method.as_str(), &path, event)
        .await?;
    let would_deny = verified.would_deny;
    let record = |outcome| {
        // A request a report-only proposal would refuse counts as that,
        // whatever the upstream answered: it is what the customer asks.
        let outcome = if would_deny {
            Outcome::WouldDeny
        } else {
            outcome
        };
        s.service.record(&verified, UsageEvent { outcome, ..event })
    };
    drop(key);

    let Some(uri) = upstream.uri(req.uri().path(), req.uri().query()) else {
        record(Outcome::ClientError);
        return Err(ApiError::invalid("the path cannot be forwarded"));
    };
    let trusted = s.geo.is_trusted(peer_ip);
    let (parts, body) = req.into_parts();
    let mut headers = forwarded_headers(&parts.headers, trusted, s.geo.header.as_ref());
    headers.insert(KEYPORT_KEY_ID, header_value(&verified.key.id));
    headers.insert(KEYPORT_ACCOUNT_ID, header_value(&verified.key.account_id));
    if let Some(ip) = peer_ip {
        set_forwarded(&mut headers, &parts.headers, ip, trusted);
    }
    // The client's body is passed on as it streams in, never buffered.
    let mut out = Request::new(body);
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    let upstream_res = match upstream.send(out).await {
        Ok(r) => r,
        Err(SendError::Timeout) => {
            record(Outcome::ServerError);
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the upstream API did not answer in time",
            ));
        }
        Err(SendError::Failed(e)) => {
            record(Outcome::ServerError);
            tracing::warn!(error = %e, "upstream unreachable");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream API is unreachable",
            ));
        }
    };
    let (mut head, body) = upstream_res.into_parts();
    record(Outcome::from_status(head.status.as_u16()));
    strip_hop_by_hop(&mut head.headers);
    put_ratelimit_headers(&mut head.headers, &verified.decision);
    Ok(Response::from_parts(head, Body::new(body)))
}

/// Removes the upstream's hop-by-hop headers in place (most answers have
/// none, so this is one scan).
fn strip_hop_by_hop(h: &mut HeaderMap) {
    if h.keys().any(is_hop_by_hop) {
        for name in HOP_BY_HOP {
            h.remove(name);
        }
    }
}

/// A method outside [`GATEWAY_METHODS`]: never proxied, never recorded as
/// an endpoint. A known key's request still counts (as `client_error`, or
/// `rate_limited`) so junk methods cannot be sent for free.
async fn unknown_method(
    s: &AppState,
    key: &keyport_core::SecretKey,
    country: &str,
    ip: Option<std::net::IpAddr>,
) -> ApiError {
    let event = UsageEvent {
        outcome: Outcome::ClientError,
        endpoint: None,
        country: Some(country),
        ip,
    };
    let decision = match s.service.admit_counted(key, event).await {
        Ok(v) => v.decision,
        Err(e) => return e.into(),
    };
    let mut e = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("the gateway proxies only {}", GATEWAY_METHODS.join(", ")),
    );
    e.decision = Some(Box::new(decision));
    e.allow = Some(GATEWAY_METHODS.join(", "));
    e
}

/// A header value that takes the string's buffer instead of copying it.
fn owned_header_value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

// Names built once: a `&str` name is parsed and looked up on every use.
const KEYPORT_KEY_ID: HeaderName = HeaderName::from_static("x-keyport-key-id");
const KEYPORT_ACCOUNT_ID: HeaderName = HeaderName::from_static("x-keyport-account-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Headers about the client's connection that only this hop may set: a
/// client could otherwise claim any address, host or scheme upstream.
const FORWARDING: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
];

/// The client's headers minus hop-by-hop ones (the fixed list and any named
/// in `Connection`), the credential, `Host`, any `X-Keyport-*` a client might
/// forge, and, unless the peer is a trusted proxy, the forwarding headers
/// and the country header (a client must not choose its own country).
fn forwarded_headers(h: &HeaderMap, trusted: bool, country: Option<&HeaderName>) -> HeaderMap {
    let named_hop: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(h.len() + 4);
    for (name, value) in h {
        let n = name.as_str();
        if is_hop_by_hop(name)
            || named_hop.iter().any(|x| x == n)
            || n == "authorization"
            || n == "host"
            || n.starts_with("x-keyport-")
            || n == "content-length"
            || (!trusted && (FORWARDING.contains(&n) || country.is_some_and(|c| c == name)))
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(len) = h.get(header::CONTENT_LENGTH) {
        out.insert(header::CONTENT_LENGTH, len.clone());
    }
    out
}

/// `X-Forwarded-For`/`-Host`/`-Proto` and `Forwarded` (RFC 7239) for the
/// upstream. From a trusted proxy its chain is extended; from anyone else
/// the headers start here.
fn set_forwarded(out: &mut HeaderMap, incoming: &HeaderMap, peer: std::net::IpAddr, trusted: bool) {
    let host = incoming
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.bytes().all(|c| c.is_ascii_graphic()));
    let prev = |name: HeaderName| {
        incoming
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|_| trusted)
    };
    let mut forwarded = String::with_capacity(96);
    let ip = IpText::of(peer);
    if let Some(p) = prev(header::FORWARDED) {
        forwarded.push_str(p);
        forwarded.push_str(", ");
    }
    if peer.is_ipv4() {
        forwarded.push_str("for=");
        forwarded.push_str(ip.as_str());
    } else {
        forwarded.push_str("for=\"[");
        forwarded.push_str(ip.as_str());
        forwarded.push_str("]\"");
    }
    forwarded.push_str(";proto=http");
    if let Some(h) = host {
        forwarded.push_str(";host=\"");
        forwarded.push_str(h);
        forwarded.push('"');
    }
    let mut xff = String::with_capacity(48);
    if let Some(p) = prev(X_FORWARDED_FOR) {
        xff.push_str(p);
        xff.push_str(", ");
    }
    xff.push_str(ip.as_str());
    out.insert(header::FORWARDED, owned_header_value(forwarded));
    out.insert(X_FORWARDED_FOR, owned_header_value(xff));
    if !trusted || !out.contains_key(X_FORWARDED_PROTO) {
        out.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(h) = host.filter(|_| !trusted || !out.contains_key(X_FORWARDED_HOST)) {
        out.insert(X_FORWARDED_HOST, header_value(h));
    }
}

/// An address as text without the formatting machinery (IPv4 by hand: it
/// is written on every proxied request).
struct IpText {
    buf: [u8; 45],
    len: usize,
}

impl IpText {
    fn of(ip: std::net::IpAddr) -> Self {
        let mut t = IpText {
            buf: [0; 45],
            len: 0,
        };
        match ip {
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b'.');
                    }
                    if octet >= 100 {
                        t.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        t.push(b'0' + octet / 10 % 10);
                    }
                    t.push(b'0' + octet % 10);
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::io::Write;
                let mut cursor = std::io::Cursor::new(&mut t.buf[..]);
                // An IPv6 address is at most 45 characters (RFC 4291 §2.2).
                let _ = write!(cursor, "{v6}");
                t.len = cursor.position() as usize;
            }
        }
        t
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons and hex were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
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
        let country = HeaderName::from_static("cf-ipcountry");
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        h.insert("x-keyport-key-id", HeaderValue::from_static("forged"));
        h.insert(
            "connection",
            HeaderValue::from_static("close, X-Secret-Hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("dropped"));
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("cf-ipcountry", HeaderValue::from_static("US"));
        h.insert("x-custom", HeaderValue::from_static("kept"));
        let out = forwarded_headers(&h, false, Some(&country));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out["x-custom"], "kept");
        // A trusted proxy's forwarding headers and country pass.
        let out = forwarded_headers(&h, true, Some(&country));
        assert_eq!(out["cf-ipcountry"], "US");
        assert_eq!(out["x-forwarded-for"], "1.2.3.4");
        assert!(!out.contains_key("x-secret-hop"));
    }

    #[test]
    fn forwarding_headers_are_ours() {
        let mut incoming = HeaderMap::new();
        incoming.insert("host", HeaderValue::from_static("api.example.com"));
        incoming.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let mut out = HeaderMap::new();
        set_forwarded(&mut out, &incoming, "192.0.2.1".parse().unwrap(), false);
        assert_eq!(out["x-forwarded-for"], "192.0.2.1");
        assert_eq!(
            out["forwarded"],
            "for=192.0.2.1;proto=http;host=\"api.example.com\""
        );
        let mut out = HeaderMap::new();
        set_forwarded(&mut out, &incoming, "10.0.0.1".parse().unwrap(), true);
        assert_eq!(out["x-forwarded-for"], "203.0.113.9, 10.0.0.1");
        let mut out = HeaderMap::new();
        set_forwarded(&mut out, &incoming, "::1".parse().unwrap(), false);
        assert_eq!(
            out["forwarded"],
            "for=\"[::1]\";proto=http;host=\"api.example.com\""
        );
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "203.0.113.255",
            "255.255.255.255",
            "::",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.128",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            "fe80::1:2:3:4",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_str(), ip.to_string());
        }
        for a in 0..=255u8 {
            let ip = std::net::IpAddr::from([a, 255 - a, a / 3, a.wrapping_mul(7)]);
            assert_eq!(IpText::of(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn upstream_hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
    }
}
