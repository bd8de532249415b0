//! Usage outcomes and endpoint folding.

use serde::{Deserialize, Serialize};

/// What happened to one request of a known key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx or 3xx.
    Success,
    /// 4xx other than 429 and the gateway's own scope/resource 403.
    ClientError,
    /// 5xx, including an unreachable upstream.
    ServerError,
    /// Refused by the limiter (429).
    RateLimited,
    /// Refused for scope, resource, network or country (403).
    Denied,
    /// Served, but a report-only restriction on the key would have refused
    /// it (counted instead of the answer's own outcome).
    WouldDeny,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::RateLimited,
        Outcome::Denied,
        Outcome::WouldDeny,
    ];

    /// The outcome of a response the upstream (or the service) gave.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => Outcome::RateLimited,
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::Success,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in the API and the database (`client_error`), as serde writes it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::Denied => "denied",
            Outcome::WouldDeny => "would_deny",
        }
    }
}

/// Requests per outcome, in [`Outcome::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts(pub [u64; 6]);

impl Counts {
    pub fn one(outcome: Outcome) -> Self {
        let mut c = Self::default();
        c.0[outcome.index()] = 1;
        c
    }

    pub fn add(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    pub fn get(&self, o: Outcome) -> u64 {
        self.0[o.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Client and server errors (not limiter or scope refusals).
    pub fn errors(&self) -> u64 {
        self.get(Outcome::ClientError) + self.get(Outcome::ServerError)
    }
}

/// Longest folded endpoint, in path segments kept.
const MAX_SEGMENTS: usize = 8;

/// Longest folded endpoint in bytes, and longest method kept in it: every
/// place that stores or shows an endpoint can rely on this bound.
pub const MAX_ENDPOINT_LEN: usize = 200;
const MAX_METHOD_LEN: usize = 16;

/// `GET /projects/alpha/items/42` → `GET /projects/alpha/items/{id}`: a segment
/// that holds a digit, or is very long, is an id. Keeps cardinality bounded
/// while names such as `alpha` stay readable. The result is at most
/// [`MAX_ENDPOINT_LEN`] bytes whatever the input.
pub fn fold_endpoint(method: &str, path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(MAX_ENDPOINT_LEN) + MAX_METHOD_LEN + 1);
    out.push_str(truncate(method, MAX_METHOD_LEN));
    out.push(' ');
    let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
    if segments.peek().is_none() {
        out.push('/');
    }
    for (i, seg) in segments.enumerate() {
        if i == MAX_SEGMENTS {
            out.push_str("/…");
            break;
        }
        out.push('/');
        if seg.len() >= 24 || seg.bytes().any(|c| c.is_ascii_digit()) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
    }
    if out.len() > MAX_ENDPOINT_LEN {
        let cut = truncate(&out, MAX_ENDPOINT_LEN - "…".len()).len();
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A country code from a trusted proxy header: two ASCII letters or digits
/// (ISO 3166 alpha-2, plus proxies' specials such as `XX` or `T1`), upper-cased.
pub fn clean_country(value: &str) -> Option<String> {
    let v = value.trim();
    (v.len() == 2 && v.bytes().all(|c| c.is_ascii_alphanumeric())).then(|| v.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(Outcome::from_status(200), Outcome::Success);
        assert_eq!(Outcome::from_status(304), Outcome::Success);
        assert_eq!(Outcome::from_status(404), Outcome::ClientError);
        assert_eq!(Outcome::from_status(429), Outcome::RateLimited);
        assert_eq!(Outcome::from_status(502), Outcome::ServerError);
    }

    #[test]
    fn names_are_what_serde_writes_and_follow_the_index() {
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
            assert_eq!(o.index(), i);
        }
    }

    #[test]
    fn folding() {
        assert_eq!(
            fold_endpoint("GET", "/projects/alpha/items/42"),
            "GET /projects/alpha/items/{id}"
        );
        assert_eq!(
            fold_endpoint("GET", "/projects/7/items"),
            "GET /projects/{id}/items"
        );
        assert_eq!(
            fold_endpoint("DELETE", "/u/550e8400-e29b-41d4-a716-446655440000"),
            "DELETE /u/{id}"
        );
        assert_eq!(fold_endpoint("GET", "/"), "GET /");
        assert_eq!(
            fold_endpoint("GET", "/a/b/c/d/e/f/g/h/i/j"),
            "GET /a/b/c/d/e/f/g/h/…"
        );
    }

    #[test]
    fn endpoints_are_bounded() {
        let long_method = "M".repeat(40_000);
        assert!(fold_endpoint(&long_method, "/").len() <= MAX_ENDPOINT_LEN);
        let path = "/abcdéfghijklmnopqrstuv".repeat(9);
        let e = fold_endpoint(&long_method, &path);
        assert!(e.len() <= MAX_ENDPOINT_LEN, "{}", e.len());
        assert!(e.ends_with('…'));
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn alert_names_are_bounded() {
        let many: Vec<(String, u64)> = (0..50)
            .map(|i| (format!("GET /{}", "x".repeat(10_000 + i)), 1))
            .collect();
        let a = crate::anomaly::KeyActivity {
            new_endpoints: many,
            known_endpoint_requests: 1_000,
            ..Default::default()
        };
        let found = crate::anomaly::detect(&crate::anomaly::AnomalyConfig::default(), &a);
        assert!(!found.is_empty());
        for f in found {
            assert!(f.message.len() < 2_000, "{}", f.message.len());
            assert!(f.evidence.to_string().len() < 10_000);
        }
    }

    #[test]
    fn countries() {
        assert_eq!(clean_country(" de "), Some("DE".into()));
        assert_eq!(clean_country("DEU"), None);
        assert_eq!(clean_country("d-"), None);
    }

    #[test]
    fn counts() {
        let mut c = Counts::one(Outcome::Success);
        c.add(&Counts::one(Outcome::ServerError));
        assert_eq!(c.total(), 2);
        assert_eq!(c.errors(), 1);
    }
}
