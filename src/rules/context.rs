//! What rules see besides the snapshot: the clock, the configuration and a read-only view of history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A relationship as the previous run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRelationship {
    pub status: String,
    /// Role template ids, lower-case, sorted.
    pub roles: Vec<String>,
    pub end: Option<DateTime<Utc>>,
}

/// A partner (customer perspective) as the previous run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousPartner {
    pub name: Option<String>,
    /// Roles allowed by constraints or held through role assignments, lower-case, sorted.
    pub roles: Vec<String>,
    /// A cross-tenant access partner entry with `isServiceProvider: true` (false for a tenant known only
    /// through role assignments of its principals).
    pub is_service_provider: bool,
    /// Whether `roles` is the full set: that run read this partner's allowed roles (when a service
    /// provider) and the directory role assignments. When false, a role missing from `roles` may simply not
    /// have been read, so "roles added" cannot be told.
    pub roles_complete: bool,
}

/// An Azure Lighthouse delegation as the previous run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousDelegation {
    /// The other tenant (managing tenant on the customer side, customer on the partner side).
    pub tenant_id: String,
    /// Role definition ids, `eligible:<id>` for eligible ones, lower-case, sorted.
    pub roles: Vec<String>,
}

/// The previous run of the same tenant and perspective.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRun {
    pub at: DateTime<Utc>,
    /// Keyed by relationship id (partner perspective).
    pub relationships: BTreeMap<String, PreviousRelationship>,
    /// Keyed by partner tenant id, lower-case (customer perspective).
    pub partners: BTreeMap<String, PreviousPartner>,
    /// Whether that run could read relationships / partners at all (a failed source is not "absent").
    pub relationships_collected: bool,
    pub partners_collected: bool,
    /// Azure Lighthouse delegations, keyed by registration assignment id (lower-case), and whether that
    /// run read them.
    #[serde(default)]
    pub delegations: BTreeMap<String, PreviousDelegation>,
    #[serde(default)]
    pub delegations_collected: bool,
}

/// Read-only history for one tenant. `HistoryView::default()` is a first run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// A history store is in use: a finding it has never seen is first seen now.
    #[serde(default)]
    pub tracked: bool,
    pub previous: Option<PreviousRun>,
    /// First time each finding fingerprint was seen.
    pub first_seen: BTreeMap<String, DateTime<Utc>>,
    /// Last successful partner sign-in seen in any run, per partner tenant id (lower-case).
    pub last_partner_activity: BTreeMap<String, DateTime<Utc>>,
    /// Since when sign-ins have been read without a gap (earliest window start of an unbroken chain of
    /// runs with sign-ins collected). `None` without history.
    pub evidence_since: Option<DateTime<Utc>>,
    /// The end of that chain (the newest window end). The current run's log window extends the evidence only
    /// when it starts at or before this instant; otherwise there is a gap and only the current window counts.
    pub evidence_until: Option<DateTime<Utc>>,
}

impl HistoryView {
    pub fn is_first_run(&self) -> bool {
        self.previous.is_none()
    }
}

/// Which perspectives a rule runs on in this evaluation (the evaluator sets it per rule: a side runs
/// when its data is present and the sources the rule needs on that side were collected).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sides {
    pub partner: bool,
    pub customer: bool,
}

impl Sides {
    pub const BOTH: Sides = Sides {
        partner: true,
        customer: true,
    };

    pub fn has(self, p: crate::snapshot::Perspective) -> bool {
        match p {
            crate::snapshot::Perspective::Partner => self.partner,
            crate::snapshot::Perspective::Customer => self.customer,
        }
    }

    pub fn with(mut self, p: crate::snapshot::Perspective) -> Sides {
        match p {
            crate::snapshot::Perspective::Partner => self.partner = true,
            crate::snapshot::Perspective::Customer => self.customer = true,
        }
        self
    }

    pub fn is_empty(self) -> bool {
        !self.partner && !self.customer
    }

    /// The sides whose data the snapshot holds.
    pub fn present_in(snap: &crate::snapshot::Snapshot) -> Sides {
        use crate::snapshot::Perspective;
        Sides {
            partner: snap.perspectives.contains(&Perspective::Partner) && snap.partner.is_some(),
            customer: snap.perspectives.contains(&Perspective::Customer) && snap.customer.is_some(),
        }
    }
}

/// Everything a rule may read besides the snapshot. Rules never read the clock: `now` is injected.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The evaluation clock (`--as-of`).
    pub now: DateTime<Utc>,
    pub config: &'a super::settings::Config,
    pub history: &'a HistoryView,
    /// Role names and the privileged flag: the snapshot's role definitions, then the built-in table.
    pub roles: crate::model::roles::RoleCatalog,
    /// The perspectives this rule runs on.
    pub sides: Sides,
}

impl<'a> Ctx<'a> {
    /// A context for `snap`, with every side whose data is present.
    pub fn new(
        snap: &crate::snapshot::Snapshot,
        config: &'a super::settings::Config,
        history: &'a HistoryView,
        now: DateTime<Utc>,
    ) -> Ctx<'a> {
        let mut defs = Vec::new();
        if let Some(p) = &snap.partner {
            defs.extend(p.role_definitions.iter().cloned());
        }
        if let Some(c) = &snap.customer {
            defs.extend(c.role_definitions.iter().cloned());
        }
        Ctx {
            now,
            config,
            history,
            roles: crate::model::roles::RoleCatalog::new(&defs),
            sides: Sides::present_in(snap),
        }
    }

    /// The same context restricted to `sides`.
    pub fn with_sides(&self, sides: Sides) -> Ctx<'a> {
        Ctx {
            sides,
            ..self.clone()
        }
    }

    /// Partner-perspective data, when this rule runs on that side.
    pub fn partner<'s>(
        &self,
        snap: &'s crate::snapshot::Snapshot,
    ) -> Option<&'s crate::snapshot::PartnerData> {
        if self.sides.partner {
            snap.partner.as_ref()
        } else {
            None
        }
    }

    /// Customer-perspective data, when this rule runs on that side.
    pub fn customer<'s>(
        &self,
        snap: &'s crate::snapshot::Snapshot,
    ) -> Option<&'s crate::snapshot::CustomerData> {
        if self.sides.customer {
            snap.customer.as_ref()
        } else {
            None
        }
    }
}
