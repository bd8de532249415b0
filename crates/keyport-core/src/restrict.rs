//! Restrictions on where and how a key may be used: IP/CIDR allowlists,
//! allowed countries, narrower scopes and resources, a lower rate. The same
//! check serves enforcement and report-only proposals (which only count
//! what they would refuse). Pure: the caller passes the request's facts.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::scope::{path_allowed, resource_allowed, Resource, Scope, ScopeSet};

/// Most entries in a key's IP allowlist.
pub const MAX_ALLOWED_IPS: usize = 300;
/// Most entries in a key's country list (there are fewer than 250 codes).
pub const MAX_ALLOWED_COUNTRIES: usize = 250;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestrictError {
    #[error("`{0}` is not an IP address or CIDR network (e.g. 203.0.113.0/24, 2001:db8::/32)")]
    BadNetwork(String),
    #[error("at most {max} IP allowlist entries (got {found})")]
    TooManyNetworks { max: usize, found: usize },
    #[error("`{0}` is not a two-letter country code")]
    BadCountry(String),
    #[error("at most {max} countries (got {found})")]
    TooManyCountries { max: usize, found: usize },
}

/// An address as itself: an IPv4-mapped IPv6 address is the IPv4 address,
/// so a dual-stack listener and an IPv4 allowlist agree.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The network a caller is recorded under: its /24 (IPv4) or /48 (IPv6).
/// Coarse on purpose: enough to tell a customer's servers apart, and it
/// keeps one key's history small whatever its callers do.
pub fn network_of(ip: IpAddr) -> IpNet {
    match canonical(ip) {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new(v4, 24).expect("24 is a valid prefix").trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new(v6, 48).expect("48 is a valid prefix").trunc()),
    }
}

/// Parses an allowlist: CIDR networks or single addresses (as /32 or /128),
/// host bits cleared, duplicates dropped, order kept.
pub fn parse_allowlist(entries: &[String]) -> Result<Vec<IpNet>, RestrictError> {
    if entries.len() > MAX_ALLOWED_IPS {
        return Err(RestrictError::TooManyNetworks {
            max: MAX_ALLOWED_IPS,
            found: entries.len(),
        });
    }
    let mut out: Vec<IpNet> = Vec::with_capacity(entries.len());
    for e in entries {
        let net = parse_network(e.trim()).ok_or_else(|| RestrictError::BadNetwork(e.clone()))?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

fn parse_network(s: &str) -> Option<IpNet> {
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    // A v4-mapped v6 network is written as the IPv4 network it means.
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
            None => net,
        },
        _ => net,
    };
    Some(net.trunc())
}

/// Upper-cased, deduplicated two-character country codes (ISO alpha-2,
/// plus proxies' specials such as `XX` or `T1`, as usage records them).
pub fn parse_countries(entries: &[String]) -> Result<Vec<String>, RestrictError> {
    if entries.len() > MAX_ALLOWED_COUNTRIES {
        return Err(RestrictError::TooManyCountries {
            max: MAX_ALLOWED_COUNTRIES,
            found: entries.len(),
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for e in entries {
        let c = e.trim();
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(RestrictError::BadCountry(e.clone()));
        }
        let c = c.to_ascii_uppercase();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Empty means anywhere; otherwise the caller's address must be known and
/// inside one of the networks.
pub fn ip_allowed(list: &[IpNet], ip: Option<IpAddr>) -> bool {
    list.is_empty() || ip.is_some_and(|ip| list.iter().any(|n| n.contains(&canonical(ip))))
}

/// An allowlist as the request path reads it: the networks, plus each as an
/// (address, mask) integer pair per family, so a check is one AND and one
/// compare per entry. Reads as the slice of its networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    nets: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Allowlist {
    /// Nothing listed: anywhere.
    pub const EMPTY: Allowlist = Allowlist {
        nets: Vec::new(),
        v4: Vec::new(),
        v6: Vec::new(),
    };

    /// Empty means anywhere; otherwise the address must be known and inside.
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        match ip.map(canonical) {
            Some(IpAddr::V4(a)) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            Some(IpAddr::V6(a)) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
            None => false,
        }
    }
}

impl From<Vec<IpNet>> for Allowlist {
    fn from(nets: Vec<IpNet>) -> Self {
        let mut list = Allowlist {
            nets,
            ..Allowlist::EMPTY
        };
        for n in &list.nets {
            match n {
                IpNet::V4(n) => list
                    .v4
                    .push((u32::from(n.network()), u32::from(n.netmask()))),
                IpNet::V6(n) => list
                    .v6
                    .push((u128::from(n.network()), u128::from(n.netmask()))),
            }
        }
        list
    }
}

impl std::ops::Deref for Allowlist {
    type Target = [IpNet];
    fn deref(&self) -> &[IpNet] {
        &self.nets
    }
}

/// Empty means anywhere; otherwise the country must be known and listed.
pub fn country_allowed(list: &[String], country: Option<&str>) -> bool {
    list.is_empty() || country.is_some_and(|c| list.iter().any(|l| l == c))
}

/// What a request asks for, as the check sees it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// `POST /v1/verify`: the scope and resource the vendor asked about.
    Verify {
        scope: Option<Scope>,
        resource: Option<&'a Resource>,
    },
    /// A gateway request: its method and normalised path.
    Gateway { method: &'a str, path: &'a str },
}

/// One request's facts.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub target: Target<'a>,
    /// The caller's address, when known (gateway peer, or `ip` in a verify).
    pub ip: Option<IpAddr>,
    /// The caller's country, when known (a trusted proxy's header, or
    /// `country` in a verify).
    pub country: Option<&'a str>,
}

/// Which rule refused a request. The code is stable for clients and the
/// UI; the label is what report-only counting records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Scope(Scope),
    Resource(String),
    Ip(Option<IpAddr>),
    Country(Option<String>),
    RateLimit,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Scope(_) | Refusal::Resource(_) => "forbidden",
            Refusal::Ip(_) => "ip_not_allowed",
            Refusal::Country(_) => "country_not_allowed",
            Refusal::RateLimit => "rate_limited",
        }
    }

    /// The kind of rule: `scope`, `resource`, `ip`, `country`, `rate_limit`.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Scope(_) => "scope",
            Refusal::Resource(_) => "resource",
            Refusal::Ip(_) => "ip",
            Refusal::Country(_) => "country",
            Refusal::RateLimit => "rate_limit",
        }
    }

    /// `ip 198.51.100.0/24`, `scope write`, …: bounded in size, and an
    /// address only as its recorded network.
    pub fn label(&self) -> String {
        match self {
            Refusal::Scope(s) => format!("scope {s}"),
            Refusal::Resource(r) => format!("resource {}", crate::usage::truncate(r, 120)),
            Refusal::Ip(Some(ip)) => format!("ip {}", network_of(*ip)),
            Refusal::Ip(None) => "ip unknown".to_string(),
            Refusal::Country(Some(c)) => format!("country {c}"),
            Refusal::Country(None) => "country unknown".to_string(),
            Refusal::RateLimit => "rate_limit".to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Scope(s) => write!(f, "this key does not have the {s} scope"),
            Refusal::Resource(r) => write!(f, "this key is not allowed to use {r}"),
            Refusal::Ip(Some(ip)) => write!(f, "this key may not be used from {}", canonical(*ip)),
            Refusal::Ip(None) => write!(
                f,
                "this key is limited to certain networks and the caller's address is unknown \
                 (pass \"ip\" when verifying)"
            ),
            Refusal::Country(Some(c)) => write!(f, "this key may not be used from country {c}"),
            Refusal::Country(None) => write!(
                f,
                "this key is limited to certain countries and the caller's country is unknown"
            ),
            Refusal::RateLimit => write!(f, "over the proposed rate limit"),
        }
    }
}

/// Everything a key is limited to, beyond its rate. `None`/empty fields
/// leave that dimension open.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub scopes: Option<&'a ScopeSet>,
    pub resources: Option<&'a [Resource]>,
    pub allowed_ips: &'a Allowlist,
    pub allowed_countries: &'a [String],
}

impl Rules<'_> {
    /// The first rule the request breaks, checked in a fixed order: scope,
    /// resource, network, country.
    pub fn check(&self, facts: &Facts<'_>) -> Option<Refusal> {
        match facts.target {
            Target::Verify { scope, resource } => {
                if let (Some(scopes), Some(scope)) = (self.scopes, scope) {
                    if !scopes.grants(scope) {
                        return Some(Refusal::Scope(scope));
                    }
                }
                if let (Some(granted), Some(r)) = (self.resources, resource) {
                    if !resource_allowed(granted, r) {
                        return Some(Refusal::Resource(r.to_string()));
                    }
                }
            }
            Target::Gateway { method, path } => {
                let needed = Scope::for_method(method);
                if self.scopes.is_some_and(|s| !s.grants(needed)) {
                    return Some(Refusal::Scope(needed));
                }
                if self.resources.is_some_and(|r| !path_allowed(r, path)) {
                    return Some(Refusal::Resource(path.to_string()));
                }
            }
        }
        if !self.allowed_ips.allows(facts.ip) {
            return Some(Refusal::Ip(facts.ip.map(canonical)));
        }
        if !country_allowed(self.allowed_countries, facts.country) {
            return Some(Refusal::Country(facts.country.map(str::to_string)));
        }
        None
    }
}

/// How a recorded network relates to an allowlist: wholly inside it, wholly
/// outside it, or partly (history cannot say which of its callers were in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    Inside,
    Outside,
    Partly,
}

pub fn network_coverage(list: &[IpNet], network: &IpNet) -> Coverage {
    if list.is_empty() || list.iter().any(|n| n.contains(network)) {
        Coverage::Inside
    } else if list.iter().any(|n| network.contains(n)) {
        Coverage::Partly
    } else {
        Coverage::Outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(v: &[&str]) -> Vec<IpNet> {
        parse_allowlist(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of(ip("198.51.100.77")).to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            network_of(ip("2001:db8:1:2:3::9")).to_string(),
            "2001:db8:1::/48"
        );
        assert_eq!(
            network_of(ip("::ffff:203.0.113.9")).to_string(),
            "203.0.113.0/24"
        );
    }

    #[test]
    fn allowlists_parse_addresses_and_networks() {
        let l = list(&[
            "203.0.113.7/24",
            " 192.0.2.1 ",
            "2001:db8::/32",
            "192.0.2.1",
        ]);
        let shown: Vec<String> = l.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["203.0.113.0/24", "192.0.2.1/32", "2001:db8::/32"]);
        assert_eq!(list(&["::ffff:10.0.0.0/104"])[0].to_string(), "10.0.0.0/8");
        for bad in ["", "10.0.0.0/33", "not-an-ip", "1.2.3", "::/129"] {
            assert_eq!(
                parse_allowlist(&[bad.to_string()]),
                Err(RestrictError::BadNetwork(bad.to_string()))
            );
        }
        let many: Vec<String> = (0..=MAX_ALLOWED_IPS)
            .map(|i| format!("10.{}.0.0/16", i % 256))
            .collect();
        assert!(matches!(
            parse_allowlist(&many),
            Err(RestrictError::TooManyNetworks { .. })
        ));
    }

    #[test]
    fn allowlist_membership() {
        let l = list(&["203.0.113.0/24", "2001:db8::/32"]);
        assert!(ip_allowed(&l, Some(ip("203.0.113.200"))));
        assert!(ip_allowed(&l, Some(ip("::ffff:203.0.113.1"))));
        assert!(ip_allowed(&l, Some(ip("2001:db8:ffff::1"))));
        assert!(!ip_allowed(&l, Some(ip("198.51.100.1"))));
        assert!(!ip_allowed(&l, None), "an unknown address is refused");
        assert!(ip_allowed(&[], None), "no allowlist, no rule");
    }

    #[test]
    fn a_compiled_allowlist_agrees_with_the_networks() {
        let nets = list(&[
            "203.0.113.0/24",
            "10.0.0.0/8",
            "192.0.2.7",
            "2001:db8::/32",
            "::1/128",
            "0.0.0.0/0",
        ]);
        for take in 0..=nets.len() {
            let part = nets[..take].to_vec();
            let compiled = Allowlist::from(part.clone());
            assert_eq!(&*compiled, &part[..]);
            for addr in [
                "203.0.113.9",
                "203.0.114.1",
                "10.255.0.1",
                "11.0.0.1",
                "192.0.2.7",
                "192.0.2.8",
                "2001:db8::5",
                "2001:db9::1",
                "::1",
                "::2",
                "::ffff:10.1.2.3",
                "8.8.8.8",
            ] {
                let a = Some(ip(addr));
                assert_eq!(
                    compiled.allows(a),
                    ip_allowed(&part, a),
                    "{addr} in {part:?}"
                );
            }
            assert_eq!(compiled.allows(None), part.is_empty());
        }
        assert!(Allowlist::EMPTY.allows(None));
    }

    #[test]
    fn countries_parse_and_match() {
        let c = parse_countries(&["de".into(), " FR".into(), "DE".into()]).unwrap();
        assert_eq!(c, ["DE", "FR"]);
        assert!(parse_countries(&["DEU".into()]).is_err());
        assert!(parse_countries(&["D-".into()]).is_err());
        assert!(country_allowed(&c, Some("FR")));
        assert!(!country_allowed(&c, Some("US")));
        assert!(!country_allowed(&c, None));
        assert!(country_allowed(&[], None));
    }

    #[test]
    fn rules_check_in_order() {
        let read = ScopeSet::new(vec![Scope::Read]);
        let alpha: Vec<Resource> = vec!["project:alpha".parse().unwrap()];
        let nets = Allowlist::from(list(&["203.0.113.0/24"]));
        let countries = vec!["DE".to_string()];
        let rules = Rules {
            scopes: Some(&read),
            resources: Some(&alpha),
            allowed_ips: &nets,
            allowed_countries: &countries,
        };
        let facts = |method, path, addr: &str, country| Facts {
            target: Target::Gateway { method, path },
            ip: Some(ip(addr)),
            country,
        };
        let ok = facts("GET", "/projects/alpha/x", "203.0.113.5", Some("DE"));
        assert_eq!(rules.check(&ok), None);
        let write = facts("POST", "/projects/alpha/x", "198.51.100.1", None);
        assert_eq!(rules.check(&write), Some(Refusal::Scope(Scope::Write)));
        let beta = facts("GET", "/projects/beta", "198.51.100.1", None);
        assert_eq!(rules.check(&beta).unwrap().rule(), "resource");
        let away = facts("GET", "/projects/alpha", "198.51.100.1", Some("DE"));
        let refusal = rules.check(&away).unwrap();
        assert_eq!(refusal.code(), "ip_not_allowed");
        assert_eq!(refusal.label(), "ip 198.51.100.0/24");
        let abroad = facts("GET", "/projects/alpha", "203.0.113.5", Some("US"));
        assert_eq!(rules.check(&abroad).unwrap().label(), "country US");
        let verify = Facts {
            target: Target::Verify {
                scope: None,
                resource: None,
            },
            ip: None,
            country: Some("DE"),
        };
        assert_eq!(rules.check(&verify), Some(Refusal::Ip(None)));
    }

    #[test]
    fn coverage_of_recorded_networks() {
        let l = list(&["203.0.113.0/24", "198.51.100.7"]);
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(
            network_coverage(&l, &net("203.0.113.0/24")),
            Coverage::Inside
        );
        assert_eq!(
            network_coverage(&l, &net("198.51.100.0/24")),
            Coverage::Partly
        );
        assert_eq!(
            network_coverage(&l, &net("192.0.2.0/24")),
            Coverage::Outside
        );
        assert_eq!(
            network_coverage(&[], &net("192.0.2.0/24")),
            Coverage::Inside
        );
    }
}
