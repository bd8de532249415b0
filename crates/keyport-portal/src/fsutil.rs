//! Small JSON files (settings, embedded state): read leniently, written
//! atomically (temporary file, then rename). They never hold a secret.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

use crate::error::{PortalError, Result};

/// The file's content, or `None` if it is missing or unreadable (a broken
/// file is logged and treated as absent rather than blocking the app).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read file");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring a file that does not parse");
            None
        }
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let fail =
        |e: std::io::Error| PortalError::Internal(format!("Cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| PortalError::Internal(format!("Cannot encode {}: {e}", path.display())))?;
    text.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(&text).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)
}
