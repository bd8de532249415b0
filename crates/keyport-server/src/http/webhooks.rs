//! `/v1/webhooks`: an account's webhook endpoints and their delivery logs
//! (admin keys without resource limits).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::openapi::{
    BadRequest, Conflict, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, Unprocessable,
};
use super::AppState;
use crate::model::*;
use crate::service::Admin;

type ApiResult<T> = Result<T, ApiError>;

/// Adds an endpoint. Its signing secret is in this answer only: keep it in
/// the receiver's configuration.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = CreateWebhookRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedWebhook, links(
            ("SendATestEvent" = (operation_id = "test_webhook", parameters(("id" = "$response.body#/endpoint/id")),
                description = "Send the new endpoint a test event.")))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn create_webhook(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let created = s.service.webhooks().create(&admin, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The account's endpoints, oldest first, and the event types there are.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn list_webhooks(
    State(s): State<AppState>,
    admin: Admin,
) -> ApiResult<Json<WebhookList>> {
    Ok(Json(s.service.webhooks().list(&admin).await?))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookEndpoint),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn get_webhook(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(s.service.webhooks().get(&admin, &id).await?))
}

/// Changes the URL, events, description, or turns the endpoint off or on.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateWebhookRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookEndpoint),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn update_webhook(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookEndpoint>> {
    Ok(Json(s.service.webhooks().update(&admin, &id, req).await?))
}

/// Deletes an endpoint and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn delete_webhook(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.service.webhooks().delete(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the endpoint a `webhook.test` event now; its delivery shows in the
/// log like any other.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks", operation_id = "test_webhook",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses(
        (status = 202, body = WebhookDelivery),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn test_webhook(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    let d = s.service.webhooks().send_test(&admin, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// 1 to 200, default 50.
    #[param(value_type = u32, required = false, minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The endpoint's deliveries, newest first: status, attempts, the last
/// answer and how long it took.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_deliveries",
    params(("id" = String, Path, description = "Endpoint id"), DeliveryParams), security(("bearer" = [])),
    responses(
        (status = 200, body = DeliveryList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(
        s.service
            .webhooks()
            .deliveries(&admin, &id, p.limit)
            .await?,
    ))
}

/// Sends a pending or failed delivery again now (same `webhook-id`).
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    operation_id = "retry_delivery",
    params(("id" = String, Path, description = "Endpoint id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookDelivery),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn retry_delivery(
    State(s): State<AppState>,
    admin: Admin,
    ApiPath((id, delivery)): ApiPath<(String, i64)>,
) -> ApiResult<Json<WebhookDelivery>> {
    Ok(Json(
        s.service.webhooks().retry(&admin, &id, delivery).await?,
    ))
}
