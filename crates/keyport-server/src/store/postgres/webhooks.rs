//! The webhook tables on PostgreSQL (see `store::webhooks`): the same
//! statements as on SQLite, in PostgreSQL's terms.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{corrupt, insert_alert_row, insert_audit, Db, PgStore};
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

fn endpoint_from_row(r: &PgRow) -> Result<WebhookRecord> {
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

fn delivery_from_row(r: &PgRow) -> Result<WebhookDelivery> {
    let status: &str = r.try_get("status")?;
    Ok(WebhookDelivery {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get::<&str, _>("type")?.parse().map_err(corrupt)?,
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| corrupt(format!("delivery status {status}")))?,
        attempts: count(r.try_get("attempts")?),
        response_status: r
            .try_get::<Option<i32>, _>("response_status")?
            .and_then(|s| u16::try_from(s).ok()),
        error: r.try_get("error")?,
        latency_ms: r.try_get::<Option<i32>, _>("latency_ms")?.map(count),
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

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

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
    conn: &mut PgConnection,
    e: &WebhookEvent,
    only: Option<&str>,
) -> Result<bool> {
    // After the statement's own parameters: $7 (and $8) in the first, $4
    // (and $5) in the second.
    let filter = |first: u8| match only {
        Some(_) => format!("id = ${first}"),
        None => format!("account_id = ${first} AND events LIKE ${}", first + 1),
    };
    let pattern = format!("%,{},%", e.event_type.as_str());
    let target = |q| bind_target(q, only, &e.account_id, &pattern);
    let sql = format!(
        "INSERT INTO webhook_events (id, account_id, type, payload, created_at, dedup) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
         (SELECT 1 FROM webhook_endpoints WHERE enabled AND {}) ON CONFLICT DO NOTHING",
        filter(7)
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
         next_attempt_at, created_at) SELECT $1, id, account_id, 'pending', 0, $2, $3 \
         FROM webhook_endpoints WHERE enabled AND {}",
        filter(4)
    );
    let at = millis(e.created_at);
    let q = sqlx::query(&sql).bind(&e.id).bind(at).bind(at);
    target(q).execute(&mut *conn).await?;
    Ok(true)
}

impl Db {
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
            "SELECT DISTINCT account_id FROM webhook_endpoints WHERE enabled AND events LIKE $1",
        )
        .bind(format!("%,{},%", event_type.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
    }

    async fn webhooks(&self, account_id: &str) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<WebhookRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2"
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
            "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4, \
             disabled_reason = $5 WHERE id = $6",
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
             (SELECT id FROM webhook_endpoints WHERE account_id = $1 AND id = $2)",
        )
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
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
             WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2"
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
             JOIN webhook_events e ON e.id = d.event_id WHERE d.endpoint_id = $1 AND d.id = $2"
        ))
        .bind(endpoint_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn retry_delivery(&self, endpoint_id: &str, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1 \
             WHERE endpoint_id = $2 AND id = $3",
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
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled \
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    id: r.try_get("id")?,
                    attempts: count(r.try_get("attempts")?),
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
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $1, \
             response_status = $2, error = $3, latency_ms = $4, status = $5, next_attempt_at = $6, \
             delivered_at = CASE WHEN $7 = 'delivered' THEN $8 ELSE delivered_at END WHERE id = $9",
        )
        .bind(millis(a.at))
        .bind(a.response_status.map(i32::from))
        .bind(&a.error)
        .bind(i32::try_from(a.latency_ms).unwrap_or(i32::MAX))
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
            "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1 AND delivered_at >= $2 LIMIT 1",
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
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $1 WHERE id = $2 AND enabled",
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
        sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
            .bind(millis(before))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM webhook_events WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(millis(before))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An INTEGER column that counts something (never negative when written here).
fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let (w, audit) = (w.clone(), audit.clone());
        self.run(|db| async move { db.insert_webhook(&w, &audit).await })
            .await
    }

    async fn subscribed_accounts(
        &self,
        event_type: keyport_core::webhook::EventType,
    ) -> Result<Vec<String>> {
        self.run(|db| async move { db.subscribed_accounts(event_type).await })
            .await
    }

    async fn webhooks(&self, account_id: &str) -> Result<Vec<WebhookRecord>> {
        let account_id = account_id.to_owned();
        self.run(|db| async move { db.webhooks(&account_id).await })
            .await
    }

    async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<WebhookRecord>> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        self.run(|db| async move { db.webhook(&account_id, &id).await })
            .await
    }

    async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        let (w, audit) = (w.clone(), audit.clone());
        self.run(|db| async move { db.update_webhook(&w, &audit).await })
            .await
    }

    async fn delete_webhook(&self, account_id: &str, id: &str, audit: &AuditEvent) -> Result<bool> {
        let (account_id, id, audit) = (account_id.to_owned(), id.to_owned(), audit.clone());
        self.run(|db| async move { db.delete_webhook(&account_id, &id, &audit).await })
            .await
    }

    async fn insert_event(&self, event: &WebhookEvent, only: Option<&str>) -> Result<bool> {
        let (event, only) = (event.clone(), only.map(str::to_owned));
        self.run(|db| async move { db.insert_event(&event, only.as_deref()).await })
            .await
    }

    async fn deliveries(&self, endpoint_id: &str, limit: u32) -> Result<Vec<WebhookDelivery>> {
        let endpoint_id = endpoint_id.to_owned();
        self.run(|db| async move { db.deliveries(&endpoint_id, limit).await })
            .await
    }

    async fn delivery(&self, endpoint_id: &str, id: i64) -> Result<Option<WebhookDelivery>> {
        let endpoint_id = endpoint_id.to_owned();
        self.run(|db| async move { db.delivery(&endpoint_id, id).await })
            .await
    }

    async fn retry_delivery(&self, endpoint_id: &str, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let endpoint_id = endpoint_id.to_owned();
        self.run(|db| async move { db.retry_delivery(&endpoint_id, id, at).await })
            .await
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>> {
        self.run(|db| async move { db.due_deliveries(now, limit).await })
            .await
    }

    async fn record_attempt(&self, attempt: &Attempt) -> Result<()> {
        let attempt = attempt.clone();
        self.run(|db| async move { db.record_attempt(&attempt).await })
            .await
    }

    async fn delivered_since(&self, endpoint_id: &str, since: DateTime<Utc>) -> Result<bool> {
        let endpoint_id = endpoint_id.to_owned();
        self.run(|db| async move { db.delivered_since(&endpoint_id, since).await })
            .await
    }

    async fn disable_webhook(
        &self,
        endpoint_id: &str,
        reason: &str,
        alert: &Alert,
    ) -> Result<bool> {
        let (endpoint_id, reason, alert) =
            (endpoint_id.to_owned(), reason.to_owned(), alert.clone());
        self.run(|db| async move { db.disable_webhook(&endpoint_id, &reason, &alert).await })
            .await
    }

    async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<()> {
        self.run(|db| async move { db.prune_webhooks(before).await })
            .await
    }
}
