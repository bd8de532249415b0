//! Restrictions that cannot break production: IP allowlists on verify and
//! the gateway, callers' networks recorded, report-only proposals counted
//! as `would_deny`, replay against history, least-privilege suggestions,
//! and a quarantine held to the networks a key was used from.

use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::gateway::upstream;

async fn flush(h: &Harness) {
    h.server().service().flush().await.unwrap();
}

async fn verify_from(h: &Harness, key: &str, ip: Option<&str>) -> reqwest::Response {
    let mut body = json!({"key": key, "scope": "read"});
    if let Some(ip) = ip {
        body["ip"] = json!(ip);
    }
    h.verify(body).await
}

async fn put(h: &Harness, key: &str, path: &str, body: Value) -> reqwest::Response {
    h.http
        .put(h.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(res: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    res.json().await.unwrap()
}

async fn usage(h: &Harness, admin: &str, id: &str) -> Value {
    json_of(
        h.get(admin, &format!("/v1/keys/{id}/usage")).await,
        StatusCode::OK,
    )
    .await
}

/// The entry of `list` (rules of a replay, suggestions) for `rule`.
fn by_rule(list: &Value, rule: &str) -> Option<Value> {
    list.as_array()?.iter().find(|x| x["rule"] == rule).cloned()
}

/// Flushes, then reads the key's usage until `field` sums to `want` (the
/// background flusher may hold a batch for a moment under load), or 5 s.
async fn usage_until(h: &Harness, admin: &str, id: &str, field: &str, want: u64) -> Value {
    let started = std::time::Instant::now();
    loop {
        flush(h).await;
        let u = usage(h, admin, id).await;
        if sum(&u, field) == want || started.elapsed() > std::time::Duration::from_secs(5) {
            return u;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn sum(usage: &Value, field: &str) -> u64 {
    usage["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[field].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn an_ip_allowlist_is_enforced_on_verify_with_its_own_code() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let (key, raw) = h
        .create_key(
            &acc.admin,
            json!({"name": "payments", "environment": "live", "scopes": ["read"],
                   "allowed_ips": ["203.0.113.9/24", "2001:db8::/32"]}),
        )
        .await;
    assert_eq!(
        key["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    let id = key["id"].as_str().unwrap();

    for ip in ["203.0.113.77", "2001:db8:5::1", "::ffff:203.0.113.1"] {
        assert_eq!(
            verify_from(&h, &raw, Some(ip)).await.status(),
            StatusCode::OK,
            "{ip}"
        );
    }
    let msg = expect_error(
        verify_from(&h, &raw, Some("198.51.100.7")).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    assert!(msg.contains("198.51.100.7"), "{msg}");
    let msg = expect_error(
        verify_from(&h, &raw, None).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    assert!(msg.contains("\"ip\""), "without an address: {msg}");
    expect_error(
        verify_from(&h, &raw, Some("not-an-ip")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    flush(&h).await;
    let u = usage(&h, &acc.admin, id).await;
    assert_eq!(sum(&u, "success"), 3);
    assert_eq!(sum(&u, "denied"), 2, "refusals count as denied");
    let nets: Vec<&str> = u["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["network"].as_str().unwrap())
        .collect();
    assert!(nets.contains(&"203.0.113.0/24"), "{nets:?}");
    assert!(nets.contains(&"2001:db8:5::/48"), "{nets:?}");
    assert!(
        nets.contains(&"198.51.100.0/24"),
        "refused callers are seen too"
    );

    // A replacement inherits the allowlist.
    let rotated = json_of(
        h.post(&acc.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        rotated["key"]["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    let new_raw = rotated["secret"].as_str().unwrap();
    expect_error(
        verify_from(&h, new_raw, Some("198.51.100.7")).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;

    // PATCH replaces the list; [] removes it.
    let patched = json_of(
        h.patch(
            &acc.admin,
            &format!("/v1/keys/{id}"),
            json!({"allowed_ips": []}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["allowed_ips"], json!([]));
    assert_eq!(verify_from(&h, &raw, None).await.status(), StatusCode::OK);
    expect_error(
        h.patch(
            &acc.admin,
            &format!("/v1/keys/{id}"),
            json!({"allowed_ips": ["10.0.0.0/33"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn the_gateway_takes_the_caller_from_a_trusted_proxy_only() {
    let (url, _seen) = upstream().await;
    // 127.0.0.0/8 is a trusted proxy here: its X-Forwarded-For counts.
    let h = Harness::with_upstream(Some(url.clone())).await;
    let acc = h.account(Plan::Starter).await;
    let (_, raw) = h
        .create_key(
            &acc.admin,
            json!({"name": "edge", "environment": "live", "scopes": ["read"],
                   "allowed_ips": ["203.0.113.0/24"]}),
        )
        .await;
    let get = |xff: Option<&'static str>| {
        let mut req = h.http.get(h.url("/items")).bearer_auth(&raw);
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        req.send()
    };
    assert_eq!(
        get(Some("203.0.113.5")).await.unwrap().status(),
        StatusCode::OK
    );
    // The nearest untrusted hop is the caller, not what a client wrote first.
    assert_eq!(
        get(Some("203.0.113.5, 198.51.100.1"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(Some("198.51.100.1, 203.0.113.5, 127.0.0.9"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let res = get(None).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "127.0.0.1 is not allowed"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ip_not_allowed");

    // From an untrusted peer, X-Forwarded-For is the client's own claim.
    let h = Harness::build(Some(url), "10.0.0.0/8").await;
    let acc = h.account(Plan::Starter).await;
    let (_, raw) = h
        .create_key(
            &acc.admin,
            json!({"name": "edge", "environment": "live", "scopes": ["read"],
                   "allowed_ips": ["203.0.113.0/24"]}),
        )
        .await;
    let res = h
        .http
        .get(h.url("/items"))
        .bearer_auth(&raw)
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a forged header is ignored"
    );
}

/// Verifies `n` times from `ip`.
async fn traffic(h: &Harness, raw: &str, ip: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(verify_from(h, raw, Some(ip)).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn report_only_counts_would_deny_then_enforcing_refuses() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Professional).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    let path = format!("/v1/keys/{id}/restrictions/proposal");

    // A proposal may only narrow.
    expect_error(
        put(
            &h,
            &acc.admin,
            &path,
            json!({"restriction": {"scopes": ["admin"]}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        put(&h, &acc.admin, &path, json!({"restriction": {}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        h.post(&acc.admin, &format!("{path}/enforce"), json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let proposed = json_of(
        put(
            &h,
            &acc.admin,
            &path,
            json!({"restriction": {"allowed_ips": ["203.0.113.0/24"]}, "days": 3}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        proposed["proposal"]["restriction"]["allowed_ips"],
        json!(["203.0.113.0/24"])
    );
    assert_eq!(proposed["allowed_ips"], json!([]), "not enforced yet");

    traffic(&h, &raw, "203.0.113.10", 3).await;
    traffic(&h, &raw, "198.51.100.7", 2).await;
    assert_eq!(verify_from(&h, &raw, None).await.status(), StatusCode::OK);
    let u = usage_until(&h, &acc.admin, id, "would_deny", 3).await;
    assert_eq!(sum(&u, "success"), 3);
    assert_eq!(
        sum(&u, "would_deny"),
        3,
        "served, but counted as would_deny"
    );
    let reasons: Vec<(String, u64)> = u["would_deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("ip 198.51.100.0/24".into(), 2)),
        "{reasons:?}"
    );
    assert!(reasons.contains(&("ip unknown".into(), 1)), "{reasons:?}");

    // The proposal stops counting when its period ends.
    h.advance(3 * 86_400 + 1);
    traffic(&h, &raw, "198.51.100.7", 1).await;
    flush(&h).await;
    let u = usage(&h, &acc.admin, id).await;
    assert_eq!(sum(&u, "would_deny"), 0, "the last day has none");
    assert_eq!(sum(&u, "success"), 1);

    let enforced = json_of(
        h.post(&acc.admin, &format!("{path}/enforce"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(enforced["allowed_ips"], json!(["203.0.113.0/24"]));
    assert!(enforced["proposal"].is_null());
    traffic(&h, &raw, "203.0.113.10", 1).await;
    expect_error(
        verify_from(&h, &raw, Some("198.51.100.7")).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;

    let audit = json_of(h.get(&acc.admin, "/v1/audit").await, StatusCode::OK).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"key.propose") && actions.contains(&"key.restrict"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_proposed_lower_rate_and_scope_are_counted_not_enforced() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Professional).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    put(
        &h,
        &acc.admin,
        &format!("/v1/keys/{id}/restrictions/proposal"),
        json!({"restriction": {"per_minute": 5, "scopes": ["read"]}}),
    )
    .await;
    for _ in 0..8 {
        let res = h.verify(json!({"key": raw, "scope": "read"})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = h.verify(json!({"key": raw, "scope": "write"})).await;
    assert_eq!(res.status(), StatusCode::OK, "write still works");
    let u = usage_until(&h, &acc.admin, id, "would_deny", 4).await;
    assert_eq!(sum(&u, "would_deny"), 4, "3 over the rate and 1 write");
    let reasons = u["would_deny"].to_string();
    assert!(
        reasons.contains("rate_limit") && reasons.contains("scope write"),
        "{reasons}"
    );
}

#[tokio::test]
async fn replay_and_suggestions_read_the_recorded_history() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Professional).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    traffic(&h, &raw, "203.0.113.10", 30).await;
    traffic(&h, &raw, "198.51.100.7", 2).await;
    flush(&h).await;

    let replay_path = format!("/v1/keys/{id}/restrictions/replay");
    let replay = |restriction: Value| {
        h.post(
            &acc.admin,
            &replay_path,
            json!({"restriction": restriction, "days": 7}),
        )
    };
    let r = json_of(
        replay(json!({"allowed_ips": ["203.0.113.0/24"]})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["requests"], 32);
    assert_eq!(r["refused_at_least"], 2);
    assert_eq!(r["refused_at_most"], 2);
    assert_eq!(r["rules"][0]["rule"], "ip");
    assert_eq!(r["rules"][0]["examples"][0]["value"], "198.51.100.0/24");
    assert_eq!(r["rules"][0]["examples"][0]["requests"], 2);
    let share = r["share"].as_f64().unwrap();
    assert!((share - 2.0 / 32.0).abs() < 1e-9, "{share}");

    // A single address inside a recorded /24 cannot be judged from history.
    let r = json_of(
        replay(json!({"allowed_ips": ["203.0.113.10"]})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["rules"][0]["refused"], 2);
    assert_eq!(r["rules"][0]["undetermined"], 30);
    assert!(r["notes"].to_string().contains("/24"), "{}", r["notes"]);

    // A lower rate over the recorded minutes; scopes cannot be judged from
    // verify calls, and replay says so.
    let r = json_of(
        replay(json!({"per_minute": 20, "scopes": ["read"]})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_rule(&r["rules"], "rate_limit").unwrap()["refused"], 12);
    assert_eq!(by_rule(&r["rules"], "scope").unwrap()["undetermined"], 32);
    assert!(r["notes"].to_string().contains("verify calls"));
    expect_error(
        replay(json!({"allowed_ips": ["nope"]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    let s = json_of(
        h.get(&acc.admin, &format!("/v1/keys/{id}/suggestions?days=30"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["requests"], 32);
    let suggested = |rule: &str| by_rule(&s["suggestions"], rule);
    let ip = suggested("ip").expect("an IP allowlist is suggested");
    assert_eq!(
        ip["restriction"]["allowed_ips"],
        json!(["198.51.100.0/24", "203.0.113.0/24"])
    );
    assert_eq!(ip["evidence"][0]["value"], "203.0.113.0/24");
    let rate = suggested("rate_limit").expect("a lower rate is suggested");
    assert_eq!(
        rate["restriction"]["per_minute"], 50,
        "1.5× the peak of 32, rounded up"
    );
    assert!(
        suggested("scope").is_none(),
        "no gateway traffic to judge scopes by"
    );
    assert!(s["notes"].to_string().contains("verify calls"));

    // A suggestion is ready to propose as it is.
    let res = put(
        &h,
        &acc.admin,
        &format!("/v1/keys/{id}/restrictions/proposal"),
        json!({"restriction": ip["restriction"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn gateway_suggestions_drop_unused_write_and_name_resources() {
    let (url, _seen) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let acc = h.account(Plan::Professional).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    for path in [
        "/projects/alpha/items",
        "/projects/alpha",
        "/projects/beta/x",
    ] {
        let res = h
            .http
            .get(h.url(path))
            .bearer_auth(&raw)
            .header("x-forwarded-for", "203.0.113.4")
            .header("cf-ipcountry", "DE")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    flush(&h).await;
    let s = json_of(
        h.get(&acc.admin, &format!("/v1/keys/{id}/suggestions"))
            .await,
        StatusCode::OK,
    )
    .await;
    let find = |rule: &str| {
        by_rule(&s["suggestions"], rule).unwrap_or_else(|| panic!("no {rule} suggestion in {s}"))
    };
    assert_eq!(find("scope")["restriction"]["scopes"], json!(["read"]));
    assert_eq!(
        find("resource")["restriction"]["resources"],
        json!(["project:alpha", "project:beta"])
    );
    assert_eq!(
        find("country")["restriction"]["allowed_countries"],
        json!(["DE"])
    );
    assert_eq!(
        find("ip")["restriction"]["allowed_ips"],
        json!(["203.0.113.0/24"])
    );

    // Replaying the write drop against gateway history judges every request.
    let r = json_of(
        h.post(
            &acc.admin,
            &format!("/v1/keys/{id}/restrictions/replay"),
            json!({"restriction": {"scopes": ["read"], "resources": ["project:alpha"]}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let rule = |name: &str| by_rule(&r["rules"], name).unwrap();
    assert_eq!(rule("scope")["refused"], 0);
    assert_eq!(rule("scope")["undetermined"], 0);
    assert_eq!(rule("resource")["refused"], 1);
    assert_eq!(
        rule("resource")["examples"][0]["value"],
        "GET /projects/beta/x"
    );
}

#[tokio::test]
async fn a_quarantined_key_is_held_to_the_networks_it_was_used_from() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    traffic(&h, &raw, "203.0.113.10", 2).await;
    flush(&h).await;
    let q = json_of(
        h.post(
            &acc.admin,
            &format!("/v1/keys/{id}/quarantine"),
            json!({"reason": "odd traffic"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(q["quarantine"]["networks"], json!(["203.0.113.0/24"]));
    assert_eq!(
        verify_from(&h, &raw, Some("203.0.113.99")).await.status(),
        StatusCode::OK
    );
    let msg = expect_error(
        verify_from(&h, &raw, Some("198.51.100.7")).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    assert!(msg.contains("quarantined"), "{msg}");
    // Released, it works from anywhere again.
    h.post(&acc.admin, &format!("/v1/keys/{id}/release"), json!({}))
        .await;
    assert_eq!(
        verify_from(&h, &raw, Some("198.51.100.7")).await.status(),
        StatusCode::OK
    );

    // A key used without recorded addresses is not held to any network.
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read"], &[]).await;
    let id = key["id"].as_str().unwrap();
    traffic(&h, &raw, "203.0.113.10", 1).await;
    assert_eq!(verify_from(&h, &raw, None).await.status(), StatusCode::OK);
    flush(&h).await;
    let q = json_of(
        h.post(
            &acc.admin,
            &format!("/v1/keys/{id}/quarantine"),
            json!({"reason": "odd traffic"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(q["quarantine"]["networks"], json!([]));
    assert_eq!(verify_from(&h, &raw, None).await.status(), StatusCode::OK);
}
