//! Desktop notifications for new anomaly alerts and for keys becoming due or
//! overdue for rotation: at most one per key and kind, ever (remembered in
//! `notified.json` per account), and a few at a time with a summary.

use keyport_api::Alert;
use keyport_core::alert::AlertKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{PortalError, Result};
use crate::fsutil;
use crate::portal::Portal;
use chrono::NaiveTime;

pub const NOTIFIED_FILE: &str = "notified.json";
/// The user's notification preferences, per account (this computer's, not
/// the account's: another teammate may want other ones).
pub const NOTIFY_PREFS_FILE: &str = "notify-prefs.json";
/// Most notifications shown in one pass; the rest are summed up in one more.
pub const MAX_PER_PASS: usize = 3;

/// How the desktop shows a notification (Tauri's plugin in the app).
pub trait Notifier: Send + Sync {
    fn notify(&self, title: &str, body: &str) -> std::result::Result<(), String>;
}

/// The kinds that notify: anomalies, and rotation becoming due or overdue
/// (an expiring key is shown in the app, not pushed).
/// A kind this portal does not know is shown in the app only.
pub fn notifies(kind: AlertKind) -> bool {
    !matches!(kind, AlertKind::KeyExpiring | AlertKind::Unknown)
}

fn title(kind: AlertKind, key_name: &str) -> String {
    let what = match kind {
        AlertKind::VolumeSpike => "Traffic spike",
        AlertKind::ErrorSpike => "Error spike",
        AlertKind::NewCountry => "Requests from a new country",
        AlertKind::AfterHours => "Use outside business hours",
        AlertKind::UnusualEndpoint => "Unusual endpoint",
        AlertKind::RotationDueSoon => "Rotation due soon",
        AlertKind::RotationOverdue => "Rotation overdue",
        AlertKind::KeyExpiring => "Key expiring",
        AlertKind::WebhookFailing => return "Webhook endpoint disabled".to_string(),
        AlertKind::LeakReported => "Key found public",
        AlertKind::Unknown => "Alert",
    };
    format!("{what}: “{key_name}”")
}

/// Which alerts raise desktop notifications, on this computer, for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NotifyPrefs {
    /// Kinds shown in the app only, never pushed to the desktop.
    pub muted: Vec<AlertKind>,
    /// No notifications between these local times; what arrives meanwhile
    /// is shown once they end.
    pub quiet_hours: Option<QuietHours>,
}

/// `HH:MM` local times; `start` after `end` spans midnight (22:00–07:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

fn hhmm(s: &str, field: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
        PortalError::Invalid(format!("quiet hours: {field} must be HH:MM, e.g. 22:00"))
    })
}

impl NotifyPrefs {
    /// Clear errors for what the user typed; kinds sorted, once each.
    pub fn validated(mut self) -> Result<Self> {
        if let Some(q) = &self.quiet_hours {
            let (start, end) = (hhmm(&q.start, "start")?, hhmm(&q.end, "end")?);
            if start == end {
                return Err(PortalError::Invalid(
                    "quiet hours: start and end must differ".into(),
                ));
            }
        }
        self.muted.retain(|k| *k != AlertKind::Unknown);
        self.muted.sort_by_key(|k| k.to_string());
        self.muted.dedup();
        Ok(self)
    }

    /// Whether `t` (local time) is within the quiet hours.
    pub fn quiet_at(&self, t: NaiveTime) -> bool {
        let Some(q) = &self.quiet_hours else {
            return false;
        };
        let (Ok(start), Ok(end)) = (hhmm(&q.start, "start"), hhmm(&q.end, "end")) else {
            return false;
        };
        if start < end {
            t >= start && t < end
        } else {
            t >= start || t < end
        }
    }
}

/// Account id → its preferences.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PrefsFile {
    accounts: BTreeMap<String, NotifyPrefs>,
}

/// Account id → `key_id/kind` pairs already notified.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Notified {
    accounts: BTreeMap<String, BTreeSet<String>>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(NOTIFIED_FILE)
}

/// The alerts to notify now, oldest first, and the updated memory. A
/// muted kind is remembered too, so unmuting it later brings back nothing old.
fn pick<'a>(
    alerts: &'a [Alert],
    seen: &mut BTreeSet<String>,
    muted: &[AlertKind],
) -> Vec<&'a Alert> {
    let mut fresh: Vec<&Alert> = alerts
        .iter()
        .filter(|a| notifies(a.kind))
        .filter(|a| seen.insert(format!("{}/{}", a.key_id, a.kind)))
        .filter(|a| !muted.contains(&a.kind))
        .collect();
    fresh.sort_by_key(|a| a.created_at);
    fresh
}

impl Portal {
    /// Shows a notification for each open alert not notified before (per key
    /// and kind); returns how many were shown. Marks them first, so a
    /// failing notifier never repeats one.
    pub async fn notify_new_alerts(&self, notifier: &dyn Notifier) -> Result<usize> {
        self.notify_new_alerts_at(notifier, chrono::Local::now().time())
            .await
    }

    /// [`Portal::notify_new_alerts`] at local time `now`: nothing during the
    /// account's quiet hours (and nothing marked, so it shows after them).
    pub async fn notify_new_alerts_at(
        &self,
        notifier: &dyn Notifier,
        now: NaiveTime,
    ) -> Result<usize> {
        let client = self.client().await?;
        let account = client.account().await?;
        let dir = self.config().config_dir.clone();
        let prefs = prefs_of(&dir, &account.id);
        if prefs.quiet_at(now) {
            return Ok(0);
        }
        let alerts = client.list_alerts(false).await?.alerts;
        let mut notified: Notified = fsutil::read_json(&path(&dir)).unwrap_or_default();
        let seen = notified.accounts.entry(account.id.clone()).or_default();
        let before = seen.len();
        let fresh = pick(&alerts, seen, &prefs.muted);
        // Muted alerts are remembered too, even when nothing is shown.
        if seen.len() != before {
            fsutil::write_json(&path(&dir), &notified)?;
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        let mut shown = 0;
        for a in fresh.iter().take(MAX_PER_PASS) {
            // A webhook alert names an endpoint, not a key.
            let name = match a.kind {
                AlertKind::WebhookFailing => String::new(),
                _ => match client.get_key(&a.key_id).await {
                    Ok(k) => k.name,
                    Err(_) => a.key_id.clone(),
                },
            };
            match notifier.notify(&title(a.kind, &name), &a.message) {
                Ok(()) => shown += 1,
                Err(e) => tracing::warn!(error = %e, "could not show a notification"),
            }
        }
        if fresh.len() > MAX_PER_PASS {
            let more = fresh.len() - MAX_PER_PASS;
            let body = format!("{more} more need attention: see Alerts in Keyport.");
            if notifier.notify("More Keyport alerts", &body).is_ok() {
                shown += 1;
            }
        }
        Ok(shown)
    }
}

fn prefs_of(dir: &Path, account_id: &str) -> NotifyPrefs {
    let file: PrefsFile = fsutil::read_json(&dir.join(NOTIFY_PREFS_FILE)).unwrap_or_default();
    file.accounts.get(account_id).cloned().unwrap_or_default()
}

impl Portal {
    /// The connected account's notification preferences on this computer.
    pub async fn notify_prefs(&self) -> Result<NotifyPrefs> {
        let account = self.client().await?.account().await?;
        Ok(prefs_of(&self.config().config_dir, &account.id))
    }

    /// Saves them (checked first: bad input changes nothing).
    pub async fn set_notify_prefs(&self, prefs: NotifyPrefs) -> Result<NotifyPrefs> {
        let prefs = prefs.validated()?;
        let account = self.client().await?.account().await?;
        let dir = self.config().config_dir.clone();
        let file_path = dir.join(NOTIFY_PREFS_FILE);
        let mut file: PrefsFile = fsutil::read_json(&file_path).unwrap_or_default();
        file.accounts.insert(account.id, prefs.clone());
        fsutil::write_json(&file_path, &file)?;
        Ok(prefs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(key: &str, kind: &str, minute: u32) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": format!("alr_{key}_{kind}_{minute}"), "key_id": key, "kind": kind,
            "category": "anomaly", "status": "open", "message": "m", "evidence": {},
            "created_at": format!("2026-03-10T12:{minute:02}:00Z"),
            "acknowledged_at": null, "resolved_at": null
        }))
        .unwrap()
    }

    #[test]
    fn one_per_key_and_kind_oldest_first_and_only_the_kinds_that_notify() {
        let alerts = vec![
            alert("k1", "new_country", 5),
            alert("k1", "new_country", 9),
            alert("k1", "error_spike", 1),
            alert("k2", "new_country", 3),
            alert("k2", "key_expiring", 2),
            // A kind from a newer service: read, kept out of notifications.
            alert("k3", "quota_near", 0),
        ];
        let mut seen = BTreeSet::new();
        let picked: Vec<String> = pick(&alerts, &mut seen, &[])
            .iter()
            .map(|a| a.id.clone())
            .collect();
        assert_eq!(
            picked,
            [
                "alr_k1_error_spike_1",
                "alr_k2_new_country_3",
                "alr_k1_new_country_5"
            ]
        );
        assert!(pick(&alerts, &mut seen, &[]).is_empty(), "never twice");
    }

    #[test]
    fn muted_kinds_are_never_pushed_even_once_unmuted() {
        let alerts = vec![alert("k1", "after_hours", 1), alert("k1", "new_country", 2)];
        let mut seen = BTreeSet::new();
        let picked = pick(&alerts, &mut seen, &[AlertKind::AfterHours]);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].kind, AlertKind::NewCountry);
        assert!(pick(&alerts, &mut seen, &[]).is_empty());
    }

    #[test]
    fn quiet_hours_span_midnight_and_bad_times_are_refused() {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        let night = NotifyPrefs {
            muted: vec![],
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
            }),
        };
        assert!(night.quiet_at(t("23:30")) && night.quiet_at(t("06:59")));
        assert!(!night.quiet_at(t("07:00")) && !night.quiet_at(t("12:00")));
        let lunch = NotifyPrefs {
            quiet_hours: Some(QuietHours {
                start: "12:00".into(),
                end: "13:00".into(),
            }),
            ..night.clone()
        };
        assert!(lunch.quiet_at(t("12:30")) && !lunch.quiet_at(t("13:00")));
        assert!(!NotifyPrefs::default().quiet_at(t("03:00")));
        for (start, end) in [("25:00", "07:00"), ("22:00", "7"), ("08:00", "08:00")] {
            let bad = NotifyPrefs {
                quiet_hours: Some(QuietHours {
                    start: start.into(),
                    end: end.into(),
                }),
                ..NotifyPrefs::default()
            };
            assert!(matches!(bad.validated(), Err(PortalError::Invalid(_))));
        }
        let twice = NotifyPrefs {
            muted: vec![
                AlertKind::NewCountry,
                AlertKind::AfterHours,
                AlertKind::NewCountry,
            ],
            quiet_hours: None,
        };
        assert_eq!(
            twice.validated().unwrap().muted,
            [AlertKind::AfterHours, AlertKind::NewCountry]
        );
    }

    #[test]
    fn titles_name_the_key() {
        assert_eq!(
            title(AlertKind::RotationOverdue, "billing"),
            "Rotation overdue: “billing”"
        );
        assert!(!notifies(AlertKind::KeyExpiring));
        assert!(notifies(AlertKind::NewCountry));
        // A disabled webhook endpoint is pushed too, and names no key.
        assert!(notifies(AlertKind::WebhookFailing));
        assert_eq!(
            title(AlertKind::WebhookFailing, ""),
            "Webhook endpoint disabled"
        );
    }
}
