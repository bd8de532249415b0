//! Persistence behind one trait, so a PostgreSQL backend can be added without
//! touching the service or the handlers.

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Account, AuditEvent, KeyRecord};

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
    /// Every key that is not revoked: the verify cache is built from these.
    async fn unrevoked_keys(&self) -> Result<Vec<KeyRecord>>;

    async fn append_audit(&self, audit: &AuditEvent) -> Result<()>;
    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>>;

    /// Adds usage deltas and raises last-used times, in one transaction.
    async fn flush_usage(
        &self,
        counts: &[DayCount],
        last_used: &[(String, DateTime<Utc>)],
    ) -> Result<()>;
    /// Admitted requests per key on one UTC day.
    async fn day_counts(&self, day: i64) -> Result<Vec<DayCount>>;
}

/// Opens the store a database URL names.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
