//! The pictures, drawn here as plain numbers and labels for the template's inline SVG (no chart library
//! at view time): relationship end dates, partners' last sign-in against the stale threshold, and the
//! findings per customer of a fleet. Every outside number is clamped before it becomes a coordinate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::super::group::Group;
use super::super::one_line;
use super::super::v1::{FindingV1, ReportV1, Severity, SubjectKind};

/// The drawing's width in SVG units; the page scales it to the screen.
pub(super) const WIDTH: i64 = 960;
/// Room on the left for row labels.
const LABEL_W: i64 = 300;
const PLOT_W: i64 = WIDTH - LABEL_W - 150;
const ROW_H: i64 = 24;
const TOP: i64 = 28;
/// Characters of a name shown in a label (the full name is in the row's tooltip).
const LABEL_CHARS: usize = 40;

pub(super) struct Tick {
    pub x: i64,
    pub label: String,
}

pub(super) struct TimelineRow {
    pub label: String,
    pub title: String,
    pub y: i64,
    pub x0: i64,
    pub x1: i64,
    /// "expired", "soon" or "ok".
    pub class: &'static str,
    pub auto_extend: bool,
    pub end: String,
}

/// GDAP relationship end dates, soonest first.
pub(super) struct Timeline {
    pub rows: Vec<TimelineRow>,
    pub ticks: Vec<Tick>,
    pub now_x: i64,
    pub height: i64,
}

pub(super) struct ActivityRow {
    pub label: String,
    pub title: String,
    pub y: i64,
    pub x: i64,
    pub stale: bool,
    pub text: String,
}

/// Partners' last successful sign-in against the stale threshold.
pub(super) struct Activity {
    pub rows: Vec<ActivityRow>,
    pub ticks: Vec<Tick>,
    pub threshold_x: i64,
    pub threshold: u64,
    pub height: i64,
    /// Why there is nothing to draw (the rule's not-evaluated reason), when so.
    pub note: Option<String>,
}

pub(super) struct Segment {
    pub x: i64,
    pub w: i64,
    pub severity: &'static str,
    pub count: usize,
}

pub(super) struct FleetRow {
    pub label: String,
    pub title: String,
    pub y: i64,
    pub total: usize,
    pub total_x: i64,
    pub segments: Vec<Segment>,
}

/// Findings per customer, stacked by severity.
pub(super) struct Fleet {
    pub rows: Vec<FleetRow>,
    pub height: i64,
}

fn label(s: &str) -> String {
    let s = one_line(s);
    if s.chars().count() <= LABEL_CHARS {
        s
    } else {
        let mut out: String = s.chars().take(LABEL_CHARS.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn rows_height(n: usize) -> i64 {
    let n = i64::try_from(n).unwrap_or(i64::MAX / 2);
    TOP.saturating_add(n.saturating_mul(ROW_H))
        .saturating_add(12)
}

fn row_y(i: usize) -> i64 {
    TOP.saturating_add(i64::try_from(i).unwrap_or(0).saturating_mul(ROW_H))
}

/// `v` in `lo..=hi` mapped onto the plot's width.
fn scale(v: i64, lo: i64, hi: i64) -> i64 {
    let span = hi.saturating_sub(lo).max(1);
    let v = v.clamp(lo, hi);
    LABEL_W + (v - lo) * PLOT_W / span
}

fn parse(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    v.and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Days from `from` to `to`, clamped to ±10 years (outside data may hold any date).
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from).num_days().clamp(-3650, 3650)
}

fn is_auto_extend(f: &FindingV1) -> bool {
    let flag = f.evidence.get("auto_extend").and_then(|v| v.as_bool()) == Some(true);
    let duration = f
        .evidence
        .get("auto_extend_duration")
        .and_then(|v| v.as_str())
        .is_some_and(|d| !matches!(d, "" | "PT0S" | "P0D"));
    flag || duration
}

pub(super) fn timeline(report: &ReportV1) -> Timeline {
    struct Rel {
        name: String,
        customer: Option<String>,
        end: DateTime<Utc>,
        auto_extend: bool,
        soon: bool,
    }
    let mut rels: BTreeMap<String, Rel> = BTreeMap::new();
    for f in &report.findings {
        let Some(end) = parse(f.evidence.get("end_date_time")) else {
            continue;
        };
        let id = f
            .evidence
            .get("relationship_id")
            .and_then(|v| v.as_str())
            .or((f.subject.kind == SubjectKind::Relationship).then_some(f.subject.id.as_str()));
        let Some(id) = id else { continue };
        let name = f
            .evidence
            .get("relationship_name")
            .and_then(|v| v.as_str())
            .or((f.subject.kind == SubjectKind::Relationship).then(|| f.subject.label()))
            .unwrap_or(id);
        let rel = rels.entry(one_line(id)).or_insert_with(|| Rel {
            name: one_line(name),
            customer: f
                .evidence
                .get("customer_name")
                .and_then(|v| v.as_str())
                .map(one_line),
            end,
            auto_extend: false,
            soon: false,
        });
        rel.auto_extend |= is_auto_extend(f);
        rel.soon |= f.rule_id == "expiring-soon";
    }
    let mut rels: Vec<Rel> = rels.into_values().collect();
    rels.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.name.cmp(&b.name)));

    let days: Vec<i64> = rels
        .iter()
        .map(|r| days_between(report.as_of, r.end))
        .collect();
    let lo = days.iter().copied().min().unwrap_or(0).min(0);
    let hi = days.iter().copied().max().unwrap_or(0).max(90);
    let rows = rels
        .iter()
        .zip(&days)
        .enumerate()
        .map(|(i, (r, d))| {
            let class = if *d < 0 {
                "expired"
            } else if r.soon {
                "soon"
            } else {
                "ok"
            };
            let full = match &r.customer {
                Some(c) => format!("{} ({c})", r.name),
                None => r.name.clone(),
            };
            TimelineRow {
                label: label(&r.name),
                title: full,
                y: row_y(i),
                x0: scale(0, lo, hi).min(scale(*d, lo, hi)),
                x1: scale(0, lo, hi).max(scale(*d, lo, hi)),
                class,
                auto_extend: r.auto_extend,
                end: format!(
                    "{}{}",
                    r.end.format("%Y-%m-%d"),
                    if *d >= 0 {
                        format!(" ({d} d)")
                    } else {
                        " (ended)".to_owned()
                    }
                ),
            }
        })
        .collect::<Vec<_>>();
    let ticks = (0..)
        .map(|k: i64| k * 90)
        .take_while(|d| *d <= hi)
        .map(|d| Tick {
            x: scale(d, lo, hi),
            label: if d == 0 {
                "as of".to_owned()
            } else {
                format!("+{d} d")
            },
        })
        .collect();
    Timeline {
        height: rows_height(rows.len()),
        now_x: scale(0, lo, hi),
        rows,
        ticks,
    }
}

pub(super) fn activity(report: &ReportV1) -> Activity {
    let mut threshold: u64 = 90;
    let mut found: Vec<(String, Option<i64>)> = Vec::new();
    for f in &report.findings {
        if !f.evidence.contains_key("last_successful_sign_in") {
            continue;
        }
        if let Some(t) = f.evidence.get("stale_after_days").and_then(|v| v.as_u64()) {
            threshold = t.clamp(1, 3650);
        }
        let last = parse(f.evidence.get("last_successful_sign_in"));
        let name = f
            .evidence
            .get("partner_name")
            .and_then(|v| v.as_str())
            .unwrap_or(f.subject.label());
        found.push((
            one_line(name),
            last.map(|t| days_between(t, report.as_of).max(0)),
        ));
    }
    let threshold_days = i64::try_from(threshold).unwrap_or(90);
    let hi = found
        .iter()
        .filter_map(|(_, d)| *d)
        .max()
        .unwrap_or(0)
        .max(threshold_days.saturating_mul(2));
    let rows: Vec<ActivityRow> = found
        .iter()
        .enumerate()
        .map(|(i, (name, days))| ActivityRow {
            label: label(name),
            title: name.clone(),
            y: row_y(i),
            x: scale(days.unwrap_or(hi), 0, hi),
            stale: days.is_none_or(|d| d >= threshold_days),
            text: match days {
                Some(d) => format!("{d} d ago"),
                None => "never seen".to_owned(),
            },
        })
        .collect();
    let note = if rows.is_empty() {
        Some(
            report
                .not_evaluated
                .iter()
                .find(|n| n.rule_id == "stale-partner-access")
                .map(|n| format!("Not evaluated: {}", one_line(&n.reason)))
                .unwrap_or_else(|| {
                    "No partner went without a successful sign-in past the threshold, or this \
                     perspective does not read partner sign-ins."
                        .to_owned()
                }),
        )
    } else {
        None
    };
    let ticks = (0..)
        .map(|k: i64| k * 30)
        .take_while(|d| *d <= hi)
        .step_by(usize::try_from(hi / 300 + 1).unwrap_or(1))
        .map(|d| Tick {
            x: scale(d, 0, hi),
            label: format!("{d} d"),
        })
        .collect();
    Activity {
        height: rows_height(rows.len()),
        threshold_x: scale(threshold_days, 0, hi),
        threshold,
        rows,
        ticks,
        note,
    }
}

pub(super) fn fleet(groups: &[Group<'_>]) -> Fleet {
    let max = groups
        .iter()
        .filter(|g| g.id.is_some())
        .map(|g| g.findings.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = |n: usize| -> i64 {
        let n = i64::try_from(n).unwrap_or(0);
        let max = i64::try_from(max).unwrap_or(1).max(1);
        n.saturating_mul(PLOT_W) / max
    };
    let rows = groups
        .iter()
        .filter(|g| g.id.is_some())
        .enumerate()
        .map(|(i, g)| {
            let mut x = LABEL_W;
            let mut segments = Vec::new();
            for s in Severity::ALL_DESC {
                let count = g.count(s);
                if count == 0 {
                    continue;
                }
                let w = width(count);
                segments.push(Segment {
                    x,
                    w,
                    severity: s.as_str(),
                    count,
                });
                x = x.saturating_add(w);
            }
            FleetRow {
                label: label(&g.name),
                title: g.name.clone(),
                y: row_y(i),
                total: g.findings.len(),
                total_x: x.saturating_add(6),
                segments,
            }
        })
        .collect::<Vec<_>>();
    Fleet {
        height: rows_height(rows.len()),
        rows,
    }
}
