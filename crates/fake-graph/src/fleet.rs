//! A fleet: one partner (the demo's Northwind Managed Services) with an active GDAP relationship to each
//! of many customer tenants, each customer built from the demo customer's fixtures with its own ids, and
//! the first customers each showing one failure an MSP meets in a real fleet ([`CustomerCase`]).
//!
//! Both sides agree, as on a real GDAP relationship: the partner's relationship (and its access
//! assignment) grants [`FLEET_ROLES`] (least privilege: no role Microsoft marks privileged, both in
//! the demo configuration's approved set) to the partner's "GDAP - Service Desk L1" group; each
//! customer's service-provider constraints for the partner allow exactly those roles, and its
//! directory role assignments give them to the same group (as a `directoryObjectPartnerReference`).
//! Only a
//! [`CustomerCase::RoleMismatch`] customer disagrees. The demo customer's legacy-DAP Global
//! Administrator (A. Datum's AdminAgents) is left out so that only a
//! [`CustomerCase::ForeignGlobalAdmin`] customer has another partner holding Global Administrator.
//!
//! Everything is deterministic: the same [`FleetSpec`] gives the same tenants, ids and names.

use serde_json::{Value, json};

use super::{FakeApp, FakeGraphConfig, FakeTenant, TenantThrottle};

/// The partner tenant (the demo partner's id).
pub const PARTNER_TENANT: &str = "5c9b1e7a-913b-4929-bad8-c37a2dbcdfb5";
/// The multi-tenant app's client id and secret.
pub const FLEET_CLIENT_ID: &str = "f1ee7a99-0000-4000-8000-00000000f1ee";
pub const FLEET_SECRET: &str = "fleet-s3cret~Value.0123456789";
/// Role template ids of every partner-side relationship: Service Support Administrator, Directory
/// Readers.
pub const FLEET_ROLES: [&str; 2] = [SERVICE_SUPPORT_ADMINISTRATOR, DIRECTORY_READERS];
/// The role a [`CustomerCase::RoleMismatch`] customer grants the partner beyond the relationship:
/// Security Administrator.
pub const MISMATCH_ROLE: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
/// The other partner of a [`CustomerCase::ForeignGlobalAdmin`] customer (the demo's Fabrikam).
pub const FOREIGN_PARTNER_TENANT: &str = "849b3600-7205-4b9f-8fec-6204183c3079";
/// Global Administrator's role template id.
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
/// How many Graph requests a [`CustomerCase::ThrottlingHard`] customer answers with 429 first, and the
/// `Retry-After` it sends (seconds).
pub const HARD_THROTTLE_REQUESTS: u32 = 5;
pub const HARD_THROTTLE_RETRY_AFTER_SECS: u32 = 1;

const SERVICE_SUPPORT_ADMINISTRATOR: &str = "f023fd81-a637-4b56-95fd-791ac0226033";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
/// The partner's group holding [`FLEET_ROLES`] (it exists in the demo partner's directory).
const SERVICE_DESK_GROUP: (&str, &str) = (
    "3d81d6f5-e330-4066-891b-dc8441e49d98",
    "GDAP - Service Desk L1",
);
/// The other partner's group holding Global Administrator in a [`CustomerCase::ForeignGlobalAdmin`].
const FOREIGN_GA_GROUP: (&str, &str) = (
    "fab0a000-0000-4000-8000-0000000000a1",
    "Fabrikam Tier 3 Admins",
);
/// A. Datum's legacy-DAP AdminAgents (Global Administrator) in the demo customer: left out.
const LEGACY_ADMIN_AGENTS: &str = "7f717207-0e93-4ddf-95d7-47b6103aa88b";
const DEMO_CUSTOMER: &str = "d633cdca-b6b0-402c-829f-db278bdc2179";
const DEMO_CUSTOMER_NAME: &str = "Contoso Pharmaceuticals";
const NON_PREMIUM_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";
const NON_PREMIUM_MESSAGE: &str = "Neither tenant is B2C or tenant doesn't have premium license";

macro_rules! fixture {
    ($dir:literal, $name:literal) => {
        (
            $name,
            include_str!(concat!("../../../fixtures/demo/", $dir, "/", $name)),
        )
    };
}

const PARTNER_FILES: [(&str, &str); 5] = [
    fixture!("partner", "tenant.json"),
    fixture!("partner", "customers.json"),
    fixture!("partner", "directory.json"),
    fixture!("partner", "relationships.json"),
    fixture!("partner", "relationship-details.json"),
];
const CUSTOMER_FILES: [(&str, &str); 7] = [
    fixture!("customer", "tenant.json"),
    fixture!("customer", "apps.json"),
    fixture!("customer", "conditional-access.json"),
    fixture!("customer", "cross-tenant-access.json"),
    fixture!("customer", "directory-audits.json"),
    fixture!("customer", "directory.json"),
    fixture!("customer", "sign-ins.json"),
];

/// How big a fleet to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSpec {
    /// Number of customers; the [`CustomerCase`]s are given to the first six (in the enum's order),
    /// the rest are [`CustomerCase::Healthy`]. Fewer than six gets the first cases only.
    pub customers: usize,
}

/// What a customer tenant does to the fleet audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerCase {
    /// The app is consented, everything is readable.
    Healthy,
    /// The multi-tenant app has no service principal here: client credentials fail with AADSTS7000229,
    /// a refresh-token exchange with AADSTS65001.
    NotConsented,
    /// No Entra ID P1: sign-ins answer 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
    Unlicensed,
    /// Another partner (Fabrikam, a second GDAP relationship with its own service-provider constraints)
    /// holds Global Administrator here.
    ForeignGlobalAdmin,
    /// The first [`HARD_THROTTLE_REQUESTS`] Graph requests to this tenant answer 429 with `Retry-After`.
    ThrottlingHard,
    /// The customer side grants the partner [`MISMATCH_ROLE`], which the partner's relationship lacks.
    RoleMismatch,
}

impl CustomerCase {
    /// The cases given to the first customers, in order.
    pub const ASSIGNED: [CustomerCase; 6] = [
        CustomerCase::Healthy,
        CustomerCase::NotConsented,
        CustomerCase::Unlicensed,
        CustomerCase::ForeignGlobalAdmin,
        CustomerCase::ThrottlingHard,
        CustomerCase::RoleMismatch,
    ];
}

/// One customer of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCustomer {
    pub tenant_id: String,
    pub display_name: String,
    pub case: CustomerCase,
}

/// The partner, its customers and the app, ready for [`Fleet::into_config`].
#[derive(Debug, Clone)]
pub struct Fleet {
    /// GDAP relationships (active) to every customer, the customers list, contracts and Lighthouse roles.
    pub partner: FakeTenant,
    pub customers: Vec<(FleetCustomer, FakeTenant)>,
    /// The multi-tenant app (secret [`FLEET_SECRET`]); consented in every customer but the
    /// [`CustomerCase::NotConsented`] one.
    pub app: FakeApp,
}

impl Fleet {
    /// The fake's configuration: the partner first (it answers `organizations`), then the customers.
    pub fn into_config(self) -> FakeGraphConfig {
        let mut tenants = Vec::with_capacity(self.customers.len() + 1);
        tenants.push(self.partner);
        tenants.extend(self.customers.into_iter().map(|(_, t)| t));
        FakeGraphConfig::new(tenants, self.app)
    }

    /// The customer with this case, if the fleet is big enough to have one.
    pub fn customer(&self, case: CustomerCase) -> Option<&FleetCustomer> {
        self.customers
            .iter()
            .map(|(c, _)| c)
            .find(|c| c.case == case)
    }
}

/// `c0ffee00-0000-4000-8000-000000000001` for the first customer, and so on (sorts like the names).
pub fn customer_tenant_id(index: usize) -> String {
    format!("c0ffee00-0000-4000-8000-{:012}", index + 1)
}

/// Builds the fleet. Customers are named `Contoso 001`, `Contoso 002`, ... (zero-padded to at least
/// three digits and to the width of the largest number, so names sort like numbers).
pub fn fleet(spec: &FleetSpec) -> Fleet {
    let width = spec.customers.to_string().len().max(3);
    let customers: Vec<FleetCustomer> = (0..spec.customers)
        .map(|i| FleetCustomer {
            tenant_id: customer_tenant_id(i),
            display_name: format!("Contoso {:0width$}", i + 1),
            case: CustomerCase::ASSIGNED
                .get(i)
                .copied()
                .unwrap_or(CustomerCase::Healthy),
        })
        .collect();
    let partner = partner_tenant(&customers);
    let customers = customers
        .into_iter()
        .map(|c| {
            let tenant = customer_tenant(&c);
            (c, tenant)
        })
        .collect();
    Fleet {
        partner,
        customers,
        app: FakeApp::with_secret(FLEET_CLIENT_ID, FLEET_SECRET),
    }
}

fn role_name(id: &str) -> &'static str {
    match id {
        SERVICE_SUPPORT_ADMINISTRATOR => "Service Support Administrator",
        DIRECTORY_READERS => "Directory Readers",
        MISMATCH_ROLE => "Security Administrator",
        GLOBAL_ADMINISTRATOR => "Global Administrator",
        _ => "Unknown role",
    }
}

/// The partner's (group, role) pairs in every customer.
fn partner_assignments() -> [((&'static str, &'static str), &'static str); 2] {
    [
        (SERVICE_DESK_GROUP, SERVICE_SUPPORT_ADMINISTRATOR),
        (SERVICE_DESK_GROUP, DIRECTORY_READERS),
    ]
}

fn relationship_id(index: usize, tenant_id: &str) -> String {
    format!("a11ce000-0000-4000-8000-{:012}-{tenant_id}", index + 1)
}

fn unified_roles(roles: &[&str]) -> Value {
    json!({ "unifiedRoles": roles.iter().map(|r| json!({ "roleDefinitionId": r })).collect::<Vec<_>>() })
}

fn partner_tenant(customers: &[FleetCustomer]) -> FakeTenant {
    let mut partner =
        FakeTenant::from_sources(&PARTNER_FILES).expect("the demo partner fixtures load");
    // The demo's own relationships and customers give way to the fleet's.
    partner.routes.retain(|key, _| {
        !key.contains("/tenantRelationships/delegatedAdminRelationships/")
            && !key.contains("findTenantInformationByTenantId")
    });
    let created = "2026-03-02T09:41:17.7770687Z";
    let activated = "2026-03-02T14:05:52.5084047Z";
    let mut relationships = Vec::with_capacity(customers.len());
    let mut gdap_customers = Vec::with_capacity(customers.len());
    let mut contracts = Vec::with_capacity(customers.len());
    let mut my_roles = Vec::with_capacity(customers.len());
    for (i, c) in customers.iter().enumerate() {
        let rel = relationship_id(i, &c.tenant_id);
        let base = "/v1.0/tenantRelationships/delegatedAdminRelationships";
        relationships.push(json!({
            "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
            "id": rel,
            "displayName": format!("{}-Audit", c.display_name.replace(' ', "-")),
            "duration": "P365D",
            "customer": { "tenantId": c.tenant_id, "displayName": c.display_name },
            "accessDetails": unified_roles(&FLEET_ROLES),
            "status": "active",
            "autoExtendDuration": "P180D",
            "createdDateTime": created,
            "lastModifiedDateTime": activated,
            "activatedDateTime": activated,
            "endDateTime": "2027-03-02T14:05:52.5084047Z",
        }));
        let assignments = [json!({
            "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
            "id": format!("a55e0000-0000-4000-8000-{:012}", i + 1),
            "status": "active",
            "createdDateTime": activated,
            "lastModifiedDateTime": activated,
            "accessContainer": {
                "accessContainerId": SERVICE_DESK_GROUP.0,
                "accessContainerType": "securityGroup",
            },
            "accessDetails": unified_roles(&FLEET_ROLES),
        })];
        partner.routes.insert(
            format!("{base}/{rel}/accessAssignments"),
            json!({ "value": assignments }),
        );
        partner.routes.insert(
            format!("{base}/{rel}/requests"),
            json!({ "value": [{
                "@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
                "id": format!("7e900000-0000-4000-8000-{:012}", i + 1),
                "action": "lockForApproval",
                "status": "succeeded",
                "createdDateTime": created,
                "lastModifiedDateTime": created,
            }] }),
        );
        partner
            .routes
            .insert(format!("{base}/{rel}/operations"), json!({ "value": [] }));
        gdap_customers.push(json!({
            "@odata.type": "#microsoft.graph.delegatedAdminCustomer",
            "id": c.tenant_id,
            "tenantId": c.tenant_id,
            "displayName": c.display_name,
        }));
        let domain = format!(
            "{}.onmicrosoft.com",
            c.display_name.replace(' ', "").to_ascii_lowercase()
        );
        contracts.push(json!({
            "id": format!("c0a7ac70-0000-4000-8000-{:012}", i + 1),
            "deletedDateTime": null,
            "contractType": "ResellerPartner",
            "customerId": c.tenant_id,
            "defaultDomainName": domain,
            "displayName": c.display_name,
        }));
        my_roles.push(json!({
            "tenantId": c.tenant_id,
            "assignments": [{
                "assignmentType": "granularDelegatedAdminPrivileges",
                "roles": FLEET_ROLES.iter().map(|r| json!({ "templateId": r, "displayName": role_name(r) })).collect::<Vec<_>>(),
            }],
        }));
        partner.routes.insert(
            format!(
                "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{}')",
                c.tenant_id
            ),
            json!({
                "tenantId": c.tenant_id,
                "federationBrandName": null,
                "displayName": c.display_name,
                "defaultDomainName": domain,
            }),
        );
    }
    partner.routes.insert(
        "/v1.0/tenantRelationships/delegatedAdminRelationships".into(),
        json!({ "value": relationships }),
    );
    partner.routes.insert(
        "/v1.0/tenantRelationships/delegatedAdminCustomers".into(),
        json!({ "value": gdap_customers }),
    );
    partner
        .routes
        .insert("/v1.0/contracts".into(), json!({ "value": contracts }));
    partner.routes.insert(
        "/beta/tenantRelationships/managedTenants/myRoles".into(),
        json!({ "value": my_roles }),
    );
    partner
}

fn partner_reference(group: (&str, &str), partner: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.directoryObjectPartnerReference",
        "id": group.0,
        "deletedDateTime": null,
        "description": null,
        "displayName": group.1,
        "externalPartnerTenantId": partner,
        "objectType": "Group",
    })
}

fn role_assignment(group: (&str, &str), partner: &str, role: &str) -> Value {
    json!({
        "id": format!("{role}-{}", group.0),
        "principalId": group.0,
        "principalOrganizationId": partner,
        "resourceScope": "/",
        "directoryScopeId": "/",
        "roleDefinitionId": role,
        "appScopeId": null,
        "condition": null,
        "principal": partner_reference(group, partner),
    })
}

/// The `value` array of a collection route (created empty when missing).
fn collection<'a>(tenant: &'a mut FakeTenant, key: &str) -> &'a mut Vec<Value> {
    let body = tenant
        .routes
        .entry(key.to_owned())
        .or_insert_with(|| json!({ "value": [] }));
    if !body.get("value").is_some_and(Value::is_array) {
        *body = json!({ "value": [] });
    }
    body.get_mut("value")
        .and_then(Value::as_array_mut)
        .expect("a collection was just ensured")
}

fn set_allowed_roles(tenant: &mut FakeTenant, partner: &str, roles: &[&str]) {
    let key = format!(
        "/v1.0/policies/crossTenantAccessPolicy/partners/{partner}/serviceProviderConstraints"
    );
    let body = tenant.routes.entry(key).or_insert_with(|| {
        json!({
            "@odata.type": "#microsoft.graph.delegatedAdminServiceProviderConstraints",
            "id": partner,
            "createdDateTime": "2026-03-02T14:06:10.0000000Z",
            "lastModifiedDateTime": "2026-03-02T14:06:10.0000000Z",
        })
    });
    if let Some(obj) = body.as_object_mut() {
        obj.insert("allowedRoleTemplateIds".into(), json!(roles));
    }
}

fn customer_tenant(c: &FleetCustomer) -> FakeTenant {
    let sources: Vec<(&str, String)> = CUSTOMER_FILES
        .iter()
        .map(|(name, text)| {
            (
                *name,
                text.replace(DEMO_CUSTOMER, &c.tenant_id)
                    .replace(DEMO_CUSTOMER_NAME, &c.display_name),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut t = FakeTenant::from_sources(&borrowed).expect("the demo customer fixtures load");

    // The partner's side as the customer sees it: constraints and role assignments matching the
    // relationship (plus the mismatch role where the case says so).
    let mut partner_roles: Vec<&str> = FLEET_ROLES.to_vec();
    let mut assignments: Vec<((&str, &str), &str)> = partner_assignments().to_vec();
    if c.case == CustomerCase::RoleMismatch {
        partner_roles.push(MISMATCH_ROLE);
        assignments.push((SERVICE_DESK_GROUP, MISMATCH_ROLE));
    }
    set_allowed_roles(&mut t, PARTNER_TENANT, &partner_roles);
    let list = collection(&mut t, "/v1.0/roleManagement/directory/roleAssignments");
    list.retain(|a| {
        let org = a.get("principalOrganizationId").and_then(Value::as_str);
        let principal = a.get("principalId").and_then(Value::as_str);
        org != Some(PARTNER_TENANT) && principal != Some(LEGACY_ADMIN_AGENTS)
    });
    list.extend(
        assignments
            .iter()
            .map(|(group, role)| role_assignment(*group, PARTNER_TENANT, role)),
    );
    let mut references = vec![partner_reference(SERVICE_DESK_GROUP, PARTNER_TENANT)];

    if c.case == CustomerCase::ForeignGlobalAdmin {
        set_allowed_roles(
            &mut t,
            FOREIGN_PARTNER_TENANT,
            &[
                "729827e3-9c14-49f7-bb1b-9608f156bbb8",
                SERVICE_SUPPORT_ADMINISTRATOR,
                GLOBAL_ADMINISTRATOR,
            ],
        );
        collection(&mut t, "/v1.0/roleManagement/directory/roleAssignments").push(role_assignment(
            FOREIGN_GA_GROUP,
            FOREIGN_PARTNER_TENANT,
            GLOBAL_ADMINISTRATOR,
        ));
        references.push(partner_reference(FOREIGN_GA_GROUP, FOREIGN_PARTNER_TENANT));
    }
    let objects = collection(&mut t, "POST /v1.0/directoryObjects/getByIds");
    for r in references {
        if !objects.iter().any(|o| o.get("id") == r.get("id")) {
            objects.push(r);
        }
    }

    t.gdap_partners = vec![PARTNER_TENANT.to_owned()];
    match c.case {
        CustomerCase::NotConsented => t.consented_clients = Some(Vec::new()),
        CustomerCase::Unlicensed => {
            t.routes.insert(
                "/beta/auditLogs/signIns".into(),
                json!({
                    "@fake.status": 403,
                    "error": { "code": NON_PREMIUM_CODE, "message": NON_PREMIUM_MESSAGE },
                }),
            );
        }
        CustomerCase::ThrottlingHard => {
            t.throttle = Some(TenantThrottle {
                first_requests: HARD_THROTTLE_REQUESTS,
                retry_after: HARD_THROTTLE_RETRY_AFTER_SECS.to_string(),
            });
        }
        CustomerCase::Healthy | CustomerCase::ForeignGlobalAdmin | CustomerCase::RoleMismatch => {}
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles_of(body: &Value) -> Vec<String> {
        let mut r: Vec<String> = body["allowedRoleTemplateIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    }

    fn partner_assigned(t: &FakeTenant, partner: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> =
            t.routes["/v1.0/roleManagement/directory/roleAssignments"]["value"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["principalOrganizationId"] == partner)
                .map(|a| {
                    (
                        a["principalId"].as_str().unwrap().to_owned(),
                        a["roleDefinitionId"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
        v.sort();
        v
    }

    fn constraints(t: &FakeTenant, partner: &str) -> Vec<String> {
        roles_of(
            &t.routes[&format!(
                "/v1.0/policies/crossTenantAccessPolicy/partners/{partner}/serviceProviderConstraints"
            )],
        )
    }

    #[test]
    fn deterministic_sorted_names_and_cases() {
        let a = fleet(&FleetSpec { customers: 12 });
        let b = fleet(&FleetSpec { customers: 12 });
        assert_eq!(a.customers.len(), 12);
        let names: Vec<&str> = a
            .customers
            .iter()
            .map(|(c, _)| c.display_name.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names[0], "Contoso 001");
        assert_eq!(names[11], "Contoso 012");
        for ((ca, ta), (cb, tb)) in a.customers.iter().zip(&b.customers) {
            assert_eq!(ca, cb);
            assert_eq!(ta.routes, tb.routes);
        }
        assert_eq!(a.partner.routes, b.partner.routes);
        let cases: Vec<CustomerCase> = a.customers.iter().map(|(c, _)| c.case).collect();
        assert_eq!(&cases[..6], &CustomerCase::ASSIGNED);
        assert!(cases[6..].iter().all(|c| *c == CustomerCase::Healthy));
        let wide = fleet(&FleetSpec { customers: 1000 });
        assert_eq!(wide.customers[0].0.display_name, "Contoso 0001");
        assert_eq!(wide.customers[999].0.display_name, "Contoso 1000");
        // Small fleets get the first cases only, no panic.
        assert_eq!(fleet(&FleetSpec { customers: 2 }).customers.len(), 2);
        assert!(fleet(&FleetSpec { customers: 0 }).customers.is_empty());
    }

    #[test]
    fn both_sides_agree_except_role_mismatch() {
        let f = fleet(&FleetSpec { customers: 7 });
        let rels =
            f.partner.routes["/v1.0/tenantRelationships/delegatedAdminRelationships"]["value"]
                .as_array()
                .unwrap();
        assert_eq!(rels.len(), 7);
        let customers =
            f.partner.routes["/v1.0/tenantRelationships/delegatedAdminCustomers"]["value"]
                .as_array()
                .unwrap();
        assert_eq!(customers.len(), 7);
        let mut fleet_roles: Vec<String> = FLEET_ROLES.iter().map(|s| s.to_string()).collect();
        fleet_roles.sort();
        for ((c, t), rel) in f.customers.iter().zip(rels) {
            assert_eq!(rel["customer"]["tenantId"], c.tenant_id.as_str());
            assert_eq!(rel["status"], "active");
            let id = rel["id"].as_str().unwrap();
            let assignments = &f.partner.routes[&format!(
                "/v1.0/tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments"
            )]["value"];
            let mut granted: Vec<(String, String)> = assignments
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| {
                    let group = a["accessContainer"]["accessContainerId"].as_str().unwrap();
                    a["accessDetails"]["unifiedRoles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |r| {
                            (
                                group.to_owned(),
                                r["roleDefinitionId"].as_str().unwrap().to_owned(),
                            )
                        })
                })
                .collect();
            granted.sort();
            let customer_side = partner_assigned(t, PARTNER_TENANT);
            let allowed = constraints(t, PARTNER_TENANT);
            // The customer's own data carries its own id and name.
            let org = &t.routes["/v1.0/organization"]["value"][0];
            assert_eq!(org["id"], c.tenant_id.as_str());
            assert_eq!(org["displayName"], c.display_name.as_str());
            assert_eq!(t.tenant_id, c.tenant_id);
            assert_eq!(t.gdap_partners, vec![PARTNER_TENANT.to_owned()]);
            if c.case == CustomerCase::RoleMismatch {
                assert!(allowed.contains(&MISMATCH_ROLE.to_owned()));
                assert!(customer_side.iter().any(|(_, r)| r == MISMATCH_ROLE));
                assert!(!granted.iter().any(|(_, r)| r == MISMATCH_ROLE));
            } else {
                assert_eq!(customer_side, granted, "{}", c.display_name);
                assert_eq!(allowed, fleet_roles, "{}", c.display_name);
            }
            // No other partner holds Global Administrator, except in the ForeignGlobalAdmin case.
            let foreign_ga = t.routes["/v1.0/roleManagement/directory/roleAssignments"]["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| {
                    a["principalOrganizationId"] != c.tenant_id.as_str()
                        && a["principalOrganizationId"] != PARTNER_TENANT
                        && a["roleDefinitionId"] == GLOBAL_ADMINISTRATOR
                });
            assert_eq!(
                foreign_ga,
                c.case == CustomerCase::ForeignGlobalAdmin,
                "{}",
                c.display_name
            );
        }
    }

    #[test]
    fn cases_shape_the_tenants() {
        let f = fleet(&FleetSpec { customers: 6 });
        let tenant = |case| &f.customers.iter().find(|(c, _)| c.case == case).unwrap().1;
        let healthy = tenant(CustomerCase::Healthy);
        assert!(healthy.consented_clients.is_none() && healthy.throttle.is_none());
        assert_eq!(
            tenant(CustomerCase::NotConsented).consented_clients,
            Some(Vec::new())
        );
        let signins = &tenant(CustomerCase::Unlicensed).routes["/beta/auditLogs/signIns"];
        assert_eq!(signins["@fake.status"], 403);
        assert_eq!(signins["error"]["code"], NON_PREMIUM_CODE);
        assert!(healthy.routes["/beta/auditLogs/signIns"]["value"].is_array());
        assert_eq!(
            tenant(CustomerCase::ThrottlingHard).throttle,
            Some(TenantThrottle {
                first_requests: HARD_THROTTLE_REQUESTS,
                retry_after: "1".into()
            })
        );
        let foreign = tenant(CustomerCase::ForeignGlobalAdmin);
        assert!(
            constraints(foreign, FOREIGN_PARTNER_TENANT).contains(&GLOBAL_ADMINISTRATOR.to_owned())
        );
        assert!(
            partner_assigned(foreign, FOREIGN_PARTNER_TENANT)
                .iter()
                .any(|(_, r)| r == GLOBAL_ADMINISTRATOR)
        );
        let app = &f.app;
        assert_eq!(app.client_id, FLEET_CLIENT_ID);
        assert_eq!(
            f.customer(CustomerCase::RoleMismatch).unwrap().display_name,
            "Contoso 006"
        );
        let config = f.clone().into_config();
        assert_eq!(config.tenants.len(), 7);
        assert_eq!(config.tenants[0].tenant_id, PARTNER_TENANT);
    }
}
