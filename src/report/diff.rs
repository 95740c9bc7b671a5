//! `diff`: what changed between two audits, as a table, JSON or markdown. The table and the escaping are
//! the report's own (`table::new_table`, `markdown::md`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Style;
use super::markdown::md;
use super::table::{new_table, text_cell};
use crate::diff::{DIFF_JSON_VERSION, Diff, DiffSide, PartnerEntry, RoleRef};
use crate::text::one_line;

fn date(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "none".to_owned())
}

fn when(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn role_list(roles: &[RoleRef]) -> String {
    if roles.is_empty() {
        return "none".to_owned();
    }
    roles
        .iter()
        .map(|r| one_line(&r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn named(name: Option<&str>, id: &str) -> String {
    match name.map(one_line).filter(|n| !n.is_empty()) {
        Some(n) => format!("{n} ({})", one_line(id)),
        None => one_line(id),
    }
}

fn side_line(s: &DiffSide) -> String {
    let mut out = String::new();
    if let Some(l) = &s.label {
        out.push_str(&one_line(l));
        out.push_str(", ");
    }
    out.push_str(&format!(
        "tenant {}, as of {}",
        one_line(&s.tenant_id),
        when(s.as_of)
    ));
    out
}

/// One line per change: (change, kind, subject, details).
fn rows(d: &Diff) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    for r in &d.relationships_added {
        let mut details = format!(
            "status {}; roles: {}",
            one_line(&r.status),
            role_list(&r.roles)
        );
        if r.end.is_some() {
            details.push_str(&format!("; ends {}", date(r.end)));
        }
        rows.push([
            "added".into(),
            "relationship".into(),
            relationship_subject(
                &r.name,
                &r.id,
                r.customer_name.as_deref(),
                r.customer_tenant_id.as_deref(),
            ),
            details,
        ]);
    }
    for r in &d.relationships_removed {
        rows.push([
            "removed".into(),
            "relationship".into(),
            relationship_subject(
                &r.name,
                &r.id,
                r.customer_name.as_deref(),
                r.customer_tenant_id.as_deref(),
            ),
            format!(
                "was {}; roles: {}",
                one_line(&r.status),
                role_list(&r.roles)
            ),
        ]);
    }
    for c in &d.relationships_changed {
        let mut parts = Vec::new();
        if !c.roles_added.is_empty() {
            parts.push(format!("roles added: {}", role_list(&c.roles_added)));
        }
        if !c.roles_removed.is_empty() {
            parts.push(format!("roles removed: {}", role_list(&c.roles_removed)));
        }
        if let Some(s) = &c.status {
            parts.push(format!(
                "status {} -> {}",
                one_line(&s.from),
                one_line(&s.to)
            ));
        }
        if let Some(e) = &c.end {
            parts.push(format!("end {} -> {}", date(e.from), date(e.to)));
        }
        if let Some(n) = &c.display_name {
            parts.push(format!("renamed from {:?}", one_line(&n.from)));
        }
        rows.push([
            "changed".into(),
            "relationship".into(),
            relationship_subject(
                &c.name,
                &c.id,
                c.customer_name.as_deref(),
                c.customer_tenant_id.as_deref(),
            ),
            parts.join("; "),
        ]);
    }
    for (change, partners) in [
        ("added", &d.partners_added),
        ("removed", &d.partners_removed),
    ] {
        for p in partners {
            rows.push([
                change.into(),
                "partner".into(),
                named(p.name.as_deref(), &p.tenant_id),
                partner_details(p),
            ]);
        }
    }
    for c in &d.partners_changed {
        let mut parts = Vec::new();
        if let Some(sp) = &c.is_service_provider {
            parts.push(if sp.to {
                "now a service provider".to_owned()
            } else {
                "no longer a service provider".to_owned()
            });
        }
        if !c.allowed_roles_added.is_empty() {
            parts.push(format!(
                "allowed roles added: {}",
                role_list(&c.allowed_roles_added)
            ));
        }
        if !c.allowed_roles_removed.is_empty() {
            parts.push(format!(
                "allowed roles removed: {}",
                role_list(&c.allowed_roles_removed)
            ));
        }
        if !c.assigned_roles_added.is_empty() {
            parts.push(format!(
                "assigned roles added: {}",
                role_list(&c.assigned_roles_added)
            ));
        }
        if !c.assigned_roles_removed.is_empty() {
            parts.push(format!(
                "assigned roles removed: {}",
                role_list(&c.assigned_roles_removed)
            ));
        }
        rows.push([
            "changed".into(),
            "partner".into(),
            named(c.name.as_deref(), &c.tenant_id),
            parts.join("; "),
        ]);
    }
    for (change, list) in [
        ("appeared", &d.findings_appeared),
        ("disappeared", &d.findings_disappeared),
    ] {
        for f in list {
            rows.push([
                change.into(),
                "finding".into(),
                named(f.subject_name.as_deref(), &f.subject_id),
                format!(
                    "{} {}: {} (fingerprint {})",
                    one_line(&f.severity),
                    one_line(&f.rule_id),
                    one_line(&f.title),
                    one_line(&f.fingerprint)
                ),
            ]);
        }
    }
    rows
}

fn relationship_subject(
    name: &str,
    id: &str,
    customer: Option<&str>,
    customer_id: Option<&str>,
) -> String {
    let mut s = named(Some(name), id);
    match (
        customer.map(one_line).filter(|c| !c.is_empty()),
        customer_id,
    ) {
        (Some(c), _) => s.push_str(&format!(", customer {c}")),
        (None, Some(t)) => s.push_str(&format!(", customer {}", one_line(t))),
        (None, None) => {}
    }
    s
}

fn partner_details(p: &PartnerEntry) -> String {
    let mut parts = vec![if p.is_service_provider {
        "service provider".to_owned()
    } else {
        "not a service provider".to_owned()
    }];
    match (&p.allowed_roles, p.is_service_provider) {
        (Some(r), _) => parts.push(format!("allowed roles: {}", role_list(r))),
        (None, true) => parts.push("allowed roles: not read".to_owned()),
        (None, false) => {}
    }
    if !p.assigned_roles.is_empty() {
        parts.push(format!("assigned roles: {}", role_list(&p.assigned_roles)));
    }
    parts.join("; ")
}

fn summary(d: &Diff) -> String {
    if d.is_empty() {
        return "No changes.".to_owned();
    }
    let mut parts = Vec::new();
    let mut count = |n: usize, what: &str| {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    };
    count(d.relationships_added.len(), "relationship(s) added");
    count(d.relationships_removed.len(), "relationship(s) removed");
    count(d.relationships_changed.len(), "relationship(s) changed");
    count(d.partners_added.len(), "partner(s) added");
    count(d.partners_removed.len(), "partner(s) removed");
    count(d.partners_changed.len(), "partner(s) changed");
    count(d.findings_appeared.len(), "finding(s) appeared");
    count(d.findings_disappeared.len(), "finding(s) disappeared");
    format!("{}.", parts.join(", "))
}

/// A human table: one row per change, then a summary line and the notes. `width`: wrap the table to that
/// many columns (a terminal); `None` leaves rows unwrapped.
pub fn render_table(d: &Diff, width: Option<u16>) -> String {
    let mut out = format!("Old: {}\nNew: {}\n\n", side_line(&d.old), side_line(&d.new));
    let rows = rows(d);
    if !rows.is_empty() {
        let style = Style {
            width,
            ..Style::plain()
        };
        let mut table = new_table(style);
        table.set_header(vec!["CHANGE", "KIND", "SUBJECT", "DETAILS"]);
        for r in rows {
            table.add_row(
                r.into_iter()
                    .map(|text| text_cell(style, text))
                    .collect::<Vec<_>>(),
            );
        }
        out.push_str(&table.to_string());
        out.push_str("\n\n");
    }
    out.push_str(&summary(d));
    out.push('\n');
    for n in &d.notes {
        out.push_str(&format!("note: {}\n", one_line(n)));
    }
    out
}

/// The JSON document (`diff_version` "1"; field names documented in docs/history.md).
#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub fn render_json(d: &Diff) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        diff_version: &'static str,
        #[serde(flatten)]
        diff: &'a Diff,
    }
    let mut s = serde_json::to_string_pretty(&Doc {
        diff_version: DIFF_JSON_VERSION,
        diff: d,
    })
    .expect("a diff always serializes");
    s.push('\n');
    s
}

/// A ticket-ready summary.
pub fn render_markdown(d: &Diff) -> String {
    let mut out = String::from("## GDAP access changes\n\n");
    out.push_str(&format!(
        "- **Old:** {}\n- **New:** {}\n\n",
        md(&side_line(&d.old)),
        md(&side_line(&d.new))
    ));
    out.push_str(&format!("{}\n", md(&summary(d))));
    let rows = rows(d);
    if !rows.is_empty() {
        out.push_str("\n| Change | Kind | Subject | Details |\n|---|---|---|---|\n");
        for [change, kind, subject, details] in rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md(&change),
                md(&kind),
                md(&subject),
                md(&details)
            ));
        }
    }
    if !d.notes.is_empty() {
        out.push_str("\n**Notes**\n\n");
        for n in &d.notes {
            out.push_str(&format!("- {}\n", md(n)));
        }
    }
    out
}
