//! Outbound webhooks against real receivers on loopback: signed per
//! Standard Webhooks, retried on the schedule, logged, disabled after a day
//! of failures, and never sent to private addresses unless allowed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use keyport_core::webhook;
use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver on loopback answering `status` (changeable) to every
/// request and keeping what it got.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    redirect_to: Option<String>,
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let h = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    s.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
        signature: h("webhook-signature"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let status = AxStatus::from_u16(s.status.load(Ordering::SeqCst)).unwrap();
    match &s.redirect_to {
        Some(to) => (AxStatus::FOUND, [("location", to.clone())], "moved").into_response(),
        None => (status, "ok").into_response(),
    }
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        Self::serve(status, None).await
    }

    async fn serve(status: u16, redirect_to: Option<String>) -> Self {
        let shared = Shared {
            got: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
            redirect_to,
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            got: shared.got,
            status: shared.status,
        }
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn of_type(&self, t: &str) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.json()["type"] == t)
            .collect()
    }

    /// Waits (up to 10 s) until `n` requests of type `t` arrived.
    pub async fn wait_for(&self, t: &str, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.of_type(t);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{t}: expected {n}, got {:?}", self.got());
    }
}

async fn add_endpoint(h: &Harness, admin: &str, url: &str, events: Value) -> (Value, String) {
    let res = h
        .post(
            admin,
            "/v1/webhooks",
            json!({"url": url, "events": events, "description": "ops"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (
        v["endpoint"].clone(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

/// The endpoint's deliveries once `done` holds for them (up to 10 s).
async fn deliveries_when(
    h: &Harness,
    admin: &str,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/v1/webhooks/{endpoint}/deliveries");
    let mut last = Vec::new();
    for _ in 0..200 {
        let v: Value = h.get(admin, &path).await.json().await.unwrap();
        last = v["deliveries"].as_array().unwrap().clone();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries never got there: {last:#?}");
}

fn check_signature(secret: &str, r: &Received) {
    assert!(r.id.starts_with("msg_"), "{r:?}");
    assert!(r.signature.starts_with("v1,"), "{r:?}");
    assert!(
        webhook::verify(secret, &r.id, r.timestamp, r.body.as_bytes(), &r.signature),
        "signature does not verify: {r:?}"
    );
    assert!(!webhook::verify(
        secret,
        &r.id,
        r.timestamp + 1,
        r.body.as_bytes(),
        &r.signature
    ));
}

#[tokio::test]
async fn key_changes_reach_subscribed_endpoints_signed_and_without_secrets() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let all = Receiver::start(200).await;
    let revokes_only = Receiver::start(200).await;
    let (endpoint, secret) = add_endpoint(
        &h,
        &acc.admin,
        &all.url,
        json!(["key.created", "key.rotated", "key.revoked"]),
    )
    .await;
    add_endpoint(&h, &acc.admin, &revokes_only.url, json!(["key.revoked"])).await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(endpoint["secret_last4"], secret[secret.len() - 4..]);

    // Shown once: no read answers the secret again.
    let listed: Value = h
        .get(&acc.admin, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&secret[6..]));
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 2);
    assert!(listed["event_types"]
        .as_array()
        .unwrap()
        .contains(&json!("leak.reported")));

    let (key, raw) = h
        .create_key(
            &acc.admin,
            json!({"name": "billing", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let id = key["id"].as_str().unwrap();
    let created = all.wait_for("key.created", 1).await;
    check_signature(&secret, &created[0]);
    let body = created[0].json();
    assert_eq!(body["data"]["key"]["id"], id);
    assert_eq!(body["data"]["account_id"], acc.id);
    assert_eq!(body["data"]["key"]["last4"], raw[raw.len() - 4..]);
    assert!(!created[0].body.contains(&raw), "a raw key in a payload");

    let res = h
        .post(&acc.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rotated: Value = res.json().await.unwrap();
    let new_raw = rotated["secret"].as_str().unwrap();
    let got = all.wait_for("key.rotated", 1).await;
    let body = got[0].json();
    assert_eq!(body["data"]["key"]["id"], id);
    assert_eq!(body["data"]["replacement"]["id"], rotated["key"]["id"]);
    assert!(!got[0].body.contains(new_raw));

    let res = h
        .post(&acc.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revoked = all.wait_for("key.revoked", 1).await;
    check_signature(&secret, &revoked[0]);
    let other = revokes_only.wait_for("key.revoked", 1).await;
    // One event, one id, whichever endpoint it goes to.
    assert_eq!(other[0].id, revoked[0].id);
    assert!(revokes_only.of_type("key.created").is_empty());
    assert!(revokes_only.of_type("key.rotated").is_empty());

    // The log shows each delivery with its answer and time taken.
    let log = deliveries_when(&h, &acc.admin, endpoint["id"].as_str().unwrap(), |d| {
        d.len() == 3 && d.iter().all(|x| x["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["event_type"], "key.revoked");
    assert_eq!(log[0]["response_status"], 200);
    assert_eq!(log[0]["attempts"], 1);
    assert!(log[0]["latency_ms"].is_u64());
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_schedule_with_the_same_id() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let rx = Receiver::start(500).await;
    let (endpoint, secret) = add_endpoint(&h, &acc.admin, &rx.url, json!(["key.revoked"])).await;
    let ep = endpoint["id"].as_str().unwrap();

    let res = h
        .post(&acc.admin, &format!("/v1/webhooks/{ep}/test"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["event_type"], "webhook.test");

    let first = deliveries_when(&h, &acc.admin, ep, |d| d[0]["attempts"] == 1).await;
    assert_eq!(first[0]["status"], "pending");
    assert_eq!(first[0]["response_status"], 500);
    assert!(first[0]["error"].as_str().unwrap().contains("500"));
    let next: chrono::DateTime<chrono::Utc> = first[0]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next, t0() + chrono::Duration::seconds(5));

    // Not before its time: the worker leaves it alone.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(rx.got().len(), 1);

    h.advance(5);
    deliveries_when(&h, &acc.admin, ep, |d| d[0]["attempts"] == 2).await;
    rx.status.store(204, Ordering::SeqCst);
    h.advance(300);
    let done = deliveries_when(&h, &acc.admin, ep, |d| d[0]["status"] == "delivered").await;
    assert_eq!(done[0]["attempts"], 3);
    assert_eq!(done[0]["response_status"], 204);
    assert!(done[0]["error"].is_null());

    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.id == got[0].id), "webhook-id changed");
    for r in &got {
        check_signature(&secret, r);
    }
    // Each attempt is signed with its own time.
    assert_eq!(got[2].timestamp - got[0].timestamp, 305);
}

#[tokio::test]
async fn an_endpoint_failing_for_a_day_is_disabled_with_an_alert_and_can_be_retried() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let rx = Receiver::start(503).await;
    let (endpoint, _) = add_endpoint(&h, &acc.admin, &rx.url, json!(["key.created"])).await;
    let ep = endpoint["id"].as_str().unwrap();
    h.create_key(
        &acc.admin,
        json!({"name": "k", "environment": "live", "scopes": ["read"]}),
    )
    .await;
    for (attempt, wait) in (1..webhook::MAX_ATTEMPTS).zip(webhook::RETRY_SCHEDULE_SECS) {
        deliveries_when(&h, &acc.admin, ep, |d| d[0]["attempts"] == attempt).await;
        h.advance(wait as i64);
    }
    let failed = deliveries_when(&h, &acc.admin, ep, |d| d[0]["status"] == "failed").await;
    assert_eq!(failed[0]["attempts"], webhook::MAX_ATTEMPTS);
    assert!(failed[0]["next_attempt_at"].is_null());

    // The delivery's last failure is written just before the endpoint is
    // disabled: wait for the second write, boundedly.
    let mut ep_now = Value::Null;
    for _ in 0..100 {
        ep_now = h
            .get(&acc.admin, &format!("/v1/webhooks/{ep}"))
            .await
            .json()
            .await
            .unwrap();
        if ep_now["enabled"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ep_now["enabled"], false);
    assert!(ep_now["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("failed"));
    let alerts: Value = h.get(&acc.admin, "/v1/alerts").await.json().await.unwrap();
    let alert = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "webhook_failing")
        .cloned()
        .expect("a webhook_failing alert");
    assert_eq!(alert["key_id"], ep);

    // Nothing goes to a disabled endpoint; a retry waits for it.
    let res = h
        .post(&acc.admin, &format!("/v1/webhooks/{ep}/test"), json!({}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Fixed and enabled again: the alert is resolved, a retry delivers.
    rx.status.store(200, Ordering::SeqCst);
    let res = h
        .patch(
            &acc.admin,
            &format!("/v1/webhooks/{ep}"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["enabled"], true);
    assert!(v["disabled_reason"].is_null());
    let alerts: Value = h.get(&acc.admin, "/v1/alerts").await.json().await.unwrap();
    assert!(!alerts.to_string().contains("webhook_failing"));

    let id = failed[0]["id"].as_i64().unwrap();
    let res = h
        .post(
            &acc.admin,
            &format!("/v1/webhooks/{ep}/deliveries/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let done = deliveries_when(&h, &acc.admin, ep, |d| d[0]["status"] == "delivered").await;
    assert_eq!(done[0]["attempts"], webhook::MAX_ATTEMPTS + 1);
    let res = h
        .post(
            &acc.admin,
            &format!("/v1/webhooks/{ep}/deliveries/{id}/retry"),
            json!({}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let mut h = Harness::new().await;
    h.private_webhooks = false;
    h.restart().await;
    let acc = h.account(Plan::Starter).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://localhost/hook",
        "https://0x7f000001/hook",
        "http://hooks.example.com/hook",
        "https://user:pw@hooks.example.com/hook",
    ] {
        let res = h
            .post(
                &acc.admin,
                "/v1/webhooks",
                json!({"url": url, "events": ["key.created"]}),
            )
            .await;
        let msg = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert!(msg.contains("url"), "{url}: {msg}");
    }
    let (ep, _) = add_endpoint(
        &h,
        &acc.admin,
        "https://hooks.example.com/k",
        json!(["key.created"]),
    )
    .await;
    let res = h
        .patch(
            &acc.admin,
            &format!("/v1/webhooks/{}", ep["id"].as_str().unwrap()),
            json!({"url": "https://192.168.1.1/"}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let target = Receiver::start(200).await;
    let mover = Receiver::serve(200, Some(target.url.clone())).await;
    let (ep, _) = add_endpoint(&h, &acc.admin, &mover.url, json!(["key.created"])).await;
    let ep = ep["id"].as_str().unwrap();
    h.post(&acc.admin, &format!("/v1/webhooks/{ep}/test"), json!({}))
        .await;
    let d = deliveries_when(&h, &acc.admin, ep, |d| d[0]["attempts"] == 1).await;
    assert_eq!(d[0]["response_status"], 302);
    assert_eq!(d[0]["status"], "pending");
    assert_eq!(mover.got().len(), 1);
    assert!(target.got().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn quota_thresholds_and_reminders_are_announced_once() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let rx = Receiver::start(200).await;
    add_endpoint(
        &h,
        &acc.admin,
        &rx.url,
        json!(["quota.threshold", "key.rotation_due"]),
    )
    .await;
    let (_, raw) = h
        .create_key(
            &acc.admin,
            json!({"name": "k", "environment": "live", "scopes": ["read"], "rate_limit": {"per_day": 10}}),
        )
        .await;
    let svc = h.server().service().clone();
    for _ in 0..8 {
        assert_eq!(h.verify(json!({"key": raw})).await.status(), StatusCode::OK);
    }
    svc.run_detector().await.unwrap();
    let got = rx.wait_for("quota.threshold", 1).await;
    let d = &got[0].json()["data"];
    assert_eq!(
        (d["scope"].as_str(), d["threshold_percent"].as_u64()),
        (Some("key"), Some(80))
    );
    assert_eq!(
        (d["used"].as_u64(), d["limit"].as_u64()),
        (Some(8), Some(10))
    );
    for _ in 0..2 {
        h.verify(json!({"key": raw})).await;
    }
    svc.run_detector().await.unwrap();
    svc.run_detector().await.unwrap();
    let got = rx.wait_for("quota.threshold", 2).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(rx.of_type("quota.threshold").len(), 2, "announced twice");
    assert_eq!(got[1].json()["data"]["threshold_percent"], 100);

    // A live key is due for rotation after 90 days.
    h.advance(86 * 86_400);
    svc.run_detector().await.unwrap();
    let due = rx.wait_for("key.rotation_due", 1).await;
    assert_eq!(due[0].json()["data"]["alert"]["kind"], "rotation_due_soon");
}

#[tokio::test]
async fn endpoints_are_the_accounts_own_and_need_an_unrestricted_admin_key() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let b = h.account(Plan::Starter).await;
    let (ep, _) = add_endpoint(
        &h,
        &a.admin,
        "http://127.0.0.1:9/hook",
        json!(["key.created"]),
    )
    .await;
    let path = format!("/v1/webhooks/{}", ep["id"].as_str().unwrap());
    expect_error(
        h.get(&b.admin, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = h
        .http
        .delete(h.url(&path))
        .bearer_auth(&b.admin)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let (_, narrow) = h
        .create_key(
            &a.admin,
            json!({"name": "project admin", "environment": "live", "scopes": ["admin"], "resources": ["project:alpha"]}),
        )
        .await;
    let res = h.get(&narrow, "/v1/webhooks").await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = h
        .post(
            &a.admin,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/", "events": ["webhook.test"]}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let res = h
        .post(
            &a.admin,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/", "events": []}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // A description reads as it is: no direction-changing characters.
    let res = h
        .post(
            &a.admin,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/", "events": ["key.created"], "description": "ops \u{202e}kcab"}),
        )
        .await;
    let msg = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(msg.contains("description"), "{msg}");

    let res = h
        .http
        .delete(h.url(&path))
        .bearer_auth(&a.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        h.get(&a.admin, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let audit: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"webhook.create") && actions.contains(&"webhook.delete"),
        "{actions:?}"
    );
}
