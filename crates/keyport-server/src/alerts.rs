//! The anomaly detector and rotation reminders. Runs every minute with the
//! service's clock: it reads the flushed usage, applies the pure rules of
//! `keyport_core::anomaly`, and raises de-duplicated alerts.

use chrono::{DateTime, Duration, Utc};
use keyport_core::anomaly::{detect, KeyActivity};
use keyport_core::rotation::{reminders, KeyAge, Reminder};
use keyport_core::Counts;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use std::collections::{HashMap, HashSet};

use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::service::{Admin, KeyService};
use crate::store::Dimension;

/// An anomaly of the same kind on the same key is not raised again within
/// this time of the last one, even once acknowledged: one episode, one alert.
const COOLDOWN_HOURS: i64 = 24;
const MAX_ALERTS: u32 = 500;

pub use crate::model::alert_category as category;

fn reminder_kind(r: Reminder) -> &'static str {
    keyport_core::alert::AlertKind::from(r).as_str()
}

fn new_alert_id() -> String {
    let mut b = [0u8; 10];
    OsRng.fill_bytes(&mut b);
    format!(
        "alt_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn minute_floor(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60) * 60
}

/// Days failed logins with unknown credentials (audit rows of no account)
/// are kept.
const STRANGERS_AUDIT_DAYS: i64 = 30;

impl KeyService {
    /// One detector pass: anomalies for keys with recent traffic, reminders
    /// for every key, retention. Returns the number of alerts raised.
    pub async fn run_detector(&self) -> Result<usize> {
        // Count what is still in memory first, so the pass sees it.
        self.flush().await?;
        let now = self.now();
        let mut raised = self.detect_anomalies(now).await?;
        raised += self.refresh_reminders(now).await?;
        let o = &self.options;
        let minutes_before = (now - Duration::days(i64::from(o.minute_retention_days))).timestamp();
        let hours_before = (now - Duration::days(i64::from(o.hour_retention_days))).timestamp();
        self.store.prune_usage(minutes_before, hours_before).await?;
        let strangers_before = crate::clock::millis(now - Duration::days(STRANGERS_AUDIT_DAYS));
        self.store.prune_strangers_audit(strangers_before).await?;
        Ok(raised)
    }

    async fn detect_anomalies(&self, now: DateTime<Utc>) -> Result<usize> {
        let cfg = &self.options.anomaly;
        let window_start = minute_floor(now) - 60 * (i64::from(cfg.window_minutes) - 1);
        let mut recent: HashMap<String, (String, Counts, u64)> = HashMap::new();
        let accounts = self.accounts_snapshot();
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
            for f in detect(cfg, &activity) {
                let alert = Alert {
                    id: new_alert_id(),
                    account_id: account_id.clone(),
                    key_id: key_id.clone(),
                    kind: f.kind.as_str().to_string(),
                    category: "anomaly".into(),
                    status: AlertStatus::Open,
                    message: f.message,
                    evidence: f.evidence,
                    created_at: now,
                    acknowledged_at: None,
                    resolved_at: None,
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

    /// Gathers one key's window and baseline from the stored usage.
    async fn activity(
        &self,
        account: &Account,
        key_id: &str,
        window_start: i64,
        recent: Counts,
        recent_after_hours: u64,
    ) -> Result<KeyActivity> {
        let cfg = &self.options.anomaly;
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
    async fn refresh_reminders(&self, now: DateTime<Utc>) -> Result<usize> {
        let accounts = self.accounts_snapshot();
        let keys: Vec<_> = self.by_hash.iter().map(|e| e.value().key.clone()).collect();
        let mut due: HashSet<(String, String)> = HashSet::new();
        let mut raised = 0;
        for key in keys {
            let Some(account) = accounts.get(&key.account_id) else {
                continue;
            };
            let age = KeyAge {
                environment: key.environment,
                created_at: key.created_at,
                expires_at: key.expires_at,
                active: key.status(now) == KeyStatus::Active,
                rotated: key.replaced_by.is_some(),
            };
            let policy = &account.settings.rotation_days;
            for r in reminders(policy, &age, now) {
                let kind = reminder_kind(r);
                due.insert((key.id.clone(), kind.to_string()));
                let due_at = policy.due_at(key.created_at, key.environment);
                let (message, evidence) =
                    reminder_text(r, &key, due_at, now, policy.days(key.environment));
                let alert = Alert {
                    id: new_alert_id(),
                    account_id: key.account_id.clone(),
                    key_id: key.id.clone(),
                    kind: kind.into(),
                    category: "reminder".into(),
                    status: AlertStatus::Open,
                    message,
                    evidence,
                    created_at: now,
                    acknowledged_at: None,
                    resolved_at: None,
                };
                if self.raise(alert, None).await? {
                    raised += 1;
                }
            }
        }
        for mut a in self.store.open_alerts().await? {
            if a.category == "reminder" && !due.contains(&(a.key_id.clone(), a.kind.clone())) {
                a.status = AlertStatus::Resolved;
                a.resolved_at = Some(now);
                self.store.set_alert_status(&a).await?;
            }
        }
        Ok(raised)
    }

    /// Inserts unless the same key and kind already has an open alert, or
    /// (with a cooldown) had one recently, or (without) has one not resolved.
    async fn raise(&self, alert: Alert, cooldown: Option<Duration>) -> Result<bool> {
        if let Some(last) = self.store.latest_alert(&alert.key_id, &alert.kind).await? {
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
        tracing::info!(key_id = %alert.key_id, kind = %alert.kind, "alert raised");
        self.store.insert_alert(&alert).await?;
        Ok(true)
    }

    fn accounts_snapshot(&self) -> HashMap<String, std::sync::Arc<Account>> {
        self.accounts
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    pub async fn list_alerts(
        &self,
        admin: &Admin,
        open_only: bool,
        limit: Option<u32>,
    ) -> Result<AlertList> {
        let limit = match limit {
            None => 100,
            Some(n) if (1..=MAX_ALERTS).contains(&n) => n,
            Some(_) => {
                return Err(ServiceError::BadRequest(format!(
                    "limit must be between 1 and {MAX_ALERTS}"
                )))
            }
        };
        let alerts = self
            .store
            .alerts(&admin.account.id, open_only, limit)
            .await?;
        Ok(AlertList { alerts })
    }

    /// Acknowledges an open alert; acknowledging again changes nothing.
    pub async fn ack_alert(&self, admin: &Admin, id: &str) -> Result<Alert> {
        let mut alert = self
            .store
            .alert(&admin.account.id, id)
            .await?
            .ok_or(ServiceError::NotFound("alert"))?;
        if alert.status == AlertStatus::Open {
            alert.status = AlertStatus::Acknowledged;
            alert.acknowledged_at = Some(self.now());
            self.store.set_alert_status(&alert).await?;
        }
        Ok(alert)
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
