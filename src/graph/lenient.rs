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
        if !v.is_object() {
            return Lenient::Invalid(not_an_object(&v.to_string()));
        }
        match serde_json::from_value(v) {
            Ok(t) => Lenient::Item(t),
            Err(e) => Lenient::Invalid(e.to_string()),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        // Every Graph collection item is an entity, a JSON object. serde's derive also accepts a struct
        // written as an array (`[]` is a struct whose fields all default), which would invent an item.
        if !raw.get().trim_start().starts_with('{') {
            return Ok(Lenient::Invalid(not_an_object(raw.get())));
        }
        Ok(match from_str::<T>(raw.get()) {
            Ok(t) => Lenient::Item(t),
            Err(e) => Lenient::Invalid(e.to_string()),
        })
    }
}

fn not_an_object(json: &str) -> String {
    let kind = match json.trim_start().chars().next() {
        Some('[') => "an array",
        Some('"') => "a string",
        Some('n') => "null",
        Some('t' | 'f') => "a boolean",
        _ => "a number",
    };
    format!("the item is {kind}, not a JSON object")
}

/// `serde_json::from_str`, except that an object repeating a key decodes with the last value, as
/// Microsoft's SDKs do (Graph's own published beta sign-in example repeats `homeTenantId`); serde's
/// derive refuses such an object with "duplicate field". The fast path is the plain decode; only a
/// duplicate-field failure takes the slower detour through a `Value`, whose maps keep the last value.
pub fn from_str<T: DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    // From `str`, not bytes: the text is known UTF-8, so serde_json skips validating every string (the
    // hot path of sign-in collection).
    match serde_json::from_str::<T>(json) {
        Err(e) if is_duplicate_field(&e) => {
            let value: serde_json::Value = serde_json::from_str(json)?;
            serde_json::from_value(value)
        }
        other => other,
    }
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

    #[derive(Debug, Deserialize, PartialEq)]
    struct AllDefault {
        #[serde(default)]
        id: String,
    }

    /// Found by the chaos test: `[]` decoded as an item whose fields all default (an invented grant).
    #[test]
    fn items_that_are_not_objects_are_invalid() {
        let page: Page<Lenient<AllDefault>> =
            serde_json::from_str(r#"{"value":[[], null, "x", 5, true, {"id":"a"}]}"#).unwrap();
        let kinds: Vec<String> = page
            .value
            .iter()
            .map(|l| match l {
                Lenient::Item(i) => format!("item {}", i.id),
                Lenient::Invalid(e) => e.clone(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "the item is an array, not a JSON object",
                "the item is null, not a JSON object",
                "the item is a string, not a JSON object",
                "the item is a number, not a JSON object",
                "the item is a boolean, not a JSON object",
                "item a",
            ]
        );
        assert!(matches!(
            Lenient::<AllDefault>::from_value(serde_json::json!([])),
            Lenient::Invalid(_)
        ));
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

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct SignIn {
        id: String,
        home_tenant_id: Option<String>,
        #[serde(default)]
        is_tenant_restricted: Option<bool>,
    }

    /// #5: repeated keys (Microsoft's beta sign-in example repeats `homeTenantId`) decode, last wins,
    /// at every level: an item, a nested object, and the page itself.
    #[test]
    fn repeated_keys_decode_last_value_wins() {
        let page = r#"{"value":[
            {"id":"a","homeTenantId":"first","isTenantRestricted":true,"homeTenantId":"last","isTenantRestricted":false},
            {"id":"b","homeTenantId":"only"},
            {"id":7}
        ],"@odata.nextLink":"https://x/1","@odata.nextLink":"https://x/2"}"#;
        let page: Page<Lenient<SignIn>> = from_str(page).unwrap();
        assert_eq!(page.next_link.as_deref(), Some("https://x/2"));
        let items: Vec<&SignIn> = page
            .value
            .iter()
            .filter_map(|l| match l {
                Lenient::Item(s) => Some(s),
                Lenient::Invalid(_) => None,
            })
            .collect();
        assert_eq!(
            items,
            vec![
                &SignIn {
                    id: "a".into(),
                    home_tenant_id: Some("last".into()),
                    is_tenant_restricted: Some(false)
                },
                &SignIn {
                    id: "b".into(),
                    home_tenant_id: Some("only".into()),
                    is_tenant_restricted: None
                },
            ]
        );
        assert!(matches!(&page.value[2], Lenient::Invalid(e) if e.contains("invalid type")));
        // Other errors are not retried through the slow path and still fail.
        assert!(from_str::<SignIn>(r#"{"id":1,"id":2}"#).is_err());
        assert!(from_str::<SignIn>(r#"{"id":"x""#).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Arbitrary bytes as a Graph page: Ok or Err, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = from_slice::<Page<Lenient<SignIn>>>(&bytes);
        }

        /// A valid page with one byte replaced, cut short, or a key repeated: Ok or Err, never a panic;
        /// a repeated key never loses the record.
        #[test]
        fn mutated_pages_never_panic(
            pos in 0usize..400,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..400,
        ) {
            let page = br#"{"value":[{"id":"a","homeTenantId":"h","isTenantRestricted":true},{"id":"b"}],"@odata.nextLink":"https://graph.microsoft.com/beta/x?$skiptoken=1"}"#;
            let mut m = page.to_vec();
            if let Some(b) = m.get_mut(pos % page.len()) {
                *b = byte;
            }
            let _ = from_slice::<Page<Lenient<SignIn>>>(&m);
            let _ = from_slice::<Page<Lenient<SignIn>>>(&page[..cut % page.len()]);
            let dup = String::from_utf8_lossy(page).replace(r#""id":"a","#, r#""id":"z","id":"a","#);
            let decoded = from_str::<Page<Lenient<SignIn>>>(&dup).unwrap();
            proptest::prop_assert!(matches!(&decoded.value[0], Lenient::Item(s) if s.id == "a"));
        }
    }

    #[test]
    fn a_truncated_page_is_still_an_error() {
        assert!(
            serde_json::from_str::<Page<Lenient<Item>>>(r#"{"value":[{"id":1},{"id":"#).is_err()
        );
    }
}
