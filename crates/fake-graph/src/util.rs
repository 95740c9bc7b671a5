//! Small helpers shared by the fake's modules: percent-decoding, query strings, ids, timestamps.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::RngCore as _;

/// Percent-decodes a URL path (`+` stays a plus). Invalid escapes are kept as written; invalid UTF-8 is
/// replaced, so this never fails.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A parsed query string: decoded `(name, value)` pairs plus the raw text (for building nextLinks).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub raw: String,
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let pairs = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query {
            raw: raw.to_owned(),
            pairs,
        }
    }

    /// The first value of a parameter, name compared case-insensitively (`$skipToken` == `$skiptoken`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw query with every `$skiptoken` parameter removed, parameters otherwise as the client sent them.
    pub fn raw_without_skiptoken(&self) -> String {
        self.raw
            .split('&')
            .filter(|part| !part.is_empty())
            .filter(|part| {
                let name = part.split('=').next().unwrap_or("");
                let decoded: String = url::form_urlencoded::parse(format!("{name}=").as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !decoded.eq_ignore_ascii_case("$skiptoken")
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A fresh random GUID in the usual lowercase hyphenated form.
pub(crate) fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `n` random bytes, base64url without padding: opaque tokens and codes.
pub(crate) fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Graph's `innerError.date` format: `2025-02-13T10:17:06`.
pub(crate) fn graph_date(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Entra's error `timestamp` format: `2025-02-13 10:17:06Z`.
pub(crate) fn entra_timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Parses an OData date-time literal: RFC 3339 (`2026-08-01T00:00:00Z`, with fraction or offset), a
/// zone-less date-time (taken as UTC) or a plain date (midnight UTC).
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// Nanoseconds since the epoch, wide enough never to overflow.
pub(crate) fn nanos(d: DateTime<Utc>) -> i128 {
    i128::from(d.timestamp()) * 1_000_000_000 + i128::from(d.timestamp_subsec_nanos())
}

/// base64url (no padding) of `bytes`.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url with or without padding.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_handles_odd_input() {
        assert_eq!(percent_decode("/v1.0/%24batch"), "/v1.0/$batch");
        assert_eq!(percent_decode("a%27b%27"), "a'b'");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("a+b"), "a+b");
    }

    #[test]
    fn query_drops_skiptoken_keeps_the_rest() {
        let q =
            Query::parse("$top=2&%24skipToken=abc&$filter=createdDateTime+ge+2026-08-01T00:00:00Z");
        assert_eq!(q.get("$TOP"), Some("2"));
        assert_eq!(
            q.get("$filter"),
            Some("createdDateTime ge 2026-08-01T00:00:00Z")
        );
        assert_eq!(
            q.raw_without_skiptoken(),
            "$top=2&$filter=createdDateTime+ge+2026-08-01T00:00:00Z"
        );
    }

    #[test]
    fn datetime_literals() {
        assert!(parse_datetime("2026-08-01T00:00:00Z").is_some());
        assert!(parse_datetime("2026-08-01T00:00:00.1234567Z").is_some());
        assert!(parse_datetime("2026-08-01T00:00:00+02:00").is_some());
        assert!(parse_datetime("2026-08-01").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }
}
