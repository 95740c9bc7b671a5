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

// ------------------------------------------------------------------------------------------------
// The audit's side: `auth::CustomerTokens` for both routes, the refresh-token file, hints, no leaks.

fn hint(err: &AuthError) -> &str {
    match err {
        AuthError::Rejected { hint, .. } => hint,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[cfg(unix)]
fn private_file(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Everything the fake issued (access and refresh tokens) and the app secret: none may appear in `s`.
fn assert_no_secret(fake: &FakeGraph, s: &str) {
    for t in fake
        .issued_token_values()
        .into_iter()
        .chain(fake.issued_refresh_token_values())
        .chain([FLEET_SECRET.to_owned()])
    {
        assert!(!s.contains(&t), "a secret leaked into: {s}");
    }
}

#[tokio::test]
async fn app_only_tokens_per_customer_with_a_consent_hint() {
    let (f, fake) = start(7).await;
    let base = app_settings(&fake, PARTNER_TENANT);
    let tokens = auth::CustomerTokens::new(&base, auth::CustomerTokenRoute::AppOnly).unwrap();
    assert_eq!(
        auth::CustomerTokenRoute::from_settings(&base),
        auth::CustomerTokenRoute::AppOnly
    );
    for (c, _) in &f.customers {
        let p = tokens.provider(&c.tenant_id).unwrap();
        // One provider per tenant: its token is cached.
        assert!(Arc::ptr_eq(
            &p,
            &tokens.provider(&c.tenant_id.to_uppercase()).unwrap()
        ));
        let result = p.token(None).await;
        if c.case == CustomerCase::NotConsented {
            let err = result.unwrap_err();
            assert_eq!(aadsts(&err), Some("7000229"), "{err}");
            let h = hint(&err);
            assert!(
                h.contains(&format!(
                    "/{}/adminconsent?client_id={FLEET_CLIENT_ID}",
                    c.tenant_id
                )),
                "{h}"
            );
            assert_no_secret(&fake, &format!("{err} {err:?}"));
        } else {
            let a = result.unwrap_or_else(|e| panic!("{}: {e}", c.display_name));
            let b = p.token(None).await.unwrap();
            assert_eq!(a.secret.expose_secret(), b.secret.expose_secret());
        }
    }
    // One token request per customer, each at that customer's token endpoint.
    let paths: Vec<String> = fake
        .token_requests()
        .iter()
        .map(|r| r["_path"].clone())
        .collect();
    let expected: Vec<String> = f
        .customers
        .iter()
        .map(|(c, _)| format!("/{}/oauth2/v2.0/token", c.tenant_id))
        .collect();
    assert_eq!(paths, expected);
    assert_no_secret(&fake, &format!("{tokens:?} {base:?}"));

    // A ready token belongs to one tenant: the app-only route refuses it with what to set instead.
    let mut only_token = AuthSettings::new(PARTNER_TENANT, endpoints(&fake));
    only_token.access_token = Some(SecretString::from("opaque-token-value"));
    let err = auth::CustomerTokens::new(&only_token, auth::CustomerTokenRoute::AppOnly)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("AZURE_CLIENT_SECRET") && !err.contains("opaque-token-value"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn refresh_token_per_customer_rotated_and_written_back() {
    use std::os::unix::fs::PermissionsExt as _;
    let (f, fake) = start(6).await;
    let dir = tempfile::tempdir().unwrap();
    let first = fake.issue_refresh_token(PARTNER_TENANT);
    let file = private_file(dir.path(), "rt", &format!("{first}\n"), 0o600);
    // A confidential app: its secret goes along with the refresh token.
    let mut base = app_settings(&fake, PARTNER_TENANT);
    base.refresh_token = Some(auth::RefreshTokenStore::load(&file).unwrap());
    assert_eq!(
        auth::CustomerTokenRoute::from_settings(&base),
        auth::CustomerTokenRoute::RefreshToken
    );
    let tokens = auth::CustomerTokens::new(&base, auth::CustomerTokenRoute::RefreshToken).unwrap();
    for (c, _) in &f.customers {
        let result = tokens.provider(&c.tenant_id).unwrap().token(None).await;
        if c.case == CustomerCase::NotConsented {
            let err = result.unwrap_err();
            assert_eq!(aadsts(&err), Some("65001"), "{err}");
            assert!(
                hint(&err).contains(&format!("/{}/adminconsent", c.tenant_id)),
                "{err}"
            );
            assert_no_secret(&fake, &format!("{err} {err:?}"));
            continue;
        }
        let t = result.unwrap_or_else(|e| panic!("{}: {e}", c.display_name));
        if c.case != CustomerCase::ThrottlingHard {
            let (status, org) = get(&fake, t.secret.expose_secret(), "/v1.0/organization").await;
            assert_eq!(status, 200);
            assert_eq!(
                org["value"][0]["id"],
                c.tenant_id.as_str(),
                "a token of that customer"
            );
        }
    }
    let requests = fake.token_requests();
    for (r, (c, _)) in requests.iter().zip(&f.customers) {
        assert_eq!(r["_path"], format!("/{}/oauth2/v2.0/token", c.tenant_id));
        assert_eq!(r["grant_type"], "refresh_token");
        assert_eq!(r["client_id"], FLEET_CLIENT_ID);
        assert_eq!(r["client_secret"], FLEET_SECRET);
        assert!(
            r["scope"]
                .split(' ')
                .any(|s| s == format!("{}/.default", fake.url()))
        );
    }
    // Each answer rotated the token; the newest is in the file (still private), not the first.
    let saved = std::fs::read_to_string(&file).unwrap();
    let saved = saved.trim();
    assert_ne!(saved, first);
    assert!(
        fake.issued_refresh_token_values()
            .contains(&saved.to_owned())
    );
    // Each exchange sends the newest token; a refused one (not consented) rotates nothing.
    let sent: Vec<&str> = requests
        .iter()
        .map(|r| r["refresh_token"].as_str())
        .collect();
    let refused = f
        .customers
        .iter()
        .position(|(c, _)| c.case == CustomerCase::NotConsented)
        .unwrap();
    assert_eq!(sent[0], first);
    assert_ne!(sent[refused], sent[refused - 1]);
    assert_eq!(sent[refused + 1], sent[refused]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_no_secret(&fake, &format!("{tokens:?} {base:?}"));

    // Expired (unused for 90 days): every customer fails with the sign-in-again hint.
    fake.expire_refresh_tokens();
    let healthy = &f.customer(CustomerCase::Healthy).unwrap().tenant_id;
    let fresh = auth::CustomerTokens::new(&base, auth::CustomerTokenRoute::RefreshToken).unwrap();
    let err = fresh
        .provider(healthy)
        .unwrap()
        .token(None)
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), Some("700082"), "{err}");
    assert!(
        hint(&err).contains("--device-code --refresh-token-file"),
        "{err}"
    );
    assert_no_secret(&fake, &format!("{err} {err:?}"));
}

#[tokio::test]
async fn refresh_token_from_the_environment_stays_in_memory() {
    let (f, fake) = start(6).await;
    let rt = fake.issue_refresh_token(PARTNER_TENANT);
    // A public client: no app credential at all.
    let mut base = AuthSettings::new(PARTNER_TENANT, endpoints(&fake));
    base.client_id = Some(FLEET_CLIENT_ID.into());
    let store = auth::RefreshTokenStore::in_memory(SecretString::from(rt.as_str()));
    base.refresh_token = Some(store.clone());
    let healthy = &f.customer(CustomerCase::Healthy).unwrap().tenant_id;
    let p =
        auth::customer_provider(&base, auth::CustomerTokenRoute::RefreshToken, healthy).unwrap();
    assert_eq!(p.kind(), "refresh token");
    p.token(None).await.unwrap();
    let newest = store.current().unwrap();
    assert_ne!(newest.expose_secret(), rt);
    assert!(!fake.token_requests()[0].contains_key("client_secret"));
    // A tenant the admin has no GDAP relationship with: AADSTS50020, with what to check.
    let stranger = FakeGraph::start(fake_graph::FakeGraphConfig::new(
        vec![fake_graph::FakeTenant::new(healthy.as_str())],
        fake_graph::FakeApp::with_secret(FLEET_CLIENT_ID, FLEET_SECRET),
    ))
    .await
    .unwrap();
    let mut elsewhere = base.clone();
    elsewhere.endpoints = endpoints(&stranger);
    elsewhere.refresh_token = Some(auth::RefreshTokenStore::in_memory(SecretString::from(
        stranger.issue_refresh_token(PARTNER_TENANT).as_str(),
    )));
    let err = auth::customer_provider(&elsewhere, auth::CustomerTokenRoute::RefreshToken, healthy)
        .unwrap()
        .token(None)
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), Some("50020"), "{err}");
    assert!(hint(&err).contains("GDAP relationship"), "{err}");
    // No refresh token at all: the route says where to put one.
    base.refresh_token = None;
    let err = auth::CustomerTokens::new(&base, auth::CustomerTokenRoute::RefreshToken)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GDAP_AUDIT_REFRESH_TOKEN") && err.contains("--refresh-token-file"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn device_code_sign_in_saves_the_refresh_token_for_the_fleet() {
    use std::os::unix::fs::PermissionsExt as _;
    let (f, fake) = start(6).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("partner-admin.rt");
    let mut login = AuthSettings::new(PARTNER_TENANT, endpoints(&fake));
    login.client_id = Some(FLEET_CLIENT_ID.into());
    login.device_code = true;
    login.device_poll_interval = Some(std::time::Duration::from_millis(10));
    login.show_device_code = Arc::new(|_| {});
    login.refresh_token = Some(auth::RefreshTokenStore::save_to(&file).unwrap());
    let p = auth::provider(login.clone(), reqwest::Client::new()).unwrap();
    assert_eq!(p.kind(), "device code");
    p.token(None).await.unwrap();
    // The same run reaches the customers with the sign-in's refresh token.
    assert_eq!(
        auth::CustomerTokenRoute::from_settings(&login),
        auth::CustomerTokenRoute::RefreshToken
    );
    let same_run =
        auth::CustomerTokens::new(&login, auth::CustomerTokenRoute::RefreshToken).unwrap();
    let last = &f.customers.last().unwrap().0.tenant_id;
    same_run.provider(last).unwrap().token(None).await.unwrap();
    // Without a file, the sign-in's token stays in memory for the run.
    let mut memory_only = login.clone();
    memory_only.refresh_token = Some(auth::RefreshTokenStore::empty());
    assert!(
        auth::CustomerTokens::new(&memory_only, auth::CustomerTokenRoute::RefreshToken).is_err()
    );
    auth::provider(memory_only.clone(), reqwest::Client::new())
        .unwrap()
        .token(None)
        .await
        .unwrap();
    auth::CustomerTokens::new(&memory_only, auth::CustomerTokenRoute::RefreshToken)
        .unwrap()
        .provider(last)
        .unwrap()
        .token(None)
        .await
        .unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        fake.issued_refresh_token_values()
            .contains(&saved.trim().to_owned())
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Later runs: the saved token reaches the customers.
    let mut base = AuthSettings::new(PARTNER_TENANT, endpoints(&fake));
    base.client_id = Some(FLEET_CLIENT_ID.into());
    base.refresh_token = Some(auth::RefreshTokenStore::load(&file).unwrap());
    let healthy = &f.customer(CustomerCase::Healthy).unwrap().tenant_id;
    let t = auth::customer_provider(&base, auth::CustomerTokenRoute::RefreshToken, healthy)
        .unwrap()
        .token(None)
        .await
        .unwrap();
    let (status, _) = get(&fake, t.secret.expose_secret(), "/v1.0/organization").await;
    assert_eq!(status, 200);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_refuses_a_readable_refresh_token_file_and_uses_a_private_one() {
    let (f, fake) = start(6).await;
    let dir = tempfile::tempdir().unwrap();
    let rt = fake.issue_refresh_token(PARTNER_TENANT);
    let healthy = f.customer(CustomerCase::Healthy).unwrap().tenant_id.clone();
    let scan = |file: &std::path::Path| {
        let mut cmd = crate::cli::bin(dir.path());
        cmd.env_remove(auth::REFRESH_TOKEN_ENV).args([
            "scan",
            "--perspective",
            "customer",
            "--no-history",
            "--as-of",
            "2026-11-23T12:00:00Z",
            "--format",
            "json",
            "-vv",
            "--tenant",
            &healthy,
            "--client-id",
            FLEET_CLIENT_ID,
            "--graph-url",
            &fake.url(),
            "--login-url",
            &fake.url(),
            "--refresh-token-file",
        ]);
        cmd.arg(file);
        cmd
    };
    let open = private_file(dir.path(), "open.rt", &rt, 0o644);
    let out = crate::cli::run(scan(&open)).await;
    let stderr = crate::cli::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("chmod 600") && stderr.contains("open.rt"),
        "{stderr}"
    );
    assert!(!stderr.contains(&rt) && out.stdout.is_empty());

    let private = private_file(dir.path(), "private.rt", &rt, 0o600);
    let out = crate::cli::run(scan(&private)).await;
    let stderr = crate::cli::text(&out.stderr);
    let stdout = crate::cli::text(&out.stdout);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["tenant_id"].as_str(),
        Some(healthy.as_str()),
        "{report:#}"
    );
    assert_eq!(report["tenant_name"], "Contoso 001");
    // Rotated and written back; nothing secret in the output, even at -vv.
    let saved = std::fs::read_to_string(&private).unwrap();
    assert_ne!(saved.trim(), rt);
    assert_no_secret(&fake, &format!("{stdout}{stderr}"));

    // The environment variable works the same way.
    let cmd = scan(&private);
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut env_cmd = crate::cli::bin(dir.path());
    env_cmd
        .args(&args[..args.len() - 2])
        .env(auth::REFRESH_TOKEN_ENV, saved.trim());
    let out = crate::cli::run(env_cmd).await;
    let (stdout, stderr) = (crate::cli::text(&out.stdout), crate::cli::text(&out.stderr));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["tenant_id"].as_str(),
        Some(healthy.as_str())
    );
    assert_no_secret(&fake, &format!("{stdout}{stderr}"));
}

#[tokio::test]
async fn denied_customer_sources_name_the_gdap_role_that_allows_them() {
    use gdap_audit::collect::{self, CollectOptions, PerspectiveMode};
    use gdap_audit::graph::{ClientSettings, GraphClient};
    use gdap_audit::snapshot::{CoverageStatus, Source};

    let (f, fake) = start(6).await;
    let healthy = f.customer(CustomerCase::Healthy).unwrap().tenant_id.clone();
    let tokens = auth::CustomerTokens::new(
        &app_settings(&fake, PARTNER_TENANT),
        auth::CustomerTokenRoute::AppOnly,
    )
    .unwrap();
    let mut settings = ClientSettings::new(endpoints(&fake));
    settings.retry = quick_retry();
    settings.log_rate = None;
    let client = GraphClient::new(settings, tokens.provider(&healthy).unwrap()).unwrap();
    let denied = |path: &str| {
        fake_graph::Fault::new(
            path,
            10,
            fake_graph::FaultKind::Status {
                status: 403,
                code: "Authorization_RequestDenied".into(),
                message: "Insufficient privileges to complete the operation.".into(),
            },
        )
    };
    let collect_with = |via_gdap: bool| {
        let mut opts = CollectOptions::new(
            healthy.clone(),
            "2026-11-23T12:00:00Z".parse().unwrap(),
            "2026-11-23T12:00:00Z".parse().unwrap(),
        );
        opts.perspective = PerspectiveMode::Customer;
        opts.delegated_via_gdap = via_gdap;
        opts
    };
    for via_gdap in [true, false] {
        fake.clear_faults();
        fake.push_fault(denied("/v1.0/roleManagement/directory/roleAssignments"));
        fake.push_fault(denied("/beta/auditLogs/signIns"));
        let snap = collect::collect(&client, &collect_with(via_gdap)).await;
        let detail = |source: Source| {
            let c = snap.coverage.iter().find(|c| c.source == source).unwrap();
            assert_eq!(c.status, CoverageStatus::Denied, "{c:?}");
            c.detail.clone().unwrap_or_default()
        };
        let roles = detail(Source::RoleAssignments);
        let signins = detail(Source::SignIns);
        assert_eq!(
            roles.contains("grant Directory Readers or Global Reader"),
            via_gdap,
            "{roles}"
        );
        assert_eq!(
            signins.contains("grant Reports Reader, Security Reader or Global Reader"),
            via_gdap,
            "{signins}"
        );
        // The permission hint stays either way.
        assert!(roles.contains("RoleManagement.Read.Directory"), "{roles}");
    }
    // Every customer-side source has roles to name; partner-side ones are read at home.
    for s in Source::ALL {
        assert_eq!(
            s.gdap_roles().is_empty(),
            (s.perspective() == gdap_audit::snapshot::Perspective::Partner
                && *s != Source::RoleDefinitions)
                // Azure sources are governed by Azure RBAC (Reader), not GDAP's Entra roles.
                || s.is_azure(),
            "{s}"
        );
    }
}

/// Token errors the fake only answers when told to (Conditional Access, MFA, sign-in frequency, a
/// confidential client without its credential), each with its hint, through the refresh-token route.
#[tokio::test]
async fn policy_token_errors_get_plain_hints() {
    let (f, fake) = start(6).await;
    let healthy = f.customer(CustomerCase::Healthy).unwrap().tenant_id.clone();
    let mut base = AuthSettings::new(PARTNER_TENANT, endpoints(&fake));
    base.client_id = Some(FLEET_CLIENT_ID.into());
    base.refresh_token = Some(auth::RefreshTokenStore::in_memory(SecretString::from(
        fake.issue_refresh_token(PARTNER_TENANT).as_str(),
    )));
    for (code, error, expect) in [
        (70043, "invalid_grant", "sign-in frequency"),
        (50076, "invalid_grant", "MFA"),
        (50079, "interaction_required", "MFA"),
        (53003, "access_denied", "Conditional Access"),
        (7000218, "invalid_client", "AZURE_CLIENT_SECRET"),
        (50173, "invalid_grant", "--device-code --refresh-token-file"),
    ] {
        let body = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: refused by policy.\r\nTrace ID: 0000\r\nCorrelation ID: 1111"),
            "error_codes": [code],
        });
        fake.push_fault(fake_graph::Fault::new(
            format!("/{healthy}/oauth2/v2.0/token"),
            1,
            fake_graph::FaultKind::RawBody {
                status: 400,
                body: body.to_string(),
            },
        ));
        let err = auth::customer_provider(&base, auth::CustomerTokenRoute::RefreshToken, &healthy)
            .unwrap()
            .token(None)
            .await
            .unwrap_err();
        let code = code.to_string();
        assert_eq!(aadsts(&err), Some(code.as_str()), "{err}");
        assert!(hint(&err).contains(expect), "{code}: {err}");
        assert!(!err.to_string().contains("Trace ID"), "{err}");
        assert_no_secret(&fake, &format!("{err} {err:?}"));
    }
}
