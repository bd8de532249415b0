//! The portal's commands through Tauri's mock runtime (the real IPC path,
//! argument names and error shape) against a real embedded key service on
//! loopback with its SQLite file in a temp folder. No display needed.

use keyport_app::app_builder;
use keyport_portal::{MemoryKeychain, Portal, PortalConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

struct App {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _dir: tempfile::TempDir,
}

impl App {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = app_builder(mock_builder())
            .build(mock_context(noop_assets()))
            .expect("mock app");
        app.manage(Portal::new(
            PortalConfig {
                data_dir: dir.path().join("data"),
                config_dir: dir.path().join("config"),
            },
            Arc::new(MemoryKeychain::new()),
        ));
        let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        Self {
            app,
            window,
            _dir: dir,
        }
    }

    /// Invokes like `invoke(cmd, args)` from the webview.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let req = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, req).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let portal = self.app.state::<Portal>();
        tauri::async_runtime::block_on(portal.shutdown());
    }
}

fn get(url: String, key: Option<&str>) -> reqwest::StatusCode {
    tauri::async_runtime::block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.unwrap().status()
    })
}

#[test]
fn portal_status_on_first_launch() {
    let app = App::new();
    let st = app.ok("portal_status", json!({}));
    assert_eq!(st["mode"], "embedded");
    assert_eq!(st["account"]["plan"], "professional");
    assert_eq!(st["keychain"]["available"], true);
    assert_eq!(st["saved_services"], json!([]));
    let url = st["service_url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"));
    assert_eq!(st["try_it"]["gateway_url"], url);
    assert_eq!(
        st["try_it"]["curl"],
        format!("curl -H \"Authorization: Bearer $KEYPORT_KEY\" {url}/hello")
    );
    let account = app.ok("get_account", json!({}));
    assert_eq!(account["id"], st["account"]["id"]);
}

#[test]
fn create_key_then_list_shows_it_masked_then_revoke() {
    let app = App::new();
    let st = app.ok("portal_status", json!({}));
    let gateway = st["try_it"]["gateway_url"].as_str().unwrap().to_string();

    let once = app.ok(
        "create_key",
        json!({"input": {
            "name": "CI deploys", "environment": "test", "scopes": ["read", "write"],
            "resources": [], "expires_at": null, "rate_limit": null
        }}),
    );
    let secret = once["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("to_test_"));
    let id = once["key"]["id"].as_str().unwrap().to_string();
    assert_eq!(once["key"]["last4"], &secret[secret.len() - 4..]);
    assert_eq!(once["key"]["prefix"], "to_test_");

    // Listed masked: prefix and last4 only.
    let list = app.ok("list_keys", json!({}));
    assert!(
        !list.to_string().contains(&secret),
        "the raw key is never listed"
    );
    let listed = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("the new key is listed");
    assert_eq!(listed["last4"], &secret[secret.len() - 4..]);
    assert_eq!(listed["status"], "active");
    assert_eq!(list["keys"][0]["id"], id.as_str(), "newest first");
    // The same page again (only the admin key's last use moves: every call
    // the portal makes uses it).
    let again = app.ok("list_keys", json!({"cursor": null}));
    let ids = |v: &Value| -> Vec<Value> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].clone())
            .collect()
    };
    assert_eq!(ids(&again), ids(&list));
    assert_eq!(again["keys"][0], list["keys"][0]);

    let got = app.ok("get_key", json!({"id": id}));
    assert_eq!(got["name"], "CI deploys");
    assert!(!got.to_string().contains(&secret));

    // The raw key works against the embedded gateway.
    assert_eq!(get(format!("{gateway}/hello"), Some(&secret)), 200);

    let patched = app.ok(
        "update_key",
        json!({"id": id, "patch": {"name": "CI deploys (main)"}}),
    );
    assert_eq!(patched["name"], "CI deploys (main)");

    let revoked = app.ok("revoke_key", json!({"id": id}));
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(get(format!("{gateway}/hello"), Some(&secret)), 401);
    let list = app.ok("list_keys", json!({}));
    let listed = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["status"], "revoked");

    let audit = app.ok("audit_log", json!({}));
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["key.create", "key.update", "key.revoke"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[test]
fn errors_have_the_contract_shape() {
    let app = App::new();
    let e = app
        .invoke("get_key", json!({"id": "key_nope"}))
        .unwrap_err();
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(e["retry_after"], Value::Null);

    let e = app
        .invoke(
            "create_key",
            json!({"input": {"name": "", "environment": "live", "scopes": ["read"],
                              "resources": [], "expires_at": null, "rate_limit": null}}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "invalid");

    // camelCase argument from JS: adminKey.
    let e = app
        .invoke(
            "connect_remote",
            json!({"url": "http://10.1.2.3:8080", "adminKey": "to_live_x"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "invalid");

    // Only keys go to the clipboard.
    let e = app
        .invoke("copy_secret", json!({"secret": "hello"}))
        .unwrap_err();
    assert_eq!(e["code"], "invalid");

    let e = app
        .invoke("use_service", json!({"url": "https://unknown.example"}))
        .unwrap_err();
    assert_eq!(e["code"], "not_found");
    let st = app.ok("use_service", json!({"url": null}));
    assert_eq!(st["mode"], "embedded");
    let st = app.ok("sign_out", json!({"url": "https://unknown.example"}));
    assert_eq!(st["mode"], "embedded");
}

#[test]
fn without_a_keychain_commands_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_builder(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app");
    app.manage(Portal::new(
        PortalConfig {
            data_dir: dir.path().join("data"),
            config_dir: dir.path().join("config"),
        },
        Arc::new(MemoryKeychain::unavailable()),
    ));
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    let call = |cmd: &str| {
        get_ipc_response(
            &window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(json!({})),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    };
    let st = call("portal_status").unwrap();
    assert_eq!(st["keychain"]["available"], false);
    assert!(st["keychain"]["fix"]
        .as_str()
        .unwrap()
        .contains("gnome-keyring"));
    assert_eq!(st["account"], Value::Null);
    let e = call("list_keys").unwrap_err();
    assert_eq!(e["code"], "keychain_unavailable");
    tauri::async_runtime::block_on(app.state::<Portal>().shutdown());
}

#[test]
fn usage_series_and_totals_and_alerts() {
    let app = App::new();
    let st = app.ok("portal_status", json!({}));
    let gateway = st["try_it"]["gateway_url"].as_str().unwrap().to_string();
    let once = app.ok(
        "create_key",
        json!({"input": {
            "name": "Charts", "environment": "test", "scopes": ["read"],
            "resources": [], "expires_at": null, "rate_limit": null
        }}),
    );
    let secret = once["secret"].as_str().unwrap().to_string();
    let id = once["key"]["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(get(format!("{gateway}/hello"), Some(&secret)), 200);
    }

    // Counts reach the store within a flush interval (1 s).
    let total = |u: &Value| -> u64 {
        u["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["success"].as_u64().unwrap())
            .sum()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let usage = loop {
        let u = app.ok("key_usage", json!({"id": id, "range": "1h", "step": null}));
        if total(&u) == 3 || std::time::Instant::now() > deadline {
            break u;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(total(&usage), 3);
    assert_eq!(usage["step"], "minute");
    let n = usage["points"].as_array().unwrap().len();
    assert!((60..=61).contains(&n), "an hour of minutes, got {n}");
    assert_eq!(usage["endpoints"][0]["endpoint"], "GET /hello");

    let week = app.ok("key_usage", json!({"id": id, "range": "7d", "step": null}));
    assert_eq!(week["step"], "hour");
    let month = app.ok(
        "key_usage",
        json!({"id": id, "range": "30d", "step": "minute"}),
    );
    assert!(month["points"].as_array().unwrap().len() >= 43_200);
    assert_eq!(total(&month), 3);

    let account = app.ok("account_usage", json!({"range": "24h", "step": null}));
    assert_eq!(total(&account), 3, "only gateway traffic is usage");
    let mine = account["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["total"], 3);

    assert!(
        app.invoke("key_usage", json!({"id": id, "range": "2h", "step": null}))
            .is_err(),
        "only the ranges the UI offers"
    );

    let open = app.ok("list_alerts", json!({"all": false}));
    assert!(open["alerts"].is_array());
    let err = app
        .invoke("ack_alert", json!({"id": "alr_nope"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn rotation_commands_take_the_ui_argument_names() {
    let app = App::new();
    let st = app.ok("portal_status", json!({}));
    let gateway = st["try_it"]["gateway_url"].as_str().unwrap().to_string();
    let old = app.ok(
        "create_key",
        json!({"input": {
            "name": "Rotated", "environment": "live", "scopes": ["read"],
            "resources": [], "expires_at": null, "rate_limit": null
        }}),
    );
    let old_id = old["key"]["id"].as_str().unwrap().to_string();
    let old_secret = old["secret"].as_str().unwrap().to_string();

    let new = app.ok("rotate_key", json!({"id": old_id}));
    let new_id = new["key"]["id"].as_str().unwrap().to_string();
    let new_secret = new["secret"].as_str().unwrap().to_string();
    assert_eq!(new["key"]["replaces"], old_id.as_str());
    assert_eq!(
        app.ok("replacement_info", json!({"id": new_id})),
        json!({"generated_here": true, "portal_checks": 0})
    );
    let check = app.ok(
        "check_replacement",
        json!({"id": new_id, "secret": new_secret}),
    );
    assert_eq!(check["matches"], true);
    assert_eq!(check["accepted"], true);
    assert_eq!(check["checked_by"], "hash");
    assert_eq!(check["portal_checks"], 1);

    let compromised = app.ok("rotate_compromised", json!({"id": new_id}));
    assert_eq!(compromised["old_revoked"], true);
    assert_eq!(get(format!("{gateway}/hello"), Some(&new_secret)), 401);
    let third = compromised["once"]["secret"].as_str().unwrap();
    assert_eq!(get(format!("{gateway}/hello"), Some(third)), 200);
    assert_eq!(get(format!("{gateway}/hello"), Some(&old_secret)), 200);

    let own = st["account"]["credential_key_id"].clone();
    let rotated = app.ok("rotate_admin_credential", json!({}));
    assert_eq!(rotated["old_key_id"], own);
    assert_eq!(rotated["old_revoked"], true);
    let st = app.ok("portal_status", json!({}));
    assert_eq!(st["account"]["credential_key_id"], rotated["new_key_id"]);
    app.ok("list_keys", json!({}));
}

#[test]
fn policy_commands_round_trip_with_the_ui_argument_names() {
    let app = App::new();
    app.ok("portal_status", json!({}));
    let account = app.ok(
        "update_account",
        json!({"patch": {
            "business_hours": {"time_zone": "Europe/Berlin", "days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"},
            "allowed_countries": ["de", "AT", "ch"],
            "anomaly_rules": {"after_hours": {"enabled": false}},
        }}),
    );
    assert_eq!(
        account["settings"]["allowed_countries"],
        json!(["AT", "CH", "DE"])
    );
    assert_eq!(account["settings"]["business_hours"]["end"], "19:00");
    assert_eq!(
        app.ok("get_account", json!({}))["settings"]["anomaly_rules"]["after_hours"]["enabled"],
        false
    );
    // The portal's session keeps the new view (the status shows it too).
    let st = app.ok("portal_status", json!({}));
    assert_eq!(
        st["account"]["settings"]["allowed_countries"],
        json!(["AT", "CH", "DE"])
    );
    let err = app
        .invoke(
            "update_account",
            json!({"patch": {"anomaly_rules": {"volume_spike": {"factor": 0.1}}}}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("volume_spike.factor"));

    let preview = app.ok(
        "preview_alerts",
        json!({"request": {"days": 30, "allowed_countries": ["FR"]}}),
    );
    assert_eq!(preview["days"], 30);
    assert_eq!(preview["current"]["kinds"].as_array().unwrap().len(), 5);
    assert_eq!(preview["approximate"], true);

    // Notification preferences: this computer's, per account.
    assert_eq!(
        app.ok("notify_prefs", json!({})),
        json!({"muted": [], "quiet_hours": null})
    );
    let saved = app.ok(
        "set_notify_prefs",
        json!({"prefs": {"muted": ["after_hours", "volume_spike", "after_hours"], "quiet_hours": {"start": "22:00", "end": "07:00"}}}),
    );
    assert_eq!(saved["muted"], json!(["after_hours", "volume_spike"]));
    assert_eq!(app.ok("notify_prefs", json!({})), saved);
    let err = app
        .invoke(
            "set_notify_prefs",
            json!({"prefs": {"muted": [], "quiet_hours": {"start": "9pm", "end": "07:00"}}}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert_eq!(
        app.ok("notify_prefs", json!({})),
        saved,
        "bad input changes nothing"
    );
}

/// A webhook receiver on loopback (plain threads): answers 200 and keeps
/// each request's head and body.
fn receiver() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut head, mut len) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            log.lock()
                .unwrap()
                .push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn webhook_commands_add_test_and_log_deliveries() {
    let app = App::new();
    let (url, got) = receiver();
    let created = app.ok(
        "create_webhook",
        json!({"req": {"url": url, "events": ["key.created"], "description": "ops"}}),
    );
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = created["endpoint"]["id"].as_str().unwrap().to_string();
    let list = app.ok("list_webhooks", json!({}));
    assert_eq!(list["endpoints"][0]["id"], id.as_str());
    assert!(
        !list.to_string().contains(&secret[6..]),
        "the secret is shown once"
    );

    let queued = app.ok("test_webhook", json!({"id": id}));
    assert_eq!(queued["event_type"], "webhook.test");
    let mut log = Value::Null;
    for _ in 0..100 {
        log = app.ok("webhook_deliveries", json!({"id": id}));
        if log["deliveries"][0]["status"] == "delivered" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(log["deliveries"][0]["status"], "delivered", "{log}");
    assert_eq!(log["deliveries"][0]["response_status"], 200);
    let first = got.lock().unwrap()[0].clone();
    assert!(first.contains("webhook-signature: v1,"), "{first}");
    assert!(first.contains("\"webhook.test\""), "{first}");

    let off = app.ok(
        "update_webhook",
        json!({"id": id, "req": {"enabled": false}}),
    );
    assert_eq!(off["enabled"], false);
    let err = app.invoke("test_webhook", json!({"id": id})).unwrap_err();
    assert_eq!(err["code"], "conflict");
    let delivered = log["deliveries"][0]["id"].as_i64().unwrap();
    let err = app
        .invoke("retry_delivery", json!({"id": id, "delivery": delivered}))
        .unwrap_err();
    assert_eq!(err["code"], "conflict", "a delivered one is not sent again");
    assert!(app.ok("delete_webhook", json!({"id": id})).is_null());
    let err = app
        .invoke("webhook_deliveries", json!({"id": id}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn quarantine_commands_and_the_folder_scan() {
    let app = App::new();
    let made = app.ok(
        "create_key",
        json!({"input": {
            "name": "Leaky", "environment": "live", "scopes": ["read", "write"],
            "resources": [], "expires_at": null, "rate_limit": null
        }}),
    );
    let id = made["key"]["id"].as_str().unwrap().to_string();
    let secret = made["secret"].as_str().unwrap().to_string();

    let q = app.ok(
        "quarantine_key",
        json!({"id": id, "reason": "pasted in chat"}),
    );
    assert_eq!(q["quarantine"]["reason"], "pasted in chat");
    let r = app.ok("release_key", json!({"id": id}));
    assert!(r["quarantine"].is_null());
    let err = app
        .invoke("quarantine_key", json!({"id": id, "reason": " "}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid");

    // The scan itself (the command adds only the folder picker).
    let dir = tempfile::tempdir().unwrap();
    let mut fake = secret.clone();
    let last = fake.pop().unwrap();
    fake.push(if last == '0' { '1' } else { '0' });
    std::fs::write(
        dir.path().join(".env"),
        format!("KEY={secret}\nOLD={fake}\n"),
    )
    .unwrap();
    let portal = app.app.state::<Portal>();
    let scan = tauri::async_runtime::block_on(portal.scan_folder(dir.path())).unwrap();
    let found = serde_json::to_value(&scan).unwrap();
    assert!(
        !found.to_string().contains(&secret),
        "a raw key in the answer"
    );
    assert_eq!(found["files"], 1);
    assert_eq!(found["findings"][0]["status"], "live");
    assert_eq!(found["findings"][0]["key_id"], id.as_str());
    assert_eq!(found["findings"][0]["path"], ".env");
    assert_eq!(found["findings"][1]["status"], "not_a_key");
}

fn verify_from(base: &str, key: &str, ip: &str) -> reqwest::StatusCode {
    tauri::async_runtime::block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/v1/verify"))
            .json(&json!({"key": key, "scope": "read", "ip": ip}))
            .send()
            .await
            .unwrap()
            .status()
    })
}

#[test]
fn restriction_commands_take_the_ui_argument_names() {
    let app = App::new();
    let st = app.ok("portal_status", json!({}));
    let base = st["service_url"].as_str().unwrap().to_string();
    let made = app.ok(
        "create_key",
        json!({"input": {
            "name": "Billing", "environment": "live", "scopes": ["read", "write"],
            "resources": [], "expires_at": null, "rate_limit": null,
            "allowed_ips": ["203.0.113.0/24", "198.51.100.0/24"]
        }}),
    );
    assert_eq!(
        made["key"]["allowed_ips"],
        json!(["203.0.113.0/24", "198.51.100.0/24"])
    );
    let id = made["key"]["id"].as_str().unwrap().to_string();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert_eq!(verify_from(&base, &secret, "203.0.113.5"), 200);
    assert_eq!(verify_from(&base, &secret, "198.51.100.5"), 200);
    assert_eq!(verify_from(&base, &secret, "192.0.2.1"), 403);

    let restriction = json!({"allowed_ips": ["203.0.113.0/24"]});
    let replay = app.ok(
        "replay_restriction",
        json!({"id": id, "restriction": restriction, "days": 7}),
    );
    assert!(replay["rules"][0]["rule"] == "ip", "{replay}");
    let s = app.ok("key_suggestions", json!({"id": id, "days": null}));
    assert!(s["suggestions"].is_array(), "{s}");

    let proposed = app.ok(
        "propose_restriction",
        json!({"id": id, "restriction": restriction, "days": 2}),
    );
    assert_eq!(
        proposed["proposal"]["restriction"]["allowed_ips"],
        json!(["203.0.113.0/24"])
    );
    assert_eq!(
        verify_from(&base, &secret, "198.51.100.5"),
        200,
        "report-only"
    );
    let dropped = app.ok("drop_proposal", json!({"id": id}));
    assert!(dropped["proposal"].is_null());
    app.ok(
        "propose_restriction",
        json!({"id": id, "restriction": restriction, "days": null}),
    );
    let enforced = app.ok("enforce_proposal", json!({"id": id}));
    assert_eq!(enforced["allowed_ips"], json!(["203.0.113.0/24"]));
    assert_eq!(verify_from(&base, &secret, "198.51.100.5"), 403);

    let err = app
        .invoke(
            "propose_restriction",
            json!({"id": id, "restriction": {"allowed_ips": ["nope"]}, "days": 7}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid");
    let err = app
        .invoke("enforce_proposal", json!({"id": id}))
        .unwrap_err();
    assert_eq!(err["code"], "conflict");
}
