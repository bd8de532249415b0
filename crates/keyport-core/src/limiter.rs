//! Limiter math: GCRA for the per-minute rate with burst, plus UTC-day quotas.
//! State is a single number per key (the theoretical arrival time, TAT); the
//! caller owns it and passes `now`, so the math is exact and testable.

use crate::plan::Limits;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// Generic cell rate algorithm: capacity `burst`, refill `per_minute / 60` per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    emission_ns: i64,
    tolerance_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcraOutcome {
    Allowed {
        new_tat: i64,
        remaining: u64,
        full_at: i64,
    },
    Denied {
        retry_after_ns: i64,
        full_at: i64,
    },
}

impl Gcra {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let emission_ns = 60 * NANOS_PER_SEC / i64::from(per_minute.max(1));
        Self {
            emission_ns,
            tolerance_ns: emission_ns * i64::from(burst.max(1)),
        }
    }

    /// One request at `now` against state `tat` (0 = never used).
    pub fn check(&self, tat: i64, now: i64) -> GcraOutcome {
        let new_tat = tat.max(now) + self.emission_ns;
        let ahead = new_tat - now;
        if ahead > self.tolerance_ns {
            GcraOutcome::Denied {
                retry_after_ns: ahead - self.tolerance_ns,
                full_at: tat.max(now),
            }
        } else {
            GcraOutcome::Allowed {
                new_tat,
                remaining: ((self.tolerance_ns - ahead) / self.emission_ns) as u64,
                full_at: new_tat,
            }
        }
    }

    /// Requests that would pass right now without changing state.
    pub fn remaining(&self, tat: i64, now: i64) -> u64 {
        let ahead = (tat - now).max(0);
        ((self.tolerance_ns - ahead).max(0) / self.emission_ns) as u64
    }
}

/// UTC day number (days since the Unix epoch) of a time in nanoseconds.
pub fn utc_day(now_ns: i64) -> i64 {
    now_ns.div_euclid(NANOS_PER_DAY)
}

/// Start of the next UTC day, in nanoseconds.
pub fn next_utc_midnight(now_ns: i64) -> i64 {
    (utc_day(now_ns) + 1) * NANOS_PER_DAY
}

/// What the limiter says about one request: everything the response headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `X-RateLimit-Limit`: the per-minute limit.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests left before a 429, counting every window.
    pub remaining: u64,
    /// `X-RateLimit-Reset`: unix seconds when the binding window is whole again.
    pub reset: i64,
    /// `Retry-After` in whole seconds (≥ 1), set only when refused.
    pub retry_after: Option<u64>,
    /// The day's quota, not the rate, is what `remaining` counts down to
    /// (or what refused): the IETF `RateLimit` field then names the `day`
    /// policy, with the time to UTC midnight.
    pub day_bound: bool,
    /// The key's daily quota (`None`: unlimited), for `RateLimit-Policy`.
    pub day_limit: Option<u32>,
    /// Seconds until the binding window has more quota: the wait when
    /// refused, else until the rate is whole again (or UTC midnight when
    /// the day binds). The IETF `RateLimit` field's `t`.
    pub reset_in: u64,
}

/// A daily quota: used so far today and the cap (`None` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayQuota {
    pub used: u64,
    pub cap: Option<u32>,
}

impl DayQuota {
    fn left(&self) -> Option<u64> {
        self.cap.map(|c| u64::from(c).saturating_sub(self.used))
    }
}

/// Decide one request: daily quotas first (key, then account), then the rate.
/// Returns the decision and, when allowed, the new TAT to store.
pub fn decide(
    limits: Limits,
    tat: i64,
    now: i64,
    key_day: DayQuota,
    account_day: DayQuota,
) -> (Decision, Option<i64>) {
    let day_left = [key_day.left(), account_day.left()]
        .into_iter()
        .flatten()
        .min();
    if day_left == Some(0) {
        let midnight = next_utc_midnight(now);
        return (
            Decision {
                allowed: false,
                limit: limits.per_minute,
                remaining: 0,
                reset: ceil_secs(midnight),
                retry_after: Some(ceil_secs(midnight - now).max(1) as u64),
                day_bound: true,
                day_limit: limits.per_day,
                reset_in: ceil_secs(midnight - now).max(1) as u64,
            },
            None,
        );
    }
    let gcra = Gcra::new(limits.per_minute, limits.burst);
    match gcra.check(tat, now) {
        GcraOutcome::Allowed {
            new_tat,
            remaining,
            full_at,
        } => {
            // This request uses one of the day's remaining calls.
            let day_bound = day_left.is_some_and(|d| d - 1 < remaining);
            let remaining = day_left.map_or(remaining, |d| remaining.min(d - 1));
            let decision = Decision {
                allowed: true,
                limit: limits.per_minute,
                remaining,
                reset: ceil_secs(full_at),
                retry_after: None,
                day_bound,
                day_limit: limits.per_day,
                reset_in: if day_bound {
                    ceil_secs(next_utc_midnight(now) - now)
                } else {
                    ceil_secs(full_at - now)
                }
                .max(0) as u64,
            };
            (decision, Some(new_tat))
        }
        GcraOutcome::Denied {
            retry_after_ns,
            full_at,
        } => (
            Decision {
                allowed: false,
                limit: limits.per_minute,
                remaining: 0,
                reset: ceil_secs(full_at),
                retry_after: Some(ceil_secs(retry_after_ns).max(1) as u64),
                day_bound: false,
                day_limit: limits.per_day,
                reset_in: ceil_secs(retry_after_ns).max(1) as u64,
            },
            None,
        ),
    }
}

fn ceil_secs(ns: i64) -> i64 {
    (ns + NANOS_PER_SEC - 1).div_euclid(NANOS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use proptest::prelude::*;

    const S: i64 = NANOS_PER_SEC;
    const T0: i64 = 1_700_000_000 * S + 123_456_789;

    fn unlimited() -> DayQuota {
        DayQuota { used: 0, cap: None }
    }

    /// Runs `n` requests at `now`, returning the decisions and final TAT.
    fn burst_at(limits: Limits, mut tat: i64, now: i64, n: usize) -> (Vec<Decision>, i64) {
        let mut out = Vec::new();
        for _ in 0..n {
            let (d, t) = decide(limits, tat, now, unlimited(), unlimited());
            if let Some(t) = t {
                tat = t;
            }
            out.push(d);
        }
        (out, tat)
    }

    #[test]
    fn the_binding_window_and_the_wait_until_more() {
        let limits = Plan::Starter.limits(); // 60 a minute, bursts of 100, 10,000 a day
        let near = DayQuota {
            used: 0,
            cap: Some(3),
        };
        let (d, _) = decide(limits, T0, T0, near, unlimited());
        assert!(d.day_bound);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.reset_in as i64, ceil_secs(next_utc_midnight(T0) - T0));
        let (d, _) = decide(limits, T0, T0, unlimited(), unlimited());
        assert!(!d.day_bound);
        assert_eq!(d.day_limit, Some(10_000));
        assert!(d.reset_in <= 2, "the burst is whole again within a second");
        let spent = DayQuota {
            used: 3,
            cap: Some(3),
        };
        let (d, _) = decide(limits, T0, T0, unlimited(), spent);
        assert!(d.day_bound && !d.allowed);
        assert_eq!(d.retry_after, Some(d.reset_in));
    }

    #[test]
    fn free_plan_admits_exactly_the_burst() {
        let free = Plan::Free.limits();
        let (ds, tat) = burst_at(free, 0, T0, 25);
        assert_eq!(ds.iter().filter(|d| d.allowed).count(), 20);
        assert!(ds[..20].iter().all(|d| d.allowed));
        assert_eq!(ds[0].remaining, 19);
        assert_eq!(ds[19].remaining, 0);
        for d in &ds[20..] {
            assert!(!d.allowed);
            assert_eq!(d.retry_after, Some(6));
            assert_eq!(d.limit, 10);
        }
        // Waiting Retry-After is enough, and not a nanosecond less.
        let (d, _) = decide(free, tat, T0 + 6 * S, unlimited(), unlimited());
        assert!(d.allowed);
        let (d, _) = decide(free, tat, T0 + 6 * S - 1, unlimited(), unlimited());
        assert!(!d.allowed);
    }

    #[test]
    fn refills_at_per_minute_rate() {
        let starter = Plan::Starter.limits(); // 1 per second, burst 100
        let (_, tat) = burst_at(starter, 0, T0, 100);
        let (ds, _) = burst_at(starter, tat, T0 + 10 * S, 11);
        assert_eq!(ds.iter().filter(|d| d.allowed).count(), 10);
    }

    #[test]
    fn daily_quota_refuses_until_midnight() {
        let free = Plan::Free.limits();
        let key_day = DayQuota {
            used: 1_000,
            cap: Some(1_000),
        };
        let (d, tat) = decide(free, 0, T0, key_day, unlimited());
        assert!(!d.allowed && tat.is_none());
        let midnight = next_utc_midnight(T0);
        assert_eq!(d.reset, midnight / S);
        assert_eq!(d.retry_after, Some(((midnight - T0 + S - 1) / S) as u64));
    }

    #[test]
    fn account_quota_binds_too() {
        let limits = Plan::Starter.limits();
        let acct = DayQuota {
            used: 9_999,
            cap: Some(10_000),
        };
        let (d, tat) = decide(limits, 0, T0, unlimited(), acct);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let acct = DayQuota {
            used: 10_000,
            cap: Some(10_000),
        };
        let (d, _) = decide(limits, tat.unwrap(), T0, unlimited(), acct);
        assert!(!d.allowed);
    }

    #[test]
    fn day_boundaries() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(NANOS_PER_DAY - 1), 0);
        assert_eq!(utc_day(NANOS_PER_DAY), 1);
        assert_eq!(next_utc_midnight(5), NANOS_PER_DAY);
    }

    #[test]
    fn remaining_without_state_change() {
        let g = Gcra::new(10, 20);
        assert_eq!(g.remaining(0, T0), 20);
    }

    proptest! {
        /// Over any window, admitted requests never exceed burst + rate × elapsed.
        #[test]
        fn never_exceeds_burst_plus_rate(
            per_minute in 1u32..2_000,
            burst in 1u32..500,
            gaps in prop::collection::vec(0i64..2 * S, 1..300),
        ) {
            let limits = Limits { per_minute, per_day: None, burst };
            let mut tat = 0;
            let mut now = T0;
            let mut admitted = 0u64;
            for gap in gaps {
                now += gap;
                let (d, t) = decide(limits, tat, now, unlimited(), unlimited());
                if let Some(t) = t { tat = t; admitted += 1; }
                if !d.allowed { prop_assert!(d.retry_after.unwrap() >= 1); }
            }
            let elapsed = (now - T0) as f64 / S as f64;
            let bound = f64::from(burst) + f64::from(per_minute) / 60.0 * elapsed + 1.0;
            prop_assert!(admitted as f64 <= bound);
        }

        /// A refused request succeeds after exactly Retry-After seconds.
        #[test]
        fn retry_after_is_sufficient(per_minute in 1u32..2_000, burst in 1u32..100) {
            let limits = Limits { per_minute, per_day: None, burst };
            let (_, tat) = burst_at(limits, 0, T0, burst as usize);
            let (d, _) = decide(limits, tat, T0, unlimited(), unlimited());
            prop_assert!(!d.allowed);
            let wait = d.retry_after.unwrap() as i64 * S;
            let (d2, _) = decide(limits, tat, T0 + wait, unlimited(), unlimited());
            prop_assert!(d2.allowed);
        }
    }
}
