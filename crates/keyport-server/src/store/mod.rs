//! Persistence behind one trait: SQLite (embedded, the default) and
//! PostgreSQL, chosen by the database URL.

mod postgres;
pub mod records;
mod sqlite;
#[cfg(test)]
mod tests;
mod webhooks;

pub use records::{
    Attempt, Change, ChangeKind, DayCount, DimensionRow, DueDelivery, Enrollment, OperatorToken,
    Redemption, UsageBatch, UsageRow, WebhookEvent, WebhookRecord,
};
pub use webhooks::WebhookStore;

/// Bounds on minute start times `[lo, hi)` whose `step` bucket falls in
/// `[from, to)`: a minute's bucket starts at or after `from` exactly when
/// the minute does at or after `from` rounded up to the step.
fn minute_bounds(step: Step, from: i64, to: i64) -> (i64, i64) {
    let s = step.seconds();
    let up = |t: i64| {
        let floor = t.div_euclid(s) * s;
        if floor == t {
            t
        } else {
            floor.saturating_add(s)
        }
    };
    (up(from), up(to))
}

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyport_core::alert::AlertKind;

use crate::model::{Account, Alert, AuditEvent, KeyRecord, Step};
use keyport_core::Counts;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached right now (connection refused, lost or
    /// killed, no free connection in time, the server shutting down): the
    /// call may succeed later, and the pool reconnects by itself.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST[:PORT]/DATABASE"
    )]
    UnsupportedUrl(String),
    #[error("a key with this hash already exists")]
    DuplicateHash,
    #[error("another account has this external id")]
    DuplicateExternalId,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// Errors of the connection rather than of the statement: the database is
/// down, restarting, out of connections, or killed ours.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's SQLSTATEs: class 08 (connection exception), 57P01-03
        // (terminated by an administrator, crash or shutdown, cannot connect
        // now) and class 53 (insufficient resources: too many connections,
        // out of memory or disk).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
        }),
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page of a newest-first listing, and the cursor for the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

#[async_trait]
pub trait Store: WebhookStore + Send + Sync + 'static {
    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;

    /// Connections of the pool: (open, idle), for metrics.
    fn pool_stats(&self) -> (u32, u32);

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
    /// The key with this hash, revoked or not (hashes are unique): what the
    /// scanner and leak reports look up.
    async fn key_by_hash(&self, hash: &keyport_core::KeyHash) -> Result<Option<KeyRecord>>;
    /// (id, name) of every key of an account, revoked ones too.
    async fn key_names(&self, account_id: &str) -> Result<Vec<(String, String)>>;
    /// Keys of an account counted against its plan's cap at `now` (unix ms):
    /// unrevoked and unexpired, except a key draining after a rotation (its
    /// replacement is active and has not itself been rotated). So each
    /// rotation chain has one free slot, and rotating never needs room.
    async fn count_active_keys(&self, account_id: &str, now: i64) -> Result<u32>;
    /// An account's admin keys that are neither revoked nor expired at
    /// `now` (unix ms).
    async fn active_admin_keys(&self, account_id: &str, now: i64) -> Result<Vec<KeyRecord>>;
    /// Every key that is not revoked, a page at a time, newest first: the
    /// verify cache is filled from these at start-up, and the reminders
    /// sweep them, neither holding every row at once.
    async fn unrevoked_keys_page(&self, cursor: Option<i64>, limit: u32)
        -> Result<Page<KeyRecord>>;

    /// Whether changes other processes make arrive through
    /// [`Store::changes_after`] (PostgreSQL, where several instances share
    /// the database). Without a feed this process is the only writer that
    /// matters (SQLite; the CLI only adds keys, found on a cache miss).
    fn has_change_feed(&self) -> bool {
        false
    }
    /// The feed's newest position, to follow it from.
    async fn change_position(&self) -> Result<i64> {
        Ok(0)
    }
    /// Entries after `after`, by position, at most `limit`.
    async fn changes_after(&self, _after: i64, _limit: u32) -> Result<Vec<Change>> {
        Ok(Vec::new())
    }
    /// Returns when a change may have been written (a notification), or
    /// after `timeout`.
    async fn wait_for_change(&self, timeout: std::time::Duration) {
        tokio::time::sleep(timeout).await
    }
    /// The keys named by (account id, key id), revoked ones too, in any
    /// order; missing ones are left out. One query on PostgreSQL.
    async fn keys_by_id(&self, ids: &[(String, String)]) -> Result<Vec<KeyRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for (account_id, id) in ids {
            out.extend(self.key(account_id, id).await?);
        }
        Ok(out)
    }
    /// Drops feed entries older than `keep_ms` by the database's clock.
    async fn prune_changes(&self, _keep_ms: i64) -> Result<()> {
        Ok(())
    }

    async fn append_audit(&self, audit: &AuditEvent) -> Result<()>;
    async fn audit_page(
        &self,
        account_id: &str,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>>;

    /// Saves the fields the customer sets (`settings`) and nothing else, so
    /// an operator's change made meanwhile elsewhere is not written over.
    async fn update_account_settings(&self, account: &Account, audit: &AuditEvent) -> Result<()>;
    /// Saves the fields only the operator sets (name, plan, external id,
    /// suspension, overrides, deletion) and not `settings`, so a customer's
    /// change made meanwhile elsewhere is not written over. Fails with
    /// `DuplicateExternalId` when another account has its external id.
    async fn save_operator_fields(&self, account: &Account, audit: &AuditEvent) -> Result<()>;
    /// Saves the operator fields (the account marked deleted) and revokes every key of it not
    /// yet revoked, at `deleted_at`: one transaction. Answers how many keys
    /// it revoked.
    async fn delete_account(&self, account: &Account, audit: &AuditEvent) -> Result<u32>;

    async fn insert_operator_token(&self, token: &OperatorToken, audit: &AuditEvent) -> Result<()>;
    /// Every operator token, revoked ones too, oldest first.
    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>>;
    async fn operator_token_by_hash(
        &self,
        hash: &keyport_core::KeyHash,
    ) -> Result<Option<OperatorToken>>;
    /// Revokes a token; false when there is no unrevoked token with this id.
    async fn revoke_operator_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool>;

    async fn insert_enrollment(&self, enrollment: &Enrollment, audit: &AuditEvent) -> Result<()>;
    async fn enrollment_by_hash(&self, hash: &keyport_core::KeyHash) -> Result<Option<Enrollment>>;
    /// Marks the code used (only if unused and unexpired at its `used_at`),
    /// adds the key, saves the revoked keys and appends the audit events, in
    /// one transaction. False, with nothing written, when the code was used
    /// (or ran out) in the meantime.
    async fn redeem_enrollment(&self, redemption: &Redemption<'_>) -> Result<bool>;

    /// Adds quota counts, usage (minute rows, rolled up into hours and days
    /// in the same transaction) and raises last-used times: one transaction.
    ///
    /// `batch` names this batch (see [`new_batch_id`]) and is recorded in the
    /// same transaction; a batch whose id is already recorded is skipped, so
    /// retrying a batch whose COMMIT went through unacknowledged never counts
    /// it twice. Batch ids are kept a day ([`BATCH_ID_RETENTION_MS`]).
    async fn flush_usage(
        &self,
        batch: &str,
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
    /// A key's hourly breakdown rows in `[from, to)`: (hour, value, count),
    /// by hour.
    async fn dimension_hours(
        &self,
        key_id: &str,
        dim: Dimension,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, u64)>>;
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
    /// breakdowns) before `hours_before`. Day rows are kept. Also forgets
    /// usage batch ids older than [`BATCH_ID_RETENTION_MS`]. Minutes not
    /// rolled up yet are kept whatever `minutes_before` says.
    async fn prune_usage(&self, minutes_before: i64, hours_before: i64) -> Result<()>;
    /// Adds the minute rows from the roll-up mark up to `upto` (unix
    /// seconds, taken down to its minute) into their hour and day rows and
    /// moves the mark there; a mark already at or past `upto` stays.
    ///
    /// Hour and day rows hold every minute before the mark. A flush writes
    /// minute rows only, except for minutes before the mark (late), which
    /// it adds to their hour and day at once; reads of hour and day series
    /// add the minutes from the mark on to the rolled-up rows. So a flush
    /// writes one usage row per key instead of three, and each hour and
    /// day row is written once per roll-up instead of once per flush.
    async fn roll_up_usage(&self, upto: i64) -> Result<()>;
    /// Drops audit rows that belong to no account (failed logins with
    /// unknown credentials, rolled up per minute) older than `before` (unix
    /// ms). Accounts' own audit rows are never deleted.
    async fn prune_strangers_audit(&self, before: i64) -> Result<()>;

    /// The newest alert of a key and kind, whatever its status.
    async fn latest_alert(&self, key_id: &str, kind: AlertKind) -> Result<Option<Alert>>;
    /// Adds an alert; false when an open alert of the same key and kind
    /// exists (another instance raised it first).
    async fn insert_alert(&self, alert: &Alert) -> Result<bool>;

    /// A source's failed attempts in its current window: (window start in
    /// unix seconds, count); `None` when it has none on record.
    async fn failed_attempts(&self, source: &str) -> Result<Option<(i64, u32)>>;
    /// Counts a failed attempt of `source` at `now` (unix seconds): in its
    /// window if that started less than `window` seconds ago, else in a new
    /// one. One statement, so instances counting at once lose nothing.
    async fn add_failed_attempt(&self, source: &str, now: i64, window: i64) -> Result<()>;
    /// Forgets windows that started before `before` (unix seconds).
    async fn prune_failed_attempts(&self, before: i64) -> Result<()>;

    /// Takes or renews the lease `name` for `holder` for `ttl_ms` (database
    /// clock): true when `holder` has it now. A lease another holder let run
    /// out is taken over. Without several instances (SQLite) always true.
    async fn take_lease(&self, _name: &str, _holder: &str, _ttl_ms: i64) -> Result<bool> {
        Ok(true)
    }
    /// Gives the lease up if `holder` has it, so another instance need not
    /// wait for it to run out.
    async fn release_lease(&self, _name: &str, _holder: &str) -> Result<()> {
        Ok(())
    }
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
    Network,
    /// A report-only proposal's refusal reasons.
    Reason,
}

/// A fresh usage batch id: 128 random bits in hex.
pub fn new_batch_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How long the ids of written usage batches are remembered (database
/// clock). A failed batch is retried on every flush (each second) until
/// one succeeds, so its id is needed for as long as the database stays
/// out of this process's reach: a day covers any outage it rides out, and
/// keeps the table small (one row per flush that had something to write).
pub const BATCH_ID_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// Connection pool settings (the PostgreSQL store; SQLite keeps its own
/// small pool of 4, a file needs no more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections one process opens.
    pub max_connections: u32,
    /// How long a call waits for a connection before it fails as
    /// [`StoreError::Unavailable`] (the API answers 503 `unavailable`).
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Opens the store a database URL names, with the default pool.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    open_with(url, PoolConfig::default()).await
}

/// Opens the store a database URL names: `sqlite://PATH` or
/// `postgres://…` / `postgresql://…`. Runs its migrations.
pub async fn open_with(url: &str, pool: PoolConfig) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::open(url, pool).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
