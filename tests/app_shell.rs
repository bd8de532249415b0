//! The shell's wiring through Tauri's mock runtime: the real config and
//! capabilities, the registered commands, and what the webview may not do.
//! No display needed.

use keyport_app::app_builder;
use keyport_portal::{MemoryKeychain, Portal, PortalConfig};
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

fn main_window(app: &tauri::App<MockRuntime>) -> WebviewWindow<MockRuntime> {
    tauri::WebviewWindowBuilder::new(app, "main", Default::default())
        .build()
        .expect("mock window")
}

fn request(cmd: &str, body: serde_json::Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

/// A portal on temp folders; it starts nothing until a command needs it.
fn portal(dir: &tempfile::TempDir) -> Portal {
    Portal::new(
        PortalConfig {
            data_dir: dir.path().join("data"),
            config_dir: dir.path().join("config"),
        },
        Arc::new(MemoryKeychain::new()),
    )
}

#[test]
fn plan_table_works_with_the_real_config_and_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    // The real tauri.conf.json (window "main", CSP) and compiled capabilities.
    let app = app_builder(mock_builder())
        .build(tauri::generate_context!())
        .expect("mock app with the real context");
    app.manage(portal(&dir));
    // Config windows are only created when the app runs, so make "main" here.
    let window = main_window(&app);

    let rows: serde_json::Value =
        get_ipc_response(&window, request("plan_table", serde_json::json!({})))
            .expect("plan_table succeeds")
            .deserialize()
            .unwrap();
    let plans: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["plan"].as_str().unwrap())
        .collect();
    assert_eq!(plans, ["free", "starter", "professional", "enterprise"]);
    assert_eq!(
        rows[2]["limits"],
        serde_json::json!({"per_minute": 300, "per_day": 100000, "burst": 500})
    );
}

#[test]
fn unknown_command_is_rejected() {
    let app = app_builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app");
    let window = main_window(&app);
    let res = get_ipc_response(&window, request("no_such_command", serde_json::json!({})));
    assert!(res.is_err(), "an unregistered command must not succeed");
}

#[test]
fn the_webview_cannot_use_the_clipboard_plugin_directly() {
    // The clipboard is written from Rust (copy_secret); the capability does
    // not grant the plugin's own commands to the webview.
    let app = app_builder(mock_builder())
        .build(tauri::generate_context!())
        .expect("mock app with the real context");
    let window = main_window(&app);
    for cmd in [
        "plugin:clipboard-manager|read_text",
        "plugin:clipboard-manager|write_text",
    ] {
        let err = get_ipc_response(&window, request(cmd, serde_json::json!({"text": "x"})))
            .expect_err("the clipboard plugin must be denied to the webview");
        let err = err.to_string();
        assert!(err.contains("not allowed"), "{cmd}: {err}");
    }
}

#[test]
fn capabilities_grant_core_default_only() {
    let cap: serde_json::Value =
        serde_json::from_str(include_str!("../src-tauri/capabilities/default.json")).unwrap();
    assert_eq!(cap["permissions"], serde_json::json!(["core:default"]));
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
}

#[test]
fn the_config_keeps_a_strict_csp_and_no_remote_content() {
    let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
    let csp = &conf["app"]["security"]["csp"];
    assert_eq!(csp["default-src"], "'self'");
    assert_eq!(csp["script-src"], "'self'");
    assert_eq!(csp["object-src"], "'none'");
    assert_eq!(conf["build"]["frontendDist"], "ui/dist");
    assert!(conf["build"].get("devUrl").is_none());
}

#[test]
fn startup_ready_is_registered_and_does_nothing_without_the_probe() {
    // bench/portal.sh sets KEYPORT_STARTUP_PROBE=1; tests never do.
    assert!(!keyport_portal::startup::probe_enabled());
    let app = app_builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app");
    let window = main_window(&app);
    let res = get_ipc_response(&window, request("startup_ready", serde_json::json!({})));
    assert!(res.is_ok(), "startup_ready is callable: {res:?}");
}
