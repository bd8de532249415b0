//! The portal against the real OS keychain.
//!
//! - "No keychain" runs everywhere: a child process whose session bus
//!   address points nowhere must get the clear status and error.
//! - The Secret Service tests need a session bus with an unlocked keyring:
//!   `scripts/with-secret-service.sh cargo test -p keyport-portal --features keychain-tests`.

mod common;

use common::TestPortal;
use keyport_portal::{CredentialStore, PortalErrorCode, SystemKeychain};
use std::sync::Arc;

const CHILD: &str = "KEYPORT_NO_KEYCHAIN_CHILD";

/// Runs `no_keychain_child` in a child process without a reachable D-Bus.
#[test]
fn no_keychain_gives_a_clear_status_and_error() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["no_keychain_child", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/keyport-test/bus",
        )
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn no_keychain_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let kc =
        SystemKeychain::with_service(format!("dev.keyport.portal.test-{}", std::process::id()));
    let st = kc.probe();
    assert!(!st.available, "{st:?}");
    assert_eq!(st.backend, "Secret Service");
    let problem = st.problem.unwrap();
    assert!(problem.contains("No keychain is available"), "{problem}");
    assert!(st.fix.unwrap().contains("gnome-keyring"));
    let e = kc.get("someone").unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::KeychainUnavailable);

    // The portal: a clear status, no account, no fallback anywhere.
    let t = TestPortal::with_keychain(Arc::new(kc));
    let st = t.portal.status().await;
    assert!(!st.keychain.available);
    assert!(st.account.is_none());
    let e = t.portal.list_keys(None).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::KeychainUnavailable);
    let body = serde_json::to_value(&e).unwrap();
    assert_eq!(body["code"], "keychain_unavailable");
    assert!(body["message"].as_str().unwrap().contains("Secret Service"));
    // No admin key was made and stored anywhere.
    assert!(t.portal.get_account().await.is_err());
    t.portal.shutdown().await;
}

#[cfg(feature = "keychain-tests")]
mod secret_service {
    use super::common::{files_containing, new_admin_shaped_key, Remote, TestPortal};
    use keyport_portal::embedded::keychain_user;
    use keyport_portal::{CredentialStore, SystemKeychain};
    use std::sync::Arc;

    /// Secret Service calls from parallel tests are serialised.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn unique_service(test: &str) -> String {
        format!("dev.keyport.portal.test-{}-{test}", std::process::id())
    }

    /// What `secret-tool` (another process) sees, when it is installed.
    fn secret_tool_lookup(service: &str, user: &str) -> Option<Option<String>> {
        let out = std::process::Command::new("secret-tool")
            .args(["lookup", "service", service, "username", user])
            .output()
            .ok()?;
        Some(out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_string()
        }))
    }

    #[test]
    fn round_trip_through_the_secret_service() {
        let _g = SERIAL.blocking_lock();
        let service = unique_service("round-trip");
        let a = SystemKeychain::with_service(&service);
        let st = a.probe();
        assert!(st.available, "{st:?}");
        assert_eq!(st.backend, "Secret Service");

        let key = new_admin_shaped_key();
        a.set("https://keys.example.com", &key).unwrap();
        // A second, independent entry sees it: it is stored, not in memory.
        let b = SystemKeychain::with_service(&service);
        assert_eq!(
            b.get("https://keys.example.com").unwrap().unwrap().expose(),
            key.expose()
        );
        if let Some(seen) = secret_tool_lookup(&service, "https://keys.example.com") {
            assert_eq!(seen.as_deref(), Some(key.expose()));
        }
        assert!(b.get("https://other.example.com").unwrap().is_none());
        a.delete("https://keys.example.com").unwrap();
        assert!(b.get("https://keys.example.com").unwrap().is_none());
        a.delete("https://keys.example.com").unwrap();
    }

    #[tokio::test]
    async fn the_embedded_admin_key_lives_in_the_secret_service() {
        let _g = SERIAL.lock().await;
        let service = unique_service("embedded");
        let kc = Arc::new(SystemKeychain::with_service(&service));
        let mut t = TestPortal::with_keychain(kc.clone());
        let st = t.portal.status().await;
        assert!(st.keychain.available, "{:?}", st.keychain);
        let account = st.account.unwrap();
        let user = keychain_user(&account.id);
        let admin = kc.get(&user).unwrap().expect("stored");

        // Restart: read back, same account, no new admin key.
        t.restart().await;
        assert_eq!(t.portal.status().await.account.unwrap().id, account.id);
        assert_eq!(t.portal.list_keys(None).await.unwrap().keys.len(), 1);

        // Keychain wiped: a new admin key, the old one revoked.
        kc.delete(&user).unwrap();
        t.restart().await;
        assert_eq!(t.portal.status().await.account.unwrap().id, account.id);
        let new = kc.get(&user).unwrap().expect("stored again");
        assert_ne!(new.expose(), admin.expose());
        let keys = t.portal.list_keys(None).await.unwrap().keys;
        assert_eq!(keys.len(), 2);

        t.portal.shutdown().await;
        for secret in [admin.expose(), new.expose()] {
            assert!(files_containing(t.dir.path(), secret).is_empty());
        }
        kc.delete(&user).unwrap();
    }

    #[tokio::test]
    async fn one_entry_per_remote_url_and_sign_out_deletes_it() {
        let _g = SERIAL.lock().await;
        let service = unique_service("remote");
        let kc = Arc::new(SystemKeychain::with_service(&service));
        let remote = Remote::start().await;
        let (_, admin) = remote.account("Acme").await;
        let raw = admin.expose().to_string();
        let t = TestPortal::with_keychain(kc.clone());
        t.portal.connect_remote(&remote.url, admin).await.unwrap();
        assert_eq!(kc.get(&remote.url).unwrap().unwrap().expose(), raw);
        if let Some(seen) = secret_tool_lookup(&service, &remote.url) {
            assert_eq!(seen.as_deref(), Some(raw.as_str()));
        }
        assert!(files_containing(t.dir.path(), &raw).is_empty());

        t.portal.sign_out(&remote.url).await.unwrap();
        assert!(kc.get(&remote.url).unwrap().is_none());
        let account = t.portal.status().await.account.unwrap();
        t.portal.shutdown().await;
        kc.delete(&keychain_user(&account.id)).unwrap();
    }
}
