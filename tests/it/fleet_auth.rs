//! Tokens per customer tenant for the fleet audit, against the fake fleet's token endpoint: app-only
//! client credentials per tenant and the partner admin's refresh token exchanged per tenant.

use std::sync::Arc;

use fake_graph::fleet::{FLEET_CLIENT_ID, FLEET_SECRET, HARD_THROTTLE_REQUESTS, PARTNER_TENANT};
use fake_graph::{CustomerCase, FakeGraph, Fleet, FleetSpec, fleet};
use gdap_audit::auth::{self, AuthError, AuthSettings, TokenProvider};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::common::*;

async fn start(customers: usize) -> (Fleet, FakeGraph) {
    let f = fleet(&FleetSpec { customers });
    let fake = FakeGraph::start(f.clone().into_config())
        .await
        .expect("fake graph starts");
    (f, fake)
}

fn app_settings(fake: &FakeGraph, tenant: &str) -> AuthSettings {
    let mut s = AuthSettings::new(tenant, endpoints(fake));
    s.client_id = Some(FLEET_CLIENT_ID.into());
    s.client_secret = Some(SecretString::from(FLEET_SECRET));
    s
}

fn aadsts(err: &AuthError) -> Option<&str> {
    match err {
        AuthError::Rejected { aadsts, .. } => aadsts.as_deref(),
        _ => None,
    }
}

async fn get(fake: &FakeGraph, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", fake.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A raw refresh-token exchange at `tenant`'s token endpoint: (status, body).
async fn exchange(fake: &FakeGraph, tenant: &str, refresh: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/{tenant}/oauth2/v2.0/token", fake.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", FLEET_CLIENT_ID),
            ("refresh_token", refresh),
            ("scope", &format!("{}/.default", fake.url())),
        ])
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn fake_fleet_client_credentials_per_tenant() {
    let (f, fake) = start(7).await;
    for (c, _) in &f.customers {
        let p: Arc<dyn TokenProvider> =
            auth::provider(app_settings(&fake, &c.tenant_id), reqwest::Client::new()).unwrap();
        match (c.case, p.token(None).await) {
            (CustomerCase::NotConsented, Err(e)) => {
                assert_eq!(aadsts(&e), Some("7000229"), "{e}");
            }
            (CustomerCase::NotConsented, Ok(_)) => panic!("{} is not consented", c.display_name),
            (_, Err(e)) => panic!("{}: {e}", c.display_name),
            (case, Ok(t)) => {
                let token = t.secret.expose_secret();
                let mut throttled = 0;
                let (status, org) = loop {
                    let (status, body) = get(&fake, token, "/v1.0/organization").await;
                    if status != 429 {
                        break (status, body);
                    }
                    throttled += 1;
                    assert!(throttled <= HARD_THROTTLE_REQUESTS, "{}", c.display_name);
                };
                assert_eq!(status, 200, "{}", c.display_name);
                // The token is the customer's: Graph serves that tenant's own data.
                assert_eq!(org["value"][0]["id"], c.tenant_id.as_str());
                assert_eq!(org["value"][0]["displayName"], c.display_name.as_str());
                let expected = if case == CustomerCase::ThrottlingHard {
                    HARD_THROTTLE_REQUESTS
                } else {
                    0
                };
                assert_eq!(throttled, expected, "{}", c.display_name);
                let (status, signins) = get(&fake, token, "/beta/auditLogs/signIns").await;
                if case == CustomerCase::Unlicensed {
                    assert_eq!(status, 403);
                    assert_eq!(
                        signins["error"]["code"],
                        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
                    );
                } else {
                    assert_eq!(status, 200, "{}", c.display_name);
                }
            }
        }
    }
    // The partner itself (consented everywhere it is home) and a wrong secret.
    let partner =
        auth::provider(app_settings(&fake, PARTNER_TENANT), reqwest::Client::new()).unwrap();
    assert!(partner.token(None).await.is_ok());
    let mut wrong = app_settings(&fake, &f.customers[0].0.tenant_id);
    wrong.client_secret = Some(SecretString::from("not-the-secret"));
    let err = auth::provider(wrong, reqwest::Client::new())
        .unwrap()
        .token(None)
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), Some("7000215"));
}

#[tokio::test]
async fn fake_fleet_refresh_token_per_tenant() {
    let (f, fake) = start(6).await;
    let first = fake.issue_refresh_token(PARTNER_TENANT);
    let mut refresh = first.clone();
    for (c, _) in &f.customers {
        let (status, body) = exchange(&fake, &c.tenant_id, &refresh).await;
        if c.case == CustomerCase::NotConsented {
            assert_eq!(status, 400);
            assert_eq!(body["error_codes"][0], 65001, "{body}");
            assert_eq!(body["suberror"], "consent_required");
            continue;
        }
        assert_eq!(status, 200, "{}: {body}", c.display_name);
        let access = body["access_token"].as_str().unwrap();
        let rotated = body["refresh_token"].as_str().unwrap();
        assert_ne!(rotated, refresh, "Entra rotates the refresh token");
        refresh = rotated.to_owned();
        if c.case != CustomerCase::ThrottlingHard {
            let (status, org) = get(&fake, access, "/v1.0/organization").await;
            assert_eq!(status, 200);
            assert_eq!(org["value"][0]["id"], c.tenant_id.as_str());
        }
    }
    // The older token still works (Entra does not revoke on rotation) until it expires.
    let healthy = &f.customer(CustomerCase::Healthy).unwrap().tenant_id;
    assert_eq!(exchange(&fake, healthy, &first).await.0, 200);
    // A user of another tenant (no GDAP relationship with the customer): AADSTS50020.
    let stranger = fake.issue_refresh_token("0badc0de-0000-4000-8000-000000000000");
    let (status, body) = exchange(&fake, healthy, &stranger).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50020))
    );
    fake.expire_refresh_tokens();
    let (status, body) = exchange(&fake, healthy, &refresh).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 700082, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(fake.issued_refresh_token_values().contains(&refresh));
}
