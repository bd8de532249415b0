//! Desktop notifications from the portal, against a real service whose clock
//! the test moves (rotation reminders come from the service's detector).

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{Remote, TestPortal};
use keyport_core::{Environment, Scope, SecretKey};
use keyport_portal::notify::{Notifier, NOTIFIED_FILE};
use keyport_portal::NewKeyInput;
use keyport_server::clock::ManualClock;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl Notifier for Recorder {
    fn notify(&self, title: &str, body: &str) -> Result<(), String> {
        self.0.lock().unwrap().push((title.into(), body.into()));
        Ok(())
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn live(name: &str) -> NewKeyInput {
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

/// A service whose clock the test moves (t0: 2026-03-10 12:00 UTC) and a
/// portal connected to it with an admin key of a new account.
async fn connected() -> (Arc<ManualClock>, Remote, TestPortal) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap(),
    ));
    let remote = Remote::with_clock(clock.clone()).await;
    let (_, admin) = remote.account("Acme").await;
    let t = TestPortal::new();
    t.portal
        .connect_remote(&remote.url, SecretKey::new(admin.expose().to_string()))
        .await
        .unwrap();
    (clock, remote, t)
}

#[tokio::test]
async fn a_key_becoming_due_notifies_once_and_not_again_after_a_restart() {
    let (clock, remote, mut t) = connected().await;
    t.portal.create_key(live("billing")).await.unwrap();
    let rec = Recorder::default();
    assert_eq!(t.portal.notify_new_alerts(&rec).await.unwrap(), 0);

    // 80 days on, the live keys (every 90 days) are due within two weeks:
    // the new key and the admin key the portal signs in with.
    clock.advance(Duration::days(80));
    remote.server.service().run_detector().await.unwrap();
    assert_eq!(t.portal.notify_new_alerts(&rec).await.unwrap(), 2);
    let shown = rec.take();
    assert!(
        shown.iter().any(
            |(title, body)| title == "Rotation due soon: “billing”" && body.contains("billing")
        ),
        "{shown:?}"
    );
    assert_eq!(t.portal.notify_new_alerts(&rec).await.unwrap(), 0, "once");

    t.restart().await;
    assert_eq!(
        t.portal.notify_new_alerts(&rec).await.unwrap(),
        0,
        "remembered"
    );
    assert!(t.config_dir().join(NOTIFIED_FILE).exists());

    // Overdue is another kind: one more.
    clock.advance(Duration::days(20));
    remote.server.service().run_detector().await.unwrap();
    assert_eq!(t.portal.notify_new_alerts(&rec).await.unwrap(), 2);
    assert!(rec
        .take()
        .iter()
        .all(|(t, _)| t.starts_with("Rotation overdue")));
    t.portal.shutdown().await;
}

#[tokio::test]
async fn many_new_alerts_come_as_a_few_and_a_summary() {
    let (clock, remote, t) = connected().await;
    for i in 0..5 {
        t.portal.create_key(live(&format!("k{i}"))).await.unwrap();
    }
    clock.advance(Duration::days(80));
    remote.server.service().run_detector().await.unwrap();
    let rec = Recorder::default();
    assert_eq!(t.portal.notify_new_alerts(&rec).await.unwrap(), 4);
    let shown = rec.take();
    // Five keys and the admin key: three notifications and a summary.
    assert_eq!(shown[3].0, "More Keyport alerts");
    assert!(shown[3].1.starts_with("3 more"), "{shown:?}");
    t.portal.shutdown().await;
}

#[tokio::test]
async fn preferences_hold_back_quiet_hours_and_drop_muted_kinds() {
    use chrono::NaiveTime;
    use keyport_core::alert::AlertKind;
    use keyport_portal::notify::{NotifyPrefs, QuietHours};
    let (clock, remote, mut t) = connected().await;
    t.portal.create_key(live("billing")).await.unwrap();
    let saved = t
        .portal
        .set_notify_prefs(NotifyPrefs {
            muted: vec![AlertKind::RotationOverdue],
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
            }),
        })
        .await
        .unwrap();
    t.restart().await;
    assert_eq!(
        t.portal.notify_prefs().await.unwrap(),
        saved,
        "kept on disk"
    );
    let at = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    let rec = Recorder::default();

    // Due soon at 23:00: held back, then shown in the morning.
    clock.advance(Duration::days(80));
    remote.server.service().run_detector().await.unwrap();
    assert_eq!(
        t.portal
            .notify_new_alerts_at(&rec, at("23:00"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        t.portal
            .notify_new_alerts_at(&rec, at("07:30"))
            .await
            .unwrap(),
        2
    );
    // Overdue is muted: shown in the app only, never pushed.
    clock.advance(Duration::days(20));
    remote.server.service().run_detector().await.unwrap();
    assert_eq!(
        t.portal
            .notify_new_alerts_at(&rec, at("12:00"))
            .await
            .unwrap(),
        0
    );
    t.portal
        .set_notify_prefs(NotifyPrefs::default())
        .await
        .unwrap();
    assert_eq!(
        t.portal
            .notify_new_alerts_at(&rec, at("12:00"))
            .await
            .unwrap(),
        0,
        "unmuting brings back nothing old"
    );
    t.portal.shutdown().await;
}
