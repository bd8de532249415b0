//! `keyport-server scan PATH…`: finds key-shaped strings in files, tells by
//! hash which are keys of this service (live, expired, revoked) and which
//! only look like keys, and reports them masked. A raw key is never
//! printed, logged or kept: each find carries its hash and `to_live_…a1b2`.

use chrono::{DateTime, Utc};
use keyport_core::scan::find_keys;
use keyport_core::KeyPrefix;
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::model::KeyStatus;
use crate::store::{Store, StoreError};

/// Files larger than this are skipped (and listed as skipped).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// What a key-shaped string turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// A key of this service that works right now: rotate it.
    Live {
        key_id: String,
        key_name: String,
        account_id: String,
    },
    /// A key of this service that no longer works.
    Inactive {
        key_id: String,
        account_id: String,
        state: KeyStatus,
    },
    /// A valid checksum, but no key of this service has this hash.
    Unknown,
    /// The checksum or length is wrong: a typo, a placeholder or a fake.
    NotAKey,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub masked: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub files: usize,
    /// Files not read: too large, unreadable (with why).
    pub skipped: Vec<(PathBuf, String)>,
}

impl Report {
    pub fn live(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Live { .. }))
            .count()
    }
}

/// Key-shaped strings in files, before any lookup.
#[derive(Debug, Default)]
pub struct Walk {
    pub found: Vec<(PathBuf, keyport_core::scan::Found)>,
    pub files: usize,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Reads `paths` (files, or folders walked without following links; `.git`
/// folders are left out) and finds every key-shaped string of `prefix`.
pub fn walk(prefix: &KeyPrefix, paths: &[PathBuf]) -> Walk {
    let mut files = Vec::new();
    let mut walk = Walk::default();
    for p in paths {
        collect(p, &mut files, &mut walk.skipped);
    }
    for file in files {
        match read(&file) {
            Ok(text) => {
                walk.files += 1;
                for found in find_keys(&text, prefix) {
                    walk.found.push((file.clone(), found));
                }
            }
            Err(why) => walk.skipped.push((file, why)),
        }
    }
    walk
}

/// Scans `paths` (see [`walk`]) and looks each find up by hash. With
/// `account`, only that account's keys count as this service's.
pub async fn scan(
    store: &dyn Store,
    prefix: &KeyPrefix,
    paths: &[PathBuf],
    account: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let walk = walk(prefix, paths);
    let mut report = Report {
        files: walk.files,
        skipped: walk.skipped,
        ..Report::default()
    };
    for (path, found) in walk.found {
        let verdict = match found.hash {
            None => Verdict::NotAKey,
            Some(hash) => match store.key_by_hash(&hash).await? {
                Some(k) if account.is_none_or(|a| a == k.account_id) => verdict_of(k, now),
                _ => Verdict::Unknown,
            },
        };
        report.findings.push(Finding {
            path,
            line: found.line,
            column: found.column,
            masked: found.masked,
            verdict,
        });
    }
    Ok(report)
}

fn verdict_of(k: crate::model::KeyRecord, now: DateTime<Utc>) -> Verdict {
    match k.status(now) {
        KeyStatus::Active => Verdict::Live {
            key_id: k.id,
            key_name: k.name,
            account_id: k.account_id,
        },
        state => Verdict::Inactive {
            key_id: k.id,
            account_id: k.account_id,
            state,
        },
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<(PathBuf, String)>) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return skipped.push((path.to_path_buf(), e.to_string())),
    };
    if meta.is_file() {
        return out.push(path.to_path_buf());
    }
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => return skipped.push((path.to_path_buf(), e.to_string())),
    };
    let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    children.sort();
    for child in children {
        if child.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        collect(&child, out, skipped);
    }
}

fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {} MiB", MAX_FILE_BYTES >> 20));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One line per finding, for a terminal.
pub fn describe(f: &Finding) -> String {
    let place = format!("{}:{}:{}", f.path.display(), f.line, f.column);
    let what = match &f.verdict {
        Verdict::Live {
            key_id,
            key_name,
            account_id,
        } => format!("LIVE key {key_id} \u{201c}{key_name}\u{201d} of {account_id}: rotate it now"),
        Verdict::Inactive {
            key_id,
            account_id,
            state,
        } => format!(
            "{} key {key_id} of {account_id}",
            match state {
                KeyStatus::Revoked => "revoked",
                KeyStatus::Expired => "expired",
                KeyStatus::Active => "active",
            }
        ),
        Verdict::Unknown => "valid checksum, not a key of this service".to_string(),
        Verdict::NotAKey => "key-shaped, wrong checksum (not a key)".to_string(),
    };
    format!("{place}: {} {what}", f.masked)
}
