//! The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers,
//! Structured Field Lists per RFC 9651) next to `X-RateLimit-*`, parsed back
//! with an independent structured-field parser; and the RFC 9457 problem a
//! client that asks for one gets with a 429.

use keyport_core::Plan;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sfv::{BareItem, FieldType, List, ListEntry, Parser};

use crate::common::*;
use crate::gateway::upstream;

/// One policy of a parsed list: its name and integer parameters.
#[derive(Debug, PartialEq)]
struct Policy {
    name: String,
    params: Vec<(String, i64)>,
}

fn parse(res: &reqwest::Response, name: &str) -> Vec<Policy> {
    let raw = header(res, name).unwrap_or_else(|| panic!("no {name} header"));
    let list: List = Parser::new(&raw)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {raw:?} is not a structured field list: {e}"));
    // Serializing it again gives the same text: nothing non-canonical.
    assert_eq!(list.serialize().as_deref(), Some(raw.as_str()), "{name}");
    list.into_iter()
        .map(|entry| {
            let ListEntry::Item(item) = entry else {
                panic!("{name}: an inner list in {raw:?}")
            };
            let BareItem::String(s) = &item.bare_item else {
                panic!("{name}: policy names are strings: {raw:?}")
            };
            let params = item
                .params
                .iter()
                .map(|(k, v)| {
                    let BareItem::Integer(n) = v else {
                        panic!("{name}: {k:?} is not an integer in {raw:?}")
                    };
                    (k.as_str().to_string(), i64::from(*n))
                })
                .collect();
            Policy {
                name: s.as_str().to_string(),
                params,
            }
        })
        .collect()
}

fn policy(name: &str, params: &[(&str, i64)]) -> Policy {
    Policy {
        name: name.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// `POST /v1/verify` with an `Accept` header.
async fn verify_accepting(h: &Harness, key: &str, accept: &str) -> reqwest::Response {
    h.http
        .post(h.url("/v1/verify"))
        .header("Accept", accept)
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap()
}

fn num(res: &reqwest::Response, name: &str) -> i64 {
    header(res, name).unwrap().parse().unwrap()
}

#[tokio::test]
async fn verify_sends_both_header_sets_and_a_problem_when_asked() {
    let h = Harness::new().await;
    let a = h.account(Plan::Free).await; // 10 a minute, bursts of 20, 1,000 a day
    let (_, key) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let res = h.verify(json!({"key": key})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        parse(&res, "RateLimit-Policy"),
        [
            policy("minute", &[("q", 10), ("w", 60)]),
            policy("day", &[("q", 1000), ("w", 86_400)]),
        ]
    );
    let now = parse(&res, "RateLimit");
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].name, "minute");
    let r = now[0].params[0].clone();
    assert_eq!(r, ("r".into(), num(&res, "X-RateLimit-Remaining")));
    let (t_name, t) = now[0].params[1].clone();
    assert_eq!(t_name, "t");
    // Seconds until the burst is whole again, not an epoch.
    assert!((0..=120).contains(&t), "t = {t}");

    // Spend the burst: the refusal says when, in both forms.
    let mut refused = None;
    for _ in 0..25 {
        let res = h.verify(json!({"key": key})).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
    }
    let res = refused.expect("a 429 within 25 verifies");
    let now = parse(&res, "RateLimit");
    assert_eq!(now[0].name, "minute");
    assert_eq!(now[0].params[0], ("r".into(), 0));
    let t = now[0].params[1].1;
    assert!(t >= 1);
    assert!(num(&res, "Retry-After") >= t, "Retry-After ≥ t");
    assert_eq!(parse(&res, "RateLimit-Policy").len(), 2);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "rate_limited",
        "plain JSON by default"
    );

    // A client that takes problem details gets one (RFC 9457).
    let res = verify_accepting(&h, &key, "application/json, application/problem+json").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert!(header(&res, "RateLimit").is_some());
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://iana.org/assignments/http-problem-types#quota-exceeded"
    );
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["violated-policies"], json!(["minute"]));
    assert_eq!(problem["code"], "rate_limited");
    // `q=0` means "not this one".
    let res = verify_accepting(&h, &key, "application/problem+json;q=0, application/json").await;
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn the_day_policy_binds_when_the_daily_quota_is_nearer() {
    let h = Harness::new().await;
    let a = h.account(Plan::Starter).await;
    let (_, key) = h
        .create_key(
            &a.admin,
            json!({"name": "three a day", "environment": "live", "scopes": ["read"],
                   "rate_limit": {"per_day": 3}}),
        )
        .await;
    let res = h.verify(json!({"key": key})).await;
    assert_eq!(
        parse(&res, "RateLimit-Policy")[1],
        policy("day", &[("q", 3), ("w", 86_400)])
    );
    // t0 is 12:00 UTC: 12 hours to midnight.
    assert_eq!(
        parse(&res, "RateLimit"),
        [policy("day", &[("r", 2), ("t", 12 * 3600)])]
    );
    h.verify(json!({"key": key})).await;
    h.verify(json!({"key": key})).await;
    let res = verify_accepting(&h, &key, "application/problem+json").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        parse(&res, "RateLimit"),
        [policy("day", &[("r", 0), ("t", 12 * 3600)])]
    );
    assert_eq!(num(&res, "Retry-After"), 12 * 3600);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["violated-policies"], json!(["day"]));
}

#[tokio::test]
async fn the_gateway_sends_them_and_no_day_policy_without_a_daily_quota() {
    let (url, _) = upstream().await;
    let h = Harness::with_upstream(Some(url)).await;
    let a = h.account(Plan::Enterprise).await; // 1,000 a minute, no daily cap
    let (_, key) = h.key_with_scopes(&a.admin, &["read"], &[]).await;
    let res = h
        .http
        .get(h.url("/hello"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        parse(&res, "RateLimit-Policy"),
        [policy("minute", &[("q", 1000), ("w", 60)])]
    );
    let now = parse(&res, "RateLimit");
    assert_eq!(now[0].name, "minute");
    assert_eq!(now[0].params[0].1, num(&res, "X-RateLimit-Remaining"));
}
