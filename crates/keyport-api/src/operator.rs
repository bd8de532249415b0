//! The vendor's side of the API: accounts and plans under `/v1/operator/`
//! (operator tokens only), and enrollment, which lets a customer's portal
//! register its own admin key with a one-time code (`/v1/enroll`).

use chrono::{DateTime, Utc};
use keyport_core::Plan;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AccountView, KeyView, LimitsView, RateLimitView};

/// Why and since when an account is suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suspension {
    pub at: DateTime<Utc>,
    /// Shown to the customer on every management call (and in the portal).
    pub reason: String,
}

/// An account's requests by outcome over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageSummary {
    /// Every counted request, refused ones too.
    pub total: u64,
    /// Requests the limits admitted (what counts against daily quotas).
    pub admitted: u64,
    pub rate_limited: u64,
    pub denied: u64,
}

/// An account as its operator sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperatorAccount {
    pub id: String,
    pub name: String,
    #[schema(value_type = crate::schema::PlanSchema)]
    pub plan: Plan,
    /// The vendor's own id for the customer (e.g. a billing customer id).
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `null` unless suspended.
    pub suspended: Option<Suspension>,
    /// The limits in force: the plan's, with `rate_limit` laid over them.
    pub limits: LimitsView,
    /// The operator's per-account limits, replacing the plan's (above or below).
    pub rate_limit: Option<RateLimitView>,
    /// Most active keys in force (the plan's unless `key_cap_override`).
    pub key_cap: u32,
    pub key_cap_override: Option<u32>,
    pub active_keys: u32,
    /// Active admin keys: 0 until someone redeems an enrollment code.
    pub admin_keys: u32,
    /// This UTC day so far.
    pub usage_today: UsageSummary,
    /// This UTC month so far (day totals; today's counts arrive within a second).
    pub usage_month: UsageSummary,
}

/// A one-time enrollment code, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentView {
    pub id: String,
    pub account_id: String,
    /// Shown once; only its hash is stored. It cannot call the API.
    pub code: String,
    /// `keyport://enroll?service=…&code=…`: opens the desktop portal on it.
    pub link: String,
    /// The service URL in `link`.
    pub service_url: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/operator/accounts`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    #[schema(schema_with = crate::schema::key_name)]
    pub name: String,
    #[schema(value_type = crate::schema::PlanSchema)]
    pub plan: Plan,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[!-~]{1,200}$")]
    pub external_id: Option<String>,
    /// Hours the first enrollment code is valid (default: the server's, 24).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720)]
    pub enrollment_hours: Option<u32>,
}

/// The new account and its first enrollment code (no key exists yet).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedAccount {
    pub account: OperatorAccount,
    pub enrollment: EnrollmentView,
}

/// `PATCH /v1/operator/accounts/{id}`: only the fields present change;
/// `null` clears an override or the external id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperatorAccount {
    #[serde(default)]
    #[schema(schema_with = crate::schema::key_name_update)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::PlanSchema>)]
    pub plan: Option<Plan>,
    #[serde(
        default,
        deserialize_with = "crate::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, pattern = "^[!-~]{1,200}$")]
    pub external_id: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "crate::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<AccountLimitsSchema>)]
    pub rate_limit: Option<Option<RateLimitView>>,
    #[serde(
        default,
        deserialize_with = "crate::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub key_cap: Option<Option<u32>>,
    /// true suspends (with `suspension_reason`), false resumes.
    #[serde(default)]
    pub suspended: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::reason)]
    pub suspension_reason: Option<String>,
}

/// An account's own limits, replacing the plan's (1 to 1,000,000 a minute).
#[derive(ToSchema)]
#[schema(as = AccountLimits)]
#[allow(dead_code)]
pub struct AccountLimitsSchema {
    #[schema(minimum = 1, maximum = 1000000)]
    per_minute: Option<u32>,
    #[schema(minimum = 1, maximum = 4294967295u32)]
    per_day: Option<u32>,
    #[schema(minimum = 1, maximum = 1000000)]
    burst: Option<u32>,
}

/// `GET /v1/operator/accounts`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperatorAccountList {
    pub accounts: Vec<OperatorAccount>,
    pub next_cursor: Option<String>,
}

/// `DELETE /v1/operator/accounts/{id}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeletedAccount {
    pub id: String,
    /// Keys revoked by the deletion.
    pub revoked_keys: u32,
}

/// `POST /v1/operator/accounts/{id}/enrollments`
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentRequest {
    /// Hours the code is valid (default: the server's, 24).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720)]
    pub hours: Option<u32>,
}

/// `POST /v1/enroll/preview`: what a code would enroll into.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EnrollmentCheck {
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
}

/// What an enrollment code is for, before it is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EnrollmentPreview {
    pub account_id: String,
    pub account_name: String,
    #[schema(value_type = crate::schema::PlanSchema)]
    pub plan: Plan,
    pub expires_at: DateTime<Utc>,
    /// This service's key prefix (`to` for `to_live_…`): the portal makes
    /// the admin key in this format.
    pub key_prefix: String,
    /// The account's active admin keys now (enrolling may revoke them).
    pub admin_keys: u32,
}

/// `POST /v1/enroll`: registers an admin key made on the customer's machine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// SHA-256 of the new admin key, 64 lowercase hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub key_hash: String,
    #[schema(pattern = "^[0-9a-f]{4}$")]
    pub last4: String,
    /// The key's name (default "Admin key (enrolled)").
    #[serde(default)]
    #[schema(schema_with = crate::schema::key_name_update)]
    pub name: Option<String>,
    /// Recovery: revoke every other active admin key of the account.
    #[serde(default)]
    pub revoke_other_admin_keys: bool,
}

/// The account, the registered key and what the enrollment revoked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Enrolled {
    pub account: AccountView,
    pub key: KeyView,
    pub revoked_key_ids: Vec<String>,
}
