//! The webhook tables on SQLite (see `store::webhooks`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{corrupt, insert_alert_row, insert_audit, SqliteStore};
use crate::clock::{from_millis, millis};
use crate::model::{Alert, AuditEvent, DeliveryStatus, WebhookDelivery};
use crate::store::records::{
    attempt_status, events_column, events_from_column, Attempt, DueDelivery, WebhookEvent,
    WebhookRecord,
};
use crate::store::{Result, WebhookStore};

const ENDPOINT_COLUMNS: &str =
    "id, account_id, url, description, events, enabled, disabled_reason, secret, created_at";

const DELIVERY_COLUMNS: &str =
    "d.id, d.event_id, e.type, d.status, d.attempts, d.response_status, \
     d.error, d.latency_ms, d.created_at, d.last_attempt_at, d.next_attempt_at, d.delivered_at";

fn endpoint_from_row(r: &SqliteRow) -> Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        events: events_from_column(r.try_get("events")?)?,
        enabled: r.try_get("enabled")?,
        disabled_reason: r.try_get("disabled_reason")?,
        secret: r.try_get("secret")?,
        created_at: from_millis(r.try_get("created_at")?),
    })
}

fn delivery_from_row(r: &SqliteRow) -> Result<WebhookDelivery> {
    let status: &str = r.try_get("status")?;
    Ok(WebhookDelivery {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get::<&str, _>("type")?.parse().map_err(corrupt)?,
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| corrupt(format!("delivery status {status}")))?,
        attempts: r.try_get("attempts")?,
        response_status: r.try_get("response_status")?,
        error: r.try_get("error")?,
        latency_ms: r.try_get("latency_ms")?,
        created_at: from_millis(r.try_get("created_at")?),
        last_attempt_at: r
            .try_get::<Option<i64>, _>("last_attempt_at")?
            .map(from_millis),
        next_attempt_at: r
            .try_get::<Option<i64>, _>("next_attempt_at")?
            .map(from_millis),
        delivered_at: r
            .try_get::<Option<i64>, _>("delivered_at")?
            .map(from_millis),
    })
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the endpoints an event goes to: one by id, or its account's
/// subscribers (a `LIKE` pattern over the events column).
fn bind_target<'q>(
    q: Query<'q>,
    only: Option<&'q str>,
    account: &'q str,
    pattern: &'q str,
) -> Query<'q> {
    match only {
        Some(id) => q.bind(id),
        None => q.bind(account).bind(pattern),
    }
}

/// Writes an event and its deliveries in the caller's transaction (see
/// [`WebhookStore::insert_event`]).
pub(super) async fn insert_event_tx(
    conn: &mut SqliteConnection,
    e: &WebhookEvent,
    only: Option<&str>,
) -> Result<bool> {
    let filter = match only {
        Some(_) => "id = ?",
        None => "account_id = ? AND events LIKE ?",
    };
    let pattern = format!("%,{},%", e.event_type.as_str());
    let target = |q| bind_target(q, only, &e.account_id, &pattern);
    let sql = format!(
        "INSERT INTO webhook_events (id, account_id, type, payload, created_at, dedup) \
         SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS \
         (SELECT 1 FROM webhook_endpoints WHERE enabled AND {filter}) ON CONFLICT DO NOTHING"
    );
    let q = sqlx::query(&sql)
        .bind(&e.id)
        .bind(&e.account_id)
        .bind(e.event_type.as_str())
        .bind(&e.payload)
        .bind(millis(e.created_at))
        .bind(&e.dedup);
    if target(q).execute(&mut *conn).await?.rows_affected() == 0 {
        return Ok(false);
    }
    let sql = format!(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, account_id, status, attempts, \
         next_attempt_at, created_at) SELECT ?, id, account_id, 'pending', 0, ?, ? \
         FROM webhook_endpoints WHERE enabled AND {filter}"
    );
    let at = millis(e.created_at);
    let q = sqlx::query(&sql).bind(&e.id).bind(at).bind(at);
    target(q).execute(&mut *conn).await?;
    Ok(true)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&w.id)
        .bind(&w.account_id)
        .bind(&w.url)
        .bind(&w.description)
        .bind(events_column(&w.events))
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(&w.secret)
        .bind(millis(w.created_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscribed_accounts(
        &self,
        event_type: keyport_core::webhook::EventType,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT account_id FROM webhook_endpoints WHERE enabled AND events LIKE ?",
        )
        .bind(format!("%,{},%", event_type.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
    }

    async fn webhooks(&self, account_id: &str) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ? \
             ORDER BY created_at, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<WebhookRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ? AND id = ?"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET url = ?, description = ?, events = ?, enabled = ?, \
             disabled_reason = ? WHERE id = ?",
        )
        .bind(&w.url)
        .bind(&w.description)
        .bind(events_column(&w.events))
        .bind(w.enabled)
        .bind(&w.disabled_reason)
        .bind(&w.id)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_webhook(&self, account_id: &str, id: &str, audit: &AuditEvent) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = \
             (SELECT id FROM webhook_endpoints WHERE account_id = ? AND id = ?)",
        )
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM webhook_endpoints WHERE account_id = ? AND id = ?")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_event(&self, event: &WebhookEvent, only: Option<&str>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let written = insert_event_tx(&mut tx, event, only).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn deliveries(&self, endpoint_id: &str, limit: u32) -> Result<Vec<WebhookDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.endpoint_id = ? ORDER BY d.id DESC LIMIT ?"
        ))
        .bind(endpoint_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn delivery(&self, endpoint_id: &str, id: i64) -> Result<Option<WebhookDelivery>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id WHERE d.endpoint_id = ? AND d.id = ?"
        ))
        .bind(endpoint_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn retry_delivery(&self, endpoint_id: &str, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ? \
             WHERE endpoint_id = ? AND id = ?",
        )
        .bind(millis(at))
        .bind(endpoint_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.attempts, e.id AS event_id, e.type, e.payload, \
             e.created_at AS event_created_at, w.id AS endpoint_id, w.account_id, w.url, w.secret \
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled \
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    id: r.try_get("id")?,
                    attempts: r.try_get("attempts")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get::<&str, _>("type")?.parse().map_err(corrupt)?,
                    payload: r.try_get("payload")?,
                    event_created_at: from_millis(r.try_get("event_created_at")?),
                    endpoint_id: r.try_get("endpoint_id")?,
                    account_id: r.try_get("account_id")?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, a: &Attempt) -> Result<()> {
        let (status, next) = attempt_status(a);
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, \
             response_status = ?, error = ?, latency_ms = ?, status = ?, next_attempt_at = ?, \
             delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?",
        )
        .bind(millis(a.at))
        .bind(a.response_status)
        .bind(&a.error)
        .bind(a.latency_ms)
        .bind(status)
        .bind(next)
        .bind(status)
        .bind(millis(a.at))
        .bind(a.delivery_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delivered_since(&self, endpoint_id: &str, since: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = ? AND delivered_at >= ? LIMIT 1",
        )
        .bind(endpoint_id)
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn disable_webhook(
        &self,
        endpoint_id: &str,
        reason: &str,
        alert: &Alert,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ? WHERE id = ? AND enabled",
        )
        .bind(reason)
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_alert_row(&mut tx, alert).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?")
            .bind(millis(before))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM webhook_events WHERE created_at < ? AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(millis(before))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
