//! Desktop notifications for new anomaly alerts and for keys becoming due or
//! overdue for rotation: at most one per key and kind, ever (remembered in
//! `notified.json` per account), and a few at a time with a summary.

use keyport_api::Alert;
use keyport_core::alert::AlertKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsutil;
use crate::portal::Portal;

pub const NOTIFIED_FILE: &str = "notified.json";
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
        AlertKind::Unknown => "Alert",
    };
    format!("{what}: “{key_name}”")
}

/// Account id → `key_id/kind` pairs already notified.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Notified {
    accounts: BTreeMap<String, BTreeSet<String>>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(NOTIFIED_FILE)
}

/// The alerts to notify now, oldest first, and the updated memory.
fn pick<'a>(alerts: &'a [Alert], seen: &mut BTreeSet<String>) -> Vec<&'a Alert> {
    let mut fresh: Vec<&Alert> = alerts
        .iter()
        .filter(|a| notifies(a.kind))
        .filter(|a| seen.insert(format!("{}/{}", a.key_id, a.kind)))
        .collect();
    fresh.sort_by_key(|a| a.created_at);
    fresh
}

impl Portal {
    /// Shows a notification for each open alert not notified before (per key
    /// and kind); returns how many were shown. Marks them first, so a
    /// failing notifier never repeats one.
    pub async fn notify_new_alerts(&self, notifier: &dyn Notifier) -> Result<usize> {
        let client = self.client().await?;
        let account = client.account().await?;
        let alerts = client.list_alerts(false).await?.alerts;
        let dir = self.config().config_dir.clone();
        let mut notified: Notified = fsutil::read_json(&path(&dir)).unwrap_or_default();
        let seen = notified.accounts.entry(account.id.clone()).or_default();
        let fresh = pick(&alerts, seen);
        if fresh.is_empty() {
            return Ok(0);
        }
        fsutil::write_json(&path(&dir), &notified)?;
        let mut shown = 0;
        for a in fresh.iter().take(MAX_PER_PASS) {
            let name = match client.get_key(&a.key_id).await {
                Ok(k) => k.name,
                Err(_) => a.key_id.clone(),
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
        let picked: Vec<String> = pick(&alerts, &mut seen)
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
        assert!(pick(&alerts, &mut seen).is_empty(), "never twice");
    }

    #[test]
    fn titles_name_the_key() {
        assert_eq!(
            title(AlertKind::RotationOverdue, "billing"),
            "Rotation overdue: “billing”"
        );
        assert!(!notifies(AlertKind::KeyExpiring));
        assert!(notifies(AlertKind::NewCountry));
    }
}
