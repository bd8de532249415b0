//! The floor for the gateway: a bare hyper reverse proxy (one-thread
//! runtime, HTTP/1.1 server, hyper's pooled client, `mimalloc`) that checks
//! nothing, limits nothing and records nothing. `bench/gateway-floor.sh`
//! measures it beside nginx and the gateway, so the gateway's own cost is
//! the difference.
//!
//! `cargo run --release --example bare_proxy -- 127.0.0.1:18185 http://127.0.0.1:18090`

use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18185".into());
    let upstream: hyper::Uri = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18090".into())
        .parse()
        .expect("upstream URL");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(serve(listen, upstream));
}

async fn serve(listen: String, upstream: hyper::Uri) {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build(http);
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (client, upstream) = (client.clone(), upstream.clone());
            async move {
                let (mut parts, body) = req.into_parts();
                let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                parts.uri = format!("{upstream}{}", pq.trim_start_matches('/'))
                    .parse()
                    .expect("uri");
                parts.headers.remove("authorization");
                parts.headers.remove("host");
                let req = Request::from_parts(parts, Body::new(body));
                let res = match client.request(req).await {
                    Ok(r) => r.map(Body::new),
                    Err(_) => Response::builder().status(502).body(Body::empty()).unwrap(),
                };
                Ok::<_, Infallible>(res)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
