//! SQLite in WAL mode with `synchronous=FULL`: an acknowledged write is on
//! disk before the response leaves, so it survives `kill -9` and power loss.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyport_core::{KeyHash, RateLimitOverride, Resource, ScopeSet};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

use super::{DayCount, Page, Result, Store, StoreError};
use crate::clock::{from_millis, millis};
use crate::model::{Account, AuditEvent, KeyRecord};

pub struct SqliteStore {
    pool: SqlitePool,
}

const KEY_COLUMNS: &str =
    "seq, id, account_id, name, environment, key_hash, last4, scopes, resources, \
     expires_at, rate_limit, created_at, revoked_at, last_used_at, replaces, replaced_by";

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
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
    })
}

fn account_from_row(r: &SqliteRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        plan: r.try_get::<&str, _>("plan")?.parse().map_err(corrupt)?,
        created_at: from_millis(r.try_get("created_at")?),
    })
}

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
    })
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
        _ => StoreError::Database(e),
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
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_key_row(conn: &mut sqlx::SqliteConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, environment, key_hash, last4, scopes, resources, \
         expires_at, rate_limit, created_at, revoked_at, last_used_at, replaces, replaced_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(conn)
    .await
    .map_err(map_unique)?;
    Ok(())
}

async fn update_key_row(conn: &mut sqlx::SqliteConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = ?, scopes = ?, resources = ?, expires_at = ?, rate_limit = ?, \
         revoked_at = ?, replaced_by = ? WHERE id = ? AND account_id = ?",
    )
    .bind(&k.name)
    .bind(k.scopes.to_csv())
    .bind(resources_json(k))
    .bind(k.expires_at.map(millis))
    .bind(rate_limit_json(k))
    .bind(k.revoked_at.map(millis))
    .bind(&k.replaced_by)
    .bind(&k.id)
    .bind(&k.account_id)
    .execute(conn)
    .await?;
    Ok(())
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
        sqlx::query("INSERT INTO accounts (id, name, plan, created_at) VALUES (?, ?, ?, ?)")
            .bind(&a.id)
            .bind(&a.name)
            .bind(a.plan.as_str())
            .bind(millis(a.created_at))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT id, name, plan, created_at FROM accounts")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, name, plan, created_at FROM accounts WHERE id = ?")
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
        let items = rows
            .iter()
            .map(|r| Ok((r.try_get("seq")?, key_from_row(r)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit))
    }

    async fn unrevoked_keys(&self) -> Result<Vec<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(key_from_row).collect()
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

    async fn flush_usage(
        &self,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
    ) -> Result<()> {
        if counts.is_empty() && last_used.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO key_day_usage (key_id, account_id, day, count) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count",
            )
            .bind(&c.key_id)
            .bind(&c.account_id)
            .bind(c.day)
            .bind(i64::try_from(c.count).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        for (key_id, at) in last_used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(millis(*at))
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        }
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
}
