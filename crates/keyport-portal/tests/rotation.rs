//! Rotation from the portal against the real embedded service and a real
//! remote one: replacements generated here, the pasted-key check, the
//! compromised-key flow and the portal's own admin key.

mod common;

use common::{files_containing, Remote, TestPortal};
use keyport_api::{KeyStatus, RateLimitView};
use keyport_core::{Environment, Scope, SecretKey};
use keyport_portal::embedded::{keychain_user, EmbeddedState, STATE_FILE};
use keyport_portal::rotation::{CheckedBy, ROTATIONS_FILE};
use keyport_portal::{MemoryKeychain, NewKeyInput, PortalErrorCode};
use std::sync::Arc;

fn input(name: &str) -> NewKeyInput {
    NewKeyInput {
        name: name.into(),
        environment: Environment::Test,
        scopes: vec![Scope::Read, Scope::Write],
        resources: vec!["project:alpha".into()],
        expires_at: None,
        rate_limit: Some(RateLimitView {
            per_minute: Some(50),
            per_day: None,
            burst: None,
        }),
        allowed_ips: vec![],
    }
}

/// A call within the keys' resources (`project:alpha`).
async fn gateway_status(gateway: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}/projects/alpha/items"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn copy(s: &SecretKey) -> SecretKey {
    SecretKey::new(s.expose().to_string())
}

#[tokio::test]
async fn a_replacement_keeps_the_settings_and_both_keys_work_until_the_old_is_revoked() {
    let t = TestPortal::new();
    let gateway = t.portal.status().await.try_it.unwrap().gateway_url;
    let old = t.portal.create_key(input("billing")).await.unwrap();
    let new = t.portal.rotate_key(&old.key.id).await.unwrap();
    assert!(new.secret.expose().starts_with("to_test_"));
    assert_eq!(new.key.replaces.as_deref(), Some(old.key.id.as_str()));
    assert_eq!(new.key.scopes, old.key.scopes);
    assert_eq!(new.key.resources, old.key.resources);
    assert_eq!(new.key.rate_limit, old.key.rate_limit);
    let old_now = t.portal.get_key(&old.key.id).await.unwrap();
    assert_eq!(old_now.replaced_by.as_deref(), Some(new.key.id.as_str()));
    assert_eq!(gateway_status(&gateway, old.secret.expose()).await, 200);
    assert_eq!(gateway_status(&gateway, new.secret.expose()).await, 200);

    // The local record holds the hash, never the key.
    let info = t.portal.replacement_info(&new.key.id).await;
    assert!(info.generated_here);
    assert_eq!(info.portal_checks, 0);
    assert!(t.config_dir().join(ROTATIONS_FILE).exists());
    for s in [old.secret.expose(), new.secret.expose()] {
        assert!(files_containing(t.dir.path(), s).is_empty());
    }

    t.portal.revoke_key(&old.key.id).await.unwrap();
    assert_eq!(gateway_status(&gateway, old.secret.expose()).await, 401);
    assert_eq!(gateway_status(&gateway, new.secret.expose()).await, 200);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn the_pasted_key_is_checked_by_hash_then_by_the_service() {
    let t = TestPortal::new();
    let old = t.portal.create_key(input("web")).await.unwrap();
    let new = t.portal.rotate_key(&old.key.id).await.unwrap();

    // The old key, pasted by mistake: refused here, never sent.
    let c = t
        .portal
        .check_replacement(&new.key.id, copy(&old.secret))
        .await
        .unwrap();
    assert!(!c.matches && !c.accepted);
    assert!(c.problem.unwrap().contains(&old.key.last4));
    assert_eq!(c.portal_checks, 0, "nothing was sent to the service");

    let c = t
        .portal
        .check_replacement(&new.key.id, copy(&new.secret))
        .await
        .unwrap();
    assert_eq!(c.checked_by, CheckedBy::Hash);
    assert!(c.matches && c.accepted, "{c:?}");
    assert_eq!(c.problem, None);
    assert_eq!(c.portal_checks, 1);
    assert_eq!(
        t.portal.replacement_info(&new.key.id).await.portal_checks,
        1,
        "kept for a restart"
    );

    let e = t
        .portal
        .check_replacement(&new.key.id, SecretKey::new("not a key".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);

    // Revoked since: it matches, and the service says no.
    t.portal.revoke_key(&new.key.id).await.unwrap();
    let c = t
        .portal
        .check_replacement(&new.key.id, copy(&new.secret))
        .await
        .unwrap();
    assert!(c.matches && !c.accepted);
    assert!(c.problem.unwrap().contains("revoked"));

    // The abandoned replacement does not block a new one.
    let again = t.portal.rotate_key(&old.key.id).await.unwrap();
    assert_ne!(again.key.id, new.key.id);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_replacement_made_elsewhere_is_identified_by_the_service() {
    let mut t = TestPortal::new();
    let old = t.portal.create_key(input("ci")).await.unwrap();
    let new = t.portal.rotate_key(&old.key.id).await.unwrap();
    // Another machine's portal has no record of it.
    std::fs::remove_file(t.config_dir().join(ROTATIONS_FILE)).unwrap();
    t.restart().await;
    let c = t
        .portal
        .check_replacement(&new.key.id, copy(&new.secret))
        .await
        .unwrap();
    assert_eq!(c.checked_by, CheckedBy::Service);
    assert!(c.matches && c.accepted);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_compromised_key_is_revoked_at_once_and_replaced() {
    let t = TestPortal::new();
    let gateway = t.portal.status().await.try_it.unwrap().gateway_url;
    let old = t.portal.create_key(input("leaked")).await.unwrap();
    let r = t.portal.rotate_compromised(&old.key.id).await.unwrap();
    assert!(r.old_revoked);
    assert_eq!(r.problem, None);
    assert_eq!(gateway_status(&gateway, old.secret.expose()).await, 401);
    assert_eq!(gateway_status(&gateway, r.once.secret.expose()).await, 200);
    assert_eq!(
        t.portal.get_key(&old.key.id).await.unwrap().status,
        KeyStatus::Revoked
    );
    t.portal.shutdown().await;
}

#[tokio::test]
async fn the_portals_own_admin_key_rotates_without_a_locked_out_step() {
    let mut t = TestPortal::new();
    let st = t.portal.status().await;
    let account = st.account.unwrap();
    let user = keychain_user(&account.id);
    let before = t.keychain.get(&user).unwrap().unwrap();
    let own = account.credential_key_id.clone();

    // Not through the ordinary rotation: that would leave the keychain behind.
    let e = t.portal.rotate_key(&own).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Conflict);

    let r = t.portal.rotate_admin_credential().await.unwrap();
    assert_eq!(r.old_key_id, own);
    assert!(r.old_revoked, "{:?}", r.problem);
    let after = t.keychain.get(&user).unwrap().unwrap();
    assert_ne!(
        after.expose(),
        before.expose(),
        "the keychain holds the new key"
    );
    // The portal works on, and knows its new credential.
    let st = t.portal.status().await;
    assert_eq!(st.account.unwrap().credential_key_id, r.new_key_id);
    t.portal.list_keys(None).await.unwrap();
    let old = t.portal.get_key(&own).await.unwrap();
    assert_eq!(old.status, KeyStatus::Revoked);
    let state: EmbeddedState =
        serde_json::from_str(&std::fs::read_to_string(t.data_dir().join(STATE_FILE)).unwrap())
            .unwrap();
    assert_eq!(state.admin_key_id, r.new_key_id);
    assert!(files_containing(t.dir.path(), after.expose()).is_empty());

    // A restart signs in with the new key.
    t.restart().await;
    let st = t.portal.status().await;
    assert_eq!(st.account.unwrap().credential_key_id, r.new_key_id);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_remote_admin_key_rotates_and_its_keychain_entry_follows() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let t = TestPortal::new();
    let st = t
        .portal
        .connect_remote(&remote.url, copy(&admin))
        .await
        .unwrap();
    let own = st.account.unwrap().credential_key_id;
    let r = t.portal.rotate_admin_credential().await.unwrap();
    assert_eq!(r.old_key_id, own);
    assert!(r.old_revoked);
    let stored = t.keychain.get(&remote.url).unwrap().unwrap();
    assert_ne!(stored.expose(), admin.expose());
    let res = reqwest::Client::new()
        .get(format!("{}/v1/account", remote.url))
        .bearer_auth(admin.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the old admin key is revoked");
    t.portal.list_keys(None).await.unwrap();
    t.portal.shutdown().await;
}

#[tokio::test]
async fn when_the_keychain_refuses_the_new_admin_key_nothing_changes() {
    let keychain = Arc::new(MemoryKeychain::new());
    let t = TestPortal::with_keychain(keychain.clone());
    let st = t.portal.status().await;
    let account = st.account.unwrap();
    let user = keychain_user(&account.id);
    let before = t.keychain.get(&user).unwrap().unwrap();
    let keys_before = t.portal.list_keys(None).await.unwrap().keys.len();
    keychain.set_available(false);
    let e = t.portal.rotate_admin_credential().await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::KeychainUnavailable, "{e}");
    keychain.set_available(true);
    assert_eq!(
        t.keychain.get(&user).unwrap().unwrap().expose(),
        before.expose()
    );
    // Still signed in with the old key; the unused new one was revoked.
    let keys = t.portal.list_keys(None).await.unwrap().keys;
    assert_eq!(keys.len(), keys_before + 1);
    let new = keys
        .iter()
        .find(|k| k.id != account.credential_key_id && k.scopes.contains(&Scope::Admin))
        .unwrap();
    assert_eq!(new.status, KeyStatus::Revoked);
    assert_eq!(
        t.portal.status().await.account.unwrap().credential_key_id,
        account.credential_key_id
    );
    t.portal.shutdown().await;
}
