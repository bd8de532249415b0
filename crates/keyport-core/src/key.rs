//! Key format: `{prefix}_{env}_{body}`, body = 56 hex of 28 CSPRNG bytes
//! followed by 8 hex of the CRC32 (IEEE, big-endian) of everything before it.
//! The checksum lets a scanner or the gateway reject typos and lookalikes
//! without a database lookup.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use crate::secret::{last4, SecretKey};

/// Hex characters after `{prefix}_{env}_`.
pub const KEY_BODY_LEN: usize = 64;
const RANDOM_BYTES: usize = 28;
const RANDOM_HEX: usize = RANDOM_BYTES * 2;
/// Longest text `parse` looks at; anything longer is rejected by length first.
const MAX_KEY_LEN: usize = 128;
/// Shortest hex run after `{prefix}_{env}_` that counts as "key-shaped" in a URL.
const KEY_SHAPE_MIN_HEX: usize = 16;
/// What an operator token has where a key has its environment (`to_op_…`).
pub const OPERATOR_KIND: &str = "op";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is too long to be a Keyport key")]
    TooLong,
    #[error("the key must start with \"{expected}_\"")]
    WrongPrefix { expected: String },
    #[error("the key's environment must be live, test or staging")]
    UnknownEnvironment,
    #[error("the key body must be {expected} characters long, found {found}")]
    WrongLength { expected: usize, found: usize },
    #[error("the key body must be lowercase hex; character {position} of the body is not")]
    NotHex { position: usize },
    #[error("the key's checksum does not match: it is mistyped or not a Keyport key")]
    ChecksumMismatch,
    #[error("a key prefix must be 2 to 12 lowercase letters or digits, starting with a letter")]
    InvalidPrefix,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Live,
    Test,
    Staging,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Environment::Live, Environment::Test, Environment::Staging];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
            Environment::Staging => "staging",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = KeyFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(KeyFormatError::UnknownEnvironment)
    }
}

/// SHA-256 of the whole key text: the only thing ever stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(raw: &str) -> Self {
        Self(Sha256::digest(raw.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Accepts exactly 64 lowercase hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.bytes().all(is_lower_hex) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not secret, but a short form keeps logs readable.
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

/// What a valid key tells without any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub environment: Environment,
    pub last4: String,
    pub hash: KeyHash,
}

/// The product prefix of a deployment (`to` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl Default for KeyPrefix {
    fn default() -> Self {
        Self("to".into())
    }
}

impl FromStr for KeyPrefix {
    type Err = KeyFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok = (2..=12).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(KeyFormatError::InvalidPrefix)
        }
    }
}

impl KeyPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `to_live_`: the part of a key that is safe to show and names its kind.
    pub fn display_prefix(&self, env: Environment) -> String {
        format!("{}_{}_", self.0, env.as_str())
    }

    /// `to_live_…a1b2`: how a key is shown anywhere after its one-time display.
    pub fn mask(&self, env: Environment, last4: &str) -> String {
        format!("{}…{}", self.display_prefix(env), last4)
    }

    /// A new key from 28 bytes of the given CSPRNG.
    pub fn generate<R: RngCore + CryptoRng>(&self, env: Environment, rng: &mut R) -> SecretKey {
        checksummed(self.display_prefix(env), rng)
    }

    /// `to_op_`: the start of every operator token of this deployment, so
    /// scanners and logs tell a vendor's operator credential from a
    /// customer's key.
    pub fn operator_prefix(&self) -> String {
        format!("{}_{OPERATOR_KIND}_", self.0)
    }

    /// A new operator token (`to_op_…`): the key format with `op` where a
    /// key has its environment, so no key parser accepts it.
    pub fn generate_operator<R: RngCore + CryptoRng>(&self, rng: &mut R) -> SecretKey {
        checksummed(self.operator_prefix(), rng)
    }

    /// Checks an operator token's prefix, length, hex and checksum; answers
    /// its last four characters and hash.
    pub fn parse_operator(&self, raw: &str) -> Result<(String, KeyHash), KeyFormatError> {
        if raw.is_empty() {
            return Err(KeyFormatError::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(KeyFormatError::TooLong);
        }
        let body = raw
            .strip_prefix(self.operator_prefix().as_str())
            .ok_or_else(|| KeyFormatError::WrongPrefix {
                expected: format!("{}_{OPERATOR_KIND}", self.0),
            })?;
        check_body(raw, body)?;
        Ok((last4(raw), KeyHash::of(raw)))
    }

    /// Checks prefix, environment, length, hex and checksum, in that order.
    pub fn parse(&self, raw: &str) -> Result<ParsedKey, KeyFormatError> {
        if raw.is_empty() {
            return Err(KeyFormatError::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(KeyFormatError::TooLong);
        }
        let wrong_prefix = || KeyFormatError::WrongPrefix {
            expected: self.0.clone(),
        };
        let rest = raw
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('_'))
            .ok_or_else(wrong_prefix)?;
        let (env_text, body) = rest
            .split_once('_')
            .ok_or(KeyFormatError::UnknownEnvironment)?;
        let environment: Environment = env_text.parse()?;
        check_body(raw, body)?;
        Ok(ParsedKey {
            environment,
            last4: last4(raw),
            hash: KeyHash::of(raw),
        })
    }
}

/// `start` followed by 28 CSPRNG bytes in hex and the CRC32 of all that.
fn checksummed<R: RngCore + CryptoRng>(start: String, rng: &mut R) -> SecretKey {
    let mut bytes = zeroize::Zeroizing::new([0u8; RANDOM_BYTES]);
    rng.fill_bytes(bytes.as_mut());
    let mut text = start;
    text.reserve(KEY_BODY_LEN);
    text.push_str(&hex::encode(bytes.as_ref()));
    let crc = crc32fast::hash(text.as_bytes());
    text.push_str(&format!("{crc:08x}"));
    SecretKey::new(text)
}

/// Length, hex and checksum of the `body` that ends `raw`.
fn check_body(raw: &str, body: &str) -> Result<(), KeyFormatError> {
    if body.len() != KEY_BODY_LEN {
        return Err(KeyFormatError::WrongLength {
            expected: KEY_BODY_LEN,
            found: body.chars().count(),
        });
    }
    if let Some(position) = body.bytes().position(|c| !is_lower_hex(c)) {
        return Err(KeyFormatError::NotHex { position });
    }
    let signed_len = raw.len() - (KEY_BODY_LEN - RANDOM_HEX);
    let expected = crc32fast::hash(&raw.as_bytes()[..signed_len]);
    // Lowercase hex was checked above, so this parse cannot fail.
    if u32::from_str_radix(&raw[signed_len..], 16).ok() != Some(expected) {
        return Err(KeyFormatError::ChecksumMismatch);
    }
    Ok(())
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// True when `text` holds something shaped like a key of this prefix
/// (`to_live_` followed by a run of hex), valid checksum or not. Used to refuse
/// keys sent in URLs. Case-insensitive, so `TO_LIVE_ABC…` counts too.
pub fn find_key_in_text(text: &str, prefix: &KeyPrefix) -> bool {
    // Runs on every request: no allocation, one pass per `{prefix}_` hit.
    let bytes = text.as_bytes();
    let p = prefix.0.as_bytes();
    let mut i = 0;
    while i + p.len() < bytes.len() {
        let rest = &bytes[i..];
        if rest[..p.len()].eq_ignore_ascii_case(p) && rest[p.len()] == b'_' {
            let after = &rest[p.len() + 1..];
            let kinds = Environment::ALL.map(Environment::as_str);
            for kind in kinds.iter().chain([&OPERATOR_KIND]) {
                let e = kind.as_bytes();
                if after.len() > e.len()
                    && after[..e.len()].eq_ignore_ascii_case(e)
                    && after[e.len()] == b'_'
                {
                    let hex = after[e.len() + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_hexdigit())
                        .count();
                    if hex >= KEY_SHAPE_MIN_HEX {
                        return true;
                    }
                }
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn prefix() -> KeyPrefix {
        KeyPrefix::default()
    }

    fn key_from_seed(seed: u64, env: Environment) -> SecretKey {
        prefix().generate(env, &mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn operator_tokens_are_not_keys_and_keys_are_not_operator_tokens() {
        let mut rng = StdRng::seed_from_u64(3);
        let token = prefix().generate_operator(&mut rng);
        let raw = token.expose();
        assert!(raw.starts_with("to_op_"));
        assert_eq!(raw.len(), "to_op_".len() + KEY_BODY_LEN);
        let (last4, hash) = prefix().parse_operator(raw).unwrap();
        assert_eq!(last4, token.last4());
        assert_eq!(hash, KeyHash::of(raw));
        assert_eq!(prefix().parse(raw), Err(KeyFormatError::UnknownEnvironment));
        let key = key_from_seed(3, Environment::Live);
        assert!(matches!(
            prefix().parse_operator(key.expose()),
            Err(KeyFormatError::WrongPrefix { .. })
        ));
        let mut typo = raw.to_string();
        typo.replace_range(10..11, if &raw[10..11] == "a" { "b" } else { "a" });
        assert_eq!(
            prefix().parse_operator(&typo),
            Err(KeyFormatError::ChecksumMismatch)
        );
        assert!(find_key_in_text(&format!("/x?t={raw}"), &prefix()));
    }

    #[test]
    fn generated_key_has_documented_shape() {
        let key = key_from_seed(1, Environment::Live);
        let raw = key.expose();
        assert!(raw.starts_with("to_live_"));
        assert_eq!(raw.len(), "to_live_".len() + 64);
        let crc = crc32fast::hash(&raw.as_bytes()[..raw.len() - 8]);
        assert_eq!(&raw[raw.len() - 8..], format!("{crc:08x}"));
    }

    #[test]
    fn parse_round_trip_reports_env_last4_hash() {
        for env in Environment::ALL {
            let key = key_from_seed(7, env);
            let parsed = prefix().parse(key.expose()).unwrap();
            assert_eq!(parsed.environment, env);
            assert_eq!(parsed.last4, key.last4());
            assert_eq!(parsed.hash, KeyHash::of(key.expose()));
        }
    }

    #[test]
    fn precise_errors() {
        let key = key_from_seed(3, Environment::Test);
        let raw = key.expose();
        let p = prefix();
        assert_eq!(p.parse(""), Err(KeyFormatError::Empty));
        assert!(matches!(
            p.parse(&raw.replacen("to_", "xx_", 1)),
            Err(KeyFormatError::WrongPrefix { .. })
        ));
        assert_eq!(
            p.parse(&raw.replacen("_test_", "_prod_", 1)),
            Err(KeyFormatError::UnknownEnvironment)
        );
        assert_eq!(
            p.parse(&raw[..raw.len() - 1]),
            Err(KeyFormatError::WrongLength {
                expected: 64,
                found: 63
            })
        );
        let upper = format!("to_test_{}", raw["to_test_".len()..].to_ascii_uppercase());
        assert!(matches!(
            p.parse(&upper),
            Err(KeyFormatError::NotHex { .. })
        ));
        assert_eq!(p.parse(&"x".repeat(500)), Err(KeyFormatError::TooLong));
        assert!(p
            .parse("to_live_ééééééééééééééééééééééééééééééééééééééééééééééééééééééééé")
            .is_err());
    }

    #[test]
    fn mask_shows_prefix_and_last4() {
        assert_eq!(prefix().mask(Environment::Live, "a1b2"), "to_live_…a1b2");
    }

    #[test]
    fn custom_prefix() {
        let p: KeyPrefix = "acme".parse().unwrap();
        let key = p.generate(Environment::Staging, &mut StdRng::seed_from_u64(9));
        assert!(key.expose().starts_with("acme_staging_"));
        assert!(p.parse(key.expose()).is_ok());
        assert!(prefix().parse(key.expose()).is_err());
        assert!("A".parse::<KeyPrefix>().is_err());
        assert!("9abc".parse::<KeyPrefix>().is_err());
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = KeyHash::of("anything");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(KeyHash::from_hex("zz"), None);
        assert_eq!(KeyHash::from_hex(&h.to_hex().to_uppercase()), None);
    }

    #[test]
    fn key_shapes_in_text() {
        let key = key_from_seed(5, Environment::Live);
        let p = prefix();
        assert!(find_key_in_text(
            &format!("/x?api_key={}", key.expose()),
            &p
        ));
        assert!(find_key_in_text("/to_live_0123456789abcdef0123", &p));
        assert!(find_key_in_text("/TO_TEST_0123456789ABCDEF0123", &p));
        assert!(!find_key_in_text("/projects/to_live_docs", &p));
        assert!(!find_key_in_text("/v1/keys/key_0123456789abcdef", &p));
    }

    proptest! {
        #[test]
        fn round_trip(seed in any::<u64>(), env in prop::sample::select(Environment::ALL.to_vec())) {
            let key = key_from_seed(seed, env);
            let parsed = prefix().parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.environment, env);
        }

        #[test]
        fn every_single_character_corruption_is_rejected(
            seed in any::<u64>(),
            pos in 0usize..72,
            replacement in prop::char::range('\u{20}', '\u{7e}'),
        ) {
            let key = key_from_seed(seed, Environment::Live);
            let raw = key.expose();
            let mut chars: Vec<char> = raw.chars().collect();
            prop_assume!(chars[pos] != replacement);
            chars[pos] = replacement;
            let corrupted: String = chars.into_iter().collect();
            prop_assert!(prefix().parse(&corrupted).is_err());
        }

        #[test]
        fn distinct_keys(a in any::<u64>(), b in any::<u64>()) {
            prop_assume!(a != b);
            let (ka, kb) = (key_from_seed(a, Environment::Live), key_from_seed(b, Environment::Live));
            prop_assert_ne!(ka.expose(), kb.expose());
        }

        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = prefix().parse(&s);
            let _ = find_key_in_text(&s, &prefix());
        }
    }

    #[test]
    fn os_rng_keys_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let k = prefix().generate(Environment::Live, &mut rand::rngs::OsRng);
            assert!(seen.insert(KeyHash::of(k.expose())));
        }
    }

    /// Exhaustive for one key: every position, every printable replacement.
    #[test]
    fn exhaustive_single_substitution() {
        let key = key_from_seed(42, Environment::Live);
        let raw = key.expose().as_bytes().to_vec();
        for pos in 0..raw.len() {
            for c in 0x20u8..0x7f {
                if c == raw[pos] {
                    continue;
                }
                let mut k = raw.clone();
                k[pos] = c;
                let s = String::from_utf8(k).unwrap();
                assert!(prefix().parse(&s).is_err(), "accepted corruption at {pos}");
            }
        }
    }
}
