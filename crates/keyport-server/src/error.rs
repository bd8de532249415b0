//! The service's error type. It is mapped to HTTP in exactly one place
//! (`http::error`), and to UI error codes by the portal.

use keyport_core::Decision;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Unknown, revoked, expired or malformed credential, or one that lacks
    /// the admin scope where it is needed: all look the same from outside.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The admin key may not do this: it would give a key more than it has.
    #[error("{0}")]
    NotPermitted(String),
    /// The key is valid but not for this scope or resource.
    #[error("{message}")]
    Forbidden {
        /// `forbidden`, `ip_not_allowed`, `country_not_allowed`.
        code: &'static str,
        message: String,
        decision: Decision,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A bad request body value (422).
    #[error("{0}")]
    Invalid(String),
    /// A bad query parameter or cursor (400).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// A plan limit other than request rates, such as the key cap (409).
    #[error("{0}")]
    LimitExceeded(String),
    #[error("rate limit exceeded")]
    RateLimited(Decision),
    /// The database cannot be reached right now (503); retrying later may
    /// succeed. Keys already in memory keep verifying meanwhile.
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] StoreError),
    /// This instance has not read the change feed for longer than its
    /// bound, so it may not know of a revoke made elsewhere (503).
    #[error("this instance has lost track of key changes; try again shortly")]
    Stale,
    /// The account is suspended by the service's operator (403
    /// `account_suspended`); the reason is theirs.
    #[error("this account is suspended by its provider: {0}")]
    Suspended(String),
    /// Too many failed attempts from one source (429, `Retry-After`).
    #[error("too many failed attempts; try again in {retry_after} s")]
    TooManyAttempts { retry_after: u64 },
    /// An enrollment code that cannot be used (wrong, used or expired): one
    /// error code, and a message that says which and what to do (403).
    #[error("{0}")]
    Enrollment(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ServiceError::Unavailable(e),
            e => ServiceError::Store(e),
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

pub const BAD_CREDENTIAL: &str = "missing, unknown, revoked or expired API key";
