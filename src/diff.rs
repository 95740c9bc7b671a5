//! What changed between two audits of the same tenant: relationships (partner perspective) and partners
//! (customer perspective) added, removed or changed. Pure: no SQLite, no clock, no network.
//!
//! An [`Inventory`] is the comparable part of one audit. It is built from a [`Snapshot`] with
//! [`Inventory::from_snapshot`], or read back from the history for a recorded run
//! (`HistoryStore::inventory`). [`diff`] compares two of them; `report::diff` prints the result. The JSON field names are a contract (docs/history.md).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::roles::RoleCatalog;
use crate::model::tenant_id;
use crate::rules::Finding;
use crate::snapshot::{Perspective, Snapshot, Source};

// Rendering lives with the other renderers (one table setup, one escaper).

/// Version of the JSON document `report::diff::render_json` writes; bumped on any incompatible change.
pub const DIFF_JSON_VERSION: &str = "1";

/// A relationship as one audit saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipState {
    pub name: String,
    pub customer_tenant_id: Option<String>,
    pub customer_name: Option<String>,
    /// Graph's status string (`active`, `approvalPending`, ... or an unknown member as read).
    pub status: String,
    /// Role template ids, lower-case, sorted, deduplicated.
    pub roles: Vec<String>,
    pub end: Option<DateTime<Utc>>,
}

/// A partner tenant (customer perspective) as one audit saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerState {
    pub name: Option<String>,
    /// Listed in cross-tenant access settings with `isServiceProvider: true`. `false` also for a tenant
    /// known only through role assignments of its principals (no partner entry at all).
    pub is_service_provider: bool,
    /// `serviceProviderConstraints.allowedRoleTemplateIds`, lower-case, sorted; `None` when not read.
    pub allowed_roles: Option<Vec<String>>,
    /// Directory roles held by principals of that tenant, lower-case, sorted.
    pub assigned_roles: Vec<String>,
}

impl PartnerState {
    /// Allowed and assigned roles together, lower-case, sorted, deduplicated.
    pub fn all_roles(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .allowed_roles
            .iter()
            .flatten()
            .chain(self.assigned_roles.iter())
            .collect();
        set.into_iter().cloned().collect()
    }
}

/// The comparable part of one audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The audited tenant (normalised, [`crate::model::tenant_id::normalise`]).
    pub tenant_id: String,
    pub as_of: Option<DateTime<Utc>>,
    /// Whether relationships / partners were read in full: a source that failed is not "everything removed".
    pub relationships_collected: bool,
    pub partners_collected: bool,
    /// Keyed by relationship id.
    pub relationships: BTreeMap<String, RelationshipState>,
    /// Keyed by partner tenant id (normalised).
    pub partners: BTreeMap<String, PartnerState>,
    /// Whether Azure Lighthouse delegations were read (every audited side's Azure source collected).
    #[serde(default)]
    pub delegations_collected: bool,
    /// Azure Lighthouse delegations, keyed by registration assignment id, lower-case.
    #[serde(default)]
    pub delegations: BTreeMap<String, DelegationState>,
}

/// An Azure Lighthouse delegation as one audit saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationState {
    /// The other tenant: the managing tenant (customer side) or the customer tenant (partner side),
    /// normalised.
    pub tenant_id: String,
    pub name: Option<String>,
    /// Role definition ids (GUIDs, lower-case) of the permanent authorizations, and `eligible:<id>` for
    /// the eligible ones; sorted.
    pub roles: Vec<String>,
}

impl DelegationState {
    /// The roles of a registration assignment, as [`DelegationState::roles`] lists them.
    pub fn roles_of(a: &crate::model::azure::RegistrationAssignment) -> Vec<String> {
        let guid = |id: &str| {
            id.rsplit('/')
                .next()
                .unwrap_or(id)
                .trim()
                .to_ascii_lowercase()
        };
        let set: BTreeSet<String> = a
            .definition()
            .map(|d| {
                d.authorizations
                    .iter()
                    .map(|x| guid(&x.role_definition_id))
                    .chain(
                        d.eligible_authorizations
                            .iter()
                            .map(|x| format!("eligible:{}", guid(&x.role_definition_id))),
                    )
                    .collect()
            })
            .unwrap_or_default();
        set.into_iter().collect()
    }
}

/// Sorted, deduplicated, lower-case copies.
pub(crate) fn normalize_roles<'a>(roles: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let set: BTreeSet<String> = roles
        .into_iter()
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    set.into_iter().collect()
}

impl Inventory {
    /// The comparable part of `snapshot`. What the history keeps must not depend on how a snapshot was
    /// made: tenant ids are normalised here again (a decoded snapshot's already are; one built in code,
    /// by a library caller or a test, may not be), so the keys match across runs and versions.
    pub fn from_snapshot(snapshot: &Snapshot) -> Inventory {
        let mut inv = Inventory {
            tenant_id: tenant_id::normalise(&snapshot.tenant_id),
            as_of: Some(snapshot.as_of),
            relationships_collected: snapshot.perspectives.contains(&Perspective::Partner)
                && snapshot.has(Source::GdapRelationships),
            partners_collected: snapshot.perspectives.contains(&Perspective::Customer)
                && snapshot.has(Source::XtapPartners),
            ..Inventory::default()
        };
        if let Some(p) = &snapshot.partner {
            for rec in &p.relationships {
                let r = &rec.relationship;
                inv.relationships.insert(
                    r.id.clone(),
                    RelationshipState {
                        name: r.display_name.clone(),
                        customer_tenant_id: r.customer_tenant_id().map(tenant_id::normalise),
                        customer_name: r.customer_name().map(str::to_owned),
                        status: r.status.as_str().to_owned(),
                        roles: r.access_details.role_ids(),
                        end: r.end_date_time,
                    },
                );
            }
        }
        if let Some(c) = &snapshot.customer {
            for p in &c.partners {
                let key = tenant_id::normalise(&p.tenant_id);
                if key.is_empty() {
                    continue;
                }
                let entry = inv.partners.entry(key).or_default();
                entry.name = p
                    .display_name
                    .clone()
                    .or_else(|| p.default_domain_name.clone())
                    .or(entry.name.take());
                entry.is_service_provider |= p.is_service_provider;
                if let Some(allowed) = &p.allowed_roles {
                    let mut all = entry.allowed_roles.take().unwrap_or_default();
                    all.extend(allowed.iter().cloned());
                    entry.allowed_roles = Some(normalize_roles(&all));
                }
            }
            let mut assigned: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for a in &c.foreign_role_assignments {
                let home = tenant_id::normalise(&a.home_tenant_id);
                if home.is_empty() || home == inv.tenant_id {
                    continue;
                }
                assigned.entry(home).or_default().push(a.role_id.clone());
            }
            for (tenant, roles) in assigned {
                inv.partners.entry(tenant).or_default().assigned_roles = normalize_roles(&roles);
            }
        }
        inv.add_delegations(snapshot);
        inv
    }

    /// Azure Lighthouse delegations of both sides: read only when every audited side's Azure source
    /// was collected (a failed read is not "every delegation removed").
    fn add_delegations(&mut self, snapshot: &Snapshot) {
        let customer = snapshot.customer.as_ref().and_then(|c| c.azure.as_ref());
        let partner = snapshot.partner.as_ref().and_then(|p| p.azure.as_ref());
        let customer_read = customer.is_some() && snapshot.has(Source::AzureLighthouse);
        let partner_read = partner.is_some() && snapshot.has(Source::AzureDelegatedSubscriptions);
        let sides_read = [
            (customer.is_some(), customer_read),
            (partner.is_some(), partner_read),
        ];
        self.delegations_collected = sides_read.iter().any(|(present, _)| *present)
            && sides_read.iter().all(|(present, read)| !present || *read);
        let sides = [
            (customer, Perspective::Customer),
            (partner, Perspective::Partner),
        ];
        for (azure, side) in sides {
            for rec in azure.iter().flat_map(|a| &a.subscriptions) {
                for a in rec.delegations.iter().flatten() {
                    let (tenant, name) = rec.counterpart(a, side);
                    self.delegations.insert(
                        a.id.trim().to_ascii_lowercase(),
                        DelegationState {
                            tenant_id: tenant_id::normalise(&tenant),
                            name,
                            roles: DelegationState::roles_of(a),
                        },
                    );
                }
            }
        }
    }
}

/// A role in the output: template id and display name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

/// A value that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// One side of the comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSide {
    pub tenant_id: String,
    pub as_of: Option<DateTime<Utc>>,
    /// Where it came from: a snapshot path or `run N`; set by the caller.
    pub label: Option<String>,
}

/// A relationship present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipEntry {
    pub id: String,
    pub name: String,
    pub customer_tenant_id: Option<String>,
    pub customer_name: Option<String>,
    pub status: String,
    pub roles: Vec<RoleRef>,
    pub end: Option<DateTime<Utc>>,
}

/// A relationship present on both sides whose roles, status, end date or name differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipChange {
    pub id: String,
    /// The newer name.
    pub name: String,
    pub customer_tenant_id: Option<String>,
    pub customer_name: Option<String>,
    pub roles_added: Vec<RoleRef>,
    pub roles_removed: Vec<RoleRef>,
    pub status: Option<Change<String>>,
    pub end: Option<Change<Option<DateTime<Utc>>>>,
    pub display_name: Option<Change<String>>,
}

/// A partner present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerEntry {
    pub tenant_id: String,
    pub name: Option<String>,
    pub is_service_provider: bool,
    /// `null` when the constraints could not be read.
    pub allowed_roles: Option<Vec<RoleRef>>,
    pub assigned_roles: Vec<RoleRef>,
}

/// A partner present on both sides whose roles or service-provider flag differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerChange {
    pub tenant_id: String,
    pub name: Option<String>,
    /// Empty when either side could not read the constraints (see `notes`).
    pub allowed_roles_added: Vec<RoleRef>,
    pub allowed_roles_removed: Vec<RoleRef>,
    pub assigned_roles_added: Vec<RoleRef>,
    pub assigned_roles_removed: Vec<RoleRef>,
    pub is_service_provider: Option<Change<bool>>,
}

/// A finding present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEntry {
    pub fingerprint: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub subject_name: Option<String>,
}

impl From<&Finding> for FindingEntry {
    fn from(f: &Finding) -> Self {
        FindingEntry {
            fingerprint: f.fingerprint.clone(),
            rule_id: f.rule_id.clone(),
            severity: f.severity.as_str().to_owned(),
            title: f.title.to_string(),
            subject_kind: f.subject.kind.as_str().to_owned(),
            subject_id: f.subject.id.clone(),
            subject_name: f.subject.display_name.clone(),
        }
    }
}

/// Everything that changed from `old` to `new`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub old: DiffSide,
    pub new: DiffSide,
    pub relationships_added: Vec<RelationshipEntry>,
    pub relationships_removed: Vec<RelationshipEntry>,
    pub relationships_changed: Vec<RelationshipChange>,
    pub partners_added: Vec<PartnerEntry>,
    pub partners_removed: Vec<PartnerEntry>,
    pub partners_changed: Vec<PartnerChange>,
    /// Findings on the new side only (by fingerprint), in the report's order. Empty when the findings
    /// were not compared.
    #[serde(default)]
    pub findings_appeared: Vec<FindingEntry>,
    /// Findings on the old side only.
    #[serde(default)]
    pub findings_disappeared: Vec<FindingEntry>,
    /// What could not be compared and why (a source read on one side only, different tenants).
    pub notes: Vec<String>,
}

impl Diff {
    /// No change at all (notes aside).
    pub fn is_empty(&self) -> bool {
        self.relationships_added.is_empty()
            && self.relationships_removed.is_empty()
            && self.relationships_changed.is_empty()
            && self.partners_added.is_empty()
            && self.partners_removed.is_empty()
            && self.partners_changed.is_empty()
            && self.findings_appeared.is_empty()
            && self.findings_disappeared.is_empty()
    }

    pub fn change_count(&self) -> usize {
        self.relationships_added.len()
            + self.relationships_removed.len()
            + self.relationships_changed.len()
            + self.partners_added.len()
            + self.partners_removed.len()
            + self.partners_changed.len()
            + self.findings_appeared.len()
            + self.findings_disappeared.len()
    }

    /// Compare the findings of the two sides (by fingerprint): what appeared and what disappeared.
    pub fn with_findings(mut self, old: &[Finding], new: &[Finding]) -> Diff {
        let old_set: BTreeSet<&str> = old.iter().map(|f| f.fingerprint.as_str()).collect();
        let new_set: BTreeSet<&str> = new.iter().map(|f| f.fingerprint.as_str()).collect();
        let only = |side: &[Finding], other: &BTreeSet<&str>| -> Vec<FindingEntry> {
            let mut seen = BTreeSet::new();
            side.iter()
                .filter(|f| !other.contains(f.fingerprint.as_str()))
                .filter(|f| seen.insert(f.fingerprint.clone()))
                .map(FindingEntry::from)
                .collect()
        };
        self.findings_appeared = only(new, &old_set);
        self.findings_disappeared = only(old, &new_set);
        self
    }
}

fn role_refs(catalog: &RoleCatalog, ids: &[String]) -> Vec<RoleRef> {
    ids.iter()
        .map(|id| RoleRef {
            id: id.clone(),
            name: catalog.name(id),
        })
        .collect()
}

/// `(added, removed)` going from `old` to `new`.
fn set_delta(
    catalog: &RoleCatalog,
    old: &[String],
    new: &[String],
) -> (Vec<RoleRef>, Vec<RoleRef>) {
    let o: BTreeSet<&String> = old.iter().collect();
    let n: BTreeSet<&String> = new.iter().collect();
    let added: Vec<String> = n.difference(&o).map(|s| (*s).clone()).collect();
    let removed: Vec<String> = o.difference(&n).map(|s| (*s).clone()).collect();
    (role_refs(catalog, &added), role_refs(catalog, &removed))
}

fn relationship_entry(catalog: &RoleCatalog, id: &str, r: &RelationshipState) -> RelationshipEntry {
    RelationshipEntry {
        id: id.to_owned(),
        name: r.name.clone(),
        customer_tenant_id: r.customer_tenant_id.clone(),
        customer_name: r.customer_name.clone(),
        status: r.status.clone(),
        roles: role_refs(catalog, &r.roles),
        end: r.end,
    }
}

fn partner_entry(catalog: &RoleCatalog, tenant: &str, p: &PartnerState) -> PartnerEntry {
    PartnerEntry {
        tenant_id: tenant.to_owned(),
        name: p.name.clone(),
        is_service_provider: p.is_service_provider,
        allowed_roles: p.allowed_roles.as_deref().map(|r| role_refs(catalog, r)),
        assigned_roles: role_refs(catalog, &p.assigned_roles),
    }
}

fn side(inv: &Inventory) -> DiffSide {
    DiffSide {
        tenant_id: inv.tenant_id.clone(),
        as_of: inv.as_of,
        label: None,
    }
}

/// Compare two inventories. Relationships are compared only when both sides read them, partners likewise;
/// when only one side did, a note says so instead of reporting everything as added or removed.
pub fn diff(old: &Inventory, new: &Inventory) -> Diff {
    let catalog = RoleCatalog::default();
    let mut d = Diff {
        old: side(old),
        new: side(new),
        ..Diff::default()
    };
    if !old.tenant_id.is_empty() && !new.tenant_id.is_empty() && old.tenant_id != new.tenant_id {
        d.notes.push(format!(
            "the two audits are of different tenants ({} and {}): everything differs",
            old.tenant_id, new.tenant_id
        ));
    }

    match (old.relationships_collected, new.relationships_collected) {
        (true, true) => diff_relationships(&catalog, old, new, &mut d),
        (true, false) => d
            .notes
            .push("relationships were not read in the newer audit: not compared".into()),
        (false, true) => d
            .notes
            .push("relationships were not read in the older audit: not compared".into()),
        (false, false) => {}
    }
    match (old.partners_collected, new.partners_collected) {
        (true, true) => diff_partners(&catalog, old, new, &mut d),
        (true, false) => d
            .notes
            .push("partners were not read in the newer audit: not compared".into()),
        (false, true) => d
            .notes
            .push("partners were not read in the older audit: not compared".into()),
        (false, false) => {}
    }
    d
}

fn diff_relationships(catalog: &RoleCatalog, old: &Inventory, new: &Inventory, d: &mut Diff) {
    for (id, n) in &new.relationships {
        match old.relationships.get(id) {
            None => d
                .relationships_added
                .push(relationship_entry(catalog, id, n)),
            Some(o) => {
                let (roles_added, roles_removed) = set_delta(catalog, &o.roles, &n.roles);
                let change = RelationshipChange {
                    id: id.clone(),
                    name: n.name.clone(),
                    customer_tenant_id: n
                        .customer_tenant_id
                        .clone()
                        .or_else(|| o.customer_tenant_id.clone()),
                    customer_name: n.customer_name.clone().or_else(|| o.customer_name.clone()),
                    roles_added,
                    roles_removed,
                    status: (o.status != n.status).then(|| Change {
                        from: o.status.clone(),
                        to: n.status.clone(),
                    }),
                    end: (o.end != n.end).then_some(Change {
                        from: o.end,
                        to: n.end,
                    }),
                    display_name: (o.name != n.name).then(|| Change {
                        from: o.name.clone(),
                        to: n.name.clone(),
                    }),
                };
                let changed = !change.roles_added.is_empty()
                    || !change.roles_removed.is_empty()
                    || change.status.is_some()
                    || change.end.is_some()
                    || change.display_name.is_some();
                if changed {
                    d.relationships_changed.push(change);
                }
            }
        }
    }
    for (id, o) in &old.relationships {
        if !new.relationships.contains_key(id) {
            d.relationships_removed
                .push(relationship_entry(catalog, id, o));
        }
    }
}

fn diff_partners(catalog: &RoleCatalog, old: &Inventory, new: &Inventory, d: &mut Diff) {
    let mut constraints_unknown = false;
    for (tenant, n) in &new.partners {
        match old.partners.get(tenant) {
            None => d.partners_added.push(partner_entry(catalog, tenant, n)),
            Some(o) => {
                let (allowed_added, allowed_removed) = match (&o.allowed_roles, &n.allowed_roles) {
                    (Some(a), Some(b)) => set_delta(catalog, a, b),
                    (None, None) => (Vec::new(), Vec::new()),
                    _ => {
                        constraints_unknown = true;
                        (Vec::new(), Vec::new())
                    }
                };
                let (assigned_added, assigned_removed) =
                    set_delta(catalog, &o.assigned_roles, &n.assigned_roles);
                let change = PartnerChange {
                    tenant_id: tenant.clone(),
                    name: n.name.clone().or_else(|| o.name.clone()),
                    allowed_roles_added: allowed_added,
                    allowed_roles_removed: allowed_removed,
                    assigned_roles_added: assigned_added,
                    assigned_roles_removed: assigned_removed,
                    is_service_provider: (o.is_service_provider != n.is_service_provider)
                        .then_some(Change {
                            from: o.is_service_provider,
                            to: n.is_service_provider,
                        }),
                };
                let changed = !change.allowed_roles_added.is_empty()
                    || !change.allowed_roles_removed.is_empty()
                    || !change.assigned_roles_added.is_empty()
                    || !change.assigned_roles_removed.is_empty()
                    || change.is_service_provider.is_some();
                if changed {
                    d.partners_changed.push(change);
                }
            }
        }
    }
    for (tenant, o) in &old.partners {
        if !new.partners.contains_key(tenant) {
            d.partners_removed.push(partner_entry(catalog, tenant, o));
        }
    }
    if constraints_unknown {
        d.notes.push(
            "the allowed roles (service-provider constraints) of some partners were read on one side only: not compared"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::one_line;

    const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
    const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

    fn rel(status: &str, roles: &[&str]) -> RelationshipState {
        RelationshipState {
            name: "Contoso support".into(),
            customer_tenant_id: Some("c1".into()),
            customer_name: Some("Contoso".into()),
            status: status.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            end: None,
        }
    }

    fn inv(rels: Vec<(&str, RelationshipState)>) -> Inventory {
        Inventory {
            tenant_id: "t".into(),
            relationships_collected: true,
            partners_collected: true,
            relationships: rels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..Inventory::default()
        }
    }

    #[test]
    fn diff_finds_role_and_status_changes() {
        let old = inv(vec![
            ("r1", rel("active", &[HELPDESK])),
            ("r2", rel("active", &[])),
        ]);
        let new = inv(vec![
            ("r1", rel("expiring", &[HELPDESK, GA])),
            ("r3", rel("approvalPending", &[GA])),
        ]);
        let d = diff(&old, &new);
        assert_eq!(d.relationships_added.len(), 1);
        assert_eq!(d.relationships_removed[0].id, "r2");
        let c = &d.relationships_changed[0];
        assert_eq!(
            c.roles_added,
            vec![RoleRef {
                id: GA.into(),
                name: "Global Administrator".into()
            }]
        );
        assert_eq!(
            c.status,
            Some(Change {
                from: "active".into(),
                to: "expiring".into()
            })
        );
        assert!(d.notes.is_empty());
        assert_eq!(d.change_count(), 3);
    }

    #[test]
    fn uncollected_side_is_a_note_not_a_removal() {
        let old = inv(vec![("r1", rel("active", &[]))]);
        let mut new = inv(vec![]);
        new.relationships_collected = false;
        let d = diff(&old, &new);
        assert!(d.is_empty());
        assert_eq!(d.notes.len(), 1);
    }

    #[test]
    fn clean_strips_terminal_tricks() {
        assert_eq!(one_line("a\u{1b}[31mb\nc\u{202e}d"), "a [31mb cd");
    }
}
