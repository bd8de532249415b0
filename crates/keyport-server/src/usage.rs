//! Usage queries: per-key series with breakdowns, per-account totals, CSV.

use chrono::{DateTime, Duration, Utc};
use keyport_core::Counts;
use std::collections::HashMap;

use crate::admin::Admin;
use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::store::{Dimension, Store};
use std::sync::Arc;

/// Most points one series call returns: 30 days at minute resolution fit.
pub const MAX_POINTS: i64 = 50_000;
const TOP_BREAKDOWN: u32 = 20;

/// A validated, step-aligned window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub step: Step,
}

impl Window {
    /// Defaults: the last 24 hours; the step from the span (≤ 6 h minute,
    /// ≤ 14 d hour, else day). `from` is floored and `to` ceiled to the step.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        step: Option<Step>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let bounded = |t: Option<DateTime<Utc>>, name: &str| {
            t.map(keyport_core::request::check_date)
                .transpose()
                .map_err(|e| ServiceError::BadRequest(format!("{name}: {e}")))
        };
        let (from, to) = (bounded(from, "from")?, bounded(to, "to")?);
        let to_given = to.is_some();
        let to = to.unwrap_or(now);
        // Within the accepted range, a day back from `to` always exists.
        let from = from.unwrap_or_else(|| to.checked_sub_signed(Duration::hours(24)).unwrap_or(to));
        if from >= to {
            return Err(ServiceError::BadRequest("from must be before to".into()));
        }
        let span = to - from;
        let step = step.unwrap_or(if span <= Duration::hours(6) {
            Step::Minute
        } else if span <= Duration::days(14) {
            Step::Hour
        } else {
            Step::Day
        });
        let s = step.seconds();
        let from = from.timestamp().div_euclid(s) * s;
        // Without an explicit end, the current bucket is included whole.
        let end = if to_given {
            to.timestamp()
        } else {
            to.timestamp() + 1
        };
        let to = (end + s - 1).div_euclid(s) * s;
        let points = (to - from) / s;
        if points > MAX_POINTS {
            return Err(ServiceError::BadRequest(format!(
                "that window is {points} points at step {}; at most {MAX_POINTS} per call: use a larger step or a shorter window",
                step_name(step)
            )));
        }
        Ok(Self { from, to, step })
    }
}

fn step_name(s: Step) -> &'static str {
    match s {
        Step::Minute => "minute",
        Step::Hour => "hour",
        Step::Day => "day",
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// An account's usage as the API reports it: read from the store only (what
/// every instance has flushed).
pub struct UsageReports {
    store: Arc<dyn Store>,
}

impl UsageReports {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn key_usage(&self, admin: &Admin, key_id: &str, w: Window) -> Result<KeyUsage> {
        self.store
            .key(&admin.account.id, key_id)
            .await?
            .ok_or(ServiceError::NotFound("key"))?;
        let rows = self
            .store
            .usage_series(key_id, w.step, w.from, w.to)
            .await?;
        let points = zero_filled(w, rows);
        let top = |dim| {
            self.store
                .usage_top(key_id, dim, w.from, w.to, TOP_BREAKDOWN)
        };
        let endpoints = top(Dimension::Endpoint).await?;
        let countries = top(Dimension::Country).await?;
        let networks = top(Dimension::Network).await?;
        let reasons = top(Dimension::Reason).await?;
        Ok(KeyUsage {
            key_id: key_id.to_string(),
            from: at(w.from),
            to: at(w.to),
            step: w.step,
            points,
            endpoints: endpoints
                .into_iter()
                .map(|(endpoint, count)| EndpointCount {
                    // Rows written before endpoints were bounded may be long.
                    endpoint: keyport_core::usage::truncate(
                        &endpoint,
                        keyport_core::usage::MAX_ENDPOINT_LEN,
                    )
                    .to_string(),
                    count,
                })
                .collect(),
            countries: countries
                .into_iter()
                .map(|(country, count)| CountryCount { country, count })
                .collect(),
            networks: networks
                .into_iter()
                .map(|(network, count)| NetworkCount { network, count })
                .collect(),
            would_deny: reasons
                .into_iter()
                .map(|(reason, count)| ReasonCount { reason, count })
                .collect(),
        })
    }

    /// The same series as CSV: `t,success,client_error,server_error,rate_limited,denied,would_deny`.
    pub async fn key_usage_csv(&self, admin: &Admin, key_id: &str, w: Window) -> Result<String> {
        let usage = self.key_usage(admin, key_id, w).await?;
        let mut out =
            String::from("t,success,client_error,server_error,rate_limited,denied,would_deny\n");
        for p in usage.points {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                p.t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                p.success,
                p.client_error,
                p.server_error,
                p.rate_limited,
                p.denied,
                p.would_deny
            ));
        }
        Ok(out)
    }

    /// All keys of the account in one call: their requests together over
    /// time (zero-filled, like a key's series) and totals per key, both from
    /// the step's table, so the two agree.
    pub async fn account_usage(&self, admin: &Admin, w: Window) -> Result<AccountUsage> {
        let account = &admin.account.id;
        let series = self
            .store
            .account_series(account, w.step, w.from, w.to)
            .await?;
        let totals: HashMap<String, Counts> = self
            .store
            .usage_totals(account, w.step, w.from, w.to)
            .await?
            .into_iter()
            .collect();
        let mut keys: Vec<KeyTotals> = self
            .store
            .key_names(account)
            .await?
            .into_iter()
            .map(|(id, name)| {
                let c = totals.get(&id).copied().unwrap_or_default();
                let p = UsagePoint::new(at(w.from), &c);
                KeyTotals {
                    key_id: id,
                    name,
                    total: c.total(),
                    success: p.success,
                    client_error: p.client_error,
                    server_error: p.server_error,
                    rate_limited: p.rate_limited,
                    denied: p.denied,
                    would_deny: p.would_deny,
                }
            })
            .collect();
        keys.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        Ok(AccountUsage {
            from: at(w.from),
            to: at(w.to),
            step: w.step,
            points: zero_filled(w, series),
            keys,
        })
    }
}

/// One point per step of the window, zero where the store has no row.
fn zero_filled(w: Window, rows: Vec<(i64, Counts)>) -> Vec<UsagePoint> {
    let by_t: HashMap<i64, Counts> = rows.into_iter().collect();
    let s = w.step.seconds();
    (0..(w.to - w.from) / s)
        .map(|i| {
            let t = w.from + i * s;
            UsagePoint::new(at(t), by_t.get(&t).unwrap_or(&Counts::default()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 30, 20).unwrap()
    }

    #[test]
    fn defaults_and_alignment() {
        let w = Window::new(None, None, None, now()).unwrap();
        assert_eq!(w.step, Step::Hour);
        assert_eq!(w.to - w.from, 25 * 3600, "floored from, ceiled to");
        let on_boundary = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        let w = Window::new(None, None, Some(Step::Hour), on_boundary).unwrap();
        assert_eq!(
            w.to,
            on_boundary.timestamp() + 3600,
            "the current hour is included"
        );
        let w = Window::new(Some(now() - Duration::hours(1)), Some(now()), None, now()).unwrap();
        assert_eq!(w.step, Step::Minute);
        assert_eq!((w.to - w.from) / 60, 61);
    }

    #[test]
    fn thirty_days_per_minute_fit_more_do_not() {
        let d30 = Window::new(
            Some(now() - Duration::days(30)),
            Some(now()),
            Some(Step::Minute),
            now(),
        )
        .unwrap();
        assert!((d30.to - d30.from) / 60 <= MAX_POINTS);
        let err = Window::new(
            Some(now() - Duration::days(40)),
            Some(now()),
            Some(Step::Minute),
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("at most"));
        assert!(Window::new(Some(now()), Some(now() - Duration::hours(1)), None, now()).is_err());
    }
}
