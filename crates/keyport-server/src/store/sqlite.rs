//! SQLite in WAL mode with `synchronous=FULL`: an acknowledged write is on
//! disk before the response leaves, so it survives `kill -9` and power loss.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyport_core::alert::AlertKind;
use keyport_core::{KeyHash, RateLimitOverride, Resource, ScopeSet};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

use super::records::{DimensionRow, UsageBatch, UsageRow};
use super::{
    minute_bounds, DayCount, Dimension, Enrollment, OperatorToken, Page, Redemption, Result, Seen,
    Store, StoreError,
};
use crate::clock::{from_millis, millis};
use crate::model::{Account, Alert, AlertStatus, AuditEvent, KeyRecord, Step};
use keyport_core::{Counts, Outcome};
use std::collections::HashMap;

mod webhooks;

pub struct SqliteStore {
    pool: SqlitePool,
}

const ACCOUNT_COLUMNS: &str = "id, name, plan, created_at, settings, external_id, operator";

const KEY_COLUMNS: &str =
    "seq, id, account_id, name, environment, key_hash, last4, scopes, resources, \
     expires_at, rate_limit, created_at, revoked_at, last_used_at, replaces, replaced_by, quarantine, restrictions";

/// Name prefix of the SQLite connection threads (sqlx runs one per connection).
const DB_THREAD: &str = "keyport-db";

impl SqliteStore {
    /// Rows of a [`rolled_rows`] query filtered on `value`.
    async fn rolled(
        &self,
        sql: &str,
        value: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<SqliteRow>> {
        let (lo, hi) = minute_bounds(step, from, to);
        Ok(sqlx::query(sql)
            .bind(value)
            .bind(from)
            .bind(to)
            .bind(value)
            .bind(lo)
            .bind(hi)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // 32 MiB of page cache per connection (the default is 2 MiB): a
            // usage flush touches a few pages per active key in five tables,
            // and with a small cache every flush re-reads them from the file.
            .pragma("cache_size", "-32768")
            // Statement journals (each multi-row upsert in a transaction has
            // one) in memory, not in a temp file written page by page.
            .pragma("temp_store", "MEMORY")
            .thread_name(|id| format!("{DB_THREAD}-{id}"));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|_, _| {
                Box::pin(async {
                    // The verify path needs no database: see `priority`.
                    crate::priority::lower_threads_named(DB_THREAD);
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord> {
    let opt_time = |c: &str| -> Result<Option<DateTime<Utc>>> {
        Ok(row.try_get::<Option<i64>, _>(c)?.map(from_millis))
    };
    let resources: Vec<String> =
        serde_json::from_str(row.try_get("resources")?).map_err(corrupt)?;
    let rate_limit: Option<String> = row.try_get("rate_limit")?;
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
        expires_at: opt_time("expires_at")?,
        rate_limit: match rate_limit {
            Some(s) => serde_json::from_str::<RateLimitOverride>(&s).map_err(corrupt)?,
            None => RateLimitOverride::default(),
        },
        created_at: from_millis(row.try_get("created_at")?),
        revoked_at: opt_time("revoked_at")?,
        last_used_at: opt_time("last_used_at")?,
        replaces: row.try_get("replaces")?,
        replaced_by: row.try_get("replaced_by")?,
        quarantine: quarantine_from_row(row)?,
        restrictions: restrictions_from_row(row)?,
    })
}

fn account_from_row(r: &SqliteRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        plan: r.try_get::<&str, _>("plan")?.parse().map_err(corrupt)?,
        created_at: from_millis(r.try_get("created_at")?),
        settings: serde_json::from_str(r.try_get("settings")?).map_err(corrupt)?,
        operator: super::records::operator_fields(
            r.try_get("external_id")?,
            serde_json::from_str(r.try_get("operator")?).map_err(corrupt)?,
        )?,
    })
}

fn token_from_row(r: &SqliteRow) -> Result<OperatorToken> {
    Ok(OperatorToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        hash: KeyHash::from_hex(r.try_get("token_hash")?).ok_or_else(|| corrupt("token_hash"))?,
        last4: r.try_get("last4")?,
        created_at: from_millis(r.try_get("created_at")?),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
    })
}

fn enrollment_from_row(r: &SqliteRow) -> Result<Enrollment> {
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

async fn save_operator_row(conn: &mut sqlx::SqliteConnection, a: &Account) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET name = ?, plan = ?, external_id = ?, operator = ? WHERE id = ?",
    )
    .bind(&a.name)
    .bind(a.plan.as_str())
    .bind(&a.operator.external_id)
    .bind(super::records::operator_json(&a.operator).to_string())
    .bind(&a.id)
    .execute(conn)
    .await
    .map_err(map_external_id)?;
    Ok(())
}

const COUNT_COLUMNS: &str = "success, client_error, server_error, rate_limited, denied, would_deny";

const COUNT_SUMS: &str = "SUM(success) AS success, SUM(client_error) AS client_error, \
     SUM(server_error) AS server_error, SUM(rate_limited) AS rate_limited, SUM(denied) AS denied, \
     SUM(would_deny) AS would_deny";

/// An upsert's tail that adds a row's counts to the bucket's.
const ADD_COUNTS: &str = "ON CONFLICT (key_id, t) DO UPDATE SET success = success + excluded.success, \
     client_error = client_error + excluded.client_error, server_error = server_error + excluded.server_error, \
     rate_limited = rate_limited + excluded.rate_limited, denied = denied + excluded.denied, \
     would_deny = would_deny + excluded.would_deny";

/// The roll-up mark, as a scalar subquery.
const MARK: &str = "(SELECT upto FROM usage_rollup)";

/// An hour or day table's rows in `[from, to)` in one statement (so with
/// the mark of one moment): the rolled-up rows before the mark, then the
/// minutes from the mark on, each as its bucket start `t` (or its `key_id`
/// when `by_key`) and its counts. Binds: `filter`'s value, from, to, then
/// `filter`'s value again and the minutes' `[lo, hi)` ([`minute_bounds`]).
fn rolled_rows(step: Step, filter: &str, by_key: bool) -> String {
    let s = step.seconds();
    let (rolled, minute) = if by_key {
        ("key_id", "key_id".to_string())
    } else {
        ("t", format!("t / {s} * {s} AS t"))
    };
    format!(
        "SELECT {rolled}, {COUNT_COLUMNS} FROM {} WHERE {filter} AND t >= ? AND t < ? AND t < {MARK} \
         UNION ALL SELECT {minute}, {COUNT_COLUMNS} FROM usage_minutes \
         WHERE {filter} AND t >= MAX(?, {MARK}) AND t < ?",
        table(step)
    )
}

fn counts_from_row(r: &SqliteRow) -> Result<Counts> {
    let mut c = Counts::default();
    for o in Outcome::ALL {
        c.0[o.index()] = r.try_get::<i64, _>(o.name())?.max(0) as u64;
    }
    Ok(c)
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

/// A value of a flushed row, bound as a statement parameter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell<'a> {
    Text(&'a str),
    Int(i64),
}

/// `(?, ?), (?, ?)`: placeholders for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row.as_str(); rows].join(", ")
}

/// Runs `statement(values)` once per chunk of `rows`, `values` being the
/// chunk's placeholders, with every row's cells bound in order. The rows
/// travel as bound parameters: no text to format or for SQLite to parse
/// per row (JSON arrays did both: 20-40 % of an idle flush). Full chunks
/// reuse one prepared statement; the last, shorter one is prepared once.
/// Rows go in order of their leading cells, the key id every flushed
/// table's key starts with: neighbouring rows land on neighbouring B-tree
/// pages (20,000 minute rows: inserts in about half the time of hash
/// order, additions to existing rows in ~55 %; bench/README.md).
async fn run_rows<const N: usize>(
    conn: &mut sqlx::SqliteConnection,
    mut rows: Vec<[Cell<'_>; N]>,
    statement: impl Fn(&str) -> String,
) -> Result<()> {
    rows.sort_unstable();
    for chunk in rows.chunks(FLUSH_CHUNK) {
        let sql = statement(&placeholders(chunk.len(), N));
        let mut q = sqlx::query(&sql).persistent(chunk.len() == FLUSH_CHUNK);
        for cell in chunk.iter().flatten() {
            q = match *cell {
                Cell::Text(s) => q.bind(s),
                Cell::Int(n) => q.bind(n),
            };
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds rows into one resolution's table, summing rows of the same bucket
/// first; a statement per chunk of rows, not per key.
async fn add_usage<'a>(
    conn: &mut sqlx::SqliteConnection,
    step: Step,
    rows: impl Iterator<Item = &'a UsageRow>,
) -> Result<()> {
    let mut merged: HashMap<(&str, i64), (&str, Counts)> = HashMap::new();
    for r in rows {
        let t = r.t.div_euclid(step.seconds()) * step.seconds();
        merged
            .entry((r.key_id.as_str(), t))
            .or_insert((r.account_id.as_str(), Counts::default()))
            .1
            .add(&r.counts);
    }
    let data: Vec<[Cell; 9]> = merged
        .into_iter()
        .map(|((key_id, t), (account_id, c))| {
            let [a, b, c, d, e, f] = c.0.map(|n| Cell::Int(as_i64(n)));
            [
                Cell::Text(key_id),
                Cell::Text(account_id),
                Cell::Int(t),
                a,
                b,
                c,
                d,
                e,
                f,
            ]
        })
        .collect();
    run_rows(conn, data, |values| {
        format!(
            "INSERT INTO {} (key_id, account_id, t, {COUNT_COLUMNS}) VALUES {values} {ADD_COUNTS}",
            table(step)
        )
    })
    .await
}

/// Rows per statement in a usage flush. The flush stays one transaction, but
/// its statements are short, so the database thread hands the CPU back
/// between them instead of holding it for the whole batch (the verify path
/// shares the machine with it).
const FLUSH_CHUNK: usize = 256;

/// Hourly breakdown rows plus first/last-seen per value, one statement each
/// per chunk of rows.
async fn add_dimension(
    conn: &mut sqlx::SqliteConnection,
    dim: Dimension,
    rows: &[DimensionRow],
) -> Result<()> {
    let (tbl, col) = dim_table(dim);
    let hourly: Vec<[Cell; 4]> = rows
        .iter()
        .map(|r| {
            [
                Cell::Text(&r.key_id),
                Cell::Int(r.t.div_euclid(3600) * 3600),
                Cell::Text(&r.value),
                Cell::Int(as_i64(r.count)),
            ]
        })
        .collect();
    run_rows(conn, hourly, |values| {
        format!(
            "INSERT INTO {tbl} (key_id, t, {col}, count) VALUES {values} \
             ON CONFLICT (key_id, t, {col}) DO UPDATE SET count = count + excluded.count"
        )
    })
    .await?;
    let seen: Vec<[Cell; 6]> = rows
        .iter()
        .map(|r| {
            [
                Cell::Text(&r.key_id),
                Cell::Text(col),
                Cell::Text(&r.value),
                Cell::Int(r.t),
                Cell::Int(r.t),
                Cell::Int(as_i64(r.count)),
            ]
        })
        .collect();
    run_rows(conn, seen, |values| {
        format!(
            "INSERT INTO key_dimensions (key_id, dimension, value, first_seen, last_seen, count) \
             VALUES {values} ON CONFLICT (key_id, dimension, value) DO UPDATE SET \
             first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen), \
             count = count + excluded.count"
        )
    })
    .await
}

fn alert_from_row(r: &SqliteRow) -> Result<Alert> {
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
        evidence: serde_json::from_str(r.try_get("evidence")?).map_err(corrupt)?,
        created_at: from_millis(r.try_get("created_at")?),
        acknowledged_at: r
            .try_get::<Option<i64>, _>("acknowledged_at")?
            .map(from_millis),
        resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(from_millis),
    })
}

const ALERT_COLUMNS: &str = "id, account_id, key_id, kind, status, message, evidence, created_at, acknowledged_at, resolved_at";

fn audit_from_row(row: &SqliteRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        at: from_millis(row.try_get("at")?),
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        key_id: row.try_get("key_id")?,
        source: row.try_get("source")?,
        detail: serde_json::from_str(row.try_get("detail")?).map_err(corrupt)?,
        event: None,
    })
}

fn quarantine_from_row(row: &SqliteRow) -> Result<Option<crate::model::Quarantine>> {
    let text: Option<String> = row.try_get("quarantine")?;
    text.map(|t| serde_json::from_str(&t).map_err(corrupt))
        .transpose()
}

fn restrictions_from_row(row: &SqliteRow) -> Result<crate::restrictions::KeyRestrictions> {
    let text: Option<String> = row.try_get("restrictions")?;
    Ok(match text {
        Some(t) => serde_json::from_str(&t).map_err(corrupt)?,
        None => Default::default(),
    })
}

fn restrictions_json(k: &KeyRecord) -> Option<String> {
    (!k.restrictions.is_empty()).then(|| serde_json::to_string(&k.restrictions).unwrap_or_default())
}

fn quarantine_json(k: &KeyRecord) -> Option<String> {
    k.quarantine
        .as_ref()
        .map(|q| serde_json::to_string(q).unwrap_or_default())
}

fn resources_json(k: &KeyRecord) -> String {
    let list: Vec<String> = k.resources.iter().map(ToString::to_string).collect();
    serde_json::Value::from(list).to_string()
}

fn rate_limit_json(k: &KeyRecord) -> Option<String> {
    (!k.rate_limit.is_empty()).then(|| serde_json::to_string(&k.rate_limit).unwrap_or_default())
}

fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateHash,
        _ => e.into(),
    }
}

async fn insert_audit(conn: &mut sqlx::SqliteConnection, a: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (account_id, at, actor, action, key_id, source, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.account_id)
    .bind(millis(a.at))
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.key_id)
    .bind(&a.source)
    .bind(a.detail.to_string())
    .execute(&mut *conn)
    .await?;
    if let Some(event) = &a.event {
        webhooks::insert_event_tx(conn, event, None).await?;
    }
    Ok(())
}

/// Adds an alert and, when it is new, the webhook event announcing it.
async fn insert_alert_row(conn: &mut sqlx::SqliteConnection, a: &Alert) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alerts (id, account_id, key_id, kind, status, message, evidence, created_at, \
         acknowledged_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.account_id)
    .bind(&a.key_id)
    .bind(a.kind.as_str())
    .bind(a.status.as_str())
    .bind(&a.message)
    .bind(a.evidence.to_string())
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

async fn insert_key_row(conn: &mut sqlx::SqliteConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, environment, key_hash, last4, scopes, resources, \
         expires_at, rate_limit, created_at, revoked_at, last_used_at, replaces, replaced_by, \
         quarantine, restrictions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(k.last_used_at.map(millis))
    .bind(&k.replaces)
    .bind(&k.replaced_by)
    .bind(quarantine_json(k))
    .bind(restrictions_json(k))
    .execute(conn)
    .await
    .map_err(map_unique)?;
    Ok(())
}

async fn update_key_row(conn: &mut sqlx::SqliteConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = ?, scopes = ?, resources = ?, expires_at = ?, rate_limit = ?, \
         revoked_at = ?, replaced_by = ?, quarantine = ?, restrictions = ? \
         WHERE id = ? AND account_id = ?",
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
fn key_page(rows: &[SqliteRow], limit: u32) -> Result<Page<KeyRecord>> {
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

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, a: &Account, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, plan, created_at, settings, external_id, operator) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(a.plan.as_str())
        .bind(millis(a.created_at))
        .bind(serde_json::to_string(&a.settings).map_err(corrupt)?)
        .bind(&a.operator.external_id)
        .bind(super::records::operator_json(&a.operator).to_string())
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
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn unrevoked_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?");
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
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = ? AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?) AND ',' || scopes || ',' LIKE '%,admin,%' \
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
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys k
             WHERE k.account_id = ?1 AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > ?2)
               AND NOT EXISTS (
                 SELECT 1 FROM api_keys n
                 WHERE n.id = k.replaced_by AND n.revoked_at IS NULL
                   AND (n.expires_at IS NULL OR n.expires_at > ?2)
                   AND NOT EXISTS (
                     SELECT 1 FROM api_keys m
                     WHERE m.id = n.replaced_by AND m.revoked_at IS NULL
                       AND (m.expires_at IS NULL OR m.expires_at > ?2)))",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn key(&self, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ? AND account_id = ?");
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
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
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
        let rows = sqlx::query("SELECT id, name FROM api_keys WHERE account_id = ? ORDER BY seq")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    fn pool_stats(&self) -> (u32, u32) {
        (self.pool.size(), self.pool.num_idle() as u32)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn unrevoked_keys_page(
        &self,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?"
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
             WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
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
        sqlx::query("UPDATE accounts SET settings = ? WHERE id = ?")
            .bind(serde_json::to_string(&account.settings).map_err(corrupt)?)
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
            "UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
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
             VALUES (?, ?, ?, ?, ?, ?)",
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

    async fn operator_token_by_hash(&self, hash: &KeyHash) -> Result<Option<OperatorToken>> {
        let row = sqlx::query("SELECT * FROM operator_tokens WHERE token_hash = ?")
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
            "UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
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
             used_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    async fn enrollment_by_hash(&self, hash: &KeyHash) -> Result<Option<Enrollment>> {
        let row = sqlx::query("SELECT * FROM enrollments WHERE code_hash = ?")
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(enrollment_from_row).transpose()
    }

    async fn redeem_enrollment(&self, r: &Redemption<'_>) -> Result<bool> {
        let e = r.enrollment;
        let used_at = e
            .used_at
            .ok_or_else(|| corrupt("redeem_enrollment needs used_at"))?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE enrollments SET used_at = ?, key_id = ? \
             WHERE id = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(millis(used_at))
        .bind(&e.key_id)
        .bind(&e.id)
        .bind(millis(used_at))
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
        // The batch id first: a write, so this transaction holds the write
        // lock from here on and the check cannot race another writer.
        let mut tx = self.pool.begin().await?;
        let recorded = sqlx::query(
            "INSERT INTO usage_batches (id, at) \
             VALUES (?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            // Written before: its COMMIT went through unacknowledged.
            tx.rollback().await?;
            tracing::info!(batch, "usage batch already written; skipped");
            return Ok(());
        }
        add_usage(&mut tx, Step::Minute, usage.minutes.iter()).await?;
        // Hours and days only for minutes the roll-up has passed already.
        let mark: i64 = sqlx::query_scalar(&format!("SELECT {MARK}"))
            .fetch_one(&mut *tx)
            .await?;
        for step in [Step::Hour, Step::Day] {
            add_usage(&mut tx, step, usage.minutes.iter().filter(|r| r.t < mark)).await?;
        }
        add_dimension(&mut tx, Dimension::Endpoint, &usage.endpoints).await?;
        add_dimension(&mut tx, Dimension::Country, &usage.countries).await?;
        add_dimension(&mut tx, Dimension::Network, &usage.networks).await?;
        add_dimension(&mut tx, Dimension::Reason, &usage.reasons).await?;
        let days: Vec<[Cell; 4]> = counts
            .iter()
            .map(|c| {
                [
                    Cell::Text(&c.key_id),
                    Cell::Text(&c.account_id),
                    Cell::Int(c.day),
                    Cell::Int(as_i64(c.count)),
                ]
            })
            .collect();
        run_rows(&mut tx, days, |values| {
            format!(
                "INSERT INTO key_day_usage (key_id, account_id, day, count) VALUES {values} \
                 ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count"
            )
        })
        .await?;
        let used: Vec<[Cell; 2]> = last_used
            .iter()
            .map(|(id, at)| [Cell::Text(id), Cell::Int(millis(*at))])
            .collect();
        run_rows(&mut tx, used, |values| {
            format!(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(api_keys.last_used_at, 0), v.column2) \
                 FROM (VALUES {values}) AS v WHERE api_keys.id = v.column1"
            )
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>> {
        let rows =
            sqlx::query("SELECT key_id, account_id, day, count FROM key_day_usage WHERE day = ?")
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
                "SELECT t, {COUNT_COLUMNS} FROM usage_minutes WHERE key_id = ? AND t >= ? AND t < ? ORDER BY t"
            ))
            .bind(key_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
        } else {
            self.rolled(
                &format!(
                    "SELECT t, {COUNT_SUMS} FROM ({}) GROUP BY t ORDER BY t",
                    rolled_rows(step, "key_id = ?", false)
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
        let sql = format!(
            "SELECT {col} AS v, SUM(count) AS n FROM {tbl} WHERE key_id = ? AND t >= ? AND t < ? \
             GROUP BY {col} ORDER BY n DESC, v LIMIT ?"
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
            "SELECT t, {col} AS v, count FROM {tbl} WHERE key_id = ? AND t >= ? AND t < ? \
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
                "SELECT t, {COUNT_SUMS} FROM usage_minutes WHERE account_id = ? AND t >= ? AND t < ? \
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
                    "SELECT t, {COUNT_SUMS} FROM ({}) GROUP BY t ORDER BY t",
                    rolled_rows(step, "account_id = ?", false)
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
                "SELECT key_id, {COUNT_SUMS} FROM usage_minutes WHERE account_id = ? AND t >= ? AND t < ? \
                 GROUP BY key_id"
            ))
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
        } else {
            self.rolled(
                &format!(
                    "SELECT key_id, {COUNT_SUMS} FROM ({}) GROUP BY key_id",
                    rolled_rows(step, "account_id = ?", true)
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
            "SELECT key_id, account_id, t, {COUNT_COLUMNS} FROM usage_minutes WHERE t >= ?"
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
            "SELECT value, first_seen, last_seen, count FROM key_dimensions WHERE key_id = ? AND dimension = ?",
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

    async fn roll_up_usage(&self, upto: i64) -> Result<()> {
        let upto = upto.div_euclid(60) * 60;
        let mut tx = self.pool.begin().await?;
        // A write first: the transaction holds the write lock from here on,
        // so no flush comes between reading the mark and moving it.
        let from: i64 = sqlx::query_scalar("UPDATE usage_rollup SET upto = upto RETURNING upto")
            .fetch_one(&mut *tx)
            .await?;
        if upto <= from {
            tx.rollback().await?;
            return Ok(());
        }
        for step in [Step::Hour, Step::Day] {
            let s = step.seconds();
            // One row per key and bucket (a key's account never changes).
            let sql = format!(
                "INSERT INTO {} (key_id, account_id, t, {COUNT_COLUMNS}) \
                 SELECT key_id, MIN(account_id), t / {s} * {s} AS b, {COUNT_SUMS} \
                 FROM usage_minutes WHERE t >= ? AND t < ? GROUP BY key_id, b {ADD_COUNTS}",
                table(step)
            );
            sqlx::query(&sql)
                .bind(from)
                .bind(upto)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE usage_rollup SET upto = ?")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_strangers_audit(&self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM audit_events WHERE account_id IS NULL AND at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "DELETE FROM usage_minutes WHERE t < MIN(?, {MARK})"
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
            sqlx::query(&format!("DELETE FROM {tbl} WHERE t < ?"))
                .bind(hours_before)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM usage_batches \
             WHERE at < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ?",
        )
        .bind(super::BATCH_ID_RETENTION_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn failed_attempts(&self, source: &str) -> Result<Option<(i64, u32)>> {
        let row = sqlx::query("SELECT window_start, count FROM failed_attempts WHERE source = ?")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("window_start")?, r.try_get("count")?)))
            .transpose()
    }

    async fn add_failed_attempt(&self, source: &str, now: i64, window: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO failed_attempts (source, window_start, count) VALUES (?1, ?2, 1) \
             ON CONFLICT (source) DO UPDATE SET \
             count = CASE WHEN failed_attempts.window_start + ?3 <= excluded.window_start \
             THEN 1 ELSE failed_attempts.count + 1 END, \
             window_start = CASE WHEN failed_attempts.window_start + ?3 <= excluded.window_start \
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
        sqlx::query("DELETE FROM failed_attempts WHERE window_start < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn latest_alert(&self, key_id: &str, kind: AlertKind) -> Result<Option<Alert>> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE key_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(key_id)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from_row).transpose()
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
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE account_id = ? {filter} ORDER BY created_at DESC, seq DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn alert(&self, account_id: &str, id: &str) -> Result<Option<Alert>> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE account_id = ? AND id = ?");
        let row = sqlx::query(&sql)
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn set_alert_status(&self, a: &Alert) -> Result<()> {
        sqlx::query(
            "UPDATE alerts SET status = ?, acknowledged_at = ?, resolved_at = ? WHERE id = ?",
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Nice values of this process's database threads.
    fn db_thread_nice() -> Vec<i32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|n| n.starts_with(DB_THREAD))
            })
            .map(|t| {
                let stat = std::fs::read_to_string(t.path().join("stat")).unwrap();
                // Fields after the command name; nice is field 19 of stat.
                let rest = &stat[stat.rfind(')').unwrap() + 2..];
                rest.split(' ').nth(16).unwrap().parse().unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn database_threads_run_below_the_request_path() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nice.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        // Use a few connections at once so the pool opens more than one.
        let (a, b) = tokio::join!(store.day_counts(0), store.day_counts(1));
        a.unwrap();
        b.unwrap();
        let nice = db_thread_nice();
        assert!(!nice.is_empty(), "no {DB_THREAD}-* threads found");
        let want = crate::priority::background_nice();
        assert!(
            nice.iter().all(|&n| n == want),
            "nice {nice:?}, want {want}"
        );
    }
}
