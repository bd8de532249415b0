//! The floor under hyper: a hello-world on the least HTTP/1.1 a server can
//! do (httparse, one reused buffer per connection, a fixed answer written
//! once per batch of pipelined requests), on the same multi-thread tokio
//! runtime as `examples/hello`. `bench/floor.sh` runs the two alternated:
//! the difference is everything axum and hyper cost per request, and so the
//! most any leaner HTTP core could give Keyport's hot paths.
//!
//! Not a server to deploy: no timeouts, no limits beyond the head size, no
//! chunked bodies (a request with one is answered 501 and the connection
//! closed).
//!
//! Usage: `lean_hello [ADDR]` (default `127.0.0.1:0`); prints
//! `listening on http://ADDR` first, like `examples/hello`.

use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream));
    }
}

/// What one buffered request needs next.
enum Parsed {
    /// A whole request of this many bytes (head and body).
    Whole(usize),
    /// More bytes.
    Partial,
    /// Malformed, too large or chunked: answer this and close.
    Refuse(&'static [u8]),
}

async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD + MAX_BODY];
    let mut have = 0;
    let mut out = Vec::with_capacity(1024);
    let mut date = Date::default();
    loop {
        let mut used = 0;
        loop {
            match parse(&buf[used..have]) {
                Parsed::Whole(n) => {
                    used += n;
                    out.extend_from_slice(HEAD);
                    out.extend_from_slice(date.now());
                    out.extend_from_slice(BODY);
                }
                Parsed::Partial => break,
                Parsed::Refuse(answer) => {
                    out.extend_from_slice(answer);
                    let _ = stream.write_all(&out).await;
                    return;
                }
            }
        }
        buf.copy_within(used..have, 0);
        have -= used;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        match stream.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
}

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 13\r\ndate: ";
const BODY: &[u8] = b"\r\n\r\nHello, world!";
const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const CHUNKED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => return Parsed::Refuse(BAD),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Refuse(BAD),
    };
    let mut body = 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Refuse(CHUNKED);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.parse().ok())
            {
                Some(n) if n <= MAX_BODY => body = n,
                Some(_) => return Parsed::Refuse(TOO_LARGE),
                None => return Parsed::Refuse(BAD),
            }
        }
    }
    if bytes.len() < head + body {
        return Parsed::Partial;
    }
    Parsed::Whole(head + body)
}

/// The `Date` value, formatted once a second as hyper does.
#[derive(Default)]
struct Date {
    second: u64,
    text: Vec<u8>,
}

impl Date {
    fn now(&mut self) -> &[u8] {
        let now = std::time::SystemTime::now();
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.text
    }
}
