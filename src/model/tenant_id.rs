//! The id of an Entra tenant, normalised once where it enters (token claim, `/organization`, a GDAP
//! relationship, the command line): a lower-case hyphenated GUID. A fleet run juggles hundreds of them;
//! comparing `TenantId`s needs no case folding.
//!
//! Tenant ids inside Graph answers and snapshots stay text (a non-GUID value must not lose the item it
//! sits in) but are normalised the same way when decoded ([`normalise`] and the `de*` helpers for
//! `#[serde(deserialize_with)]`), so every comparison between them is a plain `==`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// A GUID in any case, with or without braces; `None` for anything else (a domain name, say).
    pub fn parse(s: &str) -> Option<TenantId> {
        uuid::Uuid::parse_str(s.trim())
            .ok()
            .map(|u| TenantId(u.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TenantId::parse(&s).ok_or_else(|| format!("{s:?} is not a tenant id (a GUID)"))
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        TenantId::parse(other).is_some_and(|o| o == *self)
    }
}

/// A tenant id from outside data (Graph, a snapshot, configuration) in the one form comparisons expect.
/// A GUID in any case, with or without braces, becomes [`TenantId`]'s lower-case hyphenated text (the
/// form Graph usually sends, so normal data is unchanged). Anything else is kept, trimmed and ASCII
/// lower-cased: Graph never sends it, but a hand-edited snapshot might, and it then still matches itself
/// in any case, as the case-insensitive comparisons this replaces did; it never passes for a GUID
/// ([`TenantId::parse`] still refuses it, so it never reaches a URL or a token request).
pub fn normalise(s: &str) -> String {
    match TenantId::parse(s) {
        Some(t) => t.0,
        None => s.trim().to_ascii_lowercase(),
    }
}

/// `deserialize_with` for a `String` tenant id.
pub(crate) fn de<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|s| normalise(&s))
}

/// `deserialize_with` for an optional tenant id.
pub(crate) fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map(|s| s.map(|s| normalise(&s)))
}

/// `deserialize_with` for a list of tenant ids; `null` is an empty list.
pub(crate) fn de_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Option::<Vec<String>>::deserialize(d)
        .map(|v| v.unwrap_or_default().iter().map(|s| normalise(s)).collect())
}

/// `deserialize_with` for a map keyed by tenant id. Two keys that differ only in spelling (a hand-edited
/// file) are one tenant: the later entry wins, as for a repeated key.
pub(crate) fn de_keys<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    BTreeMap::<String, V>::deserialize(d)
        .map(|m| m.into_iter().map(|(k, v)| (normalise(&k), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_once() {
        let a = TenantId::parse("AAAAAAAA-0000-4000-8000-00000000000A").unwrap();
        let b = TenantId::parse(" {aaaaaaaa-0000-4000-8000-00000000000a} ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "aaaaaaaa-0000-4000-8000-00000000000a");
        assert!(TenantId::parse("contoso.onmicrosoft.com").is_none());
        assert!(a == *"AAAAAAAA-0000-4000-8000-00000000000a");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<TenantId>("\"x\"").is_err());
    }

    #[test]
    fn text_is_normalised_and_non_guids_are_kept() {
        assert_eq!(
            normalise(" {AAAAAAAA-0000-4000-8000-00000000000A}"),
            "aaaaaaaa-0000-4000-8000-00000000000a"
        );
        assert_eq!(
            normalise("AAAAAAAA00004000800000000000000A"),
            "aaaaaaaa-0000-4000-8000-00000000000a"
        );
        // Not a GUID: kept (trimmed, lower-cased), so it matches itself in any case and stays no GUID.
        assert_eq!(
            normalise(" Contoso.OnMicrosoft.com "),
            "contoso.onmicrosoft.com"
        );
        assert_eq!(normalise("P1"), normalise("p1"));
        assert_eq!(normalise(""), "");
        assert!(TenantId::parse(&normalise("../x")).is_none());
        assert_eq!(
            normalise(&normalise("{AAAAAAAA-0000-4000-8000-00000000000A}")),
            normalise("aaaaaaaa-0000-4000-8000-00000000000a")
        );
    }

    #[test]
    fn serde_helpers_normalise_on_decode() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "de")]
            one: String,
            #[serde(default, deserialize_with = "de_opt")]
            opt: Option<String>,
            #[serde(default, deserialize_with = "de_opt")]
            missing: Option<String>,
            #[serde(deserialize_with = "de_list")]
            list: Vec<String>,
            #[serde(deserialize_with = "de_list")]
            null_list: Vec<String>,
            #[serde(deserialize_with = "de_keys")]
            keys: BTreeMap<String, u8>,
        }
        let t: T = serde_json::from_str(
            r#"{"one":"AAAAAAAA-0000-4000-8000-00000000000A","opt":"X","list":["{aaaaaaaa-0000-4000-8000-00000000000a}","Y"],
                "null_list":null,"keys":{"AAAAAAAA-0000-4000-8000-00000000000A":1,"Z":2}}"#,
        )
        .unwrap();
        let a = "aaaaaaaa-0000-4000-8000-00000000000a";
        assert_eq!(t.one, a);
        assert_eq!(t.opt.as_deref(), Some("x"));
        assert_eq!(t.missing, None);
        assert_eq!(t.list, vec![a, "y"]);
        assert!(t.null_list.is_empty());
        assert_eq!(t.keys.keys().collect::<Vec<_>>(), vec![a, "z"]);
        assert!(
            serde_json::from_str::<T>(r#"{"one":1,"list":[],"null_list":[],"keys":{}}"#).is_err()
        );
    }
}
