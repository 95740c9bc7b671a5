//! `rules`: list the catalogue, or explain one rule.

use super::CommandError;
use super::pipeline::write_stdout;
use crate::cli::{ListFormat, RulesAction, RulesArgs};
use crate::rules;

pub fn run(args: RulesArgs) -> Result<u8, CommandError> {
    match args.action {
        Some(RulesAction::Explain { id }) => {
            let meta = rules::rule(&id).ok_or_else(|| {
                let known: Vec<&str> = rules::all_rules().map(|r| r.id).collect();
                let hint = match closest(&id, &known) {
                    Some(best) => format!("did you mean `{best}`? "),
                    None => String::new(),
                };
                CommandError::Usage(format!(
                    "unknown rule {id:?}; {hint}known rules: {}",
                    known.join(", ")
                ))
            })?;
            let mut text = meta.explain();
            if matches!(
                meta.id,
                "privileged-role-granted" | "global-admin-granted" | "auto-extend-privileged"
            ) {
                text.push_str(&privileged_roles_text());
            }
            write_stdout(&text)?;
        }
        Some(RulesAction::List) | None => match args.format {
            ListFormat::Json => {
                let list: Vec<serde_json::Value> = rules::all_rules()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "title": r.title,
                            "severity": r.default_severity,
                            "perspectives": r.perspectives.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                            "sources": r.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                            "optional_sources": r.optional_sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                            "config_keys": r.config_keys,
                            "fires_when": r.fires_when,
                            "rationale": r.rationale,
                            "remediation": r.remediation,
                            "references": r.references,
                        })
                    })
                    .collect();
                let mut s = serde_json::to_string_pretty(&list)
                    .map_err(|e| CommandError::Io(format!("cannot serialize the rules: {e}")))?;
                s.push('\n');
                write_stdout(&s)?;
            }
            ListFormat::Table => {
                let mut t = comfy_table::Table::new();
                t.load_style(comfy_table::presets::ASCII_MARKDOWN);
                t.set_header(["id", "severity", "side", "title"]);
                for r in rules::all_rules() {
                    let side: Vec<&str> = r.perspectives.iter().map(|p| p.as_str()).collect();
                    t.add_row([r.id, r.default_severity.as_str(), &side.join(", "), r.title]);
                }
                write_stdout(&format!(
                    "{t}\n\nRun `gdap-audit rules explain ID` for a rule's rationale, remediation and references.\n"
                ))?;
            }
        },
    }
    Ok(super::EXIT_CLEAN)
}

/// The known id nearest to a mistyped one: one that contains it or that it contains (`global-admin`),
/// else the smallest edit distance, if that is at most a third of the id's length (a typo, not another
/// word).
fn closest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let typed = typed.trim().to_ascii_lowercase();
    if typed.is_empty() {
        return None;
    }
    let distance = |k: &str| {
        if k.contains(typed.as_str()) || typed.contains(k) {
            0
        } else {
            edit_distance(&typed, k)
        }
    };
    let (best, d) = known
        .iter()
        .map(|k| (*k, distance(k)))
        .min_by_key(|(k, d)| (*d, k.len()))?;
    (d <= typed.chars().count() / 3).then_some(best)
}

/// Levenshtein distance over characters (rule ids are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = substitute
                    .min(above.saturating_add(1))
                    .min(left.saturating_add(1));
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// The built-in table the privileged rules fall back on when beta role definitions (`isPrivileged`) are
/// not readable.
fn privileged_roles_text() -> String {
    let mut s = String::from(
        "\nPrivileged roles when Graph's isPrivileged is not readable (built-in table):\n",
    );
    for (id, name, privileged) in crate::model::roles::BUILTIN_ROLES {
        if *privileged {
            s.push_str(&format!("  - {name} ({id})\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_rule_id_suggests_the_closest() {
        let known: Vec<&str> = rules::all_rules().map(|r| r.id).collect();
        assert_eq!(
            closest("global-admin", &known),
            Some("global-admin-granted")
        );
        assert_eq!(closest("legacy-dpa", &known), Some("legacy-dap"));
        assert_eq!(closest("Expiring-Son", &known), Some("expiring-soon"));
        assert_eq!(closest("stale", &known), Some("stale-partner-access"));
        assert_eq!(closest("zzzzzzzzzzzz", &known), None);
        assert_eq!(closest("", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
