//! The service client against a real key service on loopback and a stub:
//! every HTTP failure becomes the contract's error code with a safe message.

mod common;

use common::{dead_port, new_admin_shaped_key, Remote, Stub};
use keyport_core::{Environment, KeyHash, Scope, SecretKey};
use keyport_portal::client::{normalize_service_url, ServiceClient};
use keyport_portal::{PortalError, PortalErrorCode};
use keyport_server::model::{CreateKeyRequest, UpdateKeyRequest};

fn client(url: &str, key: SecretKey) -> ServiceClient {
    ServiceClient::new(normalize_service_url(url).unwrap(), key).unwrap()
}

fn request(name: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.into(),
        environment: Environment::Test,
        scopes: vec![Scope::Read],
        resources: vec![],
        expires_at: None,
        rate_limit: None,
        key_hash: None,
        last4: None,
    }
}

#[tokio::test]
async fn talks_to_a_real_service() {
    let remote = Remote::start().await;
    let (name, admin) = remote.account("Acme").await;
    let c = client(&format!("{}/v1/", remote.url), admin);
    assert_eq!(c.service_url(), remote.url);
    assert_eq!(c.key_prefix().unwrap().as_str(), "to");

    let account = c.account().await.unwrap();
    assert_eq!(account.name, name);

    let secret =
        keyport_core::KeyPrefix::default().generate(Environment::Test, &mut rand::rngs::OsRng);
    let mut req = request("ci");
    req.key_hash = Some(KeyHash::of(secret.expose()).to_hex());
    req.last4 = Some(secret.last4());
    let created = c.create_key(&req).await.unwrap();
    assert!(created.secret.is_none());
    assert_eq!(created.key.last4, secret.last4());

    let list = c.list_keys(None).await.unwrap();
    assert_eq!(list.keys.len(), 2, "admin key and the new one");
    assert_eq!(list.keys[0].id, created.key.id, "newest first");

    let patched = c
        .update_key(
            &created.key.id,
            &UpdateKeyRequest {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "renamed");
    assert_eq!(c.get_key(&created.key.id).await.unwrap().name, "renamed");

    let revoked = c.revoke_key(&created.key.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());

    let audit = c.audit_log(None).await.unwrap();
    let actions: Vec<&str> = audit.events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"key.revoke"), "{actions:?}");
}

#[tokio::test]
async fn maps_real_service_errors() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let c = client(&remote.url, admin);

    // 404: another id
    let e = c.get_key("key_nope").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotFound);

    // 422: a bad name
    let e = c.create_key(&request("   ")).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(e.to_string().contains("name"), "{e}");

    // 409: changing a revoked key
    let created = c.create_key(&request("k")).await.unwrap();
    c.revoke_key(&created.key.id).await.unwrap();
    let e = c
        .update_key(
            &created.key.id,
            &UpdateKeyRequest {
                name: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Conflict);

    // 400: a cursor the API never gave out
    let e = c.list_keys(Some("not-a-cursor")).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);

    // 401: a key the service does not know; the message never shows it
    let stranger = new_admin_shaped_key();
    let raw = stranger.expose().to_string();
    let e = client(&remote.url, stranger).account().await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unauthorized);
    assert!(e.to_string().contains("Sign in again"), "{e}");
    assert!(!e.to_string().contains(&raw));
    assert!(!serde_json::to_string(&e).unwrap().contains(&raw));
}

#[tokio::test]
async fn unreachable_service() {
    let url = format!("http://127.0.0.1:{}", dead_port());
    let e = client(&url, new_admin_shaped_key())
        .account()
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable);
    assert!(e.to_string().contains(&url), "{e}");
}

#[tokio::test]
async fn maps_stub_statuses() {
    let stub = Stub::start().await;
    let c = client(&stub.url, new_admin_shaped_key());
    let cases = [
        ("401", PortalErrorCode::Unauthorized),
        ("403", PortalErrorCode::Forbidden),
        ("404", PortalErrorCode::NotFound),
        ("409", PortalErrorCode::Conflict),
        ("400", PortalErrorCode::Invalid),
        ("413", PortalErrorCode::Invalid),
        ("422", PortalErrorCode::Invalid),
        ("500", PortalErrorCode::Internal),
        ("plain-500", PortalErrorCode::Internal),
        ("502", PortalErrorCode::Unreachable),
        ("503", PortalErrorCode::Unreachable),
        ("504", PortalErrorCode::Unreachable),
        ("html", PortalErrorCode::Internal),
    ];
    for (id, code) in cases {
        let e = c.get_key(id).await.unwrap_err();
        assert_eq!(e.code(), code, "{id}: {e:?}");
        assert!(!e.to_string().is_empty());
    }
    // The server's own message is passed on where it helps.
    let e = c.get_key("409").await.unwrap_err();
    assert_eq!(e.to_string(), "server says 409");
}

#[tokio::test]
async fn rate_limited_carries_retry_after() {
    let stub = Stub::start().await;
    let c = client(&stub.url, new_admin_shaped_key());
    let e = c.get_key("429").await.unwrap_err();
    assert_eq!(
        e,
        PortalError::RateLimited {
            message: "Too many requests: try again in 7 s.".into(),
            retry_after: Some(7)
        }
    );
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        serde_json::json!({"code": "rate_limited", "message": "Too many requests: try again in 7 s.", "retry_after": 7})
    );
    let e = c.get_key("429-no-header").await.unwrap_err();
    assert_eq!(e.retry_after(), None);
    assert_eq!(e.code(), PortalErrorCode::RateLimited);
}

#[tokio::test]
async fn server_messages_with_keys_or_the_credential_are_not_shown() {
    let stub = Stub::start().await;
    let admin = new_admin_shaped_key();
    let raw = admin.expose().to_string();
    let c = client(&stub.url, admin);

    let e = c.get_key("echo-credential").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotFound);
    assert!(!e.to_string().contains(&raw), "{e}");
    assert_eq!(e.to_string(), "Not found.");

    let e = c.get_key("key-shaped").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(!e.to_string().contains("to_live_"), "{e}");
}
