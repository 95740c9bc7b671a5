//! Property tests: decoding arbitrary JSON (Graph is outside input) into the model never panics, and
//! neither do the helpers rules and collectors call on what decoded.

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::customer::{CrossTenantPartner, RoleAssignment, ServicePrincipal};
use super::gdap::{AccessAssignment, DelegatedAdminRelationship, MyRole};
use super::logs::{DirectoryAudit, SignIn};

/// Field names the models read, so generated objects reach their decoders, plus a few unknown ones.
const KEYS: &[&str] = &[
    "id",
    "@odata.type",
    "displayName",
    "createdDateTime",
    "activityDateTime",
    "lastModifiedDateTime",
    "activatedDateTime",
    "endDateTime",
    "crossTenantAccessType",
    "homeTenantId",
    "resourceTenantId",
    "status",
    "errorCode",
    "authenticationRequirement",
    "location",
    "countryOrRegion",
    "appDisplayName",
    "signInEventTypes",
    "userPrincipalName",
    "initiatedBy",
    "user",
    "app",
    "targetResources",
    "category",
    "result",
    "activityDisplayName",
    "duration",
    "autoExtendDuration",
    "accessDetails",
    "unifiedRoles",
    "roleDefinitionId",
    "customer",
    "tenantId",
    "indirectProviderTenantId",
    "isPartnerConsentPending",
    "isServiceProvider",
    "inboundTrust",
    "principal",
    "principalId",
    "principalOrganizationId",
    "appOwnerOrganizationId",
    "appRoles",
    "assignments",
    "roles",
    "somethingNew",
];

/// Strings that stress the parsers: timestamps at and beyond chrono's range, durations, flags enums.
fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,16}",
        Just("2026-08-15T19:15:41.1234567Z".to_owned()),
        Just("+262143-12-31T23:59:59.9999999Z".to_owned()),
        Just("-262143-01-01T00:00:00Z".to_owned()),
        Just("9999-99-99T99:99:99Z".to_owned()),
        Just("P99999999999D".to_owned()),
        Just("P9223372036854775807DT86400S".to_owned()),
        Just("serviceProvider,b2bCollaboration".to_owned()),
        "P[0-9]{1,25}[YMWD]",
    ]
    .prop_map(Value::String)
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text(),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Decodes through both paths collectors use (a `Value` and raw text); never panics, `Ok` or `Err`.
fn decode<T: DeserializeOwned>(v: &Value) -> Option<T> {
    let text = v.to_string();
    let _ = serde_json::from_str::<T>(&text);
    serde_json::from_value::<T>(v.clone()).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn relationships_decode_without_panic(v in json()) {
        if let Some(r) = decode::<DelegatedAdminRelationship>(&v) {
            let _ = (r.duration_days(), r.auto_extends(), r.is_reseller(), r.customer_tenant_id());
            let _ = (r.status.is_live(), r.status.is_terminal(), r.access_details.role_ids());
        }
        let _ = decode::<AccessAssignment>(&v);
        if let Some(m) = decode::<MyRole>(&v) {
            let _ = m.assignments.iter().filter(|a| a.is_dap()).count();
        }
    }

    #[test]
    fn sign_ins_decode_without_panic(v in json()) {
        if let Some(s) = decode::<SignIn>(&v) {
            let _ = (s.succeeded(), s.is_service_provider_access(), s.single_factor(), s.country());
        }
    }

    #[test]
    fn directory_audits_decode_without_panic(v in json()) {
        if let Some(a) = decode::<DirectoryAudit>(&v) {
            let _ = a.initiator_home_tenant();
        }
    }

    #[test]
    fn customer_items_decode_without_panic(v in json()) {
        let _ = decode::<CrossTenantPartner>(&v);
        let _ = decode::<RoleAssignment>(&v);
        let _ = decode::<ServicePrincipal>(&v);
    }

    /// Arbitrary bytes, not even JSON.
    #[test]
    fn arbitrary_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<DelegatedAdminRelationship>(&bytes);
        let _ = serde_json::from_slice::<SignIn>(&bytes);
        let _ = serde_json::from_slice::<DirectoryAudit>(&bytes);
    }
}
