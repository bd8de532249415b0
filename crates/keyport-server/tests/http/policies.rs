//! The account's own policies: alert rules over the server's defaults, the
//! vendor's bounds on rotation periods, and the preview of proposed settings
//! against stored history.

use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::gateway::upstream;

async fn gateway_harness() -> Harness {
    let (url, _) = upstream().await;
    Harness::with_upstream(Some(url)).await
}

/// `n` gateway calls with `key` from `country`, each served.
async fn calls(h: &Harness, key: &str, country: &str, n: usize) {
    for i in 0..n {
        let res = h
            .http
            .get(h.url(&format!("/projects/alpha/items/{i}")))
            .bearer_auth(key)
            .header("CF-IPCountry", country)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

async fn flush(h: &Harness) {
    h.server().service().flush().await.unwrap();
}

async fn detect(h: &Harness) {
    h.server().service().run_detector().await.unwrap();
}

async fn open_kinds(h: &Harness, admin: &str) -> Vec<String> {
    let v: Value = h
        .get(admin, "/v1/alerts?status=open")
        .await
        .json()
        .await
        .unwrap();
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn account(h: &Harness, admin: &str) -> Value {
    h.get(admin, "/v1/account").await.json().await.unwrap()
}

async fn patch_ok(h: &Harness, admin: &str, body: Value) -> Value {
    let res = h.patch(admin, "/v1/account", body.clone()).await;
    assert_eq!(res.status(), StatusCode::OK, "PATCH {body}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn alert_rules_round_trip_over_the_server_defaults_validated_and_audited() {
    let mut h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let v = account(&h, &a.admin).await;
    // Defaults written out in full; the account's own rules all unset.
    assert_eq!(v["alert_defaults"]["volume_spike"]["factor"], 5.0);
    assert_eq!(v["alert_defaults"]["after_hours"]["enabled"], true);
    assert_eq!(v["alert_defaults"]["unusual_endpoint"]["denials"], 10);
    assert_eq!(
        v["settings"]["anomaly_rules"]["volume_spike"]["factor"],
        Value::Null
    );
    assert_eq!(v["max_rotation_days"]["live"], 3650);

    let rules = json!({"after_hours": {"enabled": false}, "volume_spike": {"factor": 4.0, "min_requests": 200}});
    let v = patch_ok(&h, &a.admin, json!({ "anomaly_rules": rules })).await;
    let mine = &v["settings"]["anomaly_rules"];
    assert_eq!(mine["after_hours"]["enabled"], false);
    assert_eq!(mine["volume_spike"]["factor"], 4.0);
    assert_eq!(mine["volume_spike"]["min_requests"], 200);
    assert_eq!(mine["error_spike"]["factor"], Value::Null);

    for (body, field) in [
        (
            json!({"volume_spike": {"factor": 1.0}}),
            "volume_spike.factor",
        ),
        (
            json!({"volume_spike": {"min_requests": 0}}),
            "volume_spike.min_requests",
        ),
        (
            json!({"error_spike": {"factor": 101}}),
            "error_spike.factor",
        ),
        (
            json!({"after_hours": {"min_requests": 1_000_001}}),
            "after_hours.min_requests",
        ),
        (
            json!({"unusual_endpoint": {"denials": 0}}),
            "unusual_endpoint.denials",
        ),
    ] {
        let msg = expect_error(
            h.patch(&a.admin, "/v1/account", json!({ "anomaly_rules": body }))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
        assert!(msg.contains(field), "{msg}");
    }
    for body in [
        json!({"anomaly_rules": {"volume_spike": {"fctor": 2}}}),
        json!({"anomaly_rules": {"volume_spike": {"factor": "high"}}}),
        json!({"anomaly_rules": {"night_owl": {}}}),
        json!({"anomaly_rules": {"volume_spike": [true, 4.0, 200]}}),
        json!({"business_hours": ["UTC", [1], "08:00", "18:00"]}),
    ] {
        let res = h.patch(&a.admin, "/v1/account", body).await;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // Integral floats are integers, as JSON Schema counts them.
    let v = patch_ok(
        &h,
        &a.admin,
        json!({"business_hours": {"time_zone": "UTC", "days": [1.0, 2], "start": "08:00", "end": "18:00"}}),
    )
    .await;
    assert_eq!(v["settings"]["business_hours"]["days"], json!([1, 2]));
    // Refusals changed nothing; the change survives a restart; it is audited.
    h.restart().await;
    let v = account(&h, &a.admin).await;
    assert_eq!(
        v["settings"]["anomaly_rules"]["volume_spike"]["factor"],
        4.0
    );
    assert_eq!(
        v["settings"]["anomaly_rules"]["after_hours"]["enabled"],
        false
    );
    let audit: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    let event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detail"].get("anomaly_rules").is_some())
        .unwrap();
    assert_eq!(event["action"], "account.update");
    assert_eq!(
        event["detail"]["anomaly_rules"]["volume_spike"]["factor"],
        4.0
    );

    // The whole object is replaced: what is left out follows the server again.
    let v = patch_ok(
        &h,
        &a.admin,
        json!({"anomaly_rules": {"error_spike": {"min_errors": 50}}}),
    )
    .await;
    let mine = &v["settings"]["anomaly_rules"];
    assert_eq!(mine["after_hours"]["enabled"], Value::Null);
    assert_eq!(mine["error_spike"]["min_errors"], 50);
}

/// 100 requests from DE at t0 (a Tuesday, 12:00 UTC, business hours).
async fn learned_key(h: &Harness, admin: &str) -> (Value, String) {
    let (k, s) = h.key_with_scopes(admin, &["read"], &[]).await;
    calls(h, &s, "DE", 100).await;
    flush(h).await;
    (k, s)
}

#[tokio::test]
async fn the_detectors_next_pass_follows_the_accounts_rules() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (_, s) = learned_key(&h, &a.admin).await;
    patch_ok(
        &h,
        &a.admin,
        json!({"anomaly_rules": {"after_hours": {"enabled": false}}}),
    )
    .await;
    h.advance(10 * 3600); // 22:00
    calls(&h, &s, "DE", 7).await;
    flush(&h).await;
    detect(&h).await;
    assert!(
        open_kinds(&h, &a.admin).await.is_empty(),
        "after-hours alerts are off"
    );
    // On again, with a higher bar: 7 is not enough, 10 is.
    patch_ok(
        &h,
        &a.admin,
        json!({"anomaly_rules": {"after_hours": {"enabled": true, "min_requests": 10}}}),
    )
    .await;
    detect(&h).await;
    assert!(open_kinds(&h, &a.admin).await.is_empty(), "7 < 10");
    calls(&h, &s, "DE", 3).await;
    flush(&h).await;
    detect(&h).await;
    assert_eq!(open_kinds(&h, &a.admin).await, ["after_hours"]);
}

#[tokio::test]
async fn the_vendor_bounds_rotation_periods() {
    let mut h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    patch_ok(
        &h,
        &a.admin,
        json!({"rotation_days": {"live": 120, "test": 30, "staging": 20}}),
    )
    .await;
    // The vendor now allows at most 90 days for live keys.
    h.max_rotation_days = keyport_core::rotation::RotationPolicy::parse_bounds("live=90").unwrap();
    h.restart().await;
    let v = account(&h, &a.admin).await;
    assert_eq!(v["max_rotation_days"]["live"], 90);
    assert_eq!(v["max_rotation_days"]["test"], 3650);
    assert_eq!(
        v["settings"]["rotation_days"],
        json!({"live": 90, "test": 30, "staging": 20}),
        "a longer stored period is shortened"
    );
    let audit: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    let event = &audit["events"][0];
    assert_eq!(
        (event["action"].as_str(), event["actor"].as_str()),
        (Some("account.update"), Some("server"))
    );
    let msg = expect_error(
        h.patch(
            &a.admin,
            "/v1/account",
            json!({"rotation_days": {"live": 91, "test": 30, "staging": 30}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert!(msg.contains("at most 90 days for live"), "{msg}");
    patch_ok(
        &h,
        &a.admin,
        json!({"rotation_days": {"live": 60, "test": 400, "staging": 30}}),
    )
    .await;
}

fn kind<'a>(tally: &'a Value, kind: &str) -> &'a Value {
    tally["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == kind)
        .unwrap()
}

async fn preview(h: &Harness, admin: &str, body: Value) -> Value {
    let res = h
        .post(admin, "/v1/account/alerts/preview", body.clone())
        .await;
    assert_eq!(res.status(), StatusCode::OK, "preview {body}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn preview_replays_stored_history_with_proposed_settings() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (k, s) = learned_key(&h, &a.admin).await;
    h.advance(3600); // 13:00: a first request from Brazil
    calls(&h, &s, "BR", 3).await;
    h.advance(9 * 3600); // 22:00, after hours
    calls(&h, &s, "DE", 7).await;
    flush(&h).await;

    // Nothing proposed: both sides agree, and match the detector's rules.
    let p = preview(&h, &a.admin, json!({})).await;
    assert_eq!(p["days"], 7);
    assert_eq!(p["approximate"], true);
    assert!(!p["notes"].as_array().unwrap().is_empty());
    assert_eq!(p["current"], p["proposed"]);
    let now = &p["current"];
    assert_eq!(kind(now, "new_country")["alerts"], 1);
    assert_eq!(kind(now, "after_hours")["alerts"], 1);
    assert_eq!(kind(now, "volume_spike")["alerts"], 0);
    assert_eq!(now["alerts"], 2);
    assert_eq!(now["key_count"], 1);
    let named = &kind(now, "after_hours")["keys"][0];
    assert_eq!(named["key_id"], k["id"]);
    assert_eq!(named["last4"], k["last4"]);
    assert_eq!(named["first_at"], "2026-03-10T22:00:00Z");

    // After-hours off; a longer learning period for countries.
    let p = preview(
        &h,
        &a.admin,
        json!({"anomaly_rules": {"after_hours": {"enabled": false}, "new_country": {"learning_requests": 1000}}}),
    )
    .await;
    assert_eq!(kind(&p["proposed"], "after_hours")["alerts"], 0);
    assert_eq!(kind(&p["proposed"], "new_country")["alerts"], 0);
    assert_eq!(kind(&p["current"], "after_hours")["alerts"], 1);
    assert_eq!(p["proposed"]["alerts"], 0);

    // Business hours around the clock; only Austria allowed.
    let p = preview(
        &h,
        &a.admin,
        json!({
            "business_hours": {"time_zone": "UTC", "days": [1,2,3,4,5,6,7], "start": "00:00", "end": "23:59"},
            "allowed_countries": ["at"],
        }),
    )
    .await;
    assert_eq!(kind(&p["proposed"], "after_hours")["alerts"], 0);
    // DE at 12:00 is outside the list; then one a day at most.
    let nc = kind(&p["proposed"], "new_country");
    assert_eq!(nc["alerts"], 1);
    assert_eq!(nc["keys"][0]["first_at"], "2026-03-10T12:00:00Z");

    // Rotation: every live key due within a day is "due soon".
    let p = preview(
        &h,
        &a.admin,
        json!({"rotation_days": {"live": 1, "test": 30, "staging": 30}}),
    )
    .await;
    let active = account(&h, &a.admin).await["active_keys"].clone();
    assert_eq!(p["rotation_current"], json!({"overdue": 0, "due_soon": 0}));
    assert_eq!(p["rotation_proposed"]["due_soon"], active);

    // Bad proposals are refused as a PATCH would refuse them.
    for body in [
        json!({"days": 0}),
        json!({"days": 31}),
        json!({"anomaly_rules": {"volume_spike": {"factor": 0.5}}}),
        json!({"allowed_countries": ["Germany"]}),
        json!({"business_hours": {"time_zone": "Nowhere/City", "days": [1], "start": "08:00", "end": "18:00"}}),
    ] {
        expect_error(
            h.post(&a.admin, "/v1/account/alerts/preview", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    // A preview changes nothing.
    let v = account(&h, &a.admin).await;
    assert_eq!(v["settings"]["allowed_countries"], json!([]));
    assert_eq!(v["settings"]["rotation_days"]["live"], 90);
    // 30 days back sees the same history.
    let p = preview(&h, &a.admin, json!({"days": 30})).await;
    assert_eq!(p["days"], 30);
    assert_eq!(p["current"]["alerts"], 2);
    // Without a credential: 401.
    let res = h
        .http
        .post(h.url("/v1/account/alerts/preview"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
