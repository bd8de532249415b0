//! The raw key, held so it cannot leak by accident.

use std::fmt;
use zeroize::Zeroizing;

/// A raw API key. It has no `Display`, no `Serialize`, and its `Debug` prints
/// `<redacted>`; the bytes are zeroed on drop. The one way to read it is
/// [`SecretKey::expose`], which makes every use of the raw text greppable.
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    pub fn new(raw: String) -> Self {
        Self(Zeroizing::new(raw))
    }

    /// The raw key text. Call only to show it once, to hash it, or to send it
    /// as a credential.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, safe to display.
    pub fn last4(&self) -> String {
        last4(&self.0)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

pub(crate) fn last4(s: &str) -> String {
    let start = s.char_indices().rev().nth(3).map(|(i, _)| i).unwrap_or(0);
    s[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_leak() {
        let s = SecretKey::new("to_live_supersecret".into());
        assert_eq!(format!("{s:?}"), "SecretKey(<redacted>)");
        assert_eq!(s.last4(), "cret");
    }

    #[test]
    fn last4_of_short_text() {
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4(""), "");
    }
}
