//! Connecting with an enrollment code: the vendor sends a one-time code (or
//! a `keyport://enroll?service=…&code=…` link); the portal makes the
//! account's admin key here, sends the service only its SHA-256 and last
//! four with the code, and keeps the key in the OS keychain. No admin
//! secret ever exists outside this machine.

use keyport_api::{EnrollRequest, EnrollmentPreview};
use keyport_core::{enrollment, Environment, KeyPrefix};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::client::{normalize_service_url, service_id, ServiceClient};
use crate::embedded::blocking;
use crate::error::{PortalError, Result};
use crate::portal::{Portal, PortalStatus};

/// The name the enrolled admin key gets in the account's key list.
pub const ENROLLED_KEY_NAME: &str = "Portal admin key (enrolled)";

/// A service URL and an enrollment code, from a link or typed in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollLink {
    pub service_url: String,
    pub code: String,
}

impl EnrollLink {
    /// Reads a `keyport://enroll?…` link.
    pub fn parse(text: &str) -> Result<Self> {
        let l = enrollment::parse_link(text)
            .map_err(|e| PortalError::Invalid(format!("That link cannot be used: {e}.")))?;
        Ok(Self {
            service_url: l.service_url,
            code: l.code,
        })
    }

    /// The first `keyport://enroll` link among a program's arguments (how
    /// the desktop hands a clicked link to the app), if any is valid.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Option<Self> {
        args.into_iter()
            .filter(|a| a.to_ascii_lowercase().starts_with(enrollment::LINK_START))
            .find_map(|a| Self::parse(&a).ok())
    }
}

/// What the portal asks the user to confirm before enrolling.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct EnrollOffer {
    /// The normalised service URL (the keychain entry's name).
    pub service_url: String,
    pub code: String,
    pub preview: EnrollmentPreview,
}

/// The service and code to use: a whole link pasted into the code field
/// wins over the URL field.
fn resolve(service_url: &str, code: &str) -> Result<(reqwest::Url, String)> {
    let (url, code) = if code.trim().to_ascii_lowercase().starts_with("keyport://") {
        let l = EnrollLink::parse(code)?;
        (l.service_url, l.code)
    } else {
        (service_url.to_string(), code.to_string())
    };
    let base = normalize_service_url(&url)?;
    let code = enrollment::normalize(&code).ok_or_else(|| {
        PortalError::Invalid(
            "That is not an enrollment code: it has 20 letters and digits, like 7K3QM-X9D2A-BC4EF-GH5JK."
                .into(),
        )
    })?;
    Ok((base, code))
}

/// A 404 means the address is not a Keyport service that enrolls.
fn not_a_service(id: &str) -> impl Fn(PortalError) -> PortalError + '_ {
    move |e| match e {
        PortalError::NotFound(_) => PortalError::Invalid(format!(
            "{id} does not offer enrollment codes (no /v1/enroll there). Check the address, \
             or connect with an admin key."
        )),
        e => e,
    }
}

impl Portal {
    /// Keeps a link the app was opened with for the UI to take.
    pub fn offer_link(&self, link: EnrollLink) {
        *self.pending_link.lock().unwrap_or_else(|e| e.into_inner()) = Some(link);
    }

    /// The link the app was opened with, once.
    pub fn take_enroll_link(&self) -> Option<EnrollLink> {
        self.pending_link
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// What a code would connect to (account, plan, expiry), without using it.
    pub async fn enrollment_preview(&self, service_url: &str, code: &str) -> Result<EnrollOffer> {
        let (base, code) = resolve(service_url, code)?;
        let id = service_id(&base);
        let preview = ServiceClient::anonymous(base)?
            .enrollment_preview(&code)
            .await
            .map_err(not_a_service(&id))?;
        Ok(EnrollOffer {
            service_url: id,
            code,
            preview,
        })
    }

    /// Redeems a code: makes the admin key here, stores it in the keychain,
    /// registers its hash with the service, and connects. On failure the
    /// keychain holds what it held before.
    pub async fn enroll(
        &self,
        service_url: &str,
        code: &str,
        revoke_other_admin_keys: bool,
    ) -> Result<PortalStatus> {
        let (base, code) = resolve(service_url, code)?;
        let id = service_id(&base);
        self.keychain_ready().await?;
        let anonymous = ServiceClient::anonymous(base.clone())?;
        let preview = anonymous
            .enrollment_preview(&code)
            .await
            .map_err(not_a_service(&id))?;
        let prefix: KeyPrefix = preview.key_prefix.parse().map_err(|_| {
            PortalError::Internal(format!(
                "{id} names a key prefix the portal cannot use ({:?}).",
                preview.key_prefix
            ))
        })?;
        let secret = prefix.generate(Environment::Live, &mut OsRng);
        let parsed = prefix.parse(secret.expose()).expect("generated keys parse");
        let keychain = self.keychain.clone();
        let previous = blocking({
            let (k, id) = (keychain.clone(), id.clone());
            move || k.get(&id)
        })
        .await?;
        // In the keychain before the service knows it: an enrolled key is
        // never one this machine could lose.
        let client = Arc::new(ServiceClient::new(base, secret)?);
        blocking({
            let (k, id, c) = (keychain.clone(), id.clone(), client.clone());
            move || k.set(&id, c.credential())
        })
        .await?;
        let req = EnrollRequest {
            code,
            key_hash: parsed.hash.to_hex(),
            last4: parsed.last4,
            name: Some(ENROLLED_KEY_NAME.into()),
            revoke_other_admin_keys,
        };
        let enrolled = match anonymous.enroll(&req).await {
            Ok(e) => e,
            Err(e) => {
                let restored = blocking({
                    let (k, id) = (keychain, id.clone());
                    move || match previous {
                        Some(old) => k.set(&id, &old),
                        None => k.delete(&id),
                    }
                })
                .await;
                if let Err(r) = restored {
                    tracing::warn!(error = %r, "could not restore the keychain entry");
                }
                return Err(e);
            }
        };
        tracing::info!(service = %id, key_id = %enrolled.key.id, "enrolled");
        self.adopt_remote(id, client, enrolled.account).await?;
        Ok(self.status().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_typed_codes_resolve_alike() {
        let link = enrollment::link("http://127.0.0.1:8080/", "7k3qm x9d2a bc4ef gh5jk");
        let (base, code) = resolve("ignored", &link).unwrap();
        assert_eq!(service_id(&base), "http://127.0.0.1:8080");
        assert_eq!(code, "7K3QMX9D2ABC4EFGH5JK");
        let (base, typed) = resolve("http://localhost:9000/v1", "7K3QM-X9D2A-BC4EF-GH5JK").unwrap();
        assert_eq!(service_id(&base), "http://localhost:9000");
        assert_eq!(typed, code);
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let e = resolve("http://127.0.0.1:1", "hello").unwrap_err();
        assert!(e.to_string().contains("20 letters and digits"), "{e}");
        let e = resolve("http://keys.example.com", "7K3QM-X9D2A-BC4EF-GH5JK").unwrap_err();
        assert!(
            e.to_string().contains("https://"),
            "plain http only on this machine: {e}"
        );
        let e = resolve("", "keyport://enroll?code=7K3QM-X9D2A-BC4EF-GH5JK").unwrap_err();
        assert!(e.to_string().contains("no service"), "{e}");
    }

    #[test]
    fn a_link_among_arguments_is_found() {
        let link = enrollment::link("http://127.0.0.1:8080", "7K3QM-X9D2A-BC4EF-GH5JK");
        let args = ["keyport".to_string(), "--flag".into(), link.clone()];
        assert_eq!(
            EnrollLink::from_args(args),
            Some(EnrollLink {
                service_url: "http://127.0.0.1:8080".into(),
                code: "7K3QM-X9D2A-BC4EF-GH5JK".into()
            })
        );
        assert_eq!(
            EnrollLink::from_args(["keyport://enroll?x".to_string()]),
            None
        );
        assert_eq!(EnrollLink::from_args(Vec::<String>::new()), None);
    }
}
