//! Date filters on log collections, and the synthetic sign-in log (any size, computed record by record).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::SignInGenerator;
use super::util::{nanos, parse_datetime};

/// Bounds from `$filter` clauses on a log's date field, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DateBounds {
    /// (bound, inclusive)
    pub lower: Option<(i128, bool)>,
    pub upper: Option<(i128, bool)>,
}

impl DateBounds {
    pub fn contains(&self, t: i128) -> bool {
        let lower_ok = match self.lower {
            Some((b, true)) => t >= b,
            Some((b, false)) => t > b,
            None => true,
        };
        let upper_ok = match self.upper {
            Some((b, true)) => t <= b,
            Some((b, false)) => t < b,
            None => true,
        };
        lower_ok && upper_ok
    }

    fn add_lower(&mut self, b: i128, inclusive: bool) {
        // Keep the tighter bound.
        let tighter = match self.lower {
            None => true,
            Some((old, old_inc)) => b > old || (b == old && old_inc && !inclusive),
        };
        if tighter {
            self.lower = Some((b, inclusive));
        }
    }

    fn add_upper(&mut self, b: i128, inclusive: bool) {
        let tighter = match self.upper {
            None => true,
            Some((old, old_inc)) => b < old || (b == old && old_inc && !inclusive),
        };
        if tighter {
            self.upper = Some((b, inclusive));
        }
    }
}

/// Reads every `field op value` comparison (`ge`, `gt`, `le`, `lt`, `eq`) on `field` out of an OData
/// `$filter`. All such clauses are ANDed; everything else in the filter is ignored. A comparison whose
/// value is not a date-time is an error (Graph answers 400 to those too).
pub(crate) fn date_bounds(filter: &str, field: &str) -> Result<DateBounds, String> {
    let mut bounds = DateBounds::default();
    let lower_filter = filter.to_ascii_lowercase();
    let needle = field.to_ascii_lowercase();
    let bytes = filter.as_bytes();
    let mut from = 0;
    while let Some(pos) = lower_filter.get(from..).and_then(|s| s.find(&needle)) {
        let start = from + pos;
        let end = start + needle.len();
        from = end;
        // Must be a whole identifier: not `xcreatedDateTime`, not `createdDateTimeX`, not `a/createdDateTime`.
        let before_ok = start == 0
            || !matches!(bytes[start - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'/');
        let after_ok = end >= bytes.len()
            || !matches!(bytes[end], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'/');
        if !before_ok || !after_ok {
            continue;
        }
        let rest = &filter[end..];
        let rest_trimmed = rest.trim_start();
        let op_len = rest_trimmed
            .find(|c: char| c.is_whitespace())
            .unwrap_or(rest_trimmed.len());
        let op = rest_trimmed[..op_len].to_ascii_lowercase();
        if !matches!(op.as_str(), "ge" | "gt" | "le" | "lt" | "eq") {
            continue;
        }
        let value_part = rest_trimmed[op_len..].trim_start();
        let value = if let Some(quoted) = value_part.strip_prefix('\'') {
            quoted.split('\'').next().unwrap_or("")
        } else {
            let len = value_part
                .find(|c: char| c.is_whitespace() || c == ')')
                .unwrap_or(value_part.len());
            &value_part[..len]
        };
        let Some(t) = parse_datetime(value) else {
            return Err(format!(
                "Invalid filter clause: the value '{value}' for '{field}' is not a valid DateTimeOffset."
            ));
        };
        let t = nanos(t);
        match op.as_str() {
            "ge" => bounds.add_lower(t, true),
            "gt" => bounds.add_lower(t, false),
            "le" => bounds.add_upper(t, true),
            "lt" => bounds.add_upper(t, false),
            _ => {
                bounds.add_lower(t, true);
                bounds.add_upper(t, true);
            }
        }
    }
    Ok(bounds)
}

impl SignInGenerator {
    fn step(&self) -> i64 {
        self.step_secs.saturating_abs()
    }

    /// Unix seconds of the record with chronological index `k` (0 = oldest).
    fn secs_of(&self, k: u64) -> i128 {
        i128::from(self.start.timestamp()) + i128::from(k) * i128::from(self.step())
    }

    /// The oldest record's time (`start`).
    pub fn oldest(&self) -> DateTime<Utc> {
        self.start
    }

    /// The newest record's time: `start + (count - 1) * step_secs`.
    pub fn newest(&self) -> DateTime<Utc> {
        let k = self.count.saturating_sub(1);
        secs_to_datetime(self.secs_of(k))
    }

    /// The chronological indices `lo..hi` of the records inside `bounds` (times increase with the index,
    /// so the matching records form one run). Binary search: never walks the log.
    pub(crate) fn range(&self, bounds: &DateBounds) -> (u64, u64) {
        let t = |k: u64| self.secs_of(k) * 1_000_000_000;
        // First index whose time satisfies the lower bound.
        let lo = partition_point(self.count, |k| match bounds.lower {
            Some((b, true)) => t(k) < b,
            Some((b, false)) => t(k) <= b,
            None => false,
        });
        // First index whose time is past the upper bound.
        let hi = partition_point(self.count, |k| match bounds.upper {
            Some((b, true)) => t(k) <= b,
            Some((b, false)) => t(k) < b,
            None => true,
        });
        (lo, hi.max(lo))
    }

    /// The sign-in with chronological index `k`: a deterministic function of `k` alone.
    pub(crate) fn record(&self, k: u64) -> Value {
        const APPS: [(&str, &str); 6] = [
            ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
            (
                "Microsoft Graph PowerShell",
                "14d82eec-204b-4c2f-b7e8-296a70dab67e",
            ),
            (
                "Microsoft Office 365 Portal",
                "00000006-0000-0ff1-ce00-000000000000",
            ),
            (
                "Microsoft Azure CLI",
                "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            ),
            (
                "Microsoft Exchange REST API Based Powershell",
                "fb78d390-0c51-40cd-8e17-fdbfab77341b",
            ),
            (
                "Microsoft Intune portal extension",
                "5926fc8e-304e-4f59-8bed-58ca97cc39a4",
            ),
        ];
        const PLACES: [(&str, &str, &str); 5] = [
            ("Redmond", "Washington", "US"),
            ("London", "England", "GB"),
            ("Amsterdam", "Noord-Holland", "NL"),
            ("Berlin", "Berlin", "DE"),
            ("Bengaluru", "Karnataka", "IN"),
        ];
        let h = mix(k);
        let h2 = mix(h);
        let h3 = mix(h2);
        let created = secs_to_datetime(self.secs_of(k))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();

        let partners = &self.partner_tenant_ids;
        let pidx = if partners.is_empty() {
            0
        } else {
            (k % partners.len() as u64) as usize
        };
        let local = self
            .local_percent
            .is_some_and(|pct| (mix(h ^ 0x5bd1_e995) % 100) < u64::from(pct.min(100)));
        let access = match h % 20 {
            _ if partners.is_empty() || local => "none",
            0 => "b2bCollaboration,serviceProvider",
            1 => "none",
            _ => "serviceProvider",
        };
        let home = if access == "none" {
            self.resource_tenant_id.clone()
        } else {
            partners[pidx].clone()
        };
        let user_no = (k / partners.len().max(1) as u64) % 7;
        let domain = if access == "none" {
            "customer".to_owned()
        } else {
            format!("partner{pidx}")
        };
        let user_id = guid_from(mix(pidx as u64 * 31
            + user_no
            + if access == "none" { 1000 } else { 0 }));

        let (error_code, failure) = match h2 % 10 {
            0 => (
                50126,
                "Error validating credentials due to invalid username or password.",
            ),
            1 => (50074, "Strong Authentication is required."),
            _ => (0, "Other."),
        };
        let requirement = if h3.is_multiple_of(8) {
            "singleFactorAuthentication"
        } else {
            "multiFactorAuthentication"
        };
        let (app_name, app_id) = APPS[(h3 >> 8) as usize % APPS.len()];
        let (city, state, country) = PLACES[(h2 >> 16) as usize % PLACES.len()];
        let interactive = !h.is_multiple_of(3);
        json!({
            "id": guid_from(h ^ 0x5151_5151),
            "createdDateTime": created,
            "userDisplayName": format!("Technician {user_no}"),
            "userPrincipalName": format!("tech{user_no}@{domain}.onmicrosoft.com"),
            "userId": user_id,
            "userType": "member",
            "appId": app_id,
            "appDisplayName": app_name,
            "resourceId": "00000003-0000-0000-c000-000000000000",
            "resourceDisplayName": "Microsoft Graph",
            "ipAddress": format!("203.0.113.{}", (h >> 24) % 254 + 1),
            "clientAppUsed": "Browser",
            "correlationId": guid_from(h2),
            "conditionalAccessStatus": if error_code == 0 { "success" } else { "failure" },
            "isInteractive": interactive,
            "signInEventTypes": [if interactive { "interactiveUser" } else { "nonInteractiveUser" }],
            "crossTenantAccessType": access,
            "homeTenantId": home,
            "homeTenantName": "",
            "resourceTenantId": self.resource_tenant_id,
            "authenticationRequirement": requirement,
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none",
            "riskState": "none",
            "riskEventTypes_v2": [],
            "status": { "errorCode": error_code, "failureReason": failure, "additionalDetails": null },
            "deviceDetail": {
                "deviceId": "", "displayName": "", "operatingSystem": "Windows10", "browser": "Edge 127.0.0",
                "isCompliant": false, "isManaged": false, "trustType": ""
            },
            "location": {
                "city": city, "state": state, "countryOrRegion": country,
                "geoCoordinates": { "altitude": null, "latitude": null, "longitude": null }
            },
            "appliedConditionalAccessPolicies": []
        })
    }
}

/// First index in `0..n` for which `pred` is false (`pred` true then false, like `slice::partition_point`).
fn partition_point(n: u64, pred: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

fn secs_to_datetime(secs: i128) -> DateTime<Utc> {
    let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// splitmix64: a cheap, well-spread hash of an index.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A GUID-shaped string derived from a hash.
fn guid_from(h: u64) -> String {
    let l = mix(h ^ 0xA5A5_A5A5_A5A5_A5A5);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h & 0xfff,
        0x8000 | ((l >> 48) as u16 & 0x3fff),
        l & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn generator(count: u64) -> SignInGenerator {
        SignInGenerator {
            count,
            start: Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap(),
            step_secs: 60,
            partner_tenant_ids: vec!["p-0".into(), "p-1".into(), "p-2".into()],
            resource_tenant_id: "customer".into(),
            local_percent: None,
        }
    }

    #[test]
    fn bounds_from_filters() {
        let b = date_bounds(
            "createdDateTime ge 2026-08-01T00:10:00Z and createdDateTime le 2026-08-01T00:20:00Z and signInEventTypes/any(t: t eq 'interactiveUser')",
            "createdDateTime",
        )
        .unwrap();
        let g = generator(100);
        assert_eq!(g.range(&b), (10, 21));
        let b = date_bounds(
            "(createdDateTime gt '2026-08-01T00:10:00Z')",
            "createdDateTime",
        )
        .unwrap();
        assert_eq!(g.range(&b), (11, 100));
        let b = date_bounds(
            "createdDateTime lt 2026-08-01T00:10:00.5Z",
            "createdDateTime",
        )
        .unwrap();
        assert_eq!(g.range(&b), (0, 11));
        let b = date_bounds("createdDateTime ge 2030-01-01", "createdDateTime").unwrap();
        assert_eq!(g.range(&b), (100, 100));
        assert_eq!(g.range(&DateBounds::default()), (0, 100));
        assert!(date_bounds("createdDateTime ge tomorrow", "createdDateTime").is_err());
        // A different field with the same suffix is not ours.
        assert_eq!(
            date_bounds("user/createdDateTime ge 2026-01-01", "createdDateTime").unwrap(),
            DateBounds::default()
        );
    }

    #[test]
    fn records_are_deterministic_and_varied() {
        let g = generator(1000);
        assert_eq!(g.record(5), g.record(5));
        assert_eq!(g.newest().to_rfc3339(), "2026-08-01T16:39:00+00:00");
        let records: Vec<Value> = (0..1000).map(|k| g.record(k)).collect();
        let count = |f: &dyn Fn(&Value) -> bool| records.iter().filter(|r| f(r)).count();
        assert!(count(&|r| r["crossTenantAccessType"] == "serviceProvider") > 800);
        assert!(count(&|r| r["crossTenantAccessType"] == "none") > 10);
        assert!(count(&|r| r["crossTenantAccessType"] == "b2bCollaboration,serviceProvider") > 10);
        assert!(count(&|r| r["status"]["errorCode"] != 0) > 50);
        assert!(count(&|r| r["authenticationRequirement"] == "singleFactorAuthentication") > 50);
        assert!(count(&|r| r["homeTenantId"] == "p-2") > 200);
        assert_eq!(records[0]["createdDateTime"], "2026-08-01T00:00:00Z");
    }
}
