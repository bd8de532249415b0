//! The parsers a stranger reaches before any key is known: the bearer
//! credential, the URL key guard, the gateway's path check, its method list,
//! and the range of dates the API accepts. Pure functions over bytes and
//! strings, so they are fuzzed (`fuzz/`) and property-tested here.

use chrono::{DateTime, TimeZone, Utc};
use percent_encoding::percent_decode;
use std::borrow::Cow;

use crate::key::{find_key_in_text, KeyPrefix};

/// Longest `Authorization` value looked at; a key is well under this.
pub const MAX_AUTH_LEN: usize = 512;

/// The credential in one `Authorization` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerToken<'a> {
    Present(&'a str),
    Malformed,
}

/// `Bearer <token>` (scheme case-insensitive, token trimmed), else malformed.
pub fn parse_bearer(value: &[u8]) -> BearerToken<'_> {
    if value.len() > MAX_AUTH_LEN {
        return BearerToken::Malformed;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return BearerToken::Malformed;
    };
    let Some((scheme, token)) = text.split_once(' ') else {
        return BearerToken::Malformed;
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return BearerToken::Malformed;
    }
    BearerToken::Present(token)
}

/// How many rounds of percent-decoding the URL guard and the path check
/// undo. Three layers of encoding is already beyond any honest client.
const DECODE_ROUNDS: usize = 4;

/// One round of percent-decoding (lossy on bad UTF-8), borrowed when there
/// is nothing to decode.
fn decode_once(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        match percent_decode(s.as_bytes()).decode_utf8_lossy() {
            Cow::Borrowed(_) => Cow::Borrowed(s),
            Cow::Owned(o) => Cow::Owned(o),
        }
    } else {
        Cow::Borrowed(s)
    }
}

/// True when a request target (path and query) carries a key-shaped value:
/// raw, percent-encoded once or several times (`%2574o_live_…`), or split
/// across query parameters (`?a=to_live_&b=<hex>`).
pub fn url_carries_key(path_and_query: &str, prefix: &KeyPrefix) -> bool {
    let mut current = Cow::Borrowed(path_and_query);
    for round in 0..=DECODE_ROUNDS {
        if find_key_in_text(&current, prefix) {
            return true;
        }
        if round == DECODE_ROUNDS || !current.contains('%') {
            break;
        }
        let next = decode_once(&current).into_owned();
        if next == *current {
            break;
        }
        current = Cow::Owned(next);
    }
    split_across_query(&current, prefix)
}

/// The query's values joined in order: a key cut into pieces is whole again.
/// Only looked at when the prefix appears at all, so it is cheap.
fn split_across_query(target: &str, prefix: &KeyPrefix) -> bool {
    let Some((_, query)) = target.split_once('?') else {
        return false;
    };
    let p = prefix.as_str().as_bytes();
    let mentions_prefix = query
        .as_bytes()
        .windows(p.len() + 1)
        .any(|w| w[..p.len()].eq_ignore_ascii_case(p) && w[p.len()] == b'_');
    if !mentions_prefix {
        return false;
    }
    let joined: String = query
        .split(['&', ';'])
        .map(|pair| pair.split_once('=').map_or(pair, |(_, v)| v))
        .collect();
    find_key_in_text(&joined, prefix)
}

/// Why the gateway refuses a path before any resource check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "the path has dot segments, empty segments, path parameters (;) or encoded separators"
    )]
    Ambiguous,
    #[error("the path is not valid UTF-8 or holds control characters")]
    Undecodable,
}

/// The decoded path the gateway checks resources on. Anything that could
/// make the upstream see another path than the one checked is refused, in
/// raw form and after each round of decoding: dot segments (`..`, `%2e%2e`,
/// `%252e`), `;` path parameters (`/alpha/..;/beta`, which Tomcat and Spring
/// strip), empty segments, backslashes and encoded slashes.
pub fn checked_path(raw: &str) -> Result<String, PathError> {
    if raw.contains('%') {
        decoded_path(raw)
    } else {
        plain_path(raw)
    }
}

/// [`checked_path`] of a path with no `%`: nothing decodes, so the first
/// round's checks are the only ones (most paths; the gateway runs this on
/// every request).
fn plain_path(raw: &str) -> Result<String, PathError> {
    if raw.chars().any(char::is_control) {
        return Err(PathError::Undecodable);
    }
    if ambiguous(raw) {
        return Err(PathError::Ambiguous);
    }
    Ok(raw.to_owned())
}

fn decoded_path(raw: &str) -> Result<String, PathError> {
    let first = percent_decode(raw.as_bytes())
        .decode_utf8()
        .map_err(|_| PathError::Undecodable)?;
    if first.chars().any(char::is_control) {
        return Err(PathError::Undecodable);
    }
    let mut current: Cow<'_, str> = Cow::Borrowed(raw);
    for _ in 0..DECODE_ROUNDS {
        if ambiguous(&current) {
            return Err(PathError::Ambiguous);
        }
        let next = decode_once(&current).into_owned();
        if next == *current {
            return Ok(first.into_owned());
        }
        current = Cow::Owned(next);
    }
    // Still changing after every round: nobody encodes a path that deep.
    Err(PathError::Ambiguous)
}

/// One form of a path: does it hold anything a server may read differently?
fn ambiguous(p: &str) -> bool {
    p.contains(';')
        || p.chars().any(char::is_control)
        || p.contains('\\')
        || p.contains("//")
        || encodes_separator(p)
        || p.split('/').any(|seg| seg == "." || seg == "..")
}

/// `%2f`, `%5c`, `%3b` or `%00`, in either case.
fn encodes_separator(p: &str) -> bool {
    p.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                [w[1], w[2].to_ascii_lowercase()],
                [b'2', b'f'] | [b'5', b'c'] | [b'3', b'b'] | [b'0', b'0']
            )
    })
}

/// Methods the gateway proxies: RFC 9110's, less `CONNECT` (a tunnel, for
/// forward proxies) and `TRACE` (echoes the request, credentials included),
/// plus `PATCH` (RFC 5789). Anything else is `405 method_not_allowed`.
pub const GATEWAY_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

pub fn gateway_method(method: &str) -> bool {
    GATEWAY_METHODS.contains(&method)
}

/// Earliest and latest instants the API accepts: 1970-01-01 to 9999-12-31.
/// Within them every sum and difference the service makes fits.
pub fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

pub fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Ok when `t` is within [`earliest`] and [`latest`].
pub fn check_date(t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if t < earliest() || t > latest() {
        Err(format!(
            "{} is out of range: dates must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
            t.to_rfc3339()
        ))
    } else {
        Ok(t)
    }
}

/// Parses an RFC 3339 date within the accepted range.
pub fn parse_date(s: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 date ({e})"))?
        .with_timezone(&Utc);
    check_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn prefix() -> KeyPrefix {
        KeyPrefix::default()
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn bearer_forms() {
        assert_eq!(parse_bearer(b"Bearer abc"), BearerToken::Present("abc"));
        assert_eq!(parse_bearer(b"bearer  abc "), BearerToken::Present("abc"));
        for bad in [
            &b""[..],
            b"abc",
            b"Basic abc",
            b"Bearer ",
            b"Bearer \xff\xfe",
            &[b'a'; 4096],
        ] {
            assert_eq!(parse_bearer(bad), BearerToken::Malformed);
        }
    }

    #[test]
    fn keys_in_urls_in_any_encoding() {
        let p = prefix();
        assert!(url_carries_key(&format!("/x/to_live_{HEX}"), &p));
        assert!(url_carries_key(&format!("/x/%74o_live_{HEX}"), &p));
        assert!(url_carries_key(&format!("/x/%2574o_live_{HEX}"), &p));
        assert!(url_carries_key(&format!("/x/%252574o_live_{HEX}"), &p));
        assert!(url_carries_key(&format!("/x?k=to_live_&rest={HEX}"), &p));
        assert!(url_carries_key(
            &format!("/x?a=to_&b=live_{}&c={}", &HEX[..30], &HEX[30..]),
            &p
        ));
        assert!(!url_carries_key("/projects/to_live_docs?x=1", &p));
        assert!(!url_carries_key("/v1/keys/key_0123456789abcdef", &p));
        assert!(!url_carries_key("/%zz/%", &p));
    }

    #[test]
    fn path_tricks_are_refused() {
        assert_eq!(
            checked_path("/projects/%61lpha/x").unwrap(),
            "/projects/alpha/x"
        );
        assert_eq!(checked_path("/").unwrap(), "/");
        assert_eq!(checked_path("/a%20b").unwrap(), "/a b");
        for bad in [
            "/projects/alpha/../beta",
            "/projects/alpha/%2e%2e/beta",
            "/projects/alpha/.%2E/beta",
            "/projects/alpha/%252e%252e/beta",
            "/projects/alpha/..;/beta/items",
            "/projects/alpha/..%3b/beta",
            "/projects/alpha/..%253b/beta",
            "/projects/alpha;x=1/items",
            "/projects/alpha%2F..%2Fbeta",
            "/projects/alpha%252F..%252Fbeta",
            "/projects//beta",
            "/projects\\beta",
            "/projects/alpha/%5c../beta",
            "/projects/alpha/./x",
            "/projects/alpha/%00",
            "/projects/%0a",
            "/projects/%250a",
            "/projects/%25250d",
        ] {
            assert!(checked_path(bad).is_err(), "{bad} passed");
        }
        assert_eq!(checked_path("/projects/%ff"), Err(PathError::Undecodable));
    }

    #[test]
    fn methods() {
        for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            assert!(gateway_method(m));
        }
        for m in [
            "TRACE",
            "CONNECT",
            "get",
            "PROPFIND",
            "X".repeat(40_000).as_str(),
        ] {
            assert!(!gateway_method(m));
        }
    }

    #[test]
    fn dates() {
        assert!(parse_date("2026-01-01T00:00:00Z").is_ok());
        assert!(parse_date("9999-12-31T23:59:59Z").is_ok());
        assert!(parse_date("1970-01-01T00:00:00Z").is_ok());
        assert!(parse_date("1969-12-31T23:59:59Z").is_err());
        assert!(parse_date("+10000-01-01T00:00:00Z").is_err());
        assert!(parse_date("-262143-01-01T00:00:00Z").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    proptest! {
        /// Whatever the bytes, parsing a bearer value never panics, and a
        /// present token is a trimmed, non-empty part of the value.
        #[test]
        fn bearer_never_panics(v in prop::collection::vec(any::<u8>(), 0..600)) {
            if let BearerToken::Present(t) = parse_bearer(&v) {
                prop_assert!(!t.is_empty() && t.trim() == t);
            }
        }

        /// A key-shaped value is found however many times (up to three) it
        /// was percent-encoded, wherever it sits in the URL.
        #[test]
        fn encoded_keys_are_found(rounds in 0usize..4, before in "[a-z/]{0,12}", hex in "[0-9a-f]{64}") {
            let mut key = format!("to_live_{hex}");
            for _ in 0..rounds {
                key = key.bytes().map(|b| format!("%{b:02X}")).collect();
            }
            let url = format!("/{before}{key}");
            prop_assert!(url_carries_key(&url, &prefix()));
        }

        /// The URL guard and the path check take any input without panicking.
        #[test]
        fn guards_never_panic(s in ".{0,200}") {
            let _ = url_carries_key(&s, &prefix());
            let _ = checked_path(&s);
        }

        /// Without a `%` the short path answers exactly as the decoding one.
        #[test]
        fn plain_paths_take_the_short_way_to_the_same_answer(s in "[a-zA-Z0-9./;\\\\\\x00-\\x1f\\x7f_-]{0,40}") {
            prop_assert_eq!(plain_path(&s), decoded_path(&s));
        }

        /// The encoded-separator scan finds what a lowercased search finds.
        #[test]
        fn encoded_separators_are_found_in_either_case(s in "[%0-9a-fA-F/x]{0,24}") {
            let lower = s.to_ascii_lowercase();
            let old = ["%2f", "%5c", "%3b", "%00"].iter().any(|e| lower.contains(e));
            prop_assert_eq!(encodes_separator(&s), old);
        }

        /// A path that passes has no dot segment, no `;` and no empty
        /// segment in any decoding, so the upstream sees what was checked.
        #[test]
        fn passed_paths_are_plain(segs in prop::collection::vec("[a-zA-Z0-9._%;-]{0,6}", 1..6)) {
            let raw = format!("/{}", segs.join("/"));
            if let Ok(p) = checked_path(&raw) {
                prop_assert!(!p.contains(';') && !p.contains("//"));
                prop_assert!(!p.split('/').any(|s| s == "." || s == ".."));
                let again = percent_decode(p.as_bytes()).decode_utf8_lossy().into_owned();
                prop_assert!(!again.split('/').any(|s| s == "." || s == ".."));
            }
        }

        /// Any accepted date survives the service's arithmetic: adding the
        /// span between two accepted dates never overflows chrono.
        #[test]
        fn accepted_dates_add_up(a in 0i64..253_402_300_799, b in 0i64..253_402_300_799) {
            let (ta, tb) = (DateTime::from_timestamp(a, 0).unwrap(), DateTime::from_timestamp(b, 0).unwrap());
            prop_assert!(check_date(ta).is_ok() && check_date(tb).is_ok());
            prop_assert!(ta.checked_add_signed(tb - ta).is_some());
        }
    }
}
