//! The desktop portal's logic, without Tauri: the key service client, the OS
//! keychain, the embedded service with its sample API, and the [`Portal`]
//! state the app's commands call. Testable without a window.

pub mod client;
pub mod clipboard;
pub mod embedded;
pub mod enroll;
pub mod error;
mod fsutil;
pub mod keychain;
pub mod notify;
pub mod portal;
pub mod quarantine;
pub mod render;
pub mod restrict;
pub mod rotation;
pub mod sample_api;
pub mod scan;
pub mod settings;
pub mod startup;
pub mod usage;
pub mod webhooks;

pub use client::ServiceClient;
pub use enroll::{EnrollLink, EnrollOffer};
pub use error::{PortalError, PortalErrorBody, PortalErrorCode, Result};
pub use keychain::{CredentialStore, KeychainStatus, MemoryKeychain, SystemKeychain};
pub use portal::{
    plan_table, Mode, NewKeyInput, OnceSecret, PlanRow, Portal, PortalConfig, PortalStatus, TryIt,
};
pub use settings::SavedService;
pub use usage::UsageRange;
