//! Keyport desktop portal (Tauri 2). The logic lives in `keyport-portal`
//! (no Tauri dependency); here are only the command adapters, the plugins
//! and the app's startup and shutdown.

mod commands;
mod notifications;

use keyport_portal::{EnrollLink, Portal, PortalConfig, SystemKeychain};
use std::sync::Arc;
use tauri::{Emitter, Manager, RunEvent, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;

/// The event the window gets when a `keyport://enroll` link arrives while
/// the portal is open (payload: [`EnrollLink`]).
pub const ENROLL_LINK_EVENT: &str = "enroll-link";

/// Hands an enrollment link to the portal and the window: kept for the
/// UI's `take_enroll_link`, announced with [`ENROLL_LINK_EVENT`], and the
/// window brought to the front.
fn deliver_link<R: Runtime>(app: &tauri::AppHandle<R>, link: EnrollLink) {
    app.state::<Portal>().offer_link(link.clone());
    let _ = app.emit(ENROLL_LINK_EVENT, link);
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Registers the portal's commands and plugins. Generic over the runtime so
/// the Wry app and the `tauri::test` mock runtime share the exact same
/// wiring. The caller manages a [`Portal`].
pub fn app_builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(tauri::generate_handler![
            commands::portal_status,
            commands::get_account,
            commands::update_account,
            commands::preview_alerts,
            commands::notify_prefs,
            commands::set_notify_prefs,
            commands::plan_table,
            commands::list_keys,
            commands::get_key,
            commands::create_key,
            commands::update_key,
            commands::revoke_key,
            commands::audit_log,
            commands::rotate_key,
            commands::replacement_info,
            commands::check_replacement,
            commands::rotate_compromised,
            commands::rotate_admin_credential,
            commands::key_usage,
            commands::account_usage,
            commands::export_usage_csv,
            commands::list_alerts,
            commands::ack_alert,
            commands::quarantine_key,
            commands::scan_folder,
            commands::release_key,
            commands::key_suggestions,
            commands::replay_restriction,
            commands::propose_restriction,
            commands::enforce_proposal,
            commands::drop_proposal,
            commands::list_webhooks,
            commands::create_webhook,
            commands::update_webhook,
            commands::delete_webhook,
            commands::test_webhook,
            commands::webhook_deliveries,
            commands::retry_delivery,
            commands::copy_secret,
            commands::connect_remote,
            commands::use_service,
            commands::sign_out,
            commands::enrollment_preview,
            commands::enroll,
            commands::take_enroll_link,
            commands::startup_ready,
        ])
}

/// The folders of this app: Tauri's app data and config dirs (they honour
/// `XDG_DATA_HOME` / `XDG_CONFIG_HOME` on Linux).
pub fn portal_config<R: Runtime>(app: &tauri::AppHandle<R>) -> tauri::Result<PortalConfig> {
    Ok(PortalConfig {
        data_dir: app.path().app_data_dir()?,
        config_dir: app.path().app_config_dir()?,
    })
}

/// Starts the desktop app. Blocks until the last window closes.
pub fn run() {
    keyport_portal::startup::mark("main");
    keyport_portal::render::choose_painter();
    keyport_server::logging::init(keyport_server::logging::LogFormat::Text);
    // One portal per desktop session: a second start (a clicked
    // keyport:// link) hands its arguments to the running one and exits.
    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if let Some(link) = EnrollLink::from_args(argv) {
                deliver_link(app, link);
            }
        }));
    let app = app_builder(builder)
        .plugin(tauri_plugin_deep_link::init())
        .setup(|app| {
            keyport_portal::startup::mark("setup");
            let config = portal_config(app.handle())?;
            app.manage(Portal::new(config, Arc::new(SystemKeychain::portal())));
            // A link as the first argument (how desktops open a scheme's
            // handler) is waiting for the UI when it asks.
            if let Some(link) = EnrollLink::from_args(std::env::args().skip(1)) {
                app.state::<Portal>().offer_link(link);
            }
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                let urls = event
                    .urls()
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>();
                if let Some(link) = EnrollLink::from_args(urls) {
                    deliver_link(&handle, link);
                }
            });
            // Start the embedded service now, off the main thread; commands
            // that arrive first wait for it.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                handle.state::<Portal>().start().await;
                keyport_portal::startup::mark("service_started");
            });
            notifications::spawn(app.handle().clone());
            Ok(())
        })
        .on_page_load(|_, page| {
            keyport_portal::startup::mark(match page.event() {
                tauri::webview::PageLoadEvent::Started => "page_load_started",
                tauri::webview::PageLoadEvent::Finished => "page_load_finished",
            })
        })
        .build(tauri::generate_context!())
        .expect("error while building the Keyport portal");
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Write the last usage counts before the process ends.
            let portal = handle.state::<Portal>();
            tauri::async_runtime::block_on(portal.shutdown());
        }
    });
}
