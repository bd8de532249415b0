//! Rotation policy and reminders (the seed: live keys every 90 days,
//! test/staging every 30).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::key::Environment;

/// A reminder starts this long before a key is due.
pub const DUE_SOON_DAYS: i64 = 14;
/// A key that expires within this long gets an "expiring" reminder.
pub const EXPIRING_DAYS: i64 = 7;
/// The longest rotation period anyone may choose (ten years).
pub const MAX_ROTATION_DAYS: u32 = 3650;

/// Days between rotations, per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RotationPolicy {
    pub live: u32,
    pub test: u32,
    pub staging: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            live: 90,
            test: 30,
            staging: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// Due within [`DUE_SOON_DAYS`].
    RotationDueSoon,
    /// Past its rotation date.
    RotationOverdue,
    /// Expires within [`EXPIRING_DAYS`].
    KeyExpiring,
}

impl RotationPolicy {
    pub fn days(&self, env: Environment) -> u32 {
        match env {
            Environment::Live => self.live,
            Environment::Test => self.test,
            Environment::Staging => self.staging,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, d) in [
            ("live", self.live),
            ("test", self.test),
            ("staging", self.staging),
        ] {
            if d == 0 || d > MAX_ROTATION_DAYS {
                return Err(format!(
                    "rotation_days.{name} must be between 1 and {MAX_ROTATION_DAYS}"
                ));
            }
        }
        Ok(())
    }

    /// No bound but [`MAX_ROTATION_DAYS`]: what a server without
    /// `--max-rotation-days` allows.
    pub const UNBOUNDED: RotationPolicy = RotationPolicy {
        live: MAX_ROTATION_DAYS,
        test: MAX_ROTATION_DAYS,
        staging: MAX_ROTATION_DAYS,
    };

    /// Valid, and no longer than the vendor's `max` for any environment.
    pub fn validate_within(&self, max: &RotationPolicy) -> Result<(), String> {
        self.validate()?;
        for env in [Environment::Live, Environment::Test, Environment::Staging] {
            if self.days(env) > max.days(env) {
                return Err(format!(
                    "rotation_days.{env}: this service allows at most {} days for {env} keys",
                    max.days(env)
                ));
            }
        }
        Ok(())
    }

    /// Each environment's period, shortened to the vendor's `max`.
    pub fn capped(&self, max: &RotationPolicy) -> RotationPolicy {
        RotationPolicy {
            live: self.live.min(max.live),
            test: self.test.min(max.test),
            staging: self.staging.min(max.staging),
        }
    }

    /// Reads the vendor's bounds, `live=90,test=30,staging=30`; environments
    /// left out stay at [`MAX_ROTATION_DAYS`].
    pub fn parse_bounds(text: &str) -> Result<RotationPolicy, String> {
        let mut max = RotationPolicy::UNBOUNDED;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (env, days) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write ENV=DAYS, e.g. live=90"))?;
            let days: u32 = days
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: days must be a whole number"))?;
            let slot = match env.trim() {
                "live" => &mut max.live,
                "test" => &mut max.test,
                "staging" => &mut max.staging,
                other => return Err(format!("{other:?}: use live, test or staging")),
            };
            *slot = days;
        }
        max.validate()?;
        Ok(max)
    }

    pub fn due_at(&self, created_at: DateTime<Utc>, env: Environment) -> DateTime<Utc> {
        created_at + Duration::days(i64::from(self.days(env)))
    }
}

/// The facts about a key that reminders depend on.
#[derive(Debug, Clone, Copy)]
pub struct KeyAge {
    pub environment: Environment,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked or expired keys need no reminder.
    pub active: bool,
    /// A rotated key (it has a replacement) stops nagging.
    pub rotated: bool,
}

/// The reminders that apply to a key right now.
pub fn reminders(policy: &RotationPolicy, key: &KeyAge, now: DateTime<Utc>) -> Vec<Reminder> {
    let mut out = Vec::new();
    if !key.active || key.rotated {
        return out;
    }
    let due = policy.due_at(key.created_at, key.environment);
    if now >= due {
        out.push(Reminder::RotationOverdue);
    } else if now >= due - Duration::days(DUE_SOON_DAYS) {
        out.push(Reminder::RotationDueSoon);
    }
    if let Some(exp) = key.expires_at {
        if now < exp && now >= exp - Duration::days(EXPIRING_DAYS) {
            out.push(Reminder::KeyExpiring);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(i64::from(d))
    }

    fn key(env: Environment) -> KeyAge {
        KeyAge {
            environment: env,
            created_at: t(0),
            expires_at: None,
            active: true,
            rotated: false,
        }
    }

    #[test]
    fn live_keys_are_due_after_90_days_test_after_30() {
        let p = RotationPolicy::default();
        assert_eq!(p.due_at(t(0), Environment::Live), t(90));
        assert_eq!(p.due_at(t(0), Environment::Staging), t(30));
        assert!(reminders(&p, &key(Environment::Live), t(75)).is_empty());
        assert_eq!(
            reminders(&p, &key(Environment::Live), t(76)),
            vec![Reminder::RotationDueSoon]
        );
        assert_eq!(
            reminders(&p, &key(Environment::Live), t(90)),
            vec![Reminder::RotationOverdue]
        );
        assert_eq!(
            reminders(&p, &key(Environment::Test), t(16)),
            vec![Reminder::RotationDueSoon]
        );
    }

    #[test]
    fn rotated_revoked_keys_stop_nagging() {
        let p = RotationPolicy::default();
        let mut k = key(Environment::Live);
        k.rotated = true;
        assert!(reminders(&p, &k, t(200)).is_empty());
        let mut k = key(Environment::Live);
        k.active = false;
        assert!(reminders(&p, &k, t(200)).is_empty());
    }

    #[test]
    fn expiring_within_a_week() {
        let p = RotationPolicy::default();
        let mut k = key(Environment::Live);
        k.expires_at = Some(t(20));
        assert!(reminders(&p, &k, t(12)).is_empty());
        assert_eq!(reminders(&p, &k, t(13)), vec![Reminder::KeyExpiring]);
    }

    #[test]
    fn vendor_bounds_parse_cap_and_refuse() {
        let max = RotationPolicy::parse_bounds("live=60, test=14").unwrap();
        assert_eq!(
            (max.live, max.test, max.staging),
            (60, 14, MAX_ROTATION_DAYS)
        );
        assert!(RotationPolicy::parse_bounds("prod=3").is_err());
        assert!(RotationPolicy::parse_bounds("live=0").is_err());
        assert!(RotationPolicy::parse_bounds("live").is_err());
        let p = RotationPolicy::default();
        let e = p.validate_within(&max).unwrap_err();
        assert!(e.contains("at most 60 days for live"), "{e}");
        assert_eq!(p.capped(&max).live, 60);
        assert_eq!(p.capped(&max).test, 14);
        assert!(p.capped(&max).validate_within(&max).is_ok());
    }

    #[test]
    fn policy_bounds() {
        assert!(RotationPolicy {
            live: 0,
            test: 1,
            staging: 1
        }
        .validate()
        .is_err());
        assert!(RotationPolicy::default().validate().is_ok());
    }
}
