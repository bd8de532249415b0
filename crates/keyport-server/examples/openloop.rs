//! A constant-rate (open-loop) load generator for `POST /v1/verify`: the
//! half-load latency run of `bench/cluster.sh`, where Debian has no wrk2.
//! Requests fall due at a fixed rate whatever the server answers, and each
//! one's latency counts from when it fell due, as wrk2 counts it (no
//! coordinated omission): a stall of the server shows as the wait of every
//! request due during it, not as one slow request. Keep-alive HTTP/1.1
//! connections with one request in flight each; a request due while every
//! connection is busy waits for one, and that wait counts.
//!
//! ```sh
//! cargo run --release --example openloop -- URL KEY_FILE RATE [SECONDS] [CONNECTIONS] [WARMUP]
//! ```
//!
//! URL is the verify endpoint (`http://127.0.0.1:PORT/v1/verify`); KEY_FILE
//! one key a line, sent round-robin as `{"key": …}`; SECONDS measured (10)
//! after WARMUP seconds (2) at the same rate; CONNECTIONS 64. Prints a
//! summary and the `BENCH …` line of `bench/report.lua`, with p99.9 added.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

struct Args {
    url: Uri,
    keys: String,
    rate: f64,
    seconds: f64,
    connections: usize,
    warmup: f64,
}

/// A request that fell due: when, and which key.
type Job = (Instant, usize);

/// What the workers saw of the measured requests.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    /// (due, in µs since the measured part began; latency µs) of each
    /// request slower than 1 ms: when the stalls were.
    slow: Vec<(u64, u64)>,
    non2xx: u64,
}

fn main() {
    let args = match parse(std::env::args().skip(1).collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "openloop: {e}\nusage: openloop URL KEY_FILE RATE [SECONDS] [CONNECTIONS] [WARMUP]"
            );
            std::process::exit(2);
        }
    };
    let code = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(args));
    std::process::exit(code);
}

fn parse(a: Vec<String>) -> Result<Args, String> {
    let get = |i: usize, default: &str| a.get(i).cloned().unwrap_or_else(|| default.into());
    let num = |i: usize, default: &str| {
        get(i, default)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("argument {} is not a number", i + 1))
    };
    if a.len() < 3 {
        return Err("URL, KEY_FILE and RATE are needed".into());
    }
    let url: Uri = a[0].parse().map_err(|e| format!("URL: {e}"))?;
    if url.scheme_str() != Some("http") || url.authority().is_none() {
        return Err("URL must be http://host:port/…".into());
    }
    let args = Args {
        url,
        keys: a[1].clone(),
        rate: num(2, "0")?,
        seconds: num(3, "10")?,
        connections: num(4, "64")? as usize,
        warmup: num(5, "2")?,
    };
    if args.rate < 1.0 || args.seconds <= 0.0 || args.connections == 0 {
        return Err("RATE ≥ 1, SECONDS > 0 and CONNECTIONS ≥ 1 are needed".into());
    }
    Ok(args)
}

async fn run(args: Args) -> i32 {
    let bodies: Arc<Vec<Bytes>> = match std::fs::read_to_string(&args.keys) {
        Ok(text) => Arc::new(
            text.lines()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Bytes::from(format!("{{\"key\":\"{k}\"}}")))
                .collect(),
        ),
        Err(e) => {
            eprintln!("openloop: {}: {e}", args.keys);
            return 1;
        }
    };
    if bodies.is_empty() {
        eprintln!("openloop: no keys in {}", args.keys);
        return 1;
    }
    let authority = args.url.authority().expect("checked").to_string();
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        match connect(&authority).await {
            Ok(s) => senders.push(s),
            Err(e) => {
                eprintln!("openloop: connecting to {authority}: {e}");
                return 1;
            }
        }
    }

    let start = Instant::now() + Duration::from_millis(20);
    let measured_from = start + Duration::from_secs_f64(args.warmup);
    let total = ((args.warmup + args.seconds) * args.rate).round() as u64;
    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for sender in senders {
        workers.push(tokio::spawn(work(
            sender,
            rx.clone(),
            args.url.clone(),
            authority.clone(),
            bodies.clone(),
            measured_from,
            seen.clone(),
            errors.clone(),
        )));
    }

    // Due times are exact; they are handed out by a thread of their own
    // every 100 µs (the runtime's timer has 1 ms steps), so a request
    // waits at most that long in the generator before it is sent.
    let per_request = 1.0 / args.rate;
    let std_start = std::time::Instant::now() + start.saturating_duration_since(Instant::now());
    let rate = args.rate;
    let n_bodies = bodies.len();
    let dispatcher = std::thread::spawn(move || {
        let mut sent = 0u64;
        while sent < total {
            let elapsed = std::time::Instant::now().saturating_duration_since(std_start);
            let due_now = (elapsed.as_secs_f64() * rate).floor() as u64 + 1;
            while sent < total.min(due_now) {
                let due = start + Duration::from_secs_f64(sent as f64 * per_request);
                if tx.send((due, sent as usize % n_bodies)).is_err() {
                    return;
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    let _ = tokio::task::spawn_blocking(move || dispatcher.join()).await;
    let ended = start + Duration::from_secs_f64(total as f64 * per_request);
    // Requests still queued are answered (and counted) before the end.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        for w in workers {
            let _ = w.await;
        }
    })
    .await;
    let finished = Instant::now().max(ended);
    report(
        &seen.lock().expect("not poisoned"),
        errors.load(Ordering::Relaxed),
        finished - measured_from,
        args.rate,
    );
    0
}

async fn connect(authority: &str) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[allow(clippy::too_many_arguments)]
async fn work(
    mut sender: SendRequest<Full<Bytes>>,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    url: Uri,
    authority: String,
    bodies: Arc<Vec<Bytes>>,
    measured_from: Instant,
    seen: Arc<std::sync::Mutex<Seen>>,
    errors: Arc<AtomicU64>,
) {
    loop {
        let job = rx.lock().await.recv().await;
        let Some((due, key)) = job else { return };
        let request = Request::post(url.clone())
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bodies[key].clone()))
            .expect("a valid request");
        let status = async {
            sender.ready().await?;
            let res = sender.send_request(request).await?;
            let status = res.status();
            res.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        let done = Instant::now();
        match status {
            Ok(status) if due >= measured_from => {
                let mut s = seen.lock().expect("not poisoned");
                let latency = done.saturating_duration_since(due).as_micros() as u64;
                s.latencies_us.push(latency);
                if latency > 1_000 {
                    let at = due.saturating_duration_since(measured_from).as_micros() as u64;
                    s.slow.push((at, latency));
                }
                if !status.is_success() {
                    s.non2xx += 1;
                }
            }
            Ok(_) => {}
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                // The connection is gone: open another for the next job.
                match connect(&authority).await {
                    Ok(s) => sender = s,
                    Err(_) => return,
                }
            }
        }
    }
}

fn report(seen: &Seen, errors: u64, measured: Duration, rate: f64) {
    // OPENLOOP_SLOW=FILE: the slow requests' due times and latencies.
    if let Ok(path) = std::env::var("OPENLOOP_SLOW") {
        let lines: String = seen
            .slow
            .iter()
            .map(|(at, l)| format!("{at} {l}\n"))
            .collect();
        if let Err(e) = std::fs::write(&path, lines) {
            eprintln!("openloop: {path}: {e}");
        }
    }
    let mut l = seen.latencies_us.clone();
    l.sort_unstable();
    let pct = |p: f64| -> u64 {
        if l.is_empty() {
            return 0;
        }
        l[((p / 100.0 * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1]
    };
    let n = l.len() as u64;
    let mean = if n == 0 {
        0.0
    } else {
        l.iter().sum::<u64>() as f64 / n as f64
    };
    let us = measured.as_micros() as u64;
    let rps = n as f64 / measured.as_secs_f64();
    println!(
        "  open loop at {rate:.0}/s: {n} requests in {:.2}s ({rps:.0}/s), latency from each request's due time",
        measured.as_secs_f64()
    );
    println!(
        "  p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; non-2xx {}, errors {errors}",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        l.last().copied().unwrap_or(0),
        seen.non2xx
    );
    println!(
        "BENCH requests={n} duration_us={us} rps={rps:.1} p50_us={} p90_us={} p99_us={} max_us={} \
         mean_us={mean:.1} non2xx={} connect_err=0 read_err={errors} write_err=0 timeout_err=0 p999_us={}",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        l.last().copied().unwrap_or(0),
        seen.non2xx,
        pct(99.9)
    );
}
