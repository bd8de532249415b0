//! Copying a raw key to the clipboard from Rust, and clearing it after a
//! while if the clipboard still holds exactly that key. Only the key's
//! SHA-256 is kept for the comparison; the raw text is dropped (and zeroed)
//! right after the write.

use keyport_core::{KeyHash, SecretKey};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::client::key_prefix_of;
use crate::error::{PortalError, Result};

/// How long a copied key stays on the clipboard.
pub const CLEAR_AFTER: Duration = Duration::from_secs(60);

/// The system clipboard, as the app reaches it (Tauri's clipboard plugin).
/// Calls may block.
pub trait Clipboard: Send + Sync + 'static {
    /// Writes text, hinting clipboard managers to keep it out of history.
    fn write_secret(&self, text: &str) -> std::result::Result<(), String>;
    fn read_text(&self) -> std::result::Result<String, String>;
    fn clear(&self) -> std::result::Result<(), String>;
}

/// Writes `secret` to the clipboard and schedules the clear. The returned
/// task resolves to `true` if it cleared the clipboard, `false` if the
/// clipboard held something else by then.
pub async fn copy_secret(
    clipboard: Arc<dyn Clipboard>,
    secret: SecretKey,
    clear_after: Duration,
) -> Result<JoinHandle<bool>> {
    // Only keys are copied this way: not arbitrary text from the webview.
    key_prefix_of(secret.expose())
        .map_err(|_| PortalError::Invalid("Only a Keyport key can be copied here.".into()))?;
    let hash = KeyHash::of(secret.expose());
    let c = clipboard.clone();
    tokio::task::spawn_blocking(move || c.write_secret(secret.expose()))
        .await
        .map_err(|_| copy_failed("the clipboard call failed"))?
        .map_err(|e| copy_failed(&e))?;
    Ok(tokio::spawn(async move {
        tokio::time::sleep(clear_after).await;
        tokio::task::spawn_blocking(move || {
            let current = match clipboard.read_text() {
                Ok(t) => Zeroizing::new(t),
                Err(_) => return false,
            };
            if KeyHash::of(&current) != hash {
                return false;
            }
            match clipboard.clear() {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "could not clear the clipboard");
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }))
}

fn copy_failed(detail: &str) -> PortalError {
    PortalError::Internal(format!(
        "Could not copy to the clipboard ({detail}). Select the key and copy it by hand."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyport_core::{Environment, KeyPrefix};
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeClipboard(Mutex<Option<String>>);

    impl Clipboard for FakeClipboard {
        fn write_secret(&self, text: &str) -> std::result::Result<(), String> {
            *self.0.lock().unwrap() = Some(text.to_string());
            Ok(())
        }
        fn read_text(&self) -> std::result::Result<String, String> {
            self.0.lock().unwrap().clone().ok_or_else(|| "empty".into())
        }
        fn clear(&self) -> std::result::Result<(), String> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    fn key() -> SecretKey {
        KeyPrefix::default().generate(Environment::Live, &mut rand::rngs::OsRng)
    }

    #[tokio::test]
    async fn clears_the_clipboard_if_it_still_holds_the_key() {
        let clip = Arc::new(FakeClipboard::default());
        let k = key();
        let raw = k.expose().to_string();
        let task = copy_secret(clip.clone(), k, Duration::from_millis(20))
            .await
            .unwrap();
        assert_eq!(clip.read_text().unwrap(), raw);
        assert!(task.await.unwrap());
        assert!(clip.read_text().is_err());
    }

    #[tokio::test]
    async fn leaves_other_content_alone() {
        let clip = Arc::new(FakeClipboard::default());
        let task = copy_secret(clip.clone(), key(), Duration::from_millis(20))
            .await
            .unwrap();
        clip.write_secret("something the user copied later")
            .unwrap();
        assert!(!task.await.unwrap());
        assert_eq!(clip.read_text().unwrap(), "something the user copied later");
    }

    #[tokio::test]
    async fn refuses_text_that_is_not_a_key() {
        let clip = Arc::new(FakeClipboard::default());
        let e = copy_secret(
            clip.clone(),
            SecretKey::new("hello".into()),
            Duration::from_millis(1),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), crate::PortalErrorCode::Invalid);
        assert!(clip.read_text().is_err());
    }
}
