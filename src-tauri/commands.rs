//! IPC commands exposed to the portal UI.

use serde::Serialize;

/// What the placeholder UI shows about the running app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppInfo {
    pub name: String,
    pub version: String,
    /// How a live key starts with the default product prefix, e.g. `to_live_`.
    pub key_prefix_example: String,
}

impl AppInfo {
    pub fn current() -> Self {
        Self {
            name: "Keyport".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key_prefix_example: keyport_core::KeyPrefix::default()
                .display_prefix(keyport_core::Environment::Live),
        }
    }
}

#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo::current()
}
