//! The one error the portal's commands reject with. Each variant has a stable
//! code the UI branches on, and a message that is safe to show as is: it never
//! contains a raw key or the admin credential.

use serde::{Serialize, Serializer};

/// What the UI branches on. Never match on messages.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalErrorCode {
    Unreachable,
    Unauthorized,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    /// A plan limit other than request rates, e.g. the cap on active keys.
    LimitExceeded,
    /// The service's operator suspended the account (the message says why).
    AccountSuspended,
    RateLimited,
    /// The service's answer was larger than the portal reads.
    ResponseTooLarge,
    KeychainUnavailable,
    NotConnected,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    /// The service did not answer: connection refused, timeout, DNS, or a
    /// proxy in between that says the service is down.
    #[error("{0}")]
    Unreachable(String),
    /// The service does not accept the admin credential (revoked, expired,
    /// not an admin key, or typed wrong).
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Bad input: the service's validation message, or the portal's own.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The plan allows no more of something, e.g. active keys (the
    /// service's 409 `limit_exceeded`): what the cap is and what to do.
    #[error("{0}")]
    LimitExceeded(String),
    /// The account is suspended by the service's operator: its reason, and
    /// that nothing works until they resume it.
    #[error("{0}")]
    AccountSuspended(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        /// Seconds to wait, from `Retry-After`.
        retry_after: Option<u32>,
    },
    /// The service sent more than the portal reads for this kind of answer
    /// (it stopped reading instead of buffering it all).
    #[error("{0}")]
    ResponseTooLarge(String),
    /// No usable OS keychain: what is wrong and how to fix it.
    #[error("{problem} {fix}")]
    KeychainUnavailable { problem: String, fix: String },
    /// No service is in use (e.g. the embedded one could not start).
    #[error("{0}")]
    NotConnected(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = PortalError> = std::result::Result<T, E>;

impl PortalError {
    pub fn code(&self) -> PortalErrorCode {
        match self {
            PortalError::Unreachable(_) => PortalErrorCode::Unreachable,
            PortalError::Unauthorized(_) => PortalErrorCode::Unauthorized,
            PortalError::Forbidden(_) => PortalErrorCode::Forbidden,
            PortalError::NotFound(_) => PortalErrorCode::NotFound,
            PortalError::Invalid(_) => PortalErrorCode::Invalid,
            PortalError::Conflict(_) => PortalErrorCode::Conflict,
            PortalError::LimitExceeded(_) => PortalErrorCode::LimitExceeded,
            PortalError::AccountSuspended(_) => PortalErrorCode::AccountSuspended,
            PortalError::RateLimited { .. } => PortalErrorCode::RateLimited,
            PortalError::ResponseTooLarge(_) => PortalErrorCode::ResponseTooLarge,
            PortalError::KeychainUnavailable { .. } => PortalErrorCode::KeychainUnavailable,
            PortalError::NotConnected(_) => PortalErrorCode::NotConnected,
            PortalError::Internal(_) => PortalErrorCode::Internal,
        }
    }

    pub fn retry_after(&self) -> Option<u32> {
        match self {
            PortalError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The shape the webview receives.
    pub fn body(&self) -> PortalErrorBody {
        PortalErrorBody {
            code: self.code(),
            message: self.to_string(),
            retry_after: self.retry_after(),
        }
    }
}

/// `{ code, message, retry_after }`: what a rejected command carries.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "PortalError"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalErrorBody {
    pub code: PortalErrorCode,
    pub message: String,
    pub retry_after: Option<u32>,
}

impl Serialize for PortalError {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.body().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_contract_shape() {
        let e = PortalError::RateLimited {
            message: "slow down".into(),
            retry_after: Some(7),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "rate_limited", "message": "slow down", "retry_after": 7})
        );
        let e = PortalError::KeychainUnavailable {
            problem: "No keychain.".into(),
            fix: "Install one.".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "keychain_unavailable", "message": "No keychain. Install one.", "retry_after": null})
        );
        assert_eq!(
            serde_json::to_value(PortalError::NotFound("x".into())).unwrap()["code"],
            "not_found"
        );
        assert_eq!(
            serde_json::to_value(PortalError::LimitExceeded("x".into())).unwrap()["code"],
            "limit_exceeded"
        );
        assert_eq!(
            serde_json::to_value(PortalError::ResponseTooLarge("x".into())).unwrap()["code"],
            "response_too_large"
        );
    }
}
