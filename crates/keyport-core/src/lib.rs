//! Keyport's key domain. Pure: no IO, no async, no clock reads. Randomness and
//! time are passed in by the caller so every rule here is testable exactly.

pub mod alert;
pub mod anomaly;
pub mod authority;
pub mod enrollment;
pub mod hours;
pub mod json;
pub mod key;
pub mod limiter;
pub mod plan;
pub mod preview;
pub mod request;
pub mod restrict;
pub mod rotation;
pub mod scan;
pub mod scope;
pub mod secret;
pub mod usage;
pub mod webhook;

pub use key::{
    find_key_in_text, Environment, KeyFormatError, KeyHash, KeyPrefix, ParsedKey, KEY_BODY_LEN,
};
pub use limiter::{decide, next_utc_midnight, utc_day, DayQuota, Decision, Gcra, GcraOutcome};
pub use plan::{Limits, Plan, RateLimitError, RateLimitOverride};
pub use scope::{path_allowed, resource_allowed, Resource, ResourceError, Scope, ScopeSet};
pub use secret::SecretKey;
pub use usage::{fold_endpoint, Counts, Outcome};
