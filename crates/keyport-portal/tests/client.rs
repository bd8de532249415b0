//! The service client against a real key service on loopback and a stub:
//! every HTTP failure becomes the contract's error code with a safe message.

mod common;

use common::{dead_port, new_admin_shaped_key, Answer, FakeProxy, Hostile, Remote, Stub};
use keyport_api::{CreateKeyRequest, KeyUsage, Step, UpdateKeyRequest, UsagePoint};
use keyport_core::{Environment, KeyHash, Plan, Scope, SecretKey};
use keyport_portal::client::{
    normalize_service_url, ProxyChoice, ServiceClient, UsageQuery, MAX_CSV_BODY, MAX_JSON_BODY,
    MAX_USAGE_BODY,
};
use keyport_portal::{PortalError, PortalErrorCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        allowed_ips: vec![],
        allowed_countries: vec![],
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
    // A service that lost its database says so, and that keys still verify.
    let e = c.get_key("503-database").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable);
    assert!(e.to_string().contains("cannot reach its database"), "{e}");
    assert!(e.to_string().contains("keep verifying"), "{e}");
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

#[tokio::test]
async fn the_key_cap_answer_gets_its_own_code() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account_on("Tiny", Plan::Free).await;
    let c = client(&remote.url, admin);
    let account = c.account().await.unwrap();
    assert_eq!(
        (account.key_cap, account.active_keys),
        (5, 1),
        "the admin key counts"
    );
    for i in 0..4 {
        c.create_key(&request(&format!("k{i}"))).await.unwrap();
    }
    let e = c.create_key(&request("one too many")).await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::LimitExceeded, "{e:?}");
    assert!(e.to_string().contains("allows 5 active keys"), "{e}");
    // Other conflicts keep theirs.
    let e = c.get_key("key_nope").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::NotFound);
}

// ---- proxies: the admin key never goes through one to a loopback service ----

fn proxied(url: &str, key: SecretKey, proxy: &FakeProxy) -> ServiceClient {
    ServiceClient::with_proxy(
        normalize_service_url(url).unwrap(),
        key,
        ProxyChoice::Explicit(proxy.url.parse().unwrap()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_loopback_service_is_reached_directly_even_with_a_proxy_set() {
    let remote = Remote::start().await;
    let (name, admin) = remote.account("Acme").await;
    let raw = admin.expose().to_string();
    let proxy = FakeProxy::start().await;
    let port = remote.url.rsplit(':').next().unwrap();

    for url in [
        remote.url.clone(),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
    ] {
        let c = proxied(&url, SecretKey::new(raw.clone()), &proxy);
        let account = c.account().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(account.name, name);
    }
    assert_eq!(proxy.heads(), Vec::<String>::new(), "the proxy saw nothing");

    // The same setting is used for a service on another machine: the proxy
    // is asked to tunnel to it (and the admin key stays inside TLS).
    let c = proxied(
        "https://keys.example.invalid",
        SecretKey::new(raw.clone()),
        &proxy,
    );
    let e = c.account().await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable, "{e:?}");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with("CONNECT keys.example.invalid:443 "),
        "{heads:?}"
    );
    assert!(!heads[0].contains(&raw));
}

/// The variables a system proxy is read from.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// This test binary again, running only [`proxy_variables_child`], with
/// every proxy variable pointing at a fake proxy: the process environment
/// is the child's own, so no other test sees it.
#[tokio::test]
async fn proxy_variables_are_ignored_for_a_loopback_service() {
    let remote = Remote::start().await;
    let (_, admin) = remote.account("Acme").await;
    let proxy = FakeProxy::start().await;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "proxy_variables_child",
        "--include-ignored",
        "--test-threads=1",
    ]);
    for var in PROXY_VARS {
        cmd.env(var, &proxy.url);
    }
    for var in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        cmd.env_remove(var);
    }
    cmd.env("KEYPORT_CHILD_SERVICE", &remote.url)
        .env("KEYPORT_CHILD_ADMIN_KEY", admin.expose());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
    // Only the request to the other machine went to the proxy: the
    // variables were read, and not used for this machine.
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with("CONNECT keys.example.invalid:443 "),
        "{heads:?}"
    );
}

#[tokio::test]
#[ignore = "run in a child process by proxy_variables_are_ignored_for_a_loopback_service"]
async fn proxy_variables_child() {
    let (Ok(url), Ok(key)) = (
        std::env::var("KEYPORT_CHILD_SERVICE"),
        std::env::var("KEYPORT_CHILD_ADMIN_KEY"),
    ) else {
        return;
    };
    for var in PROXY_VARS {
        assert!(std::env::var(var).is_ok(), "{var} is set");
    }
    let port = url.rsplit(':').next().unwrap();
    for url in [url.clone(), format!("http://localhost:{port}")] {
        let c = client(&url, SecretKey::new(key.clone()));
        c.account()
            .await
            .unwrap_or_else(|e| panic!("{url} through the proxy? {e}"));
    }
    let e = client("https://keys.example.invalid", new_admin_shaped_key())
        .account()
        .await
        .unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Unreachable, "{e:?}");
}

// ---- answers larger than any a key service sends ----

fn window() -> UsageQuery {
    UsageQuery {
        from: chrono::Utc::now() - chrono::Duration::days(30),
        step: Step::Minute,
    }
}

#[tokio::test]
async fn oversized_answers_are_refused_without_reading_them_whole() {
    let hostile = Hostile::start(vec![
        ("/v1/account", Answer::Announced(MAX_JSON_BODY as u64 + 1)),
        ("/v1/keys", Answer::EndlessChunked),
        ("/v1/audit", Answer::EndlessUntilClose),
        ("/v1/usage", Answer::EndlessChunked),
        ("/v1/keys/k/usage.csv", Answer::EndlessUntilClose),
        ("/v1/keys/conflict", Answer::EndlessError(409)),
    ])
    .await;
    let c = client(&hostile.url, new_admin_shaped_key());
    let too_large = |e: PortalError, mib: usize| {
        assert_eq!(e.code(), PortalErrorCode::ResponseTooLarge, "{e:?}");
        assert!(
            e.to_string().contains(&format!("larger than {mib} MiB")),
            "{e}"
        );
        assert!(e.to_string().contains(&hostile.url), "{e}");
        assert_eq!(
            serde_json::to_value(&e).unwrap()["code"],
            "response_too_large"
        );
    };
    let started = Instant::now();
    // Announced too large: refused before reading.
    too_large(c.account().await.unwrap_err(), MAX_JSON_BODY >> 20);
    // Never ending, chunked or until close: refused at the cap.
    too_large(c.list_keys(None).await.unwrap_err(), MAX_JSON_BODY >> 20);
    too_large(c.audit_log(None).await.unwrap_err(), MAX_JSON_BODY >> 20);
    too_large(
        c.account_usage(&window()).await.unwrap_err(),
        MAX_USAGE_BODY >> 20,
    );
    too_large(
        c.key_usage_csv("k", &window()).await.unwrap_err(),
        MAX_CSV_BODY >> 20,
    );
    // An endless error body: the status speaks for itself.
    let e = c.get_key("conflict").await.unwrap_err();
    assert_eq!(e.code(), PortalErrorCode::Conflict, "{e:?}");
    assert_eq!(
        e.to_string(),
        "This conflicts with the key's current state."
    );
    // Well within the 30 s request timeout: the cap, not the clock, ended them.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_largest_real_answers_fit_under_the_caps() {
    // 50,000 points (the API's most per call) with every count at its
    // largest, as JSON and as CSV.
    let from = chrono::Utc::now() - chrono::Duration::minutes(50_000);
    let points: Vec<UsagePoint> = (0..50_000)
        .map(|i| UsagePoint {
            t: from + chrono::Duration::minutes(i),
            success: u64::MAX,
            client_error: u64::MAX,
            server_error: u64::MAX,
            rate_limited: u64::MAX,
            denied: u64::MAX,
            would_deny: u64::MAX,
        })
        .collect();
    let mut csv =
        String::from("t,success,client_error,server_error,rate_limited,denied,would_deny\n");
    for p in &points {
        csv.push_str(&format!(
            "{},{m},{m},{m},{m},{m},{m}\n",
            p.t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            m = u64::MAX
        ));
    }
    let usage = serde_json::to_vec(&KeyUsage {
        key_id: "k".into(),
        from,
        to: from + chrono::Duration::minutes(50_000),
        step: Step::Minute,
        points,
        endpoints: vec![],
        countries: vec![],
        networks: vec![],
        would_deny: vec![],
    })
    .unwrap();
    assert!(
        usage.len() * 4 < MAX_USAGE_BODY,
        "usage {} bytes: not 4x under the cap",
        usage.len()
    );
    assert!(
        csv.len() * 2 < MAX_CSV_BODY,
        "csv {} bytes: not 2x under the cap",
        csv.len()
    );
    let csv_len = csv.len();
    let hostile = Hostile::start(vec![
        (
            "/v1/keys/k/usage",
            Answer::Body("application/json", Arc::new(usage)),
        ),
        (
            "/v1/keys/k/usage.csv",
            Answer::Body("text/csv", Arc::new(csv.into_bytes())),
        ),
    ])
    .await;
    let c = client(&hostile.url, new_admin_shaped_key());
    let got = c.key_usage("k", &window()).await.unwrap();
    assert_eq!(got.points.len(), 50_000);
    assert_eq!(got.points[0].denied, u64::MAX);
    assert_eq!(
        c.key_usage_csv("k", &window()).await.unwrap().len(),
        csv_len
    );
}
