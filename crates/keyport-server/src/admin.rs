//! Who is calling a management endpoint. Below the service, so the
//! components a call reaches (usage reports, the alert book) take an
//! `Admin` without depending on the service that makes one.

use keyport_core::authority::Grant;
use keyport_core::{Environment, Resource, ScopeSet};
use std::sync::Arc;

use crate::error::{Result, ServiceError};
use crate::model::{Account, KeyRecord};

/// Who is calling a management endpoint: an admin key of one account. Made
/// only by [`crate::service::KeyService::authenticate_admin`] and, for the embedded portal,
/// [`crate::service::KeyService::issue_local_admin_key`]: every action it takes is recorded
/// under a real key id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Admin {
    pub account: Arc<Account>,
    pub key_id: String,
    /// Peer address, for the audit log.
    pub source: Option<String>,
    /// What the admin key itself holds: it can give no key more.
    pub reach: Reach,
}

/// An admin key's own environment, scopes and resources, for the escalation
/// rule in [`keyport_core::authority`].
#[derive(Debug, Clone)]
pub struct Reach {
    pub environment: Environment,
    pub scopes: ScopeSet,
    pub resources: Vec<Resource>,
}

impl Reach {
    pub(crate) fn of(key: &KeyRecord) -> Self {
        Reach {
            environment: key.environment,
            scopes: key.scopes.clone(),
            resources: key.resources.clone(),
        }
    }

    pub(crate) fn grant(&self) -> Grant<'_> {
        Grant {
            environment: self.environment,
            scopes: &self.scopes,
            resources: &self.resources,
        }
    }

    /// Ok when this admin may manage a key with `key`'s privileges.
    pub(crate) fn covers(&self, key: &KeyRecord) -> Result<()> {
        self.grant()
            .covers(&Grant {
                environment: key.environment,
                scopes: &key.scopes,
                resources: &key.resources,
            })
            .map_err(|e| ServiceError::NotPermitted(e.to_string()))
    }
}
