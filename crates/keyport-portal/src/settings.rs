//! `settings.json` in the app config folder: the saved remote services (URL
//! and account name) and which one is in use. No keys: those live in the
//! keychain, one entry per URL.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fsutil;

pub const SETTINGS_FILE: &str = "settings.json";

/// A remote service with an admin key in the keychain.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedService {
    pub url: String,
    pub account_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub version: u32,
    /// The remote service in use; `None` is the embedded one.
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub services: Vec<SavedService>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: 1,
            active: None,
            services: Vec::new(),
        }
    }
}

impl Settings {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join(SETTINGS_FILE)
    }

    pub fn load(config_dir: &Path) -> Self {
        fsutil::read_json(&Self::path(config_dir)).unwrap_or_default()
    }

    pub fn save(&self, config_dir: &Path) -> Result<()> {
        fsutil::write_json(&Self::path(config_dir), self)
    }

    pub fn find(&self, url: &str) -> Option<&SavedService> {
        self.services.iter().find(|s| s.url == url)
    }

    /// Adds the service or updates its account name, keeping the order.
    pub fn upsert(&mut self, service: SavedService) {
        match self.services.iter_mut().find(|s| s.url == service.url) {
            Some(s) => *s = service,
            None => self.services.push(service),
        }
    }

    /// Forgets the service; if it was in use, the embedded one is next.
    pub fn remove(&mut self, url: &str) {
        self.services.retain(|s| s.url != url);
        if self.active.as_deref() == Some(url) {
            self.active = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_or_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let mut s = Settings::default();
        s.upsert(SavedService {
            url: "https://a.example".into(),
            account_name: None,
        });
        s.upsert(SavedService {
            url: "https://a.example".into(),
            account_name: Some("Acme".into()),
        });
        s.active = Some("https://a.example".into());
        s.save(dir.path()).unwrap();
        let loaded = Settings::load(dir.path());
        assert_eq!(loaded, s);
        assert_eq!(loaded.services.len(), 1);

        let mut loaded = loaded;
        loaded.remove("https://a.example");
        assert_eq!(loaded.active, None);
        assert!(loaded.services.is_empty());

        std::fs::write(Settings::path(dir.path()), b"{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
    }
}
