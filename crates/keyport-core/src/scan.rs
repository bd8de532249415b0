//! Finding keys in text (files, pastes, leak reports): every string shaped
//! like a key of a prefix, told apart by whether its checksum holds. Pure;
//! the raw key never leaves this module: a find carries only its hash,
//! masked form and place.

use crate::key::{Environment, KeyHash, KeyPrefix, KEY_BODY_LEN};

/// One key-shaped string found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line and column (in bytes) where it starts.
    pub line: usize,
    pub column: usize,
    pub environment: Environment,
    /// `to_live_…a1b2`: safe to print.
    pub masked: String,
    /// SHA-256 of the key, to look it up; `None` when the checksum (or
    /// length) is wrong, i.e. a typo, a placeholder or a fake.
    pub hash: Option<KeyHash>,
}

/// Every key-shaped string of `prefix` in `text`, in order: `{prefix}_{env}_`
/// followed by a run of lowercase hex. A run as long as a key's body is
/// checked; shorter or longer runs are reported without a hash.
pub fn find_keys(text: &str, prefix: &KeyPrefix) -> Vec<Found> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let p = prefix.as_str().as_bytes();
    let (mut line, mut line_start) = (1, 0);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            line += 1;
            line_start = i + 1;
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !is_word(bytes[i - 1]);
        match (starts_word, key_at(&bytes[i..], p)) {
            (true, Some((env, len))) => {
                let raw = &text[i..i + len];
                let hash = prefix.parse(raw).ok().map(|k| k.hash);
                out.push(Found {
                    line,
                    column: i - line_start + 1,
                    environment: env,
                    masked: prefix.mask(env, &raw[raw.len().saturating_sub(4)..]),
                    hash,
                });
                i += len;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The environment and length of a key-shaped string at the start of
/// `rest`, if there is one.
fn key_at(rest: &[u8], prefix: &[u8]) -> Option<(Environment, usize)> {
    let after = rest.strip_prefix(prefix)?.strip_prefix(b"_")?;
    Environment::ALL.into_iter().find_map(|env| {
        let hex = after
            .strip_prefix(env.as_str().as_bytes())?
            .strip_prefix(b"_")?;
        let run = hex
            .iter()
            .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            .count();
        let whole = run >= KEY_BODY_LEN / 2 && hex.get(run).is_none_or(|c| !is_word(*c));
        whole.then_some((env, prefix.len() + 1 + env.as_str().len() + 1 + run))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn finds_real_keys_and_tells_fakes_by_checksum() {
        let prefix = KeyPrefix::default();
        let live = prefix.generate(Environment::Live, &mut OsRng);
        let test = prefix.generate(Environment::Test, &mut OsRng);
        let mut fake = live.expose().to_string();
        let last = fake.pop().unwrap();
        fake.push(if last == '0' { '1' } else { '0' });
        let text = format!(
            "# config\nAPI_KEY={}\nother = \"{}\"\nold: {fake}\nnot_a_key: xto_live_{}\nshort: to_live_abc123\n",
            live.expose(),
            test.expose(),
            "a".repeat(64)
        );
        let found = find_keys(&text, &prefix);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].line, found[0].column), (2, 9));
        assert_eq!(found[0].hash, Some(KeyHash::of(live.expose())));
        assert_eq!(found[1].environment, Environment::Test);
        assert_eq!(found[1].hash, Some(KeyHash::of(test.expose())));
        assert_eq!(found[2].hash, None, "a changed checksum is a fake");
        assert_eq!(
            found[0].masked,
            prefix.mask(Environment::Live, &live.expose()[live.expose().len() - 4..])
        );
    }

    #[test]
    fn other_prefixes_are_not_ours() {
        let ours = KeyPrefix::default();
        let theirs: KeyPrefix = "acme".parse().unwrap();
        let key = theirs.generate(Environment::Live, &mut OsRng);
        assert!(find_keys(key.expose(), &ours).is_empty());
        assert_eq!(find_keys(key.expose(), &theirs).len(), 1);
    }
}
