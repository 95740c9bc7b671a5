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
                CommandError::Usage(format!(
                    "unknown rule {id:?}; known rules: {}",
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
