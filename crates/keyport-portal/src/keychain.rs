//! Where the portal keeps admin keys: the OS keychain (Secret Service on
//! Linux), one entry per service under the service name
//! [`SERVICE_NAME`]. There is no plaintext fallback: without a usable keychain
//! the portal says what is wrong and how to fix it.
//!
//! [`CredentialStore`] is the seam: the product uses [`SystemKeychain`];
//! logic tests use [`MemoryKeychain`].

use keyport_core::SecretKey;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

use crate::error::{PortalError, Result};

/// The keychain "service" of every entry the portal writes.
pub const SERVICE_NAME: &str = "dev.keyport.portal";

/// What the UI shows about the keychain; `problem` and `fix` are set when
/// it is not available.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeychainStatus {
    pub available: bool,
    pub backend: String,
    pub problem: Option<String>,
    pub fix: Option<String>,
}

impl KeychainStatus {
    pub fn ok(backend: impl Into<String>) -> Self {
        Self {
            available: true,
            backend: backend.into(),
            problem: None,
            fix: None,
        }
    }

    /// The error a command gives while the keychain is unavailable.
    pub fn error(&self) -> Option<PortalError> {
        (!self.available).then(|| PortalError::KeychainUnavailable {
            problem: self.problem.clone().unwrap_or_default(),
            fix: self.fix.clone().unwrap_or_default(),
        })
    }
}

/// A store of admin keys by "user" (a service URL, or `embedded:…`).
/// Calls block (D-Bus round trips): call them off the async executor.
pub trait CredentialStore: Send + Sync + 'static {
    /// The key stored for `user`, or `None` when there is no entry.
    fn get(&self, user: &str) -> Result<Option<SecretKey>>;
    fn set(&self, user: &str, secret: &SecretKey) -> Result<()>;
    /// Deletes the entry; a missing entry is not an error.
    fn delete(&self, user: &str) -> Result<()>;
    /// Whether the store works right now, checked with a real write, read
    /// and delete of a throwaway entry.
    fn probe(&self) -> KeychainStatus;
    /// What can be said without calling the store: unavailable when it cannot
    /// work at all (e.g. no backend built in), else available, to be
    /// confirmed by the first real call.
    fn assumed(&self) -> KeychainStatus;
}

// ---- the OS keychain ----

/// The OS keychain through the `keyring` crate.
pub struct SystemKeychain {
    service: String,
    /// libdbus-based Secret Service calls are not safe to overlap.
    lock: Mutex<()>,
}

impl SystemKeychain {
    /// The portal's own entries ([`SERVICE_NAME`]).
    pub fn portal() -> Self {
        Self::with_service(SERVICE_NAME)
    }

    /// Entries under another service name (tests use a unique one).
    pub fn with_service(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            lock: Mutex::new(()),
        }
    }

    fn entry(&self, user: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, user).map_err(keyring_error)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CredentialStore for SystemKeychain {
    fn get(&self, user: &str) -> Result<Option<SecretKey>> {
        let _g = self.guard();
        match self.entry(user)?.get_password() {
            Ok(s) => Ok(Some(SecretKey::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn set(&self, user: &str, secret: &SecretKey) -> Result<()> {
        let _g = self.guard();
        self.entry(user)?
            .set_password(secret.expose())
            .map_err(keyring_error)
    }

    fn delete(&self, user: &str) -> Result<()> {
        let _g = self.guard();
        match self.entry(user)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn assumed(&self) -> KeychainStatus {
        if has_real_backend() {
            KeychainStatus::ok(BACKEND)
        } else {
            unavailable(
                "This build of Keyport has no keychain backend for this system.".into(),
                "Build Keyport with the keychain feature of your platform.",
            )
        }
    }

    fn probe(&self) -> KeychainStatus {
        let assumed = self.assumed();
        if !assumed.available {
            return assumed;
        }
        let user = format!("probe-{}", std::process::id());
        let token = SecretKey::new(format!("probe-{}", rand::random::<u64>()));
        let round_trip = self.set(&user, &token).and_then(|()| {
            let read = self.get(&user);
            let _ = self.delete(&user);
            match read? {
                Some(s) if s.expose() == token.expose() => Ok(()),
                _ => Err(PortalError::KeychainUnavailable {
                    problem: "The system keychain did not keep a test entry.".into(),
                    fix: KEYCHAIN_FIX.into(),
                }),
            }
        });
        match round_trip {
            Ok(()) => assumed,
            Err(PortalError::KeychainUnavailable { problem, fix }) => KeychainStatus {
                available: false,
                backend: BACKEND.into(),
                problem: Some(problem),
                fix: Some(fix),
            },
            Err(other) => unavailable(other.to_string(), KEYCHAIN_FIX),
        }
    }
}

/// keyring 3 silently falls back to a mock store when built without a
/// platform feature; that must never pass for a keychain.
fn has_real_backend() -> bool {
    use keyring::credential::CredentialPersistence;
    !matches!(
        keyring::default::default_credential_builder().persistence(),
        CredentialPersistence::EntryOnly | CredentialPersistence::ProcessOnly
    )
}

#[cfg(target_os = "macos")]
const BACKEND: &str = "macOS Keychain";
#[cfg(target_os = "windows")]
const BACKEND: &str = "Windows Credential Manager";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const BACKEND: &str = "Secret Service";

#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const NO_KEYCHAIN: &str =
    "No keychain is available: Keyport keeps admin keys only in the system keychain \
     (the Secret Service over D-Bus), and none could be reached.";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const KEYCHAIN_FIX: &str = "Install and unlock a Secret Service provider: GNOME Keyring \
     (sudo apt install gnome-keyring, then log in to a desktop session) or KeePassXC with \
     Secret Service integration enabled. Then retry. Keyport never falls back to storing keys in a file.";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const LOCKED: &str = "The system keychain is locked or has no default keyring, so Keyport cannot store its admin key.";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const UNLOCK_FIX: &str =
    "Unlock your login keyring (GNOME: Passwords and Keys; KeePassXC: unlock the \
     database that provides Secret Service), or create a default keyring, then retry.";

#[cfg(any(target_os = "macos", target_os = "windows"))]
const NO_KEYCHAIN: &str = "The system keychain could not be used.";
#[cfg(any(target_os = "macos", target_os = "windows"))]
const KEYCHAIN_FIX: &str =
    "Make sure you are logged in to a desktop session and your keychain is unlocked, then retry.";
#[cfg(any(target_os = "macos", target_os = "windows"))]
const LOCKED: &str = "The system keychain is locked.";
#[cfg(any(target_os = "macos", target_os = "windows"))]
const UNLOCK_FIX: &str = KEYCHAIN_FIX;

fn unavailable(problem: String, fix: &str) -> KeychainStatus {
    KeychainStatus {
        available: false,
        backend: BACKEND.into(),
        problem: Some(problem),
        fix: Some(fix.into()),
    }
}

/// keyring errors carry platform detail (D-Bus messages), never the secret.
fn keyring_error(e: keyring::Error) -> PortalError {
    let detail = |d: &dyn std::fmt::Display| {
        let d = d.to_string();
        let d: String = d.chars().take(200).collect();
        format!("(Detail: {d}.)")
    };
    match e {
        keyring::Error::PlatformFailure(inner) => PortalError::KeychainUnavailable {
            problem: format!("{NO_KEYCHAIN} {}", detail(&inner)),
            fix: KEYCHAIN_FIX.into(),
        },
        keyring::Error::NoStorageAccess(inner) => PortalError::KeychainUnavailable {
            problem: format!("{LOCKED} {}", detail(&inner)),
            fix: UNLOCK_FIX.into(),
        },
        keyring::Error::Ambiguous(_) => PortalError::Internal(format!(
            "The keychain holds more than one \"{SERVICE_NAME}\" entry for this service. \
             Remove the duplicates in your keychain app, then sign in again."
        )),
        keyring::Error::BadEncoding(_) => PortalError::Internal(format!(
            "A \"{SERVICE_NAME}\" keychain entry is not text. Remove it in your keychain app, then sign in again."
        )),
        other => PortalError::Internal(format!("The keychain refused the entry: {other}.")),
    }
}

// ---- in memory, for tests ----

/// A process-local store for logic tests. Not for the product: nothing in
/// it survives the process.
#[derive(Default)]
pub struct MemoryKeychain {
    entries: Mutex<HashMap<String, Zeroizing<String>>>,
    broken: Mutex<Option<KeychainStatus>>,
}

impl MemoryKeychain {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that behaves like a system without a keychain.
    pub fn unavailable() -> Self {
        let k = Self::default();
        k.set_available(false);
        k
    }

    /// Turns the simulated keychain off or (back) on; entries are kept.
    pub fn set_available(&self, available: bool) {
        *self.broken.lock().unwrap_or_else(|p| p.into_inner()) = (!available).then(|| {
            unavailable(
                format!("{NO_KEYCHAIN} (Detail: test store without a keychain.)"),
                KEYCHAIN_FIX,
            )
        });
    }

    fn broken(&self) -> Option<KeychainStatus> {
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The users that have an entry, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut u: Vec<String> = self.map().keys().cloned().collect();
        u.sort();
        u
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Zeroizing<String>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<()> {
        match self.broken().as_ref().and_then(KeychainStatus::error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl CredentialStore for MemoryKeychain {
    fn get(&self, user: &str) -> Result<Option<SecretKey>> {
        self.check()?;
        Ok(self
            .map()
            .get(user)
            .map(|s| SecretKey::new(s.as_str().to_string())))
    }

    fn set(&self, user: &str, secret: &SecretKey) -> Result<()> {
        self.check()?;
        self.map().insert(
            user.to_string(),
            Zeroizing::new(secret.expose().to_string()),
        );
        Ok(())
    }

    fn delete(&self, user: &str) -> Result<()> {
        self.check()?;
        self.map().remove(user);
        Ok(())
    }

    fn probe(&self) -> KeychainStatus {
        self.broken()
            .unwrap_or_else(|| KeychainStatus::ok("in-memory (tests)"))
    }

    fn assumed(&self) -> KeychainStatus {
        self.probe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        let m = MemoryKeychain::new();
        assert!(m.probe().available);
        assert!(m.get("u").unwrap().is_none());
        m.set("u", &SecretKey::new("s".into())).unwrap();
        assert_eq!(m.get("u").unwrap().unwrap().expose(), "s");
        m.delete("u").unwrap();
        m.delete("u").unwrap();
        assert!(m.get("u").unwrap().is_none());
    }

    #[test]
    fn unavailable_store_says_why_and_how_to_fix() {
        let m = MemoryKeychain::unavailable();
        let st = m.probe();
        assert!(!st.available);
        assert!(st.problem.unwrap().contains("No keychain"));
        assert!(st.fix.unwrap().contains("gnome-keyring"));
        let e = m.get("u").unwrap_err();
        assert_eq!(e.code(), crate::PortalErrorCode::KeychainUnavailable);
    }

    #[test]
    fn this_build_has_a_real_keychain_backend() {
        assert!(
            has_real_backend(),
            "keyring was built without a platform store"
        );
    }
}
