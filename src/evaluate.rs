//! The evaluator: runs the rule registry over a snapshot with an injected clock, marks rules whose
//! sources were not collected as not evaluated (never clean), applies severity overrides, fingerprints,
//! first-seen dates and suppressions, and sorts the result deterministically.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{Config, Suppression};
use crate::rules::common::{date, finding, subject};
use crate::rules::context::{Ctx, HistoryView, Sides};
use crate::rules::finding::{Finding, SubjectKind};
use crate::rules::hygiene::{SUPPRESSION_EXPIRED, SUPPRESSION_UNUSED};
use crate::rules::meta::{Note, RuleMeta};
use crate::rules::registry;
use crate::snapshot::{Coverage, CoverageStatus, Perspective, Snapshot, Source};

/// A finding hidden by a suppression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuppressedFinding {
    pub finding: Finding,
    pub reason: String,
    pub expires: Option<DateTime<Utc>>,
}

/// A coverage entry of the snapshot and the rules that could not (fully) run because of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageOutcome {
    pub coverage: Coverage,
    /// Rule ids, sorted, deduplicated.
    pub rules_not_evaluated: Vec<String>,
}

/// A rule (or part of one) not evaluated for a reason other than a missing source: missing
/// configuration, or evidence that does not cover its threshold yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotEvaluated {
    pub rule_id: String,
    /// A sentence.
    pub reason: String,
}

/// Everything one evaluation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Unsuppressed findings: severity (highest first), rule id, subject id, fingerprint.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<SuppressedFinding>,
    /// One entry per coverage entry of the snapshot (in its order), plus a `skipped` entry for each
    /// source a rule needed that the snapshot does not mention.
    pub coverage: Vec<CoverageOutcome>,
    pub not_evaluated: Vec<NotEvaluated>,
    /// Remarks for the reader (partial evidence, first run), in sentences.
    pub warnings: Vec<String>,
    /// The rules that ran (in catalogue order): with no finding and no `not_evaluated` entry, a rule
    /// listed here passed. One also in `not_evaluated` ran only in part.
    pub evaluated: Vec<String>,
}

/// Stable across runs: SHA-256 of `rule_id \0 audited tenant (lower-case) \0 subject id`, 32 hex chars.
pub fn fingerprint(rule_id: &str, tenant_id: &str, subject_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0u8]);
    h.update(tenant_id.to_ascii_lowercase().as_bytes());
    h.update([0u8]);
    h.update(subject_id.as_bytes());
    let digest = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(32);
    hex
}

fn matches(s: &Suppression, f: &Finding) -> bool {
    let subject = s.subject.trim();
    s.rule.trim().eq_ignore_ascii_case(&f.rule_id)
        && (f.subject.id.eq_ignore_ascii_case(subject)
            || f.partner_tenant_id
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(subject))
            || f.customer_tenant_id
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(subject))
            || f.fingerprint.eq_ignore_ascii_case(subject))
}

fn sort_key(f: &Finding) -> (std::cmp::Reverse<crate::rules::Severity>, &str, &str, &str) {
    (
        std::cmp::Reverse(f.severity),
        f.rule_id.as_str(),
        f.subject.id.as_str(),
        f.fingerprint.as_str(),
    )
}

struct Finisher<'a> {
    snap: &'a Snapshot,
    config: &'a Config,
    history: &'a HistoryView,
    now: DateTime<Utc>,
}

impl Finisher<'_> {
    /// Severity override, fingerprint, first seen.
    fn finish(&self, mut f: Finding) -> Finding {
        if let Some(s) = self.config.severity_override(&f.rule_id) {
            f.severity = s;
        }
        f.fingerprint = fingerprint(&f.rule_id, &self.snap.tenant_id, &f.subject.id);
        f.first_seen = match self.history.first_seen.get(&f.fingerprint) {
            Some(at) => Some(*at),
            None if self.history.tracked => Some(self.now),
            None => None,
        };
        f
    }
}

fn hygiene_finding(meta: &'static RuleMeta, s: &Suppression, message: String) -> Finding {
    let id = format!("suppression:{}:{}", s.rule.trim(), s.subject.trim());
    let name = format!("suppression of {} for {}", s.rule.trim(), s.subject.trim());
    let mut f = finding(meta, subject(SubjectKind::Tenant, &id, Some(name)), message);
    f.evidence.insert("rule", json!(s.rule));
    f.evidence.insert("subject", json!(s.subject));
    f.evidence.insert("reason", json!(s.reason));
    f.evidence.insert(
        "expires",
        json!(
            s.expires
                .map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        ),
    );
    f
}

/// Runs every enabled rule relevant to the snapshot's perspectives.
/// The perspectives a snapshot audits: those it lists or holds data of.
fn audited_sides(snap: &Snapshot) -> Sides {
    Sides {
        partner: snap.perspectives.contains(&Perspective::Partner) || snap.partner.is_some(),
        customer: snap.perspectives.contains(&Perspective::Customer) || snap.customer.is_some(),
    }
}

/// A source the snapshot should have and does not. An Azure source it does not mention at all was not
/// audited in this run (no ARM endpoint, or a snapshot from before Azure support): its rules do not
/// need it: it is not listed in `rules_not_evaluated`, and as an optional source it does not make a rule
/// partial.
fn unread(snap: &Snapshot, s: Source) -> bool {
    let not_audited = s.is_azure() && snap.coverage_of(s).is_none();
    !snap.has(s) && !not_audited
}

/// Every source the snapshot did not collect that an enabled rule of an audited perspective needs
/// (required or optional), with those rules: what `rules_not_evaluated` lists.
fn unread_sources(snap: &Snapshot, config: &Config) -> BTreeMap<Source, BTreeSet<String>> {
    let audited = audited_sides(snap);
    let mut by_source: BTreeMap<Source, BTreeSet<String>> = BTreeMap::new();
    for rule in registry() {
        let meta = rule.meta();
        if !config.rule_enabled(meta.id) || !rule.applies(snap) {
            continue;
        }
        for side in meta
            .perspectives
            .iter()
            .copied()
            .filter(|p| audited.has(*p))
        {
            for s in meta.sources.iter().chain(meta.optional_sources) {
                if s.perspective() == side && unread(snap, *s) {
                    by_source.entry(*s).or_default().insert(meta.id.to_owned());
                }
            }
        }
    }
    by_source
}

/// The snapshot's coverage gaps under `config`, without running the rules: the count the report of its
/// evaluation shows ([`Evaluation::coverage_gaps`]). For `collect`'s exit code and the history.
pub fn coverage_gaps(snap: &Snapshot, config: &Config) -> usize {
    let by_source = unread_sources(snap, config);
    let mut seen: BTreeSet<Source> = BTreeSet::new();
    let listed = snap
        .coverage
        .iter()
        .filter(|c| seen.insert(c.source))
        .filter(|c| c.status.is_gap(by_source.contains_key(&c.source)))
        .count();
    // A source a rule needed that the snapshot does not mention is reported `skipped`, and needed.
    let unlisted = by_source.keys().filter(|s| !seen.contains(s)).count();
    listed.saturating_add(unlisted)
}

impl CoverageOutcome {
    /// A hole in the audit (see [`CoverageStatus::is_gap`]).
    pub fn is_gap(&self) -> bool {
        self.coverage
            .status
            .is_gap(!self.rules_not_evaluated.is_empty())
    }
}

impl Evaluation {
    /// How many coverage entries are gaps: exit code 3 when nothing fails, `history list`'s count.
    pub fn coverage_gaps(&self) -> usize {
        self.coverage.iter().filter(|c| c.is_gap()).count()
    }
}

pub fn evaluate(
    snap: &Snapshot,
    config: &Config,
    history: &HistoryView,
    now: DateTime<Utc>,
) -> Evaluation {
    let base = Ctx::new(snap, config, history, now);
    // A perspective is audited when the snapshot lists it or holds its data; a side runs only with data.
    let audited = audited_sides(snap);
    let with_data = Sides {
        partner: snap.partner.is_some(),
        customer: snap.customer.is_some(),
    };
    let finisher = Finisher {
        snap,
        config,
        history,
        now,
    };

    let by_source = unread_sources(snap, config);
    let mut not_evaluated: Vec<NotEvaluated> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut raw: Vec<Finding> = Vec::new();
    // Rules that ran on every relevant side with all their sources: an unmatched suppression of one of
    // them is really unused.
    let mut fully_evaluated: BTreeSet<&'static str> = BTreeSet::new();
    let mut evaluated: Vec<String> = Vec::new();

    for rule in registry() {
        let meta = rule.meta();
        if !config.rule_enabled(meta.id) || !rule.applies(snap) {
            continue;
        }
        let relevant = meta
            .perspectives
            .iter()
            .copied()
            .filter(|p| audited.has(*p))
            .fold(Sides::default(), Sides::with);
        if relevant.is_empty() {
            continue;
        }
        let mut runnable = Sides::default();
        let mut complete = true;
        for side in [Perspective::Partner, Perspective::Customer] {
            if !relevant.has(side) {
                continue;
            }
            let missing: Vec<Source> = meta
                .sources
                .iter()
                .copied()
                .filter(|s| s.perspective() == side && !snap.has(*s))
                .collect();
            // An optional source not audited at all does not make the rule partial; a required one
            // still keeps it from running (it would pass on no data).
            let missing_optional: Vec<Source> = meta
                .optional_sources
                .iter()
                .copied()
                .filter(|s| s.perspective() == side && unread(snap, *s))
                .collect();
            if !missing.is_empty() || !missing_optional.is_empty() {
                complete = false;
            }
            if missing.is_empty() && with_data.has(side) {
                runnable = runnable.with(side);
            } else {
                complete = false;
            }
        }
        if runnable.is_empty() {
            continue;
        }
        let ctx = base.with_sides(runnable);
        if let Some(reason) = rule.skip_reason(snap, &ctx) {
            not_evaluated.push(NotEvaluated {
                rule_id: meta.id.to_owned(),
                reason,
            });
            continue;
        }
        evaluated.push(meta.id.to_owned());
        raw.extend(
            rule.check(snap, &ctx)
                .into_iter()
                .map(|f| finisher.finish(f)),
        );
        for note in rule.notes(snap, &ctx) {
            match note {
                Note::NotEvaluated(reason) => {
                    complete = false;
                    not_evaluated.push(NotEvaluated {
                        rule_id: meta.id.to_owned(),
                        reason,
                    });
                }
                Note::Warning(w) => warnings.push(w),
            }
        }
        if complete {
            fully_evaluated.insert(meta.id);
        }
    }

    // Suppressions.
    let suppressions = &config.suppressions;
    // Per suppression: whether it matched a finding, and how many it matched after it expired.
    let mut uses = vec![(false, 0usize); suppressions.len()];
    let mut findings = Vec::new();
    let mut suppressed = Vec::new();
    for f in raw {
        let mut by = None;
        for (s, (used, hid)) in suppressions.iter().zip(uses.iter_mut()) {
            if matches(s, &f) {
                *used = true;
                if s.is_expired(now) {
                    *hid += 1;
                } else if by.is_none() {
                    by = Some(s);
                }
            }
        }
        match by {
            Some(s) => suppressed.push(SuppressedFinding {
                finding: f,
                reason: s.reason.clone(),
                expires: s.expires,
            }),
            None => findings.push(f),
        }
    }
    for (s, &(used, hid)) in suppressions.iter().zip(&uses) {
        let known = crate::rules::rule(&s.rule);
        if let Some(expires) = s.expires.filter(|_| s.is_expired(now)) {
            if config.rule_enabled(SUPPRESSION_EXPIRED.id) {
                let again = if hid == 0 {
                    "it matches no finding in this audit".to_owned()
                } else {
                    format!(
                        "the {} it hid {} reported again",
                        crate::rules::common::plural(hid, "finding", "findings"),
                        if hid == 1 { "is" } else { "are" }
                    )
                };
                let msg = format!(
                    "The suppression of {} for {} (\"{}\") expired on {}; {again}. Fix the finding, or renew the suppression after a review.",
                    s.rule.trim(),
                    s.subject.trim(),
                    s.reason.trim(),
                    date(expires)
                );
                findings.push(finisher.finish(hygiene_finding(&SUPPRESSION_EXPIRED, s, msg)));
            }
            continue;
        }
        match known {
            None => warnings.push(format!("suppression for unknown rule `{}` ignored", s.rule)),
            Some(m)
                if !used
                    && fully_evaluated.contains(m.id)
                    && config.rule_enabled(SUPPRESSION_UNUSED.id) =>
            {
                let msg = format!(
                    "The suppression of {} for {} (\"{}\") matched no finding in this audit. Remove it, or it will silently hide the finding if it comes back.",
                    s.rule.trim(),
                    s.subject.trim(),
                    s.reason.trim()
                );
                findings.push(finisher.finish(hygiene_finding(&SUPPRESSION_UNUSED, s, msg)));
            }
            Some(_) => {}
        }
    }

    findings.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    suppressed.sort_by(|a, b| sort_key(&a.finding).cmp(&sort_key(&b.finding)));

    // Coverage: the snapshot's entries in order, then sources a rule needed that it does not mention.
    let mut coverage: Vec<CoverageOutcome> = Vec::new();
    let mut seen: BTreeSet<Source> = BTreeSet::new();
    for c in &snap.coverage {
        if !seen.insert(c.source) {
            continue;
        }
        let rules = by_source
            .get(&c.source)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        coverage.push(CoverageOutcome {
            coverage: c.clone(),
            rules_not_evaluated: rules,
        });
    }
    for (source, rules) in &by_source {
        if seen.contains(source) {
            continue;
        }
        coverage.push(CoverageOutcome {
            coverage: Coverage {
                source: *source,
                status: CoverageStatus::Skipped,
                detail: Some(format!(
                    "{} is not recorded in the snapshot: the rules that need it were not evaluated",
                    source.as_str()
                )),
                graph_code: None,
                request_id: None,
                permission: Some(source.permission().to_owned()),
                items: None,
            },
            rules_not_evaluated: rules.iter().cloned().collect(),
        });
    }

    Evaluation {
        findings,
        suppressed,
        coverage,
        not_evaluated,
        warnings,
        evaluated,
    }
}
