//! Restrictions tried before they are enforced: report-only proposals on
//! the request path, replay against history, least-privilege suggestions,
//! and the known places a quarantined key is held to.

use chrono::{DateTime, Duration, Utc};
use keyport_core::limiter::{Gcra, GcraOutcome};
use keyport_core::restrict::{Facts, Refusal};
use keyport_core::{Outcome, Scope};
use serde_json::json;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::{Cached, KeyService};
use crate::admin::Admin;
use crate::clock::from_nanos;
use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::restrictions::{self, ActiveProposal, History, Parsed};
use crate::store::Dimension;

/// Who is calling, as far as the request path knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub ip: Option<IpAddr>,
    pub country: Option<&'a str>,
}

/// Longest report-only period, and the default.
const MAX_PROPOSAL_DAYS: u32 = 30;
const DEFAULT_PROPOSAL_DAYS: u32 = 7;
/// Longest replay or suggestion window.
const MAX_HISTORY_DAYS: u32 = 90;
/// How far back "where the key was used" reaches for a quarantine.
const KNOWN_PLACES_DAYS: i64 = 30;

impl KeyService {
    /// What the key's report-only proposal would refuse of an admitted
    /// request, if it is still counting. Its lower rate is this instance's
    /// own GCRA (a proposal is an estimate; enforcing makes it exact).
    pub(super) fn would_refuse(
        &self,
        key: &KeyRecord,
        facts: &Facts<'_>,
        shadow_tat: &AtomicI64,
        now: i64,
    ) -> Option<Refusal> {
        let p = key.restrictions.proposal.as_ref()?;
        if !p.counts_at(from_nanos(now)) {
            return None;
        }
        if let Some(r) = p.parsed.rules().check(facts) {
            return Some(r);
        }
        let limit = p.parsed.per_minute?;
        match Gcra::new(limit, limit).check(shadow_tat.load(Ordering::Relaxed), now) {
            GcraOutcome::Allowed { new_tat, .. } => {
                shadow_tat.store(new_tat, Ordering::Relaxed);
                None
            }
            GcraOutcome::Denied { .. } => Some(Refusal::RateLimit),
        }
    }

    /// Starts (or replaces) a key's report-only proposal for `days`.
    pub async fn propose_restriction(
        &self,
        admin: &Admin,
        id: &str,
        req: ProposeRequest,
    ) -> Result<KeyView> {
        let days = req.days.unwrap_or(DEFAULT_PROPOSAL_DAYS);
        if !(1..=MAX_PROPOSAL_DAYS).contains(&days) {
            return Err(ServiceError::Invalid(format!(
                "days: between 1 and {MAX_PROPOSAL_DAYS}"
            )));
        }
        let _w = self.writes.lock().await;
        let mut key = self.changeable_key(admin, id).await?;
        let parsed = self.narrowing(&key, admin, &req.restriction)?;
        let now = self.stamp();
        let view = Proposal {
            restriction: parsed.to_restriction(),
            started_at: now,
            ends_at: now + Duration::days(i64::from(days)),
        };
        let detail =
            json!({"name": key.name, "restriction": view.restriction, "ends_at": view.ends_at});
        key.restrictions.proposal = Some(Box::new(ActiveProposal { view, parsed }));
        self.save_restricted(admin, key, "key.propose", detail)
            .await
    }

    /// Drops a key's proposal; nothing about the key changes.
    pub async fn drop_proposal(&self, admin: &Admin, id: &str) -> Result<KeyView> {
        let _w = self.writes.lock().await;
        let mut key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        let Some(p) = key.restrictions.proposal.take() else {
            return Ok(self.view(&key, &admin.account));
        };
        let detail = json!({"name": key.name, "restriction": p.view.restriction});
        self.save_restricted(admin, key, "key.proposal_drop", detail)
            .await
    }

    /// Makes a key's proposal its rules, in one change.
    pub async fn enforce_proposal(&self, admin: &Admin, id: &str) -> Result<KeyView> {
        let _w = self.writes.lock().await;
        let mut key = self.changeable_key(admin, id).await?;
        let Some(p) = key.restrictions.proposal.take() else {
            return Err(ServiceError::Conflict(
                "this key has no proposed restriction to enforce".into(),
            ));
        };
        // Checked again: the key may have changed since it was proposed.
        let parsed = self.narrowing(&key, admin, &p.view.restriction)?;
        let limits = self.current_account(admin).limits();
        let burst_now = key.limits(limits).burst;
        apply(&mut key, &parsed, burst_now);
        let detail = json!({"name": key.name, "restriction": p.view.restriction});
        self.save_restricted(admin, key, "key.restrict", detail)
            .await
    }

    /// What `req.restriction` would have refused of the key's recorded
    /// traffic over the last `days`.
    pub async fn replay_restriction(
        &self,
        admin: &Admin,
        id: &str,
        req: ReplayRequest,
    ) -> Result<ReplayReport> {
        let key = self.own_key(admin, id).await?;
        let parsed = Parsed::from_restriction(&req.restriction).map_err(ServiceError::Invalid)?;
        if parsed == Parsed::default() {
            return Err(ServiceError::Invalid(
                "restriction: give at least one rule to replay".into(),
            ));
        }
        let (from, to) = self.history_window(req.days, 7)?;
        let h = self
            .history(&key.id, from, to, parsed.per_minute.is_some())
            .await?;
        let (rules, notes) = restrictions::replay(&parsed, &h);
        Ok(restrictions::report(from, to, h.served, rules, notes))
    }

    /// Narrower settings that would have refused nothing of the key's use
    /// over the last `days` (default 30).
    pub async fn key_suggestions(
        &self,
        admin: &Admin,
        id: &str,
        days: Option<u32>,
    ) -> Result<Suggestions> {
        let key = self.own_key(admin, id).await?;
        let (from, to) = self.history_window(days, 30)?;
        let h = self.history(&key.id, from, to, true).await?;
        let per_minute = key.limits(self.current_account(admin).limits()).per_minute;
        let (suggestions, notes) = restrictions::suggest(&key, per_minute, &h);
        Ok(Suggestions {
            from,
            to,
            requests: h.served,
            suggestions,
            notes,
        })
    }

    /// The networks and countries an active key was used from over the
    /// last 30 days, each only when every served request has one recorded
    /// (otherwise limiting to them would refuse callers we cannot name).
    pub(super) async fn known_places(&self, key: &KeyRecord) -> Result<(Vec<String>, Vec<String>)> {
        let to = self.clock.now();
        let from = to - Duration::days(KNOWN_PLACES_DAYS);
        let h = self.history(&key.id, from, to, false).await?;
        let complete = |rows: &[(i64, String, u64)], bad: &str| {
            let total: u64 = rows.iter().map(|r| r.2).sum();
            total > 0 && total >= h.served && !rows.iter().any(|r| r.1 == bad)
        };
        let values = |rows: &[(i64, String, u64)]| {
            let mut v: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let networks = if complete(&h.networks, crate::recorder::OTHER_ENDPOINT) {
            values(&h.networks)
        } else {
            vec![]
        };
        let countries = if complete(&h.countries, "unknown") {
            values(&h.countries)
        } else {
            vec![]
        };
        Ok((networks, countries))
    }

    fn history_window(
        &self,
        days: Option<u32>,
        default: u32,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let days = days.unwrap_or(default);
        if !(1..=MAX_HISTORY_DAYS).contains(&days) {
            return Err(ServiceError::Invalid(format!(
                "days: between 1 and {MAX_HISTORY_DAYS}"
            )));
        }
        let to = self.clock.now();
        Ok((to - Duration::days(i64::from(days)), to))
    }

    /// A key's recorded use in `[from, to)`, from the hourly tables (and
    /// the minute table when `minutes`).
    async fn history(
        &self,
        key_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        minutes: bool,
    ) -> Result<History> {
        let (f, t) = (from.timestamp().div_euclid(3600) * 3600, to.timestamp() + 1);
        let store = self.store();
        let served = |c: &keyport_core::Counts| {
            c.total() - c.get(Outcome::RateLimited) - c.get(Outcome::Denied)
        };
        let hours = store.usage_series(key_id, Step::Hour, f, t).await?;
        let dims = |d| store.dimension_hours(key_id, d, f, t);
        let mut h = History {
            served: hours.iter().map(|(_, c)| served(c)).sum(),
            endpoints: dims(Dimension::Endpoint).await?,
            countries: dims(Dimension::Country).await?,
            networks: dims(Dimension::Network).await?,
            minutes: vec![],
            minutes_complete: true,
        };
        if minutes {
            let kept = to - Duration::days(i64::from(self.options.minute_retention_days));
            h.minutes_complete = kept <= from;
            h.minutes = store
                .usage_series(key_id, Step::Minute, from.timestamp(), t)
                .await?
                .into_iter()
                .map(|(t, c)| (t, served(&c)))
                .filter(|m| m.1 > 0)
                .collect();
        }
        Ok(h)
    }

    /// An active key the admin may change.
    async fn changeable_key(&self, admin: &Admin, id: &str) -> Result<KeyRecord> {
        let key = self.own_key(admin, id).await?;
        admin.reach.covers(&key)?;
        if key.status(self.clock.now()) != KeyStatus::Active {
            return Err(ServiceError::Conflict(
                "only an active key can be restricted".into(),
            ));
        }
        Ok(key)
    }

    /// Parses a restriction and checks that it only narrows the key.
    fn narrowing(&self, key: &KeyRecord, admin: &Admin, r: &Restriction) -> Result<Parsed> {
        let parsed = Parsed::from_restriction(r).map_err(ServiceError::Invalid)?;
        if parsed == Parsed::default() {
            return Err(ServiceError::Invalid(
                "restriction: give at least one rule".into(),
            ));
        }
        if let Some(scopes) = &parsed.scopes {
            if let Some(s) = scopes.as_slice().iter().find(|s| !key.scopes.grants(**s)) {
                return Err(ServiceError::Invalid(format!(
                    "restriction.scopes: the key does not have {s}; a restriction only narrows"
                )));
            }
            if key.scopes.grants(Scope::Admin) && !scopes.grants(Scope::Admin) {
                return Err(ServiceError::Invalid(
                    "restriction.scopes: an admin key keeps its admin scope (create a narrower \
                     key instead)"
                        .into(),
                ));
            }
        }
        if let (Some(wanted), false) = (&parsed.resources, key.resources.is_empty()) {
            if let Some(r) = wanted.iter().find(|r| !key.resources.contains(r)) {
                return Err(ServiceError::Invalid(format!(
                    "restriction.resources: the key is not allowed {r}; a restriction only narrows"
                )));
            }
        }
        if let Some(limit) = parsed.per_minute {
            let now = key.limits(self.current_account(admin).limits()).per_minute;
            if limit > now {
                return Err(ServiceError::Invalid(format!(
                    "restriction.per_minute: {limit} is above the key's {now} a minute; a \
                     restriction only narrows"
                )));
            }
        }
        Ok(parsed)
    }

    /// Writes a key whose restrictions changed, audited, and caches it.
    async fn save_restricted(
        &self,
        admin: &Admin,
        key: KeyRecord,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<KeyView> {
        let audit = self.audit(
            Some(&admin.account.id),
            &admin.key_id,
            action,
            Some(&key.id),
            admin.source.as_deref(),
            detail,
        );
        self.store.update_key(&key, &audit).await?;
        tracing::info!(account = %key.account_id, key_id = %key.id, action, "key restrictions changed");
        let view = self.view(&key, &admin.account);
        self.by_hash.insert(key.hash, Cached::new(Arc::new(key)));
        Ok(view)
    }
}

/// Applies a parsed restriction to a key; a lower rate also caps the burst.
fn apply(key: &mut KeyRecord, p: &Parsed, burst_now: u32) {
    if let Some(s) = &p.scopes {
        key.scopes = s.clone();
    }
    if let Some(r) = &p.resources {
        key.resources = r.clone();
    }
    if let Some(ips) = &p.allowed_ips {
        key.restrictions.allowed_ips = ips.clone();
    }
    if let Some(c) = &p.allowed_countries {
        key.restrictions.allowed_countries = c.clone();
    }
    if let Some(limit) = p.per_minute {
        key.rate_limit.per_minute = Some(limit);
        key.rate_limit.burst = Some(limit.min(burst_now));
    }
}
