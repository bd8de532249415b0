//! The OpenAPI document, generated from the handlers' annotations, and the
//! error responses they share. `scripts/schemathesis.sh` fuzzes the served
//! document against the real binary, so what it says is what the service
//! does: every endpoint, every error it can answer, the bounds it enforces.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse};

use super::api;
use super::error::{ErrorBody, ErrorDetail};
use crate::model::schema::{
    AfterHoursRuleSchema, AlertCategorySchema, AlertKindSchema, AnomalyRulesSchema,
    BusinessHoursSchema, EnvironmentSchema, ErrorSpikeRuleSchema, EventTypeSchema,
    NewCountryRuleSchema, PlanSchema, RotationPolicySchema, ScopeSchema, UnusualEndpointRuleSchema,
    VolumeSpikeRuleSchema,
};
use crate::model::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport key service",
        description = "Create, scope, rotate and revoke API keys; verify them; enforce per-plan rate limits. \
            Credentials go only in `Authorization: Bearer <key>`; a key in a URL is refused with `key_in_url`. \
            Every request outside /v1 is the gateway: authenticated, checked, rate-limited and proxied upstream.\n\n\
            Errors are `{\"error\":{\"code\":\"…\",\"message\":\"…\"}}` with a stable `code`. Any request can be \
            answered `400 key_in_url` (before routing), `500 internal` and `503 timeout` or `503 unavailable` \
            (the database cannot be reached for now, or, with `Retry-After`, the server is at its connection cap); a method a path does not take is \
            `405 method_not_allowed` with an `Allow` header; an unknown path under /v1 is `404 not_found`. \
            Dates are RFC 3339 between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z."
    ),
    paths(
        api::get_account, api::update_account, api::preview_alerts, api::list_keys, api::create_key, api::get_key,
        api::update_key, api::revoke_key, api::rotate_key, api::quarantine_key, api::release_key, api::lookup_keys, api::report_leaks, api::audit, api::verify,
        api::key_usage, api::key_usage_csv, api::account_usage, api::list_alerts, api::ack_alert,
        serve, super::ops::healthz, super::ops::readyz,
        super::operator::create_account, super::operator::list_accounts,
        super::operator::get_account, super::operator::update_account,
        super::operator::delete_account, super::operator::create_enrollment,
        super::operator::enroll_preview, super::operator::enroll,
        super::webhooks::create_webhook, super::webhooks::list_webhooks,
        super::webhooks::get_webhook, super::webhooks::update_webhook,
        super::webhooks::delete_webhook, super::webhooks::test_webhook,
        super::webhooks::list_deliveries, super::webhooks::retry_delivery,
        super::restrict::propose, super::restrict::drop_proposal, super::restrict::enforce,
        super::restrict::replay, super::restrict::suggestions
    ),
    components(
        schemas(
            AccountView, LimitsView, KeyView, KeyStatus, RateLimitView, KeyList, CreatedKey,
            CreateKeyRequest, UpdateKeyRequest, RotateKeyRequest, AuditView, AuditList,
            VerifyRequest, VerifyResponse, RateLimitStatus, ErrorBody, ErrorDetail,
            AccountSettings, UpdateAccountRequest, Step, UsagePoint, EndpointCount, CountryCount,
            KeyUsage, KeyTotals, AccountUsage, AlertStatus, Alert, AlertList,
            EnvironmentSchema, ScopeSchema, PlanSchema, RotationPolicySchema, BusinessHoursSchema,
            AlertKindSchema, AlertCategorySchema, Readiness, AlertPreviewRequest, AlertPreview,
            PreviewTally, PreviewKind, PreviewKey, RotationTally, AnomalyRulesSchema,
            VolumeSpikeRuleSchema, ErrorSpikeRuleSchema, NewCountryRuleSchema,
            AfterHoursRuleSchema, UnusualEndpointRuleSchema, Suspension, UsageSummary,
            OperatorAccount, EnrollmentView, CreateAccountRequest, CreatedAccount,
            UpdateOperatorAccount, AccountLimitsSchema, OperatorAccountList, DeletedAccount,
            CreateEnrollmentRequest, EnrollmentCheck, EnrollmentPreview, EnrollRequest, Enrolled,
            WebhookEndpoint, CreatedWebhook, WebhookList, CreateWebhookRequest,
            UpdateWebhookRequest, Quarantine, QuarantineRequest, KeyLookupRequest, KeyLookup, KeyMatch, crate::leaks::LeakReport, crate::leaks::LeakVerdict, DeliveryStatus, WebhookDelivery, DeliveryList, EventTypeSchema,
            Restriction, Proposal, ProposeRequest, ReplayRequest, ReplayReport, RuleReplay,
            SeenValue, Suggestion, Suggestions, NetworkCount, ReasonCount
        ),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
            Unprocessable, RateLimited, TooManyAttempts, MethodNotAllowed, Internal, Unavailable
        )
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "account", description = "The account an admin key belongs to"),
        (name = "keys", description = "Key lifecycle: create, update, rotate, revoke"),
        (name = "audit", description = "Append-only audit log"),
        (name = "verify", description = "Key verification for your API servers"),
        (name = "usage", description = "Per-key usage series, breakdowns and account totals"),
        (name = "alerts", description = "Anomaly alerts and rotation reminders"),
        (name = "restrictions", description = "IP allowlists and other restrictions tried in report-only mode, replayed against history, suggested from use"),
        (name = "leaks", description = "Leaked-key reports from secret scanners (signed; no credential)"),
        (name = "webhooks", description = "Signed event deliveries to your endpoints (Standard Webhooks), with their logs"),
        (name = "operator", description = "The vendor's side: accounts, plans, suspension, enrollment codes (operator tokens only)"),
        (name = "enrollment", description = "A customer's portal registers its own admin key with a one-time code (no credential)"),
        (name = "operations", description = "Liveness and readiness for load balancers (outside /v1, no credential)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The IETF fields' descriptions (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY_DOC: &str =
    "Structured Field List (RFC 9651) of the key's quota policies: \
    `\"minute\";q=60;w=60, \"day\";q=10000;w=86400` (no `day` without a daily quota).";
pub const RATELIMIT_DOC: &str = "Structured Field List of the binding policy: \
    `\"minute\";r=42;t=7`, r requests left, t seconds until more quota (not an epoch).";

// ---- the error responses the operations share ----

/// `invalid_request`: a malformed query string, cursor, JSON body or
/// `Content-Type`, or a value out of range; or `key_in_url`: the URL holds
/// an API key (in any encoding), refused before routing.
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorBody);

/// `unauthorized`: no credential, a malformed `Authorization` header, or a
/// key that is unknown, revoked, expired or lacks the `admin` scope (all
/// answered alike). Under `/v1/operator/` only an operator token (`to_op_…`)
/// counts, and it counts nowhere else.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "Always `Bearer`.")))]
pub struct Unauthorized(pub ErrorBody);

/// `forbidden`: the admin key may not do this, because the key would get
/// more than the admin key has itself (scopes, resources, environment), or
/// because account settings need a live admin key without resource limits;
/// `account_suspended`: the service's operator suspended the account (the
/// message says why); `enrollment_code_invalid`: the enrollment code is
/// wrong, used or expired (the message says which).
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorBody);

/// `not_found`: no such key or alert in this account.
#[derive(ToResponse)]
pub struct NotFound(pub ErrorBody);

/// `conflict`: the request clashes with the key's state (revoked, already
/// rotated, a duplicate `key_hash`); `limit_exceeded`: the account holds as
/// many active keys as its plan allows.
#[derive(ToResponse)]
pub struct Conflict(pub ErrorBody);

/// `payload_too_large`: the body is over the JSON size limit (64 KiB by
/// default).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorBody);

/// `invalid_request`: well-formed JSON whose values the service refuses: a
/// wrong type or unknown field, or a value that breaks a rule (see the
/// request schema), e.g. `expires_at` in the past or a rate limit above the
/// plan's.
#[derive(ToResponse)]
pub struct Unprocessable(pub ErrorBody);

/// `rate_limited`: over the key's per-minute, burst or per-day limit. A
/// client whose `Accept` names `application/problem+json` gets an RFC 9457
/// problem instead of the JSON error: `{"type":
/// "https://iana.org/assignments/http-problem-types#quota-exceeded", "title",
/// "status": 429, "detail", "violated-policies": ["minute"], "code":
/// "rate_limited"}` with `Content-Type: application/problem+json`.
#[derive(ToResponse)]
#[response(headers(
    ("Retry-After" = u64, description = "Seconds until a request can succeed (≥ the `t` of `RateLimit`)."),
    ("X-RateLimit-Limit" = u32, description = "Requests per minute the key may make."),
    ("X-RateLimit-Remaining" = u64, description = "Requests left now."),
    ("X-RateLimit-Reset" = i64, description = "Unix seconds when the limit is whole again."),
    ("RateLimit-Policy" = String, description = "Structured Field List (RFC 9651) of the key's quota policies: `\"minute\";q=60;w=60, \"day\";q=10000;w=86400` (no `day` without a daily quota)."),
    ("RateLimit" = String, description = "Structured Field List of the binding policy: `\"minute\";r=42;t=7`: r requests left, t seconds until more quota (not an epoch)."),
))]
pub struct RateLimited(pub ErrorBody);

/// `too_many_attempts`: too many failed enrollment attempts from this
/// address; wait `Retry-After` seconds.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds until the address may try again.")))]
pub struct TooManyAttempts(pub ErrorBody);

/// `method_not_allowed`: the path exists but does not take this method.
#[derive(ToResponse)]
#[response(headers(("Allow" = String, description = "The methods the path takes.")))]
pub struct MethodNotAllowed(pub ErrorBody);

/// `internal`: the service failed (details go to its log only).
#[derive(ToResponse)]
pub struct Internal(pub ErrorBody);

/// `timeout`: the request took longer than the server's request timeout;
/// `unavailable`: the database cannot be reached for now, this instance has
/// lost the change feed for longer than its bound (verification fails
/// closed; another instance may answer), or (with `Retry-After`) the server
/// is at its connection cap. Retry shortly.
#[derive(ToResponse)]
pub struct Unavailable(pub ErrorBody);

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

/// Every error `code` the service answers with (see [`ErrorDetail`]).
pub const ERROR_CODES: [&str; 20] = [
    "unauthorized",
    "forbidden",
    "ip_not_allowed",
    "country_not_allowed",
    "not_found",
    "invalid_request",
    "key_in_url",
    "rate_limited",
    "conflict",
    "payload_too_large",
    "bad_gateway",
    "gateway_timeout",
    "limit_exceeded",
    "method_not_allowed",
    "timeout",
    "unavailable",
    "internal",
    "account_suspended",
    "too_many_attempts",
    "enrollment_code_invalid",
];

/// The document as served: [`ApiDoc`] plus what utoipa's attributes cannot
/// say. Every header the document names is always sent with its response,
/// so each is marked required; an error `code` is one of [`ERROR_CODES`];
/// `key_hash` and `last4` come together; a PATCH changes at least one field
/// (utoipa 5.5 writes `min_properties` as `maxProperties`, so it is set
/// here).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    require_headers(&mut doc);
    camel_case_links(&mut doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["ErrorDetail"]["properties"]["code"]["enum"] = ERROR_CODES.as_slice().into();
    for name in ["CreateKeyRequest", "RotateKeyRequest"] {
        schemas[name]["anyOf"] = key_material_pair();
    }
    for name in [
        "UpdateKeyRequest",
        "UpdateAccountRequest",
        "UpdateOperatorAccount",
    ] {
        schemas[name]["minProperties"] = 1.into();
    }
    doc
}

/// Both `key_hash` and `last4` as strings, or neither (absent or `null`).
fn key_material_pair() -> serde_json::Value {
    serde_json::json!([
        {
            "required": ["key_hash", "last4"],
            "properties": {"key_hash": {"type": "string"}, "last4": {"type": "string"}}
        },
        {"properties": {"key_hash": {"type": "null"}, "last4": {"type": "null"}}}
    ])
}

/// utoipa 5 writes a Link Object's fields in snake case (`operation_id`,
/// `request_body`); OpenAPI spells them `operationId`, `requestBody`.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(snake) {
                    link.insert(camel.into(), v);
                }
            }
        }
    }
}

fn require_headers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(headers)) = map.get_mut("headers") {
                for h in headers.values_mut() {
                    if let serde_json::Value::Object(h) = h {
                        h.insert("required".into(), true.into());
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "headers" {
                    require_headers(child);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(require_headers),
        _ => {}
    }
}

/// This document: OpenAPI 3.1.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = Object),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable)))]
pub async fn serve() -> Response {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    let body = DOC.get_or_init(|| {
        Bytes::from(serde_json::to_vec(&document()).expect("the document serialises"))
    });
    ([(CONTENT_TYPE, "application/json")], body.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
        out
    }

    fn statuses(op: &Value) -> Vec<&str> {
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// Every operation lists the errors any request can get, and the ones
    /// its credential, parameters and body can cause.
    #[test]
    fn every_operation_documents_its_errors() {
        let doc = document();
        let ops = operations(&doc);
        assert_eq!(
            ops.len(),
            44,
            "{:?}",
            ops.iter().map(|o| &o.1).collect::<Vec<_>>()
        );
        for (method, path, op) in ops {
            let s = statuses(op);
            let has = |code: &str| s.contains(&code);
            for code in ["400", "500", "503"] {
                assert!(has(code), "{method} {path} lacks {code}");
            }
            // Verify answers 401 for the key it checks, not for a credential;
            // leak reports for a signature.
            let secured =
                op.get("security").is_some() || path == "/v1/verify" || path == "/v1/leaks";
            assert_eq!(secured, has("401"), "{method} {path}: 401 iff secured");
            if op.get("requestBody").is_some() {
                for code in ["413", "422"] {
                    assert!(has(code), "{method} {path} lacks {code}");
                }
            }
            if path.contains("{id}") {
                assert!(has("404"), "{method} {path} lacks 404");
            }
            if matches!(method.as_str(), "POST" | "PATCH") && path.starts_with("/v1/keys") {
                assert!(has("403"), "{method} {path} lacks 403");
            }
            for (code, response) in op["responses"].as_object().unwrap() {
                // Readiness answers 503 with its own body: which part is not ready.
                if code.starts_with('2') || (path == "/readyz" && code == "503") {
                    continue;
                }
                let body = if let Some(r) = response.get("$ref") {
                    let name = r.as_str().unwrap().rsplit('/').next().unwrap();
                    &doc["components"]["responses"][name]
                } else {
                    response
                };
                assert_eq!(
                    body["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {code}"
                );
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap().to_string();
            assert!(
                seen.insert(id.clone()),
                "{method} {path}: operationId {id} is taken"
            );
        }
    }

    #[test]
    fn query_parameters_are_in_the_query_and_optional() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "header" {
                    // Leak reports' signature headers, which the reporter sets.
                    assert_eq!(path, "/v1/leaks", "{method} {path} {name}");
                    continue;
                }
                if name == "id" || name == "delivery_id" {
                    assert_eq!(p["in"], "path", "{method} {path}");
                    assert_eq!(p["required"], true);
                } else {
                    assert_eq!(p["in"], "query", "{method} {path} {name}");
                    assert_ne!(p["required"], true, "{method} {path} {name}");
                    let schema = p["schema"].to_string();
                    assert!(
                        !schema.contains("\"null\""),
                        "{method} {path} {name}: a query value is never null: {schema}"
                    );
                }
            }
        }
    }

    /// The codes the source answers with are the documented ones.
    #[test]
    fn error_codes_are_the_documented_ones() {
        let mut used = std::collections::BTreeSet::new();
        let sources = [
            include_str!("error.rs"),
            include_str!("mod.rs"),
            include_str!("gateway.rs"),
            include_str!("api.rs"),
            include_str!("../serve.rs"),
        ];
        // `ApiError::new(StatusCode::X, "code", …)`, and the raw 503 of the
        // connection cap (`\"code\":\"unavailable\"`).
        let code =
            regex::Regex::new(r#"StatusCode::[A-Z_]+,\s*"([a-z_]+)"|\\"code\\":\\"([a-z_]+)"#)
                .unwrap();
        for src in sources {
            for c in code.captures_iter(src) {
                let m = c.get(1).or_else(|| c.get(2)).unwrap();
                used.insert(m.as_str().to_string());
            }
        }
        // A key's rules answer with their refusal's own code.
        use keyport_core::restrict::Refusal;
        for r in [
            Refusal::Scope(keyport_core::Scope::Admin),
            Refusal::Resource("project:x".into()),
            Refusal::Ip(None),
            Refusal::Country(None),
            Refusal::RateLimit,
        ] {
            used.insert(r.code().to_string());
        }
        for c in &used {
            assert!(ERROR_CODES.contains(&c.as_str()), "{c} is not documented");
        }
        let doc = document();
        let codes = &doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"];
        assert_eq!(codes.as_array().unwrap().len(), ERROR_CODES.len());
        assert!(used.len() >= 10, "{used:?}");
    }

    #[test]
    fn headers_are_required_and_rate_limits_documented() {
        let doc = document();
        let limited = &doc["components"]["responses"]["RateLimited"]["headers"];
        for h in [
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "RateLimit-Policy",
            "RateLimit",
        ] {
            assert_eq!(limited[h]["required"], true, "{h}");
        }
        let verify = &doc["paths"]["/v1/verify"]["post"]["responses"];
        for h in ["X-RateLimit-Limit", "RateLimit-Policy", "RateLimit"] {
            assert_eq!(verify["200"]["headers"][h]["required"], true, "{h}");
            assert_eq!(verify["403"]["headers"][h]["required"], true, "{h}");
        }
        assert_eq!(verify["429"]["$ref"], "#/components/responses/RateLimited");
        let auth = &doc["components"]["responses"]["Unauthorized"]["headers"];
        assert_eq!(auth["WWW-Authenticate"]["required"], true);
        let csv = &doc["paths"]["/v1/keys/{id}/usage.csv"]["get"]["responses"]["200"];
        assert!(csv["content"].get("text/csv").is_some());
    }

    /// Links name operations that exist, in OpenAPI's spelling.
    #[test]
    fn links_point_at_operations() {
        let doc = document();
        let ids: Vec<&str> = operations(&doc)
            .iter()
            .filter_map(|(_, _, op)| op["operationId"].as_str())
            .collect();
        let mut seen = 0;
        for (method, path, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().unwrap() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(ids.contains(&target), "{method} {path} {status} {name}");
                    assert!(
                        link.get("operation_id").is_none() && link.get("request_body").is_none()
                    );
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 4);
    }

    /// The service's own bounds, as the document states them.
    #[test]
    fn request_bounds() {
        let doc = document();
        let create = &doc["components"]["schemas"]["CreateKeyRequest"]["properties"];
        let name = matcher(create["name"]["pattern"].as_str().unwrap());
        assert!(name("billing worker"));
        assert!(name("  padded  "));
        assert!(name(&"x".repeat(100)));
        assert!(name(&format!("  {}  ", "x".repeat(100))));
        assert!(!name(&"x".repeat(101)));
        assert!(!name(""));
        assert!(!name("   "));
        assert!(!name("a\u{0007}b"));
        assert!(!name("evil\u{202E}txt"));
        assert!(!name("zero\u{200B}width"));
        assert_eq!(create["resources"]["maxItems"], 50);
        for patch in ["UpdateKeyRequest", "UpdateAccountRequest"] {
            let schema = &doc["components"]["schemas"][patch];
            assert_eq!(schema["minProperties"], 1, "{patch}");
            assert!(schema.get("maxProperties").is_none(), "{patch}");
        }
        let resource = matcher(create["resources"]["items"]["pattern"].as_str().unwrap());
        for ok in ["project:alpha", "a:.x", "a:..x", "k-1_:A.b-c_9"] {
            assert!(resource(ok), "{ok}");
            assert!(ok.parse::<keyport_core::Resource>().is_ok(), "{ok}");
        }
        for bad in [
            "project",
            "project:",
            "Project:a",
            "a:.",
            "a:..",
            "a:b c",
            "a:b:c",
        ] {
            assert!(!resource(bad), "{bad}");
            assert!(bad.parse::<keyport_core::Resource>().is_err(), "{bad}");
        }
        assert_eq!(
            doc["components"]["schemas"]["Scope"]["enum"],
            serde_json::json!(["read", "write", "admin"])
        );
        assert_eq!(
            doc["components"]["schemas"]["Environment"]["enum"],
            serde_json::json!(["live", "test", "staging"])
        );
        let expires = &create["expires_at"];
        assert_eq!(expires["format"], "date-time");
        assert!(expires["description"]
            .as_str()
            .unwrap()
            .contains("9999-12-31T23:59:59Z"));
        let page = &doc["paths"]["/v1/keys"]["get"]["parameters"];
        let limit = page
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], crate::service::MAX_PAGE);
    }

    fn matcher(pattern: &str) -> impl Fn(&str) -> bool {
        let re = regex::Regex::new(pattern).unwrap();
        move |s: &str| re.is_match(s)
    }
}
