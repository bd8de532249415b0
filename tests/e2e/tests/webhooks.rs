//! Real-window E2E tests of webhooks and leak reports in the desktop portal: Account →
//! Webhooks, add an endpoint (a receiver on loopback, which the embedded
//! service may reach), see its secret once, send a test event and see it
//! delivered in the log; a key created in the UI reaches the receiver too,
//! signed with that secret. Run with `scripts/e2e.sh`; without
//! `KEYPORT_E2E=1` it is skipped.

use keyport_e2e::{
    check, create_live_read_key, fail, launch, tear_down, testid, App, Context, Result,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a delivery may take to show as delivered: the worker sends at
/// once, the log refreshes every 2 s.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// One request the receiver got: its headers (lower-case names) and body.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A webhook receiver on loopback: answers 200 to everything.
fn receiver() -> (String, Arc<Mutex<Vec<Got>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keyport-hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((n, v)) = line.trim_end().split_once(':') {
                    headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            log.lock().unwrap().push(Got {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// Waits until the receiver has a request of `event_type`.
async fn received(got: &Mutex<Vec<Got>>, event_type: &str) -> Result<Got> {
    let needle = format!("\"type\":\"{event_type}\"");
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        if let Some(g) = got
            .lock()
            .unwrap()
            .iter()
            .find(|g| g.body.contains(&needle))
        {
            return Ok(g.clone());
        }
        if Instant::now() > deadline {
            return fail(format!(
                "the receiver got no {event_type} in {DELIVERY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check_signed(secret: &str, g: &Got) -> Result<()> {
    let ts: i64 = g.header("webhook-timestamp").parse().unwrap_or(0);
    check(
        keyport_core::webhook::verify(
            secret,
            g.header("webhook-id"),
            ts,
            g.body.as_bytes(),
            g.header("webhook-signature"),
        ),
        "the delivery verifies with the secret the portal showed",
    )
}

async fn webhook_flow(app: &mut App) -> Result<()> {
    let (url, got) = receiver();
    app.click("nav-account").await?;
    app.wait("webhooks-section").await?;
    let script = "document.querySelector('[data-testid=\"webhooks-section\"]').scrollIntoView({block: 'start'})";
    let _ = app.client().execute(script, vec![]).await;
    app.shot("webhooks-empty").await?;
    app.click("webhook-add").await?;
    app.type_into("webhook-url", &url).await?;
    app.type_into("webhook-description", "deploy bot").await?;
    app.click("webhook-event-key.created").await?;
    app.shot("webhooks-form").await?;
    app.click("webhook-save").await?;
    let shown = app
        .wait_text("webhook-secret", |t| t.trim().starts_with("whsec_"))
        .await?;
    let secret: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    app.shot("webhooks-secret").await?;
    app.click("webhook-secret-done").await?;
    app.wait_gone("webhook-secret").await?;
    let row = app
        .wait_text("webhook-row", |t| t.contains("keyport-hook"))
        .await?;
    check(
        !row.contains(&secret),
        "the secret is not shown again in the list",
    )?;

    app.click("webhook-test").await?;
    let delivered = format!("{}[data-status=\"delivered\"]", testid("delivery-row"));
    app.wait_css(&delivered).await?;
    app.shot("webhooks-delivered").await?;
    let test = received(&got, "webhook.test").await?;
    check_signed(&secret, &test)?;

    // A key created in the portal is announced to the endpoint.
    app.click("nav-keys").await?;
    let key = create_live_read_key(app, "Webhook watched").await?;
    app.click("stored-it").await?;
    app.wait_gone("show-once-dialog").await?;
    let created = received(&got, "key.created").await?;
    check_signed(&secret, &created)?;
    check(
        created.body.contains("Webhook watched"),
        "key.created names the key",
    )?;
    check(!created.body.contains(&key), "no raw key in the payload")?;
    app.click("nav-account").await?;
    app.wait("webhooks-section").await?;
    let _ = app.client().execute(script, vec![]).await;
    app.click("webhook-deliveries-toggle").await?;
    app.wait_text("webhook-deliveries", |t| t.contains("key.created"))
        .await?;
    app.shot("webhooks-log").await?;
    Ok(())
}

#[tokio::test]
async fn add_a_webhook_and_see_its_deliveries() {
    if !keyport_e2e::enabled("add_a_webhook_and_see_its_deliveries") {
        return;
    }
    let (sandbox, driver, mut app) = launch("webhooks", &[]).await;
    let res = webhook_flow(&mut app).await;
    let (app, ()) = app.finish(res).await;
    tear_down(app, sandbox, driver).await;
}

/// A reporter's key pair; its public half in the key list file the
/// embedded service reads.
fn reporter(dir: &std::path::Path) -> (p256::ecdsa::SigningKey, std::path::PathBuf) {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let signer = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let list = serde_json::json!({"public_keys": [
        {"key_identifier": "e2e-reporter", "key": pem, "is_current": true}
    ]});
    let path = dir.join("leak-keys.json");
    std::fs::write(&path, list.to_string()).unwrap();
    (signer, path)
}

/// Sends a signed leak report of `token`; the label the service answers.
async fn report_leak(
    base: &str,
    signer: &p256::ecdsa::SigningKey,
    token: &str,
    url: &str,
) -> Result<String> {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    let body = serde_json::json!([
        {"token": token, "type": "keyport_live_key", "url": url, "source": "commit"}
    ])
    .to_string();
    let sig: p256::ecdsa::Signature = signer.sign(body.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
    let res = keyport_e2e::http()
        .post(format!("{base}/v1/leaks"))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", "e2e-reporter")
        .header("Github-Public-Key-Signature", sig)
        .body(body)
        .send()
        .await
        .ctx("sending the leak report")?;
    let v: serde_json::Value = res.json().await.ctx("the leak report's answer")?;
    Ok(v[0]["label"].as_str().unwrap_or_default().to_string())
}

async fn verify_status(base: &str, key: &str, scope: &str) -> Result<u16> {
    let res = keyport_e2e::http()
        .post(format!("{base}/v1/verify"))
        .json(&serde_json::json!({"key": key, "scope": scope}))
        .send()
        .await
        .ctx("verify")?;
    Ok(res.status().as_u16())
}

async fn leak_flow(app: &mut App, signer: &p256::ecdsa::SigningKey) -> Result<()> {
    let leaked = keyport_e2e::create_live_key(app, "Leaky worker", true).await?;
    app.click("stored-it").await?;
    app.wait_gone("show-once-dialog").await?;
    let curl = app.text("try-it-curl").await?;
    let base = keyport_e2e::gateway_from_curl(&curl)?;
    let url = "https://github.com/acme/app/blob/4f2a9c1/.env";
    check(
        verify_status(&base, &leaked, "write").await? == 200,
        "the key writes before the report",
    )?;
    let label = report_leak(&base, signer, &leaked, url).await?;
    check(
        label == "true_positive",
        format!("the report's label: {label}"),
    )?;
    // Quarantined (the default policy): it still reads.
    check(
        verify_status(&base, &leaked, "read").await? == 200,
        "a quarantined key still reads",
    )?;
    check(
        verify_status(&base, &leaked, "write").await? == 403,
        "a quarantined key's writes are refused",
    )?;

    app.click("nav-alerts").await?;
    app.wait_text("alert-leak-url", |t| t.contains("4f2a9c1"))
        .await?;
    app.shot("leak-alert").await?;
    // The key shows its quarantine where it is managed too.
    app.click("nav-keys").await?;
    app.click_css(&format!(
        "{}[data-key-name=\"Leaky worker\"] {}",
        testid("key-row"),
        testid("key-open")
    ))
    .await?;
    app.wait_text("quarantine-banner", |t| t.contains("4f2a9c1"))
        .await?;
    app.shot("leak-quarantined-key").await?;
    app.click("close-details").await?;
    app.click("nav-alerts").await?;
    app.click("alert-rotate-now").await?;
    app.wait("compromise-dialog").await?;
    app.shot("leak-compromise").await?;
    app.click("confirm-compromise").await?;
    let shown = app
        .wait_text("show-once-secret", |t| t.trim().starts_with("to_live_"))
        .await?;
    let replacement: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    app.shot("leak-replacement").await?;
    app.click("stored-it").await?;
    app.wait_gone("show-once-dialog").await?;
    check(replacement != leaked, "a new key")?;
    check(
        verify_status(&base, &leaked, "read").await? == 401,
        "the leaked key is revoked",
    )?;
    check(
        verify_status(&base, &replacement, "read").await? == 200,
        "the replacement works",
    )?;
    Ok(())
}

#[tokio::test]
async fn a_leak_report_raises_the_alert_and_rotate_now_replaces_the_key() {
    if !keyport_e2e::enabled("a_leak_report_raises_the_alert_and_rotate_now_replaces_the_key") {
        return;
    }
    let keys_dir = tempfile::tempdir().unwrap();
    let (signer, keys) = reporter(keys_dir.path());
    let env = [("KEYPORT_EMBEDDED_LEAK_REPORT_KEYS", keys.to_str().unwrap())];
    let (sandbox, driver, mut app) = launch("leak", &env).await;
    let res = leak_flow(&mut app, &signer).await;
    let (app, ()) = app.finish(res).await;
    tear_down(app, sandbox, driver).await;
}
