//! The finding lifecycle (DESIGN.md "Finding lifecycle"): what a ticket system opens and closes tickets
//! from. Pure: this run's evaluation and what the history knew before it ([`Prior`]) in, a status per
//! finding, the findings resolved since the previous run, and those kept open because their rule could
//! not be re-checked, out. No I/O, no clock.
//!
//! * `new`: first seen in this run. `open`: open in the previous run too. `reopened`: seen in an earlier
//!   run, resolved since (absent from the previous run), present again.
//! * `resolved`, with a [`Resolution`]: in the previous run, absent now although its rule ran with every
//!   source it needs. `suppressed` when a suppression (or turning the rule off) hides it now;
//!   `aged_out` when the rule is time-windowed ([`RuleMeta::windowed`]) and the clock moved forward: its
//!   evidence (a dated event, a "within N days" threshold, a change since the last run) fell out of the
//!   window; otherwise `fixed`.
//! * A finding of the previous run whose rule could not be (fully) evaluated now (a source denied, not
//!   licensed or failed, the rule skipped or partly evaluated) is never resolved: it is carried, `open`,
//!   with a note saying why it was not re-checked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::evaluate::Evaluation;
use crate::rules::{Finding, RuleMeta};
use crate::snapshot::CoverageStatus;

/// Where a finding stands, compared with the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    Resolved,
    Reopened,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::New,
            Status::Open,
            Status::Resolved,
            Status::Reopened,
        ]
        .into_iter()
        .find(|v| v.as_str() == s.trim())
    }

    /// A change a ticket system acts on (`--changes-only`): new, reopened, resolved.
    pub fn is_change(self) -> bool {
        self != Status::Open
    }
}

/// Why a finding of the previous run is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The condition is gone (the rule ran with all its sources and did not fire).
    Fixed,
    /// A time-windowed rule's evidence fell out of its window as the clock moved on.
    AgedOut,
    /// Hidden by a suppression in the configuration, or its rule was turned off.
    Suppressed,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Fixed => "fixed",
            Resolution::AgedOut => "aged_out",
            Resolution::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        [
            Resolution::Fixed,
            Resolution::AgedOut,
            Resolution::Suppressed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s.trim())
    }
}

/// What the history knew before this run, for one audited tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prior {
    /// The previous run's evaluation clock; `None` when there is no previous run.
    pub as_of: Option<DateTime<Utc>>,
    /// The findings open at the previous run (those it reported and those it carried).
    pub findings: Vec<Finding>,
    /// Every fingerprint any earlier run reported: present now but not open before means reopened.
    pub seen_before: BTreeSet<String>,
}

/// A finding of the previous run kept open because its rule could not be re-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    pub finding: Finding,
    /// Why it was not re-checked, in a sentence.
    pub note: String,
}

/// A finding of the previous run that is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub finding: Finding,
    pub resolution: Resolution,
}

/// The lifecycle of one run's findings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// This run's findings (unsuppressed), by fingerprint: new, open or reopened.
    pub status: BTreeMap<String, Status>,
    /// Findings of the previous run not re-checked in this one; `open`. In the evaluator's order.
    pub carried: Vec<Carried>,
    /// Findings of the previous run resolved in this one. In the evaluator's order.
    pub resolved: Vec<Resolved>,
}

impl Lifecycle {
    /// The status of a finding of this run; `None` when it was not computed (no history).
    pub fn status_of(&self, fingerprint: &str) -> Option<Status> {
        self.status.get(fingerprint).copied()
    }
}

impl RuleMeta {
    /// Whether the rule's findings are time-windowed, so that one can disappear only because time
    /// passed: it reads dated log records (sign-ins, directory audits: the lookback window), or a
    /// "within N days" / "for N days" threshold (`new_within_days`, `expiring_within_days`,
    /// `stale_after_days`; `roles-added` and `new-partner-access` also compare with the previous run,
    /// which is a window of one run).
    pub fn windowed(&self) -> bool {
        use crate::snapshot::Source;
        self.sources
            .iter()
            .any(|s| matches!(s, Source::SignIns | Source::DirectoryAudits))
            || self.config_keys.iter().any(|k| {
                matches!(
                    *k,
                    "thresholds.new_within_days"
                        | "thresholds.expiring_within_days"
                        | "thresholds.stale_after_days"
                )
            })
    }
}

fn status_word(s: CoverageStatus) -> &'static str {
    match s {
        CoverageStatus::Collected => "collected",
        CoverageStatus::Denied => "denied",
        CoverageStatus::Unlicensed => "not licensed",
        CoverageStatus::NotFound => "not found",
        CoverageStatus::Failed => "not read in full",
        CoverageStatus::Skipped => "skipped",
    }
}

/// Why each rule could not be fully re-checked in this evaluation, by rule id.
fn unchecked_rules(evaluation: &Evaluation, config: &Config) -> BTreeMap<String, String> {
    let mut why: BTreeMap<String, String> = BTreeMap::new();
    for c in evaluation.coverage.iter().filter(|c| c.is_gap()) {
        for rule in &c.rules_not_evaluated {
            why.entry(rule.clone()).or_insert_with(|| {
                format!(
                    "not re-checked in this run: source {} was {}",
                    c.coverage.source.as_str(),
                    status_word(c.coverage.status)
                )
            });
        }
    }
    for n in &evaluation.not_evaluated {
        why.entry(n.rule_id.clone())
            .or_insert_with(|| format!("not re-checked in this run: {}", n.reason));
    }
    // A rule that did not run at all (its perspective not audited this time), unless the configuration
    // turned it off (that resolves as suppressed) or the evaluator raises it (always checked).
    for meta in crate::rules::all_rules() {
        if !meta.from_evaluator
            && config.rule_enabled(meta.id)
            && !evaluation.evaluated.iter().any(|e| e == meta.id)
        {
            why.entry(meta.id.to_owned()).or_insert_with(|| {
                "not re-checked in this run: the rule did not run (its perspective was not audited)"
                    .to_owned()
            });
        }
    }
    why
}

/// The lifecycle of `evaluation`'s findings against `prior`, at the evaluation clock `as_of`.
pub fn compute(
    evaluation: &Evaluation,
    config: &Config,
    prior: &Prior,
    as_of: DateTime<Utc>,
) -> Lifecycle {
    let open_before: BTreeSet<&str> = prior
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    let mut status = BTreeMap::new();
    for f in &evaluation.findings {
        let s = if open_before.contains(f.fingerprint.as_str()) {
            Status::Open
        } else if prior.seen_before.contains(&f.fingerprint) {
            Status::Reopened
        } else {
            Status::New
        };
        status.insert(f.fingerprint.clone(), s);
    }

    let present: BTreeSet<&str> = evaluation
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    let suppressed: BTreeSet<&str> = evaluation
        .suppressed
        .iter()
        .map(|s| s.finding.fingerprint.as_str())
        .collect();
    let unchecked = unchecked_rules(evaluation, config);
    let clock_moved = prior.as_of.is_some_and(|before| as_of > before);

    let mut carried = Vec::new();
    let mut resolved = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for f in &prior.findings {
        if present.contains(f.fingerprint.as_str()) || !done.insert(f.fingerprint.as_str()) {
            continue;
        }
        let resolution = if suppressed.contains(f.fingerprint.as_str())
            || !config.rule_enabled(&f.rule_id)
        {
            Resolution::Suppressed
        } else if let Some(note) = unchecked.get(&f.rule_id) {
            carried.push(Carried {
                finding: f.clone(),
                note: note.clone(),
            });
            continue;
        } else if clock_moved && crate::rules::rule(&f.rule_id).is_some_and(RuleMeta::windowed) {
            Resolution::AgedOut
        } else {
            Resolution::Fixed
        };
        resolved.push(Resolved {
            finding: f.clone(),
            resolution,
        });
    }
    Lifecycle {
        status,
        carried,
        resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{CoverageOutcome, NotEvaluated, SuppressedFinding};
    use crate::rules::{Severity, Subject, SubjectKind};
    use crate::snapshot::{Coverage, Source};
    use proptest::prelude::*;

    const RULES: [&str; 4] = [
        "global-admin-granted",       // not windowed
        "partner-signin-without-mfa", // windowed (sign-ins)
        "partner-privileged-change",  // windowed (directory audits)
        "expiring-soon",              // windowed (threshold)
    ];

    fn t(day: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_790_000_000 + day * 86_400, 0).unwrap_or_default()
    }

    fn finding(rule: &str, subject: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            severity: Severity::High,
            title: rule.to_owned().into(),
            message: format!("{rule} on {subject}"),
            subject: Subject {
                kind: SubjectKind::Partner,
                id: subject.into(),
                display_name: None,
            },
            partner_tenant_id: None,
            customer_tenant_id: None,
            evidence: Default::default(),
            remediation: Default::default(),
            references: vec![],
            fingerprint: format!("{rule}/{subject}"),
            first_seen: None,
        }
    }

    fn evaluation(findings: Vec<Finding>) -> Evaluation {
        Evaluation {
            findings,
            suppressed: vec![],
            coverage: vec![],
            not_evaluated: vec![],
            warnings: vec![],
            evaluated: crate::rules::all_rules().map(|m| m.id.to_owned()).collect(),
        }
    }

    fn denied(source: Source, rules: &[&str]) -> CoverageOutcome {
        CoverageOutcome {
            coverage: Coverage {
                source,
                status: CoverageStatus::Denied,
                detail: None,
                graph_code: None,
                request_id: None,
                permission: None,
                items: None,
            },
            rules_not_evaluated: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn windowed_comes_from_the_rule_metadata() {
        let windowed = |id: &str| crate::rules::rule(id).is_some_and(RuleMeta::windowed);
        assert!(!windowed("global-admin-granted"));
        assert!(!windowed("mfa-not-enforced-for-partners"));
        assert!(windowed("partner-signin-without-mfa"));
        assert!(windowed("partner-privileged-change"));
        assert!(windowed("new-partner-access"));
        assert!(windowed("roles-added"));
        assert!(windowed("stale-partner-access"));
        assert!(windowed("expiring-soon"));
    }

    #[test]
    fn each_kind_of_change() {
        let ga = finding("global-admin-granted", "rel-1");
        let mfa = finding("partner-signin-without-mfa", "p1");
        let change = finding("partner-privileged-change", "p1");
        let kept = finding("global-admin-granted", "rel-2");
        let back = finding("global-admin-granted", "rel-3");
        let hidden = finding("global-admin-granted", "rel-4");
        let prior = Prior {
            as_of: Some(t(0)),
            findings: vec![
                ga.clone(),
                mfa.clone(),
                change.clone(),
                kept.clone(),
                hidden.clone(),
            ],
            seen_before: [&ga, &mfa, &change, &kept, &back, &hidden]
                .iter()
                .map(|f| f.fingerprint.clone())
                .collect(),
        };
        let fresh = finding("global-admin-granted", "rel-5");
        let mut ev = evaluation(vec![kept.clone(), back.clone(), fresh.clone()]);
        ev.coverage.push(denied(
            Source::DirectoryAudits,
            &["partner-privileged-change"],
        ));
        ev.suppressed.push(SuppressedFinding {
            finding: hidden.clone(),
            reason: "accepted".into(),
            expires: None,
        });
        let lc = compute(&ev, &Config::default(), &prior, t(10));

        assert_eq!(lc.status_of(&kept.fingerprint), Some(Status::Open));
        assert_eq!(lc.status_of(&back.fingerprint), Some(Status::Reopened));
        assert_eq!(lc.status_of(&fresh.fingerprint), Some(Status::New));
        let resolved: Vec<(&str, Resolution)> = lc
            .resolved
            .iter()
            .map(|r| (r.finding.fingerprint.as_str(), r.resolution))
            .collect();
        assert_eq!(
            resolved,
            vec![
                (ga.fingerprint.as_str(), Resolution::Fixed),
                (mfa.fingerprint.as_str(), Resolution::AgedOut),
                (hidden.fingerprint.as_str(), Resolution::Suppressed),
            ]
        );
        assert_eq!(lc.carried.len(), 1);
        assert_eq!(lc.carried[0].finding, change);
        assert!(
            lc.carried[0].note.contains("directory_audits was denied"),
            "{}",
            lc.carried[0].note
        );
    }

    #[test]
    fn a_windowed_rule_is_fixed_when_the_clock_did_not_move() {
        let mfa = finding("partner-signin-without-mfa", "p1");
        let prior = Prior {
            as_of: Some(t(3)),
            findings: vec![mfa.clone()],
            seen_before: [mfa.fingerprint.clone()].into(),
        };
        let lc = compute(&evaluation(vec![]), &Config::default(), &prior, t(3));
        assert_eq!(lc.resolved[0].resolution, Resolution::Fixed);
    }

    #[test]
    fn a_rule_evaluated_in_part_or_not_run_keeps_its_findings_open() {
        let stale = finding("expiring-soon", "rel-1");
        let ga = finding("global-admin-granted", "rel-1");
        let prior = Prior {
            as_of: Some(t(0)),
            findings: vec![stale.clone(), ga.clone()],
            seen_before: BTreeSet::new(),
        };
        let mut ev = evaluation(vec![]);
        ev.not_evaluated.push(NotEvaluated {
            rule_id: "expiring-soon".into(),
            reason: "partly evaluated".into(),
        });
        ev.evaluated.retain(|r| r != "global-admin-granted");
        let lc = compute(&ev, &Config::default(), &prior, t(9));
        assert!(lc.resolved.is_empty(), "{:?}", lc.resolved);
        assert_eq!(lc.carried.len(), 2);
        assert!(lc.carried[0].note.contains("partly evaluated"));
        assert!(lc.carried[1].note.contains("did not run"));
    }

    #[test]
    fn a_rule_turned_off_resolves_as_suppressed() {
        let ga = finding("global-admin-granted", "rel-1");
        let prior = Prior {
            as_of: Some(t(0)),
            findings: vec![ga.clone()],
            seen_before: BTreeSet::new(),
        };
        let config =
            Config::from_toml_str("[rules.global-admin-granted]\nenabled = false\n", "test")
                .unwrap();
        assert!(
            !config.rule_enabled("global-admin-granted"),
            "config syntax"
        );
        let lc = compute(&evaluation(vec![]), &config, &prior, t(1));
        assert_eq!(lc.resolved[0].resolution, Resolution::Suppressed);
    }

    #[test]
    fn first_run_everything_is_new() {
        let f = finding("global-admin-granted", "rel-1");
        let lc = compute(
            &evaluation(vec![f.clone()]),
            &Config::default(),
            &Prior::default(),
            t(0),
        );
        assert_eq!(lc.status_of(&f.fingerprint), Some(Status::New));
        assert!(lc.resolved.is_empty() && lc.carried.is_empty());
    }

    fn arb_findings() -> impl Strategy<Value = Vec<Finding>> {
        proptest::collection::vec((0usize..RULES.len(), 0u8..6), 0..12).prop_map(|v| {
            let mut out: Vec<Finding> = Vec::new();
            for (r, s) in v {
                let f = finding(RULES[r], &format!("s{s}"));
                if !out.iter().any(|o| o.fingerprint == f.fingerprint) {
                    out.push(f);
                }
            }
            out
        })
    }

    proptest! {
        /// Every finding of the previous run ends in exactly one place (still present, carried or
        /// resolved); nothing present is resolved; only an unchecked rule's findings are carried; `new`
        /// only for a fingerprint never seen; and the aged-out ones are all windowed.
        #[test]
        fn every_previous_finding_is_accounted_for_once(
            before in arb_findings(),
            now in arb_findings(),
            seen in arb_findings(),
            gap in proptest::option::of(0usize..RULES.len()),
            days in 0i64..5,
        ) {
            let prior = Prior {
                as_of: Some(t(0)),
                findings: before.clone(),
                seen_before: before.iter().chain(&seen).map(|f| f.fingerprint.clone()).collect(),
            };
            let mut ev = evaluation(now.clone());
            if let Some(g) = gap {
                ev.coverage.push(denied(Source::SignIns, &[RULES[g]]));
            }
            let lc = compute(&ev, &Config::default(), &prior, t(days));
            for f in &before {
                let present = now.iter().any(|n| n.fingerprint == f.fingerprint);
                let carried = lc.carried.iter().filter(|c| c.finding.fingerprint == f.fingerprint).count();
                let resolved = lc.resolved.iter().filter(|r| r.finding.fingerprint == f.fingerprint).count();
                prop_assert_eq!(usize::from(present) + carried + resolved, 1);
                if carried == 1 {
                    prop_assert_eq!(Some(f.rule_id.as_str()), gap.map(|g| RULES[g]));
                }
            }
            for r in &lc.resolved {
                prop_assert!(!now.iter().any(|n| n.fingerprint == r.finding.fingerprint));
                if r.resolution == Resolution::AgedOut {
                    prop_assert!(days > 0);
                    prop_assert!(crate::rules::rule(&r.finding.rule_id).is_some_and(RuleMeta::windowed));
                }
            }
            for f in &now {
                let s = lc.status_of(&f.fingerprint);
                prop_assert!(s.is_some());
                prop_assert_eq!(s == Some(Status::New), !prior.seen_before.contains(&f.fingerprint));
                prop_assert_eq!(s == Some(Status::Open), before.iter().any(|b| b.fingerprint == f.fingerprint));
            }
        }
    }
}
