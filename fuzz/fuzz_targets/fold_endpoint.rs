//! Endpoint folding (`fold_endpoint`) of a stranger's method and path, kept
//! per key, stored and shown in alerts, plus the small string helpers next to
//! it. For any split of the input into method and path, the endpoint is at
//! most MAX_ENDPOINT_LEN bytes of valid UTF-8, begins with the (capped)
//! method, has a path of at most 8 named segments with no digits and no
//! empty segment, and folding it again changes nothing.

#![no_main]

use keyport_core::usage::{clean_country, fold_endpoint, truncate, MAX_ENDPOINT_LEN};
use libfuzzer_sys::fuzz_target;

/// Longest method kept in an endpoint (keyport-core's MAX_METHOD_LEN).
const METHOD_CAP: usize = 16;
/// Longest run of folded segments, then `/…`.
const MAX_SEGMENTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    // Where to split: at the first space (`GET /x`), and at up to 64 char
    // boundaries spread over the input (every one when it is short).
    let bounds: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let step = bounds.len().div_ceil(64).max(1);
    let mut splits: Vec<usize> = bounds.iter().copied().step_by(step).collect();
    splits.push(text.len());
    if let Some(i) = text.find(' ') {
        check(&text[..i], &text[i + 1..]);
    }
    for at in splits {
        check(&text[..at], &text[at..]);
    }

    if let Some(c) = clean_country(text) {
        assert_eq!(c.len(), 2);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert_eq!(c, text.trim().to_ascii_uppercase());
    }
    for max in [0, 1, 2, 3, 16, MAX_ENDPOINT_LEN] {
        let t = truncate(text, max);
        assert!(t.len() <= max);
        assert!(text.starts_with(t));
        // The longest such prefix: one more character would not fit.
        if let Some(next) = text[t.len()..].chars().next() {
            assert!(t.len() + next.len_utf8() > max);
        }
    }
});

fn check(method: &str, path: &str) {
    let out = fold_endpoint(method, path);
    assert!(
        out.len() <= MAX_ENDPOINT_LEN,
        "{} bytes from {method:?} {path:?}",
        out.len()
    );
    assert!(std::str::from_utf8(out.as_bytes()).is_ok());
    let m = truncate(method, METHOD_CAP);
    assert!(
        out.starts_with(m) && out[m.len()..].starts_with(" /"),
        "{out:?}"
    );
    let folded = &out[m.len() + 1..];
    assert!(!folded.bytes().any(|b| b.is_ascii_digit()), "{out:?}");
    assert!(!folded.contains("//"), "{out:?}");
    let segments: Vec<&str> = folded[1..].split('/').collect();
    assert!(segments.len() <= MAX_SEGMENTS + 1, "{out:?}");
    // A long segment is an id; only the last may have grown by the `…` of
    // the length cap.
    if let Some((last, named)) = segments.split_last() {
        assert!(named.iter().all(|s| s.len() < 24), "{out:?}");
        assert!(last.len() < 24 + "…".len(), "{out:?}");
    }
    // Folding an endpoint's own path again changes nothing (unless the
    // length cap cut it: a cut segment may then read as an id).
    if out.len() < MAX_ENDPOINT_LEN - "…".len() {
        assert_eq!(fold_endpoint(m, folded), out, "{method:?} {path:?}");
    }
}
