//! The `Authorization` header (`parse_bearer`): any bytes a stranger sends.
//! A present token is exactly the trimmed, non-empty rest of a value that
//! starts `Bearer ` (any case), a part of the value itself, and short.

#![no_main]

use keyport_core::request::{parse_bearer, BearerToken, MAX_AUTH_LEN};
use keyport_core::{KeyHash, KeyPrefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let got = parse_bearer(data);
    assert_eq!(got, spec(data), "parse_bearer disagrees on {data:?}");
    let BearerToken::Present(token) = got else {
        return;
    };
    assert!(!token.is_empty() && token.trim() == token);
    // Borrowed from the value, not made up.
    let start = token.as_ptr() as usize - data.as_ptr() as usize;
    assert!(start + token.len() <= data.len());
    assert_eq!(&data[start..start + token.len()], token.as_bytes());
    // Idempotent: the token sent again as a credential is the same token.
    assert_eq!(
        parse_bearer(format!("Bearer {token}").as_bytes()),
        BearerToken::Present(token)
    );
    if let Ok(key) = KeyPrefix::default().parse(token) {
        assert_eq!(key.hash, KeyHash::of(token));
    }
});

/// `Bearer` then one space (the scheme any case), then the token with
/// surrounding whitespace dropped; the whole value at most MAX_AUTH_LEN bytes.
fn spec(value: &[u8]) -> BearerToken<'_> {
    if value.len() > MAX_AUTH_LEN {
        return BearerToken::Malformed;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return BearerToken::Malformed;
    };
    let scheme_ok = text
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("bearer "));
    match text.get(7..).map(str::trim) {
        Some(token) if scheme_ok && !token.is_empty() => BearerToken::Present(token),
        _ => BearerToken::Malformed,
    }
}
