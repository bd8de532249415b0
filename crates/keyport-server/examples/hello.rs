//! Bare axum hello-world, the baseline for `bench/verify.sh`: the same
//! runtime (multi-thread tokio via `#[tokio::main]`), the same axum and
//! hyper, and none of Keyport's middleware, JSON or key work.
//!
//! Usage: `hello [--listen ADDR | ADDR]` (default `127.0.0.1:0`). Prints
//! `listening on http://ADDR` as its first stdout line, like
//! `keyport-server serve`.

use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

fn parse_listen() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let raw = match args.next().as_deref() {
        None => "127.0.0.1:0".to_string(),
        Some("--listen") => args.next().ok_or("--listen needs an address")?,
        Some(a) => match a.strip_prefix("--listen=") {
            Some(v) => v.to_string(),
            None => a.to_string(),
        },
    };
    raw.parse()
        .map_err(|e| format!("bad listen address {raw:?}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let listen = match parse_listen() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hello: {e}");
            return ExitCode::FAILURE;
        }
    };
    // POST too: the floor of a constant-rate POST run (bench/cluster.sh).
    let hello = || async { "Hello, world!" };
    let app = Router::new().route("/", get(hello).post(hello));
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("hello: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
