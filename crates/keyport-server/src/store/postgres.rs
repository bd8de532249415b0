//! PostgreSQL: the same data and behaviour as the SQLite store (the
//! reference), in PostgreSQL's own terms; the schema and its conventions are
//! in `migrations/postgres/0001_init.sql`.
//!
//! Durability is the server's: a write is acknowledged after its COMMIT,
//! which PostgreSQL returns once the WAL is flushed (`synchronous_commit`
//! on, its default).
//!
//! Usage flushes write every table with one `UNNEST` upsert per table, rows
//! merged and sorted by their key first, tables always in the same order:
//! flushes of several instances lock rows in one global order, so they can
//! wait for each other but never deadlock. The roll-up mark comes first in
//! that order: a flush reads it `FOR SHARE`, the roll-up `FOR UPDATE`.
//!
//! Every call runs on the store's own I/O thread (a current-thread tokio
//! runtime), so the connections' sockets belong to a runtime that lives as
//! long as the store. Callers on any runtime (the HTTP workers, the
//! background thread with its own runtime, a test's) share the pool, and
//! none of them stopping breaks a connection. (The SQLite store gets the
//! same from sqlx's worker threads.)

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyport_core::alert::AlertKind;
use keyport_core::{Counts, KeyHash, Outcome, RateLimitOverride, Resource, ScopeSet};
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::records::{Change, ChangeKind, DimensionRow, UsageBatch, UsageRow};
use super::{
    minute_bounds, DayCount, Dimension, Enrollment, OperatorToken, Page, PoolConfig, Redemption,
    Result, Seen, Store, StoreError, BATCH_ID_RETENTION_MS,
};
use crate::clock::{from_millis, millis};
use crate::model::{Account, Alert, AlertStatus, AuditEvent, KeyRecord, Step};

mod webhooks;

pub struct PgStore {
    db: Db,
    io: tokio::runtime::Handle,
    /// Dropped with the store: ends the I/O thread and its runtime.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The queries, on the I/O runtime.
#[derive(Clone)]
struct Db {
    pool: PgPool,
    /// This store's connections' `application_name`: the origin of the
    /// changes they write.
    origin: Arc<str>,
    /// The change feed's LISTEN connection, made on first wait.
    listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
}

/// The channel the change feed's triggers notify.
const CHANGES_CHANNEL: &str = "keyport_changes";

/// Name of the store's I/O thread.
const IO_THREAD: &str = "keyport-pg";

const KEY_COLUMNS: &str =
    "seq, id, account_id, name, environment, key_hash, last4, scopes, resources, \
     expires_at, rate_limit, created_at, revoked_at, \
     (SELECT u.at FROM key_last_used u WHERE u.key_id = api_keys.id) AS last_used_at, \
     replaces, replaced_by, quarantine, restrictions";

const ACCOUNT_COLUMNS: &str = "id, name, plan, created_at, settings, external_id, operator";

const ALERT_COLUMNS: &str = "id, account_id, key_id, kind, status, message, evidence, created_at, acknowledged_at, resolved_at";

const COUNT_COLUMNS: &str = "success, client_error, server_error, rate_limited, denied, would_deny";

/// Sums of the count columns, as BIGINT (PostgreSQL sums BIGINT to NUMERIC).
const COUNT_SUMS: &str =
    "SUM(success)::bigint AS success, SUM(client_error)::bigint AS client_error, \
     SUM(server_error)::bigint AS server_error, SUM(rate_limited)::bigint AS rate_limited, \
     SUM(denied)::bigint AS denied, SUM(would_deny)::bigint AS would_deny";

/// An upsert's tail (into a table aliased `u`) that adds a row's counts to
/// the bucket's.
const ADD_COUNTS: &str =
    "ON CONFLICT (key_id, t) DO UPDATE SET success = u.success + EXCLUDED.success, \
     client_error = u.client_error + EXCLUDED.client_error, \
     server_error = u.server_error + EXCLUDED.server_error, \
     rate_limited = u.rate_limited + EXCLUDED.rate_limited, denied = u.denied + EXCLUDED.denied, \
     would_deny = u.would_deny + EXCLUDED.would_deny";

/// The roll-up mark, as a scalar subquery.
const MARK: &str = "(SELECT upto FROM usage_rollup WHERE id = 1)";

/// An hour or day table's rows in `[$2, $3)` in one statement (so with the
/// mark of one moment): the rolled-up rows before the mark, then the
/// minutes in `[$4, $5)` from the mark on ([`minute_bounds`]), each as its
/// bucket start `t` (or its `key_id` when `by_key`) and its counts.
/// `filter` uses `$1`.
fn rolled_rows(step: Step, filter: &str, by_key: bool) -> String {
    let s = step.seconds();
    let (rolled, minute) = if by_key {
        ("key_id", "key_id".to_string())
    } else {
        ("t", format!("t / {s} * {s} AS t"))
    };
    format!(
        "SELECT {rolled}, {COUNT_COLUMNS} FROM {} WHERE {filter} AND t >= $2 AND t < $3 AND t < {MARK} \
         UNION ALL SELECT {minute}, {COUNT_COLUMNS} FROM usage_minutes \
         WHERE {filter} AND t >= GREATEST($4, {MARK}) AND t < $5",
        table(step)
    )
}

/// The database's clock in unix milliseconds (for bookkeeping rows only;
/// the service's times come from its own clock).
const DB_NOW_MS: &str = "(extract(epoch FROM now()) * 1000)::bigint";

impl PgStore {
    /// Connects, then runs `migrations/postgres`. sqlx's migrator holds a
    /// PostgreSQL advisory lock while it runs, so instances started together
    /// migrate once: the others wait, then find nothing left to apply.
    pub async fn open(url: &str, config: PoolConfig) -> Result<Self> {
        let origin: Arc<str> =
            Arc::from(format!("keyport-server/{}", &super::new_batch_id()[..16]));
        let options = PgConnectOptions::from_str(url)?.application_name(&origin);
        let (io, stop) = io_thread()?;
        let pool = IoTask(io.spawn(async move {
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(config.acquire_timeout)
                // Each idle connection is checked before it is handed out
                // (the default, kept on purpose): one the server dropped is
                // replaced at once, so the pool recovers by itself when the
                // database is back.
                .test_before_acquire(true)
                .idle_timeout(Some(Duration::from_secs(600)))
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Ok(pool)
        }))
        .await?;
        Ok(Self {
            db: Db {
                pool,
                origin,
                listener: Arc::default(),
            },
            io,
            _stop: stop,
        })
    }

    /// Runs one call on the I/O runtime.
    fn run<T, Fut>(&self, call: impl FnOnce(Db) -> Fut) -> IoTask<T>
    where
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        IoTask(self.io.spawn(call(self.db.clone())))
    }
}

/// Starts the I/O thread: a current-thread runtime, below the request
/// path's CPU priority like SQLite's database threads (verification needs
/// no database), until the store is dropped.
fn io_thread() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(sqlx::Error::Io)?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(IO_THREAD.into())
        .spawn(move || {
            crate::priority::lower_current_thread();
            // Returns when the sender goes, with the store.
            let _ = runtime.block_on(stopped);
        })
        .map_err(sqlx::Error::Io)?;
    Ok((handle, stop))
}

/// A call running on the I/O runtime. If the caller stops waiting, the call
/// is aborted, as the caller's own future would have been: an open
/// transaction rolls back.
struct IoTask<T>(tokio::task::JoinHandle<Result<T>>);

impl<T> Drop for IoTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for IoTask<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime is gone, with the store.
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
        })
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn json_column<T: DeserializeOwned>(row: &PgRow, column: &str) -> Result<T> {
    let value: serde_json::Value = row.try_get(column)?;
    serde_json::from_value(value).map_err(|e| corrupt(format!("{column}: {e}")))
}

fn opt_time(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
}

fn key_from_row(row: &PgRow) -> Result<KeyRecord> {
    let resources: Vec<String> = json_column(row, "resources")?;
    let rate_limit: Option<serde_json::Value> = row.try_get("rate_limit")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        environment: row
            .try_get::<&str, _>("environment")?
            .parse()
            .map_err(corrupt)?,
        hash: KeyHash::from_hex(row.try_get("key_hash")?).ok_or_else(|| corrupt("key_hash"))?,
        last4: row.try_get("last4")?,
        scopes: ScopeSet::from_csv(row.try_get("scopes")?).map_err(corrupt)?,
        resources: resources
            .iter()
            .map(|r| Resource::from_str(r).map_err(corrupt))
            .collect::<Result<_>>()?,
        expires_at: opt_time(row, "expires_at")?,
        rate_limit: match rate_limit {
            Some(v) => serde_json::from_value::<RateLimitOverride>(v).map_err(corrupt)?,
            None => RateLimitOverride::default(),
        },
        created_at: from_millis(row.try_get("created_at")?),
        revoked_at: opt_time(row, "revoked_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        replaces: row.try_get("replaces")?,
        replaced_by: row.try_get("replaced_by")?,
        quarantine: quarantine_from_row(row)?,
        restrictions: restrictions_from_row(row)?,
    })
}

fn quarantine_from_row(row: &PgRow) -> Result<Option<crate::model::Quarantine>> {
    let v: Option<serde_json::Value> = row.try_get("quarantine")?;
    v.map(|v| serde_json::from_value(v).map_err(corrupt))
        .transpose()
}

fn restrictions_from_row(row: &PgRow) -> Result<crate::restrictions::KeyRestrictions> {
    let v: Option<serde_json::Value> = row.try_get("restrictions")?;
    Ok(match v {
        Some(v) => serde_json::from_value(v).map_err(corrupt)?,
        None => Default::default(),
    })
}

fn restrictions_json(k: &KeyRecord) -> Option<serde_json::Value> {
    (!k.restrictions.is_empty()).then(|| serde_json::to_value(&k.restrictions).unwrap_or_default())
}

fn quarantine_json(k: &KeyRecord) -> Option<serde_json::Value> {
    k.quarantine
        .as_ref()
        .map(|q| serde_json::to_value(q).unwrap_or_default())
}

fn account_from_row(r: &PgRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        plan: r.try_get::<&str, _>("plan")?.parse().map_err(corrupt)?,
        created_at: from_millis(r.try_get("created_at")?),
        settings: json_column(r, "settings")?,
        operator: super::records::operator_fields(
            r.try_get("external_id")?,
            r.try_get("operator")?,
        )?,
    })
}

fn token_from_row(r: &PgRow) -> Result<OperatorToken> {
    Ok(OperatorToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        hash: KeyHash::from_hex(r.try_get("token_hash")?).ok_or_else(|| corrupt("token_hash"))?,
        last4: r.try_get("last4")?,
        created_at: from_millis(r.try_get("created_at")?),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
    })
}

fn enrollment_from_row(r: &PgRow) -> Result<Enrollment> {
    Ok(Enrollment {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        code_hash: KeyHash::from_hex(r.try_get("code_hash")?)
            .ok_or_else(|| corrupt("code_hash"))?,
        created_by: r.try_get("created_by")?,
        created_at: from_millis(r.try_get("created_at")?),
        expires_at: from_millis(r.try_get("expires_at")?),
        used_at: r.try_get::<Option<i64>, _>("used_at")?.map(from_millis),
        key_id: r.try_get("key_id")?,
    })
}

fn map_external_id(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateExternalId,
        _ => e.into(),
    }
}

async fn save_operator_row(conn: &mut PgConnection, a: &Account) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET name = $1, plan = $2, external_id = $3, operator = $4 WHERE id = $5",
    )
    .bind(&a.name)
    .bind(a.plan.as_str())
    .bind(&a.operator.external_id)
    .bind(super::records::operator_json(&a.operator))
    .bind(&a.id)
    .execute(conn)
    .await
    .map_err(map_external_id)?;
    Ok(())
}

fn counts_from_row(r: &PgRow) -> Result<Counts> {
    let mut c = Counts::default();
    for o in Outcome::ALL {
        c.0[o.index()] = r.try_get::<i64, _>(o.name())?.max(0) as u64;
    }
    Ok(c)
}

fn alert_from_row(r: &PgRow) -> Result<Alert> {
    let kind: keyport_core::alert::AlertKind =
        r.try_get::<&str, _>("kind")?.parse().map_err(corrupt)?;
    let status = match r.try_get::<&str, _>("status")? {
        "open" => AlertStatus::Open,
        "acknowledged" => AlertStatus::Acknowledged,
        "resolved" => AlertStatus::Resolved,
        other => return Err(corrupt(format!("alert status {other}"))),
    };
    Ok(Alert {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        key_id: r.try_get("key_id")?,
        category: kind.category(),
        kind,
        status,
        message: r.try_get("message")?,
        evidence: r.try_get("evidence")?,
        created_at: from_millis(r.try_get("created_at")?),
        acknowledged_at: opt_time(r, "acknowledged_at")?,
        resolved_at: opt_time(r, "resolved_at")?,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        at: from_millis(row.try_get("at")?),
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        key_id: row.try_get("key_id")?,
        source: row.try_get("source")?,
        detail: row.try_get("detail")?,
        event: None,
    })
}

fn table(step: Step) -> &'static str {
    match step {
        Step::Minute => "usage_minutes",
        Step::Hour => "usage_hours",
        Step::Day => "usage_days",
    }
}

fn dim_table(dim: Dimension) -> (&'static str, &'static str) {
    match dim {
        Dimension::Endpoint => ("usage_endpoints", "endpoint"),
        Dimension::Country => ("usage_countries", "country"),
        Dimension::Network => ("usage_networks", "network"),
        Dimension::Reason => ("usage_would_deny", "reason"),
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn resources_json(k: &KeyRecord) -> Json<Vec<String>> {
    Json(k.resources.iter().map(ToString::to_string).collect())
}

fn rate_limit_json(k: &KeyRecord) -> Option<Json<&RateLimitOverride>> {
    (!k.rate_limit.is_empty()).then_some(Json(&k.rate_limit))
}

fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateHash,
        _ => e.into(),
    }
}

async fn insert_audit(conn: &mut PgConnection, a: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (account_id, at, actor, action, key_id, source, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.account_id)
    .bind(millis(a.at))
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.key_id)
    .bind(&a.source)
    .bind(&a.detail)
    .execute(&mut *conn)
    .await?;
    if let Some(event) = &a.event {
        webhooks::insert_event_tx(conn, event, None).await?;
    }
    Ok(())
}

/// Adds an alert and, when it is new, the webhook event announcing it.
async fn insert_alert_row(conn: &mut PgConnection, a: &Alert) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alerts (id, account_id, key_id, kind, status, message, evidence, created_at, \
         acknowledged_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.account_id)
    .bind(&a.key_id)
    .bind(a.kind.as_str())
    .bind(a.status.as_str())
    .bind(&a.message)
    .bind(&a.evidence)
    .bind(millis(a.created_at))
    .bind(a.acknowledged_at.map(millis))
    .bind(a.resolved_at.map(millis))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    webhooks::insert_event_tx(conn, &crate::webhooks::alert_event(a), None).await?;
    Ok(true)
}

async fn insert_key_row(conn: &mut PgConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, environment, key_hash, last4, scopes, resources, \
         expires_at, rate_limit, created_at, revoked_at, replaces, replaced_by, quarantine, \
         restrictions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&k.id)
    .bind(&k.account_id)
    .bind(&k.name)
    .bind(k.environment.as_str())
    .bind(k.hash.to_hex())
    .bind(&k.last4)
    .bind(k.scopes.to_csv())
    .bind(resources_json(k))
    .bind(k.expires_at.map(millis))
    .bind(rate_limit_json(k))
    .bind(millis(k.created_at))
    .bind(k.revoked_at.map(millis))
    .bind(&k.replaces)
    .bind(&k.replaced_by)
    .bind(quarantine_json(k))
    .bind(restrictions_json(k))
    .execute(&mut *conn)
    .await
    .map_err(map_unique)?;
    if let Some(at) = k.last_used_at {
        raise_last_used(conn, &[(k.id.clone(), at)]).await?;
    }
    Ok(())
}

async fn update_key_row(conn: &mut PgConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = $1, scopes = $2, resources = $3, expires_at = $4, rate_limit = $5, \
         revoked_at = $6, replaced_by = $7, quarantine = $8, restrictions = $9 \
         WHERE id = $10 AND account_id = $11",
    )
    .bind(&k.name)
    .bind(k.scopes.to_csv())
    .bind(resources_json(k))
    .bind(k.expires_at.map(millis))
    .bind(rate_limit_json(k))
    .bind(k.revoked_at.map(millis))
    .bind(&k.replaced_by)
    .bind(quarantine_json(k))
    .bind(restrictions_json(k))
    .bind(&k.id)
    .bind(&k.account_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of keys from rows fetched with one extra (`limit + 1`).
fn key_page(rows: &[PgRow], limit: u32) -> Result<Page<KeyRecord>> {
    let items = rows
        .iter()
        .map(|r| Ok((r.try_get("seq")?, key_from_row(r)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(page(items, limit))
}

fn page<T>(mut items: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    Page {
        items: items.into_iter().map(|(_, t)| t).collect(),
        next_cursor,
    }
}

// ---- usage flush: one UNNEST upsert per table, rows sorted by key ----

/// Adds minute rows into one resolution's table, summed per bucket first
/// (an upsert may touch each row once) and sorted by (key, bucket).
async fn add_usage<'a>(
    conn: &mut PgConnection,
    step: Step,
    rows: impl Iterator<Item = &'a UsageRow>,
) -> Result<()> {
    let mut merged: BTreeMap<(&str, i64), (&str, Counts)> = BTreeMap::new();
    for r in rows {
        let t = r.t.div_euclid(step.seconds()) * step.seconds();
        merged
            .entry((r.key_id.as_str(), t))
            .or_insert((r.account_id.as_str(), Counts::default()))
            .1
            .add(&r.counts);
    }
    if merged.is_empty() {
        return Ok(());
    }
    let n = merged.len();
    let (mut keys, mut accounts, mut ts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut cols: [Vec<i64>; 6] = std::array::from_fn(|_| Vec::with_capacity(n));
    for ((key_id, t), (account_id, counts)) in merged {
        keys.push(key_id);
        accounts.push(account_id);
        ts.push(t);
        for (col, v) in cols.iter_mut().zip(counts.0) {
            col.push(as_i64(v));
        }
    }
    let sql = format!(
        "INSERT INTO {} AS u (key_id, account_id, t, {COUNT_COLUMNS}) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
         $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) ORDER BY 1, 3 {ADD_COUNTS}",
        table(step)
    );
    let [a, b, c, d, e, f] = cols;
    sqlx::query(&sql)
        .bind(keys)
        .bind(accounts)
        .bind(ts)
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .bind(e)
        .bind(f)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Hourly breakdown rows, then first/last-seen per value: one upsert each.
async fn add_dimension(
    conn: &mut PgConnection,
    dim: Dimension,
    rows: &[DimensionRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tbl, col) = dim_table(dim);
    let mut hourly: BTreeMap<(&str, i64, &str), u64> = BTreeMap::new();
    // (key, value) → (first minute, last minute, count)
    let mut seen: BTreeMap<(&str, &str), (i64, i64, u64)> = BTreeMap::new();
    for r in rows {
        let hour = r.t.div_euclid(3600) * 3600;
        *hourly
            .entry((r.key_id.as_str(), hour, r.value.as_str()))
            .or_default() += r.count;
        let s = seen
            .entry((r.key_id.as_str(), r.value.as_str()))
            .or_insert((r.t, r.t, 0));
        s.0 = s.0.min(r.t);
        s.1 = s.1.max(r.t);
        s.2 += r.count;
    }

    let (mut keys, mut ts, mut values, mut counts) = (vec![], vec![], vec![], vec![]);
    for ((key_id, t, value), count) in hourly {
        keys.push(key_id);
        ts.push(t);
        values.push(value);
        counts.push(as_i64(count));
    }
    let sql = format!(
        "INSERT INTO {tbl} AS u (key_id, t, {col}, count) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[]) ORDER BY 1, 2, 3 \
         ON CONFLICT (key_id, t, {col}) DO UPDATE SET count = u.count + EXCLUDED.count"
    );
    sqlx::query(&sql)
        .bind(keys)
        .bind(ts)
        .bind(values)
        .bind(counts)
        .execute(&mut *conn)
        .await?;

    let (mut keys, mut values, mut firsts, mut lasts, mut counts) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((key_id, value), (first, last, count)) in seen {
        keys.push(key_id);
        values.push(value);
        firsts.push(first);
        lasts.push(last);
        counts.push(as_i64(count));
    }
    sqlx::query(
        "INSERT INTO key_dimensions AS d (key_id, dimension, value, first_seen, last_seen, count) \
         SELECT x.key_id, $1, x.value, x.first_seen, x.last_seen, x.count \
         FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) \
           AS x(key_id, value, first_seen, last_seen, count) \
         ORDER BY x.key_id, x.value \
         ON CONFLICT (key_id, dimension, value) DO UPDATE SET \
         first_seen = LEAST(d.first_seen, EXCLUDED.first_seen), \
         last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen), count = d.count + EXCLUDED.count",
    )
    .bind(col)
    .bind(keys)
    .bind(values)
    .bind(firsts)
    .bind(lasts)
    .bind(counts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds admitted requests per key and day, summed per (key, day) first.
async fn add_day_counts(conn: &mut PgConnection, counts: &[DayCount]) -> Result<()> {
    let mut merged: BTreeMap<(&str, i64), (&str, u64)> = BTreeMap::new();
    for c in counts {
        merged
            .entry((c.key_id.as_str(), c.day))
            .or_insert((c.account_id.as_str(), 0))
            .1 += c.count;
    }
    if merged.is_empty() {
        return Ok(());
    }
    let (mut keys, mut accounts, mut days, mut ns) = (vec![], vec![], vec![], vec![]);
    for ((key_id, day), (account_id, n)) in merged {
        keys.push(key_id);
        accounts.push(account_id);
        days.push(day);
        ns.push(as_i64(n));
    }
    sqlx::query(
        "INSERT INTO key_day_usage AS d (key_id, account_id, day, count) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) ORDER BY 1, 3 \
         ON CONFLICT (key_id, day) DO UPDATE SET count = d.count + EXCLUDED.count",
    )
    .bind(keys)
    .bind(accounts)
    .bind(days)
    .bind(ns)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Raises last-used times (never lowers them), one upsert in key order
/// (concurrent flushes lock the rows in the same order).
async fn raise_last_used(
    conn: &mut PgConnection,
    last_used: &[(String, DateTime<Utc>)],
) -> Result<()> {
    let mut merged: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, at) in last_used {
        let at = millis(*at);
        merged
            .entry(id.as_str())
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }
    if merged.is_empty() {
        return Ok(());
    }
    let (ids, ats): (Vec<&str>, Vec<i64>) = merged.into_iter().unzip();
    // Ids the store holds no key for are skipped, as the UPDATE this
    // replaced skipped them: through the foreign key one such id would fail
    // the whole usage batch, and every count in it with it.
    sqlx::query(
        "INSERT INTO key_last_used AS u (key_id, at) \
         SELECT x.id, x.at FROM UNNEST($1::text[], $2::bigint[]) AS x(id, at) \
         WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = x.id) ORDER BY x.id \
         ON CONFLICT (key_id) DO UPDATE SET at = GREATEST(u.at, EXCLUDED.at)",
    )
    .bind(&ids)
    .bind(ats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Db {
    async fn create_account(&self, a: &Account, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, plan, created_at, settings, external_id, operator) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(a.plan.as_str())
        .bind(millis(a.created_at))
        .bind(Json(&a.settings))
        .bind(&a.operator.external_id)
        .bind(super::records::operator_json(&a.operator))
        .execute(&mut *tx)
        .await
        .map_err(map_external_id)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn key_by_hash(&self, hash: KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn unrevoked_key_by_hash(&self, hash: KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_key_row(&mut tx, key).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        update_key_row(&mut tx, key).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_key(&self, old: &KeyRecord, new: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_key_row(&mut tx, new).await?;
        update_key_row(&mut tx, old).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn active_admin_keys(&self, account_id: &str, now: i64) -> Result<Vec<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) AND ',' || scopes || ',' LIKE '%,admin,%' \
             ORDER BY seq"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn count_active_keys(&self, account_id: &str, now: i64) -> Result<u32> {
        // As SQLite's, with the rotation links looked up only for keys that
        // have one: written as an anti-join, a planner without statistics
        // yet (a fresh table filling fast) nested it into a scan per key per
        // key, seconds per call at a few hundred keys.
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys k
             WHERE k.account_id = $1 AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > $2)
               AND (k.replaced_by IS NULL OR NOT EXISTS (
                 SELECT 1 FROM api_keys n
                 WHERE n.id = k.replaced_by AND n.revoked_at IS NULL
                   AND (n.expires_at IS NULL OR n.expires_at > $2)
                   AND (n.replaced_by IS NULL OR NOT EXISTS (
                     SELECT 1 FROM api_keys m
                     WHERE m.id = n.replaced_by AND m.revoked_at IS NULL
                       AND (m.expires_at IS NULL OR m.expires_at > $2)))))",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn key(&self, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(key_id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        key_page(&rows, limit)
    }

    async fn key_names(&self, account_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, name FROM api_keys WHERE account_id = $1 ORDER BY seq")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    async fn unrevoked_keys_page(
        &self,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND seq < $1 \
             ORDER BY seq DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        key_page(&rows, limit)
    }

    async fn append_audit(&self, audit: &AuditEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, audit).await
    }

    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, account_id, at, actor, action, key_id, source, detail FROM audit_events \
             WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(account_id)
        .bind(cursor.unwrap_or(i64::MAX))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, audit_from_row(r)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit))
    }

    async fn update_account_settings(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE accounts SET settings = $1 WHERE id = $2")
            .bind(Json(&account.settings))
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_operator_fields(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        save_operator_row(&mut tx, account).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_account(&self, account: &Account, audit: &AuditEvent) -> Result<u32> {
        let at = account
            .operator
            .deleted_at
            .ok_or_else(|| corrupt("delete_account needs deleted_at"))?;
        let mut tx = self.pool.begin().await?;
        save_operator_row(&mut tx, account).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(&account.id)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected() as u32)
    }

    async fn insert_operator_token(&self, t: &OperatorToken, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO operator_tokens (id, name, token_hash, last4, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.hash.to_hex())
        .bind(&t.last4)
        .bind(millis(t.created_at))
        .bind(t.revoked_at.map(millis))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>> {
        let rows = sqlx::query("SELECT * FROM operator_tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn operator_token_by_hash(&self, hash: KeyHash) -> Result<Option<OperatorToken>> {
        let row = sqlx::query("SELECT * FROM operator_tokens WHERE token_hash = $1")
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoke_operator_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_enrollment(&self, e: &Enrollment, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO enrollments (id, account_id, code_hash, created_by, created_at, expires_at, \
             used_at, key_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(&e.account_id)
        .bind(e.code_hash.to_hex())
        .bind(&e.created_by)
        .bind(millis(e.created_at))
        .bind(millis(e.expires_at))
        .bind(e.used_at.map(millis))
        .bind(&e.key_id)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enrollment_by_hash(&self, hash: KeyHash) -> Result<Option<Enrollment>> {
        let row = sqlx::query("SELECT * FROM enrollments WHERE code_hash = $1")
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(enrollment_from_row).transpose()
    }

    async fn redeem_enrollment(&self, r: Redemption<'_>) -> Result<bool> {
        let e = r.enrollment;
        let used_at = e
            .used_at
            .ok_or_else(|| corrupt("redeem_enrollment needs used_at"))?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE enrollments SET used_at = $1, key_id = $2 \
             WHERE id = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(millis(used_at))
        .bind(&e.key_id)
        .bind(&e.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_key_row(&mut tx, r.key).await?;
        for k in r.revoked {
            update_key_row(&mut tx, k).await?;
        }
        for a in r.audits {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn flush_usage(
        &self,
        batch: &str,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
        usage: &UsageBatch,
    ) -> Result<()> {
        if counts.is_empty() && last_used.is_empty() && usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        // The batch id first: a second writer of the same id waits here for
        // the first one's outcome, then finds it recorded (or not).
        let recorded = sqlx::query(&format!(
            "INSERT INTO usage_batches (id, at) VALUES ($1, {DB_NOW_MS}) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            // Written before: its COMMIT went through unacknowledged.
            tx.rollback().await?;
            tracing::info!(batch, "usage batch already written; skipped");
            return Ok(());
        }
        // Always this order (see the module's documentation): the mark,
        // then the tables.
        let mark: i64 = sqlx::query_scalar("SELECT upto FROM usage_rollup WHERE id = 1 FOR SHARE")
            .fetch_one(&mut *tx)
            .await?;
        add_usage(&mut tx, Step::Minute, usage.minutes.iter()).await?;
        // Hours and days only for minutes the roll-up has passed already.
        for step in [Step::Hour, Step::Day] {
            add_usage(&mut tx, step, usage.minutes.iter().filter(|r| r.t < mark)).await?;
        }
        add_dimension(&mut tx, Dimension::Endpoint, &usage.endpoints).await?;
        add_dimension(&mut tx, Dimension::Country, &usage.countries).await?;
        add_dimension(&mut tx, Dimension::Network, &usage.networks).await?;
        add_dimension(&mut tx, Dimension::Reason, &usage.reasons).await?;
        add_day_counts(&mut tx, counts).await?;
        raise_last_used(&mut tx, last_used).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>> {
        let rows =
            sqlx::query("SELECT key_id, account_id, day, count FROM key_day_usage WHERE day = $1")
                .bind(day)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(DayCount {
                    key_id: r.try_get("key_id")?,
                    account_id: r.try_get("account_id")?,
                    day: r.try_get("day")?,
                    count: r.try_get::<i64, _>("count")?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn known_endpoints(&self) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT d.key_id, k.account_id, d.value FROM key_dimensions d \
             JOIN api_keys k ON k.id = d.key_id WHERE d.dimension = 'endpoint'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key_id")?,
                    r.try_get("account_id")?,
                    r.try_get("value")?,
                ))
            })
            .collect()
    }

    async fn usage_series(
        &self,
        key_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        let rows = if step == Step::Minute {
            sqlx::query(&format!(
                "SELECT t, {COUNT_COLUMNS} FROM usage_minutes WHERE key_id = $1 AND t >= $2 AND t < $3 \
                 ORDER BY t"
            ))
            .bind(key_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
        } else {
            self.rolled(
                &format!(
                    "SELECT t, {COUNT_SUMS} FROM ({}) r GROUP BY t ORDER BY t",
                    rolled_rows(step, "key_id = $1", false)
                ),
                key_id,
                step,
                from,
                to,
            )
            .await?
        };
        rows.iter()
            .map(|r| Ok((r.try_get("t")?, counts_from_row(r)?)))
            .collect()
    }

    async fn usage_top(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64)>> {
        let (tbl, col) = dim_table(dim);
        // Ties in byte order, as SQLite sorts them.
        let sql = format!(
            "SELECT {col} AS v, SUM(count)::bigint AS n FROM {tbl} \
             WHERE key_id = $1 AND t >= $2 AND t < $3 \
             GROUP BY {col} ORDER BY n DESC, {col} COLLATE \"C\" LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(key_id)
            .bind(from.div_euclid(3600) * 3600)
            .bind(to)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("v")?, r.try_get::<i64, _>("n")?.max(0) as u64)))
            .collect()
    }

    async fn dimension_hours(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, u64)>> {
        let (tbl, col) = dim_table(dim);
        let sql = format!(
            "SELECT t, {col} AS v, count FROM {tbl} WHERE key_id = $1 AND t >= $2 AND t < $3 \
             ORDER BY t"
        );
        let rows = sqlx::query(&sql)
            .bind(key_id)
            .bind(from.div_euclid(3600) * 3600)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("t")?,
                    r.try_get("v")?,
                    r.try_get::<i64, _>("count")?.max(0) as u64,
                ))
            })
            .collect()
    }

    async fn account_series(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        let rows = if step == Step::Minute {
            sqlx::query(&format!(
                "SELECT t, {COUNT_SUMS} FROM usage_minutes WHERE account_id = $1 AND t >= $2 AND t < $3 \
                 GROUP BY t ORDER BY t"
            ))
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
        } else {
            self.rolled(
                &format!(
                    "SELECT t, {COUNT_SUMS} FROM ({}) r GROUP BY t ORDER BY t",
                    rolled_rows(step, "account_id = $1", false)
                ),
                account_id,
                step,
                from,
                to,
            )
            .await?
        };
        rows.iter()
            .map(|r| Ok((r.try_get("t")?, counts_from_row(r)?)))
            .collect()
    }

    async fn usage_totals(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, Counts)>> {
        let rows = if step == Step::Minute {
            sqlx::query(&format!(
                "SELECT key_id, {COUNT_SUMS} FROM usage_minutes \
                 WHERE account_id = $1 AND t >= $2 AND t < $3 GROUP BY key_id"
            ))
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
        } else {
            self.rolled(
                &format!(
                    "SELECT key_id, {COUNT_SUMS} FROM ({}) r GROUP BY key_id",
                    rolled_rows(step, "account_id = $1", true)
                ),
                account_id,
                step,
                from,
                to,
            )
            .await?
        };
        rows.iter()
            .map(|r| Ok((r.try_get("key_id")?, counts_from_row(r)?)))
            .collect()
    }

    async fn minutes_since(&self, since: i64) -> Result<Vec<UsageRow>> {
        let sql = format!(
            "SELECT key_id, account_id, t, {COUNT_COLUMNS} FROM usage_minutes WHERE t >= $1"
        );
        let rows = sqlx::query(&sql).bind(since).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    key_id: r.try_get("key_id")?,
                    account_id: r.try_get("account_id")?,
                    t: r.try_get("t")?,
                    counts: counts_from_row(r)?,
                })
            })
            .collect()
    }

    async fn dimension_history(&self, key_id: &str, dim: Dimension) -> Result<Vec<Seen>> {
        let (_, col) = dim_table(dim);
        let rows = sqlx::query(
            "SELECT value, first_seen, last_seen, count FROM key_dimensions \
             WHERE key_id = $1 AND dimension = $2",
        )
        .bind(key_id)
        .bind(col)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Seen {
                    value: r.try_get("value")?,
                    first_seen: r.try_get("first_seen")?,
                    last_seen: r.try_get("last_seen")?,
                    count: r.try_get::<i64, _>("count")?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let row = sqlx::query(&format!(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, {DB_NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms \
             WHERE leases.holder = EXCLUDED.holder OR leases.until_ms < {DB_NOW_MS} \
             RETURNING holder"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn keys_by_id(&self, ids: &[(String, String)]) -> Result<Vec<KeyRecord>> {
        let (accounts, keys): (Vec<&str>, Vec<&str>) =
            ids.iter().map(|(a, k)| (a.as_str(), k.as_str())).unzip();
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys \
             WHERE (account_id, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))"
        );
        let rows = sqlx::query(&sql)
            .bind(&accounts)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn change_position(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, kind, id, account_id, COALESCE(origin = $3, false) AS own \
             FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .bind(&*self.origin)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind = match r.try_get::<&str, _>("kind")? {
                    "key" => ChangeKind::Key,
                    "account" => ChangeKind::Account,
                    other => return Err(corrupt(format!("change kind {other}"))),
                };
                Ok(Change {
                    seq: r.try_get("seq")?,
                    kind,
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    own: r.try_get("own")?,
                })
            })
            .collect()
    }

    /// Waits for a notification on the feed's channel, at most `timeout`.
    /// A lost LISTEN connection is made again on the next wait; what was
    /// written meanwhile is found by the caller's periodic read.
    async fn wait_for_change(&self, timeout: Duration) {
        let mut listener = self.listener.lock().await;
        if listener.is_none() {
            match self.listen().await {
                Ok(l) => *listener = Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes; reading the feed periodically");
                    drop(listener);
                    tokio::time::sleep(timeout).await;
                    return;
                }
            }
        }
        let Some(l) = listener.as_mut() else {
            return;
        };
        match tokio::time::timeout(timeout, l.try_recv()).await {
            Ok(Ok(Some(_))) => while l.next_buffered().is_some() {},
            // The connection was lost: try_recv makes a new one next time.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "change listener failed; listening again");
                *listener = None;
            }
            Err(_) => {}
        }
    }

    async fn listen(&self) -> Result<PgListener> {
        let mut l = PgListener::connect_with(&self.pool).await?;
        l.listen(CHANGES_CHANNEL).await?;
        Ok(l)
    }

    async fn prune_changes(&self, keep_ms: i64) -> Result<()> {
        sqlx::query(&format!("DELETE FROM changes WHERE at < {DB_NOW_MS} - $1"))
            .bind(keep_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_strangers_audit(&self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM audit_events WHERE account_id IS NULL AND at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Rows of a [`rolled_rows`] query filtered on `value`.
    async fn rolled(
        &self,
        sql: &str,
        value: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<PgRow>> {
        let (lo, hi) = minute_bounds(step, from, to);
        Ok(sqlx::query(sql)
            .bind(value)
            .bind(from)
            .bind(to)
            .bind(lo)
            .bind(hi)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn roll_up_usage(&self, upto: i64) -> Result<()> {
        let upto = upto.div_euclid(60) * 60;
        let mut tx = self.pool.begin().await?;
        // Waits for the flushes under way (they hold the mark FOR SHARE);
        // flushes after this one see the new mark.
        let from: i64 = sqlx::query_scalar("SELECT upto FROM usage_rollup WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        if upto <= from {
            tx.rollback().await?;
            return Ok(());
        }
        for step in [Step::Hour, Step::Day] {
            let s = step.seconds();
            // One row per key and bucket (a key's account never changes),
            // in the flushes' lock order.
            let sql = format!(
                "INSERT INTO {} AS u (key_id, account_id, t, {COUNT_COLUMNS}) \
                 SELECT key_id, MIN(account_id), t / {s} * {s} AS b, {COUNT_SUMS} \
                 FROM usage_minutes WHERE t >= $1 AND t < $2 GROUP BY key_id, b ORDER BY key_id, b \
                 {ADD_COUNTS}",
                table(step),
            );
            sqlx::query(&sql)
                .bind(from)
                .bind(upto)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE usage_rollup SET upto = $1 WHERE id = 1")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "DELETE FROM usage_minutes WHERE t < LEAST($1, {MARK})"
        ))
        .bind(minutes_before)
        .execute(&mut *tx)
        .await?;
        for tbl in [
            "usage_hours",
            "usage_endpoints",
            "usage_countries",
            "usage_networks",
            "usage_would_deny",
        ] {
            sqlx::query(&format!("DELETE FROM {tbl} WHERE t < $1"))
                .bind(hours_before)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "DELETE FROM usage_batches WHERE at < {DB_NOW_MS} - $1"
        ))
        .bind(BATCH_ID_RETENTION_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn latest_alert(&self, key_id: &str, kind: AlertKind) -> Result<Option<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE key_id = $1 AND kind = $2 \
             ORDER BY seq DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(key_id)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn failed_attempts(&self, source: &str) -> Result<Option<(i64, u32)>> {
        let row = sqlx::query("SELECT window_start, count FROM failed_attempts WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let count: i32 = r.try_get("count")?;
            Ok((
                r.try_get("window_start")?,
                u32::try_from(count).unwrap_or(0),
            ))
        })
        .transpose()
    }

    async fn add_failed_attempt(&self, source: &str, now: i64, window: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO failed_attempts (source, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (source) DO UPDATE SET \
             count = CASE WHEN failed_attempts.window_start + $3 <= excluded.window_start \
             THEN 1 ELSE failed_attempts.count + 1 END, \
             window_start = CASE WHEN failed_attempts.window_start + $3 <= excluded.window_start \
             THEN excluded.window_start ELSE failed_attempts.window_start END",
        )
        .bind(source)
        .bind(now)
        .bind(window)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prune_failed_attempts(&self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM failed_attempts WHERE window_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_alert(&self, a: &Alert) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let added = insert_alert_row(&mut tx, a).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn alerts(&self, account_id: &str, open_only: bool, limit: u32) -> Result<Vec<Alert>> {
        let filter = if open_only { "AND status = 'open'" } else { "" };
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE account_id = $1 {filter} \
             ORDER BY created_at DESC, seq DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn alert(&self, account_id: &str, id: &str) -> Result<Option<Alert>> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn set_alert_status(&self, a: &Alert) -> Result<()> {
        sqlx::query(
            "UPDATE alerts SET status = $1, acknowledged_at = $2, resolved_at = $3 WHERE id = $4",
        )
        .bind(a.status.as_str())
        .bind(a.acknowledged_at.map(millis))
        .bind(a.resolved_at.map(millis))
        .bind(&a.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_alerts(&self) -> Result<Vec<Alert>> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'open'");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(alert_from_row).collect()
    }
}

/// Each call, with its arguments owned, on the I/O runtime.
#[async_trait]
impl Store for PgStore {
    async fn create_account(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        let (account, audit) = (account.clone(), audit.clone());
        self.run(|db| async move { db.create_account(&account, &audit).await })
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        self.run(|db| async move { db.accounts().await }).await
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        let id = id.to_owned();
        self.run(|db| async move { db.account(&id).await }).await
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let (key, audit) = (key.clone(), audit.clone());
        self.run(|db| async move { db.insert_key(&key, &audit).await })
            .await
    }

    async fn update_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let (key, audit) = (key.clone(), audit.clone());
        self.run(|db| async move { db.update_key(&key, &audit).await })
            .await
    }

    async fn rotate_key(&self, old: &KeyRecord, new: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        let (old, new, audit) = (old.clone(), new.clone(), audit.clone());
        self.run(|db| async move { db.rotate_key(&old, &new, &audit).await })
            .await
    }

    async fn key(&self, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>> {
        let (account_id, key_id) = (account_id.to_owned(), key_id.to_owned());
        self.run(|db| async move { db.key(&account_id, &key_id).await })
            .await
    }

    async fn keys_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.keys_page(&account_id, cursor, limit).await })
            .await
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let hash = *hash;
        self.run(|db| async move { db.key_by_hash(hash).await })
            .await
    }

    async fn unrevoked_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let hash = *hash;
        self.run(|db| async move { db.unrevoked_key_by_hash(hash).await })
            .await
    }

    async fn key_names(&self, account_id: &str) -> Result<Vec<(String, String)>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.key_names(&account_id).await })
            .await
    }

    async fn active_admin_keys(&self, account_id: &str, now: i64) -> Result<Vec<KeyRecord>> {
        let account_id = account_id.to_owned();
        self.run(move |db| async move { db.active_admin_keys(&account_id, now).await })
            .await
    }

    async fn count_active_keys(&self, account_id: &str, now: i64) -> Result<u32> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.count_active_keys(&account_id, now).await })
            .await
    }

    async fn unrevoked_keys_page(
        &self,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        self.run(|db| async move { db.unrevoked_keys_page(cursor, limit).await })
            .await
    }

    async fn append_audit(&self, audit: &AuditEvent) -> Result<()> {
        let audit = audit.clone();
        self.run(|db| async move { db.append_audit(&audit).await })
            .await
    }

    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.audit_page(&account_id, cursor, limit).await })
            .await
    }

    async fn update_account_settings(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        let (account, audit) = (account.clone(), audit.clone());
        self.run(|db| async move { db.update_account_settings(&account, &audit).await })
            .await
    }

    async fn save_operator_fields(&self, account: &Account, audit: &AuditEvent) -> Result<()> {
        let (account, audit) = (account.clone(), audit.clone());
        self.run(|db| async move { db.save_operator_fields(&account, &audit).await })
            .await
    }

    async fn delete_account(&self, account: &Account, audit: &AuditEvent) -> Result<u32> {
        let (account, audit) = (account.clone(), audit.clone());
        self.run(|db| async move { db.delete_account(&account, &audit).await })
            .await
    }

    async fn insert_operator_token(&self, token: &OperatorToken, audit: &AuditEvent) -> Result<()> {
        let (token, audit) = (token.clone(), audit.clone());
        self.run(|db| async move { db.insert_operator_token(&token, &audit).await })
            .await
    }

    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>> {
        self.run(|db| async move { db.operator_tokens().await })
            .await
    }

    async fn operator_token_by_hash(&self, hash: &KeyHash) -> Result<Option<OperatorToken>> {
        let hash = *hash;
        self.run(move |db| async move { db.operator_token_by_hash(hash).await })
            .await
    }

    async fn revoke_operator_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let (id, audit) = (id.to_owned(), audit.clone());
        self.run(move |db| async move { db.revoke_operator_token(&id, at, &audit).await })
            .await
    }

    async fn insert_enrollment(&self, enrollment: &Enrollment, audit: &AuditEvent) -> Result<()> {
        let (enrollment, audit) = (enrollment.clone(), audit.clone());
        self.run(|db| async move { db.insert_enrollment(&enrollment, &audit).await })
            .await
    }

    async fn enrollment_by_hash(&self, hash: &KeyHash) -> Result<Option<Enrollment>> {
        let hash = *hash;
        self.run(move |db| async move { db.enrollment_by_hash(hash).await })
            .await
    }

    async fn redeem_enrollment(&self, r: &Redemption<'_>) -> Result<bool> {
        let (enrollment, key) = (r.enrollment.clone(), r.key.clone());
        let (revoked, audits) = (r.revoked.to_vec(), r.audits.to_vec());
        self.run(|db| async move {
            db.redeem_enrollment(Redemption {
                enrollment: &enrollment,
                key: &key,
                revoked: &revoked,
                audits: &audits,
            })
            .await
        })
        .await
    }

    async fn flush_usage(
        &self,
        batch: &str,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
        usage: &UsageBatch,
    ) -> Result<()> {
        let (batch, counts, last_used, usage) = (
            batch.to_owned(),
            counts.to_vec(),
            last_used.to_vec(),
            usage.clone(),
        );
        self.run(|db| async move { db.flush_usage(&batch, &counts, &last_used, &usage).await })
            .await
    }

    async fn known_endpoints(&self) -> Result<Vec<(String, String, String)>> {
        self.run(|db| async move { db.known_endpoints().await })
            .await
    }

    async fn usage_series(
        &self,
        key_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        let key_id = key_id.to_owned();
        self.run(|db| async move { db.usage_series(&key_id, step, from, to).await })
            .await
    }

    async fn usage_top(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64)>> {
        let key_id = key_id.to_owned();
        self.run(|db| async move { db.usage_top(&key_id, dim, from, to, limit).await })
            .await
    }

    async fn dimension_hours(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, u64)>> {
        let key_id = key_id.to_owned();
        self.run(|db| async move { db.dimension_hours(&key_id, dim, from, to).await })
            .await
    }

    async fn account_series(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.account_series(&account_id, step, from, to).await })
            .await
    }

    async fn usage_totals(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, Counts)>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.usage_totals(&account_id, step, from, to).await })
            .await
    }

    async fn minutes_since(&self, since: i64) -> Result<Vec<UsageRow>> {
        self.run(|db| async move { db.minutes_since(since).await })
            .await
    }

    async fn dimension_history(&self, key_id: &str, dim: Dimension) -> Result<Vec<Seen>> {
        let key_id = key_id.to_owned();
        self.run(|db| async move { db.dimension_history(&key_id, dim).await })
            .await
    }

    async fn roll_up_usage(&self, upto: i64) -> Result<()> {
        self.run(|db| async move { db.roll_up_usage(upto).await })
            .await
    }

    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()> {
        self.run(|db| async move { db.prune_usage(minutes_before, hours_before).await })
            .await
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(|db| async move { db.take_lease(&name, &holder, ttl_ms).await })
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(|db| async move { db.release_lease(&name, &holder).await })
            .await
    }

    async fn keys_by_id(&self, ids: &[(String, String)]) -> Result<Vec<KeyRecord>> {
        let ids = ids.to_vec();
        self.run(|db| async move { db.keys_by_id(&ids).await })
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.run(|db| async move { db.ping().await }).await
    }

    fn pool_stats(&self) -> (u32, u32) {
        (self.db.pool.size(), self.db.pool.num_idle() as u32)
    }

    fn has_change_feed(&self) -> bool {
        true
    }

    async fn change_position(&self) -> Result<i64> {
        self.run(|db| async move { db.change_position().await })
            .await
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.run(|db| async move { db.changes_after(after, limit).await })
            .await
    }

    async fn wait_for_change(&self, timeout: Duration) {
        let _ = self
            .run(|db| async move {
                db.wait_for_change(timeout).await;
                Ok(())
            })
            .await;
    }

    async fn prune_changes(&self, keep_ms: i64) -> Result<()> {
        self.run(|db| async move { db.prune_changes(keep_ms).await })
            .await
    }

    async fn prune_strangers_audit(&self, before: i64) -> Result<()> {
        self.run(|db| async move { db.prune_strangers_audit(before).await })
            .await
    }

    async fn latest_alert(&self, key_id: &str, kind: AlertKind) -> Result<Option<Alert>> {
        let key_id = key_id.to_owned();
        self.run(|db| async move { db.latest_alert(&key_id, kind).await })
            .await
    }

    async fn failed_attempts(&self, source: &str) -> Result<Option<(i64, u32)>> {
        let source = source.to_owned();
        self.run(|db| async move { db.failed_attempts(&source).await })
            .await
    }

    async fn add_failed_attempt(&self, source: &str, now: i64, window: i64) -> Result<()> {
        let source = source.to_owned();
        self.run(|db| async move { db.add_failed_attempt(&source, now, window).await })
            .await
    }

    async fn prune_failed_attempts(&self, before: i64) -> Result<()> {
        self.run(|db| async move { db.prune_failed_attempts(before).await })
            .await
    }

    async fn insert_alert(&self, alert: &Alert) -> Result<bool> {
        let alert = alert.clone();
        self.run(|db| async move { db.insert_alert(&alert).await })
            .await
    }

    async fn alerts(&self, account_id: &str, open_only: bool, limit: u32) -> Result<Vec<Alert>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.alerts(&account_id, open_only, limit).await })
            .await
    }

    async fn alert(&self, account_id: &str, id: &str) -> Result<Option<Alert>> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        self.run(|db| async move { db.alert(&account_id, &id).await })
            .await
    }

    async fn set_alert_status(&self, alert: &Alert) -> Result<()> {
        let alert = alert.clone();
        self.run(|db| async move { db.set_alert_status(&alert).await })
            .await
    }

    async fn open_alerts(&self) -> Result<Vec<Alert>> {
        self.run(|db| async move { db.open_alerts().await }).await
    }

    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>> {
        self.run(|db| async move { db.day_counts(day).await }).await
    }
}
