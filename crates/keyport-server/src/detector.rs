//! The anomaly detector and rotation reminders: one pass a minute over the
//! stored usage and keys, applying the pure rules of `keyport_core::anomaly`
//! and `keyport_core::rotation`, raising de-duplicated alerts. Its own
//! component over the store and the clock: it reads what every instance has
//! flushed, never one instance's memory, so any one instance can run it.

use chrono::{DateTime, Duration, Utc};
use keyport_core::alert::{AlertCategory, AlertKind};
use keyport_core::anomaly::{detect_for, AnomalyConfig, KeyActivity};
use keyport_core::rotation::{reminders, KeyAge, Reminder, RotationPolicy};
use keyport_core::Counts;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Result;
use crate::model::*;
use crate::store::{Dimension, Store};

/// An anomaly of the same kind on the same key is not raised again within
/// this time of the last one, even once acknowledged: one episode, one alert.
/// How far behind the clock the roll-up of minutes into hours and days
/// stays (see [`Store::roll_up_usage`]).
const ROLLUP_LAG_SECS: i64 = 120;

const COOLDOWN_HOURS: i64 = 24;

/// Keys read per page by the reminders' sweep.
const KEY_PAGE: u32 = 1_000;

/// Days failed logins with unknown credentials (audit rows of no account)
/// are kept.
const STRANGERS_AUDIT_DAYS: i64 = 30;

/// How long change feed entries are kept.
const CHANGES_KEPT_MS: i64 = 86_400_000;

/// What the detector is told: its rules and how long usage is kept.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    pub anomaly: AnomalyConfig,
    /// Minute-resolution usage is kept this many days; hours and breakdowns
    /// `hour_retention_days`; day totals forever.
    pub minute_retention_days: u32,
    pub hour_retention_days: u32,
    /// How long a pass holds the cluster's detector lease: a few times the
    /// interval between passes, so the holder renews it long before it
    /// runs out, and another instance takes over within this if it dies.
    pub lease: std::time::Duration,
    /// The vendor's longest rotation periods: a stored policy longer than
    /// them (set before the bound) counts as the bound.
    pub max_rotation_days: RotationPolicy,
}

pub struct Detector {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: DetectorConfig,
    /// This detector's name in the cluster-wide lease.
    holder: String,
}

/// The lease that makes one detector run per cluster.
const LEASE: &str = "detector";

type Accounts = HashMap<String, Account>;

/// A random id with `prefix`.
fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 10];
    OsRng.fill_bytes(&mut b);
    format!(
        "{prefix}_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn new_alert_id() -> String {
    new_id("alt")
}

/// An open alert of `kind`, for no key yet.
fn new_alert_for(
    kind: AlertKind,
    message: String,
    evidence: serde_json::Value,
    now: DateTime<Utc>,
) -> Alert {
    Alert {
        id: new_alert_id(),
        account_id: String::new(),
        key_id: String::new(),
        kind,
        category: kind.category(),
        status: AlertStatus::Open,
        message,
        evidence,
        created_at: now,
        acknowledged_at: None,
        resolved_at: None,
    }
}

fn new_alert(
    key: &KeyRecord,
    kind: AlertKind,
    message: String,
    evidence: serde_json::Value,
    now: DateTime<Utc>,
) -> Alert {
    Alert {
        account_id: key.account_id.clone(),
        key_id: key.id.clone(),
        ..new_alert_for(kind, message, evidence, now)
    }
}

fn minute_floor(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60) * 60
}

impl Detector {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: DetectorConfig) -> Self {
        Self {
            store,
            clock,
            config,
            holder: new_id("det"),
        }
    }

    /// [`Detector::run`] if this detector holds (or takes) the cluster's
    /// lease; `None` when another instance's detector holds it.
    pub async fn run_if_leader(&self) -> Result<Option<usize>> {
        let ttl = self.config.lease.as_millis() as i64;
        if !self.store.take_lease(LEASE, &self.holder, ttl).await? {
            tracing::debug!("another instance runs the detector");
            return Ok(None);
        }
        self.run().await.map(Some)
    }

    /// Gives the lease up (at shutdown), so another instance takes over on
    /// its next pass.
    pub async fn release(&self) -> Result<()> {
        Ok(self.store.release_lease(LEASE, &self.holder).await?)
    }

    /// One pass over what is stored: anomalies for keys with recent
    /// traffic, reminders for every key, retention. Returns the number of
    /// alerts raised. (Flush first what should be seen.)
    pub async fn run(&self) -> Result<usize> {
        let now = self.clock.now();
        let accounts: Accounts = self
            .store
            .accounts()
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut raised = self.detect_anomalies(now, &accounts).await?;
        raised += self.refresh_reminders(now, &accounts).await?;
        self.quota_thresholds(now, &accounts).await?;
        // Minutes two minutes old are complete here (the flush runs every
        // few seconds); one flushed later still reaches its hour and day.
        self.store
            .roll_up_usage(now.timestamp() - ROLLUP_LAG_SECS)
            .await?;
        let c = &self.config;
        let minutes_before = (now - Duration::days(i64::from(c.minute_retention_days))).timestamp();
        let hours_before = (now - Duration::days(i64::from(c.hour_retention_days))).timestamp();
        self.store.prune_usage(minutes_before, hours_before).await?;
        let strangers_before = crate::clock::millis(now - Duration::days(STRANGERS_AUDIT_DAYS));
        self.store.prune_strangers_audit(strangers_before).await?;
        self.store
            .prune_failed_attempts(now.timestamp() - crate::operator::ATTEMPT_WINDOW_SECS)
            .await?;
        // Followers read the feed within a second; a day is plenty.
        self.store.prune_changes(CHANGES_KEPT_MS).await?;
        Ok(raised)
    }

    async fn detect_anomalies(&self, now: DateTime<Utc>, accounts: &Accounts) -> Result<usize> {
        let cfg = &self.config.anomaly;
        let window_start = minute_floor(now) - 60 * (i64::from(cfg.window_minutes) - 1);
        let mut recent: HashMap<String, (String, Counts, u64)> = HashMap::new();
        for row in self.store.minutes_since(window_start).await? {
            let Some(account) = accounts.get(&row.account_id) else {
                continue;
            };
            let after_hours = match account.settings.business_hours.schedule() {
                Ok(s) if !s.contains(at(row.t)) => row.counts.total(),
                _ => 0,
            };
            let e = recent
                .entry(row.key_id)
                .or_insert((row.account_id, Counts::default(), 0));
            e.1.add(&row.counts);
            e.2 += after_hours;
        }
        let mut raised = 0;
        for (key_id, (account_id, counts, after_hours)) in recent {
            let Some(account) = accounts.get(&account_id) else {
                continue;
            };
            let activity = self
                .activity(account, &key_id, window_start, counts, after_hours)
                .await?;
            for f in detect_for(cfg, &account.settings.anomaly_rules, &activity) {
                let alert = Alert {
                    account_id: account_id.clone(),
                    key_id: key_id.clone(),
                    ..new_alert_for(f.kind.into(), f.message, f.evidence, now)
                };
                if self
                    .raise(alert, Some(Duration::hours(COOLDOWN_HOURS)))
                    .await?
                {
                    raised += 1;
                }
            }
        }
        Ok(raised)
    }

    /// Announces (webhook `quota.threshold`) keys and accounts that used
    /// 80 % and 100 % of today's quota, once each per UTC day: the event's
    /// dedup name makes a later pass, or another instance, write nothing.
    async fn quota_thresholds(&self, now: DateTime<Utc>, accounts: &Accounts) -> Result<()> {
        // Only accounts that listen for it: the rest need no key lookups.
        let listening: HashSet<String> = self
            .store
            .subscribed_accounts(keyport_core::webhook::EventType::QuotaThreshold)
            .await?
            .into_iter()
            .collect();
        if listening.is_empty() {
            return Ok(());
        }
        let day = now.timestamp().div_euclid(86_400);
        let mut counts = self.store.day_counts(day).await?;
        counts.retain(|c| listening.contains(&c.account_id));
        let ids: Vec<(String, String)> = counts
            .iter()
            .map(|c| (c.account_id.clone(), c.key_id.clone()))
            .collect();
        let keys: HashMap<String, KeyRecord> = self
            .store
            .keys_by_id(&ids)
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let mut per_account: HashMap<&str, u64> = HashMap::new();
        let date = now.format("%Y-%m-%d").to_string();
        for c in &counts {
            *per_account.entry(&c.account_id).or_default() += c.count;
            let (Some(account), Some(key)) = (accounts.get(&c.account_id), keys.get(&c.key_id))
            else {
                continue;
            };
            let limit = key.limits(account.limits()).per_day;
            let subject = json!({"scope": "key", "key_id": key.id, "key_name": key.name});
            self.announce_quota(
                &c.account_id,
                &c.key_id,
                subject,
                c.count,
                limit,
                &date,
                now,
            )
            .await?;
        }
        for (account_id, used) in per_account {
            let Some(account) = accounts.get(account_id) else {
                continue;
            };
            let subject = json!({"scope": "account"});
            self.announce_quota(
                account_id,
                account_id,
                subject,
                used,
                account.limits().per_day,
                &date,
                now,
            )
            .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn announce_quota(
        &self,
        account_id: &str,
        subject_id: &str,
        subject: serde_json::Value,
        used: u64,
        limit: Option<u32>,
        date: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return Ok(());
        };
        for percent in [80u64, 100] {
            if used * 100 < u64::from(limit) * percent {
                continue;
            }
            let mut data = subject.clone();
            data["threshold_percent"] = json!(percent);
            data["used"] = json!(used);
            data["limit"] = json!(limit);
            data["day"] = json!(date);
            let mut event = crate::webhooks::new_event(
                account_id,
                keyport_core::webhook::EventType::QuotaThreshold,
                now,
                data,
            );
            event.dedup = Some(format!("quota:{subject_id}:{date}:{percent}"));
            self.store.insert_event(&event, None).await?;
        }
        Ok(())
    }

    /// Gathers one key's window and baseline from the stored usage.
    async fn activity(
        &self,
        account: &Account,
        key_id: &str,
        window_start: i64,
        recent: Counts,
        recent_after_hours: u64,
    ) -> Result<KeyActivity> {
        let cfg = &self.config.anomaly;
        let base_end = window_start.div_euclid(3600) * 3600;
        let base_start = base_end - i64::from(cfg.baseline_days) * 86_400;
        let schedule = account.settings.business_hours.schedule().ok();
        let mut baseline = Counts::default();
        let mut baseline_after_hours = 0;
        for (t, c) in self
            .store
            .usage_series(key_id, Step::Hour, base_start, base_end)
            .await?
        {
            baseline.add(&c);
            if schedule.as_ref().is_some_and(|s| !s.contains(at(t))) {
                baseline_after_hours += c.total();
            }
        }
        let created = self
            .store
            .key(&account.id, key_id)
            .await?
            .map(|k| k.created_at.timestamp())
            .unwrap_or(base_start);
        let baseline_minutes = ((base_end - created.max(base_start)) / 60).max(0) as u64;
        let mut a = KeyActivity {
            recent,
            baseline,
            baseline_minutes,
            recent_after_hours,
            baseline_after_hours,
            ..Default::default()
        };
        let allowed = &account.settings.allowed_countries;
        for seen in self
            .store
            .dimension_history(key_id, Dimension::Country)
            .await?
        {
            if seen.value == "unknown" {
                continue;
            }
            if seen.first_seen >= window_start {
                a.new_countries.push((seen.value.clone(), seen.count));
            } else {
                a.known_country_requests += seen.count;
            }
            if !allowed.is_empty()
                && seen.last_seen >= window_start
                && !allowed.contains(&seen.value)
            {
                a.disallowed_countries.push((seen.value, seen.count));
            }
        }
        for seen in self
            .store
            .dimension_history(key_id, Dimension::Endpoint)
            .await?
        {
            if seen.first_seen >= window_start {
                // Values stored before endpoints were bounded may be long.
                let name = keyport_core::usage::truncate(
                    &seen.value,
                    keyport_core::usage::MAX_ENDPOINT_LEN,
                );
                a.new_endpoints.push((name.to_string(), seen.count));
            } else {
                a.known_endpoint_requests += seen.count;
            }
        }
        a.new_countries.sort();
        a.new_endpoints.sort();
        a.disallowed_countries.sort();
        Ok(a)
    }

    /// Raises reminders that apply and resolves open ones that no longer do
    /// (the key was rotated or revoked, or a stronger reminder replaced it).
    /// Walks the stored keys a page at a time.
    async fn refresh_reminders(&self, now: DateTime<Utc>, accounts: &Accounts) -> Result<usize> {
        let mut due: HashSet<(String, AlertKind)> = HashSet::new();
        let mut raised = 0;
        let mut cursor = None;
        loop {
            let page = self.store.unrevoked_keys_page(cursor, KEY_PAGE).await?;
            for key in &page.items {
                if let Some(account) = accounts.get(&key.account_id) {
                    raised += self.remind(key, account, now, &mut due).await?;
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        for mut a in self.store.open_alerts().await? {
            let stale_reminder =
                a.category == AlertCategory::Reminder && !due.contains(&(a.key_id.clone(), a.kind));
            // A leak is dealt with once the key no longer works (rotated
            // through the compromise flow, or revoked).
            let leak_handled = a.kind == AlertKind::LeakReported
                && self
                    .store
                    .key(&a.account_id, &a.key_id)
                    .await?
                    .is_none_or(|k| k.status(now) != KeyStatus::Active);
            if stale_reminder || leak_handled {
                a.status = AlertStatus::Resolved;
                a.resolved_at = Some(now);
                self.store.set_alert_status(&a).await?;
            }
        }
        Ok(raised)
    }

    /// Raises the reminders one key is due, noting them in `due`.
    async fn remind(
        &self,
        key: &KeyRecord,
        account: &Account,
        now: DateTime<Utc>,
        due: &mut HashSet<(String, AlertKind)>,
    ) -> Result<usize> {
        let age = KeyAge {
            environment: key.environment,
            created_at: key.created_at,
            expires_at: key.expires_at,
            active: key.status(now) == KeyStatus::Active,
            rotated: key.replaced_by.is_some(),
        };
        let policy = &account
            .settings
            .rotation_days
            .capped(&self.config.max_rotation_days);
        let mut raised = 0;
        for r in reminders(policy, &age, now) {
            let kind = AlertKind::from(r);
            due.insert((key.id.clone(), kind));
            let due_at = policy.due_at(key.created_at, key.environment);
            let (message, evidence) =
                reminder_text(r, key, due_at, now, policy.days(key.environment));
            let alert = new_alert(key, kind, message, evidence, now);
            if self.raise(alert, None).await? {
                raised += 1;
            }
        }
        Ok(raised)
    }

    /// Inserts unless the same key and kind already has an open alert, or
    /// (with a cooldown) had one recently, or (without) has one not resolved.
    async fn raise(&self, alert: Alert, cooldown: Option<Duration>) -> Result<bool> {
        if let Some(last) = self.store.latest_alert(&alert.key_id, alert.kind).await? {
            let blocked = match cooldown {
                Some(c) => {
                    last.status == AlertStatus::Open || last.created_at > alert.created_at - c
                }
                None => last.status != AlertStatus::Resolved,
            };
            if blocked {
                return Ok(false);
            }
        }
        // Another instance may have raised it since the check: the store
        // keeps one open alert per key and kind.
        if !self.store.insert_alert(&alert).await? {
            return Ok(false);
        }
        tracing::info!(key_id = %alert.key_id, kind = %alert.kind, "alert raised");
        Ok(true)
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn reminder_text(
    r: Reminder,
    key: &KeyRecord,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    days: u32,
) -> (String, serde_json::Value) {
    let name = &key.name;
    let env = key.environment;
    match r {
        Reminder::RotationDueSoon => (
            format!(
                "{env} key “{name}” is due for rotation in {} days (every {days} days)",
                (due_at - now).num_days().max(0) + 1
            ),
            json!({"rotation_due_at": due_at, "policy_days": days, "environment": env}),
        ),
        Reminder::RotationOverdue => (
            format!(
                "{env} key “{name}” is {} days overdue for rotation (every {days} days)",
                (now - due_at).num_days()
            ),
            json!({"rotation_due_at": due_at, "policy_days": days, "environment": env, "days_overdue": (now - due_at).num_days()}),
        ),
        Reminder::KeyExpiring => {
            let exp = key.expires_at.unwrap_or(now);
            (
                format!(
                    "{env} key “{name}” expires in {} days: create its replacement",
                    (exp - now).num_days().max(0) + 1
                ),
                json!({"expires_at": exp, "environment": env}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::service::KeyService;
    use chrono::TimeZone;

    /// The detector needs only the store and a clock: a detector of its own
    /// (as on another instance) sees keys and usage another service wrote.
    #[tokio::test]
    async fn a_detector_over_the_store_alone_sees_another_services_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let service = KeyService::open(store.clone(), clock.clone(), Default::default())
            .await
            .unwrap();
        let (account, key, _) = service
            .create_account("A", keyport_core::Plan::Free, "test")
            .await
            .unwrap();
        drop(service);
        let detector = Detector::new(
            store.clone(),
            clock.clone(),
            DetectorConfig {
                anomaly: AnomalyConfig::default(),
                minute_retention_days: 90,
                hour_retention_days: 400,
                lease: std::time::Duration::from_secs(180),
                max_rotation_days: RotationPolicy::UNBOUNDED,
            },
        );
        assert_eq!(detector.run().await.unwrap(), 0);
        // Live keys are due every 90 days; reminders start 14 days before.
        clock.advance(Duration::days(80));
        assert_eq!(detector.run().await.unwrap(), 1);
        let alerts = store.alerts(&account.id, true, 10).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].key_id, key.id);
        assert_eq!(alerts[0].kind, AlertKind::RotationDueSoon);
        // Raised once: the next pass finds it open.
        assert_eq!(detector.run().await.unwrap(), 0);
    }
}
