use axum::body::Bytes;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::{Json, Router};
use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

use crate::common::*;

/// What the upstream saw: every request it received.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// A small upstream API: echoes what it received; `/fail/{code}` answers
/// with that status.
pub async fn upstream() -> (reqwest::Url, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new()
        .route(
            "/fail/{code}",
            any(|Path(code): Path<u16>| async move {
                (
                    AxStatus::from_u16(code).unwrap(),
                    [("x-upstream", "yes")],
                    "upstream says no",
                )
            }),
        )
        .fallback(any(move |req: Request| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let headers: serde_json::Map<String, Value> = headers_json(&parts.headers);
                let seen = json!({
                    "method": parts.method.as_str(),
                    "path": parts.uri.path(),
                    "query": parts.uri.query(),
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                });
                log.lock().unwrap().push(seen.clone());
                (
                    AxStatus::OK,
                    [("x-upstream", "yes"), ("set-cookie", "a=1")],
                    Json(seen),
                )
                    .into_response()
            }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn headers_json(h: &HeaderMap) -> serde_json::Map<String, Value> {
    h.iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or("<bin>"))))
        .collect()
}

#[tokio::test]
async fn proxies_method_path_query_headers_and_body_without_the_credential() {
    let (url, seen) = upstream().await;
    let upstream_host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Starter).await;
    let (key, secret) = h.key_with_scopes(&a.admin, &["read", "write"], &[]).await;
    let res = h
        .http
        .put(h.url("/projects/alpha/items/7?expand=owner&x=1"))
        .bearer_auth(&secret)
        .header("x-custom", "kept")
        .header("x-keyport-key-id", "forged")
        .header("content-type", "text/plain")
        .body("hello upstream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-upstream").as_deref(), Some("yes"));
    assert_eq!(header(&res, "set-cookie").as_deref(), Some("a=1"));
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("60"));
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("99"));
    assert!(header(&res, "x-ratelimit-reset").is_some());
    let echoed: Value = res.json().await.unwrap();
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["path"], "/projects/alpha/items/7");
    assert_eq!(echoed["query"], "expand=owner&x=1");
    assert_eq!(echoed["body"], "hello upstream");
    let hdrs = &echoed["headers"];
    assert_eq!(hdrs["x-custom"], "kept");
    assert_eq!(hdrs["content-type"], "text/plain");
    assert!(
        hdrs.get("authorization").is_none(),
        "credential must not reach upstream"
    );
    assert_eq!(
        hdrs["x-keyport-key-id"], key["id"],
        "the forged header is replaced"
    );
    assert_eq!(hdrs["x-keyport-account-id"], a.id.as_str());
    // The upstream is addressed as itself; the client's address and host
    // travel in the forwarding headers.
    assert_eq!(hdrs["host"], upstream_host.as_str());
    assert_eq!(hdrs["x-forwarded-for"], "127.0.0.1");
    assert_eq!(hdrs["x-forwarded-proto"], "http");
    assert!(hdrs["forwarded"]
        .as_str()
        .unwrap()
        .starts_with("for=127.0.0.1;proto=http;host="));
    assert!(!seen
        .lock()
        .unwrap()
        .iter()
        .any(|v| v.to_string().contains(&secret)));
}

#[tokio::test]
async fn methods_need_their_scopes_and_resources_their_paths() {
    let (url, seen) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Enterprise).await;
    let (_, read) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let (_, write) = h.key_with_scopes(&a.admin, &["write"], &[]).await;
    let (_, alpha) = h
        .key_with_scopes(&a.admin, &["read", "write"], &["project:alpha"])
        .await;
    let cases: [(&str, &str, &str, u16); 12] = [
        ("GET", "/projects/beta", &read, 200),
        ("HEAD", "/projects/beta", &read, 200),
        ("POST", "/projects/beta", &read, 403),
        ("DELETE", "/projects/beta", &read, 403),
        ("GET", "/projects/beta", &write, 403),
        ("POST", "/projects/beta", &write, 200),
        ("PATCH", "/projects/beta", &write, 200),
        ("GET", "/projects/alpha", &alpha, 200),
        ("POST", "/projects/alpha/items", &alpha, 200),
        ("GET", "/projects/alphabet", &alpha, 403),
        ("GET", "/projects/beta/items", &alpha, 403),
        ("GET", "/health", &alpha, 403),
    ];
    for (method, path, key, expected) in cases {
        let before = seen.lock().unwrap().len();
        let res = h
            .http
            .request(method.parse().unwrap(), h.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), expected, "{method} {path}");
        let reached = seen.lock().unwrap().len() > before;
        assert_eq!(
            reached,
            expected == 200,
            "{method} {path} reached upstream: {reached}"
        );
        if expected == 403 && method != "HEAD" {
            expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    // Dot segments could smuggle a request past the resource check.
    for path in [
        "/projects/alpha/../beta",
        "/projects/alpha/%2e%2e/beta",
        "/projects/alpha%2f..%2fbeta",
    ] {
        let res = h
            .http
            .get(format!("{}{}", h.base, path))
            .bearer_auth(&alpha)
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let (url, seen) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Free).await;
    let (key, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let msg = expect_error(
        h.http.get(h.url("/things")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(msg.contains("Bearer"));
    expect_error(
        h.http
            .get(h.url("/things"))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(h.get(&secret, "/things").await.status(), StatusCode::OK);
    h.post(
        &a.admin,
        &format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    expect_error(
        h.get(&secret, "/things").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn gateway_rate_limits_with_headers() {
    let (url, seen) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Free).await;
    let (_, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let mut ok = 0;
    for _ in 0..25 {
        let res = h.get(&secret, "/things").await;
        if res.status() == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(header(&res, "retry-after").as_deref(), Some("6"));
            assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("0"));
            expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
    }
    assert_eq!(ok, 20);
    assert_eq!(
        seen.lock().unwrap().len(),
        20,
        "refused requests never reach upstream"
    );
}

#[tokio::test]
async fn upstream_errors_pass_through_and_unreachable_is_502() {
    let (url, _) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Professional).await;
    let (_, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    for code in [404u16, 500, 503] {
        let res = h.get(&secret, &format!("/fail/{code}")).await;
        assert_eq!(res.status().as_u16(), code);
        assert_eq!(header(&res, "x-upstream").as_deref(), Some("yes"));
        assert!(header(&res, "x-ratelimit-limit").is_some());
        assert_eq!(res.text().await.unwrap(), "upstream says no");
    }
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(dead);
    let h2 = Harness::with_upstream(Some(dead_url)).await;
    let b = h2.account(Plan::Free).await;
    let (_, s2) = h2.key_with_scopes(&b.admin, &["read"], &[]).await;
    expect_error(
        h2.get(&s2, "/anything").await,
        StatusCode::BAD_GATEWAY,
        "bad_gateway",
    )
    .await;
}

#[tokio::test]
async fn keys_in_urls_are_refused_and_never_forwarded() {
    let (url, seen) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Free).await;
    let (_, secret) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let encoded = secret.replace('_', "%5F");
    for path in [
        format!("/things?api_key={secret}"),
        format!("/things/{secret}"),
        format!("/things?k={encoded}"),
        format!("/v1/keys?key={secret}"),
        format!("/v1/verify?key={secret}"),
    ] {
        let res = h
            .http
            .get(h.url(&path))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "key_in_url").await;
    }
    // Even a lookalike with a wrong checksum: it is still someone's secret-shaped text.
    let res = h
        .http
        .get(h.url("/x?k=to_live_0123456789abcdef0123456789"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "key_in_url").await;
    assert!(seen.lock().unwrap().is_empty());
    // The refused key was not verified, so it used none of its limit.
    let res = h.verify(json!({"key": secret})).await;
    assert_eq!(header(&res, "x-ratelimit-remaining").as_deref(), Some("19"));
}
