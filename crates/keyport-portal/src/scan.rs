//! The portal's folder scan: key-shaped strings in a folder's files, told
//! apart by asking the service which hashes are this account's keys (only
//! hashes leave the machine; the answer never holds a raw key).

use keyport_server::scan::walk;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

use crate::error::{PortalError, Result};
use crate::portal::Portal;

/// Hashes per lookup request.
const LOOKUP_BATCH: usize = 500;

/// What a folder scan found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FolderScan {
    pub folder: String,
    pub files: u32,
    /// Files not read (too large or unreadable).
    pub skipped: u32,
    pub findings: Vec<FolderFinding>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FolderFinding {
    /// Relative to the folder.
    pub path: String,
    pub line: u32,
    pub column: u32,
    /// `to_live_…a1b2`.
    pub masked: String,
    pub status: FindingStatus,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum FindingStatus {
    /// A working key of this account: rotate it.
    Live,
    /// A revoked or expired key of this account.
    Inactive,
    /// A valid checksum, but not a key of this account.
    Unknown,
    /// Key-shaped with a wrong checksum: a typo, placeholder or fake.
    NotAKey,
}

impl Portal {
    /// Scans `folder` for this account's keys.
    pub async fn scan_folder(&self, folder: &Path) -> Result<FolderScan> {
        let client = self.client().await?;
        let prefix = client.key_prefix().cloned().unwrap_or_default();
        let paths = vec![folder.to_path_buf()];
        let walked = tokio::task::spawn_blocking(move || walk(&prefix, &paths))
            .await
            .map_err(|_| PortalError::Internal("The scan stopped unexpectedly.".into()))?;
        let mut hashes: Vec<String> = walked
            .found
            .iter()
            .filter_map(|(_, f)| f.hash.map(|h| h.to_hex()))
            .collect();
        hashes.sort();
        hashes.dedup();
        let mut known = HashMap::new();
        for batch in hashes.chunks(LOOKUP_BATCH) {
            for m in client.lookup_keys(batch).await?.keys {
                known.insert(m.hash, m.key);
            }
        }
        let findings = walked
            .found
            .into_iter()
            .map(|(path, f)| {
                let key = f.hash.and_then(|h| known.get(&h.to_hex()));
                let status = match (f.hash, key) {
                    (None, _) => FindingStatus::NotAKey,
                    (Some(_), None) => FindingStatus::Unknown,
                    (Some(_), Some(k)) if k.status == keyport_api::KeyStatus::Active => {
                        FindingStatus::Live
                    }
                    (Some(_), Some(_)) => FindingStatus::Inactive,
                };
                FolderFinding {
                    path: relative(folder, &path),
                    line: u32::try_from(f.line).unwrap_or(u32::MAX),
                    column: u32::try_from(f.column).unwrap_or(u32::MAX),
                    masked: f.masked,
                    status,
                    key_id: key.map(|k| k.id.clone()),
                    key_name: key.map(|k| k.name.clone()),
                }
            })
            .collect();
        Ok(FolderScan {
            folder: folder.display().to_string(),
            files: u32::try_from(walked.files).unwrap_or(u32::MAX),
            skipped: u32::try_from(walked.skipped.len()).unwrap_or(u32::MAX),
            findings,
        })
    }
}

fn relative(folder: &Path, path: &Path) -> String {
    path.strip_prefix(folder)
        .unwrap_or(path)
        .display()
        .to_string()
}
