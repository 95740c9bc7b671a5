//! A finding's evidence: a JSON object (role names, counts, dates, example records), held as its
//! compact text.
//!
//! A large partner has thousands of findings, most with a few role or record objects as evidence. As a
//! tree of `serde_json::Value`s every object is a B-tree node of its own, and the tree costs about five
//! times its text; the evidence is written far more often than it is read. So it is kept as text, capped
//! once when set (values' strings at `text::MAX_TEXT` bytes, keys at `text::MAX_NAME`), shared by the
//! evaluation and the report (`Clone` copies a pointer), and parsed on the rare read. It serializes as
//! the object it holds, so the JSON report, the history and snapshot tests see no difference.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::text;

/// Key → value, in key order. `Evidence::default()` is the empty object.
#[derive(Clone, Default)]
pub struct Evidence(Option<Arc<str>>);

impl Evidence {
    /// Every entry, parsed.
    pub fn map(&self) -> BTreeMap<String, Value> {
        match &self.0 {
            None => BTreeMap::new(),
            Some(text) => parse(text),
        }
    }

    /// One value, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.map().remove(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.is_some() && self.map().contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Sets `key` (replacing its value), capping the key and every string in `value`.
    pub fn insert(&mut self, key: &str, value: Value) {
        let mut map = self.map();
        map.insert(text::cap(key, text::MAX_NAME).into_owned(), capped(value));
        *self = Evidence::packed(&map);
    }

    /// The compact text of `map` (already capped).
    #[expect(
        clippy::expect_used,
        reason = "a map of string keys and JSON values always serializes"
    )]
    fn packed(map: &BTreeMap<String, Value>) -> Evidence {
        if map.is_empty() {
            return Evidence(None);
        }
        Evidence(Some(Arc::from(
            serde_json::to_string(map).expect("a JSON object serializes"),
        )))
    }
}

#[expect(
    clippy::expect_used,
    reason = "the text is this module's own serialization of a map"
)]
fn parse(text: &str) -> BTreeMap<String, Value> {
    serde_json::from_str(text).expect("evidence text is a JSON object")
}

/// `value` with every string capped at `text::MAX_TEXT` bytes and every key at `text::MAX_NAME`: a
/// hostile 50 MB display name must not make a 50 MB report.
fn capped(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(text::cap_owned(s, text::MAX_TEXT)),
        Value::Array(a) => Value::Array(a.into_iter().map(capped).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (text::cap_owned(k, text::MAX_NAME), capped(v)))
                .collect(),
        ),
        other => other,
    }
}

impl From<BTreeMap<String, Value>> for Evidence {
    fn from(map: BTreeMap<String, Value>) -> Self {
        let map: BTreeMap<String, Value> = map
            .into_iter()
            .map(|(k, v)| (text::cap_owned(k, text::MAX_NAME), capped(v)))
            .collect();
        Evidence::packed(&map)
    }
}

impl FromIterator<(String, Value)> for Evidence {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Evidence::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl PartialEq for Evidence {
    fn eq(&self, other: &Self) -> bool {
        // The same text is the same object; different texts may still be (key order inside nested
        // objects depends on serde_json's features), so those are compared parsed.
        self.0 == other.0 || self.map() == other.map()
    }
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.map()).finish()
    }
}

impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Value>::deserialize(deserializer).map(Evidence::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_object_it_holds() {
        let mut e = Evidence::default();
        assert!(e.is_empty());
        assert_eq!(serde_json::to_string(&e).unwrap(), "{}");
        e.insert(
            "roles",
            json!([{"id": "1", "name": "Global Administrator"}]),
        );
        e.insert("count", json!(2));
        e.insert("count", json!(3));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"count":3,"roles":[{"id":"1","name":"Global Administrator"}]}"#
        );
        assert_eq!(e.get("count"), Some(json!(3)));
        assert!(e.contains_key("roles") && !e.contains_key("x"));
        let back: Evidence = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_ne!(back, Evidence::default());
    }

    #[test]
    fn caps_keys_and_strings_when_set() {
        let mut e = Evidence::default();
        e.insert(
            &"k".repeat(5000),
            json!({ "deep": ["x".repeat(50_000)], "y".repeat(3000): 1 }),
        );
        let map = e.map();
        let (key, value) = map.iter().next().unwrap();
        assert_eq!(key.len(), text::MAX_NAME);
        assert_eq!(value["deep"][0].as_str().unwrap().len(), text::MAX_TEXT);
        assert!(
            value
                .as_object()
                .unwrap()
                .keys()
                .all(|k| k.len() <= text::MAX_NAME)
        );
        // Deserialized evidence (a history row of an older version) is capped too.
        let raw = json!({ "z": "x".repeat(10_000) }).to_string();
        let e: Evidence = serde_json::from_str(&raw).unwrap();
        assert_eq!(e.get("z").unwrap().as_str().unwrap().len(), text::MAX_TEXT);
    }
}
