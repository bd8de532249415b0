//! The account's webhook endpoints, as the portal's Webhooks section uses
//! them: add (the signing secret is shown once), change, delete, send a
//! test event, read and retry deliveries.

use keyport_api::{
    CreateWebhookRequest, CreatedWebhook, DeliveryList, UpdateWebhookRequest, WebhookDelivery,
    WebhookEndpoint, WebhookList,
};
use reqwest::Method;

use crate::client::{BodyLimit, ServiceClient};
use crate::error::Result;
use crate::portal::Portal;

impl ServiceClient {
    pub async fn list_webhooks(&self) -> Result<WebhookList> {
        self.call(Method::GET, &["v1", "webhooks"], &[], None::<&()>)
            .await
    }

    pub async fn create_webhook(&self, req: &CreateWebhookRequest) -> Result<CreatedWebhook> {
        self.call(Method::POST, &["v1", "webhooks"], &[], Some(req))
            .await
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        req: &UpdateWebhookRequest,
    ) -> Result<WebhookEndpoint> {
        self.call(Method::PATCH, &["v1", "webhooks", id], &[], Some(req))
            .await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            &["v1", "webhooks", id],
            &[],
            None::<&()>,
            BodyLimit::JSON,
        )
        .await
        .map(drop)
    }

    pub async fn test_webhook(&self, id: &str) -> Result<WebhookDelivery> {
        self.call(
            Method::POST,
            &["v1", "webhooks", id, "test"],
            &[],
            None::<&()>,
        )
        .await
    }

    pub async fn webhook_deliveries(&self, id: &str) -> Result<DeliveryList> {
        let query = [("limit", "50".to_string())];
        self.call(
            Method::GET,
            &["v1", "webhooks", id, "deliveries"],
            &query,
            None::<&()>,
        )
        .await
    }

    pub async fn retry_delivery(&self, id: &str, delivery: i64) -> Result<WebhookDelivery> {
        let delivery = delivery.to_string();
        self.call(
            Method::POST,
            &["v1", "webhooks", id, "deliveries", &delivery, "retry"],
            &[],
            None::<&()>,
        )
        .await
    }
}

impl Portal {
    pub async fn list_webhooks(&self) -> Result<WebhookList> {
        self.client().await?.list_webhooks().await
    }

    /// Adds an endpoint; the answer carries its signing secret, the only
    /// time it is shown.
    pub async fn create_webhook(&self, req: CreateWebhookRequest) -> Result<CreatedWebhook> {
        self.client().await?.create_webhook(&req).await
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        req: UpdateWebhookRequest,
    ) -> Result<WebhookEndpoint> {
        self.client().await?.update_webhook(id, &req).await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.client().await?.delete_webhook(id).await
    }

    pub async fn test_webhook(&self, id: &str) -> Result<WebhookDelivery> {
        self.client().await?.test_webhook(id).await
    }

    pub async fn webhook_deliveries(&self, id: &str) -> Result<DeliveryList> {
        self.client().await?.webhook_deliveries(id).await
    }

    pub async fn retry_delivery(&self, id: &str, delivery: i64) -> Result<WebhookDelivery> {
        self.client().await?.retry_delivery(id, delivery).await
    }
}
