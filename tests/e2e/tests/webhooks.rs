//! Real-window E2E test of webhooks in the desktop portal: Account →
//! Webhooks, add an endpoint (a receiver on loopback, which the embedded
//! service may reach), see its secret once, send a test event and see it
//! delivered in the log; a key created in the UI reaches the receiver too,
//! signed with that secret. Run with `scripts/e2e.sh`; without
//! `KEYPORT_E2E=1` it is skipped.

use keyport_e2e::{check, create_live_read_key, fail, launch, tear_down, testid, App, Result};
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
