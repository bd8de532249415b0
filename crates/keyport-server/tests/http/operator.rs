//! The vendor's side: operator tokens, accounts and plans, suspension,
//! deletion, and enrollment codes (onboarding and recovery without a
//! secret ever leaving the customer's machine).

use crate::common::*;
use keyport_core::{enrollment, Environment, KeyHash, KeyPrefix, Plan};
use rand::rngs::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A new operator token (as the CLI makes them).
async fn operator(h: &Harness) -> String {
    let (_, secret) = h
        .server()
        .service()
        .create_operator_token("ops")
        .await
        .unwrap();
    secret.expose().to_string()
}

async fn delete(h: &Harness, key: &str, path: &str) -> reqwest::Response {
    h.http
        .delete(h.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Creates an account through the operator API: (account JSON, enrollment JSON).
async fn op_account(h: &Harness, op: &str, plan: &str) -> (Value, Value) {
    let res = h
        .post(
            op,
            "/v1/operator/accounts",
            json!({"name": "Acme Corp", "plan": plan, "external_id": format!("cus_{plan}")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (v["account"].clone(), v["enrollment"].clone())
}

/// A key made "on the customer's machine": (raw key, its hash, last four).
fn client_key() -> (String, String, String) {
    let secret = KeyPrefix::default().generate(Environment::Live, &mut OsRng);
    let raw = secret.expose().to_string();
    (
        raw.clone(),
        KeyHash::of(&raw).to_hex(),
        raw[raw.len() - 4..].to_string(),
    )
}

async fn enroll(h: &Harness, code: &str, revoke: bool) -> (reqwest::Response, String) {
    let (raw, hash, last4) = client_key();
    let res = h
        .http
        .post(h.url("/v1/enroll"))
        .json(&json!({"code": code, "key_hash": hash, "last4": last4,
            "revoke_other_admin_keys": revoke}))
        .send()
        .await
        .unwrap();
    (res, raw)
}

/// Enrolls and returns the new admin key.
async fn enrolled_admin(h: &Harness, code: &str, revoke: bool) -> (Value, String) {
    let (res, raw) = enroll(h, code, revoke).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (res.json().await.unwrap(), raw)
}

async fn new_code(h: &Harness, op: &str, account: &str) -> String {
    let res = h
        .post(
            op,
            &format!("/v1/operator/accounts/{account}/enrollments"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["code"].as_str().unwrap().to_string()
}

async fn verify_status(h: &Harness, key: &str) -> StatusCode {
    h.verify(json!({"key": key})).await.status()
}

async fn audit_actions(h: &Harness, admin: &str) -> Vec<Value> {
    let v: Value = h
        .get(admin, "/v1/audit?limit=100")
        .await
        .json()
        .await
        .unwrap();
    v["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn operator_endpoints_take_operator_tokens_only_and_nothing_else_takes_them() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let acct = h.account(Plan::Starter).await;
    let (_, ordinary) = h.key_with_scopes(&acct.admin, &["read"], &[]).await;
    let (created, _) = op_account(&h, &op, "free").await;
    let id = created["id"].as_str().unwrap();
    let paths: Vec<(&str, String, Value)> = vec![
        ("GET", "/v1/operator/accounts".into(), Value::Null),
        ("GET", format!("/v1/operator/accounts/{id}"), Value::Null),
        (
            "PATCH",
            format!("/v1/operator/accounts/{id}"),
            json!({"name": "Renamed"}),
        ),
        (
            "POST",
            format!("/v1/operator/accounts/{id}/enrollments"),
            json!({}),
        ),
        (
            "POST",
            "/v1/operator/accounts".into(),
            json!({"name": "X", "plan": "free"}),
        ),
    ];
    for (method, path, body) in &paths {
        let send = |cred: Option<&str>| {
            let mut req = h
                .http
                .request(method.parse().unwrap(), h.url(path))
                .json(body);
            if let Some(c) = cred {
                req = req.bearer_auth(c);
            }
            req.send()
        };
        for (who, cred) in [
            ("none", None),
            ("an admin key", Some(acct.admin.as_str())),
            ("an ordinary key", Some(ordinary.as_str())),
            ("a mangled token", Some(&op[..op.len() - 1])),
        ] {
            let res = send(cred).await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {who}"
            );
        }
        let res = send(Some(&op)).await.unwrap();
        assert!(
            res.status().is_success(),
            "{method} {path} with the operator token: {}",
            res.status()
        );
    }
    // An operator token is no account credential, and verifies as nothing.
    assert_eq!(
        h.get(&op, "/v1/account").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.get(&op, "/v1/keys").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verify_status(&h, &op).await, StatusCode::UNAUTHORIZED);
    // Revoked from the CLI: refused from the next request.
    let svc = h.server().service();
    let token_id = svc.operator_tokens().await.unwrap()[0].id.clone();
    svc.revoke_operator_token(&token_id).await.unwrap();
    assert_eq!(
        h.get(&op, "/v1/operator/accounts").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn accounts_are_created_listed_searched_and_shown_with_their_usage() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let (a, enrollment) = op_account(&h, &op, "starter").await;
    assert_eq!(a["plan"], "starter");
    assert_eq!(a["external_id"], "cus_starter");
    assert_eq!(a["admin_keys"], 0, "no key exists before enrollment");
    assert_eq!(a["active_keys"], 0);
    assert_eq!(a["limits"]["per_minute"], 60);
    assert_eq!(a["key_cap"], 25);
    let link = enrollment["link"].as_str().unwrap();
    let parsed = enrollment::parse_link(link).unwrap();
    assert_eq!(parsed.service_url, h.base, "the link names this service");
    assert_eq!(parsed.code, enrollment["code"].as_str().unwrap());
    // A duplicate external id is a conflict.
    let res = h
        .post(
            &op,
            "/v1/operator/accounts",
            json!({"name": "Other", "plan": "free", "external_id": "cus_starter"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let (b, _) = op_account(&h, &op, "professional").await;
    h.advance(1);
    let (c, _) = op_account(&h, &op, "enterprise").await;

    let list: Value = h
        .get(&op, "/v1/operator/accounts")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], c["id"].as_str().unwrap(), "newest first");
    assert_eq!(ids.len(), 3);
    let found: Value = h
        .get(&op, "/v1/operator/accounts?search=CUS_PROF")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(found["accounts"][0]["id"], b["id"]);
    // Paging.
    let p1: Value = h
        .get(&op, "/v1/operator/accounts?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2: Value = h
        .get(
            &op,
            &format!("/v1/operator/accounts?limit=2&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p2["accounts"].as_array().unwrap().len(), 1);
    assert!(p2["next_cursor"].is_null());

    // Usage today: the enrolled admin key's verifies show up after a flush.
    let (_, admin) = enrolled_admin(&h, enrollment["code"].as_str().unwrap(), false).await;
    let (_, key) = h.key_with_scopes(&admin, &["read"], &[]).await;
    for _ in 0..3 {
        assert_eq!(verify_status(&h, &key).await, StatusCode::OK);
    }
    h.server().service().flush().await.unwrap();
    let got: Value = h
        .get(
            &op,
            &format!("/v1/operator/accounts/{}", a["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["usage_today"]["admitted"], 3);
    assert_eq!(got["usage_month"]["total"], 3);
    assert_eq!(got["admin_keys"], 1);
    assert_eq!(got["active_keys"], 2);
}

#[tokio::test]
async fn a_plan_change_applies_to_the_very_next_verify() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let acct = h.account(Plan::Free).await;
    let (_, key) = h.key_with_scopes(&acct.admin, &["read"], &[]).await;
    let res = h.verify(json!({"key": key})).await;
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("10"));
    let res = h
        .patch(
            &op,
            &format!("/v1/operator/accounts/{}", acct.id),
            json!({"plan": "professional"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["limits"]["per_minute"], 300);
    let res = h.verify(json!({"key": key})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("300"));
    let policy = header(&res, "ratelimit-policy").unwrap();
    assert!(
        policy.contains("q=300") && policy.contains("q=100000"),
        "{policy}"
    );
    // The customer sees the new plan, and why it changed.
    let account: Value = h
        .get(&acct.admin, "/v1/account")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["plan"], "professional");
    let events = audit_actions(&h, &acct.admin).await;
    let change = events
        .iter()
        .find(|e| e["action"] == "account.operator_update")
        .expect("the plan change is audited");
    assert!(change["actor"].as_str().unwrap().starts_with("opr_"));
    assert_eq!(change["detail"]["plan"]["from"], "free");
    assert_eq!(change["detail"]["plan"]["to"], "professional");
    assert_eq!(change["detail"]["operator"], "ops");
}

#[tokio::test]
async fn limit_and_key_cap_overrides_replace_the_plans() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let acct = h.account(Plan::Free).await;
    let path = format!("/v1/operator/accounts/{}", acct.id);
    let v: Value = h
        .patch(
            &op,
            &path,
            json!({"rate_limit": {"per_minute": 5000, "burst": 6000}, "key_cap": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["limits"]["per_minute"], 5000);
    assert_eq!(v["limits"]["per_day"], 1000, "the plan's, not overridden");
    assert_eq!(v["key_cap"], 2);
    assert_eq!(v["key_cap_override"], 2);
    let (_, key) = h.key_with_scopes(&acct.admin, &["read"], &[]).await;
    let res = h.verify(json!({"key": key})).await;
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("5000"));
    // The admin key and this one: the override's cap of 2 is reached.
    let res = h
        .post(
            &acct.admin,
            "/v1/keys",
            json!({"name": "third", "environment": "live", "scopes": ["read"]}),
        )
        .await;
    let msg = expect_error(res, StatusCode::CONFLICT, "limit_exceeded").await;
    assert!(msg.contains("allows 2"), "{msg}");
    // A key's own limit may now go up to the account's override.
    let res = h
        .patch(
            &acct.admin,
            &format!("/v1/keys/{}", {
                let keys: Value = h.get(&acct.admin, "/v1/keys").await.json().await.unwrap();
                keys["keys"][0]["id"].as_str().unwrap().to_string()
            }),
            json!({"rate_limit": {"per_minute": 4000}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Cleared: back to the plan.
    let v: Value = h
        .patch(&op, &path, json!({"rate_limit": null, "key_cap": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["limits"]["per_minute"], 10);
    assert_eq!(v["key_cap"], 5);
    assert!(v["key_cap_override"].is_null());
    // Bad values name the field.
    let res = h.patch(&op, &path, json!({"key_cap": 0})).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let res = h
        .patch(&op, &path, json!({"rate_limit": {"per_day": 0}}))
        .await;
    let msg = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(msg.contains("per_day"), "{msg}");
    let res = h.patch(&op, &path, json!({"suspended": true})).await;
    let msg = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(msg.contains("suspension_reason"), "{msg}");
}

#[tokio::test]
async fn suspension_refuses_keys_says_why_and_resuming_restores_everything() {
    let (url, _seen) = crate::gateway::upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let op = operator(&h).await;
    let acct = h.account(Plan::Starter).await;
    let (_, key) = h.key_with_scopes(&acct.admin, &["read"], &[]).await;
    let gateway = |k: &str| {
        h.http
            .get(h.url("/items/1"))
            .bearer_auth(k.to_string())
            .send()
    };
    assert_eq!(gateway(&key).await.unwrap().status(), StatusCode::OK);
    let path = format!("/v1/operator/accounts/{}", acct.id);
    let v: Value = h
        .patch(
            &op,
            &path,
            json!({"suspended": true, "suspension_reason": "invoice 1042 is unpaid"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["suspended"]["reason"], "invoice 1042 is unpaid");

    let msg = expect_error(
        h.verify(json!({"key": key})).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert!(msg.contains("invoice 1042"), "{msg}");
    expect_error(
        gateway(&key).await.unwrap(),
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    let msg = expect_error(
        h.get(&acct.admin, "/v1/keys").await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert!(
        msg.contains("invoice 1042"),
        "management calls say why: {msg}"
    );

    let v: Value = h
        .patch(&op, &path, json!({"suspended": false}))
        .await
        .json()
        .await
        .unwrap();
    assert!(v["suspended"].is_null());
    assert_eq!(verify_status(&h, &key).await, StatusCode::OK);
    assert_eq!(gateway(&key).await.unwrap().status(), StatusCode::OK);
    let keys: Value = h.get(&acct.admin, "/v1/keys").await.json().await.unwrap();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        2,
        "nothing was deleted"
    );
    let actions: Vec<String> = audit_actions(&h, &acct.admin)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"account.suspend".to_string()));
    assert!(actions.contains(&"account.resume".to_string()));
}

#[tokio::test]
async fn deleting_an_account_revokes_its_keys_and_keeps_its_audit_log() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let acct = h.account(Plan::Starter).await;
    let (_, key) = h.key_with_scopes(&acct.admin, &["read"], &[]).await;
    assert_eq!(verify_status(&h, &key).await, StatusCode::OK);
    let path = format!("/v1/operator/accounts/{}", acct.id);
    let res = delete(&h, &op, &path).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["revoked_keys"], 2);
    assert_eq!(verify_status(&h, &key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get(&acct.admin, "/v1/account").await.status(),
        StatusCode::UNAUTHORIZED
    );
    expect_error(h.get(&op, &path).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(
        delete(&h, &op, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list: Value = h
        .get(&op, "/v1/operator/accounts")
        .await
        .json()
        .await
        .unwrap();
    assert!(list["accounts"].as_array().unwrap().is_empty());
    let n =
        h.db.scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE account_id = '{}'",
            acct.id
        ))
        .await;
    assert!(n.as_i64().unwrap() >= 4, "the audit log is kept: {n}");
    // Survives a restart too: the keys stay refused.
    let mut h = h;
    h.restart().await;
    assert_eq!(verify_status(&h, &key).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_enrollment_code_registers_a_key_made_by_the_customer_once() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let (a, e) = op_account(&h, &op, "starter").await;
    let code = e["code"].as_str().unwrap();
    let preview: Value = h
        .http
        .post(h.url("/v1/enroll/preview"))
        .json(&json!({"code": code.to_lowercase().replace('-', " ")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(preview["account_name"], "Acme Corp");
    assert_eq!(preview["account_id"], a["id"]);
    assert_eq!(preview["plan"], "starter");
    assert_eq!(preview["key_prefix"], "to");
    assert_eq!(preview["admin_keys"], 0);

    let (v, admin) = enrolled_admin(&h, code, false).await;
    assert_eq!(v["key"]["scopes"], json!(["admin"]));
    assert_eq!(v["account"]["credential_key_id"], v["key"]["id"]);
    let account: Value = h.get(&admin, "/v1/account").await.json().await.unwrap();
    assert_eq!(account["id"], a["id"], "the customer's own key works");
    let events = audit_actions(&h, &admin).await;
    let redeem = events
        .iter()
        .find(|e| e["action"] == "enrollment.redeem")
        .unwrap();
    assert_eq!(redeem["actor"], v["key"]["id"]);
    assert!(events.iter().any(|e| e["action"] == "enrollment.create"));
    assert!(events.iter().any(|e| e["action"] == "account.create"));

    // A code works once.
    let (res, _) = enroll(&h, code, false).await;
    let msg = expect_error(res, StatusCode::FORBIDDEN, "enrollment_code_invalid").await;
    assert!(msg.contains("already used"), "{msg}");
    // The code itself cannot call the API.
    assert_eq!(
        h.get(code, "/v1/account").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.get(code, "/v1/operator/accounts").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A bad key hash is refused without using the code.
    let fresh = new_code(&h, &op, a["id"].as_str().unwrap()).await;
    let res = h
        .http
        .post(h.url("/v1/enroll"))
        .json(&json!({"code": fresh, "key_hash": "abc", "last4": "abcd"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let (res, _) = enroll(&h, &fresh, false).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn expired_and_wrong_codes_get_one_clear_error_each() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let (_, e) = op_account(&h, &op, "free").await;
    let (res, _) = enroll(&h, "7K3QM-X9D2A-BC4EF-GH5JK", false).await;
    let msg = expect_error(res, StatusCode::FORBIDDEN, "enrollment_code_invalid").await;
    assert!(msg.contains("not valid"), "{msg}");
    let (res, _) = enroll(&h, "not a code at all", false).await;
    expect_error(res, StatusCode::FORBIDDEN, "enrollment_code_invalid").await;
    h.advance(24 * 3600 + 1);
    let (res, _) = enroll(&h, e["code"].as_str().unwrap(), false).await;
    let msg = expect_error(res, StatusCode::FORBIDDEN, "enrollment_code_invalid").await;
    assert!(msg.contains("expired"), "{msg}");
    // Validity is the creator's to choose (1 to 720 hours).
    let res = h
        .post(
            &op,
            "/v1/operator/accounts",
            json!({"name": "B", "plan": "free", "enrollment_hours": 0}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test]
async fn failed_enrollment_attempts_are_throttled_per_source() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let (_, e) = op_account(&h, &op, "free").await;
    let code = e["code"].as_str().unwrap();
    for i in 0..keyport_server::operator::ATTEMPTS_PER_WINDOW {
        let wrong = enrollment::generate(&mut OsRng);
        let (res, _) = enroll(&h, wrong.expose(), false).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "attempt {i}");
    }
    // Now even the right code waits, and so does the preview.
    let (res, _) = enroll(&h, code, false).await;
    let retry = header(&res, "retry-after").unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert!(retry.parse::<u64>().unwrap() > 800, "{retry}");
    let res = h
        .http
        .post(h.url("/v1/enroll/preview"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    h.advance(keyport_server::operator::ATTEMPT_WINDOW_SECS);
    let (res, _) = enroll(&h, code, false).await;
    assert_eq!(res.status(), StatusCode::CREATED, "the window ended");
}

#[tokio::test]
async fn recovery_registers_a_new_admin_key_and_may_revoke_the_others() {
    let h = Harness::new().await;
    let op = operator(&h).await;
    let (a, e) = op_account(&h, &op, "starter").await;
    let id = a["id"].as_str().unwrap();
    let (_, first) = enrolled_admin(&h, e["code"].as_str().unwrap(), false).await;
    let (_, ordinary) = h.key_with_scopes(&first, &["read"], &[]).await;

    // A second person: both admin keys keep working.
    let (v, second) = enrolled_admin(&h, &new_code(&h, &op, id).await, false).await;
    assert!(v["revoked_key_ids"].as_array().unwrap().is_empty());
    assert_eq!(h.get(&first, "/v1/account").await.status(), StatusCode::OK);
    assert_eq!(h.get(&second, "/v1/account").await.status(), StatusCode::OK);

    // A lost machine: the new key replaces every other admin key at once.
    let code = new_code(&h, &op, id).await;
    let preview: Value = h
        .http
        .post(h.url("/v1/enroll/preview"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(preview["admin_keys"], 2);
    let (v, third) = enrolled_admin(&h, &code, true).await;
    assert_eq!(v["revoked_key_ids"].as_array().unwrap().len(), 2);
    for old in [&first, &second] {
        assert_eq!(
            h.get(old, "/v1/account").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(h.get(&third, "/v1/account").await.status(), StatusCode::OK);
    assert_eq!(
        verify_status(&h, &ordinary).await,
        StatusCode::OK,
        "ordinary keys are not touched"
    );
    let events = audit_actions(&h, &third).await;
    let revokes: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "key.revoke")
        .collect();
    assert_eq!(revokes.len(), 2);
    for r in revokes {
        assert_eq!(r["actor"], v["key"]["id"]);
        assert_eq!(r["detail"]["reason"], "recovery with an enrollment code");
    }
}

/// The real binary: `account create --enroll` prints a code and a link but
/// no key; the customer's key reaches neither the database nor the logs,
/// nor does the code.
#[tokio::test]
async fn the_cli_enrolls_without_printing_a_secret_and_nothing_raw_is_stored_or_logged() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path()).await;
    let db = test_db.url();
    let out = Command::new(env!("CARGO_BIN_EXE_keyport-server"))
        .args([
            "account",
            "create",
            "--name",
            "Acme",
            "--plan",
            "starter",
            "--enroll",
            "--external-id",
            "cus_42",
            "--public-url",
            "https://keys.example.com/",
            "--json",
            "--database",
            &db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(&printed).unwrap();
    let code = v["enrollment"]["code"].as_str().unwrap().to_string();
    let link = enrollment::parse_link(v["enrollment"]["link"].as_str().unwrap()).unwrap();
    assert_eq!(link.service_url, "https://keys.example.com");
    assert_eq!(v["account"]["external_id"], "cus_42");
    assert!(
        !printed.contains("to_live_"),
        "no key is printed: {printed}"
    );

    let log = dir.path().join("server.log");
    let (mut child, addr) = crate::hygiene::spawn_server(&db, None, &log);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let (raw, hash, last4) = client_key();
    let res = http
        .post(format!("{base}/v1/enroll"))
        .json(&json!({"code": code, "key_hash": hash, "last4": last4}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = http
        .get(format!("{base}/v1/keys"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the enrolled key works");
    crate::hygiene::sigterm(&mut child);

    let canonical = enrollment::normalize(&code).unwrap();
    let needles = [raw.as_str(), &raw[8..40], code.as_str(), canonical.as_str()];
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("enrollment code redeemed"),
        "logs are written"
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for n in needles {
            assert!(
                !text.contains(n),
                "a raw key or code on disk or in the logs"
            );
        }
    }
    for (table, rows) in test_db.dump().await {
        for row in rows {
            for n in needles {
                assert!(
                    !row.contains(n),
                    "a raw key or code in table {table}: {row}"
                );
            }
        }
    }
    let stored = test_db
        .scalar(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash = '{hash}'"
        ))
        .await;
    assert_eq!(stored, json!(1), "only the hash is stored");
}

/// The CLI's operator commands against a running server on the same
/// database: a token made, listed without its secret, used, revoked (the
/// running server refuses it at once); and `account enroll` for recovery.
#[tokio::test]
async fn operator_tokens_and_recovery_codes_from_the_cli() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path()).await;
    let db = test_db.url();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keyport-server"))
            .args(args)
            .args(["--database", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let made: Value = serde_json::from_str(&cli(&[
        "operator", "token", "create", "--name", "billing", "--json",
    ]))
    .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("to_op_"));
    let listed = cli(&["operator", "token", "list", "--json"]);
    assert!(listed.contains("billing") && listed.contains(made["id"].as_str().unwrap()));
    assert!(!listed.contains(&token), "the list never shows a token");

    let log = dir.path().join("server.log");
    let (mut child, addr) = crate::hygiene::spawn_server(&db, None, &log);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/operator/accounts"))
        .bearer_auth(&token)
        .json(&json!({"name": "Acme", "plan": "starter"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = created["account"]["id"].as_str().unwrap();
    // Recovery from the CLI while the server runs: a second code works too.
    let e: Value = serde_json::from_str(&cli(&["account", "enroll", account, "--json"])).unwrap();
    let (_, hash, last4) = client_key();
    let res = http
        .post(format!("{base}/v1/enroll"))
        .json(&json!({"code": e["code"], "key_hash": hash, "last4": last4}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    cli(&["operator", "token", "revoke", made["id"].as_str().unwrap()]);
    let res = http
        .get(format!("{base}/v1/operator/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "revoked from the next request"
    );
    crate::hygiene::sigterm(&mut child);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!logs.contains(&token[6..40]), "the token is not in the log");
}
