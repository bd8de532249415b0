//! Stored records, and the views of them the API answers with. The JSON
//! shapes themselves live in `keyport_api` (shared with the portal and the
//! UI); they are re-exported here, so `crate::model::KeyView` and the like
//! name them throughout the service.

use chrono::{DateTime, Utc};
use keyport_core::{
    Environment, KeyHash, KeyPrefix, Limits, Plan, RateLimitOverride, Resource, ScopeSet,
};

pub use keyport_api::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    pub settings: AccountSettings,
    /// What the vendor set (operator API); the customer cannot change it.
    pub operator: OperatorFields,
}

/// An account's fields only its operator sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperatorFields {
    /// The vendor's own id for the customer (unique when set).
    pub external_id: Option<String>,
    pub suspended: Option<Suspension>,
    /// Replaces the plan's limits field by field.
    pub rate_limit: RateLimitOverride,
    pub key_cap: Option<u32>,
    /// Deleted accounts keep their audit log and usage; all keys are revoked.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Account {
    /// The limits in force: the plan's with the operator's override.
    pub fn limits(&self) -> Limits {
        self.operator.rate_limit.replace(self.plan.limits())
    }

    /// The most active keys in force.
    pub fn key_cap(&self, enterprise: u32) -> u32 {
        self.operator
            .key_cap
            .unwrap_or_else(|| self.plan.key_cap(enterprise))
    }
}

/// A key as stored: never the raw key, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub environment: Environment,
    pub hash: KeyHash,
    pub last4: String,
    pub scopes: ScopeSet,
    pub resources: Vec<Resource>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit: RateLimitOverride,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// Set aside as possibly compromised (see [`KeyRecord::as_quarantined`]).
    pub quarantine: Option<Quarantine>,
    /// IP allowlist, countries and a report-only proposal.
    pub restrictions: crate::restrictions::KeyRestrictions,
}

/// The most requests a minute (and burst) a quarantined key gets.
pub const QUARANTINE_PER_MINUTE: u32 = 10;

impl KeyRecord {
    /// What a quarantined key may still do: read (no write, no admin), at
    /// most [`QUARANTINE_PER_MINUTE`] requests a minute. The verify cache
    /// holds this form, so a verify answer shows the scopes in force.
    pub fn as_quarantined(&self) -> KeyRecord {
        let mut k = self.clone();
        // Read stays only if the key could read: never more than it had.
        let read = keyport_core::Scope::Read;
        k.scopes = keyport_core::ScopeSet::new(if self.scopes.grants(read) {
            vec![read]
        } else {
            vec![]
        });
        let cap = |v: Option<u32>| {
            Some(v.map_or(QUARANTINE_PER_MINUTE, |v| v.min(QUARANTINE_PER_MINUTE)))
        };
        k.rate_limit.per_minute = cap(k.rate_limit.per_minute);
        k.rate_limit.burst = cap(k.rate_limit.burst);
        // Only from where it was used before, inside any allowlist it had.
        if let Some(q) = &self.quarantine {
            let known = keyport_core::restrict::parse_allowlist(&q.networks).unwrap_or_default();
            if !known.is_empty() && self.restrictions.allowed_ips.is_empty() {
                k.restrictions.allowed_ips = known.into();
            }
            if !q.countries.is_empty() && self.restrictions.allowed_countries.is_empty() {
                k.restrictions.allowed_countries = q.countries.clone();
            }
        }
        k
    }

    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The key's limits under its account's.
    pub fn limits(&self, account: Limits) -> Limits {
        self.rate_limit.apply(account)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub account_id: Option<String>,
    pub at: DateTime<Utc>,
    /// A key id, `cli`, or `unknown` for a credential that matched nothing.
    pub actor: String,
    pub action: String,
    pub key_id: Option<String>,
    /// The peer address, or `cli`.
    pub source: Option<String>,
    pub detail: serde_json::Value,
    /// The webhook event announcing this change, written in the same
    /// transaction (never read back).
    pub event: Option<Box<crate::store::WebhookEvent>>,
}

/// An account's active keys against its plan's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCount {
    pub cap: u32,
    pub active: u32,
}

/// What the server lets accounts choose, shown with every account.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerBounds {
    /// The server's alert rules, written out in full.
    pub alert_defaults: keyport_core::anomaly::AnomalyRules,
    pub max_rotation_days: keyport_core::rotation::RotationPolicy,
}

// ---- the API's views of records ----
//
// `keyport_api` knows nothing of records, so the records make their views.

impl Account {
    /// The account as the API shows it to the holder of `credential_key_id`.
    pub fn view(
        &self,
        credential_key_id: &str,
        keys: KeyCount,
        bounds: &ServerBounds,
    ) -> AccountView {
        let a = self;
        AccountView {
            id: a.id.clone(),
            name: a.name.clone(),
            plan: a.plan,
            limits: a.limits().into(),
            created_at: a.created_at,
            settings: a.settings.clone(),
            credential_key_id: credential_key_id.to_string(),
            key_cap: keys.cap,
            active_keys: keys.active,
            alert_defaults: bounds.alert_defaults.clone(),
            max_rotation_days: bounds.max_rotation_days,
        }
    }
}

impl KeyRecord {
    /// The key as the API shows it (masked: prefix and last four only).
    pub fn view(&self, prefix: &KeyPrefix, account: &Account, now: DateTime<Utc>) -> KeyView {
        let k = self;
        let rotation_due_at = (k.revoked_at.is_none() && k.replaced_by.is_none()).then(|| {
            account
                .settings
                .rotation_days
                .due_at(k.created_at, k.environment)
        });
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            environment: k.environment,
            prefix: prefix.display_prefix(k.environment),
            last4: k.last4.clone(),
            scopes: k.scopes.as_slice().to_vec(),
            resources: k.resources.iter().map(ToString::to_string).collect(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            status: k.status(now),
            rate_limit: (!k.rate_limit.is_empty()).then(|| k.rate_limit.into()),
            effective_limits: k.limits(account.limits()).into(),
            replaces: k.replaces.clone(),
            replaced_by: k.replaced_by.clone(),
            rotation_due_at,
            quarantine: k.quarantine.clone(),
            allowed_ips: k.restrictions.ips(),
            allowed_countries: k.restrictions.allowed_countries.clone(),
            proposal: k.restrictions.proposal.as_ref().map(|p| p.view.clone()),
        }
    }
}

impl From<&AuditEvent> for AuditView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            key_id: e.key_id.clone(),
            source: e.source.clone(),
            detail: e.detail.clone(),
        }
    }
}
