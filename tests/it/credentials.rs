//! Credentials without a secret, against loopback fakes: managed identity (IMDS and App Service), GitHub
//! Actions OIDC, the Azure CLI (a stub `az` on PATH), PFX and encrypted PEM certificates; the default
//! chain's order, `--credential`, and a full `scan` with each.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_graph::{
    FakeApp, FakeCertificate, FakeGraph, FakeGraphConfig, FakeIdentity, FakeIdentityConfig,
    FakeTenant,
};
use gdap_audit::auth::{
    self, AppServiceIdentity, AuthError, AuthSettings, CredentialKind, GitHubOidcSettings,
    TokenProvider,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::cli::{CLEAN, bin, clean_tenant, run, text};
use crate::common::*;

const TENANT: &str = "aaaaaaaa-0000-4000-8000-0000000000c7";
const USER_ASSIGNED: &str = "99999999-0000-4000-8000-000000000099";
const IDENTITY_HEADER: &str = "identity-header-Secret-7";
const GITHUB_REQUEST_TOKEN: &str = "gh-request-Token-Secret-8";
const CERT_PASSWORD: &str = "test-only-pass";

/// An unsigned JWT with these claims (the fake token endpoint matches federated assertions verbatim).
fn id_token(exp: i64) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD.encode(
        json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main",
               "aud": "api://AzureADTokenExchange", "exp": exp, "jti": uuid_like(exp)})
        .to_string(),
    );
    format!("{h}.{c}.c2ln")
}

fn uuid_like(n: i64) -> String {
    format!(
        "00000000-0000-4000-8000-{:012}",
        n.rem_euclid(1_000_000_000_000)
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn cert_file(name: &str) -> PathBuf {
    repo(&format!("fixtures/certs/{name}"))
}

/// An app that accepts the secret, the test certificate and `assertion`.
fn app(assertion: &str) -> FakeApp {
    FakeApp {
        certificate: Some(FakeCertificate {
            cert_pem: std::fs::read_to_string(cert_file("test-cert.pem")).unwrap(),
            public_key_pem: std::fs::read_to_string(cert_file("test-pubkey.pem")).unwrap(),
        }),
        federated_assertion: Some(assertion.to_owned()),
        ..FakeApp::with_secret(CLIENT_ID, SECRET)
    }
}

struct Fakes {
    graph: FakeGraph,
    identity: FakeIdentity,
    id_token: String,
}

async fn fakes_for(tenant: FakeTenant, id_token_exp: i64) -> Fakes {
    let token = id_token(id_token_exp);
    let graph = FakeGraph::start(FakeGraphConfig::new(vec![tenant], app(&token)))
        .await
        .unwrap();
    let identity = FakeIdentity::start(
        FakeIdentityConfig {
            resource: graph.url(),
            system_assigned: true,
            user_assigned: vec![USER_ASSIGNED.into()],
            identity_header: IDENTITY_HEADER.into(),
            github_request_token: GITHUB_REQUEST_TOKEN.into(),
            github_id_token: token.clone(),
        },
        graph.issuer(),
    )
    .await
    .unwrap();
    Fakes {
        graph,
        identity,
        id_token: token,
    }
}

async fn fakes() -> Fakes {
    fakes_for(
        FakeTenant::new(TENANT).with_route(
            "/v1.0/organization",
            json!({"value": [{"id": TENANT, "displayName": "Creds Corp"}]}),
        ),
        now() + 3600,
    )
    .await
}

/// No credential configured; IMDS not probed.
fn bare(f: &Fakes) -> AuthSettings {
    AuthSettings::new(TENANT, endpoints(&f.graph))
}

fn provider(s: AuthSettings) -> Result<Arc<dyn TokenProvider>, AuthError> {
    auth::provider(s, reqwest::Client::new())
}

/// The token works at the fake Graph.
async fn graph_accepts(f: &Fakes, tokens: &dyn TokenProvider) {
    let token = tokens.token(None).await.expect("a token");
    let resp = reqwest::Client::new()
        .get(format!("{}/v1.0/organization", f.graph.url()))
        .bearer_auth(token.secret.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// A loopback URL nothing listens on.
async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// A stub `az` in `dir` that records its arguments in `dir/az-args`, prints `stdout`, `stderr` and
/// exits with `code`. Never the real az.
fn stub_az(dir: &Path, stdout: &str, stderr: &str, code: i32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("az-out"), stdout).unwrap();
    std::fs::write(dir.join("az-err"), stderr).unwrap();
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{d}/az-args'\ncat '{d}/az-out'\ncat '{d}/az-err' >&2\nexit {code}\n",
        d = dir.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn az_token_json(token: &str, expires_on: i64) -> String {
    json!({
        "accessToken": token,
        "expiresOn": "2000-01-01 00:00:00.000000",
        "expires_on": expires_on,
        "subscription": "00000000-0000-0000-0000-000000000000",
        "tenant": TENANT,
        "tokenType": "Bearer",
    })
    .to_string()
}

// ------------------------------------------------------------------------------------------------
// Managed identity

#[tokio::test]
async fn imds_system_assigned_token_is_accepted_by_graph() {
    let f = fakes().await;
    let mut s = bare(&f);
    s.imds = Some(f.identity.imds_base());
    let tokens = provider(s).unwrap();
    graph_accepts(&f, tokens.as_ref()).await;
    assert_eq!(tokens.kind(), "managed identity");
    let reqs = f.identity.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/metadata/identity/oauth2/token");
    assert_eq!(r.headers.get("metadata").map(String::as_str), Some("true"));
    assert_eq!(
        r.query.get("api-version").map(String::as_str),
        Some("2018-02-01")
    );
    assert_eq!(r.query.get("resource"), Some(&f.graph.url()));
    assert!(!r.query.contains_key("client_id"));
    // Cached: a second call asks nobody.
    tokens.token(None).await.unwrap();
    assert_eq!(f.identity.requests().len(), 1);
}

#[tokio::test]
async fn user_assigned_identity_is_chosen_by_client_id_and_an_unknown_one_is_explained() {
    let f = fakes().await;
    let mut s = bare(&f);
    s.imds = Some(f.identity.imds_base());
    s.client_id = Some(USER_ASSIGNED.into());
    let tokens = provider(s.clone()).unwrap();
    graph_accepts(&f, tokens.as_ref()).await;
    assert_eq!(
        f.identity.requests()[0]
            .query
            .get("client_id")
            .map(String::as_str),
        Some(USER_ASSIGNED)
    );

    s.client_id = Some("12121212-0000-4000-8000-000000000012".into());
    s.credential = Some(CredentialKind::ManagedIdentity);
    let err = provider(s)
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Identity not found"), "{err}");
    assert!(
        err.contains("AZURE_CLIENT_ID") && err.contains("12121212-0000-4000-8000-000000000012"),
        "{err}"
    );
}

#[tokio::test]
async fn imds_transient_answers_are_retried() {
    let f = fakes().await;
    f.identity.push_reply(
        500,
        json!({"error": "unknown", "error_description": "boom"}),
    );
    f.identity.push_reply(410, json!({}));
    let mut s = bare(&f);
    s.imds = Some(f.identity.imds_base());
    graph_accepts(&f, provider(s).unwrap().as_ref()).await;
    assert_eq!(f.identity.requests().len(), 3);
}

#[tokio::test]
async fn imds_entra_errors_keep_their_code() {
    let f = fakes().await;
    f.identity.push_reply(
        400,
        json!({"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal named x was not found in the tenant named y.\r\nTrace ID: 1"}),
    );
    let mut s = bare(&f);
    s.imds = Some(f.identity.imds_base());
    s.credential = Some(CredentialKind::ManagedIdentity);
    let err = provider(s).unwrap().token(None).await.unwrap_err();
    match &err {
        AuthError::Rejected {
            aadsts,
            description,
            ..
        } => {
            assert_eq!(aadsts.as_deref(), Some("500011"));
            assert!(!description.contains("Trace ID"), "{description}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn app_service_identity_sends_its_header_and_reads_expires_on() {
    let f = fakes().await;
    let mut s = bare(&f);
    s.app_service_identity = Some(AppServiceIdentity {
        endpoint: f.identity.app_service_endpoint(),
        header: SecretString::from(IDENTITY_HEADER),
    });
    let tokens = provider(s.clone()).unwrap();
    graph_accepts(&f, tokens.as_ref()).await;
    let t = tokens.token(None).await.unwrap();
    let left = t.expires_at - Instant::now();
    assert!(
        left > Duration::from_secs(3000),
        "lifetime from expires_on: {left:?}"
    );
    let r = &f.identity.requests()[0];
    assert_eq!(r.path, "/msi/token");
    assert_eq!(
        r.headers.get("x-identity-header").map(String::as_str),
        Some(IDENTITY_HEADER)
    );
    assert_eq!(
        r.query.get("api-version").map(String::as_str),
        Some("2019-08-01")
    );

    // A wrong header: App Service's error shape, with a hint, and the header never shown.
    s.app_service_identity = Some(AppServiceIdentity {
        endpoint: f.identity.app_service_endpoint(),
        header: SecretString::from("wrong-Header-value-3"),
    });
    let err = provider(s.clone())
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("IDENTITY_HEADER"),
        "{err}"
    );
    assert!(!err.contains("wrong-Header-value-3"), "{err}");

    // No such identity.
    s.app_service_identity = Some(AppServiceIdentity {
        endpoint: f.identity.app_service_endpoint(),
        header: SecretString::from(IDENTITY_HEADER),
    });
    s.client_id = Some("34343434-0000-4000-8000-000000000034".into());
    let err = provider(s)
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Unable to load the proper Managed Identity")
            && err.contains("AZURE_CLIENT_ID"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_imds_fails_fast_and_the_chain_moves_on_to_the_azure_cli() {
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let (token, _) = f.graph.issuer().issue(TENANT);
    let az = stub_az(dir.path(), &az_token_json(&token, now() + 3000), "", 0);
    let mut s = bare(&f);
    s.imds = Some(closed_port_url().await);
    s.azure_cli = Some(az);
    let started = Instant::now();
    let tokens = provider(s.clone()).unwrap();
    graph_accepts(&f, tokens.as_ref()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(tokens.kind(), "Azure CLI");

    // Neither works: every step says why, nothing secret.
    s.azure_cli = None;
    let err = provider(s)
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    for step in [
        "access-token: GRAPH_ACCESS_TOKEN is not set",
        "secret: AZURE_CLIENT_SECRET is not set",
        "github: ACTIONS_ID_TOKEN_REQUEST_URL",
        "managed-identity: no managed identity endpoint answered",
        "no credentials",
    ] {
        assert!(err.contains(step), "{step} missing from: {err}");
    }
}

// ------------------------------------------------------------------------------------------------
// GitHub Actions OIDC

fn github(f: &Fakes, request_token: &str) -> AuthSettings {
    let mut s = bare(f);
    s.client_id = Some(CLIENT_ID.into());
    s.github_oidc = Some(GitHubOidcSettings {
        request_url: f.identity.github_request_url(),
        request_token: SecretString::from(request_token),
    });
    s
}

#[tokio::test]
async fn github_id_token_is_the_client_assertion_and_is_reused_while_valid() {
    let f = fakes().await;
    let tokens = provider(github(&f, GITHUB_REQUEST_TOKEN)).unwrap();
    assert_eq!(tokens.kind(), "GitHub OIDC");
    graph_accepts(&f, tokens.as_ref()).await;
    let r = &f.identity.requests()[0];
    assert_eq!(r.path, "/_apis/idtoken");
    assert_eq!(r.query.get("api-version").map(String::as_str), Some("2.0"));
    assert_eq!(
        r.query.get("audience").map(String::as_str),
        Some("api://AzureADTokenExchange")
    );
    assert_eq!(
        r.headers.get("authorization"),
        Some(&format!("Bearer {GITHUB_REQUEST_TOKEN}"))
    );
    let form = f.graph.token_requests().pop().unwrap();
    assert_eq!(form.get("client_assertion"), Some(&f.id_token));
    assert_eq!(
        form.get("client_assertion_type").map(String::as_str),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(form.get("client_id").map(String::as_str), Some(CLIENT_ID));
    // A refetch of the Graph token reuses the ID token that is valid for an hour.
    let t = tokens.token(None).await.unwrap();
    tokens.token(Some(t.generation)).await.unwrap();
    assert_eq!(f.graph.token_requests().len(), 2);
    assert_eq!(f.identity.requests().len(), 1);
}

#[tokio::test]
async fn github_id_token_is_fetched_again_when_it_expires() {
    // The ID token expires in 30 s: inside the one-minute margin, so every use fetches a new one.
    let f = fakes_for(FakeTenant::new(TENANT), now() + 30).await;
    let tokens = provider(github(&f, GITHUB_REQUEST_TOKEN)).unwrap();
    let t = tokens.token(None).await.unwrap();
    tokens.token(Some(t.generation)).await.unwrap();
    assert_eq!(f.identity.requests().len(), 2);
    assert_eq!(f.graph.token_requests().len(), 2);
}

#[tokio::test]
async fn github_refusals_are_explained_without_the_request_token() {
    let f = fakes().await;
    let err = provider(github(&f, "wrong-Request-token-9"))
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("id-token: write"),
        "{err}"
    );
    assert!(!err.contains("wrong-Request-token-9"), "{err}");

    // Entra refusing the assertion (an ID token the app does not trust) keeps Entra's code.
    f.identity.set_github_id_token(id_token(now() + 3600 + 1));
    let err = provider(github(&f, GITHUB_REQUEST_TOKEN))
        .unwrap()
        .token(None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Rejected { .. }), "{err:?}");

    // GitHub answering without a token.
    f.identity.push_reply(200, json!({"count": 0}));
    let err = provider(github(&f, GITHUB_REQUEST_TOKEN))
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("value"), "{err}");
}

// ------------------------------------------------------------------------------------------------
// Azure CLI

#[tokio::test]
async fn azure_cli_token_is_used_with_the_graph_resource_and_tenant() {
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let (token, _) = f.graph.issuer().issue(TENANT);
    let az = stub_az(dir.path(), &az_token_json(&token, now() + 1200), "", 0);
    let mut s = bare(&f);
    s.credential = Some(CredentialKind::AzureCli);
    s.client_secret = Some(SecretString::from(SECRET)); // forced: ignored
    s.azure_cli = Some(az);
    let tokens = provider(s).unwrap();
    graph_accepts(&f, tokens.as_ref()).await;
    let t = tokens.token(None).await.unwrap();
    let left = t.expires_at - Instant::now();
    assert!(
        left > Duration::from_secs(1100) && left <= Duration::from_secs(1200),
        "expires_on preferred over expiresOn: {left:?}"
    );
    let args = std::fs::read_to_string(dir.path().join("az-args")).unwrap();
    let expected = format!(
        "account\nget-access-token\n--output\njson\n--resource\n{}\n--tenant\n{TENANT}\n",
        f.graph.url()
    );
    assert_eq!(args, expected);
    assert!(
        f.graph.token_requests().is_empty(),
        "the secret was not used"
    );
}

#[tokio::test]
async fn azure_cli_not_signed_in_or_missing_is_explained() {
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let az = stub_az(
        dir.path(),
        "",
        "WARNING: A newer version is available\nERROR: Please run 'az login' to setup account.\n",
        1,
    );
    let mut s = bare(&f);
    s.azure_cli = Some(az);
    s.credential = Some(CredentialKind::AzureCli);
    let err = provider(s.clone())
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Please run 'az login' to setup account.")
            && err.contains(&format!("az login --tenant {TENANT}"))
            && !err.contains("WARNING"),
        "{err}"
    );

    s.azure_cli = Some(dir.path().join("no-such-az"));
    let err = provider(s.clone())
        .unwrap()
        .token(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not found") && err.contains("az login"),
        "{err}"
    );

    s.azure_cli = None;
    let err = provider(s).err().unwrap().to_string();
    assert!(err.contains("azure-cli") && err.contains("PATH"), "{err}");
}

// ------------------------------------------------------------------------------------------------
// Certificates

#[tokio::test]
async fn pfx_and_encrypted_pem_certificates_get_tokens() {
    let f = fakes().await;
    for name in ["test.pfx", "test-legacy.pfx", "test-encrypted.pem"] {
        let mut s = bare(&f);
        s.client_id = Some(CLIENT_ID.into());
        s.certificate = Some(cert_file(name));
        s.certificate_password = Some(SecretString::from(CERT_PASSWORD));
        let tokens = provider(s.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tokens.kind(), "certificate");
        graph_accepts(&f, tokens.as_ref()).await;
        let form = f.graph.token_requests().pop().unwrap();
        assert!(form.contains_key("client_assertion") && !form.contains_key("client_secret"));

        s.certificate_password = None;
        let err = provider(s).err().unwrap().to_string();
        assert!(
            err.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
            "{name}: {err}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// The chain

#[tokio::test]
async fn chain_order_is_token_certificate_secret_federated_github_managed_identity_cli() {
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let federated = dir.path().join("federated");
    std::fs::write(&federated, &f.id_token).unwrap();
    let (token, _) = f.graph.issuer().issue(TENANT);
    let mut s = github(&f, GITHUB_REQUEST_TOKEN);
    s.access_token = Some(SecretString::from(token.clone()));
    s.certificate = Some(cert_file("test-combined.pem"));
    s.client_secret = Some(SecretString::from(SECRET));
    s.federated_token_file = Some(federated);
    s.app_service_identity = Some(AppServiceIdentity {
        endpoint: f.identity.app_service_endpoint(),
        header: SecretString::from(IDENTITY_HEADER),
    });
    s.client_id = Some(CLIENT_ID.into());
    s.azure_cli = Some(stub_az(
        dir.path(),
        &az_token_json(&token, now() + 3000),
        "",
        0,
    ));

    let mut seen = Vec::new();
    let removals: [fn(&mut AuthSettings); 7] = [
        |s| s.access_token = None,
        |s| s.certificate = None,
        |s| s.client_secret = None,
        |s| s.federated_token_file = None,
        |s| s.github_oidc = None,
        |s| s.app_service_identity = None,
        |s| s.azure_cli = None,
    ];
    for remove in removals {
        // Managed identity with the app's client id would ask for that user-assigned identity: from
        // there on, the system-assigned one.
        if provider(s.clone()).unwrap().kind() == "managed identity" {
            s.client_id = None;
        }
        let tokens = provider(s.clone()).unwrap();
        graph_accepts(&f, tokens.as_ref()).await;
        // The Azure CLI is known only once it gave a token.
        seen.push(tokens.kind());
        remove(&mut s);
    }
    assert_eq!(
        seen,
        [
            "access token",
            "certificate",
            "client secret",
            "federated token",
            "GitHub OIDC",
            "managed identity",
            "Azure CLI"
        ]
    );
    // Nothing left, IMDS not probed: the classic error, at once.
    let err = provider(s).err().unwrap().to_string();
    assert!(
        err.contains("no credentials") && err.contains("az login"),
        "{err}"
    );
}

#[tokio::test]
async fn forced_credential_must_be_configured_and_agrees_with_device_code() {
    let f = fakes().await;
    let mut s = bare(&f);
    s.client_secret = Some(SecretString::from(SECRET));
    s.client_id = Some(CLIENT_ID.into());
    for (kind, needs) in [
        (CredentialKind::Certificate, "AZURE_CLIENT_CERTIFICATE_PATH"),
        (CredentialKind::Federated, "AZURE_FEDERATED_TOKEN_FILE"),
        (CredentialKind::Github, "ACTIONS_ID_TOKEN_REQUEST_URL"),
        (CredentialKind::AccessToken, "GRAPH_ACCESS_TOKEN"),
    ] {
        s.credential = Some(kind);
        let err = provider(s.clone()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("--credential {kind}")) && err.contains(needs),
            "{err}"
        );
    }
    s.credential = Some(CredentialKind::Secret);
    s.device_code = true;
    let err = provider(s.clone()).err().unwrap().to_string();
    assert!(
        err.contains("--device-code") && err.contains("--credential secret"),
        "{err}"
    );
    s.device_code = false;
    graph_accepts(&f, provider(s).unwrap().as_ref()).await;
}

// ------------------------------------------------------------------------------------------------
// The binary: a full scan with each credential, `-v` naming the choice

fn scan_cmd(dir: &Path, f: &Fakes, client_id: Option<&str>) -> std::process::Command {
    let mut cmd = bin(dir);
    cmd.args([
        "scan",
        "--perspective",
        "customer",
        "--no-history",
        "--as-of",
        "2026-11-23T12:00:00Z",
        "--format",
        "json",
        "-v",
        "--tenant",
        CLEAN,
        "--graph-url",
        &f.graph.url(),
        "--login-url",
        &f.graph.url(),
    ]);
    if let Some(id) = client_id {
        cmd.args(["--client-id", id]);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_works_end_to_end_with_each_credential_and_says_which() {
    let f = fakes_for(clean_tenant(), now() + 3600).await;
    let dir = tempfile::tempdir().unwrap();
    let (cli_token, _) = f.graph.issuer().issue(CLEAN);
    let az_dir = dir.path().join("az-bin");
    std::fs::create_dir_all(&az_dir).unwrap();
    stub_az(&az_dir, &az_token_json(&cli_token, now() + 3000), "", 0);
    let closed = closed_port_url().await;
    let path = std::env::join_paths(std::iter::once(az_dir.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();

    type Setup = fn(&mut std::process::Command, &Fakes, &str, &std::ffi::OsStr);
    let cases: [(&str, Option<&str>, Setup, &[&str]); 5] = [
        (
            "managed-identity",
            None,
            |c, f, _, _| {
                c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", f.identity.imds_base());
            },
            &[
                "skipped secret: AZURE_CLIENT_SECRET is not set",
                "skipped github",
            ],
        ),
        (
            "managed-identity",
            None,
            |c, f, _, _| {
                c.env("IDENTITY_ENDPOINT", f.identity.app_service_endpoint())
                    .env("IDENTITY_HEADER", IDENTITY_HEADER);
            },
            &["first configured"],
        ),
        (
            "github",
            Some(CLIENT_ID),
            |c, f, _, _| {
                c.env(
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    f.identity.github_request_url(),
                )
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", GITHUB_REQUEST_TOKEN);
            },
            &["skipped federated: AZURE_FEDERATED_TOKEN_FILE is not set"],
        ),
        (
            "azure-cli",
            None,
            |c, _, closed, path| {
                c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed)
                    .env("PATH", path);
            },
            &["skipped managed-identity: no managed identity endpoint answered"],
        ),
        (
            "certificate",
            Some(CLIENT_ID),
            |c, _, _, _| {
                c.arg("--certificate")
                    .arg(repo("fixtures/certs/test.pfx"))
                    .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", CERT_PASSWORD);
            },
            &["skipped access-token: GRAPH_ACCESS_TOKEN is not set"],
        ),
    ];
    for (kind, client_id, setup, skipped) in cases {
        let mut cmd = scan_cmd(dir.path(), &f, client_id);
        setup(&mut cmd, &f, &closed, &path);
        let out = run(cmd).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["summary"]["high"], 0, "{kind}");
        assert!(
            stderr.contains(&format!("credential: using {kind}")),
            "{kind}: {stderr}"
        );
        for s in skipped {
            assert!(stderr.contains(s), "{kind}: {s} missing from {stderr}");
        }
        for secret in [
            IDENTITY_HEADER,
            GITHUB_REQUEST_TOKEN,
            CERT_PASSWORD,
            &f.id_token,
            &cli_token,
        ] {
            assert!(
                !stderr.contains(secret) && !text(&out.stdout).contains(secret),
                "{kind} leaked a secret"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_credential_on_the_command_line() {
    let f = fakes_for(clean_tenant(), now() + 3600).await;
    let dir = tempfile::tempdir().unwrap();
    // A secret is set, but --credential managed-identity uses the identity.
    let mut cmd = scan_cmd(dir.path(), &f, None);
    cmd.env("AZURE_CLIENT_SECRET", SECRET)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", f.identity.imds_base())
        .args(["--credential", "managed-identity"]);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("credential: using managed-identity (chosen with --credential)"),
        "{stderr}"
    );
    assert!(
        f.graph.token_requests().is_empty(),
        "the secret was not used"
    );

    // An unknown name is a usage error listing the names.
    let mut cmd = scan_cmd(dir.path(), &f, None);
    cmd.args(["--credential", "password"]);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for name in [
        "managed-identity",
        "azure-cli",
        "github",
        "certificate",
        "secret",
        "federated",
    ] {
        assert!(stderr.contains(name), "{name} missing from {stderr}");
    }

    // Nothing configured anywhere: exit 2 quickly, every step explained.
    let mut cmd = scan_cmd(dir.path(), &f, None);
    cmd.env("PATH", dir.path());
    let started = Instant::now();
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no credentials") && stderr.contains("azure-cli: `az` is not on PATH"),
        "{stderr}"
    );
    let mi = stderr.find("    managed-identity: no managed identity endpoint answered");
    let cli = stderr.find("    azure-cli: `az` is not on PATH");
    assert!(
        mi.is_some() && mi < cli,
        "steps listed in chain order: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// docs/credentials.md names every `--credential` and every variable the chain reads.
#[test]
fn credentials_doc_lists_every_name_and_variable() {
    use clap::ValueEnum;
    let doc = std::fs::read_to_string(repo("docs/credentials.md")).unwrap();
    for kind in CredentialKind::value_variants() {
        assert!(
            doc.contains(&format!("`{}`", kind.name())),
            "{kind} missing"
        );
    }
    for var in [
        "GRAPH_ACCESS_TOKEN",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    ] {
        assert!(doc.contains(var), "{var} missing");
    }
}
