//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;
use super::error::{ErrorBody, ErrorDetail};
use crate::model::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport key service",
        description = "Create, scope, rotate and revoke API keys; verify them; enforce per-plan rate limits. \
            Credentials go only in `Authorization: Bearer <key>`; a key in a URL is refused with `key_in_url`. \
            Every request outside /v1 is the gateway: authenticated, checked, rate-limited and proxied upstream."
    ),
    paths(
        api::get_account, api::list_keys, api::create_key, api::get_key, api::update_key,
        api::revoke_key, api::rotate_key, api::audit, api::verify, api::update_account,
        api::key_usage, api::key_usage_csv, api::account_usage, api::list_alerts, api::ack_alert
    ),
    components(schemas(
        AccountView, LimitsView, KeyView, KeyStatus, RateLimitView, KeyList, CreatedKey,
        CreateKeyRequest, UpdateKeyRequest, RotateKeyRequest, AuditView, AuditList,
        VerifyRequest, VerifyResponse, RateLimitStatus, ErrorBody, ErrorDetail,
        AccountSettings, UpdateAccountRequest, Step, UsagePoint, EndpointCount, CountryCount, KeyUsage,
        KeyTotals, AccountUsage, AlertStatus, Alert, AlertList
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "account", description = "The account an admin key belongs to"),
        (name = "keys", description = "Key lifecycle: create, update, rotate, revoke"),
        (name = "audit", description = "Append-only audit log"),
        (name = "verify", description = "Key verification for your API servers"),
        (name = "usage", description = "Per-key usage series, breakdowns and account totals"),
        (name = "alerts", description = "Anomaly alerts and rotation reminders"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
