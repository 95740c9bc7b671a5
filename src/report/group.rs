//! Findings grouped the way a reader hands them over: by customer on the partner side (one section per
//! customer of the fleet), by partner on the customer side (one section per partner with access). Shared
//! by the HTML and markdown reports so both show the same sections in the same order.

use super::one_line;
use super::v1::{FindingV1, Perspective, ReportV1, Severity, SubjectKind};

/// What the groups are about: the partner side audits a fleet of customers, the customer side its
/// partners; a report with both perspectives has both kinds of group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupBy {
    Customer,
    Partner,
    Both,
}

impl GroupBy {
    pub(crate) fn of(report: &ReportV1) -> GroupBy {
        let partner = report.perspectives.contains(&Perspective::Partner);
        let customer = report.perspectives.contains(&Perspective::Customer);
        match (partner, customer) {
            (true, true) => GroupBy::Both,
            (true, false) => GroupBy::Customer,
            _ => GroupBy::Partner,
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            GroupBy::Customer => "customer",
            GroupBy::Partner => "partner",
            GroupBy::Both => "customer or partner",
        }
    }
}

/// Which side of a relationship a group's tenant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Customer,
    Partner,
}

/// One section: a customer or partner (or the tenant as a whole) and its findings, in report order.
pub(crate) struct Group<'a> {
    /// The tenant id, `None` for findings about no particular customer/partner.
    pub id: Option<String>,
    /// A display name (sanitised, one line), or the id, or "Tenant-wide".
    pub name: String,
    pub findings: Vec<&'a FindingV1>,
}

impl Group<'_> {
    /// The highest severity in the group.
    pub(crate) fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub(crate) fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// The groups, worst first (highest severity, then most findings, then name); findings without a
/// customer/partner last, as "Tenant-wide".
pub(crate) fn groups(report: &ReportV1) -> (GroupBy, Vec<Group<'_>>) {
    let by = GroupBy::of(report);
    let mut out: Vec<Group<'_>> = Vec::new();
    let mut loose: Vec<&FindingV1> = Vec::new();
    for f in &report.findings {
        let Some((side, id)) = key(report, f) else {
            loose.push(f);
            continue;
        };
        match out.iter_mut().find(|g| g.id.as_deref() == Some(id)) {
            Some(g) => {
                if g.name == one_line(id)
                    && let Some(n) = name(side, f)
                {
                    g.name = n;
                }
                g.findings.push(f);
            }
            None => out.push(Group {
                id: Some(id.to_owned()),
                name: name(side, f).unwrap_or_else(|| one_line(id)),
                findings: vec![f],
            }),
        }
    }
    out.sort_by(|a, b| {
        b.max_severity()
            .cmp(&a.max_severity())
            .then(b.findings.len().cmp(&a.findings.len()))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    if !loose.is_empty() {
        out.push(Group {
            id: None,
            name: "Tenant-wide".to_owned(),
            findings: loose,
        });
    }
    (by, out)
}

/// The other tenant a finding is about: its customer when that is not the audited tenant (partner
/// side), else its partner when that is not the audited tenant (customer side).
fn key<'a>(report: &ReportV1, f: &'a FindingV1) -> Option<(Side, &'a str)> {
    let other =
        |id: Option<&'a str>| id.filter(|id| !id.trim().is_empty() && *id != report.tenant_id);
    other(f.customer_tenant_id.as_deref())
        .map(|id| (Side::Customer, id))
        .or_else(|| other(f.partner_tenant_id.as_deref()).map(|id| (Side::Partner, id)))
}

/// The customer's or partner's display name from the evidence (or the subject when it is the partner).
fn name(side: Side, f: &FindingV1) -> Option<String> {
    let field = match side {
        Side::Customer => "customer_name",
        Side::Partner => "partner_name",
    };
    let evidence = f.evidence.get(field);
    let from_evidence = evidence.as_ref().and_then(|v| v.as_str());
    let from_subject = (side == Side::Partner && f.subject.kind == SubjectKind::Partner)
        .then_some(f.subject.display_name.as_deref())
        .flatten();
    from_evidence
        .or(from_subject)
        .map(one_line)
        .filter(|n| !n.trim().is_empty())
}
