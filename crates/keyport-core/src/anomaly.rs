//! Anomaly rules. Each looks at one key's recent window against that key's
//! own history, so thresholds are relative, not fixed numbers. The server
//! gathers a [`KeyActivity`] per key every minute; the rules are pure.
//!
//! Defaults (all configurable through [`AnomalyConfig`]):
//! - `volume_spike`: ≥ `min_requests` in the window and ≥ `factor` × the
//!   key's baseline rate for the same length, once the key has
//!   `min_baseline_hours` of history.
//! - `error_spike`: ≥ `min_errors` 4xx/5xx in the window and an error share
//!   ≥ max(baseline share × `factor`, baseline share + `min_increase`).
//! - `new_country`: traffic from a country the key never used, after
//!   `learning_requests` requests from known countries; or from a country
//!   outside the account's allowed list (no learning needed).
//! - `after_hours`: ≥ `min_requests` outside business hours in the window,
//!   for a key whose baseline (≥ `min_baseline_requests`) is at most
//!   `max_baseline_share` after hours.
//! - `unusual_endpoint`: an endpoint the key never called, after
//!   `learning_requests`; or ≥ `denials` scope/resource denials in the window.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::usage::{Counts, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    VolumeSpike,
    ErrorSpike,
    NewCountry,
    AfterHours,
    UnusualEndpoint,
}

impl AnomalyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::VolumeSpike => "volume_spike",
            AnomalyKind::ErrorSpike => "error_spike",
            AnomalyKind::NewCountry => "new_country",
            AnomalyKind::AfterHours => "after_hours",
            AnomalyKind::UnusualEndpoint => "unusual_endpoint",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnomalyConfig {
    /// The recent window every rule looks at, in minutes.
    pub window_minutes: u32,
    /// How far back the baseline reaches, in days.
    pub baseline_days: u32,
    pub volume_spike: VolumeSpike,
    pub error_spike: ErrorSpike,
    pub new_country: Learning,
    pub after_hours: AfterHours,
    pub unusual_endpoint: UnusualEndpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeSpike {
    pub factor: f64,
    pub min_requests: u64,
    pub min_baseline_hours: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorSpike {
    pub factor: f64,
    pub min_increase: f64,
    pub min_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Learning {
    pub learning_requests: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AfterHours {
    pub min_requests: u64,
    pub min_baseline_requests: u64,
    pub max_baseline_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnusualEndpoint {
    pub learning_requests: u64,
    pub denials: u64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            window_minutes: 10,
            baseline_days: 7,
            volume_spike: VolumeSpike::default(),
            error_spike: ErrorSpike::default(),
            new_country: Learning::default(),
            after_hours: AfterHours::default(),
            unusual_endpoint: UnusualEndpoint::default(),
        }
    }
}

impl Default for VolumeSpike {
    fn default() -> Self {
        Self {
            factor: 5.0,
            min_requests: 100,
            min_baseline_hours: 24,
        }
    }
}

impl Default for ErrorSpike {
    fn default() -> Self {
        Self {
            factor: 3.0,
            min_increase: 0.25,
            min_errors: 20,
        }
    }
}

impl Default for Learning {
    fn default() -> Self {
        Self {
            learning_requests: 100,
        }
    }
}

impl Default for AfterHours {
    fn default() -> Self {
        Self {
            min_requests: 5,
            min_baseline_requests: 100,
            max_baseline_share: 0.01,
        }
    }
}

impl Default for UnusualEndpoint {
    fn default() -> Self {
        Self {
            learning_requests: 100,
            denials: 10,
        }
    }
}

/// An account's own alert rules over the server's defaults ([`AnomalyConfig`]):
/// each rule can be turned off and its main thresholds tuned. A field left
/// out (or `null`) follows the server's default, so a vendor's new default
/// reaches every account that did not choose otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AnomalyRules {
    #[serde(deserialize_with = "rule")]
    pub volume_spike: VolumeSpikeRule,
    #[serde(deserialize_with = "rule")]
    pub error_spike: ErrorSpikeRule,
    #[serde(deserialize_with = "rule")]
    pub new_country: NewCountryRule,
    #[serde(deserialize_with = "rule")]
    pub after_hours: AfterHoursRule,
    #[serde(deserialize_with = "rule")]
    pub unusual_endpoint: UnusualEndpointRule,
}

/// A rule is an object, or `null` for "all the server's defaults".
fn rule<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(crate::json::only_object_opt(d)?.unwrap_or_default())
}

/// Many more requests than the key's own usual rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct VolumeSpikeRule {
    pub enabled: Option<bool>,
    /// Times the key's usual rate (1.5 to 100).
    pub factor: Option<f64>,
    /// Fewest requests in the window before it can fire (1 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub min_requests: Option<u64>,
}

/// A much larger share of failed requests than usual.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ErrorSpikeRule {
    pub enabled: Option<bool>,
    /// Times the key's usual error share (1.1 to 100).
    pub factor: Option<f64>,
    /// Fewest failed requests in the window (1 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub min_errors: Option<u64>,
}

/// Traffic from a country the key never used, or outside the allowed list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NewCountryRule {
    pub enabled: Option<bool>,
    /// Requests from known countries before a new one counts (0 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub learning_requests: Option<u64>,
}

/// Requests outside business hours from a key that normally has none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AfterHoursRule {
    pub enabled: Option<bool>,
    /// Fewest after-hours requests in the window (1 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub min_requests: Option<u64>,
}

/// An endpoint the key never called, or repeated scope/resource denials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UnusualEndpointRule {
    pub enabled: Option<bool>,
    /// Requests to known endpoints before a new one counts (0 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub learning_requests: Option<u64>,
    /// Denials in the window that raise it on their own (1 to 1,000,000).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub denials: Option<u64>,
}

/// The largest count threshold an account may set.
pub const MAX_COUNT: u64 = 1_000_000;

fn check_count(field: &str, v: Option<u64>, min: u64) -> Result<(), String> {
    match v {
        Some(n) if n < min || n > MAX_COUNT => Err(format!(
            "anomaly_rules.{field} must be between {min} and {MAX_COUNT}, not {n}"
        )),
        _ => Ok(()),
    }
}

fn check_factor(field: &str, v: Option<f64>, min: f64, max: f64) -> Result<(), String> {
    match v {
        Some(x) if !(min..=max).contains(&x) => Err(format!(
            "anomaly_rules.{field} must be between {min} and {max}, not {x}"
        )),
        _ => Ok(()),
    }
}

impl AnomalyRules {
    /// Checks every set threshold against its documented range.
    pub fn validate(&self) -> Result<(), String> {
        check_factor("volume_spike.factor", self.volume_spike.factor, 1.5, 100.0)?;
        check_count(
            "volume_spike.min_requests",
            self.volume_spike.min_requests,
            1,
        )?;
        check_factor("error_spike.factor", self.error_spike.factor, 1.1, 100.0)?;
        check_count("error_spike.min_errors", self.error_spike.min_errors, 1)?;
        check_count(
            "new_country.learning_requests",
            self.new_country.learning_requests,
            0,
        )?;
        check_count("after_hours.min_requests", self.after_hours.min_requests, 1)?;
        check_count(
            "unusual_endpoint.learning_requests",
            self.unusual_endpoint.learning_requests,
            0,
        )?;
        check_count("unusual_endpoint.denials", self.unusual_endpoint.denials, 1)
    }

    /// Whether the account left `kind` on (every rule is on by default).
    pub fn enabled(&self, kind: AnomalyKind) -> bool {
        match kind {
            AnomalyKind::VolumeSpike => self.volume_spike.enabled,
            AnomalyKind::ErrorSpike => self.error_spike.enabled,
            AnomalyKind::NewCountry => self.new_country.enabled,
            AnomalyKind::AfterHours => self.after_hours.enabled,
            AnomalyKind::UnusualEndpoint => self.unusual_endpoint.enabled,
        }
        .unwrap_or(true)
    }

    /// The server's defaults written out in full, every rule on: what an
    /// account's unset fields mean.
    pub fn defaults_of(cfg: &AnomalyConfig) -> Self {
        Self {
            volume_spike: VolumeSpikeRule {
                enabled: Some(true),
                factor: Some(cfg.volume_spike.factor),
                min_requests: Some(cfg.volume_spike.min_requests),
            },
            error_spike: ErrorSpikeRule {
                enabled: Some(true),
                factor: Some(cfg.error_spike.factor),
                min_errors: Some(cfg.error_spike.min_errors),
            },
            new_country: NewCountryRule {
                enabled: Some(true),
                learning_requests: Some(cfg.new_country.learning_requests),
            },
            after_hours: AfterHoursRule {
                enabled: Some(true),
                min_requests: Some(cfg.after_hours.min_requests),
            },
            unusual_endpoint: UnusualEndpointRule {
                enabled: Some(true),
                learning_requests: Some(cfg.unusual_endpoint.learning_requests),
                denials: Some(cfg.unusual_endpoint.denials),
            },
        }
    }
}

impl AnomalyConfig {
    /// The server's config with an account's thresholds laid over it.
    pub fn with_rules(&self, rules: &AnomalyRules) -> AnomalyConfig {
        let mut c = self.clone();
        let r = rules;
        set(&mut c.volume_spike.factor, r.volume_spike.factor);
        set(
            &mut c.volume_spike.min_requests,
            r.volume_spike.min_requests,
        );
        set(&mut c.error_spike.factor, r.error_spike.factor);
        set(&mut c.error_spike.min_errors, r.error_spike.min_errors);
        set(
            &mut c.new_country.learning_requests,
            r.new_country.learning_requests,
        );
        set(&mut c.after_hours.min_requests, r.after_hours.min_requests);
        set(
            &mut c.unusual_endpoint.learning_requests,
            r.unusual_endpoint.learning_requests,
        );
        set(&mut c.unusual_endpoint.denials, r.unusual_endpoint.denials);
        c
    }
}

fn set<T: Copy>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// [`detect`] for an account: its thresholds over the server's, and only the
/// rules it left on.
pub fn detect_for(cfg: &AnomalyConfig, rules: &AnomalyRules, a: &KeyActivity) -> Vec<Finding> {
    let mut found = detect(&cfg.with_rules(rules), a);
    found.retain(|f| rules.enabled(f.kind));
    found
}

/// What the server knows about one key for one detector run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyActivity {
    /// Requests in the recent window.
    pub recent: Counts,
    /// Requests in the baseline period before the window.
    pub baseline: Counts,
    /// Minutes the baseline covers (shorter for young keys).
    pub baseline_minutes: u64,
    pub recent_after_hours: u64,
    pub baseline_after_hours: u64,
    /// Countries first seen in the window, with their request counts.
    pub new_countries: Vec<(String, u64)>,
    /// Requests from countries seen before the window.
    pub known_country_requests: u64,
    /// Recent requests from countries outside the account's allowed list.
    pub disallowed_countries: Vec<(String, u64)>,
    pub new_endpoints: Vec<(String, u64)>,
    pub known_endpoint_requests: u64,
}

/// One rule that fired: a human message and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: AnomalyKind,
    pub message: String,
    pub evidence: Value,
}

pub fn detect(cfg: &AnomalyConfig, a: &KeyActivity) -> Vec<Finding> {
    [
        volume_spike(cfg, a),
        error_spike(cfg, a),
        new_country(cfg, a),
        after_hours(cfg, a),
        unusual_endpoint(cfg, a),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn volume_spike(cfg: &AnomalyConfig, a: &KeyActivity) -> Option<Finding> {
    let r = &cfg.volume_spike;
    if a.baseline_minutes < r.min_baseline_hours * 60 || a.recent.total() < r.min_requests {
        return None;
    }
    let expected =
        a.baseline.total() as f64 / a.baseline_minutes as f64 * f64::from(cfg.window_minutes);
    let recent = a.recent.total() as f64;
    if recent < r.factor * expected.max(1.0) {
        return None;
    }
    Some(Finding {
        kind: AnomalyKind::VolumeSpike,
        message: format!(
            "{} requests in the last {} minutes, {:.0}× this key's usual {:.1}",
            a.recent.total(),
            cfg.window_minutes,
            recent / expected.max(1.0),
            expected
        ),
        evidence: json!({
            "window_minutes": cfg.window_minutes, "requests": a.recent.total(),
            "baseline_expected": round2(expected), "factor": round2(recent / expected.max(1.0)),
            "threshold_factor": r.factor,
        }),
    })
}

pub fn error_spike(cfg: &AnomalyConfig, a: &KeyActivity) -> Option<Finding> {
    let r = &cfg.error_spike;
    let errors = a.recent.errors();
    let answered = errors + a.recent.get(Outcome::Success);
    if errors < r.min_errors {
        return None;
    }
    let recent_share = share(errors, answered);
    let base_answered = a.baseline.errors() + a.baseline.get(Outcome::Success);
    let base_share = share(a.baseline.errors(), base_answered);
    let threshold = (base_share * r.factor).max(base_share + r.min_increase);
    if recent_share < threshold {
        return None;
    }
    Some(Finding {
        kind: AnomalyKind::ErrorSpike,
        message: format!(
            "{:.0}% of requests failed in the last {} minutes ({} errors), against {:.1}% usually",
            recent_share * 100.0,
            cfg.window_minutes,
            errors,
            base_share * 100.0
        ),
        evidence: json!({
            "window_minutes": cfg.window_minutes, "errors": errors, "requests": answered,
            "client_errors": a.recent.get(Outcome::ClientError), "server_errors": a.recent.get(Outcome::ServerError),
            "error_share": round2(recent_share), "baseline_share": round2(base_share), "threshold_share": round2(threshold),
        }),
    })
}

pub fn new_country(cfg: &AnomalyConfig, a: &KeyActivity) -> Option<Finding> {
    if !a.disallowed_countries.is_empty() {
        let list = names(&a.disallowed_countries);
        return Some(Finding {
            kind: AnomalyKind::NewCountry,
            message: format!("requests from {list}, outside the account's allowed countries"),
            evidence: json!({"countries": pairs(&a.disallowed_countries), "reason": "not_allowed"}),
        });
    }
    let learned = a.known_country_requests >= cfg.new_country.learning_requests;
    if a.new_countries.is_empty() || !learned {
        return None;
    }
    let list = names(&a.new_countries);
    Some(Finding {
        kind: AnomalyKind::NewCountry,
        message: format!("first requests ever from {list} with this key"),
        evidence: json!({
            "countries": pairs(&a.new_countries), "reason": "never_seen",
            "known_country_requests": a.known_country_requests,
        }),
    })
}

pub fn after_hours(cfg: &AnomalyConfig, a: &KeyActivity) -> Option<Finding> {
    let r = &cfg.after_hours;
    let base_total = a.baseline.total();
    if a.recent_after_hours < r.min_requests || base_total < r.min_baseline_requests {
        return None;
    }
    let base_share = share(a.baseline_after_hours, base_total);
    if base_share > r.max_baseline_share {
        return None;
    }
    Some(Finding {
        kind: AnomalyKind::AfterHours,
        message: format!(
            "{} requests outside business hours in the last {} minutes; this key normally has {}",
            a.recent_after_hours,
            cfg.window_minutes,
            if a.baseline_after_hours == 0 {
                "none".to_string()
            } else {
                format!("{:.1}%", base_share * 100.0)
            }
        ),
        evidence: json!({
            "window_minutes": cfg.window_minutes, "after_hours_requests": a.recent_after_hours,
            "baseline_requests": base_total, "baseline_after_hours_share": round2(base_share),
        }),
    })
}

pub fn unusual_endpoint(cfg: &AnomalyConfig, a: &KeyActivity) -> Option<Finding> {
    let r = &cfg.unusual_endpoint;
    let denied = a.recent.get(Outcome::Denied);
    if denied >= r.denials {
        return Some(Finding {
            kind: AnomalyKind::UnusualEndpoint,
            message: format!(
                "{denied} requests refused for scope or resource in the last {} minutes",
                cfg.window_minutes
            ),
            evidence: json!({"window_minutes": cfg.window_minutes, "denied": denied, "reason": "denials"}),
        });
    }
    if a.new_endpoints.is_empty() || a.known_endpoint_requests < r.learning_requests {
        return None;
    }
    Some(Finding {
        kind: AnomalyKind::UnusualEndpoint,
        message: format!(
            "first calls ever to {} with this key",
            names(&a.new_endpoints)
        ),
        evidence: json!({
            "endpoints": pairs(&a.new_endpoints), "reason": "never_called",
            "known_endpoint_requests": a.known_endpoint_requests,
        }),
    })
}

/// Most values named in an alert's message, and in its evidence.
const MAX_NAMED: usize = 5;
const MAX_EVIDENCE: usize = 20;

/// `a, b, c and 4 more`: bounded whatever a key's traffic held, each value
/// cut to the longest endpoint.
fn names(v: &[(String, u64)]) -> String {
    let mut out = v
        .iter()
        .take(MAX_NAMED)
        .map(|(n, _)| crate::usage::truncate(n, crate::usage::MAX_ENDPOINT_LEN))
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > MAX_NAMED {
        out.push_str(&format!(" and {} more", v.len() - MAX_NAMED));
    }
    out
}

fn pairs(v: &[(String, u64)]) -> Value {
    v.iter()
        .take(MAX_EVIDENCE)
        .map(|(n, c)| {
            json!({"name": crate::usage::truncate(n, crate::usage::MAX_ENDPOINT_LEN), "requests": c})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(success: u64, client: u64, server: u64, denied: u64) -> Counts {
        Counts([success, client, server, 0, denied, 0])
    }

    fn steady() -> KeyActivity {
        // 7 days at 10 requests a minute, 1% errors.
        KeyActivity {
            baseline: counts(99_792, 1_008, 0, 0),
            baseline_minutes: 7 * 24 * 60,
            recent: counts(99, 1, 0, 0),
            known_country_requests: 100_800,
            known_endpoint_requests: 100_800,
            ..Default::default()
        }
    }

    #[test]
    fn volume_spike_fires_relative_to_the_key_itself() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        assert!(volume_spike(&cfg, &a).is_none());
        a.recent = counts(600, 0, 0, 0); // 6× the usual 100 per 10 min
        let f = volume_spike(&cfg, &a).unwrap();
        assert_eq!(f.evidence["factor"], 6.0);
        a.recent = counts(400, 0, 0, 0); // 4×: not far enough
        assert!(volume_spike(&cfg, &a).is_none());
        // A quiet key: 150 requests is a spike for it.
        let quiet = KeyActivity {
            baseline: counts(1_000, 0, 0, 0),
            baseline_minutes: 7 * 24 * 60,
            recent: counts(150, 0, 0, 0),
            ..Default::default()
        };
        assert!(volume_spike(&cfg, &quiet).is_some());
        // A young key has no baseline yet.
        let young = KeyActivity {
            baseline_minutes: 60,
            ..quiet
        };
        assert!(volume_spike(&cfg, &young).is_none());
    }

    #[test]
    fn error_spike_needs_share_and_count() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        assert!(error_spike(&cfg, &a).is_none());
        a.recent = counts(50, 25, 25, 0);
        let f = error_spike(&cfg, &a).unwrap();
        assert_eq!(f.evidence["errors"], 50);
        a.recent = counts(5, 10, 0, 0); // high share, too few errors
        assert!(error_spike(&cfg, &a).is_none());
        // A key that always fails 40% is not spiking at 45%.
        let mut noisy = steady();
        noisy.baseline = counts(60_000, 40_000, 0, 0);
        noisy.recent = counts(55, 45, 0, 0);
        assert!(error_spike(&cfg, &noisy).is_none());
    }

    #[test]
    fn new_country_after_learning_or_when_not_allowed() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        assert!(new_country(&cfg, &a).is_none());
        a.new_countries = vec![("BR".into(), 3)];
        let f = new_country(&cfg, &a).unwrap();
        assert!(f.message.contains("BR"));
        a.known_country_requests = 10; // still learning
        assert!(new_country(&cfg, &a).is_none());
        a.disallowed_countries = vec![("KP".into(), 1)];
        assert_eq!(
            new_country(&cfg, &a).unwrap().evidence["reason"],
            "not_allowed"
        );
    }

    #[test]
    fn after_hours_only_for_keys_that_normally_have_none() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        a.recent_after_hours = 4;
        assert!(after_hours(&cfg, &a).is_none());
        a.recent_after_hours = 12;
        assert!(after_hours(&cfg, &a).is_some());
        a.baseline_after_hours = 30_000; // a night-shift key
        assert!(after_hours(&cfg, &a).is_none());
    }

    #[test]
    fn unusual_endpoint_new_path_or_denials() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        assert!(unusual_endpoint(&cfg, &a).is_none());
        a.new_endpoints = vec![("DELETE /admin/users/{id}".into(), 2)];
        assert!(unusual_endpoint(&cfg, &a)
            .unwrap()
            .message
            .contains("DELETE /admin"));
        let mut d = steady();
        d.recent = counts(10, 0, 0, 12);
        assert_eq!(
            unusual_endpoint(&cfg, &d).unwrap().evidence["reason"],
            "denials"
        );
    }

    #[test]
    fn steady_traffic_raises_nothing() {
        assert!(detect(&AnomalyConfig::default(), &steady()).is_empty());
    }

    #[test]
    fn account_rules_turn_off_and_tune_over_the_server_defaults() {
        let cfg = AnomalyConfig::default();
        let mut a = steady();
        a.recent = counts(600, 0, 0, 0); // 6× usual
        a.recent_after_hours = 12;
        let kinds = |r: &AnomalyRules| {
            detect_for(&cfg, r, &a)
                .into_iter()
                .map(|f| f.kind)
                .collect::<Vec<_>>()
        };
        let none = AnomalyRules::default();
        assert_eq!(
            kinds(&none),
            vec![AnomalyKind::VolumeSpike, AnomalyKind::AfterHours]
        );
        let rules: AnomalyRules = serde_json::from_str(
            r#"{"after_hours": {"enabled": false}, "volume_spike": {"factor": 8.0}}"#,
        )
        .unwrap();
        assert!(kinds(&rules).is_empty());
        let lower: AnomalyRules =
            serde_json::from_str(r#"{"after_hours": {"min_requests": 20}}"#).unwrap();
        assert_eq!(kinds(&lower), vec![AnomalyKind::VolumeSpike]);
        // Unset fields follow the server.
        assert_eq!(cfg.with_rules(&rules).volume_spike.min_requests, 100);
        assert_eq!(cfg.with_rules(&rules).volume_spike.factor, 8.0);
    }

    #[test]
    fn account_rules_are_validated_with_clear_errors() {
        let bad = [
            (
                r#"{"volume_spike": {"factor": 1.0}}"#,
                "volume_spike.factor",
            ),
            (
                r#"{"error_spike": {"min_errors": 0}}"#,
                "error_spike.min_errors",
            ),
            (
                r#"{"unusual_endpoint": {"denials": 2000000}}"#,
                "unusual_endpoint.denials",
            ),
        ];
        for (json, field) in bad {
            let r: AnomalyRules = serde_json::from_str(json).unwrap();
            let e = r.validate().unwrap_err();
            assert!(e.contains(field), "{e}");
        }
        assert!(serde_json::from_str::<AnomalyRules>(r#"{"volume_spike": {"fctor": 2}}"#).is_err());
        // A rule is an object (or null for all defaults), never an array.
        assert!(serde_json::from_str::<AnomalyRules>(r#"{"volume_spike": [null, null]}"#).is_err());
        let null: AnomalyRules = serde_json::from_str(r#"{"volume_spike": null}"#).unwrap();
        assert_eq!(null, AnomalyRules::default());
        assert!(AnomalyRules::defaults_of(&AnomalyConfig::default())
            .validate()
            .is_ok());
    }

    #[test]
    fn config_reads_partial_json() {
        let cfg: AnomalyConfig =
            serde_json::from_str(r#"{"volume_spike":{"factor":3.0}}"#).unwrap();
        assert_eq!(cfg.volume_spike.factor, 3.0);
        assert_eq!(cfg.volume_spike.min_requests, 100);
        assert_eq!(cfg.window_minutes, 10);
    }
}
