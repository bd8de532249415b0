//! `keyport-server scan` on a folder with live, revoked and fake keys: each
//! found and told apart by hash, reported masked, never printed raw.

use keyport_core::{Environment, KeyPrefix, Plan};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::common::*;

fn scan(db: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyport-server"))
        .args(["scan", "--database", db])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn finds_live_revoked_and_fake_keys_and_prints_none() {
    let h = Harness::new().await;
    let acc = h.account(Plan::Starter).await;
    let other = h.account(Plan::Starter).await;
    let (_, live) = h.key_with_scopes(&acc.admin, &["read"], &[]).await;
    let (revoked_view, revoked) = h.key_with_scopes(&acc.admin, &["read"], &[]).await;
    let id = revoked_view["id"].as_str().unwrap();
    let res = h
        .post(&acc.admin, &format!("/v1/keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, theirs) = h.key_with_scopes(&other.admin, &["read"], &[]).await;
    let unknown = KeyPrefix::default().generate(Environment::Test, &mut rand::rngs::OsRng);
    let mut fake = live.clone();
    let last = fake.pop().unwrap();
    fake.push(if last == 'f' { 'e' } else { 'f' });

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("app/config")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("app/.env"), format!("KEYPORT_KEY={live}\n")).unwrap();
    std::fs::write(
        root.join("app/config/prod.yaml"),
        format!("old_key: \"{revoked}\"\nnew_key: \"{fake}\"\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("notes.md"),
        format!("theirs {theirs} and {}\n", unknown.expose()),
    )
    .unwrap();
    std::fs::write(root.join(".git/ORIG"), format!("{live}\n")).unwrap();

    let db = h.db.url();
    let path = root.to_str().unwrap();
    let (code, out, err) = scan(&db, &["--json", path]);
    assert_eq!(code, 1, "a live key fails the scan: {err}");
    let raw: [&str; 5] = [&live, &revoked, &fake, &theirs, unknown.expose()];
    for r in raw {
        assert!(
            !out.contains(r) && !err.contains(r),
            "a raw key was printed"
        );
    }
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["files"], 3, "the .git folder is left out: {report}");
    let status = |file: &str| -> Vec<String> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"].as_str().unwrap().ends_with(file))
            .map(|f| f["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(status(".env"), ["live"]);
    assert_eq!(status("prod.yaml"), ["inactive", "not_a_key"]);
    assert_eq!(status("notes.md"), ["live", "unknown"]);
    let env = &report["findings"][0];
    assert_eq!(
        (env["line"].as_u64(), env["column"].as_u64()),
        (Some(1), Some(13))
    );
    assert_eq!(
        env["masked"],
        format!("to_live_…{}", &live[live.len() - 4..])
    );
    assert_eq!(env["account_id"], acc.id.as_str());

    // Only one account's keys: the other's is unknown to it.
    let (_, out, _) = scan(&db, &["--json", "--account", &acc.id, path]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let notes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with("notes.md"))
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["unknown", "unknown"]);

    // Text output for people; no live key, exit 0.
    let (code, out, err) = scan(&db, &[root.join("app/config").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("prod.yaml:1:11: to_live_…"), "{out}");
    assert!(out.contains(&format!("revoked key {id}")), "{out}");
    assert!(out.contains("wrong checksum"), "{out}");
    assert!(
        err.contains("1 files, 2 key-shaped strings, 0 live keys"),
        "{err}"
    );
}
