//! Stricter JSON shapes than serde's derive: a struct read only from an
//! object. The derived `Deserialize` also takes an array of the fields in
//! order (`[true, 4.0, 200]` as a rule), which no client means and the API
//! does not document.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::marker::PhantomData;

struct OnlyMaps<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMaps<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// `#[serde(deserialize_with = "only_object")]` on a struct-typed field.
pub fn only_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(OnlyMaps(PhantomData))
}

/// [`only_object`] for an optional field: `null` is `None`.
pub fn only_object_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    struct Opt<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Opt<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object or null")
        }

        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            only_object(d).map(Some)
        }
    }

    d.deserialize_option(Opt(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "only_object_opt")]
        opt: Option<Inner>,
        #[serde(deserialize_with = "only_object")]
        req: Inner,
    }

    #[test]
    fn objects_only() {
        let ok: Outer = serde_json::from_str(r#"{"opt": {"a": 1}, "req": {"a": 2}}"#).unwrap();
        assert_eq!(ok.opt, Some(Inner { a: 1 }));
        assert_eq!(ok.req, Inner { a: 2 });
        let none: Outer = serde_json::from_str(r#"{"opt": null, "req": {"a": 3}}"#).unwrap();
        assert_eq!(none.opt, None);
        assert!(serde_json::from_str::<Outer>(r#"{"opt": [1], "req": {"a": 3}}"#).is_err());
        assert!(serde_json::from_str::<Outer>(r#"{"req": [2]}"#).is_err());
    }
}
