//! The gateway's upstream: one pooled HTTP/1.1 client (hyper's, with
//! rustls for `https` upstreams) and the upstream's origin, parsed once so
//! a proxied request only joins its path onto it.

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Idle keep-alive connections to the upstream are closed after this.
const POOL_IDLE: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream URL needs http or https and a host: {0}")]
    Url(String),
}

/// Why a proxied request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// No response head within the upstream timeout.
    Timeout,
    /// Connection refused, reset, or a malformed answer.
    Failed(hyper_util::client::legacy::Error),
}

pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// The upstream URL's path without its trailing `/` (often empty).
    base_path: String,
    client: Client<Connector, Body>,
    timeout: Duration,
}

impl Upstream {
    /// `timeout` bounds the wait for the response head; a body then streams
    /// for as long as the upstream sends it (server-sent events, downloads).
    pub fn new(url: &url::Url, timeout: Duration) -> Result<Self, UpstreamError> {
        let bad = || UpstreamError::Url(url.to_string());
        let scheme = match url.scheme() {
            "http" => Scheme::HTTP,
            "https" => Scheme::HTTPS,
            _ => return Err(bad()),
        };
        let host = url.host_str().ok_or_else(bad)?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let authority = Authority::try_from(authority).map_err(|_| bad())?;
        let mut http = HttpConnector::new();
        // Requests are small and latency-bound: no Nagle delay.
        http.set_nodelay(true);
        http.enforce_http(false);
        // The Mozilla roots, as reqwest's `rustls-tls` used before.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(Upstream {
            scheme,
            authority,
            base_path: url.path().trim_end_matches('/').to_string(),
            client,
            timeout,
        })
    }

    /// The upstream URI for a request's raw path and query.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Option<Uri> {
        let mut pq = String::with_capacity(
            self.base_path.len() + path.len() + 1 + query.map_or(0, str::len),
        );
        pq.push_str(&self.base_path);
        pq.push_str(path);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(PathAndQuery::try_from(pq).ok()?)
            .build()
            .ok()
    }

    /// Sends `req` (its URI from [`Upstream::uri`]) and waits for the head.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, SendError> {
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(SendError::Failed(e)),
            Err(_) => Err(SendError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Upstream {
        Upstream::new(&url.parse().unwrap(), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn joins_base_paths_and_queries() {
        let u = upstream("http://127.0.0.1:9000");
        assert_eq!(u.uri("/a", None).unwrap(), "http://127.0.0.1:9000/a");
        let u = upstream("http://api.internal:81/base/");
        assert_eq!(
            u.uri("/a/b", Some("x=1&y=%20")).unwrap(),
            "http://api.internal:81/base/a/b?x=1&y=%20"
        );
        let u = upstream("https://api.example.com/v2");
        assert_eq!(u.uri("/", None).unwrap(), "https://api.example.com/v2/");
    }

    #[test]
    fn refuses_other_schemes() {
        assert!(Upstream::new(&"ftp://x".parse().unwrap(), Duration::from_secs(1)).is_err());
    }
}
