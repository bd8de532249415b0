//! Enrollment codes: how a vendor lets a customer in without sending a
//! secret. The code is short-lived and single-use, and it cannot call the
//! API: it only lets the customer's portal register an admin key it
//! generated itself (its SHA-256 and last four). Only the code's SHA-256
//! is stored.
//!
//! Shape: 20 characters of Crockford base32 (100 random bits) in groups of
//! five, `7K3QM-X9D2A-...`. Read leniently: case, spaces and dashes do not
//! matter, and O/I/L read as 0/1/1, so a code read out over the phone works.
//!
//! The link a vendor puts in a welcome email:
//! `keyport://enroll?service=<service URL>&code=<code>`.

use rand::{CryptoRng, RngCore};

use crate::key::KeyHash;
use crate::secret::SecretKey;

/// Characters of a code, without dashes.
pub const CODE_LEN: usize = 20;
const GROUP: usize = 5;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The scheme and host of an enrollment link.
pub const LINK_START: &str = "keyport://enroll";

/// A new code from the given CSPRNG, dashed in groups of five.
pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> SecretKey {
    let mut text = String::with_capacity(CODE_LEN + CODE_LEN / GROUP);
    for i in 0..CODE_LEN {
        if i > 0 && i % GROUP == 0 {
            text.push('-');
        }
        // The low 5 bits of a uniform u32 are uniform over the 32 letters.
        let b = (rng.next_u32() & 31) as usize;
        text.push(ALPHABET[b] as char);
    }
    SecretKey::new(text)
}

/// The canonical form of something a person typed or pasted as a code
/// (upper case, no separators, O/I/L as 0/1/1), or `None` when it cannot
/// be a code.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_LEN);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() >= CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// What is stored and looked up: the SHA-256 of the canonical form.
pub fn hash(input: &str) -> Option<KeyHash> {
    normalize(input).map(|c| KeyHash::of(&c))
}

/// `keyport://enroll?service=…&code=…`, both values percent-encoded.
pub fn link(service_url: &str, code: &str) -> String {
    format!(
        "{LINK_START}?service={}&code={}",
        percent_encode(service_url),
        percent_encode(code)
    )
}

/// A link's service URL and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub service_url: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("an enrollment link starts with {LINK_START}?")]
    NotEnrollLink,
    #[error("the enrollment link has no {0}")]
    Missing(&'static str),
    #[error("the enrollment link is not valid percent-encoded text")]
    BadEncoding,
    #[error("the enrollment link's code is not an enrollment code")]
    BadCode,
}

/// Reads a `keyport://enroll?…` link (as the OS hands it over: maybe with
/// a trailing slash after `enroll`, parameters in any order).
pub fn parse_link(text: &str) -> Result<Link, LinkError> {
    let text = text.trim();
    let rest = text
        .get(..LINK_START.len())
        .filter(|s| s.eq_ignore_ascii_case(LINK_START))
        .map(|_| &text[LINK_START.len()..])
        .ok_or(LinkError::NotEnrollLink)?;
    let query = rest
        .trim_start_matches('/')
        .strip_prefix('?')
        .ok_or(LinkError::Missing("service or code"))?;
    let (mut service, mut code) = (None, None);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).ok_or(LinkError::BadEncoding)?;
        match name {
            "service" => service = Some(value),
            "code" => code = Some(value),
            _ => {}
        }
    }
    let service_url = service
        .filter(|s| !s.trim().is_empty())
        .ok_or(LinkError::Missing("service"))?;
    let code = code
        .filter(|c| !c.trim().is_empty())
        .ok_or(LinkError::Missing("code"))?;
    if normalize(&code).is_none() {
        return Err(LinkError::BadCode);
    }
    Ok(Link { service_url, code })
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn codes_are_grouped_and_read_leniently() {
        let code = generate(&mut StdRng::seed_from_u64(1));
        let raw = code.expose();
        assert_eq!(raw.len(), CODE_LEN + 3);
        assert_eq!(raw.matches('-').count(), 3);
        let canon = normalize(raw).unwrap();
        assert_eq!(canon.len(), CODE_LEN);
        assert_eq!(normalize(&raw.to_lowercase()), Some(canon.clone()));
        assert_eq!(normalize(&raw.replace('-', " ")), Some(canon.clone()));
        assert_eq!(hash(raw), Some(KeyHash::of(&canon)));
        assert_eq!(
            normalize("OIL00-11111-22222-33333"),
            normalize("01100-11111-22222-33333")
        );
        assert_eq!(normalize("ABCDE"), None, "too short");
        assert_eq!(normalize(&format!("{raw}A")), None, "too long");
        assert_eq!(
            normalize("UUUUU-11111-22222-33333"),
            None,
            "U is not in the alphabet"
        );
        assert_eq!(normalize("ÄBCDE-11111-22222-33333"), None);
    }

    #[test]
    fn two_codes_differ() {
        let mut rng = StdRng::seed_from_u64(2);
        assert_ne!(generate(&mut rng).expose(), generate(&mut rng).expose());
    }

    #[test]
    fn links_round_trip() {
        let code = "7K3QM-X9D2A-BC4EF-GH5JK";
        let url = "https://keys.example.com:8443/base?x=1&y=2";
        let l = link(url, code);
        assert!(l.starts_with("keyport://enroll?service=https%3A%2F%2Fkeys.example.com"));
        assert_eq!(
            parse_link(&l).unwrap(),
            Link {
                service_url: url.into(),
                code: code.into()
            }
        );
        // As some desktops hand it over: trailing slash, other order.
        let other = format!("KEYPORT://enroll/?code={code}&service=http%3A%2F%2F127.0.0.1%3A8080");
        assert_eq!(
            parse_link(&other).unwrap().service_url,
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        assert_eq!(parse_link("https://x"), Err(LinkError::NotEnrollLink));
        assert_eq!(
            parse_link("keyport://enroll"),
            Err(LinkError::Missing("service or code"))
        );
        assert_eq!(
            parse_link("keyport://enroll?code=7K3QM-X9D2A-BC4EF-GH5JK"),
            Err(LinkError::Missing("service"))
        );
        assert_eq!(
            parse_link("keyport://enroll?service=http%3A%2F%2Fx"),
            Err(LinkError::Missing("code"))
        );
        assert_eq!(
            parse_link("keyport://enroll?service=%ZZ&code=1"),
            Err(LinkError::BadEncoding)
        );
        assert_eq!(
            parse_link("keyport://enroll?service=http%3A%2F%2Fx&code=hello"),
            Err(LinkError::BadCode)
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panicking(s in "\\PC{0,200}") {
            let _ = parse_link(&s);
            let _ = parse_link(&format!("keyport://enroll?{s}"));
            let _ = normalize(&s);
        }

        #[test]
        fn any_service_url_round_trips(url in "\\PC{1,100}") {
            prop_assume!(!url.trim().is_empty());
            let l = link(&url, "7K3QM-X9D2A-BC4EF-GH5JK");
            prop_assert_eq!(parse_link(&l).unwrap().service_url, url);
        }
    }
}
