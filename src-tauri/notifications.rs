//! The desktop notification loop: every minute, the portal's new alerts
//! (anomalies, rotation due or overdue) as system notifications, through
//! Tauri's notification plugin. The logic is `Portal::notify_new_alerts`.

use keyport_portal::notify::Notifier;
use keyport_portal::Portal;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// Well after start-up, so the first pass never competes with the first frame.
const FIRST_PASS: Duration = Duration::from_secs(20);
const EVERY: Duration = Duration::from_secs(60);

struct Desktop<R: Runtime>(AppHandle<R>);

impl<R: Runtime> Notifier for Desktop<R> {
    fn notify(&self, title: &str, body: &str) -> Result<(), String> {
        self.0
            .notification()
            .builder()
            .title(title)
            .body(body)
            .show()
            .map_err(|e| e.to_string())
    }
}

pub fn spawn<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_PASS).await;
        // Registered only now: at start-up the plugin would add a script to
        // the page that asks for the notification permission over IPC (the
        // page itself never notifies).
        if let Err(e) = app.plugin(tauri_plugin_notification::init()) {
            tracing::warn!(error = %e, "desktop notifications are not available");
            return;
        }
        let desktop = Desktop(app.clone());
        loop {
            let portal = app.state::<Portal>();
            if let Err(e) = portal.notify_new_alerts(&desktop).await {
                tracing::debug!(error = %e, "no alert notifications this time");
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
