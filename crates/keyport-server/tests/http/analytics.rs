//! Usage analytics, rotation reminders and anomaly alerts, end to end:
//! traffic through the gateway to a real upstream, then the API.

use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::gateway::upstream;

async fn gateway_harness() -> Harness {
    let (url, _) = upstream().await;
    Harness::with_upstream(Some(url)).await
}

async fn call(h: &Harness, key: &str, method: &str, path: &str, country: &str) -> StatusCode {
    h.http
        .request(method.parse().unwrap(), h.url(path))
        .bearer_auth(key)
        .header("CF-IPCountry", country)
        .send()
        .await
        .unwrap()
        .status()
}

async fn flush(h: &Harness) {
    h.server().service().flush().await.unwrap();
}

async fn detect(h: &Harness) {
    h.server().service().run_detector().await.unwrap();
}

async fn alerts(h: &Harness, admin: &str, status: &str) -> Vec<Value> {
    let v: Value = h
        .get(admin, &format!("/v1/alerts?status={status}"))
        .await
        .json()
        .await
        .unwrap();
    v["alerts"].as_array().unwrap().clone()
}

fn kinds(alerts: &[Value], key_id: &Value) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| &a["key_id"] == key_id)
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

fn t(minutes: i64) -> String {
    (t0() + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn usage_series_breakdowns_csv_and_account_totals() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (k1, s1) = h.key_with_scopes(&a.admin, &["read", "write"], &[]).await;
    let (k2, s2) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let (_k3, _) = h.key_with_scopes(&a.admin, &["read"], &[]).await; // no traffic
    let (k4, s4) = h
        .create_key(&a.admin, json!({"name": "tight", "environment": "live", "scopes": ["read"], "rate_limit": {"burst": 2}}))
        .await;

    // Minute 0: 5 successes from DE, 2 client errors, 3 server errors.
    for i in 0..5 {
        assert_eq!(
            call(&h, &s1, "GET", &format!("/projects/alpha/items/{i}"), "DE").await,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        assert_eq!(
            call(&h, &s1, "GET", "/fail/404", "DE").await,
            StatusCode::NOT_FOUND
        );
    }
    for _ in 0..3 {
        assert_eq!(
            call(&h, &s1, "POST", "/fail/503", "FR").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // k2 is read-only: a write is denied; a verify with the wrong scope too.
    assert_eq!(
        call(&h, &s2, "DELETE", "/projects/alpha", "DE").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.verify(json!({"key": s2, "scope": "write"}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(h.verify(json!({"key": s2})).await.status(), StatusCode::OK);
    // k4 has a burst of 2: the third is rate limited.
    for expected in [200, 200, 429] {
        assert_eq!(call(&h, &s4, "GET", "/x", "DE").await.as_u16(), expected);
    }
    // Minute 2: one more success for k1.
    h.advance(120);
    assert_eq!(
        call(&h, &s1, "GET", "/projects/alpha", "DE").await,
        StatusCode::OK
    );
    flush(&h).await;

    let id1 = k1["id"].as_str().unwrap();
    let res = h
        .get(
            &a.admin,
            &format!("/v1/keys/{id1}/usage?from={}&to={}&step=minute", t(0), t(3)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let u: Value = res.json().await.unwrap();
    let points = u["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "zero-filled: one point per minute");
    assert_eq!(
        points[0],
        json!({"t": "2026-03-10T12:00:00Z", "success": 5, "client_error": 2, "server_error": 3, "rate_limited": 0, "denied": 0, "would_deny": 0})
    );
    assert_eq!(points[1]["success"], 0);
    assert_eq!(points[2]["success"], 1);
    let endpoints = &u["endpoints"];
    assert_eq!(
        endpoints[0],
        json!({"endpoint": "GET /projects/alpha/items/{id}", "count": 5})
    );
    assert!(endpoints
        .as_array()
        .unwrap()
        .contains(&json!({"endpoint": "POST /fail/{id}", "count": 3})));
    assert!(endpoints
        .as_array()
        .unwrap()
        .contains(&json!({"endpoint": "GET /projects/alpha", "count": 1})));
    assert_eq!(
        u["countries"],
        json!([{"country": "DE", "count": 8}, {"country": "FR", "count": 3}])
    );

    // Hour step sums the same requests.
    let u: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{id1}/usage?from={}&to={}&step=hour", t(0), t(60)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["points"].as_array().unwrap().len(), 1);
    assert_eq!(u["points"][0]["success"], 6);

    // Denied and rate-limited outcomes are counted on their keys.
    let id2 = k2["id"].as_str().unwrap();
    let u: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{id2}/usage?from={}&to={}&step=minute", t(0), t(1)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        u["points"][0],
        json!({"t": "2026-03-10T12:00:00Z", "success": 1, "client_error": 0, "server_error": 0, "rate_limited": 0, "denied": 2, "would_deny": 0})
    );
    let id4 = k4["id"].as_str().unwrap();
    let u: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{id4}/usage?from={}&to={}&step=minute", t(0), t(1)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["points"][0]["success"], 2);
    assert_eq!(u["points"][0]["rate_limited"], 1);

    // CSV export of the same series.
    let res = h
        .get(
            &a.admin,
            &format!(
                "/v1/keys/{id1}/usage.csv?from={}&to={}&step=minute",
                t(0),
                t(3)
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type")
        .unwrap()
        .starts_with("text/csv"));
    assert!(header(&res, "content-disposition")
        .unwrap()
        .contains(".csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "t,success,client_error,server_error,rate_limited,denied,would_deny"
    );
    assert_eq!(lines[1], "2026-03-10T12:00:00Z,5,2,3,0,0,0");
    assert_eq!(lines.len(), 4);

    // Account totals: every key, busiest first, in one call.
    let v: Value = h
        .get(&a.admin, &format!("/v1/usage?from={}&to={}", t(0), t(60)))
        .await
        .json()
        .await
        .unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        5,
        "admin key, 3 keys with and 1 without traffic"
    );
    assert_eq!(keys[0]["key_id"], id1);
    assert_eq!(keys[0]["total"], 11);
    let k2t = keys.iter().find(|k| k["key_id"] == id2).unwrap();
    assert_eq!(
        (k2t["success"].as_u64(), k2t["denied"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(keys.iter().any(|k| k["total"] == 0));
    // ... and all keys' requests together over time, agreeing with the totals.
    assert_eq!(v["step"], "minute");
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 60, "zero-filled: one point per minute");
    let outcomes = [
        "success",
        "client_error",
        "server_error",
        "rate_limited",
        "denied",
    ];
    let sum = |rows: &[Value]| -> u64 {
        rows.iter()
            .flat_map(|r| outcomes.iter().map(move |o| r[*o].as_u64().unwrap()))
            .sum()
    };
    let key_total: u64 = keys.iter().map(|k| k["total"].as_u64().unwrap()).sum();
    assert_eq!(sum(points), key_total);
    assert_eq!(points[0]["t"], "2026-03-10T12:00:00Z");
    assert_eq!(points[0]["denied"], 2, "k2's refusals");
    assert_eq!(sum(&points[1..2]), 0);
    assert_eq!(
        points[2],
        json!({"t": "2026-03-10T12:02:00Z", "success": 1, "client_error": 0, "server_error": 0, "rate_limited": 0, "denied": 0, "would_deny": 0})
    );
    let hourly: Value = h
        .get(
            &a.admin,
            &format!("/v1/usage?from={}&to={}&step=hour", t(0), t(60)),
        )
        .await
        .json()
        .await
        .unwrap();
    let hour_points = hourly["points"].as_array().unwrap();
    assert_eq!(hour_points.len(), 1);
    assert_eq!(sum(hour_points), key_total, "the hour table agrees");

    // Bounds and isolation.
    let too_big = format!(
        "/v1/keys/{id1}/usage?from={}&to={}&step=minute",
        t(-60 * 24 * 40),
        t(0)
    );
    let msg = expect_error(
        h.get(&a.admin, &too_big).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(msg.contains("at most"));
    expect_error(
        h.get(&a.admin, &format!("/v1/keys/{id1}/usage?step=week"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let b = h.account(Plan::Free).await;
    expect_error(
        h.get(&b.admin, &format!("/v1/keys/{id1}/usage")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn totals_after_a_flush_equal_requests_served() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Enterprise).await;
    let (k, s) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let mut served = 0;
    for i in 0..120 {
        if i % 7 == 0 {
            h.advance(13);
        }
        let path = if i % 5 == 0 { "/fail/500" } else { "/ok" };
        call(&h, &s, "GET", path, "SE").await;
        served += 1;
    }
    flush(&h).await;
    let id = k["id"].as_str().unwrap();
    let u: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{id}/usage?from={}&to={}&step=minute", t(0), t(60)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage_total(&u), served);
}

#[tokio::test]
async fn country_header_is_ignored_from_untrusted_peers() {
    let (url, _) = upstream().await;
    let h = Harness::build(Some(url), "10.0.0.0/8").await;
    let a = h.account(Plan::Free).await;
    let (k, s) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    call(&h, &s, "GET", "/x", "DE").await;
    flush(&h).await;
    let u: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{}/usage", k["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["countries"], json!([{"country": "unknown", "count": 1}]));
}

#[tokio::test]
async fn rotation_reminders_follow_policy_and_stop_after_rotation() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let (live, _) = h
        .create_key(
            &a.admin,
            json!({"name": "prod", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let (test, _) = h
        .create_key(
            &a.admin,
            json!({"name": "ci", "environment": "test", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(live["rotation_due_at"], "2026-06-08T12:00:00Z", "90 days");
    assert_eq!(test["rotation_due_at"], "2026-04-09T12:00:00Z", "30 days");
    detect(&h).await;
    assert!(
        alerts(&h, &a.admin, "open").await.is_empty(),
        "new keys need no reminder"
    );

    h.advance(20 * 86_400); // test key due in 10 days
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &test["id"]), vec!["rotation_due_soon"]);
    assert!(kinds(&open, &live["id"]).is_empty());
    let reminder = &open[0];
    assert_eq!(reminder["category"], "reminder");
    assert!(reminder["message"].as_str().unwrap().contains("ci"));
    detect(&h).await;
    assert_eq!(alerts(&h, &a.admin, "all").await.len(), 1, "de-duplicated");

    h.advance(11 * 86_400); // day 31: overdue replaces due-soon
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &test["id"]), vec!["rotation_overdue"]);
    let all = alerts(&h, &a.admin, "all").await;
    assert!(all
        .iter()
        .any(|x| x["kind"] == "rotation_due_soon" && x["status"] == "resolved"));

    // Rotating stops the nagging; the replacement starts a fresh clock.
    let id = test["id"].as_str().unwrap();
    let rotated: Value = h
        .post(&a.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["key"]["rotation_due_at"], "2026-05-10T12:00:00Z");
    let old: Value = h
        .get(&a.admin, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(old["rotation_due_at"].is_null());
    detect(&h).await;
    assert!(alerts(&h, &a.admin, "open").await.is_empty());

    // A stricter policy makes the live key overdue; an expiring key is flagged.
    let res = h
        .patch(
            &a.admin,
            "/v1/account",
            json!({"rotation_days": {"live": 10, "test": 30, "staging": 30}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let acct: Value = res.json().await.unwrap();
    assert_eq!(acct["settings"]["rotation_days"]["live"], 10);
    let (exp, _) = h
        .create_key(&a.admin, json!({"name": "temp", "environment": "staging", "scopes": ["read"], "expires_at": t(31 * 24 * 60 + 5 * 24 * 60)}))
        .await;
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &live["id"]), vec!["rotation_overdue"]);
    assert_eq!(kinds(&open, &exp["id"]), vec!["key_expiring"]);

    // Acknowledged reminders leave the open list and are not raised again.
    let alert_id = open.iter().find(|x| x["key_id"] == live["id"]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let acked: Value = h
        .post(&a.admin, &format!("/v1/alerts/{alert_id}/ack"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["acknowledged_at"].is_string());
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert!(kinds(&open, &live["id"]).is_empty());
    let b = h.account(Plan::Free).await;
    expect_error(
        h.post(&b.admin, &format!("/v1/alerts/{alert_id}/ack"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        h.get(&a.admin, "/v1/alerts?status=closed").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn account_settings_are_validated() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    for body in [
        json!({"rotation_days": {"live": 0, "test": 30, "staging": 30}}),
        json!({"business_hours": {"time_zone": "Mars/Olympus", "days": [1], "start": "08:00", "end": "18:00"}}),
        json!({"business_hours": {"time_zone": "UTC", "days": [1], "start": "18:00", "end": "08:00"}}),
        json!({"allowed_countries": ["Germany"]}),
        json!({}),
    ] {
        expect_error(
            h.patch(&a.admin, "/v1/account", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    let v: Value = h
        .patch(
            &a.admin,
            "/v1/account",
            json!({"allowed_countries": ["de", "FR"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["settings"]["allowed_countries"], json!(["DE", "FR"]));
    let v: Value = h.get(&a.admin, "/v1/account").await.json().await.unwrap();
    assert_eq!(v["settings"]["business_hours"]["start"], "08:00");
    let audit: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    assert_eq!(audit["events"][0]["action"], "account.update");
}

/// A key with a learned history: 100 requests to one endpoint from DE at t0.
async fn learned_key(h: &Harness, admin: &str) -> (Value, String) {
    let (k, s) = h.key_with_scopes(admin, &["read", "write"], &[]).await;
    for i in 0..100 {
        assert_eq!(
            call(h, &s, "GET", &format!("/projects/alpha/items/{i}"), "DE").await,
            StatusCode::OK
        );
    }
    flush(h).await;
    (k, s)
}

#[tokio::test]
async fn new_country_and_unusual_endpoint_alerts() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (k, s) = learned_key(&h, &a.admin).await;
    detect(&h).await;
    assert!(
        alerts(&h, &a.admin, "open").await.is_empty(),
        "learned traffic is normal"
    );

    h.advance(30 * 60);
    assert_eq!(
        call(&h, &s, "GET", "/projects/alpha/items/7", "BR").await,
        StatusCode::OK
    );
    assert_eq!(
        call(&h, &s, "DELETE", "/admin/users/42", "DE").await,
        StatusCode::OK
    );
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    let mut got = kinds(&open, &k["id"]);
    got.sort();
    assert_eq!(got, vec!["new_country", "unusual_endpoint"]);
    let nc = open.iter().find(|x| x["kind"] == "new_country").unwrap();
    assert_eq!(nc["category"], "anomaly");
    assert_eq!(
        nc["evidence"]["countries"],
        json!([{"name": "BR", "requests": 1}])
    );
    assert!(nc["message"].as_str().unwrap().contains("BR"));
    let ue = open
        .iter()
        .find(|x| x["kind"] == "unusual_endpoint")
        .unwrap();
    assert_eq!(
        ue["evidence"]["endpoints"][0]["name"],
        "DELETE /admin/users/{id}"
    );

    // One open alert per key and kind, however often the detector runs.
    call(&h, &s, "GET", "/x", "JP").await;
    detect(&h).await;
    assert_eq!(alerts(&h, &a.admin, "all").await.len(), 2);
}

#[tokio::test]
async fn country_outside_the_allowed_list_alerts_without_learning() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    h.patch(
        &a.admin,
        "/v1/account",
        json!({"allowed_countries": ["DE"]}),
    )
    .await;
    let (k, s) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    call(&h, &s, "GET", "/x", "DE").await;
    detect(&h).await;
    assert!(alerts(&h, &a.admin, "open").await.is_empty());
    call(&h, &s, "GET", "/x", "KP").await;
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &k["id"]), vec!["new_country"]);
    assert_eq!(open[0]["evidence"]["reason"], "not_allowed");
}

#[tokio::test]
async fn after_hours_alert_for_a_daytime_key() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (k, s) = learned_key(&h, &a.admin).await; // Tuesday 12:00 UTC, business hours
    h.advance(10 * 3600); // 22:00
    for i in 0..4 {
        call(&h, &s, "GET", &format!("/projects/alpha/items/{i}"), "DE").await;
    }
    detect(&h).await;
    assert!(
        alerts(&h, &a.admin, "open").await.is_empty(),
        "4 is below the minimum of 5"
    );
    for i in 0..3 {
        call(&h, &s, "GET", &format!("/projects/alpha/items/{i}"), "DE").await;
    }
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &k["id"]), vec!["after_hours"]);
    assert_eq!(open[0]["evidence"]["after_hours_requests"], 7);
}

#[tokio::test]
async fn error_spike_alert_and_quiet_errors_do_not() {
    let h = gateway_harness().await;
    let a = h.account(Plan::Professional).await;
    let (k, s) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    // A few errors among many successes: normal.
    for i in 0..60 {
        call(
            &h,
            &s,
            "GET",
            if i % 20 == 0 { "/fail/500" } else { "/ok" },
            "DE",
        )
        .await;
    }
    detect(&h).await;
    assert!(alerts(&h, &a.admin, "open").await.is_empty());
    h.advance(30 * 60);
    for i in 0..30 {
        call(
            &h,
            &s,
            "GET",
            if i < 25 { "/fail/502" } else { "/ok" },
            "DE",
        )
        .await;
    }
    detect(&h).await;
    let open = alerts(&h, &a.admin, "open").await;
    assert_eq!(kinds(&open, &k["id"]), vec!["error_spike"], "{open:#?}");
    let e = &open[0]["evidence"];
    assert_eq!(e["errors"], 25);
    assert_eq!(e["server_errors"], 25);
}
