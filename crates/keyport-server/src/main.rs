//! `keyport-server`: run the key service, or manage accounts from the shell.

use clap::{Args, Parser, Subcommand};
use keyport_core::{KeyPrefix, Plan};
use keyport_server::clock::SystemClock;
use keyport_server::logging::{self, LogFormat};
use keyport_server::service::{KeyService, ServiceOptions};
use keyport_server::{start, store, ServerConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "keyport-server",
    version,
    about = "The Keyport API-key service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(
        long,
        global = true,
        env = "KEYPORT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Args)]
struct Db {
    /// Database URL: sqlite://PATH or postgres://USER@HOST[:PORT]/DATABASE.
    #[arg(long, env = "KEYPORT_DATABASE", default_value = "sqlite://keyport.db")]
    database: String,
    /// Most PostgreSQL connections this process opens (default 10).
    #[arg(long, env = "KEYPORT_DATABASE_POOL", value_parser = clap::value_parser!(u32).range(1..=1000))]
    database_pool: Option<u32>,
    /// Product prefix of keys (`to` gives `to_live_…`).
    #[arg(long, env = "KEYPORT_KEY_PREFIX", default_value = "to")]
    key_prefix: KeyPrefix,
}

// Parsed once at start: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (and the gateway, with --upstream).
    Serve {
        #[arg(long, env = "KEYPORT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Put the service in front of this API: every request outside /v1 is
        /// checked and proxied there.
        #[arg(long, env = "KEYPORT_UPSTREAM")]
        upstream: Option<reqwest::Url>,
        /// Lag of usage counts in the database, in milliseconds, while
        /// flushes are small (under 1,000 keys).
        #[arg(long, env = "KEYPORT_FLUSH_MS", default_value_t = 1000)]
        flush_ms: u64,
        /// Under load over many keys, a flush is followed by 20 times its
        /// own duration, up to this lag (ms): more requests per row written.
        /// At most --flush-ms turns this off.
        #[arg(long, env = "KEYPORT_FLUSH_MAX_MS", default_value_t = 5000)]
        flush_max_ms: u64,
        /// Header a trusted proxy sets to the caller's country (e.g. CF-IPCountry).
        #[arg(long, env = "KEYPORT_COUNTRY_HEADER")]
        country_header: Option<String>,
        /// Proxy address range whose country header is trusted (repeatable).
        #[arg(
            long = "trusted-proxy",
            env = "KEYPORT_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<ipnet::IpNet>,
        /// Count usage per key (turn off only to measure its cost).
        #[arg(long, env = "KEYPORT_RECORD_USAGE", default_value_t = true, action = clap::ArgAction::Set)]
        record_usage: bool,
        /// JSON file with anomaly thresholds (see keyport_core::anomaly for fields and defaults).
        #[arg(long, env = "KEYPORT_ANOMALY_CONFIG")]
        anomaly_config: Option<std::path::PathBuf>,
        /// Days of minute-resolution usage to keep.
        #[arg(long, env = "KEYPORT_MINUTE_RETENTION_DAYS", default_value_t = 90)]
        minute_retention_days: u32,
        /// Days of hour-resolution usage and breakdowns to keep (day totals are kept).
        #[arg(long, env = "KEYPORT_HOUR_RETENTION_DAYS", default_value_t = 400)]
        hour_retention_days: u32,
        /// Seconds a client has to send a request's headers; also closes idle
        /// keep-alive connections.
        #[arg(long, env = "KEYPORT_HEADER_TIMEOUT_SECS", default_value_t = 10)]
        header_timeout_secs: u64,
        /// Most connections open at once; more are answered 503 and closed.
        #[arg(long, env = "KEYPORT_MAX_CONNECTIONS", default_value_t = 10_000)]
        max_connections: usize,
        /// Seconds a request (verify, management, or gateway with its upstream) may take.
        #[arg(long, env = "KEYPORT_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
        request_timeout_secs: u64,
        /// Most active keys per enterprise account (free 5, starter 25, professional 100).
        #[arg(long, env = "KEYPORT_ENTERPRISE_KEY_CAP", default_value_t = 1_000)]
        enterprise_key_cap: u32,
        /// The longest rotation period accounts may choose, per environment:
        /// `live=90,test=30,staging=30` (each left out: 3650 days). A stored
        /// policy over it is shortened at start, and audited.
        #[arg(long, env = "KEYPORT_MAX_ROTATION_DAYS", value_parser = parse_rotation_bounds)]
        max_rotation_days: Option<keyport_core::rotation::RotationPolicy>,
        /// On PostgreSQL: seconds the change feed (how revokes and other changes
        /// made by other instances arrive) may go unread before this instance
        /// answers verifications and gateway requests 503 (fail closed).
        #[arg(long, env = "KEYPORT_FEED_STALE_AFTER_SECS", default_value_t = 5)]
        feed_stale_after_secs: u64,
        /// Share rate limits and daily quotas with every instance using this
        /// Redis (`redis://host:port/db`). Without it each instance limits on
        /// its own: run one instance only.
        #[arg(long, env = "KEYPORT_REDIS")]
        redis: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics, a listener of
        /// their own (keep it off the public network). Off by default.
        #[arg(long, env = "KEYPORT_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// The URL customers reach this service at, for enrollment links
        /// (default: the address the operator's request was sent to).
        #[arg(long, env = "KEYPORT_PUBLIC_URL")]
        public_url: Option<reqwest::Url>,
        /// Hours an enrollment code is valid unless its creator says otherwise.
        #[arg(long, env = "KEYPORT_ENROLLMENT_HOURS", default_value_t = 24,
            value_parser = clap::value_parser!(u32).range(1..=720))]
        enrollment_hours: u32,
        /// Let webhooks go to loopback, private and link-local addresses
        /// and plain http:// (development only: a customer's endpoint could
        /// otherwise reach this server's own network).
        #[arg(long, env = "KEYPORT_ALLOW_PRIVATE_WEBHOOKS")]
        allow_private_webhooks: bool,
        /// Accept leak reports (POST /v1/leaks) signed by the keys in this
        /// file: GitHub's format, {"public_keys":[{"key_identifier":…,
        /// "key":"-----BEGIN PUBLIC KEY-----…"}]}. Read at start, never fetched.
        #[arg(long, env = "KEYPORT_LEAK_REPORT_KEYS")]
        leak_report_keys: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: Db,
    },
    /// Operator tokens: the vendor's credential for /v1/operator/.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Find keys in files and folders: each key-shaped string is looked up
    /// by hash and reported masked (live, revoked or expired key of this
    /// service, unknown, or a fake). Exits 1 when it finds a live key.
    Scan {
        /// Files or folders (walked; links not followed, .git left out).
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Count only this account's keys (acc_…) as this service's.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print its id and first admin key (shown once),
    /// or with --enroll an enrollment code and link instead of any key.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
        /// Print a one-time enrollment code and keyport:// link: the
        /// customer's portal makes the admin key, no secret is printed.
        #[arg(long)]
        enroll: bool,
        /// The vendor's own id for the customer (with --enroll).
        #[arg(long, requires = "enroll")]
        external_id: Option<String>,
        #[command(flatten)]
        link: LinkArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
    /// Print a new enrollment code and link for an existing account (a
    /// second person, or recovery after a lost machine).
    Enroll {
        /// The account's id (acc_…).
        account_id: String,
        #[command(flatten)]
        link: LinkArgs,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Args)]
struct LinkArgs {
    /// The URL customers reach the service at (put in the link).
    #[arg(long, env = "KEYPORT_PUBLIC_URL")]
    public_url: Option<reqwest::Url>,
    /// Hours the code is valid.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
    hours: u32,
}

#[derive(Subcommand)]
enum OperatorCommand {
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an operator token and print it (shown once; its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
    /// List operator tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
    /// Revoke an operator token by id (opr_…): refused from the next request.
    Revoke {
        id: String,
        #[command(flatten)]
        db: Db,
    },
}

impl Db {
    fn pool(&self) -> store::PoolConfig {
        let mut pool = store::PoolConfig::default();
        if let Some(n) = self.database_pool {
            pool.max_connections = n;
        }
        pool
    }
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse()
}

fn main() -> ExitCode {
    match runtime() {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The request path's runtime. On one CPU a single-threaded scheduler: no
/// work stealing, no cross-thread wake-ups, no atomics on every task switch
/// (the gateway's connection tasks hand off to each other on every request).
/// With more CPUs, one worker per CPU (`TOKIO_WORKER_THREADS` overrides).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(cpus);
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve {
            listen,
            upstream,
            flush_ms,
            flush_max_ms,
            country_header,
            trusted_proxies,
            record_usage,
            anomaly_config,
            minute_retention_days,
            hour_retention_days,
            header_timeout_secs,
            max_connections,
            request_timeout_secs,
            enterprise_key_cap,
            max_rotation_days,
            feed_stale_after_secs,
            redis,
            metrics_listen,
            public_url,
            enrollment_hours,
            allow_private_webhooks,
            leak_report_keys,
            db,
        } => {
            let mut config = ServerConfig::new(listen, db.database.clone());
            config.database_pool = db.pool();
            config.upstream = upstream;
            config.key_prefix = db.key_prefix;
            config.flush_interval = Duration::from_millis(flush_ms.clamp(10, 2000));
            config.flush_max_interval = Duration::from_millis(flush_max_ms.clamp(10, 60_000));
            config.country_header = country_header;
            config.trusted_proxies = trusted_proxies;
            config.record_usage = record_usage;
            config.minute_retention_days = minute_retention_days.max(1);
            config.hour_retention_days = hour_retention_days.max(minute_retention_days);
            config.conn.header_read_timeout =
                Duration::from_secs(header_timeout_secs.clamp(1, 300));
            config.conn.max_connections = max_connections.max(1);
            config.request_timeout = Duration::from_secs(request_timeout_secs.clamp(1, 600));
            config.feed_stale_after = Duration::from_secs(feed_stale_after_secs.clamp(1, 3600));
            // The upstream gets the request's time less a margin for our answer.
            config.upstream_timeout = config.request_timeout.mul_f64(5.0 / 6.0);
            config.enterprise_key_cap = enterprise_key_cap.max(1);
            config.max_rotation_days =
                max_rotation_days.unwrap_or(keyport_core::rotation::RotationPolicy::UNBOUNDED);
            config.redis = redis;
            config.metrics_listen = metrics_listen;
            config.public_url = public_url.map(|u| u.to_string());
            config.enrollment_hours = enrollment_hours;
            config.allow_private_webhooks = allow_private_webhooks;
            match leak_report_keys.map(read_leak_keys).transpose() {
                Ok(keys) => config.leak_report_keys = keys.map(Arc::new),
                Err(e) => {
                    eprintln!("keyport-server: {e}");
                    return ExitCode::FAILURE;
                }
            }
            match anomaly_config.map(read_anomaly_config).transpose() {
                Ok(a) => {
                    config.anomaly = a.unwrap_or_default();
                    serve(config).await
                }
                Err(e) => Err(e),
            }
        }
        Command::Account {
            command:
                AccountCommand::Create {
                    name,
                    plan,
                    enroll: true,
                    external_id,
                    link,
                    json,
                    db,
                },
        } => cli::create_enrolled_account(&name, plan, external_id, link, json, db).await,
        Command::Account {
            command:
                AccountCommand::Create {
                    name,
                    plan,
                    json,
                    db,
                    ..
                },
        } => create_account(&name, plan, json, db).await,
        Command::Account {
            command:
                AccountCommand::Enroll {
                    account_id,
                    link,
                    json,
                    db,
                },
        } => cli::enroll_account(&account_id, link, json, db).await,
        Command::Operator {
            command: OperatorCommand::Token { command },
        } => cli::token(command).await,
        Command::Scan {
            paths,
            account,
            json,
            db,
        } => scan(&paths, account.as_deref(), json, db).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyport-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_rotation_bounds(text: &str) -> Result<keyport_core::rotation::RotationPolicy, String> {
    keyport_core::rotation::RotationPolicy::parse_bounds(text)
}

fn read_anomaly_config(
    path: std::path::PathBuf,
) -> Result<keyport_core::anomaly::AnomalyConfig, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn read_leak_keys(path: std::path::PathBuf) -> Result<keyport_server::leaks::LeakKeys, String> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    keyport_server::leaks::LeakKeys::from_json(&text)
        .map_err(|e| format!("{}: {e}", path.display()))
}

async fn serve(config: ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
    let server = start(config, Arc::new(SystemClock)).await?;
    println!("listening on http://{}", server.addr());
    if let Some(addr) = server.metrics_addr() {
        println!("metrics on http://{addr}/metrics");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn scan(
    paths: &[std::path::PathBuf],
    account: Option<&str>,
    json: bool,
    db: Db,
) -> Result<(), Box<dyn std::error::Error>> {
    use keyport_server::scan;
    let store = store::open_with(&db.database, db.pool()).await?;
    let report = scan::scan(
        store.as_ref(),
        &db.key_prefix,
        paths,
        account,
        chrono::Utc::now(),
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.findings {
            println!("{}", scan::describe(f));
        }
        for (path, why) in &report.skipped {
            eprintln!("skipped {}: {why}", path.display());
        }
        eprintln!(
            "{} files, {} key-shaped strings, {} live keys",
            report.files,
            report.findings.len(),
            report.live()
        );
    }
    match report.live() {
        0 => Ok(()),
        n => {
            Err(format!("{n} live key(s) found: rotate them (the portal's compromise flow)").into())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The service over the database `db` names, for a CLI command.
async fn open_service(db: Db) -> Result<KeyService, Box<dyn std::error::Error>> {
    let store = store::open_with(&db.database, db.pool()).await?;
    let options = ServiceOptions {
        prefix: db.key_prefix,
        ..Default::default()
    };
    Ok(KeyService::open(store, Arc::new(SystemClock), options).await?)
}

async fn create_account(
    name: &str,
    plan: Plan,
    json: bool,
    db: Db,
) -> Result<(), Box<dyn std::error::Error>> {
    let service = open_service(db).await?;
    let (account, key, secret) = service.create_account(name, plan, "cli").await?;
    if json {
        let out = serde_json::json!({
            "account_id": account.id, "plan": account.plan, "admin_key_id": key.id, "admin_key": secret.expose(),
        });
        println!("{out}");
    } else {
        println!("account_id: {}", account.id);
        println!("plan:       {}", account.plan);
        println!("admin key:  {}", secret.expose());
        println!();
        println!("This admin key is shown once. Store it in a secret manager now.");
    }
    Ok(())
}

/// The vendor's commands: enrollment codes and operator tokens.
mod cli {
    use super::{open_service, Db, LinkArgs, TokenCommand};
    use keyport_core::Plan;
    use keyport_server::model::{CreateAccountRequest, EnrollmentView};
    use keyport_server::operator::Actor;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    /// The link's service URL: --public-url, else a placeholder the text
    /// output explains.
    fn service_url(link: &LinkArgs) -> String {
        link.public_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
    }

    fn print_enrollment(e: &EnrollmentView, link: &LinkArgs) {
        println!("enrollment code: {}", e.code);
        println!("link:            {}", e.link);
        println!("expires:         {}", e.expires_at.to_rfc3339());
        println!();
        if link.public_url.is_none() {
            println!(
                "The link names {}: pass --public-url (or KEYPORT_PUBLIC_URL) with the URL \
                 customers reach the service at.",
                e.service_url
            );
        }
        println!(
            "Send the customer the link. Their Keyport portal makes the admin key on their \
             machine; the code works once and cannot call the API."
        );
    }

    pub async fn create_enrolled_account(
        name: &str,
        plan: Plan,
        external_id: Option<String>,
        link: LinkArgs,
        json: bool,
        db: Db,
    ) -> Result {
        let service = open_service(db).await?;
        let req = CreateAccountRequest {
            name: name.into(),
            plan,
            external_id,
            enrollment_hours: Some(link.hours),
        };
        let created = service
            .create_enrolled_account(Actor::Cli, req, &service_url(&link))
            .await?;
        if json {
            println!("{}", serde_json::to_string(&created)?);
        } else {
            println!("account_id:      {}", created.account.id);
            println!("plan:            {}", created.account.plan);
            print_enrollment(&created.enrollment, &link);
        }
        Ok(())
    }

    pub async fn enroll_account(account_id: &str, link: LinkArgs, json: bool, db: Db) -> Result {
        let service = open_service(db).await?;
        let e = service
            .create_enrollment(
                Actor::Cli,
                account_id,
                Some(link.hours),
                &service_url(&link),
            )
            .await?;
        if json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            print_enrollment(&e, &link);
        }
        Ok(())
    }

    pub async fn token(command: TokenCommand) -> Result {
        match command {
            TokenCommand::Create { name, json, db } => {
                let service = open_service(db).await?;
                let (t, secret) = service.create_operator_token(&name).await?;
                if json {
                    let out =
                        serde_json::json!({"id": t.id, "name": t.name, "token": secret.expose()});
                    println!("{out}");
                } else {
                    println!("id:    {}", t.id);
                    println!("token: {}", secret.expose());
                    println!();
                    println!(
                        "This operator token is shown once. Store it in a secret manager now."
                    );
                }
            }
            TokenCommand::List { json, db } => {
                let service = open_service(db).await?;
                let tokens = service.operator_tokens().await?;
                let prefix = service.prefix().operator_prefix();
                if json {
                    let out: Vec<_> = tokens
                        .iter()
                        .map(|t| {
                            serde_json::json!({"id": t.id, "name": t.name, "last4": t.last4,
                                "created_at": t.created_at, "revoked_at": t.revoked_at})
                        })
                        .collect();
                    println!("{}", serde_json::to_string(&out)?);
                } else {
                    for t in &tokens {
                        let state = match t.revoked_at {
                            Some(at) => format!("revoked {}", at.to_rfc3339()),
                            None => "active".into(),
                        };
                        println!("{}  {}…{}  {}  {state}", t.id, prefix, t.last4, t.name);
                    }
                }
            }
            TokenCommand::Revoke { id, db } => {
                open_service(db).await?.revoke_operator_token(&id).await?;
                println!("revoked {id}");
            }
        }
        Ok(())
    }
}
