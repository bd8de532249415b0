//! The one HTTP client for the key service API, embedded or remote. The admin
//! credential is held as a [`SecretKey`] and leaves this struct only as an
//! `Authorization: Bearer` header. Every failure becomes a [`PortalError`]
//! whose message is safe to show: server messages are passed on only after
//! a check that they carry nothing key-shaped.

use keyport_api::{
    AccountUsage, AccountView, Alert, AlertList, AlertPreview, AlertPreviewRequest, AuditList,
    CreateKeyRequest, CreatedKey, EnrollRequest, Enrolled, EnrollmentCheck, EnrollmentPreview,
    KeyList, KeyUsage, KeyView, RotateKeyRequest, Step, UpdateAccountRequest, UpdateKeyRequest,
};
use keyport_core::{find_key_in_text, KeyPrefix, SecretKey};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::{PortalError, Result};

/// Page size the portal asks for (the API's maximum).
pub const PAGE_SIZE: u32 = 100;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest server message shown to the user.
const MAX_MESSAGE: usize = 300;

/// The most the portal reads of an ordinary JSON answer (a key page, the
/// audit log, 500 alerts, the account): a service that sends more is not
/// one the portal can trust, so it stops reading rather than buffer it all.
pub const MAX_JSON_BODY: usize = 16 << 20;
/// A usage answer: up to 50,000 points (about 10 MB with every count at
/// its largest), and for the account a total per key, revoked keys too.
pub const MAX_USAGE_BODY: usize = 64 << 20;
/// A usage CSV: up to 50,000 rows of at most about 126 bytes (6.3 MB).
pub const MAX_CSV_BODY: usize = 16 << 20;
/// An error answer: only its short message is ever used.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Checks and normalises a service address typed by the user:
/// `http(s)://host[:port][/path]`, without credentials, query or fragment; a
/// trailing `/` or `/v1` is dropped. Plain `http` is allowed only for this
/// machine (`localhost`, `127.0.0.0/8`, `::1`): the admin key must not cross
/// a network unencrypted.
pub fn normalize_service_url(input: &str) -> Result<Url> {
    let input = input.trim();
    let invalid = |m: &str| PortalError::Invalid(m.to_string());
    let mut url = Url::parse(input).map_err(|_| {
        invalid("Enter the service address with http:// or https://, e.g. https://keys.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "Enter the service address with http:// or https://, e.g. https://keys.example.com",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "Remove the user name and password from the address; the admin key goes in its own field.",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "The service address cannot have a query (?…) or fragment (#…).",
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(invalid(
            "Use https:// for a service on another machine: plain http would send the admin key unencrypted. \
             http:// is allowed only for localhost.",
        ));
    }
    let mut path = url.path().trim_end_matches('/').to_string();
    if let Some(p) = path.strip_suffix("/v1") {
        path = p.to_string();
    }
    url.set_path(&path);
    Ok(url)
}

/// Whether `url` names this machine: `localhost`, `127.0.0.0/8` or `::1`
/// (also written as `::ffff:127.x.y.z`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// The text form used as a service's identity (settings, keychain entry):
/// the normalised URL without a trailing `/`.
pub fn service_id(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// The product prefix of a key (`to` in `to_live_…`), checked by parsing the
/// whole key with it, checksum included.
pub fn key_prefix_of(raw: &str) -> Result<KeyPrefix> {
    let head = raw.split('_').next().unwrap_or_default();
    let prefix: KeyPrefix = head.parse().map_err(|_| {
        PortalError::Invalid(
            "That is not a Keyport key: a key looks like to_live_ followed by 64 characters."
                .into(),
        )
    })?;
    prefix
        .parse(raw)
        .map_err(|e| PortalError::Invalid(format!("That is not a valid Keyport key: {e}.")))?;
    Ok(prefix)
}

/// A usage window as the API takes it: from a start to now, at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: chrono::DateTime<chrono::Utc>,
    pub step: Step,
}

impl UsageQuery {
    fn query(&self) -> Vec<(&'static str, String)> {
        let step = match self.step {
            Step::Minute => "minute",
            Step::Hour => "hour",
            Step::Day => "day",
        };
        vec![
            (
                "from",
                self.from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("step", step.to_string()),
        ]
    }
}

/// The proxy a client may use to reach a service on another machine. A
/// service on this machine (loopback) is always reached directly, whatever
/// is chosen here: its admin key must never pass through a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// The system's settings: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (reqwest's rules).
    #[default]
    System,
    /// This proxy for every request (what a system setting resolves to;
    /// lets tests point a client at a proxy without changing the process
    /// environment).
    Explicit(Url),
}

/// How much of an answer a call reads, and what to suggest past it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit {
    bytes: usize,
    advice: &'static str,
}

impl BodyLimit {
    pub(crate) const JSON: Self = Self {
        bytes: MAX_JSON_BODY,
        advice: "",
    };
    const USAGE: Self = Self {
        bytes: MAX_USAGE_BODY,
        advice: " For usage, a shorter range or a larger step asks for less.",
    };
    const CSV: Self = Self {
        bytes: MAX_CSV_BODY,
        advice: " For usage, a shorter range or a larger step asks for less.",
    };
}

/// Why a body was not read whole.
enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads `res`'s body up to `limit` bytes, chunk by chunk: a larger body
/// (announced or not) is refused without being buffered.
async fn read_limited(
    mut res: reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, ReadError> {
    let announced = res
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize).min(64 << 10));
    while let Some(chunk) = res.chunk().await.map_err(ReadError::Transport)? {
        if chunk.len() > limit - body.len() {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub struct ServiceClient {
    http: reqwest::Client,
    proxy: ProxyChoice,
    base: Url,
    credential: SecretKey,
    /// The credential's prefix, to spot key-shaped text in server messages.
    prefix: Option<KeyPrefix>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("base", &self.base.as_str())
            .field("credential", &self.credential)
            .finish()
    }
}

impl ServiceClient {
    /// A client for the service at `base` (already normalised) acting with
    /// the admin key `credential`, through the system's proxy settings (never
    /// for a service on this machine).
    pub fn new(base: Url, credential: SecretKey) -> Result<Self> {
        Self::with_proxy(base, credential, ProxyChoice::System)
    }

    /// [`ServiceClient::new`] with the proxy for a service on another
    /// machine chosen here. A loopback service is reached directly anyway.
    pub fn with_proxy(base: Url, credential: SecretKey, proxy: ProxyChoice) -> Result<Self> {
        let setup_failed = || PortalError::Internal("Could not set up the HTTP client.".into());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Never follow a redirect with the credential.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyport-portal/", env!("CARGO_PKG_VERSION")));
        builder = if is_loopback(&base) {
            // No proxy, not even the system's: the admin key (the embedded
            // service's too) goes straight to this machine.
            builder.no_proxy()
        } else {
            match &proxy {
                ProxyChoice::System => builder,
                ProxyChoice::Explicit(url) => {
                    builder.proxy(reqwest::Proxy::all(url.as_str()).map_err(|_| setup_failed())?)
                }
            }
        };
        let http = builder.build().map_err(|_| setup_failed())?;
        let prefix = key_prefix_of(credential.expose()).ok();
        Ok(Self {
            http,
            proxy,
            base,
            credential,
            prefix,
        })
    }

    /// A client for the service at `base` with no credential: enrollment,
    /// where the one-time code in the body is all the caller presents.
    pub fn anonymous(base: Url) -> Result<Self> {
        Self::new(base, SecretKey::new(String::new()))
    }

    /// What an enrollment code is for, without using it.
    pub async fn enrollment_preview(&self, code: &str) -> Result<EnrollmentPreview> {
        let body = EnrollmentCheck { code: code.into() };
        self.call(Method::POST, &["v1", "enroll", "preview"], &[], Some(&body))
            .await
    }

    /// Redeems an enrollment code with a key's hash and last four.
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<Enrolled> {
        self.call(Method::POST, &["v1", "enroll"], &[], Some(req))
            .await
    }

    /// A client for the same service (and proxy choice) acting with another
    /// admin key.
    pub fn with_credential(&self, credential: SecretKey) -> Result<Self> {
        Self::with_proxy(self.base.clone(), credential, self.proxy.clone())
    }

    /// The service address, e.g. `http://127.0.0.1:41234`.
    pub fn service_url(&self) -> String {
        service_id(&self.base)
    }

    /// The admin key, for the keychain write after a successful check.
    pub(crate) fn credential(&self) -> &SecretKey {
        &self.credential
    }

    /// The prefix of keys this service issues, taken from the admin key.
    pub fn key_prefix(&self) -> Option<&KeyPrefix> {
        self.prefix.as_ref()
    }

    pub async fn account(&self) -> Result<AccountView> {
        self.call(Method::GET, &["v1", "account"], &[], None::<&()>)
            .await
    }

    pub async fn update_account(&self, patch: &UpdateAccountRequest) -> Result<AccountView> {
        self.call(Method::PATCH, &["v1", "account"], &[], Some(patch))
            .await
    }

    pub async fn preview_alerts(&self, req: &AlertPreviewRequest) -> Result<AlertPreview> {
        self.call(
            Method::POST,
            &["v1", "account", "alerts", "preview"],
            &[],
            Some(req),
        )
        .await
    }

    /// One page of keys, newest first.
    pub async fn list_keys(&self, cursor: Option<&str>) -> Result<KeyList> {
        let query = page_query(cursor);
        self.call(Method::GET, &["v1", "keys"], &query, None::<&()>)
            .await
    }

    pub async fn get_key(&self, id: &str) -> Result<KeyView> {
        self.call(Method::GET, &["v1", "keys", id], &[], None::<&()>)
            .await
    }

    pub async fn create_key(&self, req: &CreateKeyRequest) -> Result<CreatedKey> {
        self.call(Method::POST, &["v1", "keys"], &[], Some(req))
            .await
    }

    pub async fn update_key(&self, id: &str, patch: &UpdateKeyRequest) -> Result<KeyView> {
        self.call(Method::PATCH, &["v1", "keys", id], &[], Some(patch))
            .await
    }

    pub async fn revoke_key(&self, id: &str) -> Result<KeyView> {
        self.call(
            Method::POST,
            &["v1", "keys", id, "revoke"],
            &[],
            None::<&()>,
        )
        .await
    }

    pub async fn audit_log(&self, cursor: Option<&str>) -> Result<AuditList> {
        let query = page_query(cursor);
        self.call(Method::GET, &["v1", "audit"], &query, None::<&()>)
            .await
    }

    /// Creates the replacement of key `id` from a hash and last four made
    /// here; the service links the two keys.
    pub async fn rotate_key(&self, id: &str, req: &RotateKeyRequest) -> Result<CreatedKey> {
        self.call(Method::POST, &["v1", "keys", id, "rotate"], &[], Some(req))
            .await
    }

    /// `POST /v1/verify` for a key (the path an application's requests take):
    /// the id of the key the service accepted it as.
    pub async fn verify(&self, key: &SecretKey) -> Result<String> {
        #[derive(serde::Deserialize)]
        struct Verified {
            key_id: String,
        }
        // Borrowed: no copy of the raw key outlives the request.
        #[derive(Serialize)]
        struct Check<'a> {
            key: &'a str,
        }
        let req = Check { key: key.expose() };
        let v: Verified = self
            .call(Method::POST, &["v1", "verify"], &[], Some(&req))
            .await?;
        Ok(v.key_id)
    }

    /// A key's requests over time by outcome, with breakdowns.
    pub async fn key_usage(&self, id: &str, window: &UsageQuery) -> Result<KeyUsage> {
        let query = window.query();
        self.call_limited(
            Method::GET,
            &["v1", "keys", id, "usage"],
            &query,
            None::<&()>,
            BodyLimit::USAGE,
        )
        .await
    }

    /// The same series as CSV text.
    pub async fn key_usage_csv(&self, id: &str, window: &UsageQuery) -> Result<String> {
        let query = window.query();
        let bytes = self
            .send(
                Method::GET,
                &["v1", "keys", id, "usage.csv"],
                &query,
                None::<&()>,
                BodyLimit::CSV,
            )
            .await?;
        String::from_utf8(bytes).map_err(|_| self.not_understood())
    }

    /// All keys' traffic together, and totals per key.
    pub async fn account_usage(&self, window: &UsageQuery) -> Result<AccountUsage> {
        let query = window.query();
        self.call_limited(
            Method::GET,
            &["v1", "usage"],
            &query,
            None::<&()>,
            BodyLimit::USAGE,
        )
        .await
    }

    /// Open alerts, or (`all`) every alert, newest first.
    pub async fn list_alerts(&self, all: bool) -> Result<AlertList> {
        let status = if all { "all" } else { "open" };
        let query = [("status", status.to_string()), ("limit", "500".to_string())];
        self.call(Method::GET, &["v1", "alerts"], &query, None::<&()>)
            .await
    }

    pub async fn ack_alert(&self, id: &str) -> Result<Alert> {
        self.call(Method::POST, &["v1", "alerts", id, "ack"], &[], None::<&()>)
            .await
    }

    fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    pub(crate) async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        self.call_limited(method, segments, query, body, BodyLimit::JSON)
            .await
    }

    async fn call_limited<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        limit: BodyLimit,
    ) -> Result<T> {
        let bytes = self.send(method, segments, query, body, limit).await?;
        serde_json::from_slice(&bytes).map_err(|_| self.not_understood())
    }

    /// The body of a successful answer (at most `limit`), or the error it
    /// stands for.
    pub(crate) async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        limit: BodyLimit,
    ) -> Result<Vec<u8>> {
        let mut req = self.http.request(method, self.endpoint(segments, query));
        if !self.credential.expose().is_empty() {
            req = req.bearer_auth(self.credential.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = res.status();
        if status.is_success() {
            return read_limited(res, limit.bytes).await.map_err(|e| match e {
                ReadError::TooLarge => self.too_large(limit),
                ReadError::Transport(e) => self.transport_error(&e),
            });
        }
        let headers = res.headers().clone();
        // Only the message of an error is used: an oversized or broken
        // error body just means the status speaks for itself.
        let bytes = read_limited(res, MAX_ERROR_BODY).await.unwrap_or_default();
        Err(self.http_error(status, &headers, &bytes))
    }

    fn too_large(&self, limit: BodyLimit) -> PortalError {
        PortalError::ResponseTooLarge(format!(
            "The key service at {} sent an answer larger than {} MiB, more than a Keyport key service \
             sends for this; the portal stopped reading it. Check that the address is a Keyport key \
             service.{}",
            self.service_url(),
            limit.bytes >> 20,
            limit.advice
        ))
    }

    fn not_understood(&self) -> PortalError {
        PortalError::Internal(format!(
            "The answer from {} was not understood. Is this address a Keyport key service?",
            self.service_url()
        ))
    }

    fn transport_error(&self, e: &reqwest::Error) -> PortalError {
        let url = self.service_url();
        if e.is_timeout() {
            PortalError::Unreachable(format!(
                "The key service at {url} did not answer in time. Check your connection, then retry."
            ))
        } else if e.is_connect() {
            PortalError::Unreachable(format!(
                "Cannot connect to the key service at {url}. Check that it is running and that the address is right, then retry."
            ))
        } else {
            PortalError::Unreachable(format!(
                "The connection to the key service at {url} failed. Retry in a moment."
            ))
        }
    }

    fn http_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> PortalError {
        let (server_code, server_message) = error_detail(body);
        let server_message = server_message.and_then(|m| self.safe_message(&m));
        let msg = |fallback: &str| server_message.clone().unwrap_or_else(|| fallback.into());
        match status {
            StatusCode::UNAUTHORIZED => PortalError::Unauthorized(
                "The key service did not accept the admin key: it may have been revoked or expired. \
                 Sign in again with a valid admin key."
                    .into(),
            ),
            StatusCode::FORBIDDEN if server_code.as_deref() == Some("account_suspended") => {
                PortalError::AccountSuspended(msg(
                    "This account is suspended by the service's operator; contact them.",
                ))
            }
            StatusCode::FORBIDDEN => {
                PortalError::Forbidden(msg("The admin key is not allowed to do this."))
            }
            StatusCode::NOT_FOUND => PortalError::NotFound(msg("Not found.")),
            StatusCode::CONFLICT if server_code.as_deref() == Some("limit_exceeded") => {
                PortalError::LimitExceeded(msg(
                    "The account's plan allows no more active keys. Revoke a key you no longer use, \
                     or upgrade the plan.",
                ))
            }
            StatusCode::CONFLICT => PortalError::Conflict(msg("This conflicts with the key's current state.")),
            StatusCode::BAD_REQUEST
            | StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::PAYLOAD_TOO_LARGE => {
                PortalError::Invalid(msg("The service did not accept this input."))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = retry_after(headers);
                PortalError::RateLimited {
                    message: match retry_after {
                        Some(s) => format!("Too many requests: try again in {s} s."),
                        None => "Too many requests: try again in a moment.".into(),
                    },
                    retry_after,
                }
            }
            StatusCode::SERVICE_UNAVAILABLE if server_code.as_deref() == Some("unavailable") => {
                PortalError::Unreachable(format!(
                    "The key service at {} cannot reach its database right now, so keys cannot be changed; keys already in use keep verifying. Retry in a moment.",
                    self.service_url()
                ))
            }
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                PortalError::Unreachable(format!(
                    "The key service at {} is not available right now ({}). Retry in a moment.",
                    self.service_url(),
                    status.as_u16()
                ))
            }
            _ => PortalError::Internal(format!(
                "The key service answered with an error ({}). Retry, and if it persists check the service's log.",
                status.as_u16()
            )),
        }
    }

    /// A server message fit to show: short, printable, and without anything
    /// that looks like a key or the credential.
    fn safe_message(&self, m: &str) -> Option<String> {
        let m: String = m.chars().filter(|c| !c.is_control()).collect();
        let m = m.trim();
        let credential = self.credential.expose();
        if m.is_empty() || (!credential.is_empty() && m.contains(credential)) {
            return None;
        }
        if let Some(p) = &self.prefix {
            if find_key_in_text(m, p) {
                return None;
            }
        }
        Some(if m.chars().count() > MAX_MESSAGE {
            format!("{}…", m.chars().take(MAX_MESSAGE).collect::<String>())
        } else {
            m.to_string()
        })
    }
}

fn page_query(cursor: Option<&str>) -> Vec<(&'static str, String)> {
    let mut q = vec![("limit", PAGE_SIZE.to_string())];
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        q.push(("cursor", c.to_string()));
    }
    q
}

/// `{"error":{"code":"…","message":"…"}}` → the code and the message.
fn error_detail(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let field = |name: &str| {
        v.get("error")
            .and_then(|e| e.get(name))
            .and_then(|f| f.as_str())
            .map(str::to_string)
    };
    (field("code"), field("message"))
}

fn retry_after(headers: &HeaderMap) -> Option<u32> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: u64 = v.parse().ok()?;
    Some(secs.min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        let n = |s| service_id(&normalize_service_url(s).unwrap());
        assert_eq!(n("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(n(" http://localhost:8080/ "), "http://localhost:8080");
        assert_eq!(n("http://[::1]:8080/v1/"), "http://[::1]:8080");
        assert_eq!(n("https://keys.example.com/v1"), "https://keys.example.com");
        assert_eq!(
            n("https://example.com/keyport/"),
            "https://example.com/keyport"
        );
        assert_eq!(n("HTTPS://Keys.Example.com"), "https://keys.example.com");
        // 127.0.0.1 written as an IPv4-mapped IPv6 address is this machine too.
        assert_eq!(
            n("http://[::ffff:127.0.0.1]:8080"),
            "http://[::ffff:7f00:1]:8080"
        );
    }

    #[test]
    fn loopback_is_this_machine_only() {
        let l = |s: &str| is_loopback(&Url::parse(s).unwrap());
        for yes in [
            "http://localhost:1",
            "http://LOCALHOST:1",
            "http://127.0.0.1:1",
            "http://127.8.9.10:1",
            "http://[::1]:1",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert!(l(yes), "{yes}");
        }
        for no in [
            "https://keys.example.com",
            "https://localhost.example.com",
            "http://10.0.0.1:1",
            "http://[::ffff:10.0.0.1]:1",
            "http://[::2]:1",
            "http://0.0.0.0:1",
        ] {
            assert!(!l(no), "{no}");
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "",
            "keys.example.com",
            "ftp://keys.example.com",
            "http://keys.example.com",
            "http://10.0.0.5:8080",
            "http://[::ffff:10.0.0.5]:8080",
            "https://user:pw@keys.example.com",
            "https://keys.example.com/?x=1",
            "https://keys.example.com/#frag",
        ] {
            let e = normalize_service_url(bad).unwrap_err();
            assert!(matches!(e, PortalError::Invalid(_)), "{bad}: {e:?}");
        }
    }

    #[test]
    fn key_prefix_comes_from_a_valid_key_only() {
        let k =
            KeyPrefix::default().generate(keyport_core::Environment::Live, &mut rand::rngs::OsRng);
        assert_eq!(key_prefix_of(k.expose()).unwrap().as_str(), "to");
        let acme: KeyPrefix = "acme".parse().unwrap();
        let k = acme.generate(keyport_core::Environment::Test, &mut rand::rngs::OsRng);
        assert_eq!(key_prefix_of(k.expose()).unwrap().as_str(), "acme");
        let raw = k.expose();
        let last = if raw.ends_with('0') { '1' } else { '0' };
        let typo = format!("{}{last}", &raw[..raw.len() - 1]);
        let e = key_prefix_of(&typo).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        assert!(!e.to_string().contains(&typo));
        assert!(key_prefix_of("hunter2").is_err());
    }

    #[test]
    fn endpoints_escape_ids() {
        let c = ServiceClient::new(
            normalize_service_url("https://example.com/base").unwrap(),
            SecretKey::new("x".into()),
        )
        .unwrap();
        assert_eq!(
            c.endpoint(&["v1", "keys", "a/b?c"], &[]).as_str(),
            "https://example.com/base/v1/keys/a%2Fb%3Fc"
        );
        assert_eq!(
            c.endpoint(&["v1", "keys"], &page_query(Some("42")))
                .as_str(),
            "https://example.com/base/v1/keys?limit=100&cursor=42"
        );
    }

    #[test]
    fn debug_does_not_show_the_credential() {
        let c = ServiceClient::new(
            normalize_service_url("http://127.0.0.1:1").unwrap(),
            SecretKey::new("to_live_verysecret".into()),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("verysecret"));
    }
}
