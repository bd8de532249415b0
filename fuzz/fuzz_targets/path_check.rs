//! The gateway's path check (`checked_path`) and the resource check done on
//! its output. A path that passes is plain: no `;`, no `//`, no `\`, no `.`
//! or `..` segment, no control character. And what is checked is what the
//! upstream acts on: when `project:alpha` may reach the checked path, the
//! path an upstream makes of the raw one (decoding it fully, dropping `;`
//! parameters, folding `\` and `//`, resolving dot segments, as Tomcat,
//! Spring and friends do) is under `/projects/alpha` too.

#![no_main]

use keyport_core::request::{checked_path, PathError};
use keyport_core::{path_allowed, Resource};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = checked_path(raw) else {
        return;
    };
    assert!(!path.contains(';'), "{raw:?} -> {path:?}");
    assert!(!path.contains("//"), "{raw:?} -> {path:?}");
    assert!(!path.contains('\\'), "{raw:?} -> {path:?}");
    assert!(
        !path.split('/').any(|s| s == "." || s == ".."),
        "{raw:?} -> {path:?}"
    );
    assert!(!path.chars().any(char::is_control), "{raw:?} -> {path:?}");
    // The checked path is the raw one decoded once, as the upstream reads it.
    assert_eq!(
        percent_decode_str(raw).decode_utf8().ok().as_deref(),
        Some(path.as_str())
    );
    // Every deeper decoding was checked too, so checking the result again
    // finds nothing ambiguous.
    assert_ne!(checked_path(&path), Err(PathError::Ambiguous), "{raw:?}");

    assert!(path_allowed(&[], &path));
    let alpha: Resource = "project:alpha".parse().unwrap();
    // And the resource the path itself names (`/widgets/w-1/…` for
    // `widget:w-1`), so the fuzzer need not hit on `alpha`.
    let named = path
        .strip_prefix('/')
        .and_then(|p| {
            let mut segs = p.split('/');
            Some((segs.next()?.strip_suffix('s')?, segs.next()?))
        })
        .and_then(|(kind, name)| format!("{kind}:{name}").parse::<Resource>().ok());
    for resource in std::iter::once(alpha).chain(named) {
        let allowed = path_allowed(std::slice::from_ref(&resource), &path);
        assert_eq!(allowed, resource.owns_path(&path));
        if allowed {
            let seen = upstream_view(raw);
            assert!(
                resource.owns_path(&seen),
                "{raw:?} passed as {path:?} for {resource}, but an upstream reads {seen:?}"
            );
        }
    }
});

/// The path a lenient upstream acts on: decoded until it stops changing,
/// `;params` dropped from each segment, `\` read as `/`, empty segments
/// folded and dot segments resolved.
fn upstream_view(raw: &str) -> String {
    let mut p = raw.to_string();
    for _ in 0..16 {
        let next = percent_decode_str(&p).decode_utf8_lossy().into_owned();
        if next == p {
            break;
        }
        p = next;
    }
    let p = p.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}
