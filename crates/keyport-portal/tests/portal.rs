//! Portal logic against the real embedded service (temp folders, in-memory
//! keychain) and real or stub remote services.

mod common;

use common::{dead_port, files_containing, new_admin_shaped_key, Remote, Stub, TestPortal};
use keyport_api::{KeyStatus, RateLimitView, UpdateKeyRequest};
use keyport_core::{Environment, KeyHash, KeyPrefix, Plan, Scope, SecretKey};
use keyport_portal::embedded::{keychain_user, EmbeddedState, STATE_FILE};
use keyport_portal::settings::SETTINGS_FILE;
use keyport_portal::{MemoryKeychain, Mode, NewKeyInput, PortalErrorCode, TryIt, UsageRange};
use std::sync::Arc;

fn new_key(name: &str) -> NewKeyInput {
    NewKeyInput {
        name: name.into(),
        environment: Environment::Live,
        scopes: vec![Scope::Read],
        resources: vec![],
        expires_at: None,
        rate_limit: None,
        allowed_ips: vec![],
    }
}

/// The admin key the portal keeps for the local account.
fn embedded_admin(t: &TestPortal, account_id: &str) -> SecretKey {
    t.keychain
        .get(&keychain_user(account_id))
        .unwrap()
        .expect("admin key in the keychain")
}

#[tokio::test]
async fn first_launch_creates_the_local_account_and_keeps_its_admin_key_in_the_keychain() {
    let t = TestPortal::new();
    let st = t.portal.status().await;
    assert_eq!(st.mode, Mode::Embedded);
    assert!(st.keychain.available);
    let account = st.account.expect("signed in");
    assert_eq!(account.plan, Plan::Professional);
    assert_eq!(
        (account.key_cap, account.active_keys),
        (100, 1),
        "the admin key is the one active key"
    );
    assert!(st.service_url.starts_with("http://127.0.0.1:"));
    assert_eq!(st.try_it, Some(TryIt::for_gateway(&st.service_url)));
    let try_it = st.try_it.unwrap();
    assert_eq!(
        try_it.curl,
        format!(
            "curl -H \"Authorization: Bearer $KEYPORT_KEY\" {}/hello",
            st.service_url
        )
    );
    assert!(st.saved_services.is_empty());

    // The admin key is in the keychain, and works.
    let admin = embedded_admin(&t, &account.id);
    let res = reqwest::Client::new()
        .get(format!("{}/v1/account", st.service_url))
        .bearer_auth(admin.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Only ids on disk, never the admin key.
    let state: EmbeddedState =
        serde_json::from_slice(&std::fs::read(t.data_dir().join(STATE_FILE)).unwrap()).unwrap();
    assert_eq!(state.account_id, account.id);
    assert!(files_containing(t.dir.path(), admin.expose()).is_empty());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_restart_signs_in_to_the_same_account_with_the_same_admin_key() {
    let mut t = TestPortal::new();
    let first = t.portal.status().await.account.unwrap();
    let admin = embedded_admin(&t, &first.id);
    t.restart().await;
    let st = t.portal.status().await;
    assert_eq!(st.account.unwrap().id, first.id);
    assert_eq!(embedded_admin(&t, &first.id).expose(), admin.expose());
    let keys = t.portal.list_keys(None).await.unwrap();
    assert_eq!(keys.keys.len(), 1, "only the admin key: no extra keys made");
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_wiped_keychain_gets_a_new_admin_key_and_the_lost_one_is_revoked() {
    let mut t = TestPortal::new();
    let account = t.portal.status().await.account.unwrap();
    let old = embedded_admin(&t, &account.id);
    t.keychain.delete(&keychain_user(&account.id)).unwrap();
    t.restart().await;

    let st = t.portal.status().await;
    assert_eq!(st.account.unwrap().id, account.id, "same local account");
    let new = embedded_admin(&t, &account.id);
    assert_ne!(new.expose(), old.expose());

    let keys = t.portal.list_keys(None).await.unwrap().keys;
    assert_eq!(keys.len(), 2);
    let old_view = keys.iter().find(|k| k.last4 == old.last4()).unwrap();
    assert_eq!(old_view.status, KeyStatus::Revoked);
    let new_view = keys.iter().find(|k| k.last4 == new.last4()).unwrap();
    assert_eq!(new_view.status, KeyStatus::Active);
    assert_eq!(new_view.scopes, vec![Scope::Admin]);

    // The old admin key no longer works.
    let res = reqwest::Client::new()
        .get(format!("{}/v1/account", st.service_url))
        .bearer_auth(old.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_dead_admin_key_in_the_keychain_is_replaced_too() {
    let mut t = TestPortal::new();
    let account = t.portal.status().await.account.unwrap();
    t.keychain
        .set(&keychain_user(&account.id), &new_admin_shaped_key())
        .unwrap();
    t.restart().await;
    let st = t.portal.status().await;
    assert_eq!(st.account.unwrap().id, account.id);
    t.portal.list_keys(None).await.unwrap();
    t.portal.shutdown().await;
}

#[tokio::test]
async fn create_key_shows_the_raw_key_once_and_the_service_has_only_its_hash() {
    let t = TestPortal::new();
    let st = t.portal.status().await;
    let mut input = new_key("Production backend");
    input.resources = vec!["project:alpha".into()];
    input.rate_limit = Some(RateLimitView {
        per_minute: Some(30),
        per_day: None,
        burst: None,
    });
    let once = t.portal.create_key(input).await.unwrap();
    let raw = once.secret.expose().to_string();
    let parsed = KeyPrefix::default().parse(&raw).expect("a valid key");
    assert_eq!(parsed.environment, Environment::Live);
    assert_eq!(once.key.last4, once.secret.last4());
    assert_eq!(once.key.prefix, "to_live_");
    assert_eq!(once.key.resources, vec!["project:alpha".to_string()]);

    // Listed masked: prefix + last4, never the raw key.
    let list = t.portal.list_keys(None).await.unwrap();
    let listed = list.keys.iter().find(|k| k.id == once.key.id).unwrap();
    assert_eq!(listed.last4, parsed.last4);
    assert!(!serde_json::to_string(&list).unwrap().contains(&raw));
    assert!(
        !serde_json::to_string(&t.portal.get_key(&once.key.id).await.unwrap())
            .unwrap()
            .contains(&raw)
    );

    // The service was told the key came from the client.
    let audit = t.portal.audit_log(None).await.unwrap();
    let ev = audit
        .events
        .iter()
        .find(|e| e.action == "key.create" && e.key_id.as_deref() == Some(&once.key.id))
        .unwrap();
    assert_eq!(ev.detail["generated_by"], "client");

    // The raw key works against the embedded gateway and its sample API...
    let gateway = st.try_it.unwrap().gateway_url;
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{gateway}/projects/alpha/items"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["key_id"], once.key.id.as_str());
    // ...within its resources and scopes only.
    let res = http
        .get(format!("{gateway}/projects/beta/items"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The portal's own admin key is shown but cannot be revoked from here.
    let own = t.portal.get_account().await.unwrap().credential_key_id;
    assert_ne!(own, once.key.id);
    let e = t.portal.revoke_key(&own).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Conflict);
    assert_eq!(
        t.portal.get_key(&own).await.unwrap().status,
        KeyStatus::Active
    );

    // Revoke: the very next request is refused.
    let revoked = t.portal.revoke_key(&once.key.id).await.unwrap();
    assert_eq!(revoked.status, KeyStatus::Revoked);
    let res = http
        .get(format!("{gateway}/projects/alpha/items"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Nothing on disk holds the raw key (database, WAL, settings, state).
    t.portal.shutdown().await;
    assert_eq!(
        files_containing(t.dir.path(), &raw),
        Vec::<std::path::PathBuf>::new()
    );
}

#[tokio::test]
async fn the_sample_api_says_which_key_called() {
    let t = TestPortal::new();
    let st = t.portal.status().await;
    let once = t.portal.create_key(new_key("try it")).await.unwrap();
    let gateway = st.try_it.unwrap().gateway_url;
    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .get(format!("{gateway}/hello"))
        .bearer_auth(once.secret.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["key_id"], once.key.id.as_str());
    assert_eq!(body["account_id"], st.account.unwrap().id.as_str());
    // Without a key the gateway refuses; a read-only key cannot POST.
    let res = http.get(format!("{gateway}/hello")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(format!("{gateway}/projects/demo/items"))
        .bearer_auth(once.secret.expose())
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn create_key_sends_only_the_hash_and_last4() {
    let stub = Stub::start().await;
    let t = TestPortal::new();
    t.portal
        .connect_remote(&stub.url, new_admin_shaped_key())
        .await
        .unwrap();
    let once = t.portal.create_key(new_key("stubbed")).await.unwrap();
    let raw = once.secret.expose().to_string();
    let sent = stub.created.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["key_hash"], KeyHash::of(&raw).to_hex().as_str());
    assert_eq!(body["last4"], once.secret.last4().as_str());
    assert!(!body.to_string().contains(&raw));
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "environment",
            "key_hash",
            "last4",
            "name",
            "resources",
            "scopes"
        ]
    );
    t.portal.shutdown().await;
}

#[tokio::test]
async fn update_and_validation_errors_come_back_with_codes() {
    let t = TestPortal::new();
    let once = t.portal.create_key(new_key("k")).await.unwrap();
    let updated = t
        .portal
        .update_key(
            &once.key.id,
            UpdateKeyRequest {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "renamed");

    // Above the plan's limit.
    let mut input = new_key("too fast");
    input.rate_limit = Some(RateLimitView {
        per_minute: Some(1_000_000),
        per_day: None,
        burst: None,
    });
    let e = t.portal.create_key(input).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(e.to_string().contains("per_minute"), "{e}");

    let e = t.portal.get_key("key_missing").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotFound);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn connect_switch_and_sign_out_of_a_remote_service() {
    let remote = Remote::start().await;
    let (name, admin) = remote.account("Acme Inc").await;
    let admin_raw = admin.expose().to_string();
    let mut t = TestPortal::new();
    let embedded = t.portal.status().await;

    let st = t
        .portal
        .connect_remote(&format!("{}/", remote.url), admin)
        .await
        .unwrap();
    assert_eq!(st.mode, Mode::Remote);
    assert_eq!(st.service_url, remote.url);
    assert_eq!(st.account.as_ref().unwrap().name, name);
    assert!(st.try_it.is_none());
    assert_eq!(st.saved_services.len(), 1);
    assert_eq!(st.saved_services[0].url, remote.url);
    assert_eq!(
        st.saved_services[0].account_name.as_deref(),
        Some("Acme Inc")
    );
    assert_eq!(
        t.keychain.get(&remote.url).unwrap().unwrap().expose(),
        admin_raw
    );
    let created = t.portal.create_key(new_key("remote key")).await.unwrap();
    let remote_keys = t.portal.list_keys(None).await.unwrap();
    assert!(remote_keys.keys.iter().any(|k| k.id == created.key.id));

    // The settings file has the URL and account name, nothing secret.
    let settings = std::fs::read_to_string(t.config_dir().join(SETTINGS_FILE)).unwrap();
    assert!(settings.contains(&remote.url));
    assert!(!settings.contains(&admin_raw));
    for secret in [admin_raw.as_str(), created.secret.expose()] {
        assert!(files_containing(t.dir.path(), secret).is_empty());
    }

    // A restart comes back to the remote service.
    t.restart().await;
    let st = t.portal.status().await;
    assert_eq!(st.mode, Mode::Remote);
    assert_eq!(st.account.unwrap().name, name);

    // Back to the embedded one, and to the remote again.
    let st = t.portal.use_service(None).await.unwrap();
    assert_eq!(st.mode, Mode::Embedded);
    assert_eq!(
        st.account.unwrap().id,
        embedded.account.as_ref().unwrap().id
    );
    assert!(st.try_it.is_some());
    assert_eq!(st.saved_services.len(), 1, "still saved");
    let st = t.portal.use_service(Some(&remote.url)).await.unwrap();
    assert_eq!(st.mode, Mode::Remote);

    let e = t
        .portal
        .use_service(Some("https://unknown.example"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotFound);
    assert_eq!(t.portal.status().await.mode, Mode::Remote, "unchanged");

    // Sign out: keychain entry gone, service forgotten, embedded in use.
    let st = t.portal.sign_out(&remote.url).await.unwrap();
    assert_eq!(st.mode, Mode::Embedded);
    assert!(st.saved_services.is_empty());
    assert!(t.keychain.get(&remote.url).unwrap().is_none());
    assert!(st.account.is_some());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn connect_remote_refuses_bad_input_with_clear_codes() {
    let remote = Remote::start().await;
    let t = TestPortal::new();

    // A key the service does not know.
    let e = t
        .portal
        .connect_remote(&remote.url, new_admin_shaped_key())
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unauthorized);

    // A typo: caught by the checksum before any request.
    let (_, admin) = remote.account("Acme").await;
    let raw = admin.expose();
    let typo = format!(
        "{}{}",
        &raw[..raw.len() - 1],
        if raw.ends_with('0') { '1' } else { '0' }
    );
    let e = t
        .portal
        .connect_remote(&remote.url, SecretKey::new(typo.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(!e.to_string().contains(&typo));

    // Plain http to another machine.
    let e = t
        .portal
        .connect_remote("http://10.1.2.3:8080", new_admin_shaped_key())
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);

    // Nothing listening.
    let e = t
        .portal
        .connect_remote(
            &format!("http://127.0.0.1:{}", dead_port()),
            new_admin_shaped_key(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable);

    // Not a key service: the sample API answers 404 for /v1/account.
    let sample = keyport_portal::sample_api::SampleApi::start()
        .await
        .unwrap();
    let e = t
        .portal
        .connect_remote(sample.url().as_str(), new_admin_shaped_key())
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Invalid);
    assert!(
        e.to_string()
            .contains("does not look like a Keyport key service"),
        "{e}"
    );
    sample.shutdown().await;

    let st = t.portal.status().await;
    assert_eq!(st.mode, Mode::Embedded, "failed connects change nothing");
    assert!(st.saved_services.is_empty());
    assert_eq!(
        t.keychain.get(&remote.url).unwrap().map(|_| ()),
        None,
        "nothing stored for a refused key"
    );
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_revoked_remote_admin_key_gives_unauthorized() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let admin_raw = admin.expose().to_string();
    let t = TestPortal::new();
    t.portal.connect_remote(&remote.url, admin).await.unwrap();
    let keys = t.portal.list_keys(None).await.unwrap();
    let admin_id = keys.keys[0].id.clone();
    // The portal will not revoke the key it signs in with...
    let e = t.portal.revoke_key(&admin_id).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Conflict);
    assert!(e.to_string().contains("lock the portal out"), "{e}");
    assert_eq!(
        t.portal.get_account().await.unwrap().credential_key_id,
        admin_id
    );
    // ...so revoke it from the service side.
    remote.revoke(&admin_raw, &admin_id).await;
    let e = t.portal.list_keys(None).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unauthorized);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_remote_is_reported_and_the_embedded_one_stays_usable() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let mut t = TestPortal::new();
    t.portal.connect_remote(&remote.url, admin).await.unwrap();
    remote.server.shutdown().await;
    t.restart().await;

    let st = t.portal.status().await;
    assert_eq!(st.mode, Mode::Remote);
    assert!(st.account.is_none());
    let e = t.portal.get_account().await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable);
    let st = t.portal.use_service(None).await.unwrap();
    assert!(st.account.is_some());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn without_a_keychain_the_portal_says_why_and_stores_nothing() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let admin_raw = admin.expose().to_string();
    let t = TestPortal::with_keychain(Arc::new(MemoryKeychain::unavailable()));

    let st = t.portal.status().await;
    assert!(!st.keychain.available);
    assert!(st.keychain.problem.unwrap().contains("No keychain"));
    assert!(st.keychain.fix.unwrap().contains("gnome-keyring"));
    assert!(st.account.is_none());
    assert_eq!(st.mode, Mode::Embedded);

    let e = t.portal.list_keys(None).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::KeychainUnavailable);
    let e = t
        .portal
        .connect_remote(&remote.url, admin)
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::KeychainUnavailable);
    // The plan table needs no service.
    assert_eq!(t.portal.plan_table().len(), 4);
    assert!(files_containing(t.dir.path(), &admin_raw).is_empty());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn once_the_keychain_is_fixed_the_portal_signs_in() {
    let kc = Arc::new(MemoryKeychain::unavailable());
    let t = TestPortal::with_keychain(kc.clone());
    let st = t.portal.status().await;
    assert!(!st.keychain.available);
    assert!(st.account.is_none());

    kc.set_available(true);
    let st = t.portal.status().await;
    assert!(st.keychain.available);
    assert_eq!(st.account.unwrap().plan, Plan::Professional);
    t.portal.list_keys(None).await.unwrap();
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_remote_whose_admin_key_was_revoked_opens_with_a_way_forward() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let admin_raw = admin.expose().to_string();
    let mut t = TestPortal::new();
    t.portal.connect_remote(&remote.url, admin).await.unwrap();
    let admin_id = t.portal.list_keys(None).await.unwrap().keys[0].id.clone();
    remote.revoke(&admin_raw, &admin_id).await;
    t.restart().await;

    // Still the remote service, not silently another one.
    let st = t.portal.status().await;
    assert_eq!(st.mode, Mode::Remote);
    assert_eq!(st.service_url, remote.url);
    assert!(st.account.is_none());
    let e = t.portal.get_account().await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unauthorized);

    // Sign in again with a new admin key.
    let (_, fresh) = remote.account("Acme 2").await;
    let st = t.portal.connect_remote(&remote.url, fresh).await.unwrap();
    assert_eq!(st.account.unwrap().name, "Acme 2");
    assert_eq!(st.saved_services.len(), 1);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn an_embedded_service_that_cannot_start_is_not_connected() {
    let t = TestPortal::new();
    // The data folder is a file: the database cannot be created.
    std::fs::create_dir_all(t.data_dir().parent().unwrap()).unwrap();
    std::fs::write(t.data_dir(), b"not a folder").unwrap();
    let st = t.portal.status().await;
    assert!(st.account.is_none());
    assert!(st.try_it.is_none());
    let e = t.portal.list_keys(None).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotConnected);
    assert!(e.to_string().contains("embedded"), "{e}");

    // A remote service still works.
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let st = t.portal.connect_remote(&remote.url, admin).await.unwrap();
    assert!(st.account.is_some());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn commands_wait_for_startup_and_run_concurrently() {
    let t = Arc::new(TestPortal::new());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            t.portal
                .create_key(new_key(&format!("k{i}")))
                .await
                .map(|o| o.key.id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let accounts: Vec<_> = t.portal.list_keys(None).await.unwrap().keys;
    assert_eq!(accounts.len(), 9, "one account: 8 keys + its admin key");
    t.portal.shutdown().await;
}

/// A keychain that counts its calls and, like a real one, cannot tell
/// without calling it whether it works.
struct CountingKeychain {
    inner: MemoryKeychain,
    writes: std::sync::atomic::AtomicUsize,
    probes: std::sync::atomic::AtomicUsize,
}

impl CountingKeychain {
    fn new() -> Self {
        Self {
            inner: MemoryKeychain::new(),
            writes: Default::default(),
            probes: Default::default(),
        }
    }

    fn counts(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.writes.load(SeqCst), self.probes.load(SeqCst))
    }
}

impl keyport_portal::CredentialStore for CountingKeychain {
    fn get(&self, user: &str) -> keyport_portal::Result<Option<SecretKey>> {
        self.inner.get(user)
    }
    fn set(&self, user: &str, secret: &SecretKey) -> keyport_portal::Result<()> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.set(user, secret)
    }
    fn delete(&self, user: &str) -> keyport_portal::Result<()> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.delete(user)
    }
    fn probe(&self) -> keyport_portal::KeychainStatus {
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.probe()
    }
    fn assumed(&self) -> keyport_portal::KeychainStatus {
        keyport_portal::KeychainStatus::ok("counting (tests)")
    }
}

#[tokio::test]
async fn a_normal_start_checks_the_keychain_by_reading_the_admin_key_and_writes_nothing() {
    let kc = Arc::new(CountingKeychain::new());
    let mut t = TestPortal::with_keychain(kc.clone());
    let first = t.portal.status().await;
    assert!(first.keychain.available);
    let (writes, probes) = kc.counts();
    assert_eq!(
        probes, 1,
        "a first launch checks the keychain in full before storing a key"
    );
    assert!(writes >= 1, "the admin key was stored");

    t.restart().await;
    let again = t.portal.status().await;
    assert!(again.keychain.available);
    assert_eq!(again.account.unwrap().id, first.account.unwrap().id);
    assert_eq!(
        kc.counts(),
        (writes, probes),
        "a later start neither probes nor writes: reading the admin key was the check"
    );
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_keychain_that_fails_on_a_later_start_gets_the_full_check_and_its_answer() {
    let kc = Arc::new(CountingKeychain::new());
    let mut t = TestPortal::with_keychain(kc.clone());
    assert!(t.portal.status().await.account.is_some());
    kc.inner.set_available(false);
    t.restart().await;
    let st = t.portal.status().await;
    assert!(
        !st.keychain.available,
        "the failed read led to the probe's answer"
    );
    assert!(st.keychain.problem.is_some() && st.keychain.fix.is_some());
    assert!(st.account.is_none());
    // Once at the first launch, then after the failed read (and the status
    // asks again while the keychain is unavailable: it may have been fixed).
    assert!(
        kc.counts().1 >= 2,
        "the failed read was followed by a probe"
    );
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_keys_usage_exports_as_csv_to_the_chosen_file() {
    let t = TestPortal::new();
    let st = t.portal.status().await;
    let once = t.portal.create_key(new_key("export")).await.unwrap();
    let gateway = st.try_it.unwrap().gateway_url;
    let http = reqwest::Client::new();
    for path in ["/hello", "/hello", "/nope"] {
        http.get(format!("{gateway}{path}"))
            .bearer_auth(once.secret.expose())
            .send()
            .await
            .unwrap();
    }
    let file = t.dir.path().join("exports").join("usage.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    // The counts reach the store within a flush interval (1 s).
    let mut csv = String::new();
    for _ in 0..50 {
        t.portal
            .export_usage_csv(&once.key.id, UsageRange::Hour, None, &file)
            .await
            .unwrap();
        csv = std::fs::read_to_string(&file).unwrap();
        if csv.lines().skip(1).any(|l| !l.ends_with(",0,0,0,0,0,0")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("t,success,client_error,server_error,rate_limited,denied,would_deny")
    );
    let rows: Vec<&str> = lines.collect();
    assert!((60..=61).contains(&rows.len()), "one row per minute");
    let busy: Vec<&&str> = rows
        .iter()
        .filter(|l| !l.ends_with(",0,0,0,0,0,0"))
        .collect();
    assert_eq!(busy.len(), 1, "{busy:?}");
    assert!(
        busy[0].ends_with(",2,1,0,0,0,0"),
        "2 ok and a 404: {}",
        busy[0]
    );
    assert!(!csv.contains(once.secret.expose()));
    assert_eq!(
        std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
        1,
        "no temporary file left"
    );

    // A key of another account, or none: not found, and no file written.
    let other = t.dir.path().join("exports").join("other.csv");
    let err = t
        .portal
        .export_usage_csv("key_nope", UsageRange::Day, None, &other)
        .await
        .unwrap_err();
    assert_eq!(err.code(), PortalErrorCode::NotFound);
    assert!(!other.exists());
    t.portal.shutdown().await;
}

#[tokio::test]
async fn the_first_key_page_is_fetched_while_the_window_loads_and_used_once() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let mut t = TestPortal::new();
    t.portal.connect_remote(&remote.url, admin).await.unwrap();
    t.portal.create_key(new_key("listed")).await.unwrap();
    // An app start: the portal fetches the first page before the UI asks.
    t.restart().await;
    t.portal.start().await;
    remote.server.shutdown().await;
    let first = t.portal.list_keys(None).await.unwrap();
    assert!(first.keys.iter().any(|k| k.name == "listed"), "{first:?}");
    // Used once: the next ask goes to the (now stopped) service.
    let e = t.portal.list_keys(None).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable);
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_change_made_before_the_first_ask_is_not_hidden_by_the_early_page() {
    let mut t = TestPortal::new();
    t.portal.status().await;
    t.restart().await;
    t.portal.start().await;
    let created = t.portal.create_key(new_key("made early")).await.unwrap();
    let page = t.portal.list_keys(None).await.unwrap();
    assert!(page.keys.iter().any(|k| k.id == created.key.id));
    t.portal.shutdown().await;
}

#[tokio::test]
async fn a_full_free_plan_refuses_another_key_with_limit_exceeded_and_says_so() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account_on("Tiny Co", Plan::Free).await;
    let t = TestPortal::new();
    let st = t.portal.connect_remote(&remote.url, admin).await.unwrap();
    let account = st.account.unwrap();
    assert_eq!((account.key_cap, account.active_keys), (5, 1));

    let mut made = Vec::new();
    for i in 0..4 {
        made.push(
            t.portal
                .create_key(new_key(&format!("app {i}")))
                .await
                .unwrap(),
        );
    }
    assert_eq!(t.portal.get_account().await.unwrap().active_keys, 5);
    // The status the UI reads carries the count the last account read saw.
    assert_eq!(t.portal.status().await.account.unwrap().active_keys, 5);

    let e = t
        .portal
        .create_key(new_key("one too many"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::LimitExceeded, "{e:?}");
    let body = serde_json::to_value(&e).unwrap();
    assert_eq!(body["code"], "limit_exceeded");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("free plan allows 5 active keys"),
        "{message}"
    );
    assert!(message.contains("revoke a key"), "{message}");
    assert_eq!(
        t.portal.list_keys(None).await.unwrap().keys.len(),
        5,
        "nothing was created"
    );

    // Rotating needs no room: the old key drains without counting.
    let replacement = t.portal.rotate_key(&made[0].key.id).await.unwrap();
    let account = t.portal.get_account().await.unwrap();
    assert_eq!((account.key_cap, account.active_keys), (5, 5));
    assert_eq!(
        t.portal.get_key(&made[0].key.id).await.unwrap().replaced_by,
        Some(replacement.key.id.clone())
    );
    let e = t
        .portal
        .create_key(new_key("still full"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::LimitExceeded);

    // Revoking a key makes room for one.
    t.portal.revoke_key(&made[1].key.id).await.unwrap();
    assert_eq!(t.portal.get_account().await.unwrap().active_keys, 4);
    t.portal.create_key(new_key("fits again")).await.unwrap();
    assert_eq!(t.portal.get_account().await.unwrap().active_keys, 5);
    t.portal.shutdown().await;
}
