//! Findings grouped the way a reader hands them over: by customer on the partner side (one section per
//! customer of the fleet), by partner on the customer side (one section per partner with access). Shared
//! by the HTML and markdown reports so both show the same sections in the same order.

use super::one_line;
use super::v1::{FindingV1, Perspective, ReportV1, Severity, SubjectKind};

/// What a group is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupBy {
    Customer,
    Partner,
}

impl GroupBy {
    /// The partner side audits a fleet of customers; otherwise the customer side's partners.
    pub(crate) fn of(report: &ReportV1) -> GroupBy {
        if report.perspectives.contains(&Perspective::Partner) {
            GroupBy::Customer
        } else {
            GroupBy::Partner
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            GroupBy::Customer => "customer",
            GroupBy::Partner => "partner",
        }
    }
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
        let Some(id) = key(report, by, f) else {
            loose.push(f);
            continue;
        };
        match out.iter_mut().find(|g| g.id.as_deref() == Some(id)) {
            Some(g) => {
                if g.name == one_line(id)
                    && let Some(n) = name(by, f)
                {
                    g.name = n;
                }
                g.findings.push(f);
            }
            None => out.push(Group {
                id: Some(id.to_owned()),
                name: name(by, f).unwrap_or_else(|| one_line(id)),
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

/// The customer or partner tenant a finding belongs to. On the customer side the audited tenant itself
/// is not a partner; on the partner side, the partner's own tenant is not a customer.
fn key<'a>(report: &ReportV1, by: GroupBy, f: &'a FindingV1) -> Option<&'a str> {
    let id = match by {
        GroupBy::Customer => f.customer_tenant_id.as_deref(),
        GroupBy::Partner => f.partner_tenant_id.as_deref(),
    }?;
    (!id.trim().is_empty() && id != report.tenant_id).then_some(id)
}

/// The customer's or partner's display name from the evidence (or the subject when it is the partner).
fn name(by: GroupBy, f: &FindingV1) -> Option<String> {
    let field = match by {
        GroupBy::Customer => "customer_name",
        GroupBy::Partner => "partner_name",
    };
    let from_evidence = f.evidence.get(field).and_then(|v| v.as_str());
    let from_subject = (by == GroupBy::Partner && f.subject.kind == SubjectKind::Partner)
        .then(|| f.subject.display_name.as_deref())
        .flatten();
    from_evidence
        .or(from_subject)
        .map(one_line)
        .filter(|n| !n.trim().is_empty())
}
