//! The TOML configuration (`gdap-audit.toml`): loading, validation with errors that point at the line,
//! and the JSON Schema. The types are defined next to the rules they parameterize
//! (`crate::rules::settings`) and re-exported here; this module imports the rules, never the reverse.
//!
//! See `docs/configuration.md` for every key.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::roles::RoleCatalog;
pub use crate::rules::settings::{
    ApprovedRoles, ApprovedSource, Config, FleetSettings, PartnerSettings, RoleSet, RuleSettings,
    Suppression, Thresholds, parse_expiry,
};

/// The file `--config` defaults to when it exists in the working directory.
pub const DEFAULT_FILE: &str = "gdap-audit.toml";

/// Why a configuration could not be used. `Display` gives `file:line:col: message` followed by the
/// offending line and a caret, like a compiler.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(.path, *.line, *.column, .message, .snippet.as_deref()))]
    Invalid {
        path: String,
        /// 1-based; `None` when the problem has no position (e.g. a configuration built in code).
        line: Option<usize>,
        /// 1-based, in characters.
        column: Option<usize>,
        message: String,
        /// The offending line with a caret under the problem.
        snippet: Option<String>,
    },
}

impl ConfigError {
    /// (line, column), 1-based, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Invalid {
                line: Some(l),
                column: Some(c),
                ..
            } => Some((*l, *c)),
            _ => None,
        }
    }

    /// The message without the position and snippet.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Io { source, .. } => source.to_string(),
            ConfigError::Invalid { message, .. } => message.clone(),
        }
    }
}

fn render(
    path: &str,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
    snippet: Option<&str>,
) -> String {
    let mut out = match (line, column) {
        (Some(l), Some(c)) => format!("{path}:{l}:{c}: {message}"),
        _ => format!("{path}: {message}"),
    };
    if let Some(s) = snippet {
        out.push('\n');
        out.push_str(s);
    }
    out
}

/// `offset` clamped to the text and moved back to a character boundary (a span is never trusted to
/// index the text).
fn floor(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

fn snippet(text: &str, span: &Range<usize>) -> String {
    let start = floor(text, span.start);
    let (line, col) = line_col(text, start);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let src = text[line_start..line_end].trim_end_matches('\r');
    let width = text[start..floor(text, span.end.min(line_end)).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = line.to_string().len();
    format!(
        "{:gutter$} |\n{line} | {src}\n{:gutter$} | {}{}",
        "",
        "",
        " ".repeat(col - 1),
        "^".repeat(width),
        gutter = gutter
    )
}

fn error_at(path: &str, text: &str, span: Option<Range<usize>>, message: String) -> ConfigError {
    match span {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ConfigError::Invalid {
                path: path.to_owned(),
                line: Some(line),
                column: Some(column),
                message,
                snippet: Some(snippet(text, &span)),
            }
        }
        None => ConfigError::Invalid {
            path: path.to_owned(),
            line: None,
            column: None,
            message,
            snippet: None,
        },
    }
}

/// A step in a path to a value of the document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// What to point at: a table key, or the value under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Key,
    Value,
}

struct Problem {
    path: Vec<Seg>,
    target: Target,
    message: String,
}

fn problem(path: Vec<Seg>, target: Target, message: String) -> Problem {
    Problem {
        path,
        target,
        message,
    }
}

/// The span of `path` in the parsed document: the deepest segment found, so a problem is always placed
/// as close as possible.
fn locate(doc: &Spanned<DeTable<'_>>, path: &[Seg], target: Target) -> Option<Range<usize>> {
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    let mut best: Option<Range<usize>> = None;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let value: &Spanned<DeValue<'_>> = match seg {
            Seg::Key(k) => {
                let (kspan, v) = table?
                    .iter()
                    .find(|(kk, _)| kk.get_ref().as_ref() == k.as_str())?;
                if last && target == Target::Key {
                    return Some(kspan.span());
                }
                best = Some(kspan.span());
                v
            }
            Seg::Index(n) => array?.get(*n)?,
        };
        if !value.span().is_empty() || best.is_none() {
            best = Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(t) => {
                table = Some(t);
                array = None;
            }
            DeValue::Array(a) => {
                array = Some(a);
                table = None;
            }
            _ => {
                table = None;
                array = None;
            }
        }
    }
    best
}

/// A tenant id: a GUID (8-4-4-4-12 hex digits).
pub fn is_tenant_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn known_rules() -> String {
    crate::rules::all_rules()
        .map(|m| m.id)
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate(config: &Config) -> Vec<Problem> {
    let catalog = RoleCatalog::default();
    let mut problems = Vec::new();
    // A loaded file is range-checked as it is parsed; this catches a configuration built in code.
    for (name, v) in config.thresholds.values() {
        if let Err(message) = Thresholds::check(name, i64::from(v)) {
            problems.push(problem(
                vec![key("thresholds"), key(name)],
                Target::Value,
                message,
            ));
        }
    }
    let roles = |problems: &mut Vec<Problem>, list: &[String], path: Vec<Seg>, what: &str| {
        for (i, r) in list.iter().enumerate() {
            if catalog.resolve(r).is_none() {
                let mut p = path.clone();
                p.push(Seg::Index(i));
                problems.push(problem(
                    p,
                    Target::Value,
                    format!(
                        "unknown role `{r}` in {what}: use a built-in role name (e.g. `Helpdesk Administrator`) or the role's template id"
                    ),
                ));
            }
        }
    };
    let tenant_key = |problems: &mut Vec<Problem>, k: &str, path: Vec<Seg>, what: &str| {
        if !is_tenant_id(k.trim()) {
            problems.push(problem(
                path,
                Target::Key,
                format!("`{k}` in {what} is not a tenant id: use the tenant's GUID (e.g. 8777b240-c6f0-4469-9e98-a3205431b836)"),
            ));
        }
    };
    roles(
        &mut problems,
        &config.allowed_privileged_roles,
        vec![key("allowed_privileged_roles")],
        "allowed_privileged_roles",
    );
    if let Some(d) = &config.approved_roles.default {
        roles(
            &mut problems,
            d,
            vec![key("approved_roles"), key("default")],
            "approved_roles.default",
        );
    }
    for (side, map) in [
        ("customers", &config.approved_roles.customers),
        ("partners", &config.approved_roles.partners),
    ] {
        for (k, set) in map {
            let path = vec![key("approved_roles"), key(side), key(k)];
            tenant_key(
                &mut problems,
                k,
                path.clone(),
                &format!("approved_roles.{side}"),
            );
            let mut rp = path;
            rp.push(key("roles"));
            roles(
                &mut problems,
                &set.roles,
                rp,
                &format!("approved_roles.{side}.\"{k}\".roles"),
            );
        }
    }
    if let Some(list) = &config.approved_indirect_providers {
        for (i, t) in list.iter().enumerate() {
            if !is_tenant_id(t.trim()) {
                problems.push(problem(
                    vec![key("approved_indirect_providers"), Seg::Index(i)],
                    Target::Value,
                    format!("`{t}` in approved_indirect_providers is not a tenant id (GUID)"),
                ));
            }
        }
    }
    for (name, list) in [
        ("include", &config.fleet.include),
        ("exclude", &config.fleet.exclude),
    ] {
        for (i, t) in list.iter().enumerate() {
            if !is_tenant_id(t.trim()) {
                problems.push(problem(
                    vec![key("fleet"), key(name), Seg::Index(i)],
                    Target::Value,
                    format!("`{t}` in fleet.{name} is not a tenant id (GUID)"),
                ));
            }
        }
    }
    for (k, p) in &config.partners {
        tenant_key(&mut problems, k, vec![key("partners"), key(k)], "partners");
        for (i, c) in p.allowed_countries.iter().flatten().enumerate() {
            if !(c.trim().len() == 2 && c.trim().chars().all(|ch| ch.is_ascii_alphabetic())) {
                problems.push(problem(
                    vec![
                        key("partners"),
                        key(k),
                        key("allowed_countries"),
                        Seg::Index(i),
                    ],
                    Target::Value,
                    format!(
                        "`{c}` is not a two-letter ISO 3166-1 country code (e.g. \"US\", \"GB\")"
                    ),
                ));
            }
        }
    }
    for k in config.rules.keys() {
        if crate::rules::rule(k).is_none() {
            problems.push(problem(
                vec![key("rules"), key(k)],
                Target::Key,
                format!(
                    "unknown rule id `{k}` in [rules]; known rules: {}",
                    known_rules()
                ),
            ));
        }
    }
    for (i, s) in config.suppressions.iter().enumerate() {
        let at = |field: &str| vec![key("suppressions"), Seg::Index(i), key(field)];
        match crate::rules::rule(&s.rule) {
            None => problems.push(problem(
                at("rule"),
                Target::Value,
                format!("unknown rule id `{}` in suppression; known rules: {}", s.rule, known_rules()),
            )),
            Some(m) if m.from_evaluator => problems.push(problem(
                at("rule"),
                Target::Value,
                format!(
                    "`{}` findings cannot be suppressed: fix or remove the suppression it is about, or turn the rule off with [rules.{}] enabled = false",
                    m.id, m.id
                ),
            )),
            Some(_) => {}
        }
        if s.subject.trim().is_empty() {
            problems.push(problem(
                at("subject"),
                Target::Value,
                "suppression subject must not be empty".to_owned(),
            ));
        }
        if s.reason.trim().is_empty() {
            problems.push(problem(
                at("reason"),
                Target::Value,
                "suppression reason must not be empty: say why the finding is accepted".to_owned(),
            ));
        }
    }
    problems
}

/// SHA-256 of the configuration's bytes, lowercase hex: which configuration a report was made with,
/// without its path (paths may be private).
fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        Config::from_toml_str(&text, &shown)
    }

    /// Parses and validates configuration text; `origin` names it in errors (usually the file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            error_at(origin, text, e.span(), message)
        })?;
        let problems = validate(&config);
        if let Some(first) = problems.into_iter().next() {
            let span = DeTable::parse(text)
                .ok()
                .and_then(|doc| locate(&doc, &first.path, first.target));
            return Err(error_at(origin, text, span, first.message));
        }
        Ok(Config {
            digest: Some(digest(text)),
            ..config
        })
    }

    /// Validates a configuration built in code (no positions in errors).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match validate(self).into_iter().next() {
            None => Ok(()),
            Some(p) => Err(ConfigError::Invalid {
                path: "configuration".to_owned(),
                line: None,
                column: None,
                message: p.message,
                snippet: None,
            }),
        }
    }
}

/// The JSON Schema of the configuration file (for editors and `gdap-audit schema`).
#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub fn config_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("the config schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_snippets() {
        let text = "[thresholds]\nstale_days = 3\n";
        let err = Config::from_toml_str(text, "gdap-audit.toml").unwrap_err();
        assert_eq!(err.position(), Some((2, 1)));
        let shown = err.to_string();
        assert!(
            shown.starts_with("gdap-audit.toml:2:1: unknown field `stale_days`"),
            "{shown}"
        );
        assert!(
            shown.contains("2 | stale_days = 3\n  | ^^^^^^^^^^"),
            "{shown}"
        );
    }

    #[test]
    fn empty_file_is_the_default() {
        let empty = Config::from_toml_str("", "x").unwrap();
        assert_eq!(
            empty.digest.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            Config {
                digest: None,
                ..empty
            },
            Config::default()
        );
        assert_eq!(Config::default().thresholds.stale_after_days, 90);
    }

    #[test]
    fn tenant_ids() {
        assert!(is_tenant_id("8777b240-c6f0-4469-9e98-a3205431b836"));
        assert!(!is_tenant_id("contoso.onmicrosoft.com"));
        assert!(!is_tenant_id("8777b240-c6f0-4469-9e98-a3205431b83"));
    }

    /// #3: `stale_after_days = 4000000000` made the stale rule panic; every threshold out of its range
    /// (or not a number, or beyond u32) is refused with the key, the line and the range.
    #[test]
    fn thresholds_out_of_range_are_refused_at_their_line() {
        for (text, line, expected) in [
            (
                "# audit\n[thresholds]\nstale_after_days = 4000000000\n",
                3,
                "thresholds.stale_after_days = 4000000000: must be between 1 and 3650 (days)",
            ),
            (
                "[thresholds]\nexpiring_within_days = 0\n",
                2,
                "thresholds.expiring_within_days = 0: must be between 1 and 730 (days)",
            ),
            (
                "[thresholds]\nnew_within_days = -1\n",
                2,
                "thresholds.new_within_days = -1: must be between 1 and 365 (days)",
            ),
            (
                "[thresholds]\nmax_duration_days = 99999999999\n",
                2,
                "thresholds.max_duration_days = 99999999999: must be between 1 and 730 (days)",
            ),
            (
                "[thresholds]\nmax_duration_days = 1.5\n",
                2,
                "thresholds.max_duration_days must be a whole number of days between 1 and 730, not a float",
            ),
            (
                "thresholds = { stale_after_days = \"90\" }\n",
                1,
                "thresholds.stale_after_days must be a whole number of days between 1 and 3650, not a string",
            ),
        ] {
            let err = Config::from_toml_str(text, "gdap-audit.toml").unwrap_err();
            assert_eq!(err.message(), expected, "{text}");
            assert_eq!(err.position().map(|p| p.0), Some(line), "{err}");
        }
        let shown =
            Config::from_toml_str("[thresholds]\nstale_after_days = 4000000000\n", "c.toml")
                .unwrap_err()
                .to_string();
        assert!(
            shown.starts_with("c.toml:2:20: thresholds.stale_after_days = 4000000000"),
            "{shown}"
        );
        // The bounds themselves are accepted.
        let ok = "[thresholds]\nstale_after_days = 3650\nexpiring_within_days = 730\n\
                  new_within_days = 365\nmax_duration_days = 1\n";
        assert!(Config::from_toml_str(ok, "x").is_ok());
        // A configuration built in code is checked too.
        let mut c = Config::default();
        c.thresholds.stale_after_days = 4_000_000_000;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("must be between 1 and 3650")
        );
    }

    /// #3: the schema carries the same ranges as the loader (docs/config.schema.json is checked against
    /// the schema by the `cli` tests).
    #[test]
    fn schema_ranges_match_the_loader() {
        let s = config_schema();
        let props = &s["$defs"]["Thresholds"]["properties"];
        for (key, min, max) in Thresholds::RANGES {
            assert_eq!(props[key]["minimum"], min, "{key}: {props}");
            assert_eq!(props[key]["maximum"], max, "{key}: {props}");
        }
        let defaults = Thresholds::default();
        for (key, v) in defaults.values() {
            assert!(Thresholds::check(key, i64::from(v)).is_ok(), "{key}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A configuration using every table, to mutate.
        const SAMPLE: &str = r#"
[thresholds]
stale_after_days = 90
expiring_within_days = 30
new_within_days = 7
max_duration_days = 365

allowed_privileged_roles = ["Helpdesk Administrator"]
approved_indirect_providers = ["8777b240-c6f0-4469-9e98-a3205431b836"]

[approved_roles]
default = ["Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8"]

[approved_roles.partners."8777b240-c6f0-4469-9e98-a3205431b836"]
roles = ["Helpdesk Administrator"]

[partners."8777b240-c6f0-4469-9e98-a3205431b836"]
name = "Fabrikam"
allowed_countries = ["US", "GB"]

[rules.legacy-dap]
enabled = false
severity = "low"

[[suppressions]]
rule = "legacy-dap"
subject = "8777b240-c6f0-4469-9e98-a3205431b836"
reason = "accepted"
expires = 2026-12-31
"#;

        /// Pieces that make TOML and the checks interesting.
        const TOKENS: &[&str] = &[
            "[",
            "]",
            "\"",
            "'",
            "=",
            "\n",
            "#",
            ",",
            "{",
            "}",
            ".",
            "-",
            "é",
            "\u{202e}",
            "0",
            "4000000000",
            "99999999999999999999",
            "-1",
            "1.5",
            "true",
            "[[suppressions]]\n",
            "[thresholds]\n",
            "\"\"\"",
            "\r",
            "\t",
            "\u{0}",
        ];

        fn mutated() -> impl Strategy<Value = String> {
            let edit = (
                0usize..SAMPLE.len(),
                0u8..3,
                prop::sample::select(TOKENS),
                0usize..40,
            );
            proptest::collection::vec(edit, 1..6).prop_map(|edits| {
                let mut text = SAMPLE.to_owned();
                for (at, op, token, len) in edits {
                    let at = floor(&text, at);
                    match op {
                        0 => text.insert_str(at, token),
                        1 => {
                            let end = floor(&text, at.saturating_add(len));
                            text.replace_range(at..end, "");
                        }
                        _ => {
                            let end = floor(&text, at.saturating_add(len));
                            text.replace_range(at..end, token);
                        }
                    }
                }
                text
            })
        }

        fn arbitrary_text() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    any::<char>(),
                    prop::sample::select(&['[', ']', '=', '"', '\n', 'a'][..])
                ],
                0..64,
            )
            .prop_map(|v| v.into_iter().collect())
        }

        fn check(text: &str) -> Result<(), TestCaseError> {
            match Config::from_toml_str(text, "p.toml") {
                Ok(c) => prop_assert!(c.validate().is_ok(), "loaded but invalid: {text:?}"),
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(e.position().is_some(), "no line: {shown}\n---\n{text}");
                    prop_assert!(shown.starts_with("p.toml:"), "{shown}");
                    prop_assert!(!e.message().is_empty());
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// The loader never panics on mutated configuration text; it loads a valid configuration
            /// or gives an error naming the file and the line.
            #[test]
            fn mutated_configurations_load_or_name_a_line(text in mutated()) {
                check(&text)?;
            }

            #[test]
            fn arbitrary_text_loads_or_names_a_line(text in arbitrary_text()) {
                check(&text)?;
            }
        }
    }

    #[test]
    fn schema_denies_unknown_fields() {
        let s = config_schema();
        assert_eq!(s["additionalProperties"], serde_json::json!(false));
        assert!(s["properties"]["thresholds"].is_object());
    }
}
