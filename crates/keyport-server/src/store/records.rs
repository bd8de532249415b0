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
        self.minutes.is_empty() && self.endpoints.is_empty() && self.countries.is_empty()
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
}
