//! Quarantine from the portal: set a suspected key aside (read-only,
//! slowed) or release it.

use keyport_api::{KeyLookup, KeyLookupRequest, KeyView, QuarantineRequest};
use reqwest::Method;

use crate::client::ServiceClient;
use crate::error::Result;
use crate::portal::Portal;

impl ServiceClient {
    pub async fn quarantine_key(&self, id: &str, reason: &str) -> Result<KeyView> {
        let req = QuarantineRequest {
            reason: reason.to_string(),
        };
        self.call(
            Method::POST,
            &["v1", "keys", id, "quarantine"],
            &[],
            Some(&req),
        )
        .await
    }

    pub async fn release_key(&self, id: &str) -> Result<KeyView> {
        self.call(
            Method::POST,
            &["v1", "keys", id, "release"],
            &[],
            None::<&()>,
        )
        .await
    }

    /// Which of these key hashes are this account's keys.
    pub async fn lookup_keys(&self, hashes: &[String]) -> Result<KeyLookup> {
        let req = KeyLookupRequest {
            hashes: hashes.to_vec(),
        };
        self.call(Method::POST, &["v1", "keys", "lookup"], &[], Some(&req))
            .await
    }
}

impl Portal {
    pub async fn quarantine_key(&self, id: &str, reason: &str) -> Result<KeyView> {
        self.client().await?.quarantine_key(id, reason).await
    }

    pub async fn release_key(&self, id: &str) -> Result<KeyView> {
        self.client().await?.release_key(id).await
    }
}
