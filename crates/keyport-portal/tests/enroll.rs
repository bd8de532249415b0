//! Connecting with an enrollment code against a real key service: the
//! admin key is made here, only its hash reaches the service, the keychain
//! holds it; recovery may revoke the other admin keys; a failure leaves the
//! keychain as it was.

mod common;

use common::{Remote, TestPortal};
use keyport_core::{KeyHash, Plan, SecretKey};
use keyport_portal::{EnrollLink, Mode, PortalErrorCode};
use keyport_server::model::CreateAccountRequest;
use keyport_server::operator::Actor;

/// A new account on `remote` with no key, and its first code.
async fn enrollable(remote: &Remote, name: &str) -> (String, String) {
    let created = remote
        .server
        .service()
        .create_enrolled_account(
            Actor::Cli,
            CreateAccountRequest {
                name: name.into(),
                plan: Plan::Professional,
                external_id: None,
                enrollment_hours: None,
            },
            &remote.url,
        )
        .await
        .unwrap();
    (created.account.id, created.enrollment.link)
}

async fn new_code(remote: &Remote, account_id: &str) -> String {
    remote
        .server
        .service()
        .create_enrollment(Actor::Cli, account_id, None, &remote.url)
        .await
        .unwrap()
        .code
}

/// The stored hashes of an account's unrevoked admin keys.
async fn admin_hashes(remote: &Remote, account_id: &str) -> Vec<String> {
    let store = remote.server.service().store();
    store
        .active_admin_keys(account_id, i64::MAX / 2)
        .await
        .unwrap()
        .iter()
        .map(|k| k.hash.to_hex())
        .collect()
}

#[tokio::test]
async fn a_link_enrolls_with_a_key_made_here_and_kept_in_the_keychain() {
    let remote = Remote::start().await;
    let (account_id, link) = enrollable(&remote, "Acme Corp").await;
    let t = TestPortal::new();
    let link = EnrollLink::parse(&link).unwrap();

    let offer = t
        .portal
        .enrollment_preview(
            "",
            &keyport_core::enrollment::link(&link.service_url, &link.code),
        )
        .await
        .unwrap();
    assert_eq!(offer.service_url, remote.url);
    assert_eq!(offer.preview.account_name, "Acme Corp");
    assert_eq!(offer.preview.admin_keys, 0);

    let st = t
        .portal
        .enroll(&link.service_url, &link.code, false)
        .await
        .unwrap();
    assert_eq!(st.mode, Mode::Remote);
    assert_eq!(st.service_url, remote.url);
    let account = st.account.unwrap();
    assert_eq!(account.id, account_id);
    assert_eq!(
        st.saved_services[0].account_name.as_deref(),
        Some("Acme Corp")
    );

    // The keychain holds the key; the service holds only its hash.
    let secret = t
        .keychain
        .get(&remote.url)
        .unwrap()
        .expect("in the keychain");
    assert!(secret.expose().starts_with("to_live_"));
    assert_eq!(
        admin_hashes(&remote, &account_id).await,
        vec![KeyHash::of(secret.expose()).to_hex()]
    );
    assert!(
        common::files_containing(remote.dir.path(), secret.expose()).is_empty(),
        "the raw key is nowhere in the service's files"
    );
    assert!(common::files_containing(t.dir.path(), secret.expose()).is_empty());
    // Signed in: the portal's calls work with it.
    let keys = t.portal.list_keys(None).await.unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].id, account.credential_key_id);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn recovery_can_revoke_the_lost_machines_key_and_a_failure_keeps_the_keychain() {
    let remote = Remote::start().await;
    let (account_id, link) = enrollable(&remote, "Lost Laptop Ltd").await;
    let link = EnrollLink::parse(&link).unwrap();
    let old = TestPortal::new();
    old.portal
        .enroll(&link.service_url, &link.code, false)
        .await
        .unwrap();
    let old_key = old.keychain.get(&remote.url).unwrap().unwrap();

    // The code is used: the new machine gets the clear error, and its
    // keychain keeps what it had (nothing).
    let new = TestPortal::new();
    let e = new
        .portal
        .enroll(&remote.url, &link.code, true)
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Forbidden);
    assert!(e.to_string().contains("already used"), "{e}");
    assert!(new.keychain.get(&remote.url).unwrap().is_none());

    // A fresh code from the vendor, with "revoke the others" ticked.
    let code = new_code(&remote, &account_id).await;
    let offer = new
        .portal
        .enrollment_preview(&remote.url, &code)
        .await
        .unwrap();
    assert_eq!(offer.preview.admin_keys, 1);
    new.portal.enroll(&remote.url, &code, true).await.unwrap();
    let new_key = new.keychain.get(&remote.url).unwrap().unwrap();
    assert_eq!(
        admin_hashes(&remote, &account_id).await,
        vec![KeyHash::of(new_key.expose()).to_hex()],
        "the lost machine's key is revoked"
    );
    assert_ne!(old_key.expose(), new_key.expose());

    // A failed enrollment over a saved credential restores it.
    let before = SecretKey::new(new_key.expose().to_string());
    let e = new
        .portal
        .enroll(&remote.url, &code, false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Forbidden);
    assert_eq!(
        new.keychain.get(&remote.url).unwrap().unwrap().expose(),
        before.expose()
    );
    old.portal.shutdown().await;
    new.portal.shutdown().await;
}

#[tokio::test]
async fn an_address_without_enrollment_is_a_clear_error() {
    let stub = common::Stub::start().await;
    let t = TestPortal::new();
    let e = t
        .portal
        .enrollment_preview(&stub.url, "7K3QM-X9D2A-BC4EF-GH5JK")
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(e.to_string().contains("does not offer enrollment"), "{e}");
}
