//! Key parsing (`KeyPrefix::parse`), the first thing done with any bearer
//! credential. Checked against a plain re-statement of the key format, and
//! with the checksum repaired so the accepting path is reached too: a key
//! that parses has its prefix, environment and body, and hashes to what
//! `KeyHash` says.

#![no_main]

use keyport_core::request::{parse_bearer, BearerToken};
use keyport_core::{find_key_in_text, Environment, KeyFormatError, KeyHash, KeyPrefix, ParsedKey};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let default = KeyPrefix::default();
    check(&default, &text);
    // A prefix named by the input itself (`acme_live_…`), when it is one.
    if let Some(custom) = text
        .split_once('_')
        .and_then(|(p, _)| p.parse::<KeyPrefix>().ok())
    {
        check(&custom, &text);
    }
    // Every generated key parses back to what it was made as.
    let seed = crc32fast::hash(data);
    let env = Environment::ALL[seed as usize % Environment::ALL.len()];
    let key = default.generate(env, &mut StdRng::seed_from_u64(u64::from(seed)));
    let parsed = default.parse(key.expose()).expect("a generated key parses");
    assert_eq!(parsed.environment, env);
    assert_eq!(parsed.last4, key.last4());
    assert_valid(&default, key.expose(), &parsed);
});

fn check(prefix: &KeyPrefix, raw: &str) {
    let result = prefix.parse(raw);
    assert_eq!(
        result.as_ref().ok().map(|p| p.environment),
        spec(prefix, raw),
        "parse and the key format disagree on {raw:?}"
    );
    if let Ok(parsed) = &result {
        assert_valid(prefix, raw, parsed);
    }
    // The same text with its last 8 bytes replaced by the right checksum:
    // either a valid key, or refused for something other than the checksum.
    if raw.len() >= 8 && raw.is_char_boundary(raw.len() - 8) {
        let signed = &raw[..raw.len() - 8];
        let fixed = format!("{signed}{:08x}", crc32fast::hash(signed.as_bytes()));
        match prefix.parse(&fixed) {
            Ok(parsed) => {
                assert_valid(prefix, &fixed, &parsed);
                if fixed != raw {
                    assert!(result.is_err(), "{raw:?} parsed with a wrong checksum");
                }
            }
            Err(e) => assert_ne!(e, KeyFormatError::ChecksumMismatch, "{fixed:?}"),
        }
    }
}

/// What a key that parsed must be.
fn assert_valid(prefix: &KeyPrefix, raw: &str, parsed: &ParsedKey) {
    let shown = prefix.display_prefix(parsed.environment);
    assert!(raw.starts_with(&shown), "{raw:?} lacks {shown:?}");
    let body = &raw[shown.len()..];
    assert_eq!(body.len(), keyport_core::KEY_BODY_LEN);
    assert!(body.bytes().all(is_lower_hex));
    assert_eq!(parsed.hash, KeyHash::of(raw));
    assert_eq!(KeyHash::from_hex(&parsed.hash.to_hex()), Some(parsed.hash));
    assert_eq!(parsed.last4, raw[raw.len() - 4..]);
    // The URL guard knows it for a key, and as a bearer credential it comes
    // back whole.
    assert!(find_key_in_text(raw, prefix));
    assert_eq!(
        parse_bearer(format!("Bearer {raw}").as_bytes()),
        BearerToken::Present(raw)
    );
    assert_eq!(prefix.parse(raw).as_ref(), Ok(parsed));
}

/// The key format, written out plainly: `{prefix}_{env}_` then 56 lowercase
/// hex of randomness and 8 of the CRC32 of everything before them.
fn spec(prefix: &KeyPrefix, raw: &str) -> Option<Environment> {
    Environment::ALL.into_iter().find(|env| {
        let head = format!("{}_{}_", prefix.as_str(), env.as_str());
        raw.len() == head.len() + 64
            && raw.starts_with(&head)
            && raw.bytes().skip(head.len()).all(is_lower_hex)
            && format!("{:08x}", crc32fast::hash(&raw.as_bytes()[..raw.len() - 8]))
                == raw[raw.len() - 8..]
    })
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}
