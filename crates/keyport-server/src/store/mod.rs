//! Persistence behind one trait, so a PostgreSQL backend can be added without
//! touching the service or the handlers.

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::limiter::{UsageBatch, UsageRow};
use crate::model::{Account, Alert, AuditEvent, KeyRecord, Step};
use keyport_core::Counts;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH")]
    UnsupportedUrl(String),
    #[error("a key with this hash already exists")]
    DuplicateHash,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page of a newest-first listing, and the cursor for the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

/// Admitted requests of one key on one UTC day, as a delta to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub key_id: String,
    pub account_id: String,
    pub day: i64,
    pub count: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_account(&self, account: &Account, audit: &AuditEvent) -> Result<()>;
    async fn accounts(&self) -> Result<Vec<Account>>;
    async fn account(&self, id: &str) -> Result<Option<Account>>;

    /// Adds a key. Fails with `DuplicateHash` when the hash is taken.
    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()>;
    /// Saves every mutable field of an existing key (name, scopes, resources,
    /// limits, expiry, revocation, rotation link).
    async fn update_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()>;
    /// Saves the old key's `replaced_by` and adds the new key, atomically.
    async fn rotate_key(&self, old: &KeyRecord, new: &KeyRecord, audit: &AuditEvent) -> Result<()>;
    async fn key(&self, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>>;
    async fn keys_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<KeyRecord>>;
    /// An unrevoked key by hash: the verify cache's fallback for keys another
    /// process (the CLI) added.
    async fn unrevoked_key_by_hash(
        &self,
        hash: &keyport_core::KeyHash,
    ) -> Result<Option<KeyRecord>>;
    /// (id, name) of every key of an account, revoked ones too.
    async fn key_names(&self, account_id: &str) -> Result<Vec<(String, String)>>;
    /// Keys of an account counted against its plan's cap at `now` (unix ms):
    /// unrevoked and unexpired, except a key draining after a rotation (its
    /// replacement is active and has not itself been rotated). So each
    /// rotation chain has one free slot, and rotating never needs room.
    async fn count_active_keys(&self, account_id: &str, now: i64) -> Result<u32>;
    /// Every key that is not revoked: the verify cache is built from these.
    async fn unrevoked_keys(&self) -> Result<Vec<KeyRecord>>;

    async fn append_audit(&self, audit: &AuditEvent) -> Result<()>;
    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>>;

    async fn update_account_settings(&self, account: &Account, audit: &AuditEvent) -> Result<()>;

    /// Adds quota counts, usage (minute rows, rolled up into hours and days
    /// in the same transaction) and raises last-used times: one transaction.
    async fn flush_usage(
        &self,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
        usage: &UsageBatch,
    ) -> Result<()>;
    /// (key, account, endpoint) for every endpoint a key has called.
    async fn known_endpoints(&self) -> Result<Vec<(String, String, String)>>;
    /// Non-empty buckets of one key in `[from, to)` (unix seconds).
    async fn usage_series(
        &self,
        key_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>>;
    /// Most used values of a breakdown in `[from, to)`, hour resolution.
    async fn usage_top(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64)>>;
    /// Non-empty buckets of all keys of one account together in `[from, to)`.
    async fn account_series(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Counts)>>;
    /// Totals per key of one account in `[from, to)` from one resolution's table.
    async fn usage_totals(
        &self,
        account_id: &str,
        step: Step,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, Counts)>>;
    /// Minute rows of every key since `since` (the detector's recent window).
    async fn minutes_since(&self, since: i64) -> Result<Vec<UsageRow>>;
    /// Every value a key has used in a breakdown, with first/last minute seen.
    async fn dimension_history(&self, key_id: &str, dim: Dimension) -> Result<Vec<Seen>>;
    /// Drops minute rows before `minutes_before` and hour rows (and
    /// breakdowns) before `hours_before`. Day rows are kept.
    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()>;
    /// Drops audit rows that belong to no account (failed logins with
    /// unknown credentials, rolled up per minute) older than `before` (unix
    /// ms). Accounts' own audit rows are never deleted.
    async fn prune_strangers_audit(&self, before: i64) -> Result<()>;

    /// The newest alert of a key and kind, whatever its status.
    async fn latest_alert(&self, key_id: &str, kind: &str) -> Result<Option<Alert>>;
    async fn insert_alert(&self, alert: &Alert) -> Result<()>;
    /// Newest first; `open_only` leaves out acknowledged and resolved ones.
    async fn alerts(&self, account_id: &str, open_only: bool, limit: u32) -> Result<Vec<Alert>>;
    async fn alert(&self, account_id: &str, id: &str) -> Result<Option<Alert>>;
    async fn set_alert_status(&self, alert: &Alert) -> Result<()>;
    /// Open alerts of every account, for resolving stale reminders.
    async fn open_alerts(&self) -> Result<Vec<Alert>>;
    /// Admitted requests per key on one UTC day.
    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>>;
}

/// One endpoint or country a key has used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub value: String,
    /// Minute start, unix seconds.
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
}

/// A usage breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Endpoint,
    Country,
}

/// Opens the store a database URL names.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
