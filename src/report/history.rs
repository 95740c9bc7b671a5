//! `history list` and `history show` as text, with the report's table setup (`table::new_table`).

use chrono::{DateTime, Utc};
use comfy_table::Table;

use super::Style;
use super::table::new_table;
use crate::history::{RunDetail, RunSummary};
use crate::model::roles::RoleCatalog;
use crate::snapshot::CoverageStatus;
use crate::text::one_line as clean;

/// The report's table setup, plain ASCII, wrapped to `width` when given.
fn table(width: Option<u16>) -> Table {
    new_table(Style {
        width,
        ..Style::plain()
    })
}

fn minute(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M").to_string()
}

fn tenant_label(id: &str, name: Option<&str>) -> String {
    match name.map(clean).filter(|n| !n.is_empty()) {
        Some(n) => format!("{n} ({})", clean(id)),
        None => clean(id),
    }
}

fn perspectives(s: &RunSummary) -> String {
    if s.perspectives.is_empty() {
        return "-".into();
    }
    s.perspectives
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(n: u64, collected: bool) -> String {
    if collected { n.to_string() } else { "-".into() }
}

/// `history list` as a table.
pub(crate) fn list_table(runs: &[RunSummary], width: Option<u16>) -> String {
    let mut t = table(width);
    t.set_header(vec![
        "RUN",
        "WHEN (UTC)",
        "AS OF (UTC)",
        "TENANT",
        "PERSPECTIVES",
        "RELATIONSHIPS",
        "PARTNERS",
        "FINDINGS",
        "COVERAGE GAPS",
    ]);
    for r in runs {
        t.add_row(vec![
            r.id.to_string(),
            minute(r.started_at),
            minute(r.as_of),
            tenant_label(&r.tenant_id, r.tenant_name.as_deref()),
            perspectives(r),
            count(r.relationships, r.relationships_collected),
            count(r.partners, r.partners_collected),
            r.findings.to_string(),
            r.coverage_gaps.to_string(),
        ]);
    }
    format!("{t}\n(\"-\": not read in that run)\n")
}

fn roles(catalog: &RoleCatalog, ids: &[String]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(|id| clean(&catalog.name(id)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `history show` as text: the run's facts, then its coverage, inventory and findings as tables.
pub(crate) fn show_text(d: &RunDetail, width: Option<u16>) -> String {
    let s = &d.summary;
    let catalog = RoleCatalog::default();
    let mut out = format!(
        "Run {}: tenant {}\n",
        s.id,
        tenant_label(&s.tenant_id, s.tenant_name.as_deref())
    );
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<14} {v}\n"));
    line(&mut out, "perspectives", perspectives(s));
    line(&mut out, "started", format!("{} UTC", minute(s.started_at)));
    line(
        &mut out,
        "collected",
        format!("{} UTC", minute(d.collected_at)),
    );
    line(&mut out, "as of", format!("{} UTC", minute(s.as_of)));
    line(&mut out, "tool version", clean(&d.tool_version));
    line(
        &mut out,
        "log window",
        format!(
            "{} to {} UTC",
            minute(d.window.since),
            minute(d.window.until)
        ),
    );
    let wm = |w: Option<DateTime<Utc>>| {
        w.map(|w| format!(", newest record {} UTC", minute(w)))
            .unwrap_or_default()
    };
    line(
        &mut out,
        "sign-ins",
        if d.sign_ins_collected {
            format!("collected{}", wm(d.watermarks.sign_ins))
        } else {
            "not collected".into()
        },
    );
    line(
        &mut out,
        "audit log",
        if d.audits_collected {
            format!("collected{}", wm(d.watermarks.audits))
        } else {
            "not collected".into()
        },
    );
    line(&mut out, "findings", s.findings.to_string());

    if !d.coverage.is_empty() {
        out.push_str("\nCoverage:\n");
        let mut t = table(width);
        t.set_header(vec!["SOURCE", "STATUS", "DETAIL"]);
        for c in &d.coverage {
            let status = serde_json::to_value(c.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let detail = match (&c.detail, c.status) {
                (Some(detail), _) => clean(detail),
                (None, CoverageStatus::Collected) => {
                    c.items.map(|n| format!("{n} item(s)")).unwrap_or_default()
                }
                (None, _) => String::new(),
            };
            t.add_row(vec![c.source.as_str().to_owned(), status, detail]);
        }
        out.push_str(&format!("{t}\n"));
    }

    let inv = &d.inventory;
    if inv.relationships_collected || !inv.relationships.is_empty() {
        out.push_str(&format!("\nRelationships ({}):\n", inv.relationships.len()));
        if !inv.relationships.is_empty() {
            let mut t = table(width);
            t.set_header(vec!["RELATIONSHIP", "CUSTOMER", "STATUS", "ROLES", "ENDS"]);
            for (id, r) in &inv.relationships {
                t.add_row(vec![
                    tenant_label(id, Some(&r.name)),
                    match (&r.customer_name, &r.customer_tenant_id) {
                        (Some(n), Some(t)) => tenant_label(t, Some(n)),
                        (None, Some(t)) => clean(t),
                        (Some(n), None) => clean(n),
                        (None, None) => "-".into(),
                    },
                    clean(&r.status),
                    roles(&catalog, &r.roles),
                    r.end
                        .map(|e| e.format("%Y-%m-%d").to_string())
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
    }
    if inv.partners_collected || !inv.partners.is_empty() {
        out.push_str(&format!("\nPartners ({}):\n", inv.partners.len()));
        if !inv.partners.is_empty() {
            let mut t = table(width);
            t.set_header(vec![
                "PARTNER",
                "SERVICE PROVIDER",
                "ALLOWED ROLES",
                "ASSIGNED ROLES",
                "LAST SIGN-IN",
            ]);
            for (tenant, p) in &inv.partners {
                t.add_row(vec![
                    tenant_label(tenant, p.name.as_deref()),
                    if p.is_service_provider {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    match (&p.allowed_roles, p.is_service_provider) {
                        (Some(r), _) => roles(&catalog, r),
                        (None, true) => "not read".into(),
                        (None, false) => "-".into(),
                    },
                    roles(&catalog, &p.assigned_roles),
                    d.partner_last_success
                        .get(tenant)
                        .map(|at| format!("{} UTC", minute(*at)))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
    }
    if !d.findings.is_empty() {
        out.push_str(&format!("\nFindings ({}):\n", d.findings.len()));
        let mut t = table(width);
        t.set_header(vec!["SEVERITY", "RULE", "SUBJECT", "FIRST SEEN (UTC)"]);
        for f in &d.findings {
            t.add_row(vec![
                clean(&f.severity),
                clean(&f.rule_id),
                format!(
                    "{} {}",
                    clean(&f.subject_kind),
                    tenant_label(&f.subject_id, f.subject_name.as_deref())
                ),
                f.first_seen.map(minute).unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out
}
