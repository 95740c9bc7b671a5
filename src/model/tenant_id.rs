//! The id of an Entra tenant, normalised once where it enters (token claim, `/organization`, a GDAP
//! relationship, the command line): a lower-case hyphenated GUID. A fleet run juggles hundreds of them;
//! comparing `TenantId`s needs no case folding.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}
