//! Business hours of an account: a time zone, week days and a daily span.

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// ISO week days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// `HH:MM`, local time, inclusive.
    pub start: String,
    /// `HH:MM`, local time, exclusive.
    pub end: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            days: vec![1, 2, 3, 4, 5],
            start: "08:00".into(),
            end: "18:00".into(),
        }
    }
}

/// Validated, ready to test instants against.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: Tz,
    days: Vec<u8>,
    start: NaiveTime,
    end: NaiveTime,
}

impl BusinessHours {
    pub fn schedule(&self) -> Result<Schedule, String> {
        let tz: Tz = self.time_zone.parse().map_err(|_| {
            format!(
                "unknown time zone {:?}; use an IANA name such as Europe/Berlin",
                self.time_zone
            )
        })?;
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err("business_hours.days are ISO week days, 1 (Monday) to 7 (Sunday)".into());
        }
        let time = |s: &str, field: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| format!("business_hours.{field} must be HH:MM"))
        };
        let start = time(&self.start, "start")?;
        let end = time(&self.end, "end")?;
        if start >= end {
            return Err("business_hours.start must be before end".into());
        }
        Ok(Schedule {
            tz,
            days: self.days.clone(),
            start,
            end,
        })
    }
}

impl Schedule {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz);
        let day = local.weekday().number_from_monday() as u8;
        let time = local.time();
        self.days.contains(&day) && time >= self.start && time < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn default_is_weekdays_eight_to_six_utc() {
        let s = BusinessHours::default().schedule().unwrap();
        // 2026-03-10 is a Tuesday.
        assert!(s.contains(Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()));
        assert!(!s.contains(Utc.with_ymd_and_hms(2026, 3, 10, 18, 0, 0).unwrap()));
        assert!(!s.contains(Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap()));
    }

    #[test]
    fn time_zones_apply() {
        let h = BusinessHours {
            time_zone: "America/New_York".into(),
            ..Default::default()
        };
        let s = h.schedule().unwrap();
        // 13:00 UTC is 09:00 in New York (EDT on 2026-06-02).
        assert!(s.contains(Utc.with_ymd_and_hms(2026, 6, 2, 13, 0, 0).unwrap()));
        assert!(!s.contains(Utc.with_ymd_and_hms(2026, 6, 2, 11, 0, 0).unwrap()));
    }

    #[test]
    fn invalid_settings_are_explained() {
        let bad = |f: fn(&mut BusinessHours)| {
            let mut h = BusinessHours::default();
            f(&mut h);
            h.schedule().unwrap_err()
        };
        assert!(bad(|h| h.time_zone = "Mars/Base".into()).contains("time zone"));
        assert!(bad(|h| h.days = vec![0]).contains("week days"));
        assert!(bad(|h| h.start = "25:00".into()).contains("HH:MM"));
        assert!(bad(|h| h.end = "07:00".into()).contains("before"));
    }
}
