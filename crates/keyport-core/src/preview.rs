//! What alert rules would have raised over stored history: the detector's
//! own rules ([`crate::anomaly::detect_for`]) replayed hour by hour over a
//! key's hourly usage and breakdowns. Approximate by nature: the detector
//! looks at 10-minute windows of minute data, the replay at whole hours (a
//! burst shorter than an hour is diluted in it; a few requests spread over
//! an hour count as if they came together).

use std::collections::HashMap;

use crate::anomaly::{detect, AnomalyConfig, AnomalyKind, AnomalyRules, KeyActivity};
use crate::hours::Schedule;
use crate::usage::Counts;

/// One alert of a kind on a key is raised at most this often (the
/// detector's cooldown).
pub const COOLDOWN_SECS: i64 = 86_400;
const HOUR: i64 = 3_600;

/// One key's stored history, unix seconds, hour-aligned.
#[derive(Debug, Clone, Default)]
pub struct KeyHistory {
    pub created_at: i64,
    /// Hourly totals, from the start of the baseline before the replayed span.
    pub hours: Vec<(i64, Counts)>,
    /// Hourly requests per country and per endpoint, same span.
    pub countries: Vec<(i64, String, u64)>,
    pub endpoints: Vec<(i64, String, u64)>,
    /// When each country and endpoint was first seen (all time).
    pub first_seen_countries: HashMap<String, i64>,
    pub first_seen_endpoints: HashMap<String, i64>,
}

/// The account settings a replay is run with.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub config: &'a AnomalyConfig,
    pub rules: &'a AnomalyRules,
    pub schedule: Option<&'a Schedule>,
    /// ISO country codes; empty means anywhere.
    pub allowed_countries: &'a [String],
}

/// An alert the replay would have raised, at the start of its hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub kind: AnomalyKind,
    pub at: i64,
}

/// Alerts `policy` would have raised on one key in `[from, to)`. One pass
/// over the key's hours and breakdown rows (each sorted by hour here), with
/// running sums for the baseline and for what is already known.
pub fn replay(policy: Policy<'_>, key: &KeyHistory, from: i64, to: i64) -> Vec<Raised> {
    // The rules read "the window" as one hour here; the account's rules
    // are laid over the server's once.
    let config = AnomalyConfig {
        window_minutes: 60,
        ..policy.config.with_rules(policy.rules)
    };
    let baseline_span = i64::from(config.baseline_days) * 86_400;
    let hours = sorted(&key.hours, |r| r.0);
    let mut countries = Seen::new(sorted(&key.countries, |r| r.0), &key.first_seen_countries);
    let mut endpoints = Seen::new(sorted(&key.endpoints, |r| r.0), &key.first_seen_endpoints);
    let mut baseline = Baseline::default();
    let mut last: HashMap<AnomalyKind, i64> = HashMap::new();
    let mut out = Vec::new();
    for (i, &(h, recent)) in hours.iter().enumerate() {
        baseline.advance(&hours, i, h - baseline_span, policy.schedule);
        countries.advance_to(h);
        endpoints.advance_to(h);
        if h < from || h >= to || recent.total() == 0 {
            continue;
        }
        let mut a = KeyActivity {
            recent,
            baseline: baseline.counts,
            baseline_minutes: ((h - key.created_at.max(h - baseline_span)) / 60).max(0) as u64,
            recent_after_hours: if after_hours(policy.schedule, h) {
                recent.total()
            } else {
                0
            },
            baseline_after_hours: baseline.after_hours,
            known_country_requests: countries.known,
            known_endpoint_requests: endpoints.known,
            ..Default::default()
        };
        for (value, n, new) in countries.this_hour(h) {
            if *new {
                a.new_countries.push((value.clone(), *n));
            }
            let allowed = policy.allowed_countries;
            if !allowed.is_empty() && !allowed.contains(value) {
                a.disallowed_countries.push((value.clone(), *n));
            }
        }
        for (value, n, new) in endpoints.this_hour(h) {
            if *new {
                a.new_endpoints.push((value.clone(), *n));
            }
        }
        a.new_countries.sort();
        a.disallowed_countries.sort();
        a.new_endpoints.sort();
        for f in detect(&config, &a) {
            let on = policy.rules.enabled(f.kind);
            let cooled = last.get(&f.kind).is_none_or(|t| h - t >= COOLDOWN_SECS);
            if on && cooled {
                last.insert(f.kind, h);
                out.push(Raised {
                    kind: f.kind,
                    at: h,
                });
            }
        }
    }
    out
}

fn sorted<T: Clone>(rows: &[T], hour: impl Fn(&T) -> i64) -> Vec<T> {
    let mut v = rows.to_vec();
    v.sort_by_key(|r| hour(r));
    v
}

fn after_hours(schedule: Option<&Schedule>, hour: i64) -> bool {
    // The middle of the hour: a day starting 08:30 counts 08:00–09:00 as in.
    let mid = chrono::DateTime::from_timestamp(hour + HOUR / 2, 0);
    match (schedule, mid) {
        (Some(s), Some(t)) => !s.contains(t),
        _ => false,
    }
}

/// The hours in `[h - span, h)`, summed: hours enter as `h` moves past
/// them and leave once older than the span.
#[derive(Default)]
struct Baseline {
    counts: Counts,
    after_hours: u64,
    /// Hours `[oldest, next)` of the sorted list are in the sums.
    oldest: usize,
    next: usize,
}

impl Baseline {
    fn advance(&mut self, hours: &[(i64, Counts)], now: usize, start: i64, s: Option<&Schedule>) {
        while self.next < now {
            let (t, c) = &hours[self.next];
            self.counts.add(c);
            self.after_hours += if after_hours(s, *t) { c.total() } else { 0 };
            self.next += 1;
        }
        while self.oldest < self.next && hours[self.oldest].0 < start {
            let (t, c) = &hours[self.oldest];
            for (sum, x) in self.counts.0.iter_mut().zip(c.0) {
                *sum -= x;
            }
            self.after_hours -= if after_hours(s, *t) { c.total() } else { 0 };
            self.oldest += 1;
        }
    }
}

/// A breakdown's rows walked by hour: requests from values already known
/// before the current hour, and the current hour's rows with whether each
/// value was first seen within it. `unknown` (no country) never counts.
struct Seen<'a> {
    rows: Vec<(i64, String, u64)>,
    first_seen: &'a HashMap<String, i64>,
    known: u64,
    /// Rows before this index are in `known`.
    next: usize,
    hour: Vec<(String, u64, bool)>,
}

impl<'a> Seen<'a> {
    fn new(rows: Vec<(i64, String, u64)>, first_seen: &'a HashMap<String, i64>) -> Self {
        Self {
            rows,
            first_seen,
            known: 0,
            next: 0,
            hour: Vec::new(),
        }
    }

    fn advance_to(&mut self, h: i64) {
        while let Some((t, value, n)) = self.rows.get(self.next) {
            if *t >= h {
                break;
            }
            if value != "unknown" {
                self.known += n;
            }
            self.next += 1;
        }
    }

    fn this_hour(&mut self, h: i64) -> &[(String, u64, bool)] {
        self.hour.clear();
        for (t, value, n) in &self.rows[self.next..] {
            if *t != h {
                break;
            }
            if value == "unknown" {
                continue;
            }
            let first = self.first_seen.get(value).copied().unwrap_or(*t);
            self.hour
                .push((value.clone(), *n, first >= h && first < h + HOUR));
        }
        &self.hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::BusinessHours;

    const DAY: i64 = 86_400;
    // Monday 2026-11-02 00:00 UTC.
    const MONDAY: i64 = 1_793_577_600;

    fn ok(n: u64) -> Counts {
        Counts([n, 0, 0, 0, 0, 0])
    }

    /// Two weeks of 100 requests an hour, 09:00–17:00 on week days, from DE
    /// to one endpoint; then one night at 02:00 and a request from BR.
    fn office_key() -> KeyHistory {
        let mut k = KeyHistory {
            created_at: MONDAY,
            ..Default::default()
        };
        for day in 0..14 {
            for hour in 9..17 {
                let t = MONDAY + day * DAY + hour * HOUR;
                if (day % 7) < 5 {
                    k.hours.push((t, ok(100)));
                    k.countries.push((t, "DE".into(), 100));
                    k.endpoints.push((t, "GET /v1/things".into(), 100));
                }
            }
        }
        let night = MONDAY + 14 * DAY + 2 * HOUR;
        k.hours.push((night, ok(30)));
        k.countries.push((night, "DE".into(), 29));
        k.countries.push((night, "BR".into(), 1));
        k.endpoints.push((night, "GET /v1/things".into(), 30));
        k.first_seen_countries
            .insert("DE".into(), MONDAY + 9 * HOUR);
        k.first_seen_countries.insert("BR".into(), night + 600);
        k.first_seen_endpoints
            .insert("GET /v1/things".into(), MONDAY + 9 * HOUR);
        k
    }

    fn kinds(policy: Policy<'_>, k: &KeyHistory) -> Vec<AnomalyKind> {
        replay(policy, k, MONDAY + 7 * DAY, MONDAY + 15 * DAY)
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    #[test]
    fn replays_after_hours_and_new_country_with_the_accounts_settings() {
        let cfg = AnomalyConfig::default();
        let rules = AnomalyRules::default();
        let hours = BusinessHours {
            time_zone: "UTC".into(),
            days: vec![1, 2, 3, 4, 5],
            start: "08:30".into(),
            end: "17:00".into(),
        }
        .schedule()
        .unwrap();
        let k = office_key();
        let anywhere = Policy {
            config: &cfg,
            rules: &rules,
            schedule: Some(&hours),
            allowed_countries: &[],
        };
        // BR first seen after thousands of requests from DE, at 02:00.
        assert_eq!(
            kinds(anywhere, &k),
            vec![AnomalyKind::NewCountry, AnomalyKind::AfterHours]
        );
        // Turning after-hours off, or not knowing business hours, drops it.
        let off: AnomalyRules =
            serde_json::from_str(r#"{"after_hours": {"enabled": false}}"#).unwrap();
        assert_eq!(
            kinds(
                Policy {
                    rules: &off,
                    ..anywhere
                },
                &k
            ),
            vec![AnomalyKind::NewCountry]
        );
        // A night shift: business hours all day long.
        let all_day = BusinessHours {
            time_zone: "UTC".into(),
            days: vec![1, 2, 3, 4, 5, 6, 7],
            start: "00:00".into(),
            end: "23:59".into(),
        }
        .schedule()
        .unwrap();
        assert_eq!(
            kinds(
                Policy {
                    schedule: Some(&all_day),
                    ..anywhere
                },
                &k
            ),
            vec![AnomalyKind::NewCountry]
        );
    }

    #[test]
    fn an_allowed_list_raises_for_every_outside_country_once_a_day() {
        let cfg = AnomalyConfig::default();
        let rules = AnomalyRules::default();
        let mut k = office_key();
        // DE only: BR is outside it.
        let de = ["DE".to_string()];
        let only_de = Policy {
            config: &cfg,
            rules: &rules,
            schedule: None,
            allowed_countries: &de,
        };
        assert_eq!(kinds(only_de, &k), vec![AnomalyKind::NewCountry]);
        // AT only: every hour from DE is outside, one alert a day.
        let at = ["AT".to_string()];
        let only_at = Policy {
            allowed_countries: &at,
            ..only_de
        };
        let raised = replay(only_at, &k, MONDAY + 7 * DAY, MONDAY + 15 * DAY);
        assert_eq!(raised.len(), 6, "{raised:?}"); // 5 week days + the night
        assert!(raised
            .windows(2)
            .all(|w| w[1].at - w[0].at >= COOLDOWN_SECS));
        // Nothing outside the replayed span counts.
        k.hours.retain(|(t, _)| *t < MONDAY + 7 * DAY);
        assert!(kinds(only_at, &k).is_empty());
    }

    #[test]
    fn the_baseline_forgets_hours_older_than_its_days() {
        let cfg = AnomalyConfig::default();
        let rules = AnomalyRules::default();
        let mut k = KeyHistory {
            created_at: MONDAY,
            ..Default::default()
        };
        // A busy first week, a quiet second, then 500 requests in one hour.
        for hour in 0..7 * 24 {
            k.hours.push((MONDAY + hour * HOUR, ok(1_000)));
        }
        let burst = MONDAY + 14 * DAY + 10 * HOUR;
        k.hours.push((burst, ok(500)));
        let p = Policy {
            config: &cfg,
            rules: &rules,
            schedule: None,
            allowed_countries: &[],
        };
        // Against the last 7 days (nothing) it is a spike; were the busy
        // week still counted, it would not be.
        let raised = replay(p, &k, burst, burst + HOUR);
        assert_eq!(
            raised,
            [Raised {
                kind: AnomalyKind::VolumeSpike,
                at: burst
            }]
        );
        let busy = replay(p, &k, MONDAY, MONDAY + 7 * DAY);
        assert!(busy.is_empty(), "steady traffic: {busy:?}");
    }

    #[test]
    fn volume_spike_against_the_keys_own_baseline() {
        let cfg = AnomalyConfig::default();
        let rules = AnomalyRules::default();
        let mut k = office_key();
        let spike = MONDAY + 14 * DAY + 10 * HOUR;
        k.hours.push((spike, ok(1_000))); // ~42× its usual 24 an hour
        k.hours.sort_by_key(|(t, _)| *t);
        let p = Policy {
            config: &cfg,
            rules: &rules,
            schedule: None,
            allowed_countries: &[],
        };
        assert!(kinds(p, &k).contains(&AnomalyKind::VolumeSpike));
        let tuned: AnomalyRules =
            serde_json::from_str(r#"{"volume_spike": {"factor": 100.0}}"#).unwrap();
        assert!(!kinds(Policy { rules: &tuned, ..p }, &k).contains(&AnomalyKind::VolumeSpike));
    }
}
