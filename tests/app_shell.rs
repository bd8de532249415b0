//! Window-free tests of the portal shell: commands go through the real IPC
//! path of Tauri's mock runtime, no display needed.

use keyport_app::app_builder;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

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

#[test]
fn app_info_reports_name_version_and_live_key_prefix() {
    let app = app_builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app");
    let window = main_window(&app);

    let info: serde_json::Value =
        get_ipc_response(&window, request("app_info", serde_json::json!({})))
            .expect("app_info succeeds")
            .deserialize()
            .expect("app_info returns JSON");

    assert_eq!(
        info,
        serde_json::json!({
            "name": "Keyport",
            "version": env!("CARGO_PKG_VERSION"),
            "key_prefix_example": "to_live_",
        })
    );
}

#[test]
fn app_info_works_with_the_real_config_and_capabilities() {
    // The real tauri.conf.json (window "main") and compiled capabilities.
    let app = app_builder(mock_builder())
        .build(tauri::generate_context!())
        .expect("mock app with the real context");
    // Config windows are only created when the app runs, so make "main" here;
    // the capability in src-tauri/capabilities is scoped to that label.
    let window = main_window(&app);

    let info: serde_json::Value =
        get_ipc_response(&window, request("app_info", serde_json::json!({})))
            .expect("app_info succeeds")
            .deserialize()
            .expect("app_info returns JSON");
    assert_eq!(info["key_prefix_example"], "to_live_");
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
