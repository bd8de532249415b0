//! Real-window E2E test of "Tighten this key": a key used from one network
//! is tightened to it in report-only mode, traffic from another address
//! shows as would-deny, then enforcing refuses that address (403) while the
//! allowed one keeps working. Run with `scripts/e2e.sh`; without
//! `KEYPORT_E2E=1` it is skipped.

use keyport_e2e::{check, create_live_read_key, launch, tear_down, testid, App, Context, Result};
use std::time::Duration;

const ALLOWED: &str = "203.0.113.7";
const ELSEWHERE: &str = "198.51.100.9";

async fn verify_from(base: &str, key: &str, ip: &str) -> Result<u16> {
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/verify"))
        .json(&serde_json::json!({"key": key, "scope": "read", "ip": ip}))
        .send()
        .await
        .ctx("verify")?;
    Ok(res.status().as_u16())
}

/// Opens the drawer of the key named `name` (closing it first if open).
async fn open_key(app: &App, name: &str) -> Result<()> {
    app.click("nav-keys").await?;
    app.click_css(&format!(
        "{}[data-key-name=\"{name}\"] {}",
        testid("key-row"),
        testid("key-open")
    ))
    .await
}

/// The drawer reads usage when it opens: reopen until `ok` holds for the
/// text of `id` (usage is flushed about once a second).
async fn reopen_until(
    app: &App,
    name: &str,
    id: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String> {
    let mut last = String::new();
    for _ in 0..20 {
        open_key(app, name).await?;
        if let Ok(el) = app.wait(id).await {
            last = app.text_of(&el).await?;
            if ok(&last) {
                return Ok(last);
            }
        }
        app.click("close-details").await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    keyport_e2e::fail(format!("{id} never matched; last: {last:?}"))
}

async fn tighten_flow(app: &mut App) -> Result<()> {
    let name = "Edge worker";
    let secret = create_live_read_key(app, name).await?;
    app.click("stored-it").await?;
    app.wait_gone("show-once-dialog").await?;
    let base = keyport_e2e::gateway_from_curl(&app.text("try-it-curl").await?)?;
    for _ in 0..5 {
        check(
            verify_from(&base, &secret, ALLOWED).await? == 200,
            "no allowlist yet",
        )?;
    }

    // Where the key is used from, from recorded traffic.
    reopen_until(app, name, "key-networks", |t| t.contains("203.0.113.0/24")).await?;
    app.shot("key-used-from").await?;

    // Tighten: write the allowlist, replay it, start report-only.
    app.click("tighten-key").await?;
    app.wait("tighten-dialog").await?;
    app.type_into("tighten-ips", "203.0.113.0/24").await?;
    app.click("tighten-replay").await?;
    let replay = app.wait_text("replay-result", |t| t.contains("5")).await?;
    check(
        replay.contains("refused nothing") && replay.contains("all 5 requests"),
        format!("nothing of the recorded traffic would be refused: {replay}"),
    )?;
    app.client()
        .execute(
            "document.querySelector('[data-testid=\"replay-result\"]').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .ctx("scrolling to the replay result")?;
    app.shot("tighten-replay").await?;
    app.click("tighten-start").await?;
    app.wait_gone("tighten-dialog").await?;
    app.wait("proposal-card").await?;
    app.shot("proposal-started").await?;
    app.click("close-details").await?;

    // Report-only: traffic from elsewhere is served, and counted.
    for _ in 0..3 {
        check(
            verify_from(&base, &secret, ELSEWHERE).await? == 200,
            "report-only refuses nothing",
        )?;
    }
    let would = reopen_until(app, name, "proposal-would-deny", |t| t.contains('3')).await?;
    check(
        would.contains("198.51.100.0/24"),
        format!("the reason names the network: {would}"),
    )?;
    app.shot("proposal-would-deny").await?;

    // Enforce: elsewhere is refused, the allowed network keeps working.
    app.click("proposal-enforce").await?;
    app.click("proposal-enforce-confirm").await?;
    app.wait_gone("proposal-card").await?;
    app.wait_text("key-allowed-ips", |t| t.contains("203.0.113.0/24"))
        .await?;
    app.shot("allowlist-enforced").await?;
    check(
        verify_from(&base, &secret, ELSEWHERE).await? == 403,
        "enforced: another address is refused",
    )?;
    check(
        verify_from(&base, &secret, ALLOWED).await? == 200,
        "enforced: the allowed address still works",
    )?;
    Ok(())
}

#[tokio::test]
async fn tighten_a_key_in_report_only_then_enforce() {
    if !keyport_e2e::enabled("tighten_a_key_in_report_only_then_enforce") {
        return;
    }
    let (sandbox, driver, mut app) = launch("tighten", &[]).await;
    let res = tighten_flow(&mut app).await;
    let (app, ()) = app.finish(res).await;
    tear_down(app, sandbox, driver).await;
}
