//! `POST /v1/account/alerts/preview`: the account's alert settings, as they
//! are and as proposed, replayed over its stored hourly usage with the
//! detector's own rules (`keyport_core::preview`), plus what a proposed
//! rotation policy would make due.

use chrono::{DateTime, Utc};
use keyport_api::{
    AccountSettings, AlertKind, AlertPreview, AlertPreviewRequest, PreviewKey, PreviewKind,
    PreviewTally, RotationTally,
};
use keyport_core::anomaly::AnomalyKind;
use keyport_core::preview::{replay, KeyHistory, Policy, Raised};
use keyport_core::rotation::{reminders, KeyAge, Reminder};
use std::collections::HashMap;

use crate::admin::Admin;
use crate::error::{Result, ServiceError};
use crate::model::{KeyRecord, Step};
use crate::service::{clean_countries, KeyService};
use crate::store::Dimension;

/// The longest look back (the preview's `days`).
pub const MAX_DAYS: u32 = 30;
/// Keys replayed at most, the busiest first; the answer says when more had traffic.
pub const MAX_KEYS: usize = 500;
/// Keys named per kind in the answer.
const NAMED_KEYS: usize = 20;
const HOUR: i64 = 3_600;
const KEY_PAGE: u32 = 1_000;

const KINDS: [AnomalyKind; 5] = [
    AnomalyKind::VolumeSpike,
    AnomalyKind::ErrorSpike,
    AnomalyKind::NewCountry,
    AnomalyKind::AfterHours,
    AnomalyKind::UnusualEndpoint,
];

/// One replayed key: its name and what each side raised.
struct Replayed {
    key: KeyRecord,
    current: Vec<Raised>,
    proposed: Vec<Raised>,
}

impl KeyService {
    /// What the proposed settings would have raised over the last
    /// `days`, next to what the current ones would have.
    pub async fn preview_alerts(
        &self,
        admin: &Admin,
        req: AlertPreviewRequest,
    ) -> Result<AlertPreview> {
        let account = self.current_account(admin);
        let days = req.days.unwrap_or(7);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ServiceError::Invalid(format!(
                "days must be between 1 and {MAX_DAYS}"
            )));
        }
        let proposed = self.proposed_settings(&account.settings, req)?;
        let now = self.clock.now();
        // The current hour too: its traffic is part of what the account sees.
        let to = (now.timestamp().div_euclid(HOUR) + 1) * HOUR;
        let from = to - i64::from(days) * 86_400;
        let mut notes = vec![
            "Replayed from hourly usage with the detector's rules, each hour taken as one \
             window: a burst shorter than an hour is diluted, and a few requests spread over \
             an hour count as if they came together."
                .to_string(),
        ];
        let (replayed, busy) = self
            .replay_keys(&account.id, &account.settings, &proposed, from, to)
            .await?;
        if busy > replayed.len() {
            notes.push(format!(
                "{busy} keys had traffic; the {} busiest were replayed.",
                replayed.len()
            ));
        }
        self.history_notes(&proposed, days, &mut notes);
        let (rotation_current, rotation_proposed) = self
            .rotation_tallies(&account.id, &account.settings, &proposed, now)
            .await?;
        Ok(AlertPreview {
            days,
            from: at(from),
            to: at(to),
            current: tally(&replayed, |r| &r.current),
            proposed: tally(&replayed, |r| &r.proposed),
            rotation_current,
            rotation_proposed,
            approximate: true,
            notes,
        })
    }

    /// The account's settings with the request's changes, checked as a
    /// PATCH would check them.
    fn proposed_settings(
        &self,
        current: &AccountSettings,
        req: AlertPreviewRequest,
    ) -> Result<AccountSettings> {
        let mut s = current.clone();
        if let Some(r) = req.anomaly_rules {
            r.validate().map_err(ServiceError::Invalid)?;
            s.anomaly_rules = r;
        }
        if let Some(h) = req.business_hours {
            h.schedule().map_err(ServiceError::Invalid)?;
            s.business_hours = h;
        }
        if let Some(list) = req.allowed_countries {
            s.allowed_countries = clean_countries(&list)?;
        }
        if let Some(p) = req.rotation_days {
            p.validate_within(&self.options.max_rotation_days)
                .map_err(ServiceError::Invalid)?;
            s.rotation_days = p;
        }
        Ok(s)
    }

    /// Replays every key with traffic in `[from, to)` (the busiest
    /// [`MAX_KEYS`]) under both settings; also returns how many had traffic.
    async fn replay_keys(
        &self,
        account_id: &str,
        current: &AccountSettings,
        proposed: &AccountSettings,
        from: i64,
        to: i64,
    ) -> Result<(Vec<Replayed>, usize)> {
        let store = &self.store;
        let mut busy: Vec<(String, u64)> = store
            .usage_totals(account_id, Step::Hour, from, to)
            .await?
            .into_iter()
            .map(|(id, c)| (id, c.total()))
            .filter(|(_, n)| *n > 0)
            .collect();
        busy.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let config = &self.options.anomaly;
        let base_from = from - i64::from(config.baseline_days) * 86_400;
        let cur_schedule = current.business_hours.schedule().ok();
        let new_schedule = proposed.business_hours.schedule().ok();
        let mut out = Vec::new();
        for (key_id, _) in busy.iter().take(MAX_KEYS) {
            let Some(key) = store.key(account_id, key_id).await? else {
                continue;
            };
            let history = self.key_history(&key, base_from, to).await?;
            let current = replay(
                policy(config, current, cur_schedule.as_ref()),
                &history,
                from,
                to,
            );
            let proposed = replay(
                policy(config, proposed, new_schedule.as_ref()),
                &history,
                from,
                to,
            );
            out.push(Replayed {
                key,
                current,
                proposed,
            });
        }
        Ok((out, busy.len()))
    }

    async fn key_history(&self, key: &KeyRecord, from: i64, to: i64) -> Result<KeyHistory> {
        let store = &self.store;
        let first_seen = |rows: Vec<crate::store::Seen>| {
            rows.into_iter()
                .map(|s| (s.value, s.first_seen))
                .collect::<HashMap<_, _>>()
        };
        Ok(KeyHistory {
            created_at: key.created_at.timestamp(),
            hours: store.usage_series(&key.id, Step::Hour, from, to).await?,
            countries: store
                .dimension_hours(&key.id, Dimension::Country, from, to)
                .await?,
            endpoints: store
                .dimension_hours(&key.id, Dimension::Endpoint, from, to)
                .await?,
            first_seen_countries: first_seen(
                store.dimension_history(&key.id, Dimension::Country).await?,
            ),
            first_seen_endpoints: first_seen(
                store
                    .dimension_history(&key.id, Dimension::Endpoint)
                    .await?,
            ),
        })
    }

    /// Says where the stored history cannot tell what the detector would.
    fn history_notes(&self, proposed: &AccountSettings, days: u32, notes: &mut Vec<String>) {
        let o = &self.options;
        let needed = days + o.anomaly.baseline_days;
        if o.hour_retention_days < needed {
            notes.push(format!(
                "This service keeps {} days of hourly usage: the oldest days are replayed \
                 with a shorter baseline than the detector's {} days.",
                o.hour_retention_days, o.anomaly.baseline_days
            ));
        }
        let h = &proposed.business_hours;
        if !h.start.ends_with(":00") || !h.end.ends_with(":00") {
            notes.push(
                "Business hours that start or end within an hour are approximated: an \
                 hour counts as inside when its middle is."
                    .into(),
            );
        }
        notes.push(
            "Countries and endpoints are known only for gateway traffic (and verifies that \
             pass a country); the rest cannot raise country or endpoint alerts here."
                .into(),
        );
    }

    /// Active, unrotated keys overdue or due soon under each policy.
    async fn rotation_tallies(
        &self,
        account_id: &str,
        current: &AccountSettings,
        proposed: &AccountSettings,
        now: DateTime<Utc>,
    ) -> Result<(RotationTally, RotationTally)> {
        let mut tallies = (RotationTally::default(), RotationTally::default());
        let mut cursor = None;
        loop {
            let page = self.store.keys_page(account_id, cursor, KEY_PAGE).await?;
            for key in &page.items {
                let age = KeyAge {
                    environment: key.environment,
                    created_at: key.created_at,
                    expires_at: key.expires_at,
                    active: key.status(now) == keyport_api::KeyStatus::Active,
                    rotated: key.replaced_by.is_some(),
                };
                count_due(&mut tallies.0, &current.rotation_days, &age, now);
                count_due(&mut tallies.1, &proposed.rotation_days, &age, now);
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(tallies)
    }
}

fn policy<'a>(
    config: &'a keyport_core::anomaly::AnomalyConfig,
    s: &'a AccountSettings,
    schedule: Option<&'a keyport_core::hours::Schedule>,
) -> Policy<'a> {
    Policy {
        config,
        rules: &s.anomaly_rules,
        schedule,
        allowed_countries: &s.allowed_countries,
    }
}

fn count_due(
    t: &mut RotationTally,
    policy: &keyport_core::rotation::RotationPolicy,
    age: &KeyAge,
    now: DateTime<Utc>,
) {
    for r in reminders(policy, age, now) {
        match r {
            Reminder::RotationOverdue => t.overdue += 1,
            Reminder::RotationDueSoon => t.due_soon += 1,
            Reminder::KeyExpiring => {}
        }
    }
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// Every anomaly kind in a fixed order, zeros included.
fn tally(keys: &[Replayed], side: impl Fn(&Replayed) -> &Vec<Raised>) -> PreviewTally {
    let mut kinds = Vec::new();
    let mut with_any = 0;
    for r in keys {
        with_any += u32::from(!side(r).is_empty());
    }
    for kind in KINDS {
        let mut named: Vec<PreviewKey> = keys
            .iter()
            .filter_map(|r| {
                let hits: Vec<&Raised> = side(r).iter().filter(|x| x.kind == kind).collect();
                let first = hits.first()?;
                Some(PreviewKey {
                    key_id: r.key.id.clone(),
                    name: r.key.name.clone(),
                    last4: r.key.last4.clone(),
                    alerts: hits.len() as u32,
                    first_at: at(first.at),
                })
            })
            .collect();
        named.sort_by(|a, b| b.alerts.cmp(&a.alerts).then_with(|| a.name.cmp(&b.name)));
        let key_count = named.len() as u32;
        let alerts = named.iter().map(|k| k.alerts).sum();
        named.truncate(NAMED_KEYS);
        kinds.push(PreviewKind {
            kind: AlertKind::from(kind),
            alerts,
            keys: named,
            key_count,
        });
    }
    PreviewTally {
        alerts: kinds.iter().map(|k| k.alerts).sum(),
        key_count: with_any,
        kinds,
    }
}
