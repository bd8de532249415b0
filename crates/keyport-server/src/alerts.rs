//! The alerts API: an account's anomaly alerts and rotation reminders (raised
//! by the [`crate::detector`]), listed and acknowledged.

use crate::admin::Admin;
use crate::clock::Clock;
use crate::error::{Result, ServiceError};
use crate::model::*;
use crate::store::Store;
use std::sync::Arc;

const MAX_ALERTS: u32 = 500;

/// An account's alerts, read and acknowledged in the store.
pub struct AlertBook {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl AlertBook {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn list_alerts(
        &self,
        admin: &Admin,
        open_only: bool,
        limit: Option<u32>,
    ) -> Result<AlertList> {
        let limit = match limit {
            None => 100,
            Some(n) if (1..=MAX_ALERTS).contains(&n) => n,
            Some(_) => {
                return Err(ServiceError::BadRequest(format!(
                    "limit must be between 1 and {MAX_ALERTS}"
                )))
            }
        };
        let alerts = self
            .store
            .alerts(&admin.account.id, open_only, limit)
            .await?;
        Ok(AlertList { alerts })
    }

    /// Acknowledges an open alert; acknowledging again changes nothing.
    pub async fn ack_alert(&self, admin: &Admin, id: &str) -> Result<Alert> {
        let mut alert = self
            .store
            .alert(&admin.account.id, id)
            .await?
            .ok_or(ServiceError::NotFound("alert"))?;
        if alert.status == AlertStatus::Open {
            alert.status = AlertStatus::Acknowledged;
            alert.acknowledged_at = Some(self.clock.now());
            self.store.set_alert_status(&alert).await?;
        }
        Ok(alert)
    }
}
