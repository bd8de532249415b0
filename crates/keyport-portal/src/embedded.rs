//! The embedded key service: `keyport_server` in this process on
//! `127.0.0.1:0`, its SQLite file in the app data folder, and the sample API
//! as its gateway upstream. On first launch it creates the local account
//! (Professional plan) and keeps that account's admin key in the keychain.
//!
//! Nothing secret is written to a file: `embedded.json` next to the database
//! holds only the local account's id and its admin key's id, so that a lost
//! keychain entry can be replaced and the old admin key revoked.

use keyport_api::AccountView;
use keyport_core::{Environment, KeyHash, Plan, SecretKey};
use keyport_server::clock::SystemClock;
use keyport_server::model::Account;
use keyport_server::service::{KeyService, ServiceOptions};
use keyport_server::store::Store;
use keyport_server::{Server, ServerConfig};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{PortalError, Result};
use crate::fsutil;
use crate::keychain::CredentialStore;
use crate::sample_api::SampleApi;
use crate::sample_api::TryIt;

pub const DATABASE_FILE: &str = "keyport.db";
pub const STATE_FILE: &str = "embedded.json";
pub const LOCAL_ACCOUNT_NAME: &str = "Local account";
pub const LOCAL_PLAN: Plan = Plan::Professional;
/// Actor and source of the portal's own changes in the audit log.
const PORTAL_ACTOR: &str = "portal";

/// Ids only: which account is the local one and which admin key the keychain
/// holds for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedState {
    pub account_id: String,
    pub admin_key_id: String,
}

/// The keychain entry ("user") of the local account's admin key.
pub fn keychain_user(account_id: &str) -> String {
    format!("embedded:{account_id}")
}

pub struct Embedded {
    data_dir: PathBuf,
    server: Server,
    store: Arc<dyn Store>,
    sample: SampleApi,
}

impl Embedded {
    /// Opens (or creates) the database in `data_dir` and starts the service
    /// and the sample API.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            PortalError::Internal(format!(
                "Cannot create the data folder {}: {e}",
                data_dir.display()
            ))
        })?;
        let sample = SampleApi::start()
            .await
            .map_err(|e| PortalError::Internal(format!("Cannot start the sample API: {e}")))?;
        let url = format!("sqlite://{}", data_dir.join(DATABASE_FILE).display());
        let opened = async {
            let store = keyport_server::store::open(&url)
                .await
                .map_err(start_error)?;
            let service = KeyService::open(
                store.clone(),
                Arc::new(SystemClock),
                ServiceOptions {
                    // The embedded service runs on the customer's own
                    // machine: their webhook receivers are there too.
                    webhook_destinations: keyport_server::webhooks::Destinations {
                        allow_private: true,
                    },
                    ..ServiceOptions::default()
                },
            )
            .await
            .map_err(start_error)?;
            let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), url.clone());
            config.upstream = Some(sample.url());
            tune(&mut config, |name| std::env::var(name).ok());
            let server = keyport_server::start_with_service(config, Arc::new(service))
                .await
                .map_err(start_error)?;
            Ok::<_, PortalError>((store, server))
        }
        .await;
        match opened {
            Ok((store, server)) => Ok(Self {
                data_dir: data_dir.to_path_buf(),
                server,
                store,
                sample,
            }),
            Err(e) => {
                sample.shutdown().await;
                Err(e)
            }
        }
    }

    /// `http://127.0.0.1:<port>`: the API and the gateway.
    pub fn service_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn try_it(&self) -> TryIt {
        TryIt::for_gateway(&self.service_url())
    }

    fn service(&self) -> &Arc<KeyService> {
        self.server.service()
    }

    fn state_path(&self) -> PathBuf {
        self.data_dir.join(STATE_FILE)
    }

    pub fn state(&self) -> Option<EmbeddedState> {
        fsutil::read_json(&self.state_path())
    }

    /// The local account's admin key, from the keychain. First launch creates
    /// the account; a missing or dead keychain entry is replaced by a new
    /// admin key (and the old one revoked). Blocking keychain calls run on
    /// the blocking pool.
    pub async fn sign_in(
        &self,
        keychain: &Arc<dyn CredentialStore>,
    ) -> Result<(SecretKey, AccountView)> {
        let Some(account) = self.local_account().await? else {
            return self.first_launch(keychain).await;
        };
        let user = keychain_user(&account.id);
        let stored = blocking({
            let k = keychain.clone();
            let user = user.clone();
            move || k.get(&user)
        })
        .await?;
        if let Some(secret) = stored {
            match self
                .service()
                .authenticate_admin(Some(&secret), Some(PORTAL_ACTOR))
                .await
            {
                Ok(admin) if admin.account.id == account.id => {
                    let view = self
                        .service()
                        .account_view(&admin)
                        .await
                        .map_err(service_error)?;
                    return Ok((secret, view));
                }
                Ok(_) | Err(keyport_server::error::ServiceError::Unauthorized(_)) => {}
                Err(e) => return Err(service_error(e)),
            }
        }
        self.replace_admin_key(keychain, account).await
    }

    /// The account this portal created: the one named in `embedded.json`,
    /// else the oldest in the database.
    async fn local_account(&self) -> Result<Option<Account>> {
        if let Some(st) = self.state() {
            if let Some(a) = self
                .store
                .account(&st.account_id)
                .await
                .map_err(service_error)?
            {
                return Ok(Some(a));
            }
        }
        let mut all = self.store.accounts().await.map_err(service_error)?;
        all.sort_by_key(|a| a.created_at);
        Ok(all.into_iter().next())
    }

    async fn first_launch(
        &self,
        keychain: &Arc<dyn CredentialStore>,
    ) -> Result<(SecretKey, AccountView)> {
        // Nothing is stored yet that a read could confirm, so the full check
        // (write, read back, delete) runs before the account is created.
        let k = keychain.clone();
        if let Some(e) = blocking(move || Ok(k.probe())).await?.error() {
            return Err(e);
        }
        let (account, admin_key, secret) = self
            .service()
            .create_account(LOCAL_ACCOUNT_NAME, LOCAL_PLAN, PORTAL_ACTOR)
            .await
            .map_err(service_error)?;
        // Ids first: if the keychain write fails, the next launch finds the
        // account, issues a new admin key and revokes this one.
        self.save_state(&EmbeddedState {
            account_id: account.id.clone(),
            admin_key_id: admin_key.id,
        })?;
        let secret = store_secret(keychain, keychain_user(&account.id), secret).await?;
        tracing::info!(account = %account.id, "created the local account");
        Ok((secret, account))
    }

    /// The keychain lost the admin key (or holds a dead one): issue a new
    /// admin key for the local account, store it, then revoke the old one
    /// so a key nobody holds any more cannot be used.
    async fn replace_admin_key(
        &self,
        keychain: &Arc<dyn CredentialStore>,
        account: Account,
    ) -> Result<(SecretKey, AccountView)> {
        let secret = self
            .service()
            .prefix()
            .generate(Environment::Live, &mut OsRng);
        // Recorded under the new key's own id: the portal owns this account.
        let (admin, created) = self
            .service()
            .issue_local_admin_key(
                &account.id,
                KeyHash::of(secret.expose()),
                &secret.last4(),
                "Admin key (portal, replaced)",
                PORTAL_ACTOR,
            )
            .await
            .map_err(service_error)?;
        let secret = match store_secret(keychain, keychain_user(&admin.account.id), secret).await {
            Ok(s) => s,
            Err(e) => {
                // Nobody holds the new key: revoke it at once.
                let _ = self.service().revoke_key(&admin, &created.id).await;
                return Err(e);
            }
        };
        let old = self.state().filter(|s| s.account_id == admin.account.id);
        self.save_state(&EmbeddedState {
            account_id: admin.account.id.clone(),
            admin_key_id: created.id.clone(),
        })?;
        if let Some(old) = old.filter(|o| o.admin_key_id != created.id) {
            match self.service().revoke_key(&admin, &old.admin_key_id).await {
                Ok(_) | Err(keyport_server::error::ServiceError::NotFound(_)) => {}
                Err(e) => tracing::warn!(error = %e, "could not revoke the lost admin key"),
            }
        }
        tracing::warn!(
            account = %admin.account.id,
            "the local admin key was missing from the keychain; issued a new one"
        );
        let view = self
            .service()
            .account_view(&admin)
            .await
            .map_err(service_error)?;
        Ok((secret, view))
    }

    /// Records that `key_id` is now the local account's admin key.
    pub(crate) fn note_admin_key(&self, account_id: &str, key_id: &str) -> Result<()> {
        self.save_state(&EmbeddedState {
            account_id: account_id.to_string(),
            admin_key_id: key_id.to_string(),
        })
    }

    fn save_state(&self, st: &EmbeddedState) -> Result<()> {
        fsutil::write_json(&self.state_path(), st)
    }

    /// Stops the service (writing the last usage batch) and the sample API.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.sample.shutdown().await;
    }
}

async fn store_secret(
    keychain: &Arc<dyn CredentialStore>,
    user: String,
    secret: SecretKey,
) -> Result<SecretKey> {
    let k = keychain.clone();
    blocking(move || k.set(&user, &secret).map(|()| secret)).await
}

/// Runs a blocking keychain call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| PortalError::Internal("A keychain call failed unexpectedly.".into()))?
}

/// Settings of the embedded service from the environment, for demos and the
/// real-window tests: a header with the caller's country, trusted from this
/// machine only (the embedded service listens on loopback), and how often
/// the anomaly detector runs.
fn tune(config: &mut ServerConfig, var: impl Fn(&str) -> Option<String>) {
    if let Some(h) = var("KEYPORT_EMBEDDED_COUNTRY_HEADER").filter(|h| !h.trim().is_empty()) {
        config.country_header = Some(h.trim().to_string());
        config.trusted_proxies = ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
    }
    if let Some(secs) = var("KEYPORT_EMBEDDED_DETECTOR_SECS")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
    {
        config.detector_interval = std::time::Duration::from_secs(secs);
    }
    // Leak reports to the embedded service (a secret scanner the user runs,
    // or the E2E test): the key list file, as for keyport-server.
    if let Some(path) = var("KEYPORT_EMBEDDED_LEAK_REPORT_KEYS").filter(|p| !p.trim().is_empty()) {
        match std::fs::read_to_string(path.trim())
            .map_err(|e| e.to_string())
            .and_then(|t| keyport_server::leaks::LeakKeys::from_json(&t))
        {
            Ok(keys) => config.leak_report_keys = Some(std::sync::Arc::new(keys)),
            Err(e) => tracing::warn!(error = %e, "KEYPORT_EMBEDDED_LEAK_REPORT_KEYS not used"),
        }
    }
}

fn start_error(e: impl std::fmt::Display) -> PortalError {
    PortalError::Internal(format!("The embedded key service could not start: {e}"))
}

fn service_error(e: impl std::fmt::Display) -> PortalError {
    PortalError::Internal(format!("The embedded key service failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServerConfig {
        ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "sqlite::memory:")
    }

    #[test]
    fn the_environment_can_trust_a_country_header_from_loopback_and_speed_up_the_detector() {
        let mut c = config();
        tune(&mut c, |name| match name {
            "KEYPORT_EMBEDDED_COUNTRY_HEADER" => Some("X-Country".into()),
            "KEYPORT_EMBEDDED_DETECTOR_SECS" => Some("2".into()),
            _ => None,
        });
        assert_eq!(c.country_header.as_deref(), Some("X-Country"));
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.trusted_proxies.iter().all(|n| n.addr().is_loopback()));
        assert_eq!(c.detector_interval, std::time::Duration::from_secs(2));
    }

    #[test]
    fn by_default_and_on_bad_values_nothing_changes() {
        let mut c = config();
        tune(&mut c, |_| None);
        assert_eq!(c.country_header, None);
        assert!(c.trusted_proxies.is_empty());
        tune(&mut c, |name| {
            (name == "KEYPORT_EMBEDDED_DETECTOR_SECS").then(|| "0".to_string())
        });
        assert_eq!(c.detector_interval, std::time::Duration::from_secs(60));
    }
}
