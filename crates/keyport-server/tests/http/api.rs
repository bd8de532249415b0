use keyport_core::{Environment, KeyHash, KeyPrefix, Plan};
use rand::rngs::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn account_shows_plan_limits() {
    let h = Harness::new().await;
    for (plan, per_minute, per_day, burst) in [
        (Plan::Free, 10, json!(1000), 20),
        (Plan::Starter, 60, json!(10000), 100),
        (Plan::Professional, 300, json!(100000), 500),
        (Plan::Enterprise, 1000, Value::Null, 2000),
    ] {
        let a = h.account(plan).await;
        let res = h.get(&a.admin, "/v1/account").await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["id"], a.id.as_str());
        assert_eq!(v["plan"], plan.as_str());
        assert_eq!(
            v["limits"],
            json!({"per_minute": per_minute, "per_day": per_day, "burst": burst})
        );
    }
}

#[tokio::test]
async fn key_lifecycle_create_get_patch_rotate_revoke() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let (key, secret) = h
        .create_key(
            &a.admin,
            json!({"name": "billing", "environment": "test", "scopes": ["read", "write"],
                   "resources": ["project:alpha"], "rate_limit": {"per_minute": 30}}),
        )
        .await;
    let id = key["id"].as_str().unwrap();
    assert!(secret.starts_with("to_test_"));
    assert_eq!(key["prefix"], "to_test_");
    assert_eq!(key["last4"], &secret[secret.len() - 4..]);
    assert_eq!(key["status"], "active");
    assert_eq!(key["scopes"], json!(["read", "write"]));
    assert_eq!(key["resources"], json!(["project:alpha"]));
    assert_eq!(
        key["rate_limit"],
        json!({"per_minute": 30, "per_day": null, "burst": null})
    );
    assert_eq!(
        key["effective_limits"],
        json!({"per_minute": 30, "per_day": 10000, "burst": 100})
    );
    let text = key.to_string();
    assert!(!text.contains(&secret) && !text.contains("hash"));

    // GET returns the same key, never the secret.
    let got: Value = h
        .get(&a.admin, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, key);

    // PATCH changes only what is sent; null clears.
    let res = h
        .patch(
            &a.admin,
            &format!("/v1/keys/{id}"),
            json!({"name": "billing-v2", "rate_limit": null, "expires_at": "2026-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["name"], "billing-v2");
    assert_eq!(patched["rate_limit"], Value::Null);
    assert_eq!(patched["expires_at"], "2026-06-01T00:00:00Z");
    assert_eq!(patched["scopes"], json!(["read", "write"]));

    // Rotate: same settings, linked both ways, old key still works.
    let res = h
        .post(&a.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rotated: Value = res.json().await.unwrap();
    let new = &rotated["key"];
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(new["replaces"], id);
    assert_eq!(new["name"], "billing-v2");
    assert_eq!(new["environment"], "test");
    assert_eq!(new["scopes"], patched["scopes"]);
    assert_eq!(new["resources"], patched["resources"]);
    let old: Value = h
        .get(&a.admin, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["replaced_by"], new["id"]);
    assert_eq!(old["status"], "active");
    for s in [&secret, new_secret] {
        let res = h.verify(json!({"key": s})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Rotating the old key again is a conflict: rotate the replacement.
    let res = h
        .post(&a.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Revoke: immediate, idempotent, and the key can no longer be changed.
    let res = h
        .post(&a.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revoked: Value = res.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let again: Value = h
        .post(&a.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let res = h
        .patch(&a.admin, &format!("/v1/keys/{id}"), json!({"name": "x"}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = h
        .post(&a.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn client_generated_keys_send_only_hash_and_last4() {
    let h = Harness::new().await;
    let a = h.account(Plan::Professional).await;
    let secret = KeyPrefix::default().generate(Environment::Live, &mut OsRng);
    let hash = KeyHash::of(secret.expose()).to_hex();
    let res = h
        .post(
            &a.admin,
            "/v1/keys",
            json!({"name": "desktop", "environment": "live", "scopes": ["read"],
            "key_hash": hash, "last4": secret.last4()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert!(
        v.get("secret").is_none(),
        "no secret when the client made the key"
    );
    assert_eq!(v["key"]["last4"], secret.last4());
    let res = h.verify(json!({"key": secret.expose()})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The same hash twice is a conflict.
    let res = h
        .post(
            &a.admin,
            "/v1/keys",
            json!({"name": "dup", "environment": "live", "scopes": ["read"],
            "key_hash": hash, "last4": secret.last4()}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    // Rotation with a client-made key.
    let next = KeyPrefix::default().generate(Environment::Live, &mut OsRng);
    let id = v["key"]["id"].as_str().unwrap();
    let res = h
        .post(
            &a.admin,
            &format!("/v1/keys/{id}/rotate"),
            json!({"key_hash": KeyHash::of(next.expose()).to_hex(), "last4": next.last4()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert!(r.get("secret").is_none());
    assert_eq!(
        h.verify(json!({"key": next.expose()})).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rotate_accepts_an_empty_body_and_keeps_the_lifetime() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, _) = h
        .create_key(&a.admin, json!({"name": "k", "environment": "live", "scopes": ["read"], "expires_at": "2026-04-09T12:00:00Z"}))
        .await;
    h.advance(86_400);
    let res = h
        .http
        .post(h.url(&format!("/v1/keys/{}/rotate", key["id"].as_str().unwrap())))
        .bearer_auth(&a.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    // 30 days after creation, counted from the rotation.
    assert_eq!(v["key"]["expires_at"], "2026-04-10T12:00:00Z");
}

#[tokio::test]
async fn validation_errors_are_clear_and_change_nothing() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let cases = [
        (
            json!({"name": "", "environment": "live", "scopes": ["read"]}),
            "name",
        ),
        (
            json!({"name": "x", "environment": "prod", "scopes": ["read"]}),
            "environment",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": []}),
            "scopes",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["root"]}),
            "root",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "resources": ["alpha"]}),
            "kind:name",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "rate_limit": {"per_minute": 11}}),
            "above the plan",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "rate_limit": {"burst": 0}}),
            "at least 1",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
            "future",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "key_hash": "abc", "last4": "abcd"}),
            "key_hash",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "key_hash": "a".repeat(64)}),
            "together",
        ),
        (
            json!({"name": "x", "environment": "live", "scopes": ["read"], "colour": "red"}),
            "colour",
        ),
    ];
    for (body, needle) in cases {
        let res = h.post(&a.admin, "/v1/keys", body.clone()).await;
        let msg = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert!(msg.contains(needle), "{body} → {msg}");
    }
    // Malformed JSON and a missing content type are 400s.
    let res = h
        .http
        .post(h.url("/v1/keys"))
        .bearer_auth(&a.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = h
        .http
        .post(h.url("/v1/keys"))
        .bearer_auth(&a.admin)
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // An oversized body is refused before parsing.
    let big = json!({"name": "x".repeat(100_000), "environment": "live", "scopes": ["read"]});
    let res = h.post(&a.admin, "/v1/keys", big).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // PATCH with nothing to change.
    let (key, _) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let res = h
        .patch(
            &a.admin,
            &format!("/v1/keys/{}", key["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // Nothing was created by the failures: the admin key and the one good key.
    let list: Value = h.get(&a.admin, "/v1/keys").await.json().await.unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn listing_is_paged_and_bounded() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    for i in 0..7 {
        h.create_key(
            &a.admin,
            json!({"name": format!("k{i}"), "environment": "test", "scopes": ["read"]}),
        )
        .await;
    }
    let mut names = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=3&cursor={c}"),
            None => "/v1/keys?limit=3".into(),
        };
        let v: Value = h.get(&a.admin, &path).await.json().await.unwrap();
        let page = v["keys"].as_array().unwrap();
        assert!(page.len() <= 3);
        names.extend(page.iter().map(|k| k["name"].as_str().unwrap().to_string()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    // Newest first, every key once (7 made here + the admin key).
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "k6");
    assert_eq!(names[7], "Admin key");
    for bad in [
        "/v1/keys?limit=0",
        "/v1/keys?limit=101",
        "/v1/keys?limit=x",
        "/v1/keys?cursor=zz",
        "/v1/keys?page=2",
    ] {
        expect_error(
            h.get(&a.admin, bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn accounts_are_isolated() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let b = h.account(Plan::Free).await;
    let (key_a, _) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let id = key_a["id"].as_str().unwrap();
    expect_error(
        h.get(&b.admin, &format!("/v1/keys/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        h.patch(&b.admin, &format!("/v1/keys/{id}"), json!({"name": "x"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        h.post(&b.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        h.post(&b.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list: Value = h.get(&b.admin, "/v1/keys").await.json().await.unwrap();
    assert!(list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["id"] != id));
    let audit: Value = h.get(&b.admin, "/v1/audit").await.json().await.unwrap();
    assert!(!audit.to_string().contains(id));
    // The key is untouched.
    let k: Value = h
        .get(&a.admin, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(k["status"], "active");
}

#[tokio::test]
async fn management_needs_an_admin_key() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (read_key, read_secret) = h.key_with_scopes(&a.admin, &["read", "write"], &[]).await;
    // A non-admin key gets the same answer as an unknown one.
    let m1 = expect_error(
        h.get(&read_secret, "/v1/keys").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = KeyPrefix::default().generate(Environment::Live, &mut OsRng);
    let m2 = expect_error(
        h.get(unknown.expose(), "/v1/keys").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(m1, m2);
    let res = h.http.get(h.url("/v1/account")).send().await.unwrap();
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"));
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The failed attempt with a real key is in the account's audit log, masked.
    let audit: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    let failed: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["key_id"], read_key["id"]);
    assert_eq!(failed[0]["detail"]["reason"], "missing_admin_scope");
    assert_eq!(failed[0]["source"], "127.0.0.1");
    assert!(!audit.to_string().contains(&read_secret));
    // A revoked admin key stops working at once.
    let (admin2, admin2_secret) = h.key_with_scopes(&a.admin, &["admin"], &[]).await;
    // The account view names the key the call was made with.
    let as_admin2: Value = h
        .get(&admin2_secret, "/v1/account")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(as_admin2["credential_key_id"], admin2["id"]);
    let as_first: Value = h.get(&a.admin, "/v1/account").await.json().await.unwrap();
    assert_ne!(as_first["credential_key_id"], admin2["id"]);
    assert!(as_first["credential_key_id"]
        .as_str()
        .unwrap()
        .starts_with("key_"));
    h.post(
        &a.admin,
        &format!("/v1/keys/{}/revoke", admin2["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    expect_error(
        h.get(&admin2_secret, "/v1/account").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn audit_records_every_change_newest_first() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, _) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let id = key["id"].as_str().unwrap();
    h.patch(
        &a.admin,
        &format!("/v1/keys/{id}"),
        json!({"name": "renamed"}),
    )
    .await;
    h.post(&a.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    h.post(&a.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
        .await;
    let v: Value = h.get(&a.admin, "/v1/audit").await.json().await.unwrap();
    let actions: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "key.revoke",
            "key.rotate",
            "key.update",
            "key.create",
            "key.create",
            "account.create"
        ]
    );
    let revoke = &v["events"][0];
    assert_eq!(revoke["key_id"], id);
    assert!(revoke["actor"].as_str().unwrap().starts_with("key_"));
    assert_eq!(revoke["at"], "2026-03-10T12:00:00Z");
    assert_eq!(v["events"][2]["detail"]["name"], "renamed");
}

#[tokio::test]
async fn openapi_and_unknown_endpoints() {
    let h = Harness::new().await;
    let res = h.http.get(h.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    for p in [
        "/v1/account",
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/keys/{id}/revoke",
        "/v1/keys/{id}/rotate",
        "/v1/audit",
        "/v1/verify",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"].get("KeyView").is_some());
    expect_error(
        h.http.get(h.url("/v1/nope")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        h.http.delete(h.url("/v1/keys")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // Without an upstream there is no gateway.
    expect_error(
        h.http.get(h.url("/projects/x")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

/// Management calls mark the admin key as used (so a portal's own key does
/// not say "never used"), without counting against its limits or usage.
#[tokio::test]
async fn management_calls_mark_the_admin_key_used_without_counting() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let me: Value = h.get(&a.admin, "/v1/account").await.json().await.unwrap();
    let admin_id = me["credential_key_id"].as_str().unwrap().to_string();
    h.advance(90);
    // Far more calls than the free plan's burst of 20: none is limited.
    for _ in 0..30 {
        assert_eq!(h.get(&a.admin, "/v1/keys").await.status(), StatusCode::OK);
    }
    let key: Value = h
        .get(&a.admin, &format!("/v1/keys/{admin_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        key["last_used_at"],
        (t0() + chrono::Duration::seconds(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    h.server().service().flush().await.unwrap();
    let usage: Value = h
        .get(&a.admin, &format!("/v1/keys/{admin_id}/usage"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage_total(&usage), 0, "management calls are not API usage");
}

#[tokio::test]
async fn an_abandoned_replacement_does_not_block_a_new_rotation() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await;
    let (key, secret) = h
        .create_key(
            &a.admin,
            json!({"name": "k", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let id = key["id"].as_str().unwrap();
    let path = format!("/v1/keys/{id}/rotate");
    let rotate = || h.post(&a.admin, &path, json!({}));
    let res = rotate().await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    let first_id = first["key"]["id"].as_str().unwrap().to_string();
    // While the replacement is active, a second one is a conflict.
    expect_error(rotate().await, StatusCode::CONFLICT, "conflict").await;
    // The user abandons it (revokes the replacement): rotating again works,
    // and the old key now points at the new replacement.
    let res = h
        .post(&a.admin, &format!("/v1/keys/{first_id}/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = rotate().await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["key"]["id"], first["key"]["id"]);
    assert_eq!(second["key"]["replaces"], id);
    let old: Value = h
        .get(&a.admin, &format!("/v1/keys/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["replaced_by"], second["key"]["id"]);
    let res = h.verify(json!({"key": secret})).await;
    assert_eq!(res.status(), StatusCode::OK, "the old key still works");
}

/// Found by schemathesis: refusals that come from extractors, not handlers,
/// use the API's JSON error shape too, and a body must be a JSON object
/// (serde would also read a struct from an array of its fields).
#[tokio::test]
async fn extractor_refusals_and_array_bodies() {
    let h = Harness::new().await;
    let a = h.account(Plan::Enterprise).await;
    let (key, _) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let id = key["id"].as_str().unwrap();
    // A path segment that is not UTF-8 once decoded (was text/plain).
    let res = h.get(&a.admin, "/v1/keys/%FF").await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // An oversized rotate body (was a text/plain 413).
    let res = h
        .http
        .post(h.url(&format!("/v1/keys/{id}/rotate")))
        .bearer_auth(&a.admin)
        .body("x".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Arrays in place of objects (were read field by field: a rotation
    // happened, a key was created, a verify counted).
    for res in [
        h.post(
            &a.admin,
            &format!("/v1/keys/{id}/rotate"),
            json!([null, null]),
        )
        .await,
        h.post(&a.admin, "/v1/keys", json!(["n", "live", ["read"]]))
            .await,
        h.patch(&a.admin, &format!("/v1/keys/{id}"), json!(["renamed"]))
            .await,
    ] {
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let res = h.verify(json!(["to_live_x"])).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let keys: Value = h.get(&a.admin, "/v1/keys").await.json().await.unwrap();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        2,
        "nothing was created"
    );
    // `null` is "no options" for rotate, as the document says.
    let res = h
        .post(&a.admin, &format!("/v1/keys/{id}/rotate"), Value::Null)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// The served document lists every route (`/v1` and the load balancers'
/// two) with the errors it can give
/// (the details are unit-tested in `http::openapi`).
#[tokio::test]
async fn openapi_lists_every_route() {
    let h = Harness::new().await;
    let res = h.get("", "/v1/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type").unwrap(), "application/json");
    let doc: Value = res.json().await.unwrap();
    let mut ops: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            "DELETE /v1/keys/{id}/restrictions/proposal",
            "DELETE /v1/operator/accounts/{id}",
            "DELETE /v1/webhooks/{id}",
            "GET /healthz",
            "GET /readyz",
            "GET /v1/account",
            "GET /v1/alerts",
            "GET /v1/audit",
            "GET /v1/keys",
            "GET /v1/keys/{id}",
            "GET /v1/keys/{id}/suggestions",
            "GET /v1/keys/{id}/usage",
            "GET /v1/keys/{id}/usage.csv",
            "GET /v1/openapi.json",
            "GET /v1/operator/accounts",
            "GET /v1/operator/accounts/{id}",
            "GET /v1/usage",
            "GET /v1/webhooks",
            "GET /v1/webhooks/{id}",
            "GET /v1/webhooks/{id}/deliveries",
            "PATCH /v1/account",
            "PATCH /v1/keys/{id}",
            "PATCH /v1/operator/accounts/{id}",
            "PATCH /v1/webhooks/{id}",
            "POST /v1/account/alerts/preview",
            "POST /v1/alerts/{id}/ack",
            "POST /v1/enroll",
            "POST /v1/enroll/preview",
            "POST /v1/keys",
            "POST /v1/keys/lookup",
            "POST /v1/keys/{id}/quarantine",
            "POST /v1/keys/{id}/release",
            "POST /v1/keys/{id}/restrictions/proposal/enforce",
            "POST /v1/keys/{id}/restrictions/replay",
            "POST /v1/keys/{id}/revoke",
            "POST /v1/keys/{id}/rotate",
            "POST /v1/leaks",
            "POST /v1/operator/accounts",
            "POST /v1/operator/accounts/{id}/enrollments",
            "POST /v1/verify",
            "POST /v1/webhooks",
            "POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            "POST /v1/webhooks/{id}/test",
            "PUT /v1/keys/{id}/restrictions/proposal",
        ]
    );
}
