//! Rule metadata, the `Rule` trait, and the text generated from the metadata (`rules explain`,
//! `docs/rules.md`).

use std::fmt::Write as _;

use super::context::Ctx;
use super::finding::{Finding, Severity};
use crate::snapshot::{Perspective, Snapshot, Source};

/// References shared by several rules (research/anchors.md §3-4).
pub mod refs {
    pub const MITRE_T1199: &str = "https://attack.mitre.org/techniques/T1199/";
    pub const MITRE_M1032_MFA: &str = "https://attack.mitre.org/mitigations/M1032/";
    pub const MITRE_M1018_ACCOUNTS: &str = "https://attack.mitre.org/mitigations/M1018/";
    pub const CISA_AA22_131A: &str =
        "https://www.cisa.gov/news-events/cybersecurity-advisories/aa22-131a";
    pub const NOBELIUM_DAP: &str = "https://www.microsoft.com/en-us/security/blog/2021/10/25/nobelium-targeting-delegated-administrative-privileges-to-facilitate-broader-attacks/";
    pub const DART_TRUST_CHAINS: &str = "https://www.microsoft.com/en-us/security/blog/2021/11/22/how-to-investigate-service-provider-trust-chains-in-the-cloud/";
    pub const GDAP_LEAST_PRIVILEGE: &str =
        "https://learn.microsoft.com/en-us/partner-center/gdap-least-privileged-roles-by-task";
    pub const GDAP_INTRODUCTION: &str =
        "https://learn.microsoft.com/en-us/partner-center/gdap-introduction";
    pub const GDAP_AUTO_EXTEND: &str = "https://learn.microsoft.com/en-us/partner-center/expiring-gdap-relationships-and-auto-extend-gdap";
    pub const GDAP_FAQ: &str =
        "https://learn.microsoft.com/en-us/partner-center/gdap-bulk-migration-tool-faq";
    pub const GDAP_MLT: &str =
        "https://learn.microsoft.com/en-us/partner-center/gdap-microsoft-led-transition";
    pub const GDAP_CUSTOMER_TERMINATE: &str =
        "https://learn.microsoft.com/en-us/partner-center/customers/gdap-customer-terminate";
    pub const DAP_FAQ: &str = "https://learn.microsoft.com/en-us/partner-center/dap-faq";
    pub const DAP_INACTIVE_CUSTOMERS: &str =
        "https://learn.microsoft.com/en-us/partner-center/develop/list-delegated-admin-customers";
    pub const GRAPH_RELATIONSHIP: &str =
        "https://learn.microsoft.com/en-us/graph/api/resources/delegatedadminrelationship";
    pub const GRAPH_RESELLER_RELATIONSHIP: &str =
        "https://learn.microsoft.com/en-us/graph/api/resources/resellerdelegatedadminrelationship";
    pub const GRAPH_ACCESS_ASSIGNMENT: &str =
        "https://learn.microsoft.com/en-us/graph/api/resources/delegatedadminaccessassignment";
    pub const GRAPH_XTAP_PARTNER: &str = "https://learn.microsoft.com/en-us/graph/api/resources/crosstenantaccesspolicyconfigurationpartner";
    pub const GRAPH_CA_EXTERNAL_USERS: &str = "https://learn.microsoft.com/en-us/graph/api/resources/conditionalaccessguestsorexternalusers";
    pub const ENTRA_SIGNINS: &str = "https://learn.microsoft.com/en-us/entra/identity/monitoring-health/concept-interactive-sign-ins";
    pub const ENTRA_AUDIT_ACTIVITIES: &str = "https://learn.microsoft.com/en-us/entra/identity/monitoring-health/reference-audit-activities";
}

/// What every rule declares once.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case id: the contract for suppressions, overrides, JSON output and tickets.
    pub id: &'static str,
    pub title: &'static str,
    pub default_severity: Severity,
    /// The sides the rule runs on.
    pub perspectives: &'static [Perspective],
    /// When it fires, in a sentence or two (severity variations included).
    pub fires_when: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    pub remediation: &'static str,
    /// Sources the rule cannot run without, on the side each belongs to (`Source::perspective`): when
    /// one is not collected, that side of the rule produces nothing and is listed as not evaluated.
    pub sources: &'static [Source],
    /// Sources used when collected: without them the rule still runs on the rest (that part of it is
    /// listed as not evaluated under the source's coverage entry).
    pub optional_sources: &'static [Source],
    /// Configuration keys the rule reads.
    pub config_keys: &'static [&'static str],
    pub references: &'static [&'static str],
    /// Produced by the evaluator's suppression pass rather than by `Rule::check`.
    pub from_evaluator: bool,
}

/// A rule's remark about its own coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Some subjects (or the whole rule) could not be judged; the reason, in a sentence.
    NotEvaluated(String),
    /// Something the reader should know (partial evidence, ignored configuration).
    Warning(String),
}

/// A rule: static metadata and a pure check.
pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;

    /// Whether the rule concerns this kind of run at all. A rule that does not apply is neither
    /// evaluated nor listed as not evaluated (the fleet cross-check outside a fleet run).
    fn applies(&self, _snap: &Snapshot) -> bool {
        true
    }

    /// Why the whole rule cannot run with this configuration (e.g. the allowlist it compares against is
    /// not configured). Called before `check`; `Some` means not evaluated.
    fn skip_reason(&self, _snap: &Snapshot, _ctx: &Ctx) -> Option<String> {
        None
    }

    /// The findings, on the sides in `ctx.sides`. Pure: no I/O, no clock.
    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding>;

    /// Subjects the rule could not judge, and other remarks about its coverage.
    fn notes(&self, _snap: &Snapshot, _ctx: &Ctx) -> Vec<Note> {
        Vec::new()
    }
}

fn side_label(p: &[Perspective]) -> String {
    p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

fn sources_label(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| format!("{} ({})", s.as_str(), s.perspective().as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl RuleMeta {
    /// The full text of `gdap-audit rules explain ID`.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.id, self.title);
        let _ = writeln!(out);
        let _ = writeln!(out, "Severity:      {}", self.default_severity);
        let _ = writeln!(out, "Perspectives:  {}", side_label(self.perspectives));
        if self.from_evaluator {
            let _ = writeln!(
                out,
                "Sources:       none (raised by the evaluator's suppression pass)"
            );
        } else {
            let needs = if self.sources.is_empty() {
                "none".to_owned()
            } else {
                sources_label(self.sources)
            };
            let _ = writeln!(out, "Sources:       {needs}");
            if !self.optional_sources.is_empty() {
                let _ = writeln!(
                    out,
                    "Also uses:     {}",
                    sources_label(self.optional_sources)
                );
            }
        }
        if !self.config_keys.is_empty() {
            let _ = writeln!(out, "Config keys:   {}", self.config_keys.join(", "));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Fires when");
        let _ = writeln!(out, "  {}", self.fires_when);
        let _ = writeln!(out);
        let _ = writeln!(out, "Why it matters");
        let _ = writeln!(out, "  {}", self.rationale);
        let _ = writeln!(out);
        let _ = writeln!(out, "Remediation");
        let _ = writeln!(out, "  {}", self.remediation);
        let _ = writeln!(out);
        let _ = writeln!(out, "References");
        for r in self.references {
            let _ = writeln!(out, "  - {r}");
        }
        let _ = writeln!(
            out,
            "\nTurn it off with `[rules.{id}] enabled = false`, change its severity with `[rules.{id}] severity = \"low\"`.",
            id = self.id
        );
        out
    }

    fn markdown_section(&self, out: &mut String) {
        let _ = writeln!(out, "### `{}`\n", self.id);
        let _ = writeln!(out, "**{}**\n", self.title);
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| Severity | {} |", self.default_severity);
        let _ = writeln!(out, "| Perspectives | {} |", side_label(self.perspectives));
        if self.from_evaluator {
            let _ = writeln!(
                out,
                "| Sources | none (raised by the evaluator's suppression pass) |"
            );
        } else {
            let list = |s: &[Source]| {
                if s.is_empty() {
                    "none".to_owned()
                } else {
                    s.iter()
                        .map(|s| format!("`{}` ({})", s.as_str(), s.perspective().as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let _ = writeln!(out, "| Sources | {} |", list(self.sources));
            if !self.optional_sources.is_empty() {
                let _ = writeln!(out, "| Also uses | {} |", list(self.optional_sources));
            }
        }
        if !self.config_keys.is_empty() {
            let keys: Vec<String> = self.config_keys.iter().map(|k| format!("`{k}`")).collect();
            let _ = writeln!(out, "| Config keys | {} |", keys.join(", "));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "**Fires when.** {}\n", self.fires_when);
        let _ = writeln!(out, "**Why it matters.** {}\n", self.rationale);
        let _ = writeln!(out, "**Remediation.** {}\n", self.remediation);
        let _ = writeln!(out, "**References.**\n");
        for r in self.references {
            let _ = writeln!(out, "- <{r}>");
        }
        let _ = writeln!(out);
    }
}

/// `docs/rules.md`, generated from the metadata (a test keeps the committed file in sync).
pub fn rules_markdown() -> String {
    let mut out = String::new();
    out.push_str("# gdap-audit rules\n\n");
    out.push_str(
        "<!-- Generated from the rule metadata in src/rules/ by `rules_markdown()`. Do not edit by hand: \
         run `UPDATE_DOCS=1 cargo test --test it rules` to regenerate. -->\n\n",
    );
    out.push_str(
        "Rule ids are stable: they are the contract for suppressions (`[[suppressions]] rule = ...`), \
         severity overrides (`[rules.<id>] severity = ...`), JSON output and ticket de-duplication. \
         \"partner\" rules read the MSP's own tenant (`/tenantRelationships`); \"customer\" rules read the \
         audited customer tenant. A rule whose sources could not be read is reported as *not evaluated* \
         under that source's coverage entry, never as clean. `gdap-audit rules explain ID` prints the same \
         text for one rule.\n\n",
    );
    out.push_str("| id | severity | perspectives | title |\n|---|---|---|---|\n");
    for m in super::all_rules() {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            m.id,
            m.id,
            m.default_severity,
            side_label(m.perspectives),
            m.title
        );
    }
    out.push('\n');
    let families: [(&str, &[&'static RuleMeta]); 7] = [
        ("Over-privileged", super::over_privileged::METAS),
        ("Stale", super::stale::METAS),
        ("Newly offered or changed", super::changes::METAS),
        (
            "Partner access controls (customer side)",
            super::access_controls::METAS,
        ),
        (
            "Azure (Lighthouse delegations and foreign principals)",
            super::azure::METAS,
        ),
        ("Fleet cross-check (gdap-audit fleet)", super::fleet::METAS),
        ("Audit hygiene", super::hygiene::METAS),
    ];
    for (name, metas) in families {
        let _ = writeln!(out, "## {name}\n");
        for m in metas {
            m.markdown_section(&mut out);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
