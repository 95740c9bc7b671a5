//! Collection items decoded one by one, so that one malformed item does not lose its page.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An item of a Graph collection: decoded, or the reason it could not be.
///
/// The page is split into raw items first (no `Value` tree is built), then each is decoded into `T`:
/// this is the hot path of log collection.
#[derive(Debug)]
pub enum Lenient<T> {
    Item(T),
    Invalid(String),
}

impl<T: DeserializeOwned> Lenient<T> {
    /// An item that is already parsed (an inner `$batch` answer).
    pub fn from_value(v: serde_json::Value) -> Self {
        match serde_json::from_value(v) {
            Ok(t) => Lenient::Item(t),
            Err(e) => Lenient::Invalid(e.to_string()),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(match from_str::<T>(raw.get()) {
            Ok(t) => Lenient::Item(t),
            Err(e) => Lenient::Invalid(e.to_string()),
        })
    }
}

/// `serde_json::from_str`, except that an object repeating a key decodes with the last value, as
/// Microsoft's SDKs do (Graph's own published beta sign-in example repeats `homeTenantId`); serde's
/// derive refuses such an object with "duplicate field". The fast path is the plain decode; only a
/// duplicate-field failure takes the slower detour through a `Value`, whose maps keep the last value.
pub fn from_str<T: DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    from_slice(json.as_bytes())
}

/// [`from_str`] over bytes.
pub fn from_slice<T: DeserializeOwned>(json: &[u8]) -> serde_json::Result<T> {
    match serde_json::from_slice::<T>(json) {
        Err(e) if is_duplicate_field(&e) => {
            let value: serde_json::Value = serde_json::from_slice(json)?;
            serde_json::from_value(value)
        }
        other => other,
    }
}

/// serde's derive reports a repeated key as "duplicate field `name`" (a data error).
fn is_duplicate_field(e: &serde_json::Error) -> bool {
    e.is_data() && e.to_string().starts_with("duplicate field `")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Page;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        id: u32,
    }

    #[test]
    fn a_bad_item_does_not_lose_the_page() {
        let page: Page<Lenient<Item>> =
            serde_json::from_str(r#"{"value":[{"id":1},{"id":"x"},{"id":3}]}"#).unwrap();
        let ok: Vec<u32> = page
            .value
            .iter()
            .filter_map(|l| match l {
                Lenient::Item(i) => Some(i.id),
                Lenient::Invalid(_) => None,
            })
            .collect();
        assert_eq!(ok, vec![1, 3]);
        assert!(matches!(&page.value[1], Lenient::Invalid(e) if e.contains("invalid type")));
    }

    #[test]
    fn a_truncated_page_is_still_an_error() {
        assert!(
            serde_json::from_str::<Page<Lenient<Item>>>(r#"{"value":[{"id":1},{"id":"#).is_err()
        );
    }
}
