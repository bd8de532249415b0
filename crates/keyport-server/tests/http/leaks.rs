//! Quarantine, and leak reports that act on it: signed reports in GitHub's
//! secret scanning format quarantine (or, per account policy, revoke) a
//! reported live key at once, with an alert and a `leak.reported` webhook.

use base64::Engine;
use keyport_core::{Environment, KeyHash, KeyPrefix, Plan};
use keyport_server::leaks::LeakKeys;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::common::*;
use crate::webhooks::Receiver;

async fn verify(h: &Harness, key: &str, scope: &str) -> reqwest::Response {
    h.verify(json!({"key": key, "scope": scope})).await
}

#[tokio::test]
async fn a_quarantined_key_only_reads_slowly_until_released() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let (key, raw) = h.key_with_scopes(&acc.admin, &["read", "write"], &[]).await;
    let id = key["id"].as_str().unwrap();
    assert_eq!(verify(&h, &raw, "write").await.status(), StatusCode::OK);

    let res = h
        .post(
            &acc.admin,
            &format!("/v1/keys/{id}/quarantine"),
            json!({"reason": "seen in a gist"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["quarantine"]["reason"], "seen in a gist");
    assert_eq!(v["quarantine"]["source"], "manual");
    assert_eq!(v["status"], "active");
    assert_eq!(
        v["scopes"],
        json!(["read", "write"]),
        "what the key holds is unchanged"
    );

    let msg = expect_error(
        verify(&h, &raw, "write").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(
        msg.contains("quarantined") && msg.contains("seen in a gist"),
        "{msg}"
    );
    let res = verify(&h, &raw, "read").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("10"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scopes"], json!(["read"]));
    let mut limited = false;
    for _ in 0..20 {
        if verify(&h, &raw, "read").await.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "a quarantined key is slowed to 10 a minute");

    // Rotating is the way out: the replacement is clean.
    let res = h
        .post(&acc.admin, &format!("/v1/keys/{id}/rotate"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let rotated: Value = res.json().await.unwrap();
    assert!(rotated["key"]["quarantine"].is_null());
    let new_raw = rotated["secret"].as_str().unwrap();
    assert_eq!(verify(&h, new_raw, "write").await.status(), StatusCode::OK);

    let res = h
        .post(&acc.admin, &format!("/v1/keys/{id}/release"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["quarantine"].is_null());
    h.advance(60);
    assert_eq!(verify(&h, &raw, "write").await.status(), StatusCode::OK);

    // An admin key cannot be made read-only: it is revoked instead.
    let admin_id = h
        .get(&acc.admin, "/v1/account")
        .await
        .json::<Value>()
        .await
        .unwrap()["credential_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = h
        .post(
            &acc.admin,
            &format!("/v1/keys/{admin_id}/quarantine"),
            json!({"reason": "x"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    let audit: Value = h.get(&acc.admin, "/v1/audit").await.json().await.unwrap();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"key.quarantine") && actions.contains(&"key.release"),
        "{actions:?}"
    );
}

/// A reporter's key pair and the server's key list for it.
fn reporter() -> (SigningKey, Arc<LeakKeys>) {
    let signer = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let list =
        json!({"public_keys": [{"key_identifier": "gh-2026", "key": pem, "is_current": true}]});
    (
        signer,
        Arc::new(LeakKeys::from_json(&list.to_string()).unwrap()),
    )
}

fn sign(signer: &SigningKey, body: &[u8]) -> String {
    let sig: Signature = signer.sign(body);
    base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
}

async fn report(h: &Harness, key_id: &str, signature: &str, body: &str) -> reqwest::Response {
    h.http
        .post(h.url("/v1/leaks"))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", key_id)
        .header("Github-Public-Key-Signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reported_live_key_is_quarantined_or_revoked_with_an_alert() {
    let mut h = Harness::new().await;
    let (signer, keys) = reporter();
    h.leak_keys = Some(keys);
    h.restart().await;
    let a = h.account(Plan::Starter).await;
    let b = h.account(Plan::Starter).await;
    let rx = Receiver::start(200).await;
    let res = h
        .post(
            &a.admin,
            "/v1/webhooks",
            json!({"url": rx.url, "events": ["leak.reported", "key.quarantined"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = h
        .patch(&b.admin, "/v1/account", json!({"leak_policy": "revoke"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["settings"]["leak_policy"],
        "revoke"
    );

    let (ka, raw_a) = h.key_with_scopes(&a.admin, &["read", "write"], &[]).await;
    let (kb, raw_b) = h.key_with_scopes(&b.admin, &["read"], &[]).await;
    let unknown = KeyPrefix::default().generate(Environment::Live, &mut rand::rngs::OsRng);
    let url = "https://github.com/acme/app/blob/abc123/.env";
    let body = json!([
        {"token": raw_a, "type": "keyport_live_key", "url": url, "source": "commit"},
        {"token": raw_b, "type": "keyport_live_key", "url": "https://gist.github.com/x", "source": "gist"},
        {"token": unknown.expose(), "type": "keyport_live_key", "url": url, "source": "commit"},
        {"token": "to_live_nonsense", "type": "keyport_live_key", "url": url, "source": "commit"},
    ])
    .to_string();
    let res = report(&h, "gh-2026", &sign(&signer, body.as_bytes()), &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let tokens: [&str; 3] = [&raw_a, &raw_b, unknown.expose()];
    for raw in tokens {
        assert!(!text.contains(raw), "the answer echoes a token");
    }
    let answer: Value = serde_json::from_str(&text).unwrap();
    let labels: Vec<&str> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive"
        ]
    );
    assert_eq!(answer[0]["token_hash"], KeyHash::of(&raw_a).to_hex());

    // A (quarantine, the default): read-only from the next request.
    expect_error(
        verify(&h, &raw_a, "write").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(verify(&h, &raw_a, "read").await.status(), StatusCode::OK);
    let key: Value = h
        .get(
            &a.admin,
            &format!("/v1/keys/{}", ka["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["quarantine"]["source"], "leak_report");
    assert!(key["quarantine"]["reason"].as_str().unwrap().contains(url));
    let alerts: Value = h.get(&a.admin, "/v1/alerts").await.json().await.unwrap();
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["kind"], "leak_reported");
    assert_eq!(alert["key_id"], ka["id"]);
    assert_eq!(alert["evidence"]["url"], url);
    assert_eq!(alert["evidence"]["action"], "quarantined");
    let hook = rx.wait_for("leak.reported", 1).await;
    assert_eq!(hook[0].json()["data"]["alert"]["evidence"]["url"], url);
    assert!(!hook[0].json().to_string().contains(&raw_a));
    rx.wait_for("key.quarantined", 1).await;

    // B (revoke): gone at once.
    expect_error(
        verify(&h, &raw_b, "read").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let key: Value = h
        .get(
            &b.admin,
            &format!("/v1/keys/{}", kb["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["status"], "revoked");
    let alerts: Value = h.get(&b.admin, "/v1/alerts").await.json().await.unwrap();
    assert_eq!(alerts["alerts"][0]["evidence"]["action"], "revoked");

    // Reported again: still a live key, still one open alert.
    let again =
        json!([{"token": raw_a, "type": "keyport_live_key", "url": url, "source": "commit"}])
            .to_string();
    let res = report(&h, "gh-2026", &sign(&signer, again.as_bytes()), &again).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()[0]["label"],
        "true_positive"
    );
    let alerts: Value = h.get(&a.admin, "/v1/alerts").await.json().await.unwrap();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1);
    // Revoked now: a report of it is a false positive.
    let again = json!([{"token": raw_b, "type": "t", "url": "u", "source": "s"}]).to_string();
    let res = report(&h, "gh-2026", &sign(&signer, again.as_bytes()), &again).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()[0]["label"],
        "false_positive"
    );
}

#[tokio::test]
async fn leak_reports_need_a_valid_signature() {
    let mut h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let (_, raw) = h.key_with_scopes(&acc.admin, &["read"], &[]).await;
    let body = json!([{"token": raw, "type": "t", "url": "u", "source": "s"}]).to_string();
    let (signer, keys) = reporter();
    // A server without a key list takes no reports.
    let res = report(&h, "gh-2026", &sign(&signer, body.as_bytes()), &body).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    h.leak_keys = Some(keys);
    h.restart().await;
    let (stranger, _) = reporter();
    let good = sign(&signer, body.as_bytes());
    for (id, sig, sent) in [
        ("gh-2026", String::new(), body.clone()),
        ("other", good.clone(), body.clone()),
        ("gh-2026", sign(&stranger, body.as_bytes()), body.clone()),
        ("gh-2026", good.clone(), body.replace("\"u\"", "\"v\"")),
    ] {
        let res = report(&h, id, &sig, &sent).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(
        verify(&h, &raw, "read").await.status(),
        StatusCode::OK,
        "nothing was done"
    );
    let not_json = "{\"token\": 1}";
    let res = report(&h, "gh-2026", &sign(&signer, not_json.as_bytes()), not_json).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}
