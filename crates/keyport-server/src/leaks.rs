//! Leaked-key reports (`POST /v1/leaks`), in the format of GitHub's secret
//! scanning partner program: a JSON array of `{token, type, url, source}`,
//! signed with ECDSA P-256 over the raw body by a key named in a header. The
//! public keys come from a file (never fetched), so it works offline. A
//! reported key of this service that still works is quarantined or revoked
//! at once (the account's `leak_policy`), with an alert, a `leak.reported`
//! webhook and audit rows; the answer says per token only whether it was a
//! live key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// The headers GitHub signs reports with.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// Most tokens in one report.
pub const MAX_TOKENS: usize = 1_000;
/// The largest report body.
pub const MAX_BODY: usize = 1 << 20;

/// The public keys reports may be signed with.
pub struct LeakKeys {
    keys: Vec<(String, VerifyingKey)>,
}

impl std::fmt::Debug for LeakKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("LeakKeys").field("key_ids", &ids).finish()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
struct PublicKey {
    key_identifier: String,
    key: String,
}

impl LeakKeys {
    /// Reads GitHub's key list format:
    /// `{"public_keys":[{"key_identifier":"…","key":"-----BEGIN PUBLIC KEY-----…"}]}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| format!("not a key list: {e}"))?;
        let keys = file
            .public_keys
            .into_iter()
            .map(|k| {
                VerifyingKey::from_public_key_pem(&k.key)
                    .map(|v| (k.key_identifier.clone(), v))
                    .map_err(|e| {
                        format!(
                            "key {}: not a P-256 public key in PEM: {e}",
                            k.key_identifier
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("the key list is empty".into());
        }
        Ok(Self { keys })
    }

    /// Whether `signature` (base64 DER) is a valid signature of `body` by the
    /// key `key_id`.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| id == key_id) else {
            return false;
        };
        let Ok(der) = B64.decode(signature.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_der(&der) else {
            return false;
        };
        key.verify(body, &sig).is_ok()
    }
}

/// One token in a report.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LeakReport {
    /// The string found.
    pub token: String,
    /// The reporter's name for its kind.
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// What kind of place (commit, gist, issue …).
    #[serde(default)]
    pub source: String,
}

/// The answer per token: its SHA-256 and whether it was a live key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeakVerdict {
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive`: a live key of this service (now acted on);
    /// `false_positive`: anything else.
    pub label: String,
}

/// What the service did with a reported live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quarantined,
    Revoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Quarantined => "quarantined",
            Action::Revoked => "revoked",
        }
    }
}

/// The alert's evidence for a reported key.
pub fn evidence(
    report: &LeakReport,
    action: Action,
    masked: &str,
    key_name: &str,
    at: DateTime<Utc>,
) -> serde_json::Value {
    json!({
        "url": truncate(&report.url, 2_000),
        "source": truncate(&report.source, 100),
        "token_type": truncate(&report.token_type, 100),
        "action": action.as_str(),
        "masked": masked,
        "key_name": key_name,
        "reported_at": at,
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    #[test]
    fn verifies_signatures_of_listed_keys_only() {
        let signer = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = signer
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let list =
            json!({"public_keys": [{"key_identifier": "k1", "key": pem, "is_current": true}]});
        let keys = LeakKeys::from_json(&list.to_string()).unwrap();
        let body = br#"[{"token":"x","type":"t","url":"u","source":"s"}]"#;
        let sig: Signature = signer.sign(body);
        let b64 = B64.encode(sig.to_der().as_bytes());
        assert!(keys.verify("k1", &b64, body));
        assert!(!keys.verify("k2", &b64, body), "an unknown key id");
        assert!(!keys.verify("k1", &b64, b"[]"), "another body");
        assert!(!keys.verify("k1", "not base64!", body));
        assert!(LeakKeys::from_json(r#"{"public_keys": []}"#).is_err());
        assert!(LeakKeys::from_json(
            r#"{"public_keys": [{"key_identifier": "a", "key": "nope"}]}"#
        )
        .is_err());
    }
}
