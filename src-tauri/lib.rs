//! Keyport desktop portal (Tauri 2). For now a placeholder shell: one window
//! and one command; the real portal lands later.

mod commands;

pub use commands::AppInfo;

/// Registers the portal's commands. Generic over the runtime so the Wry app
/// and the `tauri::test` mock runtime share the exact same wiring.
pub fn app_builder<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::app_info])
}

/// Starts the desktop app. Blocks until the last window closes.
pub fn run() {
    app_builder(tauri::Builder::default())
        .run(tauri::generate_context!())
        .expect("error while running the Keyport portal");
}
