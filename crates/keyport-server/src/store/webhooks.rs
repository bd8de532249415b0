//! The webhook tables behind their own trait (every [`Store`](super::Store)
//! is one): endpoints, the event outbox and the delivery log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::records::{Attempt, DueDelivery, WebhookEvent, WebhookRecord};
use super::Result;
use crate::model::{Alert, AuditEvent, WebhookDelivery};

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()>;
    /// Accounts with an enabled endpoint subscribed to `event_type`: whose
    /// events of that type are worth working out at all.
    async fn subscribed_accounts(
        &self,
        event_type: keyport_core::webhook::EventType,
    ) -> Result<Vec<String>>;
    /// An account's endpoints, oldest first.
    async fn webhooks(&self, account_id: &str) -> Result<Vec<WebhookRecord>>;
    async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<WebhookRecord>>;
    /// Saves url, description, events, enabled and disabled reason.
    async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditEvent) -> Result<()>;
    /// Deletes an endpoint and its delivery log; false when there is none.
    async fn delete_webhook(&self, account_id: &str, id: &str, audit: &AuditEvent) -> Result<bool>;
    /// Writes an event outside any other change (quota thresholds, test
    /// events) with a delivery to each subscribed enabled endpoint, or only
    /// to endpoint `only` whatever it subscribes to. False when nothing was
    /// written: no endpoint wants it, or its dedup name is taken.
    async fn insert_event(&self, event: &WebhookEvent, only: Option<&str>) -> Result<bool>;
    /// An endpoint's deliveries, newest first.
    async fn deliveries(&self, endpoint_id: &str, limit: u32) -> Result<Vec<WebhookDelivery>>;
    async fn delivery(&self, endpoint_id: &str, id: i64) -> Result<Option<WebhookDelivery>>;
    /// Makes a delivery pending and due at `at`; false when there is none.
    async fn retry_delivery(&self, endpoint_id: &str, id: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Pending deliveries due by `now` to enabled endpoints, most overdue first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>>;
    async fn record_attempt(&self, attempt: &Attempt) -> Result<()>;
    /// Whether a delivery to the endpoint succeeded at or after `since`.
    async fn delivered_since(&self, endpoint_id: &str, since: DateTime<Utc>) -> Result<bool>;
    /// Disables an enabled endpoint with `reason` and raises `alert` (with
    /// its event), in one transaction; false when it was not enabled.
    async fn disable_webhook(&self, endpoint_id: &str, reason: &str, alert: &Alert)
        -> Result<bool>;
    /// Drops finished deliveries, and events with no delivery left, older
    /// than `before`.
    async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<()>;
}
