//! The URL key guard (`url_carries_key`): the request target of every
//! request. Whatever the URL around it, a real key put into it raw, or
//! percent-encoded once or twice (wholly or only some of its bytes, as in
//! `%2574o_live_…`), is found; and anything `find_key_in_text` sees is found.

#![no_main]

use keyport_core::request::url_carries_key;
use keyport_core::{find_key_in_text, Environment, KeyPrefix};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let prefix = KeyPrefix::default();
    let carries = url_carries_key(&text, &prefix);
    if find_key_in_text(&text, &prefix) {
        assert!(carries, "a key in plain sight was missed in {text:?}");
    }

    // Where and how to put a key: drawn from the input, so the same input
    // always tries the same thing.
    let seed = crc32fast::hash(data);
    let mut rng = StdRng::seed_from_u64(u64::from(seed));
    let env = Environment::ALL[rng.gen_range(0..Environment::ALL.len())];
    let key = prefix.generate(env, &mut rng);
    let mut at = rng.gen_range(0..=text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let raw = key.expose().to_string();
    let once = encode(&raw, &mut rng);
    let twice = encode(&once, &mut rng);
    for embedded in [raw, once, twice] {
        let url = format!("{}{embedded}{}", &text[..at], &text[at..]);
        assert!(
            url_carries_key(&url, &prefix),
            "a key was missed in {url:?}"
        );
    }
});

/// Percent-encodes every byte, or a random part of them (always the first,
/// as attackers do: `%74o_live_…`), in upper or lower case hex.
fn encode(s: &str, rng: &mut StdRng) -> String {
    let all = rng.gen_bool(0.5);
    let digits: &[u8; 16] = if rng.gen_bool(0.5) {
        b"0123456789abcdef"
    } else {
        b"0123456789ABCDEF"
    };
    let mut out = String::with_capacity(s.len() * 3);
    for (i, b) in s.bytes().enumerate() {
        if all || i == 0 || rng.gen_bool(0.3) {
            out.push('%');
            out.push(char::from(digits[usize::from(b >> 4)]));
            out.push(char::from(digits[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
    out
}
