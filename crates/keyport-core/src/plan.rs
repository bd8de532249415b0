//! Plans and their limits, exactly as the seed's table.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Professional,
    Enterprise,
}

/// Request limits. `per_day: None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub per_minute: u32,
    pub per_day: Option<u32>,
    pub burst: u32,
}

impl Plan {
    pub const ALL: [Plan; 4] = [
        Plan::Free,
        Plan::Starter,
        Plan::Professional,
        Plan::Enterprise,
    ];

    pub fn limits(self) -> Limits {
        let (per_minute, per_day, burst) = match self {
            Plan::Free => (10, Some(1_000), 20),
            Plan::Starter => (60, Some(10_000), 100),
            Plan::Professional => (300, Some(100_000), 500),
            Plan::Enterprise => (1_000, None, 2_000),
        };
        Limits {
            per_minute,
            per_day,
            burst,
        }
    }

    /// The most active keys an account on this plan may hold. Limits are per
    /// key, so without a cap more keys would mean more traffic. Enterprise's
    /// cap is the server's to set (`--enterprise-key-cap`).
    pub fn key_cap(self, enterprise: u32) -> u32 {
        match self {
            Plan::Free => 5,
            Plan::Starter => 25,
            Plan::Professional => 100,
            Plan::Enterprise => enterprise,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown plan \"{s}\"; expected free, starter, professional or enterprise")
            })
    }
}

/// A key's own limits. Each field may only lower the plan's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("{field} is {asked}, above the most this service allows ({allowed})")]
    AboveMax {
        field: &'static str,
        asked: u32,
        allowed: u32,
    },
    #[error("rate_limit.{field} must be at least 1")]
    Zero { field: &'static str },
    #[error("rate_limit.{field} is {asked}, above the plan's {allowed}; a key's limit may lower the plan's but not raise it")]
    AbovePlan {
        field: &'static str,
        asked: u32,
        allowed: u32,
    },
}

impl RateLimitOverride {
    pub fn is_empty(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none() && self.burst.is_none()
    }

    pub fn validate(&self, plan: Limits) -> Result<(), RateLimitError> {
        check("per_minute", self.per_minute, Some(plan.per_minute))?;
        check("per_day", self.per_day, plan.per_day)?;
        check("burst", self.burst, Some(plan.burst))
    }

    /// The limits that apply to the key: the lower of plan and override. The
    /// plan may have changed since the override was set, so take the minimum
    /// here too rather than trusting the earlier validation.
    pub fn apply(&self, plan: Limits) -> Limits {
        Limits {
            per_minute: min_opt(plan.per_minute, self.per_minute),
            per_day: match (plan.per_day, self.per_day) {
                (Some(p), Some(o)) => Some(p.min(o)),
                (p, o) => p.or(o),
            },
            burst: min_opt(plan.burst, self.burst),
        }
    }
}

/// The largest per-minute rate or burst an operator may give one account.
pub const MAX_ACCOUNT_RATE: u32 = 1_000_000;

impl RateLimitOverride {
    /// An account's limits as its operator set them: each field present
    /// replaces the plan's, above it or below (a deal with one customer).
    pub fn replace(&self, plan: Limits) -> Limits {
        Limits {
            per_minute: self.per_minute.unwrap_or(plan.per_minute),
            per_day: self.per_day.or(plan.per_day),
            burst: self.burst.unwrap_or(plan.burst),
        }
    }

    /// Checks an operator's account override: each field at least 1, rates
    /// and bursts at most [`MAX_ACCOUNT_RATE`].
    pub fn validate_account(&self) -> Result<(), RateLimitError> {
        for (field, v) in [("per_minute", self.per_minute), ("burst", self.burst)] {
            if let Some(v) = v {
                if v > MAX_ACCOUNT_RATE {
                    return Err(RateLimitError::AboveMax {
                        field,
                        asked: v,
                        allowed: MAX_ACCOUNT_RATE,
                    });
                }
            }
        }
        check("per_minute", self.per_minute, None)?;
        check("per_day", self.per_day, None)?;
        check("burst", self.burst, None)
    }
}

fn min_opt(plan: u32, over: Option<u32>) -> u32 {
    over.map_or(plan, |o| o.min(plan))
}

fn check(
    field: &'static str,
    asked: Option<u32>,
    allowed: Option<u32>,
) -> Result<(), RateLimitError> {
    match (asked, allowed) {
        (Some(0), _) => Err(RateLimitError::Zero { field }),
        (Some(asked), Some(allowed)) if asked > allowed => Err(RateLimitError::AbovePlan {
            field,
            asked,
            allowed,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_override_replaces_the_plan_either_way() {
        let o = RateLimitOverride {
            per_minute: Some(5_000),
            per_day: Some(50),
            burst: None,
        };
        let l = o.replace(Plan::Starter.limits());
        assert_eq!((l.per_minute, l.per_day, l.burst), (5_000, Some(50), 100));
        let l = RateLimitOverride::default().replace(Plan::Enterprise.limits());
        assert_eq!(l, Plan::Enterprise.limits());
        assert!(o.validate_account().is_ok());
        let zero = RateLimitOverride {
            per_day: Some(0),
            ..Default::default()
        };
        assert_eq!(
            zero.validate_account(),
            Err(RateLimitError::Zero { field: "per_day" })
        );
        let huge = RateLimitOverride {
            burst: Some(MAX_ACCOUNT_RATE + 1),
            ..Default::default()
        };
        assert!(matches!(
            huge.validate_account(),
            Err(RateLimitError::AboveMax { field: "burst", .. })
        ));
    }

    #[test]
    fn seed_table() {
        let rows: Vec<_> = Plan::ALL
            .iter()
            .map(|p| {
                let l = p.limits();
                (p.as_str(), l.per_minute, l.per_day, l.burst)
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("free", 10, Some(1_000), 20),
                ("starter", 60, Some(10_000), 100),
                ("professional", 300, Some(100_000), 500),
                ("enterprise", 1_000, None, 2_000),
            ]
        );
    }

    #[test]
    fn override_may_lower_not_raise() {
        let free = Plan::Free.limits();
        let lower = RateLimitOverride {
            per_minute: Some(5),
            ..Default::default()
        };
        assert!(lower.validate(free).is_ok());
        assert_eq!(lower.apply(free).per_minute, 5);
        assert_eq!(lower.apply(free).burst, 20);
        let higher = RateLimitOverride {
            burst: Some(21),
            ..Default::default()
        };
        assert!(matches!(
            higher.validate(free),
            Err(RateLimitError::AbovePlan { field: "burst", .. })
        ));
        let zero = RateLimitOverride {
            per_day: Some(0),
            ..Default::default()
        };
        assert!(zero.validate(free).is_err());
    }

    #[test]
    fn unlimited_day_can_be_capped() {
        let ent = Plan::Enterprise.limits();
        let cap = RateLimitOverride {
            per_day: Some(50_000),
            ..Default::default()
        };
        assert!(cap.validate(ent).is_ok());
        assert_eq!(cap.apply(ent).per_day, Some(50_000));
        assert_eq!(RateLimitOverride::default().apply(ent).per_day, None);
    }

    #[test]
    fn apply_caps_even_unvalidated_values() {
        let o = RateLimitOverride {
            per_minute: Some(10_000),
            ..Default::default()
        };
        assert_eq!(o.apply(Plan::Starter.limits()).per_minute, 60);
    }
}
