//! Finding keys in text (`keyport_core::scan::find_keys`): what the scanner
//! and the portal's folder scan run over any file. Never panics, reports
//! every key hidden in the text with its hash, and shows only masked forms.

#![no_main]

use keyport_core::scan::find_keys;
use keyport_core::{Environment, KeyHash, KeyPrefix};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let prefix = KeyPrefix::default();
    for f in find_keys(&text, &prefix) {
        assert!(f.masked.starts_with(&prefix.display_prefix(f.environment)));
        assert!(f.masked.chars().count() <= prefix.display_prefix(f.environment).len() + 5);
        assert!(f.line >= 1 && f.column >= 1);
        if let Some(hash) = f.hash {
            // A hash is only given for a whole key that parses.
            let line = text.lines().nth(f.line - 1).expect("the line exists");
            let raw =
                &line[f.column - 1..f.column - 1 + prefix.display_prefix(f.environment).len() + 64];
            assert_eq!(prefix.parse(raw).map(|k| k.hash), Ok(hash));
        }
    }
    // A real key on a line of its own is always found, with its hash.
    let seed = crc32fast::hash(data);
    let env = Environment::ALL[seed as usize % Environment::ALL.len()];
    let key = prefix.generate(env, &mut StdRng::seed_from_u64(u64::from(seed)));
    let with = format!("{text}\n{}\n", key.expose());
    let want = KeyHash::of(key.expose());
    assert!(
        find_keys(&with, &prefix)
            .iter()
            .any(|f| f.hash == Some(want)),
        "a key after {text:?} was missed"
    );
});
