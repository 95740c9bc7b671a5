//! `gdap-audit history list|show|prune`: inspect or trim the run history.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets};

use super::CommandError;
use super::diff::{history_error, history_path, write_stdout};
use crate::cli::{HistoryAction, HistoryArgs, ListFormat};
use crate::history::{HistoryStore, RunDetail, RunSummary};
use crate::model::roles::RoleCatalog;
use crate::printer::Printer;
use crate::snapshot::CoverageStatus;
use crate::text::one_line as clean;

pub fn run(args: HistoryArgs, printer: &Printer) -> Result<u8, CommandError> {
    let path = history_path(args.history.as_deref())?;
    let store = HistoryStore::open_existing(&path).map_err(history_error)?;
    let text = match args.action {
        HistoryAction::List { tenant } => {
            let runs = store.list(tenant.as_deref()).map_err(history_error)?;
            if runs.is_empty() {
                match tenant {
                    Some(t) => printer.info(format!("no runs of tenant {t} in {}", path.display())),
                    None => printer.info(format!("no runs in {}", path.display())),
                }
                return Ok(0);
            }
            match args.format {
                ListFormat::Table => list_table(&runs),
                ListFormat::Json => json(&runs),
            }
        }
        HistoryAction::Show { run } => {
            let detail = store.show(run).map_err(history_error)?;
            match args.format {
                ListFormat::Table => show_text(&detail),
                ListFormat::Json => json(&detail),
            }
        }
        HistoryAction::Prune { keep } => {
            if keep == 0 {
                return Err(CommandError::Usage(
                    "--keep must be at least 1 (first-seen dates and partner activity are kept whatever the value)".into(),
                ));
            }
            let pruned = store.prune(keep).map_err(history_error)?;
            format!(
                "pruned {pruned} run(s) from {}; kept the newest {keep} of each tenant and perspective\n",
                path.display()
            )
        }
    };
    write_stdout(&text)?;
    Ok(0)
}

#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
fn json(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("history records serialize");
    s.push('\n');
    s
}

fn table() -> Table {
    let mut t = Table::new();
    t.force_no_tty()
        .load_style(presets::ASCII_FULL_CONDENSED)
        .set_truncation_indicator("...");
    if std::io::stdout().is_terminal() {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(120);
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width);
    }
    t
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

fn list_table(runs: &[RunSummary]) -> String {
    let mut t = table();
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

fn show_text(d: &RunDetail) -> String {
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
        let mut t = table();
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
            let mut t = table();
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
            let mut t = table();
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
        let mut t = table();
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
