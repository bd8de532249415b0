//! The portal's IPC commands (docs/portal-commands.md): one-line adapters
//! over [`keyport_portal::Portal`], which holds all the logic.

use keyport_api::{
    AccountUsage, AccountView, Alert, AlertList, AlertPreview, AlertPreviewRequest, AuditList,
    CreateWebhookRequest, CreatedWebhook, DeliveryList, KeyList, KeyUsage, KeyView, ReplayReport,
    Restriction, Step, Suggestions, UpdateAccountRequest, UpdateKeyRequest, UpdateWebhookRequest,
    WebhookDelivery, WebhookEndpoint, WebhookList,
};
use keyport_core::SecretKey;
use keyport_portal::clipboard::{self, Clipboard};
use keyport_portal::notify::NotifyPrefs;
use keyport_portal::rotation::{
    AdminRotation, CompromiseRotation, ReplacementCheck, ReplacementInfo,
};
use keyport_portal::{
    EnrollLink, EnrollOffer, NewKeyInput, OnceSecret, PlanRow, Portal, PortalError, PortalStatus,
    UsageRange,
};
use std::sync::Arc;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

type Result<T> = std::result::Result<T, PortalError>;

#[tauri::command(async)]
pub async fn portal_status(portal: State<'_, Portal>) -> Result<PortalStatus> {
    Ok(portal.status().await)
}

#[tauri::command(async)]
pub async fn get_account(portal: State<'_, Portal>) -> Result<AccountView> {
    portal.get_account().await
}

#[tauri::command(async)]
pub async fn update_account(
    portal: State<'_, Portal>,
    patch: UpdateAccountRequest,
) -> Result<AccountView> {
    portal.update_account(patch).await
}

#[tauri::command(async)]
pub async fn preview_alerts(
    portal: State<'_, Portal>,
    request: AlertPreviewRequest,
) -> Result<AlertPreview> {
    portal.preview_alerts(request).await
}

#[tauri::command(async)]
pub async fn notify_prefs(portal: State<'_, Portal>) -> Result<NotifyPrefs> {
    portal.notify_prefs().await
}

#[tauri::command(async)]
pub async fn set_notify_prefs(
    portal: State<'_, Portal>,
    prefs: NotifyPrefs,
) -> Result<NotifyPrefs> {
    portal.set_notify_prefs(prefs).await
}

#[tauri::command]
pub fn plan_table(portal: State<'_, Portal>) -> Vec<PlanRow> {
    portal.plan_table()
}

#[tauri::command(async)]
pub async fn list_keys(portal: State<'_, Portal>, cursor: Option<String>) -> Result<KeyList> {
    portal.list_keys(cursor).await
}

#[tauri::command(async)]
pub async fn get_key(portal: State<'_, Portal>, id: String) -> Result<KeyView> {
    portal.get_key(&id).await
}

#[tauri::command(async)]
pub async fn create_key(portal: State<'_, Portal>, input: NewKeyInput) -> Result<OnceSecret> {
    portal.create_key(input).await
}

#[tauri::command(async)]
pub async fn update_key(
    portal: State<'_, Portal>,
    id: String,
    patch: UpdateKeyRequest,
) -> Result<KeyView> {
    portal.update_key(&id, patch).await
}

#[tauri::command(async)]
pub async fn revoke_key(portal: State<'_, Portal>, id: String) -> Result<KeyView> {
    portal.revoke_key(&id).await
}

#[tauri::command(async)]
pub async fn quarantine_key(
    portal: State<'_, Portal>,
    id: String,
    reason: String,
) -> Result<KeyView> {
    portal.quarantine_key(&id, &reason).await
}

#[tauri::command(async)]
pub async fn release_key(portal: State<'_, Portal>, id: String) -> Result<KeyView> {
    portal.release_key(&id).await
}

#[tauri::command(async)]
pub async fn key_suggestions(
    portal: State<'_, Portal>,
    id: String,
    days: Option<u32>,
) -> Result<Suggestions> {
    portal.key_suggestions(&id, days).await
}

#[tauri::command(async)]
pub async fn replay_restriction(
    portal: State<'_, Portal>,
    id: String,
    restriction: Restriction,
    days: Option<u32>,
) -> Result<ReplayReport> {
    portal.replay_restriction(&id, restriction, days).await
}

#[tauri::command(async)]
pub async fn propose_restriction(
    portal: State<'_, Portal>,
    id: String,
    restriction: Restriction,
    days: Option<u32>,
) -> Result<KeyView> {
    portal.propose_restriction(&id, restriction, days).await
}

#[tauri::command(async)]
pub async fn enforce_proposal(portal: State<'_, Portal>, id: String) -> Result<KeyView> {
    portal.enforce_proposal(&id).await
}

#[tauri::command(async)]
pub async fn drop_proposal(portal: State<'_, Portal>, id: String) -> Result<KeyView> {
    portal.drop_proposal(&id).await
}

#[tauri::command(async)]
pub async fn audit_log(portal: State<'_, Portal>, cursor: Option<String>) -> Result<AuditList> {
    portal.audit_log(cursor).await
}

#[tauri::command(async)]
pub async fn rotate_key(portal: State<'_, Portal>, id: String) -> Result<OnceSecret> {
    portal.rotate_key(&id).await
}

#[tauri::command(async)]
pub async fn replacement_info(portal: State<'_, Portal>, id: String) -> Result<ReplacementInfo> {
    Ok(portal.replacement_info(&id).await)
}

#[tauri::command(async)]
pub async fn check_replacement(
    portal: State<'_, Portal>,
    id: String,
    secret: String,
) -> Result<ReplacementCheck> {
    portal.check_replacement(&id, SecretKey::new(secret)).await
}

#[tauri::command(async)]
pub async fn rotate_compromised(
    portal: State<'_, Portal>,
    id: String,
) -> Result<CompromiseRotation> {
    portal.rotate_compromised(&id).await
}

#[tauri::command(async)]
pub async fn rotate_admin_credential(portal: State<'_, Portal>) -> Result<AdminRotation> {
    portal.rotate_admin_credential().await
}

#[tauri::command(async)]
pub async fn key_usage(
    portal: State<'_, Portal>,
    id: String,
    range: UsageRange,
    step: Option<Step>,
) -> Result<KeyUsage> {
    portal.key_usage(&id, range, step).await
}

#[tauri::command(async)]
pub async fn account_usage(
    portal: State<'_, Portal>,
    range: UsageRange,
    step: Option<Step>,
) -> Result<AccountUsage> {
    portal.account_usage(range, step).await
}

/// Asks where to save (native dialog), then writes the key's series there.
/// Returns the path written, or `None` when the user cancelled.
#[tauri::command(async)]
pub async fn export_usage_csv<R: Runtime>(
    app: AppHandle<R>,
    portal: State<'_, Portal>,
    id: String,
    range: UsageRange,
    step: Option<Step>,
) -> Result<Option<String>> {
    let Some(path) = save_dialog(&app, &format!("keyport-usage-{id}.csv")).await? else {
        return Ok(None);
    };
    portal.export_usage_csv(&id, range, step, &path).await?;
    Ok(Some(path.display().to_string()))
}

#[tauri::command(async)]
pub async fn list_alerts(portal: State<'_, Portal>, all: bool) -> Result<AlertList> {
    portal.list_alerts(all).await
}

#[tauri::command(async)]
pub async fn ack_alert(portal: State<'_, Portal>, id: String) -> Result<Alert> {
    portal.ack_alert(&id).await
}

#[tauri::command(async)]
pub async fn list_webhooks(portal: State<'_, Portal>) -> Result<WebhookList> {
    portal.list_webhooks().await
}

#[tauri::command(async)]
pub async fn create_webhook(
    portal: State<'_, Portal>,
    req: CreateWebhookRequest,
) -> Result<CreatedWebhook> {
    portal.create_webhook(req).await
}

#[tauri::command(async)]
pub async fn update_webhook(
    portal: State<'_, Portal>,
    id: String,
    req: UpdateWebhookRequest,
) -> Result<WebhookEndpoint> {
    portal.update_webhook(&id, req).await
}

#[tauri::command(async)]
pub async fn delete_webhook(portal: State<'_, Portal>, id: String) -> Result<()> {
    portal.delete_webhook(&id).await
}

#[tauri::command(async)]
pub async fn test_webhook(portal: State<'_, Portal>, id: String) -> Result<WebhookDelivery> {
    portal.test_webhook(&id).await
}

#[tauri::command(async)]
pub async fn webhook_deliveries(portal: State<'_, Portal>, id: String) -> Result<DeliveryList> {
    portal.webhook_deliveries(&id).await
}

#[tauri::command(async)]
pub async fn retry_delivery(
    portal: State<'_, Portal>,
    id: String,
    delivery: i64,
) -> Result<WebhookDelivery> {
    portal.retry_delivery(&id, delivery).await
}

/// Asks for a folder and scans it for this account's keys; `None` when
/// the picker was cancelled.
#[tauri::command(async)]
pub async fn scan_folder<R: Runtime>(
    app: AppHandle<R>,
    portal: State<'_, Portal>,
) -> Result<Option<keyport_portal::scan::FolderScan>> {
    let Some(folder) = folder_dialog(&app).await? else {
        return Ok(None);
    };
    portal.scan_folder(&folder).await.map(Some)
}

/// The native folder picker; `None` when cancelled.
async fn folder_dialog<R: Runtime>(app: &AppHandle<R>) -> Result<Option<std::path::PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    dialog_plugin(app)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().pick_folder(move |path| {
        let _ = tx.send(path);
    });
    Ok(rx.await.ok().flatten().and_then(|p| p.into_path().ok()))
}

/// Registers the dialog plugin on first use: its page script (alert/confirm
/// overrides) is nothing the portal needs at start-up.
fn dialog_plugin<R: Runtime>(app: &AppHandle<R>) -> Result<()> {
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        if let Err(e) = app.plugin(tauri_plugin_dialog::init()) {
            tracing::warn!(error = %e, "the file dialogs are not available");
            return Err(PortalError::Internal(
                "The file dialog could not be opened.".into(),
            ));
        }
    }
    Ok(())
}

/// The native save dialog for a CSV file; `None` when cancelled.
async fn save_dialog<R: Runtime>(
    app: &AppHandle<R>,
    name: &str,
) -> Result<Option<std::path::PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    dialog_plugin(app)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .add_filter("CSV", &["csv"])
        .set_file_name(name)
        .save_file(move |path| {
            let _ = tx.send(path);
        });
    Ok(rx.await.ok().flatten().and_then(|p| p.into_path().ok()))
}

/// Writes the key to the clipboard from Rust (the webview has no clipboard
/// permission) and clears it after 60 s if it still holds that key.
#[tauri::command(async)]
pub async fn copy_secret<R: Runtime>(app: AppHandle<R>, secret: String) -> Result<()> {
    let clip: Arc<dyn Clipboard> = Arc::new(SystemClipboard(app));
    clipboard::copy_secret(clip, SecretKey::new(secret), clipboard::CLEAR_AFTER)
        .await
        .map(drop)
}

#[tauri::command(async)]
pub async fn connect_remote(
    portal: State<'_, Portal>,
    url: String,
    admin_key: String,
) -> Result<PortalStatus> {
    portal.connect_remote(&url, SecretKey::new(admin_key)).await
}

#[tauri::command(async)]
pub async fn use_service(portal: State<'_, Portal>, url: Option<String>) -> Result<PortalStatus> {
    portal.use_service(url.as_deref()).await
}

#[tauri::command(async)]
pub async fn sign_out(portal: State<'_, Portal>, url: String) -> Result<PortalStatus> {
    portal.sign_out(&url).await
}

/// Benchmark probe (bench/portal.sh): the UI calls it once, after its first
/// key list is painted. Prints the ready time only when
/// `KEYPORT_STARTUP_PROBE=1`; otherwise it does nothing.
#[tauri::command]
pub fn startup_ready(marks: Option<Vec<keyport_portal::startup::UiMark>>, now_ms: Option<f64>) {
    keyport_portal::startup::startup_ready(&marks.unwrap_or_default(), now_ms.unwrap_or(0.0));
}

/// Tauri's clipboard plugin behind the portal's clipboard seam.
struct SystemClipboard<R: Runtime>(AppHandle<R>);

impl<R: Runtime> Clipboard for SystemClipboard<R> {
    fn write_secret(&self, text: &str) -> std::result::Result<(), String> {
        self.0
            .clipboard()
            .write_secret(text)
            .map_err(|e| e.to_string())
    }

    fn read_text(&self) -> std::result::Result<String, String> {
        self.0.clipboard().read_text().map_err(|e| e.to_string())
    }

    fn clear(&self) -> std::result::Result<(), String> {
        self.0.clipboard().clear().map_err(|e| e.to_string())
    }
}

#[tauri::command(async)]
pub async fn enrollment_preview(
    portal: State<'_, Portal>,
    service_url: String,
    code: String,
) -> Result<EnrollOffer> {
    portal.enrollment_preview(&service_url, &code).await
}

#[tauri::command(async)]
pub async fn enroll(
    portal: State<'_, Portal>,
    service_url: String,
    code: String,
    revoke_other_admin_keys: bool,
) -> Result<PortalStatus> {
    portal
        .enroll(&service_url, &code, revoke_other_admin_keys)
        .await
}

#[tauri::command]
pub fn take_enroll_link(portal: State<'_, Portal>) -> Option<EnrollLink> {
    portal.take_enroll_link()
}
