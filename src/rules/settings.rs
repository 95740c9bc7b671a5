//! The configuration model: what `gdap-audit.toml` holds (thresholds, allowlists, approved role sets,
//! per-rule settings, suppressions).
//!
//! The types live with the rules they parameterize so that the rules never import the loader:
//! `crate::config` (parsing, line-and-column errors, validation, JSON Schema) imports this module and
//! re-exports the types, never the reverse. Every table denies unknown keys. Lookups by tenant id and
//! rule id are case-insensitive, so a `Config` built in code behaves like a loaded one.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::finding::Severity;
use crate::model::tenant_id;
use crate::snapshot::Perspective;

/// The whole configuration file. Every key is optional; an empty file is the default configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time thresholds, in days.
    pub thresholds: Thresholds,
    /// Privileged roles (names or template ids) that `privileged-role-granted` and
    /// `auto-extend-privileged` accept. Global Administrator is always reported by
    /// `global-admin-granted`, whatever this list says.
    pub allowed_privileged_roles: Vec<String>,
    /// The role sets partners are approved to hold (`roles-exceed-approved`). When neither `default`
    /// nor an override applies, that rule is not evaluated.
    pub approved_roles: ApprovedRoles,
    /// Tenant ids of the indirect providers whose reseller relationships are expected
    /// (`unapproved-indirect-provider`). When absent, that rule is not evaluated; an empty list approves
    /// none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_indirect_providers: Option<Vec<String>>,
    /// Per partner tenant (customer perspective), keyed by the partner's tenant id.
    pub partners: BTreeMap<String, PartnerSettings>,
    /// Per rule: turn it off or change its severity, keyed by rule id.
    pub rules: BTreeMap<String, RuleSettings>,
    /// Accepted findings, each with a reason and an optional expiry.
    pub suppressions: Vec<Suppression>,
    /// `gdap-audit fleet`: which customers to audit.
    pub fleet: FleetSettings,
    /// SHA-256 (hex) of the text this configuration was parsed from, for the report's `settings`;
    /// `None` for a configuration built in code (the defaults). Not a key of the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub digest: Option<String>,
}

/// `[fleet]`: the customers a fleet run audits. By default every customer with a live GDAP relationship;
/// `include` narrows that to the listed tenants (audited even without a live relationship, from the
/// customer side), `exclude` removes tenants. `--customers` on the command line replaces `include`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSettings {
    /// Customer tenant ids (GUIDs) to audit instead of every GDAP customer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Customer tenant ids (GUIDs) never to audit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// `[thresholds]`, in whole days. A value outside its range is refused.
// The ranges are `Thresholds::RANGES`: a loaded file is checked as it is parsed (the error points at the
// line), a configuration built in code by `Config::validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `stale-partner-access`: days without a successful partner sign-in before access is stale
    /// (1 to 3650).
    #[serde(deserialize_with = "stale_after_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub stale_after_days: u32,
    /// `expiring-soon`: a live relationship that ends in fewer days than this is reported (1 to 730, the
    /// longest GDAP relationship).
    #[serde(deserialize_with = "expiring_within_days")]
    #[schemars(range(min = 1, max = 730))]
    pub expiring_within_days: u32,
    /// `new-partner-access` and `roles-added`: how recent a dated signal (creation, audit event) must
    /// be to count as new (1 to 365).
    #[serde(deserialize_with = "new_within_days")]
    #[schemars(range(min = 1, max = 365))]
    pub new_within_days: u32,
    /// `duration-exceeds-policy`: the longest relationship duration your policy accepts (1 to 730, the
    /// longest Graph allows).
    #[serde(deserialize_with = "max_duration_days")]
    #[schemars(range(min = 1, max = 730))]
    pub max_duration_days: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            stale_after_days: 90,
            expiring_within_days: 30,
            new_within_days: 7,
            max_duration_days: 365,
        }
    }
}

impl Thresholds {
    /// The allowed values of each threshold, inclusive: (key, min, max). The schema's ranges repeat
    /// these (a test keeps them equal). Beyond them date arithmetic would overflow or a rule could never
    /// fire.
    pub const RANGES: [(&'static str, u32, u32); 4] = [
        ("stale_after_days", 1, 3650),
        ("expiring_within_days", 1, 730),
        ("new_within_days", 1, 365),
        ("max_duration_days", 1, 730),
    ];

    /// Every threshold with its value, in `RANGES` order.
    pub fn values(&self) -> [(&'static str, u32); 4] {
        [
            ("stale_after_days", self.stale_after_days),
            ("expiring_within_days", self.expiring_within_days),
            ("new_within_days", self.new_within_days),
            ("max_duration_days", self.max_duration_days),
        ]
    }

    /// The (min, max) of a threshold key.
    fn range(key: &str) -> (u32, u32) {
        Self::RANGES
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or((1, u32::MAX), |&(_, min, max)| (min, max))
    }

    /// The value as a `u32`, or why it is outside the range of `key` (with the key and the range).
    pub fn check(key: &str, value: i64) -> Result<u32, String> {
        let (min, max) = Self::range(key);
        u32::try_from(value)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                format!("thresholds.{key} = {value}: must be between {min} and {max} (days)")
            })
    }
}

/// A threshold from the file: any TOML value, so that a wrong type or an out-of-range number (even one
/// beyond `u32`) gets the key and the allowed range rather than "expected u32".
fn days<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<u32, D::Error> {
    use serde::de::Error;
    match toml::Value::deserialize(d)? {
        toml::Value::Integer(i) => Thresholds::check(key, i).map_err(D::Error::custom),
        other => {
            let (min, max) = Thresholds::range(key);
            Err(D::Error::custom(format!(
                "thresholds.{key} must be a whole number of days between {min} and {max}, not a {}",
                other.type_str()
            )))
        }
    }
}

fn stale_after_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    days(d, "stale_after_days")
}

fn expiring_within_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    days(d, "expiring_within_days")
}

fn new_within_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    days(d, "new_within_days")
}

fn max_duration_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    days(d, "max_duration_days")
}

/// `[approved_roles]`: a default set and per-customer / per-partner overrides. An override replaces the
/// default (it does not add to it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovedRoles {
    /// Roles (names or template ids) approved for every relationship and partner without an override.
    /// `default = []` approves no role at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
    /// Partner perspective: the approved set for relationships with one customer, keyed by the
    /// customer's tenant id.
    pub customers: BTreeMap<String, RoleSet>,
    /// Customer perspective: the approved set for one partner, keyed by the partner's tenant id.
    pub partners: BTreeMap<String, RoleSet>,
}

/// An approved role set override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSet {
    /// Role names or template ids.
    pub roles: Vec<String>,
}

/// `[partners."<tenant-id>"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerSettings {
    /// A display name used when Graph gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2 country codes this partner's users sign in from
    /// (`partner-signin-unexpected-location`). When absent, that rule is not evaluated for the partner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_countries: Option<Vec<String>>,
}

/// `[rules.<rule-id>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    /// `false` turns the rule off: it is not run and not listed as not evaluated.
    pub enabled: bool,
    /// Replaces the severity of every finding of the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            enabled: true,
            severity: None,
        }
    }
}

/// `[[suppressions]]`: hides the findings of one rule for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// The rule id.
    pub rule: String,
    /// What to hide, matched case-insensitively against the finding's subject id (relationship id,
    /// partner tenant id, service principal id, audit event id...), its partner or customer tenant id,
    /// or its fingerprint.
    pub subject: String,
    /// Why the finding is accepted (required, shown in the report).
    pub reason: String,
    /// When the suppression lapses: a date (`2026-12-31`, meaning 00:00 UTC that day) or an RFC 3339
    /// timestamp. From then on the finding is reported again, with a `suppression-expired` finding.
    #[serde(
        default,
        deserialize_with = "deserialize_expiry",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub expires: Option<DateTime<Utc>>,
}

impl Suppression {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| e < now)
    }
}

/// Parses an expiry given as a date or an RFC 3339 timestamp, quoted or as a bare TOML date / datetime.
pub fn parse_expiry(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // TOML allows a space instead of the `T`.
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
        return Some(t.with_timezone(&Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
}

fn deserialize_expiry<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    use serde::de::Error;
    // `toml::Value` understands both strings and TOML's own date / datetime values.
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) => dt.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expires must be a date (2026-12-31) or an RFC 3339 timestamp, not a {}",
                other.type_str()
            )));
        }
    };
    parse_expiry(&text).map(Some).ok_or_else(|| {
        D::Error::custom(format!(
            "invalid expires `{text}`: use a date (2026-12-31) or an RFC 3339 timestamp with an offset (2026-12-31T18:00:00Z)"
        ))
    })
}

fn find_key<'a, V>(map: &'a BTreeMap<String, V>, key: &str) -> Option<&'a V> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key.trim()))
            .map(|(_, v)| v)
    })
}

/// The entry of `tenant` (a normalised tenant id, as the snapshot's are) in a map keyed by tenant ids
/// as the user typed them (any case, braces).
fn find_tenant<'a, V>(map: &'a BTreeMap<String, V>, tenant: &str) -> Option<&'a V> {
    map.get(tenant).or_else(|| {
        map.iter()
            .find(|(k, _)| tenant_id::normalise(k) == tenant)
            .map(|(_, v)| v)
    })
}

/// Where an approved role set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovedSource {
    /// `[approved_roles] default`.
    Default,
    /// `[approved_roles.customers."<id>"]` or `[approved_roles.partners."<id>"]`.
    Override,
}

impl ApprovedSource {
    pub fn config_key(self, perspective: Perspective, tenant: &str) -> String {
        match (self, perspective) {
            (ApprovedSource::Default, _) => "approved_roles.default".to_owned(),
            (ApprovedSource::Override, Perspective::Partner) => {
                format!("approved_roles.customers.\"{tenant}\"")
            }
            (ApprovedSource::Override, Perspective::Customer) => {
                format!("approved_roles.partners.\"{tenant}\"")
            }
        }
    }
}

impl Config {
    /// Settings of a rule (defaults when the rule has no table).
    pub fn rule_settings(&self, rule_id: &str) -> RuleSettings {
        find_key(&self.rules, rule_id).copied().unwrap_or_default()
    }

    pub fn rule_enabled(&self, rule_id: &str) -> bool {
        self.rule_settings(rule_id).enabled
    }

    pub fn severity_override(&self, rule_id: &str) -> Option<Severity> {
        self.rule_settings(rule_id).severity
    }

    pub fn partner(&self, tenant_id: &str) -> Option<&PartnerSettings> {
        find_tenant(&self.partners, tenant_id)
    }

    /// The configured allowed countries of a partner, when set.
    pub fn allowed_countries(&self, tenant_id: &str) -> Option<&[String]> {
        self.partner(tenant_id)
            .and_then(|p| p.allowed_countries.as_deref())
    }

    /// Whether any partner has `allowed_countries`.
    pub fn has_allowed_countries(&self) -> bool {
        self.partners
            .values()
            .any(|p| p.allowed_countries.is_some())
    }

    /// Whether any approved role set applies to the given perspective.
    pub fn has_approved_roles(&self, perspective: Perspective) -> bool {
        self.approved_roles.default.is_some()
            || match perspective {
                Perspective::Partner => !self.approved_roles.customers.is_empty(),
                Perspective::Customer => !self.approved_roles.partners.is_empty(),
            }
    }

    /// The approved role set for a relationship with `tenant` (a customer, partner perspective) or for
    /// the partner `tenant` (customer perspective): the override, else the default, else `None`.
    pub fn approved_roles_for(
        &self,
        perspective: Perspective,
        tenant: &str,
    ) -> Option<(&[String], ApprovedSource)> {
        let overrides = match perspective {
            Perspective::Partner => &self.approved_roles.customers,
            Perspective::Customer => &self.approved_roles.partners,
        };
        if let Some(set) = find_tenant(overrides, tenant) {
            return Some((&set.roles, ApprovedSource::Override));
        }
        self.approved_roles
            .default
            .as_deref()
            .map(|d| (d, ApprovedSource::Default))
    }

    /// `Some(true/false)` when `approved_indirect_providers` is configured, `None` when it is not.
    pub fn indirect_provider_approved(&self, tenant: &str) -> Option<bool> {
        self.approved_indirect_providers
            .as_ref()
            .map(|list| list.iter().any(|t| tenant_id::normalise(t) == tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(
            parse_expiry("2026-12-31").unwrap().to_rfc3339(),
            "2026-12-31T00:00:00+00:00"
        );
        assert_eq!(
            parse_expiry("2026-12-31T18:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-12-31T16:00:00+00:00"
        );
        assert_eq!(
            parse_expiry("2026-12-31 18:00:00Z").unwrap().to_rfc3339(),
            "2026-12-31T18:00:00+00:00"
        );
        assert!(parse_expiry("31/12/2026").is_none());
        assert!(parse_expiry("2026-12-31T18:00:00").is_none());
    }

    #[test]
    fn lookups_ignore_case() {
        let mut c = Config::default();
        c.partners.insert(
            "AAAAAAAA-0000-0000-0000-000000000001".into(),
            PartnerSettings {
                name: None,
                allowed_countries: Some(vec!["US".into()]),
            },
        );
        assert!(
            c.allowed_countries("aaaaaaaa-0000-0000-0000-000000000001")
                .is_some()
        );
        assert!(c.rule_enabled("anything"));
        assert_eq!(c.indirect_provider_approved("x"), None);
    }
}
