//! Audit hygiene: findings about the audit's own configuration. The evaluator's suppression pass raises
//! them (`crate::evaluate`); they are declared here so that they have metadata, docs and overrides like
//! every other rule.

use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::meta::{Rule, RuleMeta, refs};
use crate::snapshot::{Perspective, Snapshot};

const BOTH: &[Perspective] = &[Perspective::Partner, Perspective::Customer];

pub static SUPPRESSION_UNUSED: RuleMeta = RuleMeta {
    id: "suppression-unused",
    title: "Suppression matched nothing",
    default_severity: Severity::Low,
    perspectives: BOTH,
    fires_when: "A [[suppressions]] entry matched no finding, although its rule was fully evaluated in this \
        audit (suppressions of rules that were disabled, not applicable to the audited perspective, or not \
        evaluated for lack of data are not reported).",
    rationale: "A suppression that no longer matches anything is dead configuration; left in place, it \
        would silently hide the same finding if it came back.",
    remediation: "Remove the suppression from the configuration (or correct its rule id or subject).",
    sources: &[],
    optional_sources: &[],
    config_keys: &["suppressions"],
    references: &[refs::CISA_AA22_131A],
    from_evaluator: true,
};

pub static SUPPRESSION_EXPIRED: RuleMeta = RuleMeta {
    id: "suppression-expired",
    title: "Suppression expired",
    default_severity: Severity::Low,
    perspectives: BOTH,
    fires_when: "A [[suppressions]] entry's expires date has passed. The findings it hid are reported again.",
    rationale: "Accepted risks should be reviewed when their acceptance lapses; an expired suppression \
        means the review is due.",
    remediation: "Fix the finding, or renew the suppression with a new expires date and an updated reason, \
        or remove it.",
    sources: &[],
    optional_sources: &[],
    config_keys: &["suppressions"],
    references: &[refs::CISA_AA22_131A],
    from_evaluator: true,
};

pub static METAS: &[&RuleMeta] = &[&SUPPRESSION_UNUSED, &SUPPRESSION_EXPIRED];

pub struct SuppressionUnused;

impl Rule for SuppressionUnused {
    fn meta(&self) -> &'static RuleMeta {
        &SUPPRESSION_UNUSED
    }

    fn check(&self, _snap: &Snapshot, _ctx: &Ctx) -> Vec<Finding> {
        Vec::new()
    }
}

pub struct SuppressionExpired;

impl Rule for SuppressionExpired {
    fn meta(&self) -> &'static RuleMeta {
        &SUPPRESSION_EXPIRED
    }

    fn check(&self, _snap: &Snapshot, _ctx: &Ctx) -> Vec<Finding> {
        Vec::new()
    }
}
