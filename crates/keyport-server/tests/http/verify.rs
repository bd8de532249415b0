use keyport_core::{Environment, KeyPrefix, Plan};
use rand::rngs::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn verify_answers_with_key_facts_and_limit_headers() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let (key, secret) = h
        .key_with_scopes(&a.admin, &["read"], &["project:alpha"])
        .await;
    let res = h
        .verify(json!({"key": secret, "scope": "read", "resource": "project:alpha"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("60"));
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("99"));
    let reset: i64 = header(&res, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert_eq!(reset, t0().timestamp() + 1);
    assert!(header(&res, "retry-after").is_none());
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["key_id"], key["id"]);
    assert_eq!(v["account_id"], a.id.as_str());
    assert_eq!(v["environment"], "live");
    assert_eq!(v["scopes"], json!(["read"]));
    assert_eq!(
        v["ratelimit"],
        json!({"limit": 60, "remaining": 99, "reset": reset})
    );
}

#[tokio::test]
async fn unknown_revoked_expired_malformed_are_401() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let unknown = KeyPrefix::default().generate(Environment::Live, &mut OsRng);
    let (_, good) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let mut bad_checksum = good.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == '0' { '1' } else { '0' });
    for k in [
        unknown.expose().to_string(),
        bad_checksum,
        "".into(),
        "hello".into(),
        "to_live_".into(),
        "x".repeat(10_000),
    ] {
        let res = h.verify(json!({"key": k})).await;
        assert!(header(&res, "x-ratelimit-limit").is_none());
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Expired: valid until the moment it expires.
    let (_, expiring) = h
        .create_key(&a.admin, json!({"name": "e", "environment": "live", "scopes": ["read"], "expires_at": "2026-03-10T12:01:00Z"}))
        .await;
    assert_eq!(
        h.verify(json!({"key": expiring})).await.status(),
        StatusCode::OK
    );
    h.advance(60);
    expect_error(
        h.verify(json!({"key": expiring})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Missing field / wrong types are request errors, not auth errors.
    expect_error(
        h.verify(json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        h.verify(json!({"key": good, "scope": "root"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        h.verify(json!({"key": good, "resource": "nope"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn revocation_takes_effect_on_the_next_request() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    assert_eq!(
        h.verify(json!({"key": secret})).await.status(),
        StatusCode::OK
    );
    let res = h
        .post(
            &a.admin,
            &format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        h.verify(json!({"key": secret})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // And after a restart, from the database alone.
    let mut h = h;
    h.restart().await;
    expect_error(
        h.verify(json!({"key": secret})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn scope_and_resource_matrix() {
    let h = Harness::new().await;
    let a = h.account(Plan::Enterprise).await;
    let keys = [
        (vec!["read"], vec![]),
        (vec!["write"], vec![]),
        (vec!["admin"], vec![]),
        (vec!["read", "write"], vec!["project:alpha"]),
    ];
    // (scope asked, resource asked) → expected status per key above
    let matrix: [(Option<&str>, Option<&str>, [u16; 4]); 7] = [
        (None, None, [200, 200, 200, 200]),
        (Some("read"), None, [200, 403, 200, 200]),
        (Some("write"), None, [403, 200, 200, 200]),
        (Some("admin"), None, [403, 403, 200, 403]),
        (Some("read"), Some("project:alpha"), [200, 403, 200, 200]),
        (Some("read"), Some("project:beta"), [200, 403, 200, 403]),
        (None, Some("project:beta"), [200, 200, 200, 403]),
    ];
    let mut secrets = vec![];
    for (scopes, resources) in &keys {
        secrets.push(h.key_with_scopes(&a.admin, scopes, resources).await.1);
    }
    for (scope, resource, expected) in matrix {
        for (i, secret) in secrets.iter().enumerate() {
            let mut body = json!({"key": secret});
            if let Some(s) = scope {
                body["scope"] = json!(s);
            }
            if let Some(r) = resource {
                body["resource"] = json!(r);
            }
            let res = h.verify(body).await;
            assert_eq!(
                res.status().as_u16(),
                expected[i],
                "key {:?} scope {scope:?} resource {resource:?}",
                keys[i]
            );
            // Every verified response carries the limit headers, refusals too.
            assert!(header(&res, "x-ratelimit-remaining").is_some());
            if expected[i] == 403 {
                expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
            }
        }
    }
}

#[tokio::test]
async fn exact_admission_on_the_free_plan() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let mut passed = 0;
    let mut refused = vec![];
    for _ in 0..25 {
        let res = h.verify(json!({"key": secret})).await;
        match res.status() {
            StatusCode::OK => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => refused.push(res),
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(passed, 20);
    assert_eq!(refused.len(), 5);
    let mut retry_after = 0;
    for res in refused {
        assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("0"));
        let reset: i64 = header(&res, "x-ratelimit-reset").unwrap().parse().unwrap();
        assert_eq!(
            reset,
            t0().timestamp() + 120,
            "bucket is whole again after 20 × 6 s"
        );
        retry_after = header(&res, "retry-after").unwrap().parse().unwrap();
        assert_eq!(retry_after, 6);
        expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    // One second short of Retry-After is still refused; at Retry-After it passes.
    h.advance(retry_after - 1);
    assert_eq!(
        h.verify(json!({"key": secret})).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    h.advance(1);
    let res = h.verify(json!({"key": secret})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("0"));
}

#[tokio::test]
async fn a_key_limit_override_lowers_the_plan() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, secret) = h
        .create_key(&a.admin, json!({"name": "slow", "environment": "live", "scopes": ["read"], "rate_limit": {"per_minute": 2, "burst": 3}}))
        .await;
    let statuses: Vec<u16> = futures_statuses(&h, &secret, 5).await;
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let res = h.verify(json!({"key": secret})).await;
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header(&res, "retry-after").as_deref(), Some("30"));
}

async fn futures_statuses(h: &Harness, secret: &str, n: usize) -> Vec<u16> {
    let mut out = vec![];
    for _ in 0..n {
        out.push(h.verify(json!({"key": secret})).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn daily_quota_per_key_survives_restart_and_resets_at_utc_midnight() {
    let mut h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (_, secret) = h
        .create_key(&a.admin, json!({"name": "daily", "environment": "live", "scopes": ["read"], "rate_limit": {"per_day": 5}}))
        .await;
    for _ in 0..3 {
        assert_eq!(
            h.verify(json!({"key": secret})).await.status(),
            StatusCode::OK
        );
    }
    h.restart().await; // usage is flushed on shutdown and reloaded on start
    for _ in 0..2 {
        assert_eq!(
            h.verify(json!({"key": secret})).await.status(),
            StatusCode::OK
        );
    }
    let res = h.verify(json!({"key": secret})).await;
    // 12:00 UTC → next midnight is 12 h away.
    assert_eq!(header(&res, "retry-after").as_deref(), Some("43200"));
    assert_eq!(
        header(&res, "x-ratelimit-reset").unwrap(),
        (t0().timestamp() + 43_200).to_string()
    );
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    h.advance(43_200);
    assert_eq!(
        h.verify(json!({"key": secret})).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn account_daily_quota_spans_all_keys() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await; // 1,000 a day for the whole account
                                         // The free plan's cap is 5 active keys: the admin key and these four.
    let mut secrets = vec![];
    for _ in 0..4 {
        secrets.push(h.key_with_scopes(&a.admin, &["read"], &[]).await.1);
    }
    // Three keys spend the account's 1,000 for the day, a burst of 20 each
    // every two minutes (each key alone stays far under its own 1,000).
    let (mut spent, mut advanced) = (0, 0);
    while spent < 1_000 {
        for s in &secrets[..3] {
            for _ in 0..20 {
                if spent < 1_000 {
                    assert_eq!(h.verify(json!({"key": s})).await.status(), StatusCode::OK);
                    spent += 1;
                }
            }
        }
        if spent < 1_000 {
            h.advance(120);
            advanced += 120;
        }
    }
    let res = h.verify(json!({"key": secrets[3]})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let to_midnight = 43_200 - advanced;
    assert_eq!(header(&res, "retry-after"), Some(to_midnight.to_string()));
    // Another account is not affected.
    let b = h.account(Plan::Free).await;
    let (_, other) = h.key_with_scopes(&b.admin, &["read"], &[]).await;
    assert_eq!(
        h.verify(json!({"key": other})).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn last_used_is_batched_not_written_per_request() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    assert!(key["last_used_at"].is_null());
    h.verify(json!({"key": secret})).await;
    // Shown at once (from memory)…
    let v: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{}", key["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["last_used_at"], "2026-03-10T12:00:00Z");
    // …and in the database after the next flush (every 100 ms here; allow for a busy machine).
    let sql = h.db.last_used_sql(key["id"].as_str().unwrap());
    let mut ms = None;
    for _ in 0..100 {
        let v = h.db.scalar(&sql).await.as_i64();
        if v.is_some() {
            ms = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ms = ms.expect("last_used_at flushed within 5 s");
    assert_eq!(ms, t0().timestamp_millis());
}

/// `POST /v1/verify` skips the router; its body handling must match every
/// other JSON endpoint's (same limit, same errors), and other methods on the
/// path still get the router's 405.
#[tokio::test]
async fn verify_body_errors_match_the_rest_of_the_api() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let send = |path: &'static str, content_type: &'static str, body: String| {
        h.http
            .post(h.url(path))
            .bearer_auth(&a.admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let big = json!({"key": "x".repeat(70 * 1024)}).to_string();
    for path in ["/v1/verify", "/v1/keys"] {
        let too_big = send(path, "application/json", big.clone()).await.unwrap();
        expect_error(too_big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        let not_json = send(path, "text/plain", "key=abc".into()).await.unwrap();
        let msg = expect_error(not_json, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(msg.contains("Content-Type"), "{path}: {msg}");
        let broken = send(path, "application/json", "{not json}".into())
            .await
            .unwrap();
        expect_error(broken, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let wrong_type = h.verify(json!({"key": 42})).await;
    expect_error(
        wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let get = h.http.get(h.url("/v1/verify")).send().await.unwrap();
    expect_error(get, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let in_url = h
        .http
        .post(h.url(&format!("/v1/verify?key=to_live_{}", "0a".repeat(32))))
        .json(&json!({"key": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(in_url, StatusCode::BAD_REQUEST, "key_in_url").await;
}

/// A verify keeps per-key state with the cached key (limiter slot, plan, the
/// answer's unchanging part). A change to the key must show in the very next
/// answer, and the limiter state must carry over, not start again.
#[tokio::test]
async fn a_changed_key_answers_with_its_new_settings_at_once() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let id = key["id"].as_str().unwrap();
    let first = h.verify(json!({"key": secret})).await;
    assert_eq!(header(&first, "x-ratelimit-limit").as_deref(), Some("10"));
    let before: i64 = header(&first, "x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();
    let v: Value = first.json().await.unwrap();
    assert_eq!(v["scopes"], json!(["read"]));

    h.patch(
        &a.admin,
        &format!("/v1/keys/{id}"),
        json!({"scopes": ["read", "write"], "resources": ["project:alpha"]}),
    )
    .await;
    let next = h.verify(json!({"key": secret})).await;
    assert_eq!(next.status(), StatusCode::OK);
    let after: i64 = header(&next, "x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after, before - 1, "the limiter state carried over");
    let v: Value = next.json().await.unwrap();
    assert_eq!(v["scopes"], json!(["read", "write"]));
    assert_eq!(v["resources"], json!(["project:alpha"]));

    h.patch(
        &a.admin,
        &format!("/v1/keys/{id}"),
        json!({"rate_limit": {"per_minute": 5}}),
    )
    .await;
    let limited = h.verify(json!({"key": secret})).await;
    assert_eq!(header(&limited, "x-ratelimit-limit").as_deref(), Some("5"));
}
