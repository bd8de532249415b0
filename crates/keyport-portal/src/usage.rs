//! Usage charts and alerts for the portal: the ranges the charts offer, the
//! window each asks the service for, CSV export, and the alert list.

use chrono::{DateTime, Duration, Utc};
use keyport_api::{AccountUsage, Alert, AlertList, KeyUsage, Step};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

use crate::client::UsageQuery;
use crate::error::{PortalError, Result};
use crate::portal::Portal;

/// The time ranges the portal's usage charts offer, ending now.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageRange {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl UsageRange {
    pub fn span(self) -> Duration {
        match self {
            UsageRange::Hour => Duration::hours(1),
            UsageRange::Day => Duration::hours(24),
            UsageRange::Week => Duration::days(7),
            UsageRange::Month => Duration::days(30),
        }
    }

    /// The step a chart of this range uses unless one is chosen: a minute
    /// up to a day (at most 1,440 points), an hour beyond.
    pub fn default_step(self) -> Step {
        match self {
            UsageRange::Hour | UsageRange::Day => Step::Minute,
            UsageRange::Week | UsageRange::Month => Step::Hour,
        }
    }

    /// The window to ask for at `now`: `span` back from now, so the current
    /// bucket is the last point.
    pub fn query(self, step: Option<Step>, now: DateTime<Utc>) -> UsageQuery {
        UsageQuery {
            from: now - self.span(),
            step: step.unwrap_or(self.default_step()),
        }
    }
}

impl Portal {
    pub async fn key_usage(
        &self,
        id: &str,
        range: UsageRange,
        step: Option<Step>,
    ) -> Result<KeyUsage> {
        let q = range.query(step, Utc::now());
        self.client().await?.key_usage(id, &q).await
    }

    pub async fn account_usage(
        &self,
        range: UsageRange,
        step: Option<Step>,
    ) -> Result<AccountUsage> {
        let q = range.query(step, Utc::now());
        self.client().await?.account_usage(&q).await
    }

    /// Writes a key's series as CSV to `path` (chosen by the user in a save
    /// dialog): to a temporary file next to it first, so a failed export
    /// never leaves half a file under the chosen name.
    pub async fn export_usage_csv(
        &self,
        id: &str,
        range: UsageRange,
        step: Option<Step>,
        path: &Path,
    ) -> Result<()> {
        let q = range.query(step, Utc::now());
        let csv = self.client().await?.key_usage_csv(id, &q).await?;
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || write_file(&path, csv.as_bytes()))
            .await
            .map_err(|_| PortalError::Internal("The export stopped unexpectedly.".into()))?
    }

    pub async fn list_alerts(&self, all: bool) -> Result<AlertList> {
        self.client().await?.list_alerts(all).await
    }

    pub async fn ack_alert(&self, id: &str) -> Result<Alert> {
        self.client().await?.ack_alert(id).await
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| {
        PortalError::Invalid(format!(
            "Cannot write {}: {e}. Choose another place.",
            path.display()
        ))
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ranges_end_now_with_a_step_per_range() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 30, 20).unwrap();
        let q = UsageRange::Hour.query(None, now);
        assert_eq!(q.from, now - Duration::hours(1));
        assert_eq!(q.step, Step::Minute);
        assert_eq!(UsageRange::Day.query(None, now).step, Step::Minute);
        assert_eq!(UsageRange::Week.query(None, now).step, Step::Hour);
        let month = UsageRange::Month.query(Some(Step::Minute), now);
        assert_eq!(
            (month.from, month.step),
            (now - Duration::days(30), Step::Minute)
        );
    }

    #[test]
    fn ranges_use_the_names_the_ui_shows() {
        let names: Vec<String> = [
            UsageRange::Hour,
            UsageRange::Day,
            UsageRange::Week,
            UsageRange::Month,
        ]
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
        assert_eq!(names, ["\"1h\"", "\"24h\"", "\"7d\"", "\"30d\""]);
        assert!(serde_json::from_str::<UsageRange>("\"2h\"").is_err());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("keyport-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("usage.csv");
        write_file(&ok, b"t,success\n").unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "t,success\n");
        let missing = dir.join("no-such-dir").join("usage.csv");
        let err = write_file(&missing, b"x").unwrap_err();
        assert!(matches!(err, PortalError::Invalid(_)));
        assert!(!dir.join("no-such-dir").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
