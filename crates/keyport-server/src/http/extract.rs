//! Extractors: the bearer credential, the admin principal, and JSON/query
//! bodies whose rejections use the API's error shape.

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use keyport_core::request::{parse_bearer, BearerToken};
use keyport_core::SecretKey;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

use super::error::ApiError;
use super::AppState;
use crate::service::Admin;

const ABSENT: &str = "send your API key in the Authorization header: Bearer <key>";

/// The credential of a request. Only `Authorization: Bearer <key>` counts.
#[derive(Debug)]
pub enum Bearer {
    Present(SecretKey),
    Absent,
    Malformed,
}

pub fn bearer(headers: &HeaderMap) -> Bearer {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Bearer::Absent;
    };
    if values.next().is_some() {
        return Bearer::Malformed;
    }
    match parse_bearer(value.as_bytes()) {
        BearerToken::Present(token) => Bearer::Present(SecretKey::new(token.to_string())),
        BearerToken::Malformed => Bearer::Malformed,
    }
}

impl Bearer {
    /// The credential to check: a malformed header is checked (and fails,
    /// counted) like a wrong credential; an absent one is `absent`'s 401.
    pub fn presented(self, absent: &str) -> Result<Option<SecretKey>, ApiError> {
        match self {
            Bearer::Present(k) => Ok(Some(k)),
            Bearer::Absent => Err(ApiError::unauthorized(absent)),
            Bearer::Malformed => Ok(None),
        }
    }

    /// The key, or the 401 that says what is wrong with the header.
    pub fn require(self) -> Result<SecretKey, ApiError> {
        match self {
            Bearer::Present(k) => Ok(k),
            Bearer::Absent => Err(ApiError::unauthorized(ABSENT)),
            Bearer::Malformed => Err(ApiError::unauthorized(
                "the Authorization header must be exactly: Bearer <key>",
            )),
        }
    }
}

pub fn peer(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// The peer address of a request, for audit and per-source throttling.
pub struct Peer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer(&parts.extensions)))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let source = peer(&parts.extensions);
        let presented = bearer(&parts.headers).presented(ABSENT)?;
        Ok(state
            .service
            .authenticate_admin(presented.as_ref(), source.as_deref())
            .await?)
    }
}

/// `Json<T>` with the API's error shape on rejection. The body must be a
/// JSON object (see [`Object`]).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(Object(v)) = axum::Json::<Object<T>>::from_request(req, state).await?;
        Ok(Self(v))
    }
}

/// [`ApiJson`] for settings, where JSON Schema's view of numbers matters: an
/// integral float (`1.0`) is an integer there, so it is read as one
/// (`"days": [1.0, 2]` is Monday and Tuesday). Not for the verify path.
pub struct SettingsJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for SettingsJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(mut body) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        whole_numbers(&mut body);
        serde_path_to_error::deserialize(body)
            .map(SettingsJson)
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    format!("Failed to deserialize the JSON body into the target type: {e}"),
                )
            })
    }
}

/// Rewrites every integral float within `u64`/`i64` range as an integer.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) => {
            let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
                return;
            };
            // 2^63: beyond it an f64 no longer names one integer exactly.
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                *v = if f >= 0.0 {
                    Value::from(f as u64)
                } else {
                    Value::from(f as i64)
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// A struct read only from a JSON object. serde's derived `Deserialize`
/// also takes an array of the fields in order (`["ci", "live", ["read"]]`
/// as a `CreateKeyRequest`), which no client means and the API does not
/// document: that is refused as a wrong type.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        keyport_core::json::only_object(d).map(Object)
    }
}

/// `Query<T>` with the API's error shape on rejection.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// `Path<T>` with the API's error shape on rejection (e.g. a segment that
/// is not UTF-8 once percent-decoded).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::invalid(r.body_text()))?;
        Ok(Self(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(v: &[u8]) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        m
    }

    #[test]
    fn bodies_are_objects() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Req {
            name: String,
            #[serde(default)]
            n: Option<u32>,
        }
        let ok: Object<Req> = serde_json::from_str(r#"{"name":"a","n":1}"#).unwrap();
        assert_eq!(
            ok.0,
            Req {
                name: "a".into(),
                n: Some(1)
            }
        );
        for bad in [
            r#"["a", 1]"#,
            r#""a""#,
            "1",
            "null",
            r#"{"name":"a","x":1}"#,
        ] {
            let e = serde_json::from_str::<Object<Req>>(bad).unwrap_err();
            assert_eq!(e.classify(), serde_json::error::Category::Data, "{bad}");
        }
        let none: Option<Object<Req>> = serde_json::from_str("null").unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn integral_floats_are_integers() {
        let mut v = serde_json::json!({"days": [1.0, 2, 3.5], "n": -4.0, "big": 1e300, "s": "1.0"});
        whole_numbers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"days": [1, 2, 3.5], "n": -4, "big": 1e300, "s": "1.0"})
        );
        assert!(v["days"][0].is_u64());
    }

    #[test]
    fn bearer_forms() {
        assert!(matches!(bearer(&HeaderMap::new()), Bearer::Absent));
        assert!(matches!(bearer(&h(b"Bearer abc")), Bearer::Present(_)));
        assert!(matches!(bearer(&h(b"bearer abc")), Bearer::Present(_)));
        assert!(matches!(bearer(&h(b"")), Bearer::Malformed));
        assert!(matches!(bearer(&h(b"abc")), Bearer::Malformed));
        assert!(matches!(bearer(&h(b"Basic abc")), Bearer::Malformed));
        assert!(matches!(bearer(&h(b"Bearer ")), Bearer::Malformed));
        assert!(matches!(bearer(&h(b"Bearer \xff\xfe")), Bearer::Malformed));
        assert!(matches!(bearer(&h(&[b'a'; 4096])), Bearer::Malformed));
    }
}
