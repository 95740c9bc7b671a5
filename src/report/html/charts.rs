//! The pictures, drawn here as plain numbers and labels for the template's inline SVG (no chart library
//! at view time): relationship end dates, partners' last sign-in against the stale threshold, and the
//! findings per customer of a fleet. The first two are drawn from the report's `context` (the snapshot),
//! never from findings' evidence, so they show every relationship and partner, not only flagged ones.
//! Every outside number is clamped before it becomes a coordinate.

use chrono::{DateTime, Utc};

use super::super::group::Group;
use super::super::one_line;
use super::super::v1::{
    CoverageStatus, PartnerActivity, RelationshipContext, ReportV1, Severity, ThresholdsV1,
};

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
    /// "expired", "soon", "ok", or "undated" (no end date yet).
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
    /// Why there is nothing to draw, when so.
    pub note: Option<String>,
}

pub(super) struct ActivityRow {
    pub label: String,
    pub title: String,
    pub y: i64,
    pub x: i64,
    /// "dot-stale" (past the threshold), "dot-active", or "dot-unknown" (no sign-in in a window shorter
    /// than the threshold: not yet known to be stale).
    pub class: &'static str,
    pub text: String,
}

/// Partners' last observed activity against the stale threshold.
pub(super) struct Activity {
    pub rows: Vec<ActivityRow>,
    pub ticks: Vec<Tick>,
    pub threshold_x: i64,
    pub threshold: u64,
    pub height: i64,
    /// Why there is nothing to draw, when so.
    pub note: Option<String>,
    /// What makes the drawing incomplete (sign-in logs not read, a window shorter than the threshold).
    pub caveats: Vec<String>,
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

/// Days from `from` to `to`, clamped to ±10 years (outside data may hold any date).
fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from).num_days().clamp(-3650, 3650)
}

/// A threshold from the report's settings, or the default when the report carries none.
fn threshold(report: &ReportV1, pick: fn(&ThresholdsV1) -> u32, default: u32) -> i64 {
    let days = report
        .settings
        .as_ref()
        .map_or(default, |s| pick(&s.thresholds));
    i64::from(days.clamp(1, 3650))
}

/// Every live relationship of the snapshot (`context.relationships`), soonest end first; undated ones
/// (not yet approved) last, drawn as a mark at the evaluation clock.
pub(super) fn timeline(report: &ReportV1) -> Timeline {
    let rels: &[RelationshipContext] = report
        .context
        .as_ref()
        .and_then(|c| c.relationships.as_deref())
        .unwrap_or_default();
    let soon_days = threshold(report, |t| t.expiring_within_days, 30);
    let days: Vec<Option<i64>> = rels
        .iter()
        .map(|r| r.end_date_time.map(|end| days_between(report.as_of, end)))
        .collect();
    let lo = days.iter().flatten().copied().min().unwrap_or(0).min(0);
    let hi = days.iter().flatten().copied().max().unwrap_or(0).max(90);
    let now = scale(0, lo, hi);
    let rows = rels
        .iter()
        .zip(&days)
        .enumerate()
        .map(|(i, (r, d))| {
            let name = one_line(&r.display_name);
            let name = if name.trim().is_empty() {
                one_line(&r.id)
            } else {
                name
            };
            let customer = r
                .customer_name
                .as_deref()
                .or(r.customer_tenant_id.as_deref())
                .map(one_line);
            let title = match &customer {
                Some(c) => format!("{name} ({c})"),
                None => name.clone(),
            };
            let (class, x, end) = match (d, r.end_date_time) {
                (Some(d), Some(at)) => {
                    let class = if *d < 0 {
                        "expired"
                    } else if *d < soon_days {
                        "soon"
                    } else {
                        "ok"
                    };
                    let when = if *d >= 0 {
                        format!(" ({d} d)")
                    } else {
                        " (ended)".to_owned()
                    };
                    (
                        class,
                        scale(*d, lo, hi),
                        format!("{}{when}", at.format("%Y-%m-%d")),
                    )
                }
                _ => (
                    "undated",
                    now,
                    format!("no end date yet ({})", one_line(&r.status)),
                ),
            };
            TimelineRow {
                label: label(&name),
                title,
                y: row_y(i),
                x0: now.min(x),
                x1: now.max(x),
                class,
                auto_extend: r.auto_extend,
                end,
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
    let note = match report
        .context
        .as_ref()
        .and_then(|c| c.relationships.as_ref())
    {
        None => {
            Some("The partner side was not audited: no GDAP relationships were read.".to_owned())
        }
        Some(r) if r.is_empty() => Some("No live GDAP relationship.".to_owned()),
        Some(_) => None,
    };
    Timeline {
        height: rows_height(rows.len()),
        now_x: now,
        rows,
        ticks,
        note,
    }
}

/// Every service-provider partner of the snapshot (`context.partners`): days since its last successful
/// sign-in (or, without one, its last attempt) against `stale_after_days`.
pub(super) fn activity(report: &ReportV1) -> Activity {
    let partners: &[PartnerActivity] = report
        .context
        .as_ref()
        .and_then(|c| c.partners.as_deref())
        .unwrap_or_default();
    let threshold_days = threshold(report, |t| t.stale_after_days, 90);
    // The days of logs read, when shorter than the threshold: no sign-in in them proves nothing yet.
    let short_window = report
        .settings
        .as_ref()
        .and_then(|s| i64::try_from(s.since_days).ok())
        .filter(|w| *w < threshold_days);
    let ago = |t: Option<DateTime<Utc>>| t.map(|t| days_between(t, report.as_of).max(0));
    let found: Vec<(String, Option<i64>, Option<i64>)> = partners
        .iter()
        .map(|p| {
            let name = p
                .display_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(&p.tenant_id);
            (
                one_line(name),
                ago(p.last_successful_sign_in),
                ago(p.last_attempt),
            )
        })
        .collect();
    let hi = found
        .iter()
        .flat_map(|(_, s, a)| [*s, *a])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(threshold_days.saturating_mul(2));
    let rows: Vec<ActivityRow> = found
        .iter()
        .enumerate()
        .map(|(i, (name, success, attempt))| ActivityRow {
            label: label(name),
            title: name.clone(),
            y: row_y(i),
            x: scale(success.or(*attempt).or(short_window).unwrap_or(hi), 0, hi),
            class: match (success, short_window) {
                (Some(d), _) if *d < threshold_days => "dot-active",
                (None, Some(_)) => "dot-unknown",
                _ => "dot-stale",
            },
            text: match (success, attempt, short_window) {
                (Some(d), _, _) => format!("{d} d ago"),
                (None, Some(d), _) => format!("no success; last attempt {d} d ago"),
                (None, None, Some(w)) => format!("none in the {w} d read"),
                (None, None, None) => "no sign-in seen".to_owned(),
            },
        })
        .collect();
    let note = match report.context.as_ref().and_then(|c| c.partners.as_ref()) {
        None => {
            Some("The customer side was not audited: no partner sign-ins were read.".to_owned())
        }
        Some(p) if p.is_empty() => Some("No service-provider partner in this tenant.".to_owned()),
        Some(_) => None,
    };
    // Drawn, but said: without the sign-in logs "no sign-in seen" means "not read", not "inactive".
    let mut caveats: Vec<String> = report
        .coverage
        .iter()
        .find(|c| c.source == "sign_ins" && c.status != CoverageStatus::Collected)
        .map(|c| {
            format!(
                "Sign-in logs were not read in full ({}): activity below is incomplete; see Coverage.",
                c.status.as_str()
            )
        })
        .into_iter()
        .collect();
    if let Some(w) = short_window {
        caveats.push(format!(
            "The sign-in logs read cover {w} days, fewer than the stale threshold ({threshold_days} \
             days): a partner without a sign-in in them (grey) is not yet known to be stale."
        ));
    }
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
        threshold: u64::try_from(threshold_days).unwrap_or(90),
        rows,
        ticks,
        note,
        caveats,
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
