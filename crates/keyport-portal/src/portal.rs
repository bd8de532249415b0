//! The portal's state and one method per UI command (see
//! `docs/portal-commands.md`). Tauri commands are one-line adapters over
//! these; everything here runs without a window.
//!
//! Modes: **embedded** (the in-process service, the default) and **remote**
//! (a saved service URL whose admin key is in the keychain). One
//! [`ServiceClient`] talks to either.

use chrono::{DateTime, Utc};
use keyport_core::{Environment, KeyHash, Plan, Scope, SecretKey};
use keyport_server::model::{
    AccountView, AuditList, CreateKeyRequest, KeyList, KeyView, LimitsView, RateLimitView,
    UpdateKeyRequest,
};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Mutex;

use crate::client::{key_prefix_of, normalize_service_url, service_id, ServiceClient};
use crate::embedded::{blocking, Embedded};
use crate::error::{PortalError, Result};
use crate::keychain::{CredentialStore, KeychainStatus};
use crate::settings::{SavedService, Settings};

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Embedded,
    Remote,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct PortalStatus {
    pub mode: Mode,
    /// The service in use, e.g. `http://127.0.0.1:41234` (its API is under `/v1`).
    pub service_url: String,
    /// `null` when not connected.
    pub account: Option<AccountView>,
    pub keychain: KeychainStatus,
    /// Remote services with a credential in the keychain.
    pub saved_services: Vec<SavedService>,
    /// Embedded mode only.
    pub try_it: Option<TryIt>,
}

/// How to try a key against the embedded gateway. The curl line reads the
/// key from `$KEYPORT_KEY`; the key itself never appears in it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TryIt {
    pub gateway_url: String,
    pub curl: String,
}

impl TryIt {
    pub fn for_gateway(gateway_url: &str) -> Self {
        let gateway_url = gateway_url.trim_end_matches('/').to_string();
        Self {
            curl: format!("curl -H \"Authorization: Bearer $KEYPORT_KEY\" {gateway_url}/hello"),
            gateway_url,
        }
    }
}

/// What the create-key form sends. The key itself is generated here.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyInput {
    pub name: String,
    pub environment: Environment,
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitView>,
}

/// A new key and its raw text: the only time a raw key reaches the webview.
/// The raw text is zeroed when this value is dropped after serialising.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Serialize)]
pub struct OnceSecret {
    pub key: KeyView,
    #[serde(serialize_with = "expose_once")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub secret: SecretKey,
}

fn expose_once<S: Serializer>(s: &SecretKey, ser: S) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub plan: Plan,
    pub limits: LimitsView,
}

/// The seed's four plans, free → enterprise.
pub fn plan_table() -> Vec<PlanRow> {
    Plan::ALL
        .into_iter()
        .map(|plan| PlanRow {
            plan,
            limits: plan.limits().into(),
        })
        .collect()
}

/// Where the portal keeps its files.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The embedded service's database (Tauri's app data dir).
    pub data_dir: PathBuf,
    /// `settings.json` (Tauri's app config dir).
    pub config_dir: PathBuf,
}

pub struct Portal {
    config: PortalConfig,
    keychain: Arc<dyn CredentialStore>,
    inner: Mutex<Inner>,
}

struct Inner {
    started: bool,
    keychain: KeychainStatus,
    settings: Settings,
    embedded: Option<Embedded>,
    /// Why the embedded service is not running.
    embedded_error: Option<PortalError>,
    mode: Mode,
    /// The remote service in remote mode.
    remote_url: Option<String>,
    session: Option<Session>,
}

#[derive(Clone)]
struct Session {
    client: Arc<ServiceClient>,
    /// Cached `GET /v1/account`; `None` until the service answered.
    account: Option<AccountView>,
}

impl Portal {
    /// Cheap: no IO until the first call (or [`Portal::start`]).
    pub fn new(config: PortalConfig, keychain: Arc<dyn CredentialStore>) -> Self {
        Self {
            config,
            keychain,
            inner: Mutex::new(Inner {
                started: false,
                keychain: KeychainStatus::ok(""),
                settings: Settings::default(),
                embedded: None,
                embedded_error: None,
                mode: Mode::Embedded,
                remote_url: None,
                session: None,
            }),
        }
    }

    /// Probes the keychain, starts the embedded service and signs in to the
    /// service used last. Every command does this first if it has not run.
    pub async fn start(&self) {
        let mut inner = self.inner.lock().await;
        self.ensure_started(&mut inner).await;
    }

    /// Stops the embedded service (flushing usage counts).
    pub async fn shutdown(&self) {
        let mut inner = self.inner.lock().await;
        inner.session = None;
        if let Some(e) = inner.embedded.take() {
            e.shutdown().await;
        }
    }

    async fn ensure_started(&self, inner: &mut Inner) {
        if inner.started {
            return;
        }
        inner.started = true;
        inner.keychain = self.probe().await;
        inner.settings = Settings::load(&self.config.config_dir);
        match Embedded::start(&self.config.data_dir).await {
            Ok(e) => inner.embedded = Some(e),
            Err(e) => {
                tracing::error!(error = %e, "embedded service did not start");
                inner.embedded_error = Some(e);
            }
        }
        if let Some(url) = inner.settings.active.clone() {
            match self.remote_session(inner, &url).await {
                Ok(session) => {
                    inner.mode = Mode::Remote;
                    inner.remote_url = Some(url);
                    inner.session = Some(session);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the saved remote service is not usable; using the embedded one");
                    inner.settings.active = None;
                }
            }
        }
        if let Err(e) = self.activate_embedded(inner).await {
            tracing::warn!(error = %e, "not signed in to the embedded service");
        }
    }

    async fn probe(&self) -> KeychainStatus {
        let k = self.keychain.clone();
        tokio::task::spawn_blocking(move || k.probe())
            .await
            .unwrap_or_else(|_| KeychainStatus {
                available: false,
                backend: String::new(),
                problem: Some("The keychain check failed unexpectedly.".into()),
                fix: Some("Restart Keyport.".into()),
            })
    }

    async fn activate_embedded(&self, inner: &mut Inner) -> Result<()> {
        inner.mode = Mode::Embedded;
        inner.remote_url = None;
        inner.session = None;
        if let Some(e) = inner.keychain.error() {
            return Err(e);
        }
        let Some(embedded) = &inner.embedded else {
            return Err(embedded_not_running(inner));
        };
        let (secret, account) = embedded.sign_in(&self.keychain).await?;
        let client = ServiceClient::new(normalize_service_url(&embedded.service_url())?, secret)?;
        inner.session = Some(Session {
            client: Arc::new(client),
            account: Some(account),
        });
        Ok(())
    }

    /// A session for a saved remote service from its keychain entry. The
    /// account is fetched, but an unreachable service still gives a session
    /// (the UI then shows "unreachable" with a retry).
    async fn remote_session(&self, inner: &Inner, url: &str) -> Result<Session> {
        if let Some(e) = inner.keychain.error() {
            return Err(e);
        }
        let base = normalize_service_url(url)?;
        let id = service_id(&base);
        let stored = blocking({
            let k = self.keychain.clone();
            let id = id.clone();
            move || k.get(&id)
        })
        .await?;
        let Some(secret) = stored else {
            return Err(PortalError::NotConnected(format!(
                "No admin key is stored for {id}. Connect to it again."
            )));
        };
        let client = ServiceClient::new(base, secret)?;
        let account = match client.account().await {
            Ok(a) => Some(a),
            Err(PortalError::Unreachable(_)) | Err(PortalError::RateLimited { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Session {
            client: Arc::new(client),
            account,
        })
    }

    /// The client in use, or why there is none.
    async fn client(&self) -> Result<Arc<ServiceClient>> {
        let mut inner = self.inner.lock().await;
        self.ensure_started(&mut inner).await;
        if let Some(s) = &inner.session {
            return Ok(s.client.clone());
        }
        // The keychain may have been fixed since: try again.
        if inner.mode == Mode::Embedded {
            if inner.keychain.error().is_some() {
                inner.keychain = self.probe().await;
            }
            self.activate_embedded(&mut inner).await?;
            if let Some(s) = &inner.session {
                return Ok(s.client.clone());
            }
        }
        Err(PortalError::NotConnected(
            "Not connected to a key service. Connect to one, or use the embedded service.".into(),
        ))
    }

    // ---- commands ----

    pub async fn status(&self) -> PortalStatus {
        let mut inner = self.inner.lock().await;
        self.ensure_started(&mut inner).await;
        if inner.keychain.error().is_some() {
            inner.keychain = self.probe().await;
            if inner.keychain.available && inner.mode == Mode::Embedded && inner.session.is_none() {
                if let Err(e) = self.activate_embedded(&mut inner).await {
                    tracing::warn!(error = %e, "not signed in to the embedded service");
                }
            }
        }
        if let Some(s) = inner.session.as_mut() {
            if s.account.is_none() {
                s.account = s.client.account().await.ok();
            }
        }
        let service_url = match (&inner.session, inner.mode) {
            (Some(s), _) => s.client.service_url(),
            (None, Mode::Remote) => inner.remote_url.clone().unwrap_or_default(),
            (None, Mode::Embedded) => inner
                .embedded
                .as_ref()
                .map(Embedded::service_url)
                .unwrap_or_default(),
        };
        let try_it = match inner.mode {
            Mode::Embedded => inner.embedded.as_ref().map(Embedded::try_it),
            Mode::Remote => None,
        };
        PortalStatus {
            mode: inner.mode,
            service_url,
            account: inner.session.as_ref().and_then(|s| s.account.clone()),
            keychain: inner.keychain.clone(),
            saved_services: inner.settings.services.clone(),
            try_it,
        }
    }

    pub async fn get_account(&self) -> Result<AccountView> {
        let client = self.client().await?;
        let account = client.account().await?;
        let mut inner = self.inner.lock().await;
        if let Some(s) = inner.session.as_mut() {
            if Arc::ptr_eq(&s.client, &client) {
                s.account = Some(account.clone());
            }
        }
        Ok(account)
    }

    pub fn plan_table(&self) -> Vec<PlanRow> {
        plan_table()
    }

    pub async fn list_keys(&self, cursor: Option<String>) -> Result<KeyList> {
        self.client().await?.list_keys(cursor.as_deref()).await
    }

    pub async fn get_key(&self, id: &str) -> Result<KeyView> {
        self.client().await?.get_key(id).await
    }

    /// Generates the key here from the OS CSPRNG and sends the service only
    /// its SHA-256 and last four characters.
    pub async fn create_key(&self, input: NewKeyInput) -> Result<OnceSecret> {
        let client = self.client().await?;
        let prefix = client.key_prefix().cloned().ok_or_else(|| {
            PortalError::Internal(
                "The admin key in use does not show this service's key prefix.".into(),
            )
        })?;
        let secret = prefix.generate(input.environment, &mut OsRng);
        let req = CreateKeyRequest {
            name: input.name,
            environment: input.environment,
            scopes: input.scopes,
            resources: input.resources,
            expires_at: input.expires_at,
            rate_limit: input.rate_limit,
            key_hash: Some(KeyHash::of(secret.expose()).to_hex()),
            last4: Some(secret.last4()),
        };
        let created = client.create_key(&req).await?;
        if created.secret.is_some() || created.key.last4 != secret.last4() {
            return Err(PortalError::Internal(
                "The service did not store the key that was generated here; the key was not shown. \
                 Revoke the new key in the list and try again."
                    .into(),
            ));
        }
        Ok(OnceSecret {
            key: created.key,
            secret,
        })
    }

    pub async fn update_key(&self, id: &str, patch: UpdateKeyRequest) -> Result<KeyView> {
        self.client().await?.update_key(id, &patch).await
    }

    pub async fn revoke_key(&self, id: &str) -> Result<KeyView> {
        self.client().await?.revoke_key(id).await
    }

    pub async fn audit_log(&self, cursor: Option<String>) -> Result<AuditList> {
        self.client().await?.audit_log(cursor.as_deref()).await
    }

    /// Checks the admin key with `GET /v1/account`, then stores it in the
    /// keychain (entry = the URL) and switches to that service.
    pub async fn connect_remote(&self, url: &str, admin_key: SecretKey) -> Result<PortalStatus> {
        let base = normalize_service_url(url)?;
        let id = service_id(&base);
        key_prefix_of(admin_key.expose()).map_err(|e| {
            PortalError::Invalid(format!("{e} Check the admin key and paste it again."))
        })?;
        {
            let mut inner = self.inner.lock().await;
            self.ensure_started(&mut inner).await;
            if inner.keychain.error().is_some() {
                inner.keychain = self.probe().await;
            }
            if let Some(e) = inner.keychain.error() {
                return Err(e);
            }
        }
        let client = Arc::new(ServiceClient::new(base, admin_key)?);
        let account = client.account().await.map_err(|e| match e {
            PortalError::NotFound(_) | PortalError::Internal(_) => PortalError::Invalid(format!(
                "{id} does not look like a Keyport key service (no /v1/account there). Check the address."
            )),
            e => e,
        })?;
        let mut inner = self.inner.lock().await;
        blocking({
            let k = self.keychain.clone();
            let id = id.clone();
            let client = client.clone();
            move || k.set(&id, client.credential())
        })
        .await?;
        inner.settings.upsert(SavedService {
            url: id.clone(),
            account_name: Some(account.name.clone()),
        });
        inner.settings.active = Some(id.clone());
        inner.settings.save(&self.config.config_dir)?;
        inner.mode = Mode::Remote;
        inner.remote_url = Some(id);
        inner.session = Some(Session {
            client,
            account: Some(account),
        });
        drop(inner);
        Ok(self.status().await)
    }

    /// Switches to a saved remote service, or to the embedded one (`None`).
    /// On failure the service in use stays as it was.
    pub async fn use_service(&self, url: Option<&str>) -> Result<PortalStatus> {
        {
            let mut inner = self.inner.lock().await;
            self.ensure_started(&mut inner).await;
            match url {
                None => {
                    inner.settings.active = None;
                    inner.settings.save(&self.config.config_dir)?;
                    self.activate_embedded(&mut inner).await?;
                }
                Some(url) => {
                    let id = service_id(&normalize_service_url(url)?);
                    if inner.settings.find(&id).is_none() {
                        return Err(PortalError::NotFound(format!(
                            "{id} is not a saved service. Connect to it first."
                        )));
                    }
                    let session = self.remote_session(&inner, &id).await?;
                    if let Some(a) = &session.account {
                        inner.settings.upsert(SavedService {
                            url: id.clone(),
                            account_name: Some(a.name.clone()),
                        });
                    }
                    inner.settings.active = Some(id.clone());
                    inner.settings.save(&self.config.config_dir)?;
                    inner.mode = Mode::Remote;
                    inner.remote_url = Some(id);
                    inner.session = Some(session);
                }
            }
        }
        Ok(self.status().await)
    }

    /// Deletes the service's keychain entry and forgets it. Signing out of
    /// the service in use switches to the embedded one.
    pub async fn sign_out(&self, url: &str) -> Result<PortalStatus> {
        {
            let mut inner = self.inner.lock().await;
            self.ensure_started(&mut inner).await;
            let id = normalize_service_url(url)
                .map(|u| service_id(&u))
                .unwrap_or_else(|_| url.trim().to_string());
            blocking({
                let k = self.keychain.clone();
                let id = id.clone();
                move || k.delete(&id)
            })
            .await?;
            inner.settings.remove(&id);
            inner.settings.save(&self.config.config_dir)?;
            if inner.mode == Mode::Remote && inner.remote_url.as_deref() == Some(id.as_str()) {
                if let Err(e) = self.activate_embedded(&mut inner).await {
                    tracing::warn!(error = %e, "not signed in to the embedded service");
                }
            }
        }
        Ok(self.status().await)
    }
}

fn embedded_not_running(inner: &Inner) -> PortalError {
    match &inner.embedded_error {
        Some(e) => PortalError::NotConnected(format!(
            "The embedded key service is not running. {e} Connect to a remote service, or fix the problem and restart Keyport."
        )),
        None => PortalError::NotConnected("The embedded key service is not running.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_it_reads_the_key_from_the_environment() {
        let t = TryIt::for_gateway("http://127.0.0.1:41234/");
        assert_eq!(t.gateway_url, "http://127.0.0.1:41234");
        assert_eq!(
            t.curl,
            "curl -H \"Authorization: Bearer $KEYPORT_KEY\" http://127.0.0.1:41234/hello"
        );
    }

    #[test]
    fn plan_table_is_the_seed_in_order() {
        let rows = plan_table();
        let plans: Vec<Plan> = rows.iter().map(|r| r.plan).collect();
        assert_eq!(plans, Plan::ALL.to_vec());
        assert_eq!(rows[2].limits.per_minute, 300);
        assert_eq!(rows[3].limits.per_day, None);
    }

    #[test]
    fn once_secret_serialises_the_key_and_debug_hides_it() {
        let secret = keyport_core::KeyPrefix::default().generate(Environment::Live, &mut OsRng);
        let raw = secret.expose().to_string();
        let key: KeyView = serde_json::from_value(serde_json::json!({
            "id": "key_1", "name": "n", "environment": "live", "prefix": "to_live_",
            "last4": secret.last4(), "scopes": ["read"], "resources": [],
            "created_at": "2026-01-01T00:00:00Z", "expires_at": null, "revoked_at": null,
            "last_used_at": null, "status": "active", "rate_limit": null,
            "effective_limits": {"per_minute": 1, "per_day": null, "burst": 1},
            "replaces": null, "replaced_by": null
        }))
        .unwrap();
        let once = OnceSecret { key, secret };
        assert_eq!(serde_json::to_value(&once).unwrap()["secret"], raw.as_str());
        assert!(!format!("{once:?}").contains(&raw));
    }
}
