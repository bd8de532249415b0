//! The JSON shapes of Keyport's HTTP API: what the key service's management
//! and verify endpoints take and answer. The service (`keyport-server`), the
//! portal's client (`keyport-portal`) and, through the TypeScript bindings
//! ts-rs generates from them (feature `ts`), the desktop UI all use these
//! types, so they agree on the wire format by construction. The OpenAPI
//! schemas of the types are derived here too (utoipa); the document itself
//! is assembled by the service. No IO: the records as stored, and the
//! conversions from them into these views, stay in the service
//! (`keyport_server::model`).

use chrono::{DateTime, Utc};
pub use keyport_core::alert::{AlertCategory, AlertKind};
pub use keyport_core::anomaly::AnomalyRules;
use keyport_core::hours::BusinessHours;
use keyport_core::rotation::RotationPolicy;
use keyport_core::{Counts, Environment, Limits, Plan, RateLimitOverride};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod operator;
pub use operator::*;
mod webhook;
pub use webhook::*;
mod restrict;
pub use restrict::*;

/// What an account may tune: rotation policy and what "normal" looks like
/// for anomaly detection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AccountSettings {
    /// Days between rotations per environment (default live 90, test/staging 30).
    #[schema(value_type = schema::RotationPolicySchema)]
    pub rotation_days: RotationPolicy,
    /// Business hours; traffic outside them can raise `after_hours` alerts.
    #[schema(value_type = schema::BusinessHoursSchema)]
    pub business_hours: BusinessHours,
    /// ISO country codes keys may be used from; empty means anywhere.
    #[schema(schema_with = schema::countries)]
    pub allowed_countries: Vec<String>,
    /// The account's own alert rules over the server's defaults (fields left
    /// out follow `AccountView.alert_defaults`).
    #[schema(value_type = schema::AnomalyRulesSchema)]
    pub anomaly_rules: AnomalyRules,
    /// What a leak report of one of the account's live keys does at once.
    pub leak_policy: LeakPolicy,
}

/// What happens to a key reported public (`POST /v1/leaks`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakPolicy {
    /// Read-only and slowed until released or revoked, so production keeps
    /// reading while the owner rotates (admin keys are revoked instead).
    #[default]
    Quarantine,
    /// Revoked at once.
    Revoke,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

/// Limits as the API shows them; `per_day: null` is unlimited.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LimitsView {
    pub per_minute: u32,
    pub per_day: Option<u32>,
    pub burst: u32,
}

impl From<Limits> for LimitsView {
    fn from(l: Limits) -> Self {
        Self {
            per_minute: l.per_minute,
            per_day: l.per_day,
            burst: l.burst,
        }
    }
}

/// A key's own limits: each field may only lower the plan's.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitView {
    // The bounds are the largest plan's (enterprise: 1,000 a minute, bursts
    // of 2,000, no daily cap); a key of a smaller plan gets at most its plan's.
    #[schema(minimum = 1, maximum = 1000)]
    pub per_minute: Option<u32>,
    #[schema(minimum = 1, maximum = 4294967295u32)]
    pub per_day: Option<u32>,
    #[schema(minimum = 1, maximum = 2000)]
    pub burst: Option<u32>,
}

impl From<RateLimitView> for RateLimitOverride {
    fn from(v: RateLimitView) -> Self {
        Self {
            per_minute: v.per_minute,
            per_day: v.per_day,
            burst: v.burst,
        }
    }
}

impl From<RateLimitOverride> for RateLimitView {
    fn from(o: RateLimitOverride) -> Self {
        Self {
            per_minute: o.per_minute,
            per_day: o.per_day,
            burst: o.burst,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    #[schema(value_type = schema::PlanSchema)]
    pub plan: Plan,
    pub limits: LimitsView,
    pub created_at: DateTime<Utc>,
    pub settings: AccountSettings,
    /// The id of the admin key this request was made with, so a client can
    /// tell which key is its own credential (and not revoke it by mistake).
    pub credential_key_id: String,
    /// The most active keys the plan allows (a key draining after a rotation
    /// does not count while its replacement is active).
    pub key_cap: u32,
    /// Active keys counted against `key_cap`.
    pub active_keys: u32,
    /// The server's alert rules, every field set: what the account's
    /// unset `anomaly_rules` fields mean.
    #[schema(value_type = schema::AnomalyRulesSchema)]
    pub alert_defaults: AnomalyRules,
    /// The longest rotation period per environment this service lets an
    /// account choose (the vendor's `--max-rotation-days`).
    #[schema(value_type = schema::RotationPolicySchema)]
    pub max_rotation_days: RotationPolicy,
}

/// `PATCH /v1/account`: only the fields present change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UpdateAccountRequest {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::RotationPolicySchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub rotation_days: Option<RotationPolicy>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::BusinessHoursSchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub business_hours: Option<BusinessHours>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::countries_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_countries: Option<Vec<String>>,
    /// Replaces the account's alert rules as a whole; fields left out follow
    /// the server's defaults.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::AnomalyRulesSchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub anomaly_rules: Option<AnomalyRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub leak_policy: Option<LeakPolicy>,
}

/// `POST /v1/account/alerts/preview`: proposed settings (each left out
/// keeps the account's current one) and how far back to look.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AlertPreviewRequest {
    /// 7 or 30 days of stored hourly usage (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 30)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub days: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::AnomalyRulesSchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub anomaly_rules: Option<AnomalyRules>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::BusinessHoursSchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub business_hours: Option<BusinessHours>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::countries_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_countries: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keyport_core::json::only_object_opt"
    )]
    #[schema(value_type = Option<schema::RotationPolicySchema>)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub rotation_days: Option<RotationPolicy>,
}

/// One key in a preview: how many alerts of one kind it would have had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PreviewKey {
    pub key_id: String,
    pub name: String,
    pub last4: String,
    pub alerts: u32,
    /// The first hour one would have been raised.
    pub first_at: DateTime<Utc>,
}

/// Alerts of one kind a set of rules would have raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PreviewKind {
    #[schema(value_type = schema::AlertKindSchema)]
    pub kind: AlertKind,
    pub alerts: u32,
    /// Keys with at least one, most alerts first (at most 20).
    pub keys: Vec<PreviewKey>,
    /// Keys with at least one, all of them.
    pub key_count: u32,
}

/// What one set of settings would have raised: every anomaly kind, zeros
/// included, in a fixed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PreviewTally {
    pub alerts: u32,
    pub key_count: u32,
    pub kinds: Vec<PreviewKind>,
}

/// Active keys due for rotation under a policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RotationTally {
    /// Past their rotation date.
    pub overdue: u32,
    /// Due within the reminder's 14 days.
    pub due_soon: u32,
}

/// The answer of `POST /v1/account/alerts/preview`: the account's current
/// settings and the proposed ones over the same stored history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AlertPreview {
    pub days: u32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub current: PreviewTally,
    pub proposed: PreviewTally,
    pub rotation_current: RotationTally,
    pub rotation_proposed: RotationTally,
    /// Hourly data replayed with the detector's rules: always approximate.
    pub approximate: bool,
    /// What the history could not tell, in plain words.
    pub notes: Vec<String>,
}

/// A key as the API shows it: never a hash, never the raw key.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    #[schema(value_type = schema::EnvironmentSchema)]
    pub environment: Environment,
    /// `to_live_`: the key's non-secret beginning.
    pub prefix: String,
    pub last4: String,
    #[schema(value_type = Vec<schema::ScopeSchema>)]
    pub scopes: Vec<keyport_core::Scope>,
    /// `kind:name` resources; empty means every resource.
    pub resources: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
    /// The key's own limits, or null when it uses the plan's.
    pub rate_limit: Option<RateLimitView>,
    /// The limits that apply: plan and override combined.
    pub effective_limits: LimitsView,
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// When the account's rotation policy wants this key replaced; null for
    /// revoked keys and keys that were already rotated.
    pub rotation_due_at: Option<DateTime<Utc>>,
    /// Set aside as possibly compromised: read-only and at most
    /// 10 requests a minute until released or revoked; null otherwise.
    pub quarantine: Option<Quarantine>,
    /// Networks callers must come from; empty means anywhere. (Defaults
    /// keep answers of a service from before restrictions readable.)
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Countries callers must come from; empty means anywhere.
    #[serde(default)]
    pub allowed_countries: Vec<String>,
    /// A restriction being tried in report-only mode, if any.
    #[serde(default)]
    pub proposal: Option<Proposal>,
}

/// `POST /v1/keys/lookup`: which of these SHA-256 hashes (of keys found in
/// files, say) are keys of the caller's account. Only hashes travel.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLookupRequest {
    /// 1 to 500 lowercase hex SHA-256 digests (a request body is at most 64 KiB).
    #[schema(schema_with = schema::key_hashes)]
    pub hashes: Vec<String>,
}

/// The account's keys among the hashes asked about (others are left out).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyLookup {
    pub keys: Vec<KeyMatch>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyMatch {
    pub hash: String,
    pub key: KeyView,
}

/// Why and since when a key is quarantined.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quarantine {
    pub at: DateTime<Utc>,
    pub reason: String,
    /// `manual`, or `leak_report` with the report's URL in `reason`.
    pub source: String,
    /// The networks the key was used from before (last 30 days): while
    /// quarantined it is refused from anywhere else. Empty: no limit.
    #[serde(default)]
    pub networks: Vec<String>,
    /// Likewise the countries (known ones only).
    #[serde(default)]
    pub countries: Vec<String>,
}

/// `POST /v1/keys/{id}/quarantine`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRequest {
    #[schema(schema_with = schema::quarantine_reason)]
    pub reason: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub key_id: Option<String>,
    pub source: Option<String>,
    #[schema(value_type = Object)]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub detail: serde_json::Value,
}

/// `POST /v1/keys`. With `key_hash` and `last4` the caller generated the key
/// itself (the desktop app does); without them the server generates one.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[schema(schema_with = schema::key_name)]
    pub name: String,
    #[schema(value_type = schema::EnvironmentSchema)]
    pub environment: Environment,
    #[schema(value_type = Vec<schema::ScopeSchema>, min_items = 1, example = json!(["read", "write"]))]
    pub scopes: Vec<keyport_core::Scope>,
    #[serde(default)]
    #[schema(schema_with = schema::resources)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::expires_at)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub rate_limit: Option<RateLimitView>,
    /// SHA-256 (lowercase hex) of a key the caller generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub key_hash: Option<String>,
    /// The last four characters of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{4}$")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub last4: Option<String>,
    /// IP addresses or CIDR networks callers must come from (at most 300).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = schema::allowlist_create)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub allowed_ips: Vec<String>,
    /// Two-letter country codes callers must come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = schema::countries)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub allowed_countries: Vec<String>,
}

/// `PATCH /v1/keys/{id}`: only the fields present change; `null` clears
/// `expires_at` and `rate_limit`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::key_name_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<schema::ScopeSchema>>, min_items = 1)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub scopes: Option<Vec<keyport_core::Scope>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::resources_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub resources: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<RateLimitView>)]
    #[cfg_attr(feature = "ts", ts(as = "Option<RateLimitView>", optional = nullable))]
    pub rate_limit: Option<Option<RateLimitView>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = schema::expires_at)]
    #[cfg_attr(feature = "ts", ts(as = "Option<DateTime<Utc>>", optional = nullable))]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Replaces the IP allowlist; `[]` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::allowlist_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_ips: Option<Vec<String>>,
    /// Replaces the country list; `[]` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::countries_update)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub allowed_countries: Option<Vec<String>>,
}

/// `POST /v1/keys/{id}/rotate`: optionally the hash of a caller-generated key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// SHA-256 (lowercase hex) of a replacement key the caller generated.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub key_hash: Option<String>,
    /// The last four characters of that key.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{4}$")]
    pub last4: Option<String>,
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// 201 answer to create and rotate. `secret` is present only when the server
/// generated the key, and only in this one response.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    pub key: KeyView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

/// `POST /v1/verify`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The raw key to check. It is hashed at once and never stored or logged.
    pub key: String,
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeSchema>)]
    pub scope: Option<keyport_core::Scope>,
    /// A `kind:name` resource the request is about, e.g. `project:alpha`.
    #[serde(default)]
    #[schema(schema_with = schema::verify_resource)]
    pub resource: Option<String>,
    /// The caller's IP address, as your API saw it. Required for a key with
    /// an IP allowlist (without it such a key is refused).
    #[serde(default)]
    #[schema(schema_with = schema::verify_ip)]
    pub ip: Option<String>,
    /// The caller's two-letter country, if your API knows it. Required for
    /// a key limited to certain countries.
    #[serde(default)]
    #[schema(schema_with = schema::verify_country)]
    pub country: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct RateLimitStatus {
    pub limit: u32,
    pub remaining: u64,
    /// Unix seconds.
    pub reset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub key_id: String,
    pub account_id: String,
    #[schema(value_type = schema::EnvironmentSchema)]
    pub environment: Environment,
    #[schema(value_type = Vec<schema::ScopeSchema>)]
    pub scopes: Vec<keyport_core::Scope>,
    pub resources: Vec<String>,
    pub ratelimit: RateLimitStatus,
}

// ---- usage ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Step {
    Minute,
    Hour,
    Day,
}

impl Step {
    pub fn seconds(self) -> i64 {
        match self {
            Step::Minute => 60,
            Step::Hour => 3_600,
            Step::Day => 86_400,
        }
    }
}

/// One bucket of a usage series: requests by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UsagePoint {
    /// Bucket start.
    pub t: DateTime<Utc>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub success: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub client_error: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub server_error: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rate_limited: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub denied: u64,
    /// Served, but a report-only restriction would have refused them.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub would_deny: u64,
}

impl UsagePoint {
    pub fn new(t: DateTime<Utc>, c: &Counts) -> Self {
        Self {
            t,
            success: c.0[0],
            client_error: c.0[1],
            server_error: c.0[2],
            rate_limited: c.0[3],
            denied: c.0[4],
            would_deny: c.0[5],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EndpointCount {
    pub endpoint: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CountryCount {
    pub country: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub count: u64,
}

/// `GET /v1/keys/{id}/usage`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct KeyUsage {
    pub key_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step: Step,
    /// Zero-filled, one per step from `from` (inclusive) to `to` (exclusive).
    pub points: Vec<UsagePoint>,
    /// Gateway endpoints in the window (hour resolution), most used first.
    pub endpoints: Vec<EndpointCount>,
    /// Callers' countries in the window (hour resolution), most used first.
    pub countries: Vec<CountryCount>,
    /// Callers' networks (/24 for IPv4, /48 for IPv6), most used first.
    #[serde(default)]
    pub networks: Vec<NetworkCount>,
    /// Why a report-only restriction would have refused requests.
    #[serde(default)]
    pub would_deny: Vec<ReasonCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NetworkCount {
    pub network: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ReasonCount {
    /// `ip 198.51.100.0/24`, `scope write`, `country FR`, `rate_limit`, …
    pub reason: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub count: u64,
}

/// Per-key totals of one account (`GET /v1/usage`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct KeyTotals {
    pub key_id: String,
    pub name: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub total: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub success: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub client_error: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub server_error: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rate_limited: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub denied: u64,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub would_deny: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AccountUsage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step: Step,
    /// All keys' requests together by outcome, zero-filled like a key's series.
    pub points: Vec<UsagePoint>,
    /// Every key of the account, busiest first (keys without traffic too).
    pub keys: Vec<KeyTotals>,
}

// ---- alerts ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// Whether this instance should take traffic (`GET /readyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok`, `behind` (not read recently enough; verification stops soon
    /// after), or `not_used` (SQLite: one instance).
    pub change_feed: String,
    /// Milliseconds since the change feed was last read to its end.
    pub change_feed_lag_ms: Option<i64>,
    /// `local` (limits kept by this instance alone), `shared` (in Redis,
    /// across instances) or `fallback` (Redis not answering: this instance
    /// limits with its 1/N share of every limit; still ready).
    pub rate_limits: String,
    /// Instances sharing the limits, as seen by the Redis heartbeat.
    pub instances: Option<u32>,
}

/// An anomaly alert or a rotation reminder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Alert {
    pub id: String,
    pub key_id: String,
    #[schema(value_type = schema::AlertKindSchema)]
    pub kind: AlertKind,
    /// Follows from `kind`: anomalies are about a key's traffic, reminders
    /// about its age.
    #[schema(value_type = schema::AlertCategorySchema)]
    pub category: AlertCategory,
    pub status: AlertStatus,
    pub message: String,
    #[schema(value_type = Object)]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub evidence: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub account_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// What the OpenAPI document says about the request and response shapes
/// beyond their Rust types: the bounds the service enforces (so generated
/// requests reach real code), and the types of `keyport_core` (which does
/// not depend on utoipa).
pub mod schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    use utoipa::openapi::{KnownFormat, SchemaFormat};
    use utoipa::ToSchema;

    /// Where a key is used.
    #[derive(ToSchema)]
    #[schema(as = Environment, rename_all = "lowercase")]
    pub enum EnvironmentSchema {
        Live,
        Test,
        Staging,
    }

    /// What a key may do: `read` (GET/HEAD on the gateway), `write` (other
    /// methods), `admin` (the management API; grants read and write too).
    #[derive(ToSchema)]
    #[schema(as = Scope, rename_all = "lowercase")]
    pub enum ScopeSchema {
        Read,
        Write,
        Admin,
    }

    /// What an alert is about (`keyport_core::alert::AlertKind`).
    #[derive(ToSchema)]
    #[schema(as = AlertKind, rename_all = "snake_case")]
    pub enum AlertKindSchema {
        VolumeSpike,
        ErrorSpike,
        NewCountry,
        AfterHours,
        UnusualEndpoint,
        RotationDueSoon,
        RotationOverdue,
        KeyExpiring,
        WebhookFailing,
        LeakReported,
    }

    /// What a webhook announces (`keyport_core::webhook::EventType`).
    #[derive(ToSchema)]
    #[schema(as = EventType)]
    pub enum EventTypeSchema {
        #[schema(rename = "key.created")]
        KeyCreated,
        #[schema(rename = "key.rotated")]
        KeyRotated,
        #[schema(rename = "key.revoked")]
        KeyRevoked,
        #[schema(rename = "key.expiring")]
        KeyExpiring,
        #[schema(rename = "key.rotation_due")]
        KeyRotationDue,
        #[schema(rename = "key.quarantined")]
        KeyQuarantined,
        #[schema(rename = "alert.raised")]
        AlertRaised,
        #[schema(rename = "quota.threshold")]
        QuotaThreshold,
        #[schema(rename = "leak.reported")]
        LeakReported,
        #[schema(rename = "webhook.test")]
        WebhookTest,
    }

    /// A webhook destination: an `https://` URL (plain `http://` and private
    /// addresses only on a server started with `--allow-private-webhooks`).
    pub fn webhook_url(nullable: bool) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, nullable))
            .min_length(Some(8))
            .max_length(Some(2000))
            .examples(["https://hooks.example.com/keyport"])
    }

    pub fn webhook_url_required() -> ObjectBuilder {
        webhook_url(false)
    }

    pub fn webhook_url_update() -> ObjectBuilder {
        webhook_url(true)
    }

    #[derive(ToSchema)]
    #[schema(as = AlertCategory, rename_all = "snake_case")]
    pub enum AlertCategorySchema {
        Anomaly,
        Reminder,
    }

    #[derive(ToSchema)]
    #[schema(as = Plan, rename_all = "lowercase")]
    pub enum PlanSchema {
        Free,
        Starter,
        Professional,
        Enterprise,
    }

    /// Days between rotations per environment, each 1 to 3650.
    #[derive(ToSchema)]
    #[schema(as = RotationPolicy, example = json!({"live": 90, "test": 30, "staging": 30}))]
    pub struct RotationPolicySchema {
        #[schema(minimum = 1, maximum = 3650)]
        pub live: u32,
        #[schema(minimum = 1, maximum = 3650)]
        pub test: u32,
        #[schema(minimum = 1, maximum = 3650)]
        pub staging: u32,
    }

    /// An account's alert rules; every field may be left out or `null`
    /// (the server's default applies).
    #[derive(ToSchema)]
    #[schema(as = AnomalyRules, example = json!({"after_hours": {"enabled": false}, "volume_spike": {"factor": 4.0, "min_requests": 200}}))]
    pub struct AnomalyRulesSchema {
        pub volume_spike: Option<VolumeSpikeRuleSchema>,
        pub error_spike: Option<ErrorSpikeRuleSchema>,
        pub new_country: Option<NewCountryRuleSchema>,
        pub after_hours: Option<AfterHoursRuleSchema>,
        pub unusual_endpoint: Option<UnusualEndpointRuleSchema>,
    }

    /// Many more requests in 10 minutes than the key's usual rate.
    #[derive(ToSchema)]
    #[schema(as = VolumeSpikeRule)]
    pub struct VolumeSpikeRuleSchema {
        pub enabled: Option<bool>,
        /// Times the key's usual rate.
        #[schema(minimum = 1.5, maximum = 100.0)]
        pub factor: Option<f64>,
        /// Fewest requests in the window.
        #[schema(minimum = 1, maximum = 1000000)]
        pub min_requests: Option<u64>,
    }

    /// A much larger share of failed requests than usual.
    #[derive(ToSchema)]
    #[schema(as = ErrorSpikeRule)]
    pub struct ErrorSpikeRuleSchema {
        pub enabled: Option<bool>,
        /// Times the key's usual error share.
        #[schema(minimum = 1.1, maximum = 100.0)]
        pub factor: Option<f64>,
        /// Fewest failed requests in the window.
        #[schema(minimum = 1, maximum = 1000000)]
        pub min_errors: Option<u64>,
    }

    /// Traffic from a never-seen country, or from outside the allowed list.
    #[derive(ToSchema)]
    #[schema(as = NewCountryRule)]
    pub struct NewCountryRuleSchema {
        pub enabled: Option<bool>,
        /// Requests from known countries before a new one counts.
        #[schema(minimum = 0, maximum = 1000000)]
        pub learning_requests: Option<u64>,
    }

    /// Requests outside business hours from a key that normally has none.
    #[derive(ToSchema)]
    #[schema(as = AfterHoursRule)]
    pub struct AfterHoursRuleSchema {
        pub enabled: Option<bool>,
        /// Fewest after-hours requests in the window.
        #[schema(minimum = 1, maximum = 1000000)]
        pub min_requests: Option<u64>,
    }

    /// A never-called endpoint, or repeated scope/resource denials.
    #[derive(ToSchema)]
    #[schema(as = UnusualEndpointRule)]
    pub struct UnusualEndpointRuleSchema {
        pub enabled: Option<bool>,
        /// Requests to known endpoints before a new one counts.
        #[schema(minimum = 0, maximum = 1000000)]
        pub learning_requests: Option<u64>,
        /// Denials in the window that raise it on their own.
        #[schema(minimum = 1, maximum = 1000000)]
        pub denials: Option<u64>,
    }

    /// Business hours in a time zone; `start` must be before `end`.
    #[derive(ToSchema)]
    #[schema(as = BusinessHours, example = json!({"time_zone": "Europe/Berlin", "days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}))]
    pub struct BusinessHoursSchema {
        /// IANA time zone name, e.g. `Europe/Berlin`.
        #[schema(min_length = 1)]
        pub time_zone: String,
        /// ISO week days, 1 = Monday … 7 = Sunday.
        #[schema(schema_with = week_days)]
        pub days: Vec<u8>,
        /// `HH:MM`, local time, inclusive.
        #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        pub start: String,
        /// `HH:MM`, local time, exclusive.
        #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        pub end: String,
    }

    /// An RFC 3339 date-time from 1970-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59Z: the pattern holds the year to 1970–9999, the
    /// service refuses anything outside that range in UTC.
    pub const DATE_PATTERN: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})-";

    pub const DATE_RANGE: &str =
        "RFC 3339, between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z (others are refused).";

    /// `kind:name`: kind `[a-z][a-z0-9_-]{0,31}`, name 1 to 64 of
    /// `[A-Za-z0-9._-]` other than `.` and `..`.
    pub const RESOURCE_PATTERN: &str = concat!(
        "^[a-z][a-z0-9_-]{0,31}:(",
        "[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}",
        "|[.][A-Za-z0-9_-][A-Za-z0-9._-]{0,62}",
        "|[.][.][A-Za-z0-9._-]{1,62})$"
    );

    /// A key name: 1 to 100 characters once leading and trailing white
    /// space is trimmed, none of them control characters, nor invisible or
    /// direction-changing ones (soft hyphen, zero-width, bidi marks,
    /// overrides and isolates, BOM).
    pub const NAME_PATTERN: &str = concat!(
        "^[\\t\\n\\x0b\\x0c\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*",
        // The first and last characters: printable, not white space.
        "[^\\x00-\\x20\\x7f-\\xa0\\xad\\u061c\\u1680\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff\\ufff9-\\ufffb]",
        "(",
        // Between them: printable, white space allowed.
        "[^\\x00-\\x1f\\x7f-\\x9f\\xad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb]{0,98}",
        "[^\\x00-\\x20\\x7f-\\xa0\\xad\\u061c\\u1680\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff\\ufff9-\\ufffb]",
        ")?",
        "[\\t\\n\\x0b\\x0c\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    );

    const NAME_NOTE: &str =
        "1 to 100 characters once leading and trailing white space is trimmed; \
        no control characters, and no invisible or direction-changing ones (zero-width, bidi \
        overrides and isolates, soft hyphen, BOM).";

    fn types(t: Type, nullable: bool) -> SchemaType {
        if nullable {
            SchemaType::from_iter([t, Type::Null])
        } else {
            SchemaType::new(t)
        }
    }

    fn name(nullable: bool) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, nullable))
            .pattern(Some(NAME_PATTERN))
            .description(Some(NAME_NOTE))
            .examples(["billing worker"])
    }

    pub fn key_name() -> ObjectBuilder {
        name(false)
    }

    /// `null` changes nothing, like an absent field.
    pub fn key_name_update() -> ObjectBuilder {
        name(true)
    }

    /// SHA-256 digests of keys, as lowercase hex.
    pub fn key_hashes() -> ArrayBuilder {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9a-f]{64}$")),
            )
            .min_items(Some(1))
            .max_items(Some(500))
    }

    /// Why a key is quarantined: like a name, up to 300 characters.
    pub fn quarantine_reason() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NAME_PATTERN.replace("{0,98}", "{0,298}")))
            .description(Some(
                "1 to 300 characters once trimmed; no control, invisible or direction-changing characters.",
            ))
            .examples(["seen in a public gist"])
    }

    /// A suspension reason: like a name, up to 300 characters; `null` when
    /// resuming.
    pub fn reason() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, true))
            .pattern(Some(NAME_PATTERN.replace("{0,98}", "{0,298}")))
            .description(Some(
                "Shown to the customer: 1 to 300 characters once trimmed; no control, invisible \
                 or direction-changing characters.",
            ))
            .examples(["invoice 1042 is unpaid"])
    }

    fn resource() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(RESOURCE_PATTERN))
            .examples(["project:alpha"])
    }

    fn resource_list(nullable: bool) -> ArrayBuilder {
        ArrayBuilder::new()
            .schema_type(types(Type::Array, nullable))
            .items(resource())
            .max_items(Some(50))
            .description(Some(
                "At most 50 `kind:name` resources (duplicates count once); empty means every resource. \
                 A key limited to `project:alpha` reaches only `/projects/alpha/…` on the gateway.",
            ))
    }

    pub fn resources() -> ArrayBuilder {
        resource_list(false)
    }

    /// `null` changes nothing, like an absent field.
    pub fn resources_update() -> ArrayBuilder {
        resource_list(true)
    }

    pub fn verify_resource() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, true))
            .pattern(Some(RESOURCE_PATTERN))
            .description(Some(
                "A `kind:name` resource the request is about, e.g. `project:alpha`.",
            ))
    }

    /// One allowlist entry: an IPv4 or IPv6 address, or an IPv4 CIDR network
    /// (IPv6 networks are accepted too; JSON Schema has no format for them).
    fn network() -> utoipa::openapi::schema::OneOfBuilder {
        const V4_CIDR: &str = "^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])/(3[0-2]|[12]?[0-9])$";
        const V6_CIDR: &str = "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$";
        let format = |f| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(f)))
        };
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(format(KnownFormat::Ipv4))
            .item(format(KnownFormat::Ipv6))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(V4_CIDR)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(V6_CIDR)),
            )
    }

    /// An IP allowlist in a request (at most 300 entries).
    pub fn allowlist(nullable: bool) -> ArrayBuilder {
        ArrayBuilder::new()
            .schema_type(types(Type::Array, nullable))
            .items(network())
            .max_items(Some(300))
            .description(Some(
                "IPv4/IPv6 addresses and CIDR networks callers must come from (e.g. \
                 203.0.113.0/24, 2001:db8::/32); empty means anywhere.",
            ))
    }

    pub fn allowlist_create() -> ArrayBuilder {
        allowlist(false)
    }

    pub fn allowlist_update() -> ArrayBuilder {
        allowlist(true)
    }

    /// Country codes in a restriction (null: no change).
    pub fn countries_restriction() -> ArrayBuilder {
        ArrayBuilder::new()
            .schema_type(types(Type::Array, true))
            .items(country(true))
            .max_items(Some(250))
    }

    /// Resources in a restriction (null: no change).
    pub fn resources_restriction() -> ArrayBuilder {
        resource_list(true)
    }

    /// The caller's address in a verify: an IPv4 or IPv6 address, or null.
    pub fn verify_ip() -> utoipa::openapi::schema::OneOfBuilder {
        let format = |f| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(f)))
        };
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(format(KnownFormat::Ipv4))
            .item(format(KnownFormat::Ipv6))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "The caller's IP address, as your API saw it. Required for a key with an IP \
                 allowlist (without it such a key is refused).",
            ))
            .examples(["203.0.113.7"])
    }

    /// The caller's country in a verify: two letters (trimmed, any case), or null.
    pub fn verify_country() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, true))
            .pattern(Some("^\\s*[A-Za-z0-9]{2}\\s*$"))
            .description(Some(
                "The caller's two-letter country, if your API knows it. Required for a key \
                 limited to certain countries.",
            ))
    }

    /// A request date: see [`DATE_PATTERN`].
    pub fn date(nullable: bool) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(types(Type::String, nullable))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .pattern(Some(DATE_PATTERN))
            .description(Some(DATE_RANGE))
    }

    pub fn expires_at() -> ObjectBuilder {
        date(true).description(Some(
            "When the key stops working: in the future, and at most 9999-12-31T23:59:59Z \
             (RFC 3339, from 1970-01-01T00:00:00Z). On PATCH, `null` clears it.",
        ))
    }

    fn country(request: bool) -> ObjectBuilder {
        // The service trims and upper-cases what it is sent.
        let pattern = if request {
            "^\\s*[A-Za-z0-9]{2}\\s*$"
        } else {
            "^[A-Z0-9]{2}$"
        };
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .examples(["DE"])
    }

    pub fn countries() -> ArrayBuilder {
        ArrayBuilder::new().items(country(false)).description(Some(
            "ISO 3166 alpha-2 country codes keys may be used from; empty means anywhere.",
        ))
    }

    pub fn countries_update() -> ArrayBuilder {
        ArrayBuilder::new()
            .schema_type(types(Type::Array, true))
            .items(country(true))
            .description(Some(
                "Two-letter country codes (trimmed, any case); empty means anywhere.",
            ))
    }

    fn week_days() -> ArrayBuilder {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(7)),
            )
            .min_items(Some(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The names an enum's OpenAPI schema lists.
    fn listed<T: PartialSchema>() -> Vec<String> {
        let json = serde_json::to_value(T::schema()).unwrap();
        serde_json::from_value(json["enum"].clone()).unwrap()
    }

    #[test]
    fn the_documented_alert_kinds_are_the_ones_the_service_raises() {
        let kinds: Vec<String> = AlertKind::ALL.iter().map(|k| k.to_string()).collect();
        assert_eq!(listed::<schema::AlertKindSchema>(), kinds);
        assert_eq!(
            listed::<schema::AlertCategorySchema>(),
            ["anomaly", "reminder"]
        );
    }

    #[test]
    fn an_alert_is_written_with_its_kind_and_category_names() {
        let alert = Alert {
            id: "alt_1".into(),
            key_id: "key_1".into(),
            kind: AlertKind::AfterHours,
            category: AlertKind::AfterHours.category(),
            status: AlertStatus::Open,
            message: "m".into(),
            evidence: serde_json::json!({}),
            created_at: DateTime::UNIX_EPOCH,
            acknowledged_at: None,
            resolved_at: None,
            account_id: "acct_1".into(),
        };
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["kind"], "after_hours");
        assert_eq!(json["category"], "anomaly");
        assert!(json.get("account_id").is_none());
    }
}
