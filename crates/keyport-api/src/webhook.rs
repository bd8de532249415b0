//! Outbound webhooks: an account's endpoints (`/v1/webhooks`), their
//! signing secrets (shown once) and the log of deliveries to them.

use chrono::{DateTime, Utc};
use keyport_core::webhook::EventType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an account's events are sent, and which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    #[schema(value_type = Vec<crate::schema::EventTypeSchema>)]
    pub events: Vec<EventType>,
    /// Off by hand, or by the service after deliveries kept failing (then
    /// `disabled_reason` says so).
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// The secret's last four characters, to tell secrets apart.
    pub secret_last4: String,
    pub created_at: DateTime<Utc>,
}

/// A new endpoint and its signing secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WebhookList {
    pub endpoints: Vec<WebhookEndpoint>,
    /// Every event type an endpoint can subscribe to.
    #[schema(value_type = Vec<crate::schema::EventTypeSchema>)]
    pub event_types: Vec<EventType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CreateWebhookRequest {
    #[schema(schema_with = crate::schema::webhook_url_required)]
    pub url: String,
    /// At least one subscribable type.
    #[schema(value_type = Vec<crate::schema::EventTypeSchema>, min_items = 1)]
    pub events: Vec<EventType>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

/// Fields left out (or `null`) stay as they are. Enabling an endpoint the
/// service disabled clears its reason; deliveries still pending resume.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[schema(schema_with = crate::schema::webhook_url_update)]
    pub url: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[schema(value_type = Option<Vec<crate::schema::EventTypeSchema>>, min_items = 1)]
    pub events: Option<Vec<EventType>>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    #[schema(max_length = 200)]
    pub description: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub enabled: Option<bool>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed (about 27 hours of retries), or a manual retry did.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One event on its way to one endpoint: the delivery log's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WebhookDelivery {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub event_id: String,
    #[schema(value_type = crate::schema::EventTypeSchema)]
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The last attempt's HTTP status, if the endpoint answered.
    pub response_status: Option<u16>,
    /// Why the last attempt failed (timeout, refused address, 5xx …).
    pub error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DeliveryList {
    pub deliveries: Vec<WebhookDelivery>,
}
