//! The gateway's upstream: HTTP/1.1 keep-alive connections to one origin
//! (rustls for `https`), parsed once so a proxied request only joins its
//! path onto it.
//!
//! The pool is this module's own, not hyper-util's general client: there is
//! one origin, so no per-request key hashing, no `Host` insertion through the
//! header map's entry API and no task spawned per request to wait for the
//! connection to be ready again (those were a tenth of the gateway's
//! instructions per request). A connection goes back to the pool when its
//! response body has been read to the end.

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{header, HeaderValue, Request, Response, Uri};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::ServiceExt;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Idle keep-alive connections to the upstream are closed after this.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Most idle connections kept; more are closed when their answer ends.
const POOL_MAX_IDLE: usize = 1024;

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
    Failed(BoxError),
}

pub struct Upstream {
    /// `scheme://authority`, what the connector dials.
    origin: Uri,
    /// The `Host` every proxied request carries (the upstream's authority).
    host: HeaderValue,
    /// The upstream URL's path without its trailing `/` (often empty).
    base_path: String,
    connector: Connector,
    pool: Arc<Pool>,
    timeout: Duration,
}

/// Idle connections, the longest idle at the front.
#[derive(Default)]
struct Pool {
    idle: Mutex<VecDeque<Idle>>,
    /// The task that closes expired connections runs (started by the first
    /// connection put back, which is always on the runtime).
    reaping: AtomicBool,
}

struct Idle {
    conn: SendRequest<Body>,
    since: Instant,
}

impl Pool {
    /// The most recently used open connection (warm, least likely to have
    /// been closed by the upstream); expired ones are dropped on the way.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        self.prune(Instant::now());
        let mut idle = self.idle.lock();
        while let Some(i) = idle.pop_back() {
            if !i.conn.is_closed() {
                return Some(i.conn);
            }
        }
        None
    }

    fn put_back(self: &Arc<Self>, conn: SendRequest<Body>) {
        if conn.is_closed() {
            return;
        }
        {
            let mut idle = self.idle.lock();
            if idle.len() < POOL_MAX_IDLE {
                idle.push_back(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
        if !self.reaping.load(Ordering::Relaxed) {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                if !self.reaping.swap(true, Ordering::AcqRel) {
                    rt.spawn(reap(Arc::downgrade(self)));
                }
            }
        }
    }

    /// Closes the connections idle longer than [`POOL_IDLE`] at `now`.
    fn prune(&self, now: Instant) {
        let mut idle = self.idle.lock();
        while idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) > POOL_IDLE)
        {
            idle.pop_front();
        }
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().len()
    }
}

/// Expires idle connections even when no request comes to check them out,
/// until the pool is gone.
async fn reap(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(POOL_IDLE / 3);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.prune(Instant::now());
    }
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
        // `url` leaves out a scheme's default port, as a `Host` header does.
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let authority = Authority::try_from(authority).map_err(|_| bad())?;
        let origin = Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| bad())?;
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
        Ok(Upstream {
            origin,
            host: HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?,
            base_path: url.path().trim_end_matches('/').to_string(),
            connector,
            pool: Arc::default(),
            timeout,
        })
    }

    /// The request target (origin form) for a request's raw path and query.
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
        Some(Uri::from(PathAndQuery::try_from(pq).ok()?))
    }

    /// Sends `req` (its URI from [`Upstream::uri`]) and waits for the head.
    pub async fn send(&self, mut req: Request<Body>) -> Result<Response<PooledBody>, SendError> {
        req.headers_mut().insert(header::HOST, self.host.clone());
        match tokio::time::timeout(self.timeout, self.send_on_a_connection(req)).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(SendError::Failed(e)),
            Err(_) => Err(SendError::Timeout),
        }
    }

    /// On an idle connection if one is open, else a new one. A request a
    /// pooled connection never sent (the upstream closed it meanwhile) is
    /// sent again on the next one; a sent request never is.
    async fn send_on_a_connection(
        &self,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, BoxError> {
        loop {
            let (mut conn, pooled) = match self.pool.checkout() {
                Some(conn) => (conn, true),
                // Boxed: the connect state machine is large, and inline it
                // would be copied with every request's future.
                None => (Box::pin(self.connect()).await?, false),
            };
            if conn.ready().await.is_err() {
                if pooled {
                    continue;
                }
                return Err("the upstream closed a new connection".into());
            }
            match conn.try_send_request(req).await {
                Ok(res) => {
                    let pool = self.pool.clone();
                    return Ok(res.map(|body| PooledBody {
                        body,
                        conn: Some(conn),
                        pool,
                    }));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if pooled => req = unsent,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, BoxError> {
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        let (conn, driver) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(conn)
    }
}

/// The upstream's response body, streamed as it comes; once read to the end
/// its connection goes back to the pool. A body dropped half-read closes
/// its connection (HTTP/1.1 cannot skip the rest).
pub struct PooledBody {
    body: Incoming,
    conn: Option<SendRequest<Body>>,
    pool: Arc<Pool>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.conn = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty answer (HEAD, 204, `Content-Length: 0`) is never polled.
        if hyper::body::Body::is_end_stream(&self.body) {
            self.release();
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
        assert_eq!(u.uri("/a", None).unwrap(), "/a");
        assert_eq!(u.host, "127.0.0.1:9000");
        let u = upstream("http://api.internal:81/base/");
        assert_eq!(
            u.uri("/a/b", Some("x=1&y=%20")).unwrap(),
            "/base/a/b?x=1&y=%20"
        );
        assert_eq!(u.host, "api.internal:81");
        let u = upstream("https://api.example.com/v2");
        assert_eq!(u.uri("/", None).unwrap(), "/v2/");
        assert_eq!(u.host, "api.example.com");
        assert_eq!(u.origin, "https://api.example.com/");
        let u = upstream("https://api.example.com:443/");
        assert_eq!(u.host, "api.example.com");
    }

    /// A loopback upstream answering `ok` (keep-alive or not); counts the
    /// connections it accepted.
    async fn counting_upstream(keep_alive: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use hyper_util::rt::TokioIo;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let host = req.headers().get(header::HOST).cloned();
                    let mut res = Response::new(http_body_util::Full::new(
                        hyper::body::Bytes::from(format!("ok {}", req.uri())),
                    ));
                    if let Some(h) = host {
                        res.headers_mut().insert("x-seen-host", h);
                    }
                    Ok::<_, std::convert::Infallible>(res)
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (url, accepted)
    }

    async fn get(u: &Upstream, path: &str) -> (Response<()>, String) {
        use http_body_util::BodyExt;
        let req = Request::builder()
            .uri(u.uri(path, None).unwrap())
            .body(Body::empty())
            .unwrap();
        let (head, body) = u
            .send(req)
            .await
            .map_err(|_| "send failed")
            .unwrap()
            .into_parts();
        let text = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(head, ()),
            String::from_utf8(text.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn answers_read_to_the_end_reuse_one_connection() {
        let (url, accepted) = counting_upstream(true).await;
        let u = upstream(&url);
        for i in 0..5 {
            let (head, text) = get(&u, &format!("/n/{i}")).await;
            assert_eq!(text, format!("ok /n/{i}"));
            assert_eq!(
                head.headers()["x-seen-host"],
                url.trim_start_matches("http://")
            );
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(u.pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn idle_connections_expire_and_the_reaper_is_running() {
        let (url, _) = counting_upstream(true).await;
        let u = upstream(&url);
        get(&u, "/a").await;
        assert_eq!(u.pool.idle_count(), 1);
        assert!(u.pool.reaping.load(Ordering::SeqCst));
        u.pool.prune(Instant::now() + POOL_IDLE / 2);
        assert_eq!(u.pool.idle_count(), 1, "not idle long enough yet");
        u.pool
            .prune(Instant::now() + POOL_IDLE + Duration::from_secs(1));
        assert_eq!(u.pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        let (url, accepted) = counting_upstream(false).await;
        let u = upstream(&url);
        for i in 0..3 {
            assert_eq!(get(&u, &format!("/c/{i}")).await.1, format!("ok /c/{i}"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_half_read_answer_does_not_go_back_to_the_pool() {
        let (url, accepted) = counting_upstream(true).await;
        let u = upstream(&url);
        let req = Request::builder()
            .uri(u.uri("/x", None).unwrap())
            .body(Body::empty())
            .unwrap();
        let res = u.send(req).await.map_err(|_| "send failed").unwrap();
        drop(res);
        assert_eq!(u.pool.idle_count(), 0);
        assert_eq!(get(&u, "/y").await.1, "ok /y");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let u = upstream(&url);
        let req = Request::builder()
            .uri(u.uri("/", None).unwrap())
            .body(Body::empty())
            .unwrap();
        assert!(matches!(u.send(req).await, Err(SendError::Failed(_))));
    }

    #[test]
    fn refuses_other_schemes() {
        assert!(Upstream::new(&"ftp://x".parse().unwrap(), Duration::from_secs(1)).is_err());
    }
}
