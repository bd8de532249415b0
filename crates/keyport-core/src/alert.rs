//! Alert kinds: the one list of what the service raises, with the category
//! each belongs to. Serialised once (snake_case) and exported to the UI
//! through the generated bindings, so no other place spells the kinds out.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::anomaly::AnomalyKind;
use crate::rotation::Reminder;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    VolumeSpike,
    ErrorSpike,
    NewCountry,
    AfterHours,
    UnusualEndpoint,
    RotationDueSoon,
    RotationOverdue,
    KeyExpiring,
    /// A webhook endpoint kept failing and was disabled; the alert's
    /// `key_id` names the endpoint (`wh_…`), not a key.
    WebhookFailing,
    /// A key was reported public (a leak report); the evidence names where.
    LeakReported,
    /// A kind this build does not know, read from a newer service: a client
    /// shows it generically instead of failing the whole list. Never raised,
    /// stored or parsed from a name.
    #[serde(other)]
    #[cfg_attr(feature = "ts", ts(skip))]
    Unknown,
}

/// Anomalies are about a key's traffic; reminders about its age.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCategory {
    Anomaly,
    Reminder,
}

impl AlertKind {
    pub const ALL: [AlertKind; 10] = [
        AlertKind::VolumeSpike,
        AlertKind::ErrorSpike,
        AlertKind::NewCountry,
        AlertKind::AfterHours,
        AlertKind::UnusualEndpoint,
        AlertKind::RotationDueSoon,
        AlertKind::RotationOverdue,
        AlertKind::KeyExpiring,
        AlertKind::WebhookFailing,
        AlertKind::LeakReported,
    ];

    /// The name in the API and the database, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::VolumeSpike => "volume_spike",
            AlertKind::ErrorSpike => "error_spike",
            AlertKind::NewCountry => "new_country",
            AlertKind::AfterHours => "after_hours",
            AlertKind::UnusualEndpoint => "unusual_endpoint",
            AlertKind::RotationDueSoon => "rotation_due_soon",
            AlertKind::RotationOverdue => "rotation_overdue",
            AlertKind::KeyExpiring => "key_expiring",
            AlertKind::WebhookFailing => "webhook_failing",
            AlertKind::LeakReported => "leak_reported",
            AlertKind::Unknown => "unknown",
        }
    }

    pub fn category(self) -> AlertCategory {
        match self {
            AlertKind::RotationDueSoon | AlertKind::RotationOverdue | AlertKind::KeyExpiring => {
                AlertCategory::Reminder
            }
            _ => AlertCategory::Anomaly,
        }
    }
}

impl AlertCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertCategory::Anomaly => "anomaly",
            AlertCategory::Reminder => "reminder",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown alert kind {s:?}"))
    }
}

impl From<AnomalyKind> for AlertKind {
    fn from(k: AnomalyKind) -> Self {
        match k {
            AnomalyKind::VolumeSpike => AlertKind::VolumeSpike,
            AnomalyKind::ErrorSpike => AlertKind::ErrorSpike,
            AnomalyKind::NewCountry => AlertKind::NewCountry,
            AnomalyKind::AfterHours => AlertKind::AfterHours,
            AnomalyKind::UnusualEndpoint => AlertKind::UnusualEndpoint,
        }
    }
}

impl From<Reminder> for AlertKind {
    fn from(r: Reminder) -> Self {
        match r {
            Reminder::RotationDueSoon => AlertKind::RotationDueSoon,
            Reminder::RotationOverdue => AlertKind::RotationOverdue,
            Reminder::KeyExpiring => AlertKind::KeyExpiring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_serde_writes_and_parse_back() {
        for k in AlertKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(k));
            assert_eq!(
                serde_json::to_value(k.category()).unwrap(),
                k.category().as_str()
            );
        }
        assert!("quota_near".parse::<AlertKind>().is_err());
        assert!("unknown".parse::<AlertKind>().is_err());
    }

    #[test]
    fn a_kind_from_a_newer_service_reads_as_unknown() {
        let k: AlertKind = serde_json::from_value(serde_json::json!("quota_near")).unwrap();
        assert_eq!(k, AlertKind::Unknown);
        assert_eq!(k.category(), AlertCategory::Anomaly);
    }

    #[test]
    fn anomalies_and_reminders() {
        assert_eq!(
            AlertKind::from(AnomalyKind::AfterHours).category(),
            AlertCategory::Anomaly
        );
        assert_eq!(
            AlertKind::from(Reminder::KeyExpiring).category(),
            AlertCategory::Reminder
        );
        for a in [
            AnomalyKind::VolumeSpike,
            AnomalyKind::ErrorSpike,
            AnomalyKind::NewCountry,
            AnomalyKind::AfterHours,
            AnomalyKind::UnusualEndpoint,
        ] {
            assert_eq!(AlertKind::from(a).as_str(), a.as_str());
        }
    }
}
