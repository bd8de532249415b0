//! A key's restrictions beyond scopes, resources and rate (IP allowlist,
//! countries) and its report-only proposal, parsed once when the key is
//! read so the request path only compares.

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use keyport_core::restrict::{
    network_coverage, parse_allowlist, parse_countries, Allowlist, Coverage, Rules,
};
use keyport_core::{Resource, ScopeSet};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::str::FromStr;

use crate::model::{
    KeyRecord, Proposal, ReplayReport, Restriction, RuleReplay, SeenValue, Suggestion,
};

/// Stored as one JSON document per key (`api_keys.restrictions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct KeyRestrictions {
    pub allowed_ips: Allowlist,
    pub allowed_countries: Vec<String>,
    /// Boxed: most keys have none, and every cached key carries the field.
    pub proposal: Option<Box<ActiveProposal>>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allowed_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allowed_countries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proposal: Option<Proposal>,
}

impl TryFrom<Stored> for KeyRestrictions {
    type Error = String;
    fn try_from(s: Stored) -> Result<Self, String> {
        Ok(KeyRestrictions {
            allowed_ips: parse_allowlist(&s.allowed_ips)
                .map_err(|e| e.to_string())?
                .into(),
            allowed_countries: parse_countries(&s.allowed_countries).map_err(|e| e.to_string())?,
            proposal: s
                .proposal
                .map(|p| ActiveProposal::parse(p).map(Box::new))
                .transpose()?,
        })
    }
}

impl From<KeyRestrictions> for Stored {
    fn from(r: KeyRestrictions) -> Self {
        Stored {
            allowed_ips: r.allowed_ips.iter().map(ToString::to_string).collect(),
            allowed_countries: r.allowed_countries,
            proposal: r.proposal.map(|p| p.view),
        }
    }
}

impl KeyRestrictions {
    pub fn is_empty(&self) -> bool {
        self.allowed_ips.is_empty() && self.allowed_countries.is_empty() && self.proposal.is_none()
    }

    /// The allowlists as the API shows them.
    pub fn ips(&self) -> Vec<String> {
        self.allowed_ips.iter().map(ToString::to_string).collect()
    }
}

/// What a proposal without an allowlist checks against.
static NO_ALLOWLIST: Allowlist = Allowlist::EMPTY;

/// The highest rate a restriction names (no plan comes near it).
const MAX_PER_MINUTE: u32 = 1_000_000;

/// A restriction with every field parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub scopes: Option<ScopeSet>,
    pub resources: Option<Vec<Resource>>,
    pub allowed_ips: Option<Allowlist>,
    pub allowed_countries: Option<Vec<String>>,
    pub per_minute: Option<u32>,
}

impl Parsed {
    /// Parses and normalises; the error names the field.
    pub fn from_restriction(r: &Restriction) -> Result<Self, String> {
        if let Some(s) = &r.scopes {
            if s.is_empty() {
                return Err("restriction.scopes: keep at least one scope".into());
            }
        }
        if r.per_minute
            .is_some_and(|p| !(1..=MAX_PER_MINUTE).contains(&p))
        {
            return Err(format!(
                "restriction.per_minute: between 1 and {MAX_PER_MINUTE}"
            ));
        }
        let resources = r
            .resources
            .as_ref()
            .map(|list| {
                if list.len() > 50 {
                    return Err("restriction.resources: at most 50".to_string());
                }
                list.iter()
                    .map(|s| {
                        Resource::from_str(s).map_err(|e| format!("restriction.resources: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Parsed {
            scopes: r.scopes.clone().map(ScopeSet::new),
            resources,
            allowed_ips: r
                .allowed_ips
                .as_deref()
                .map(parse_allowlist)
                .transpose()
                .map_err(|e| format!("restriction.allowed_ips: {e}"))?
                .map(Allowlist::from),
            allowed_countries: r
                .allowed_countries
                .as_deref()
                .map(parse_countries)
                .transpose()
                .map_err(|e| format!("restriction.allowed_countries: {e}"))?,
            per_minute: r.per_minute,
        })
    }

    /// The restriction written back in its normal form (host bits cleared,
    /// countries upper-cased, duplicates dropped).
    pub fn to_restriction(&self) -> Restriction {
        Restriction {
            scopes: self.scopes.as_ref().map(|s| s.as_slice().to_vec()),
            resources: self
                .resources
                .as_ref()
                .map(|r| r.iter().map(ToString::to_string).collect()),
            allowed_ips: self
                .allowed_ips
                .as_ref()
                .map(|l| l.iter().map(ToString::to_string).collect()),
            allowed_countries: self.allowed_countries.clone(),
            per_minute: self.per_minute,
        }
    }

    pub fn rules(&self) -> Rules<'_> {
        Rules {
            scopes: self.scopes.as_ref(),
            resources: self.resources.as_deref(),
            allowed_ips: self.allowed_ips.as_ref().unwrap_or(&NO_ALLOWLIST),
            allowed_countries: self.allowed_countries.as_deref().unwrap_or(&[]),
        }
    }
}

/// A proposal as stored and shown, with its rules parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProposal {
    pub view: Proposal,
    pub parsed: Parsed,
}

impl ActiveProposal {
    pub fn parse(view: Proposal) -> Result<Self, String> {
        Ok(ActiveProposal {
            parsed: Parsed::from_restriction(&view.restriction)?,
            view,
        })
    }

    /// Counting stops at `ends_at`; the proposal stays shown until enforced
    /// or dropped.
    pub fn counts_at(&self, now: DateTime<Utc>) -> bool {
        now < self.view.ends_at
    }
}

/// A key's recorded use over a window, as replay and suggestions read it.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Requests served (not refused by the limiter or a rule).
    pub served: u64,
    /// Hourly breakdowns: (hour start, value, requests).
    pub endpoints: Vec<(i64, String, u64)>,
    pub countries: Vec<(i64, String, u64)>,
    pub networks: Vec<(i64, String, u64)>,
    /// Served requests per minute (minute start, requests), non-empty ones.
    pub minutes: Vec<(i64, u64)>,
    /// Whether minute rows cover the whole window (they are kept less long).
    pub minutes_complete: bool,
}

/// Requests per value, with the last bucket each was seen in.
#[derive(Default)]
struct Tally(HashMap<String, (u64, i64)>);

impl Tally {
    fn add(&mut self, value: &str, n: u64, t: i64) {
        let e = self.0.entry(value.to_string()).or_insert((0, t));
        e.0 += n;
        e.1 = e.1.max(t);
    }

    fn total(&self) -> u64 {
        self.0.values().map(|v| v.0).sum()
    }

    /// The biggest `n` values, most requests first.
    fn top(&self, n: usize) -> Vec<SeenValue> {
        let mut v: Vec<_> = self.0.iter().collect();
        v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(value, (requests, t))| SeenValue {
                value: value.clone(),
                requests: *requests,
                last_seen: DateTime::from_timestamp(*t, 0).unwrap_or_default(),
            })
            .collect()
    }
}

/// How one rule judges one recorded value.
enum Verdict {
    Allowed,
    Refused,
    Unknown,
}

/// The method and path of a folded endpoint (`GET /projects/alpha`).
fn split_endpoint(e: &str) -> Option<(&str, &str)> {
    e.split_once(' ').filter(|(_, p)| p.starts_with('/'))
}

/// Whether a folded path still names its resource (no `{id}` or `…` in
/// its first two segments).
fn names_resource(path: &str) -> bool {
    path.split('/')
        .filter(|s| !s.is_empty())
        .take(2)
        .all(|s| s != "{id}" && !s.contains('…'))
}

/// Judges every value of one breakdown; requests without a value are
/// `missing` (undetermined).
fn judge(
    rule: &str,
    rows: &[(i64, String, u64)],
    served: u64,
    verdict: impl Fn(&str) -> Verdict,
) -> RuleReplay {
    let (mut refused, mut unknown, mut seen) = (Tally::default(), 0u64, 0u64);
    for (t, value, n) in rows {
        seen += n;
        match verdict(value) {
            Verdict::Allowed => {}
            Verdict::Refused => refused.add(value, *n, *t),
            Verdict::Unknown => unknown += n,
        }
    }
    RuleReplay {
        rule: rule.to_string(),
        refused: refused.total(),
        undetermined: unknown + served.saturating_sub(seen),
        examples: refused.top(5),
    }
}

/// What `p` would have refused of `h`, rule by rule, with notes on what
/// history cannot tell.
pub fn replay(p: &Parsed, h: &History) -> (Vec<RuleReplay>, Vec<String>) {
    let mut rules = Vec::new();
    let mut notes = Vec::new();
    let endpoint_gap = h
        .served
        .saturating_sub(h.endpoints.iter().map(|r| r.2).sum());
    if let Some(scopes) = &p.scopes {
        rules.push(judge(
            "scope",
            &h.endpoints,
            h.served,
            |e| match split_endpoint(e) {
                Some((m, _)) if scopes.grants(keyport_core::Scope::for_method(m)) => {
                    Verdict::Allowed
                }
                Some(_) => Verdict::Refused,
                None => Verdict::Unknown,
            },
        ));
    }
    if let Some(resources) = &p.resources {
        rules.push(judge(
            "resource",
            &h.endpoints,
            h.served,
            |e| match split_endpoint(e) {
                Some((_, path)) if !names_resource(path) => Verdict::Unknown,
                Some((_, path)) if keyport_core::path_allowed(resources, path) => Verdict::Allowed,
                Some(_) => Verdict::Refused,
                None => Verdict::Unknown,
            },
        ));
    }
    if (p.scopes.is_some() || p.resources.is_some()) && endpoint_gap > 0 {
        notes.push(format!(
            "{endpoint_gap} requests have no recorded endpoint (verify calls): their scope and \
             resource cannot be judged from history"
        ));
    }
    if let Some(ips) = &p.allowed_ips {
        rules.push(judge("ip", &h.networks, h.served, |n| {
            match n.parse::<IpNet>() {
                Ok(net) => match network_coverage(ips, &net) {
                    Coverage::Inside => Verdict::Allowed,
                    Coverage::Outside => Verdict::Refused,
                    Coverage::Partly => Verdict::Unknown,
                },
                Err(_) => Verdict::Unknown,
            }
        }));
        let gap = h
            .served
            .saturating_sub(h.networks.iter().map(|r| r.2).sum());
        if gap > 0 {
            notes.push(format!(
                "{gap} requests have no recorded address (verify calls without \"ip\", or \
                 traffic from before addresses were recorded); enforced, the allowlist refuses \
                 verify calls without an address"
            ));
        }
        if ips
            .iter()
            .any(|n| n.prefix_len() > if n.addr().is_ipv4() { 24 } else { 48 })
        {
            notes.push(
                "addresses are recorded as /24 (IPv4) and /48 (IPv6) networks: entries narrower \
                 than that are judged only where a whole recorded network lies outside them"
                    .into(),
            );
        }
    }
    if let Some(countries) = &p.allowed_countries {
        rules.push(judge("country", &h.countries, h.served, |c| {
            if countries.iter().any(|l| l == c) {
                Verdict::Allowed
            } else {
                Verdict::Refused
            }
        }));
        if h.countries.iter().any(|r| r.1 == "unknown") {
            notes.push(
                "requests of unknown country (no trusted proxy header) count as refused: an \
                 enforced country list refuses them"
                    .into(),
            );
        }
    }
    if let Some(limit) = p.per_minute {
        let mut over = Tally::default();
        for (t, n) in &h.minutes {
            if *n > u64::from(limit) {
                let at = DateTime::from_timestamp(*t, 0).unwrap_or_default();
                over.add(
                    &at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    n - u64::from(limit),
                    *t,
                );
            }
        }
        rules.push(RuleReplay {
            rule: "rate_limit".into(),
            refused: over.total(),
            undetermined: 0,
            examples: over.top(5),
        });
        notes.push(format!(
            "the rate is judged per calendar minute ({limit} a minute); the live limiter also \
             allows a burst of {limit}, so bursts across a minute boundary may differ"
        ));
        if !h.minutes_complete {
            notes.push(
                "minute counts are kept for less time than the window: the rate is judged on \
                 the part that is kept"
                    .into(),
            );
        }
    }
    (rules, notes)
}

/// Builds a report from the rules' results.
pub fn report(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    served: u64,
    rules: Vec<RuleReplay>,
    notes: Vec<String>,
) -> ReplayReport {
    let least = rules.iter().map(|r| r.refused).max().unwrap_or(0);
    let most = rules
        .iter()
        .map(|r| r.refused)
        .sum::<u64>()
        .min(served.max(least));
    ReplayReport {
        from,
        to,
        requests: served,
        refused_at_least: least,
        refused_at_most: most,
        share: if served == 0 {
            0.0
        } else {
            most as f64 / served as f64
        },
        rules,
        notes,
    }
}

/// Most networks, countries or resources a suggestion lists.
const MAX_SUGGESTED: usize = 50;

/// Narrower settings that would have refused nothing of `h`: each with
/// its evidence. `per_minute` is the key's rate in force.
pub fn suggest(key: &KeyRecord, per_minute: u32, h: &History) -> (Vec<Suggestion>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let endpoints = tally(&h.endpoints);
    let endpoint_gap = h.served.saturating_sub(endpoints.total());
    if endpoints.0.is_empty() {
        notes.push(
            "no gateway traffic in the window: scopes and resources cannot be judged from \
             verify calls"
                .into(),
        );
    } else {
        out.extend(suggest_scope(key, &endpoints, endpoint_gap));
        match suggest_resources(key, &endpoints, endpoint_gap) {
            Ok(s) => out.extend(s),
            Err(why) => notes.push(why),
        }
    }
    match suggest_networks(key, h) {
        Ok(s) => out.extend(s),
        Err(why) => notes.push(why),
    }
    match suggest_countries(key, h) {
        Ok(s) => out.extend(s),
        Err(why) => notes.push(why),
    }
    out.extend(suggest_rate(per_minute, h));
    (out, notes)
}

fn tally(rows: &[(i64, String, u64)]) -> Tally {
    let mut t = Tally::default();
    for (at, value, n) in rows {
        t.add(value, *n, *at);
    }
    t
}

fn suggest_scope(key: &KeyRecord, endpoints: &Tally, gap: u64) -> Option<Suggestion> {
    use keyport_core::Scope;
    let has = |s| key.scopes.as_slice().contains(&s);
    if has(Scope::Admin) || !has(Scope::Write) || gap > 0 {
        return None;
    }
    let writes = endpoints.0.keys().any(|e| match split_endpoint(e) {
        Some((m, _)) => Scope::for_method(m) != Scope::Read,
        None => true,
    });
    if writes {
        return None;
    }
    let keep: Vec<Scope> = key
        .scopes
        .as_slice()
        .iter()
        .copied()
        .filter(|s| *s != Scope::Write)
        .chain((!has(Scope::Read)).then_some(Scope::Read))
        .collect();
    Some(Suggestion {
        rule: "scope".into(),
        title: "Drop the write scope".into(),
        detail: format!(
            "{} requests in the window, all of them reads (GET, HEAD, OPTIONS)",
            endpoints.total()
        ),
        restriction: Restriction {
            scopes: Some(keep),
            ..Default::default()
        },
        evidence: endpoints.top(5),
    })
}

/// `/projects/alpha/…` → `project:alpha`.
fn resource_of(path: &str) -> Option<Resource> {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    let (kind, name) = (segs.next()?, segs.next()?);
    let kind = kind.strip_suffix('s')?;
    if !names_resource(path) {
        return None;
    }
    Resource::from_str(&format!("{kind}:{name}")).ok()
}

fn suggest_resources(
    key: &KeyRecord,
    endpoints: &Tally,
    gap: u64,
) -> Result<Option<Suggestion>, String> {
    if !key.resources.is_empty() {
        return Ok(None);
    }
    if gap > 0 {
        return Err(
            "some requests have no recorded endpoint: resources cannot be suggested".into(),
        );
    }
    let mut used = Tally::default();
    for (e, (n, t)) in &endpoints.0 {
        let r = split_endpoint(e)
            .and_then(|(_, p)| resource_of(p))
            .ok_or_else(|| {
                format!("{e} does not name a resource: resources cannot be suggested")
            })?;
        used.add(&r.to_string(), *n, *t);
    }
    if used.0.len() > MAX_SUGGESTED {
        return Ok(None);
    }
    let mut list: Vec<String> = used.0.keys().cloned().collect();
    list.sort();
    Ok(Some(Suggestion {
        rule: "resource".into(),
        title: format!("Limit to {} resource{}", list.len(), plural(list.len())),
        detail: format!("every request in the window was for {}", list.join(", ")),
        restriction: Restriction {
            resources: Some(list),
            ..Default::default()
        },
        evidence: used.top(10),
    }))
}

fn suggest_networks(key: &KeyRecord, h: &History) -> Result<Option<Suggestion>, String> {
    if !key.restrictions.allowed_ips.is_empty() {
        return Ok(None);
    }
    let nets = tally(&h.networks);
    if nets.0.is_empty() {
        return Err("no recorded addresses in the window: no IP allowlist can be suggested".into());
    }
    let gap = h.served.saturating_sub(nets.total());
    if gap > 0 || nets.0.contains_key(crate::recorder::OTHER_ENDPOINT) {
        return Err(format!(
            "{gap} requests have no recorded address (verify calls without \"ip\"): an IP \
             allowlist would refuse them"
        ));
    }
    if nets.0.len() > MAX_SUGGESTED {
        return Err(format!(
            "used from {} networks: too many for a useful allowlist",
            nets.0.len()
        ));
    }
    let mut list: Vec<String> = nets.0.keys().cloned().collect();
    list.sort();
    Ok(Some(Suggestion {
        rule: "ip".into(),
        title: format!("Allow only {} network{}", list.len(), plural(list.len())),
        detail: format!("every request in the window came from {}", list.join(", ")),
        restriction: Restriction {
            allowed_ips: Some(list),
            ..Default::default()
        },
        evidence: nets.top(10),
    }))
}

fn suggest_countries(key: &KeyRecord, h: &History) -> Result<Option<Suggestion>, String> {
    if !key.restrictions.allowed_countries.is_empty() {
        return Ok(None);
    }
    let countries = tally(&h.countries);
    if countries.0.is_empty() || countries.0.keys().all(|c| c == "unknown") {
        return Err("no known countries in the window: no country list can be suggested".into());
    }
    let gap = h.served.saturating_sub(countries.total());
    if gap > 0 || countries.0.contains_key("unknown") {
        return Err("some requests have no known country: a country list would refuse them".into());
    }
    let mut list: Vec<String> = countries.0.keys().cloned().collect();
    list.sort();
    Ok(Some(Suggestion {
        rule: "country".into(),
        title: format!("Allow only {}", list.join(", ")),
        detail: format!("every request in the window came from {}", list.join(", ")),
        restriction: Restriction {
            allowed_countries: Some(list),
            ..Default::default()
        },
        evidence: countries.top(10),
    }))
}

/// A rate with headroom over the busiest minute: 1.5× the peak, rounded up
/// to a multiple of 10, at least 10; only when lower than the key's rate.
fn suggest_rate(per_minute: u32, h: &History) -> Option<Suggestion> {
    let (peak_t, peak) = h.minutes.iter().copied().max_by_key(|m| (m.1, -m.0))?;
    let with_headroom = (peak * 3).div_ceil(2).div_ceil(10) * 10;
    let limit = u32::try_from(with_headroom.max(10)).ok()?;
    if limit >= per_minute {
        return None;
    }
    let mut busiest: Vec<(i64, u64)> = h.minutes.clone();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or_default();
    Some(Suggestion {
        rule: "rate_limit".into(),
        title: format!("Lower the rate to {limit} a minute"),
        detail: format!(
            "the busiest minute had {peak} requests ({}); {limit} leaves half again as much \
             headroom, against {per_minute} now",
            at(peak_t).format("%Y-%m-%d %H:%M UTC")
        ),
        restriction: Restriction {
            per_minute: Some(limit),
            ..Default::default()
        },
        evidence: busiest
            .into_iter()
            .take(3)
            .map(|(t, n)| SeenValue {
                value: at(t).format("%Y-%m-%d %H:%M UTC").to_string(),
                requests: n,
                last_seen: at(t),
            })
            .collect(),
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_normalises() {
        let json = serde_json::json!({
            "allowed_ips": ["203.0.113.9/24", "2001:db8::1"],
            "allowed_countries": ["de"],
            "proposal": {
                "restriction": {"allowed_ips": ["198.51.100.0/24"], "per_minute": 30},
                "started_at": "2026-12-01T00:00:00Z",
                "ends_at": "2026-12-08T00:00:00Z"
            }
        });
        let r: KeyRestrictions = serde_json::from_value(json).unwrap();
        assert_eq!(r.ips(), ["203.0.113.0/24", "2001:db8::1/128"]);
        assert_eq!(r.allowed_countries, ["DE"]);
        let p = r.proposal.as_ref().unwrap();
        assert_eq!(p.parsed.per_minute, Some(30));
        let back: KeyRestrictions =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            serde_json::to_value(KeyRestrictions::default()).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn bad_restrictions_name_their_field() {
        let bad = |r: Restriction| Parsed::from_restriction(&r).unwrap_err();
        assert!(bad(Restriction {
            allowed_ips: Some(vec!["10.0.0.0/40".into()]),
            ..Default::default()
        })
        .starts_with("restriction.allowed_ips"));
        assert!(bad(Restriction {
            scopes: Some(vec![]),
            ..Default::default()
        })
        .starts_with("restriction.scopes"));
        assert!(bad(Restriction {
            per_minute: Some(0),
            ..Default::default()
        })
        .starts_with("restriction.per_minute"));
        assert!(bad(Restriction {
            resources: Some(vec!["nocolon".into()]),
            ..Default::default()
        })
        .starts_with("restriction.resources"));
    }

    fn history() -> History {
        let rows = |v: &[(&str, u64)]| -> Vec<(i64, String, u64)> {
            v.iter().map(|(s, n)| (3600, s.to_string(), *n)).collect()
        };
        History {
            served: 100,
            endpoints: rows(&[
                ("GET /projects/alpha/items", 60),
                ("POST /projects/beta", 30),
            ]),
            countries: rows(&[("DE", 90), ("unknown", 10)]),
            networks: rows(&[("203.0.113.0/24", 80), ("198.51.100.0/24", 15)]),
            minutes: vec![(60, 40), (120, 10)],
            minutes_complete: true,
        }
    }

    fn parsed(r: Restriction) -> Parsed {
        Parsed::from_restriction(&r).unwrap()
    }

    #[test]
    fn replay_judges_each_rule_and_says_what_it_cannot() {
        let h = history();
        let (rules, notes) = replay(
            &parsed(Restriction {
                scopes: Some(vec![keyport_core::Scope::Read]),
                allowed_ips: Some(vec!["203.0.113.0/24".into()]),
                allowed_countries: Some(vec!["DE".into()]),
                per_minute: Some(25),
                ..Default::default()
            }),
            &h,
        );
        let by = |r: &str| rules.iter().find(|x| x.rule == r).unwrap();
        // 30 writes refused; 10 requests without a recorded endpoint.
        assert_eq!((by("scope").refused, by("scope").undetermined), (30, 10));
        assert_eq!(by("scope").examples[0].value, "POST /projects/beta");
        // 15 from another network; 5 with no recorded address.
        assert_eq!((by("ip").refused, by("ip").undetermined), (15, 5));
        // Unknown country is refused by an enforced list.
        assert_eq!(by("country").refused, 10);
        // 40 in one minute against 25.
        assert_eq!(by("rate_limit").refused, 15);
        assert!(notes.iter().any(|n| n.contains("no recorded endpoint")));
        assert!(notes.iter().any(|n| n.contains("no recorded address")));
        let r = report(Utc::now(), Utc::now(), h.served, rules, notes);
        assert_eq!(r.refused_at_least, 30);
        assert_eq!(
            r.refused_at_most, 70,
            "the sum, while under what was served"
        );
        assert!((r.share - 0.7).abs() < 1e-9);
    }

    #[test]
    fn paths_name_resources_only_when_folding_kept_them() {
        assert_eq!(
            resource_of("/projects/alpha/items/{id}").map(|r| r.to_string()),
            Some("project:alpha".into())
        );
        assert_eq!(resource_of("/projects/{id}/items"), None);
        assert_eq!(resource_of("/health"), None);
        assert_eq!(resource_of("/health/ok"), None, "no plural kind");
    }

    #[test]
    fn a_suggested_rate_has_headroom_and_only_ever_lowers() {
        let mut h = History {
            minutes: vec![(60, 33), (120, 5)],
            ..Default::default()
        };
        let s = suggest_rate(1_000, &h).unwrap();
        assert_eq!(s.restriction.per_minute, Some(50), "33 × 1.5 = 49.5 → 50");
        assert_eq!(s.evidence[0].requests, 33);
        assert!(suggest_rate(50, &h).is_none(), "not lower than now");
        h.minutes = vec![(60, 1)];
        assert_eq!(
            suggest_rate(1_000, &h).unwrap().restriction.per_minute,
            Some(10)
        );
        h.minutes.clear();
        assert!(suggest_rate(1_000, &h).is_none());
    }
}
