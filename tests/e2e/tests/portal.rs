//! Real-window E2E tests of the desktop portal: the built app under Xvfb,
//! driven over WebDriver (tauri-driver + WebKitWebDriver). Run them with
//! `scripts/e2e.sh`; without `KEYPORT_E2E=1` they are skipped.
//!
//! Each test gets fresh XDG folders (so a first launch), and saves a
//! screenshot of every step under `$E2E_SHOTS` (default
//! `$CARGO_TARGET_DIR/e2e-shots`). Run them one at a time
//! (`--test-threads=1`): they share the display and the keychain.

use keyport_e2e::{
    check, create_live_read_key, embedded_admin_key, gateway_from_curl, http, keychain_delete,
    keychain_get, testid, App, Cluster, Context, Driver, Result, Sandbox, Server,
};
use reqwest::StatusCode;
use std::path::Path;
use std::time::Duration;

const KEY_NAME: &str = "E2E live reader";

/// How long the app may take to exit after the session closes.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

fn row(name: &str) -> String {
    format!("{}[data-key-name=\"{name}\"]", testid("key-row"))
}

/// The raw key, and a piece of its random part (as the server's hygiene test
/// does): neither may be in any file.
fn needles(secret: &str) -> Vec<String> {
    vec![secret.to_string(), secret[8..40].to_string()]
}

/// Fails if a file under the sandbox's XDG folders (or `extra`) contains
/// any of the secrets.
fn assert_no_secret_on_disk(sandbox: &Sandbox, extra: &[&Path], secrets: &[&str]) -> Result<()> {
    let needles: Vec<String> = secrets.iter().flat_map(|s| needles(s)).collect();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let mut dirs = vec![sandbox.data.as_path(), &sandbox.config, &sandbox.cache];
    dirs.extend_from_slice(extra);
    let (checked, hits) = Sandbox::files_containing(&dirs, &needles)?;
    eprintln!("checked {checked} files under the app's XDG folders: no raw key found");
    check(
        hits.is_empty(),
        format!("a raw key or the admin key was found on disk in: {hits:?}"),
    )?;
    check(checked >= 2, format!("only {checked} files checked"))
}

struct Created {
    secret: String,
}

/// Fresh start → create a live read key → show once → copy → stored →
/// masked in the list, gone from the page → works at the gateway →
/// revoke → refused.
async fn embedded_flow(app: &mut App) -> Result<Created> {
    // First launch: the embedded service, its local account and admin key.
    app.wait("keys-table").await?;
    let rows = app.count("key-row").await?;
    check(
        rows == 1,
        format!("a fresh account lists its admin key only, got {rows} rows"),
    )?;
    check(
        app.count("own-credential-tag").await? == 1,
        "the admin key is tagged as the portal's own credential",
    )?;
    check(
        app.count("keys-teach").await? == 1 && app.count("try-it").await? == 0,
        "a first launch teaches to create a key; the curl line waits for one",
    )?;
    app.shot("keys-first-launch").await?;

    // Create key: name, environment live, scope read; shown once.
    let secret = create_live_read_key(app, KEY_NAME).await?;
    app.click("copy-secret").await?;
    app.wait_text("copy-confirm", |t| t.contains("Copied"))
        .await?;
    app.shot("copied").await?;
    app.click("stored-it").await?;
    app.wait_gone("show-once-dialog").await?;

    // With a key to try, the curl line for the sample API.
    let curl = app.text("try-it-curl").await?;
    check(
        curl.contains("$KEYPORT_KEY"),
        format!("try-it reads the key from $KEYPORT_KEY: {curl}"),
    )?;
    let gateway = gateway_from_curl(&curl)?;

    // The list shows it masked; the raw key is nowhere in the page.
    let last4 = &secret[secret.len() - 4..];
    let masked = app
        .wait_text_css(
            &format!("{} {}", row(KEY_NAME), testid("key-masked")),
            |t| !t.is_empty(),
        )
        .await?;
    check(
        masked.trim() == format!("to_live_…{last4}"),
        format!("masked as to_live_…{last4}, got {masked:?}"),
    )?;
    let source = app.source().await?;
    for n in needles(&secret) {
        check(
            !source.contains(&n),
            "the raw key is still in the page after \"I have stored it\"",
        )?;
    }
    app.shot("list-masked").await?;

    // The raw key works against the embedded gateway.
    let hello = format!("{gateway}/hello");
    let res = http()
        .get(&hello)
        .bearer_auth(&secret)
        .send()
        .await
        .ctx(format!("GET {hello}"))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    check(
        status == StatusCode::OK,
        format!("GET {hello} with the new key: {status} {body}"),
    )?;
    check(
        body.contains("Your key was accepted"),
        format!("the sample API answered: {body}"),
    )?;

    // Revoke it in the UI; the confirmation names the key.
    app.click_css(&format!("{} {}", row(KEY_NAME), testid("key-open")))
        .await?;
    app.wait_text("details-name", |t| t.contains(KEY_NAME))
        .await?;
    app.shot("key-details").await?;
    app.click("revoke-button").await?;
    app.wait_text("revoke-dialog", |t| {
        t.contains(&format!("Revoke “{KEY_NAME}”?"))
    })
    .await?;
    app.shot("revoke-confirm").await?;
    app.click("confirm-revoke").await?;
    app.wait_gone("revoke-dialog").await?;
    app.wait_css(&format!(
        "{}[data-status=\"revoked\"]",
        testid("details-status")
    ))
    .await?;
    app.shot("revoked-details").await?;
    app.click("close-details").await?;
    app.wait_css(&format!(
        "{} {}[data-status=\"revoked\"]",
        row(KEY_NAME),
        testid("key-status")
    ))
    .await?;
    app.shot("revoked-list").await?;

    // The portal's own admin key: marked, and not revocable from here.
    app.click_css(&format!("{} {}", row("Admin key"), testid("key-open")))
        .await?;
    app.wait_text("details-name", |t| t.contains("Admin key"))
        .await?;
    app.wait("own-credential-note").await?;
    let revocable = app
        .wait("revoke-button")
        .await?
        .is_enabled()
        .await
        .ctx("revoke button state")?;
    check(!revocable, "Revoke is disabled for the portal's own key")?;
    app.shot("own-credential-details").await?;
    app.click("close-details").await?;
    app.wait_gone("own-credential-note").await?;

    // Refused from the very next request.
    let res = http()
        .get(&hello)
        .bearer_auth(&secret)
        .send()
        .await
        .ctx(format!("GET {hello}"))?;
    check(
        res.status() == StatusCode::UNAUTHORIZED,
        format!("GET {hello} with the revoked key: {}", res.status()),
    )?;
    Ok(Created { secret })
}

#[tokio::test]
async fn embedded_key_lifecycle() {
    if !keyport_e2e::enabled("embedded_key_lifecycle") {
        return;
    }
    let app_bin = keyport_e2e::app_bin().unwrap();
    let sandbox = Sandbox::new().unwrap();
    let shots = keyport_e2e::shots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let log = shots.join("embedded-app.log");
    let driver = Driver::start(&sandbox, &log).unwrap();
    let mut app = App::launch(&driver, &app_bin, "embedded").await.unwrap();
    let res = embedded_flow(&mut app).await;
    let (app, created) = app.finish(res).await;
    app.close().await.unwrap();
    sandbox.wait_app_exited(EXIT_TIMEOUT).unwrap();

    // After the run: neither the new key nor the embedded admin key is in
    // any file of the app's folders, nor in its logs.
    let (user, admin) = embedded_admin_key(&sandbox).unwrap();
    check(
        admin.starts_with("to_live_"),
        "the embedded admin key is in the keychain",
    )
    .unwrap();
    check(
        sandbox.app_data().join("keyport.db").is_file(),
        "the embedded database is in the app data folder",
    )
    .unwrap();
    assert_no_secret_on_disk(&sandbox, &[], &[&created.secret, &admin]).unwrap();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    for n in needles(&created.secret).iter().chain(&needles(&admin)) {
        assert!(!logs.contains(n.as_str()), "a raw key is in the app's logs");
    }
    keychain_delete(&user);
    drop(driver);
}

/// The keys view lists one key, the account's admin key `admin`, masked.
async fn only_key_is(app: &mut App, admin: &str) -> Result<()> {
    app.wait("view-keys").await?;
    let masked = app
        .wait_text_css(
            &format!("{} {}", testid("key-row"), testid("key-masked")),
            |t| !t.is_empty(),
        )
        .await?;
    let rows = app.count("key-row").await?;
    check(
        rows == 1,
        format!("the account has one key (its admin key), got {rows} rows"),
    )?;
    let expect = format!("{}…{}", &admin[..8], &admin[admin.len() - 4..]);
    check(
        masked.trim() == expect,
        format!("the admin key row masked as {expect}, got {masked:?}"),
    )
}

/// Connect to a separately started keyport-server with its admin key, see
/// its account and keys, sign out.
async fn remote_flow(app: &mut App, url: &str, admin: &str) -> Result<()> {
    app.wait("keys-table").await?;
    app.shot("embedded-start").await?;
    app.click("service-switch").await?;
    app.type_into("connect-url", url).await?;
    app.type_into("connect-key", admin).await?;
    app.shot("connect-form").await?;
    app.click("connect-submit").await?;

    // The remote account and its key list (the CLI's admin key).
    app.wait_text("service-card", |t| t.contains("Remote"))
        .await?;
    only_key_is(app, admin).await?;
    check(
        app.count("try-it").await? == 0,
        "no try-it panel for a remote service",
    )?;
    app.shot("remote-keys").await?;
    check(
        keychain_get(url)?.as_deref() == Some(admin),
        "the admin key is in the keychain under the service URL",
    )?;

    app.click("nav-account").await?;
    app.wait_text("account-plan", |t| t.contains("Starter"))
        .await?;
    // The plan's key cap and what counts against it (the admin key only).
    app.wait_text("key-cap-text", |t| t.contains("1 of 25"))
        .await?;
    app.shot("remote-account").await?;
    app.click("nav-keys").await?;
    app.wait("keys-table").await?;

    // Sign out: the keychain entry goes, the portal falls back to embedded.
    app.click("service-sign-out").await?;
    app.wait_text("sign-out-dialog", |t| t.contains(url))
        .await?;
    app.shot("sign-out-confirm").await?;
    app.click("confirm-sign-out").await?;
    app.wait_gone("sign-out-dialog").await?;
    app.wait_text("service-card", |t| t.contains("Embedded service"))
        .await?;
    app.wait("keys-table").await?;
    check(
        keychain_get(url)?.is_none(),
        "signing out deleted the keychain entry",
    )?;
    app.shot("signed-out").await?;
    Ok(())
}

#[tokio::test]
async fn connect_to_remote_service() {
    if !keyport_e2e::enabled("connect_to_remote_service") {
        return;
    }
    let sandbox = Sandbox::new().unwrap();
    let (server, admin) =
        Server::start(&sandbox.scratch("remote").unwrap(), "Remote", "starter").unwrap();
    remote_test(&sandbox, "remote", &server.url, &admin).await;
    drop(server);
}

/// The same remote flow against a cluster (`scripts/cluster.sh`: three
/// instances on PostgreSQL + Redis behind nginx round-robin), so each call
/// of the portal may land on another instance.
#[tokio::test]
async fn connect_to_remote_cluster() {
    if !keyport_e2e::enabled("connect_to_remote_cluster") {
        return;
    }
    let sandbox = Sandbox::new().unwrap();
    let (cluster, admin) =
        Cluster::start(&sandbox.scratch("cluster").unwrap(), "Remote", "starter").unwrap();
    remote_test(&sandbox, "cluster", &cluster.url, &admin).await;
    drop(cluster);
}

/// Runs [`remote_flow`] against `url` in a fresh app (screenshots named
/// `prefix-…`), then checks the admin key reached neither the app's files
/// nor its logs, and cleans the keychain up.
async fn remote_test(sandbox: &Sandbox, prefix: &str, url: &str, admin: &str) {
    let app_bin = keyport_e2e::app_bin().unwrap();
    let shots = keyport_e2e::shots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let log = shots.join(format!("{prefix}-app.log"));
    let driver = Driver::start(sandbox, &log).unwrap();
    let mut app = App::launch(&driver, &app_bin, prefix).await.unwrap();
    let res = remote_flow(&mut app, url, admin).await;
    let (app, ()) = app.finish(res).await;
    app.close().await.unwrap();
    sandbox.wait_app_exited(EXIT_TIMEOUT).unwrap();

    // The remote admin key never reached the app's files or logs.
    assert_no_secret_on_disk(sandbox, &[], &[admin]).unwrap();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    for n in needles(admin) {
        assert!(
            !logs.contains(n.as_str()),
            "the admin key is in the app's logs"
        );
    }
    if let Ok((user, _)) = embedded_admin_key(sandbox) {
        keychain_delete(&user);
    }
    keychain_delete(url);
    drop(driver);
}

/// Opened with the `keyport://enroll` link a vendor sent (as the desktop
/// passes a clicked link: the first argument): confirm, then the account's
/// keys; the admin key was made here and is in the keychain, and the
/// service never saw it (its log and database hold only the hash).
async fn enroll_flow(app: &mut App, url: &str) -> Result<String> {
    app.wait("enroll-confirm").await?;
    app.wait_text("enroll-confirm-account", |t| t.contains("Acme Corp"))
        .await?;
    app.wait_text("enroll-confirm-service", |t| t.contains(url))
        .await?;
    app.shot("enroll-confirm").await?;
    app.click("enroll-submit").await?;
    app.wait_text("service-card", |t| t.contains("Acme Corp"))
        .await?;
    let key = keychain_get(url)?.ctx("the enrolled admin key is in the keychain")?;
    check(key.starts_with("to_live_"), "a live key in the keychain")?;
    only_key_is(app, &key).await?;
    app.shot("enroll-keys").await?;
    // The form a customer uses without a link.
    app.click("service-switch").await?;
    app.click("connect-mode-code").await?;
    app.wait("enroll-form").await?;
    app.shot("enroll-form").await?;
    Ok(key)
}

#[tokio::test]
async fn enroll_with_a_keyport_link() {
    if !keyport_e2e::enabled("enroll_with_a_keyport_link") {
        return;
    }
    let sandbox = Sandbox::new().unwrap();
    let dir = sandbox.scratch("enroll").unwrap();
    let (server, link) = Server::start_enrollable(&dir, "Acme Corp", "starter").unwrap();
    let app_bin = keyport_e2e::app_bin().unwrap();
    let log = keyport_e2e::shots_dir().join("enroll-app.log");
    std::fs::create_dir_all(keyport_e2e::shots_dir()).unwrap();
    let driver = Driver::start(&sandbox, &log).unwrap();
    let mut app = App::launch_with_args(&driver, &app_bin, "enroll", &[link])
        .await
        .unwrap();
    let res = enroll_flow(&mut app, &server.url).await;
    let (app, key) = app.finish(res).await;
    app.close().await.unwrap();
    sandbox.wait_app_exited(EXIT_TIMEOUT).unwrap();

    assert_no_secret_on_disk(&sandbox, &[&dir], &[&key]).unwrap();
    let logs = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    for n in needles(&key) {
        assert!(!logs.contains(n.as_str()), "the admin key is in a log");
    }
    if let Ok((user, _)) = embedded_admin_key(&sandbox) {
        keychain_delete(&user);
    }
    keychain_delete(&server.url);
    drop(driver);
    drop(server);
}
