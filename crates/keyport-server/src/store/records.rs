//! The rows the store reads and writes that are not domain records: usage
//! batches and day counts. The store owns them, so it depends on nothing
//! above it (the usage recorder builds them; the detector reads them), and the
//! entries of the change feed.

use keyport_core::Counts;

/// Usage rows for the database, keyed by bucket start (unix seconds).
#[derive(Debug, Default, Clone)]
pub struct UsageBatch {
    pub minutes: Vec<UsageRow>,
    pub endpoints: Vec<DimensionRow>,
    pub countries: Vec<DimensionRow>,
    /// Callers' networks (`198.51.100.0/24`).
    pub networks: Vec<DimensionRow>,
    /// Why a report-only proposal would have refused requests.
    pub reasons: Vec<DimensionRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key_id: String,
    pub account_id: String,
    pub t: i64,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionRow {
    pub key_id: String,
    /// Minute start, unix seconds.
    pub t: i64,
    pub value: String,
    pub count: u64,
}

impl UsageBatch {
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
            && self.endpoints.is_empty()
            && self.countries.is_empty()
            && self.networks.is_empty()
            && self.reasons.is_empty()
    }
}

/// Admitted requests of one key on one UTC day, as a delta to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub key_id: String,
    pub account_id: String,
    pub day: i64,
    pub count: u64,
}

/// What changed, in an entry of the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Key,
    Account,
}

/// One entry of the change feed: a key or an account changed; readers
/// reload it from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed. Handed out when the change is written and
    /// visible at commit, so a lower one can appear after a higher one.
    pub seq: i64,
    pub kind: ChangeKind,
    /// The key's or the account's id.
    pub id: String,
    pub account_id: String,
    /// Written by this instance (whose cache took the change as it wrote).
    pub own: bool,
}

/// A vendor's operator credential as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    pub id: String,
    pub name: String,
    pub hash: keyport_core::KeyHash,
    pub last4: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A one-time enrollment code as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub id: String,
    pub account_id: String,
    pub code_hash: keyport_core::KeyHash,
    /// The operator token's id, or `cli`.
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The admin key the code registered.
    pub key_id: Option<String>,
}

/// What [`Store::redeem_enrollment`](super::Store::redeem_enrollment) writes
/// in one transaction: the code marked used, the new admin key, the keys it
/// revokes, and their audit events.
#[derive(Debug, Clone)]
pub struct Redemption<'a> {
    pub enrollment: &'a Enrollment,
    pub key: &'a crate::model::KeyRecord,
    pub revoked: &'a [crate::model::KeyRecord],
    pub audits: &'a [crate::model::AuditEvent],
}

/// An account's operator fields as stored: JSON beside the `external_id`
/// column (which has a unique index of its own).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct StoredOperator {
    #[serde(skip_serializing_if = "Option::is_none")]
    suspended_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspension_reason: Option<String>,
    #[serde(skip_serializing_if = "keyport_core::RateLimitOverride::is_empty")]
    rate_limit: keyport_core::RateLimitOverride,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_cap: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<i64>,
}

/// The JSON stored for an account's operator fields.
pub(crate) fn operator_json(f: &crate::model::OperatorFields) -> serde_json::Value {
    use crate::clock::millis;
    let stored = StoredOperator {
        suspended_at: f.suspended.as_ref().map(|s| millis(s.at)),
        suspension_reason: f.suspended.as_ref().map(|s| s.reason.clone()),
        rate_limit: f.rate_limit,
        key_cap: f.key_cap,
        deleted_at: f.deleted_at.map(millis),
    };
    serde_json::to_value(stored).unwrap_or_default()
}

/// An account's operator fields from their stored JSON and column.
pub(crate) fn operator_fields(
    external_id: Option<String>,
    json: serde_json::Value,
) -> Result<crate::model::OperatorFields, super::StoreError> {
    use crate::clock::from_millis;
    let s: StoredOperator = serde_json::from_value(json)
        .map_err(|e| super::StoreError::Corrupt(format!("accounts.operator: {e}")))?;
    Ok(crate::model::OperatorFields {
        external_id,
        suspended: s.suspended_at.map(|at| crate::model::Suspension {
            at: from_millis(at),
            reason: s.suspension_reason.unwrap_or_default(),
        }),
        rate_limit: s.rate_limit,
        key_cap: s.key_cap,
        deleted_at: s.deleted_at.map(from_millis),
    })
}

/// A webhook endpoint as stored, with the secret it signs with.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<keyport_core::webhook::EventType>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// `whsec_…`: shown once at creation, kept to sign deliveries.
    pub secret: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Subscribed types as stored: between commas, so `LIKE '%,type,%'` finds
/// the subscribers of a type on SQLite and PostgreSQL alike.
pub(crate) fn events_column(events: &[keyport_core::webhook::EventType]) -> String {
    let mut s = String::from(",");
    for e in events {
        s.push_str(e.as_str());
        s.push(',');
    }
    s
}

pub(crate) fn events_from_column(
    s: &str,
) -> Result<Vec<keyport_core::webhook::EventType>, super::StoreError> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(super::StoreError::Corrupt))
        .collect()
}

/// An event on its way out, written in the transaction of the change it
/// announces; delivered to every enabled endpoint of its account that
/// subscribes to its type at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `msg_…`: the `webhook-id` header, the same on every attempt.
    pub id: String,
    pub account_id: String,
    pub event_type: keyport_core::webhook::EventType,
    /// The exact body sent (and signed).
    pub payload: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// A name for events announced once per episode: a second event with
    /// the same name is not written.
    pub dedup: Option<String>,
}

/// A delivery whose attempt is due, with what the attempt needs.
#[derive(Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub attempts: u32,
    pub event_id: String,
    pub event_type: keyport_core::webhook::EventType,
    pub payload: String,
    pub event_created_at: chrono::DateTime<chrono::Utc>,
    pub endpoint_id: String,
    pub account_id: String,
    pub url: String,
    pub secret: String,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u32,
    /// `None`: delivered. `Some(Some(t))`: try again at `t`. `Some(None)`:
    /// no attempt left, failed.
    pub retry: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

/// The status an attempt leaves its delivery in, and the next attempt's
/// time (unix ms).
pub(crate) fn attempt_status(a: &Attempt) -> (&'static str, Option<i64>) {
    match a.retry {
        None => ("delivered", None),
        Some(Some(next)) => ("pending", Some(crate::clock::millis(next))),
        Some(None) => ("failed", None),
    }
}
