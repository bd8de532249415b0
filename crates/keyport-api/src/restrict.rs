//! Restrictions a customer can try on real traffic before enforcing them:
//! report-only proposals, replay against recorded history, and
//! least-privilege suggestions (`/v1/keys/{id}/restrictions…`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A set of restrictions; absent fields leave that part of the key as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    /// Scopes the key would keep (no more than it has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::schema::ScopeSchema>>, min_items = 1)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub scopes: Option<Vec<keyport_core::Scope>>,
    /// `kind:name` resources the key would be limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::resources_restriction)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub resources: Option<Vec<String>>,
    /// IPv4/IPv6 addresses and CIDR networks callers must come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::allowlist_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_ips: Option<Vec<String>>,
    /// Two-letter country codes callers must come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::countries_restriction)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_countries: Option<Vec<String>>,
    /// A lower rate: requests a minute (the burst is the same number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub per_minute: Option<u32>,
}

impl Restriction {
    pub fn is_empty(&self) -> bool {
        self == &Restriction::default()
    }
}

/// A restriction in report-only mode: requests it would refuse are served
/// and counted as `would_deny` until `ends_at`, then it stops counting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Proposal {
    pub restriction: Restriction,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// `PUT /v1/keys/{id}/restrictions/proposal`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    pub restriction: Restriction,
    /// How long to count before it stops on its own (1–30 days, default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 30)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub days: Option<u32>,
}

/// `POST /v1/keys/{id}/restrictions/replay`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub restriction: Restriction,
    /// The window: the last 1–90 days (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 90)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub days: Option<u32>,
}

/// One recorded value (a network, country, endpoint or minute) and its
/// requests in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SeenValue {
    pub value: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    /// The start of the last hour (minute, for rates) it was seen in.
    pub last_seen: DateTime<Utc>,
}

/// What one rule of a restriction would have done to the window's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RuleReplay {
    /// `scope`, `resource`, `ip`, `country` or `rate_limit`.
    pub rule: String,
    /// Requests history shows it would have refused.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refused: u64,
    /// Requests history cannot judge for this rule (see `notes`).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub undetermined: u64,
    /// The biggest refused values, most requests first (at most 5).
    pub examples: Vec<SeenValue>,
}

/// The answer of a replay. Rules are judged on separate hourly breakdowns,
/// so with several rules the refused total is a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ReplayReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Requests the key was served in the window (not the limiter's or
    /// scope refusals).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refused_at_least: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refused_at_most: u64,
    /// `refused_at_most / requests` (0 without traffic).
    pub share: f64,
    pub rules: Vec<RuleReplay>,
    /// What history could not tell, in words.
    pub notes: Vec<String>,
}

/// One narrower setting that would have refused nothing in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Suggestion {
    /// `scope`, `resource`, `ip`, `country` or `rate_limit`.
    pub rule: String,
    /// A short title, e.g. "Drop the write scope".
    pub title: String,
    /// The evidence in words.
    pub detail: String,
    /// Ready to propose (report-only) or replay.
    pub restriction: Restriction,
    /// The values seen that support it, most requests first.
    pub evidence: Vec<SeenValue>,
}

/// `GET /v1/keys/{id}/suggestions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Suggestions {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    pub suggestions: Vec<Suggestion>,
    /// Why something was not suggested (e.g. no gateway traffic to judge
    /// scopes by).
    pub notes: Vec<String>,
}
