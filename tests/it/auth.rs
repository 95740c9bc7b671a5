//! Credentials against the loopback fake token endpoint (and, for device-code error paths the fake
//! cannot produce, a scripted axum endpoint).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_graph::{
    FakeApp, FakeCertificate, FakeGraph, FakeGraphConfig, FakeTenant, Fault, FaultKind,
};
use gdap_audit::auth::{self, AssertionAlg, AuthError, AuthSettings, TokenProvider};
use gdap_audit::graph::Endpoints;
use secrecy::{ExposeSecret, SecretString};

use crate::common::*;

const TENANT: &str = "aaaaaaaa-0000-4000-8000-0000000000a1";

fn cert_file(name: &str) -> std::path::PathBuf {
    repo(&format!("fixtures/certs/{name}"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(cert_file(name)).unwrap()
}

async fn fake_with(app: FakeApp, tweak: impl FnOnce(&mut FakeGraphConfig)) -> FakeGraph {
    let mut config = FakeGraphConfig::new(vec![FakeTenant::new(TENANT)], app);
    tweak(&mut config);
    FakeGraph::start(config).await.expect("fake graph starts")
}

fn cert_app() -> FakeApp {
    FakeApp {
        client_id: CLIENT_ID.into(),
        certificate: Some(FakeCertificate {
            cert_pem: read("test-cert.pem"),
            public_key_pem: read("test-pubkey.pem"),
        }),
        ..FakeApp::default()
    }
}

fn settings(fake: &FakeGraph) -> AuthSettings {
    let mut s = AuthSettings::new(TENANT, endpoints(fake));
    s.client_id = Some(CLIENT_ID.into());
    s
}

fn provider(s: AuthSettings) -> Arc<dyn TokenProvider> {
    auth::provider(s, reqwest::Client::new()).expect("credentials accepted")
}

fn rejected(err: &AuthError) -> (Option<&str>, &str, &str) {
    match err {
        AuthError::Rejected {
            aadsts,
            error,
            hint,
            ..
        } => (aadsts.as_deref(), error.as_str(), hint.as_str()),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn client_secret_is_accepted_and_the_token_cached() {
    let fake = fake(vec![FakeTenant::new(TENANT)]).await;
    let p = provider(secret_settings(&fake, TENANT));
    assert_eq!(p.kind(), "client secret");
    let a = p.token(None).await.unwrap();
    let b = p.token(None).await.unwrap();
    assert!(a.secret.expose_secret().starts_with("fakeAT."));
    assert_eq!(a.secret.expose_secret(), b.secret.expose_secret());
    assert_eq!(fake.issued_tokens(), 1);
    let reqs = fake.token_requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r["_path"], format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(r["grant_type"], "client_credentials");
    assert_eq!(r["client_id"], CLIENT_ID);
    assert_eq!(r["client_secret"], SECRET);
    assert_eq!(r["scope"], format!("{}/.default", fake.url()));
    assert!(!r.contains_key("client_assertion"));
}

#[tokio::test]
async fn wrong_secret_gives_aadsts7000215_with_the_hint_and_no_secret() {
    let fake = fake(vec![FakeTenant::new(TENANT)]).await;
    let mut s = secret_settings(&fake, TENANT);
    let wrong = "not-the-right-secret-value";
    s.client_secret = Some(SecretString::from(wrong));
    let err = provider(s).token(None).await.unwrap_err();
    let (code, error, hint) = rejected(&err);
    assert_eq!(code, Some("7000215"));
    assert_eq!(error, "invalid_client");
    assert!(hint.contains("AZURE_CLIENT_SECRET"), "{hint}");
    let text = err.to_string();
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(
        !text.contains("Trace ID") && !text.contains("Correlation ID"),
        "{text}"
    );
    assert!(!text.contains(wrong) && !text.contains(SECRET), "{text}");
    assert!(!format!("{err:?}").contains(wrong));
}

#[tokio::test]
async fn unknown_tenant_and_unknown_client_get_their_hints() {
    let fake = fake(vec![FakeTenant::new(TENANT)]).await;
    let err = provider(secret_settings(&fake, "nosuchtenant.onmicrosoft.com"))
        .token(None)
        .await
        .unwrap_err();
    let (code, _, hint) = rejected(&err);
    assert_eq!(code, Some("90002"));
    assert!(hint.contains("--tenant"), "{hint}");

    let mut s = secret_settings(&fake, TENANT);
    s.client_id = Some("99999999-9999-9999-9999-999999999999".into());
    let err = provider(s).token(None).await.unwrap_err();
    let (code, _, hint) = rejected(&err);
    assert_eq!(code, Some("700016"));
    assert!(hint.contains("--client-id"), "{hint}");
}

async fn certificate_roundtrip(alg: AssertionAlg) {
    let fake = fake_with(cert_app(), |_| {}).await;
    let mut s = settings(&fake);
    s.certificate = Some(cert_file("test-combined.pem"));
    s.assertion_alg = alg;
    let p = provider(s);
    assert_eq!(p.kind(), "certificate");
    let t = p.token(None).await.unwrap();
    assert!(t.secret.expose_secret().starts_with("fakeAT."));
    // A refetch signs a fresh assertion.
    let t2 = p.token(Some(t.generation)).await.unwrap();
    assert_eq!(t2.generation, t.generation + 1);

    let reqs = fake.token_requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r["grant_type"], "client_credentials");
        assert_eq!(r["client_id"], CLIENT_ID);
        assert_eq!(
            r["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert!(!r.contains_key("client_secret"));
        let header = jsonwebtoken::decode_header(&r["client_assertion"]).unwrap();
        match alg {
            AssertionAlg::Ps256 => {
                assert_eq!(header.alg, jsonwebtoken::Algorithm::PS256);
                assert!(header.x5t_s256.is_some() && header.x5t.is_none());
            }
            AssertionAlg::Rs256 => {
                assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
                assert!(header.x5t.is_some() && header.x5t_s256.is_none());
            }
        }
    }
    assert_ne!(
        reqs[0]["client_assertion"], reqs[1]["client_assertion"],
        "fresh assertion per fetch"
    );
}

#[tokio::test]
async fn certificate_ps256_is_accepted() {
    certificate_roundtrip(AssertionAlg::Ps256).await;
}

#[tokio::test]
async fn certificate_rs256_is_accepted() {
    certificate_roundtrip(AssertionAlg::Rs256).await;
}

#[tokio::test]
async fn wrong_certificate_is_rejected_with_aadsts700027() {
    let fake = fake_with(cert_app(), |_| {}).await;
    let mut s = settings(&fake);
    s.certificate = Some(cert_file("other-combined.pem"));
    let err = provider(s).token(None).await.unwrap_err();
    let (code, error, hint) = rejected(&err);
    assert_eq!(code, Some("700027"));
    assert_eq!(error, "invalid_client");
    assert!(hint.contains("certificate"), "{hint}");
}

#[tokio::test]
async fn federated_token_is_accepted_and_reread_on_each_fetch() {
    let app = FakeApp {
        client_id: CLIENT_ID.into(),
        federated_assertion: Some("fed-token-1".into()),
        ..FakeApp::default()
    };
    let fake = fake_with(app, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "fed-token-1\n").unwrap();
    let mut s = settings(&fake);
    s.federated_token_file = Some(file.clone());
    let p = provider(s);
    assert_eq!(p.kind(), "federated token");
    let t = p.token(None).await.unwrap();
    assert!(t.secret.expose_secret().starts_with("fakeAT."));
    let reqs = fake.token_requests();
    assert_eq!(reqs[0]["client_assertion"], "fed-token-1", "trimmed");
    assert_eq!(
        reqs[0]["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );

    // Kubernetes rotates the file: the next fetch sends the new content.
    std::fs::write(&file, "fed-token-2").unwrap();
    let err = p.token(Some(t.generation)).await.unwrap_err();
    assert!(matches!(err, AuthError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.token_requests()[1]["client_assertion"], "fed-token-2");
}

#[tokio::test]
async fn device_code_pending_then_success_then_refresh_without_asking_again() {
    let app = FakeApp {
        client_id: CLIENT_ID.into(),
        ..FakeApp::default()
    };
    let fake = fake_with(app, |c| c.device_pending_polls = 2).await;
    let shown = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut s = settings(&fake);
    s.device_code = true;
    s.device_poll_interval = Some(Duration::from_millis(20));
    let sink = shown.clone();
    s.show_device_code = Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_owned()));
    let p = provider(s);
    assert_eq!(p.kind(), "device code");

    let t = p.token(None).await.unwrap();
    assert!(t.secret.expose_secret().starts_with("fakeAT."));
    {
        let shown = shown.lock().unwrap();
        assert_eq!(shown.len(), 1);
        assert!(
            shown[0].contains("https://microsoft.com/devicelogin")
                && shown[0].contains("enter the code"),
            "{shown:?}"
        );
    }
    let reqs = fake.token_requests();
    assert_eq!(
        reqs[0]["_path"],
        format!("/{TENANT}/oauth2/v2.0/devicecode")
    );
    assert_eq!(reqs[0]["client_id"], CLIENT_ID);
    assert_eq!(
        reqs[0]["scope"],
        format!("{}/.default offline_access", fake.url())
    );
    let polls: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.get("grant_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:grant-type:device_code")
        })
        .collect();
    assert_eq!(polls.len(), 3, "two pending answers, then the token");

    // A rejected token is replaced through the refresh token, not a second device code.
    let t2 = p.token(Some(t.generation)).await.unwrap();
    assert_ne!(t2.secret.expose_secret(), t.secret.expose_secret());
    let reqs = fake.token_requests();
    assert_eq!(reqs.last().unwrap()["grant_type"], "refresh_token");
    assert!(reqs.last().unwrap()["refresh_token"].starts_with("fakeRT."));
    assert_eq!(
        shown.lock().unwrap().len(),
        1,
        "the user is not asked again"
    );
}

#[tokio::test]
async fn access_token_from_env_is_used_as_is_and_rejection_is_explained() {
    let mut s = AuthSettings::new(
        "",
        Endpoints::resolve(Default::default(), None, None).unwrap(),
    );
    s.access_token = Some(SecretString::from("opaque-ready-token"));
    let p = provider(s);
    assert_eq!(p.kind(), "access token");
    let t = p.token(None).await.unwrap();
    assert_eq!(t.secret.expose_secret(), "opaque-ready-token");
    let err = p.token(Some(t.generation)).await.unwrap_err().to_string();
    assert!(
        err.contains("GRAPH_ACCESS_TOKEN") && !err.contains("opaque-ready-token"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_token_endpoint_is_a_transport_error_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let login = format!("http://127.0.0.1:{port}");
    let mut s = AuthSettings::new(
        TENANT,
        Endpoints::resolve(Default::default(), Some(&login), Some(&login)).unwrap(),
    );
    s.client_id = Some(CLIENT_ID.into());
    s.client_secret = Some(SecretString::from(SECRET));
    let started = std::time::Instant::now();
    let err = provider(s).token(None).await.unwrap_err();
    // #1: a dead token endpoint fails within seconds and says it is unreachable.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unreachable(), "{err:?}");
    match &err {
        AuthError::Transport { url, .. } => {
            assert_eq!(url, &format!("{login}/{TENANT}/oauth2/v2.0/token"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(SECRET));
}

// ---- #13: the token endpoint is retried like Graph ----

const TOKEN_PATH: &str = "/oauth2/v2.0/token";

async fn secret_fake_with_fault(kind: FaultKind, times: u32) -> FakeGraph {
    let fake = fake_with(FakeApp::with_secret(CLIENT_ID, SECRET), |_| {}).await;
    fake.push_fault(Fault::new(TOKEN_PATH, times, kind));
    fake
}

/// #13: a 429 with `Retry-After: 1` is waited out and retried.
#[tokio::test]
async fn token_endpoint_429_is_retried_after_retry_after() {
    let fake = secret_fake_with_fault(
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
        1,
    )
    .await;
    let started = std::time::Instant::now();
    let t = provider(secret_settings(&fake, TENANT))
        .token(None)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(!t.secret.expose_secret().is_empty());
    assert_eq!(fake.token_requests().len(), 2);
}

/// #13: a 503 and a truncated answer are retried; the token arrives.
#[tokio::test]
async fn token_endpoint_503_and_truncated_body_are_retried() {
    for kind in [
        FaultKind::ServiceUnavailable { retry_after: None },
        FaultKind::TruncatedBody,
    ] {
        let fake = secret_fake_with_fault(kind.clone(), 2).await;
        provider(secret_settings(&fake, TENANT))
            .token(None)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(fake.token_requests().len(), 3, "{kind:?}");
    }
}

/// #13: an answer that stays transient gives up (bounded) with the last answer's error.
#[tokio::test]
async fn token_endpoint_retries_are_bounded() {
    let fake = secret_fake_with_fault(
        FaultKind::ServiceUnavailable {
            retry_after: Some("0".into()),
        },
        u32::MAX,
    )
    .await;
    let err = provider(secret_settings(&fake, TENANT))
        .token(None)
        .await
        .unwrap_err();
    assert!(!err.is_unreachable());
    assert!(err.to_string().contains("AADSTS90033"), "{err}");
    assert_eq!(
        fake.token_requests().len(),
        6,
        "the default policy's 6 attempts"
    );
}

/// #13: invalid_client is final: one request, no retry.
#[tokio::test]
async fn token_endpoint_invalid_client_is_not_retried() {
    let fake = secret_fake_with_fault(
        FaultKind::Status {
            status: 401,
            code: "invalid_client".into(),
            message: "AADSTS7000215: Invalid client secret provided.".into(),
        },
        1,
    )
    .await;
    let err = provider(secret_settings(&fake, TENANT))
        .token(None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Rejected { .. }), "{err:?}");
    assert_eq!(fake.token_requests().len(), 1);
}

/// #3: an absurd `expires_in` from the token endpoint neither panics nor is believed beyond a day.
#[tokio::test]
async fn absurd_expires_in_is_capped() {
    let fake = secret_fake_with_fault(
        FaultKind::RawBody {
            status: 200,
            body:
                r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"tok"}"#
                    .into(),
        },
        1,
    )
    .await;
    let t = provider(secret_settings(&fake, TENANT))
        .token(None)
        .await
        .unwrap();
    let left = t.expires_at - std::time::Instant::now();
    assert!(left <= Duration::from_secs(24 * 3600), "{left:?}");
    assert!(left > Duration::from_secs(23 * 3600), "{left:?}");
}

// ---- Device-code error paths the fake does not produce: a scripted token endpoint. ----

/// A device-code endpoint answering a fixed authorization, and a token endpoint answering the
/// scripted `(status, body)` list in order.
async fn scripted(
    token_answers: Vec<(u16, serde_json::Value)>,
) -> (String, Arc<Mutex<Vec<std::time::Instant>>>) {
    use axum::http::StatusCode;
    use axum::routing::post;
    let answers = Arc::new(Mutex::new(VecDeque::from(token_answers)));
    let polls = Arc::new(Mutex::new(Vec::new()));
    let polls_seen = polls.clone();
    let app = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(|| async {
                axum::Json(serde_json::json!({
                    "device_code": "dc", "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900, "interval": 5
                }))
            }),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move || {
                let answers = answers.clone();
                let polls = polls_seen.clone();
                async move {
                    polls.lock().unwrap().push(std::time::Instant::now());
                    let (status, body) = answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .expect("no more scripted answers");
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, polls)
}

fn device_settings(url: &str, shown: Arc<Mutex<Vec<String>>>) -> AuthSettings {
    let mut s = AuthSettings::new(
        TENANT,
        Endpoints::resolve(Default::default(), Some(url), Some(url)).unwrap(),
    );
    s.client_id = Some(CLIENT_ID.into());
    s.device_code = true;
    s.device_poll_interval = Some(Duration::from_millis(40));
    s.show_device_code = Arc::new(move |m: &str| shown.lock().unwrap().push(m.to_owned()));
    s
}

fn oauth_error(error: &str, code: u32, text: &str) -> (u16, serde_json::Value) {
    (
        400,
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
        }),
    )
}

#[tokio::test]
async fn device_code_slow_down_lengthens_the_interval_then_declined_stops() {
    let (url, polls) = scripted(vec![
        oauth_error("authorization_pending", 70016, "Authorization is pending."),
        oauth_error("slow_down", 70016, "Slow down."),
        oauth_error("authorization_declined", 70015, "The user declined."),
    ])
    .await;
    let shown = Arc::new(Mutex::new(Vec::new()));
    let err = provider(device_settings(&url, shown.clone()))
        .token(None)
        .await
        .unwrap_err();
    match &err {
        AuthError::DeviceCode(m) => assert!(m.contains("declined"), "{m}"),
        other => panic!("{other:?}"),
    }
    // No `message` in the response: one is built from the URI and code.
    let shown = shown.lock().unwrap();
    assert!(
        shown[0].contains("https://microsoft.com/devicelogin") && shown[0].contains("ABCD-EFGH"),
        "{shown:?}"
    );
    let polls = polls.lock().unwrap();
    assert_eq!(polls.len(), 3);
    let first_gap = polls[1] - polls[0];
    let after_slow_down = polls[2] - polls[1];
    assert!(first_gap >= Duration::from_millis(40), "{first_gap:?}");
    assert!(
        after_slow_down >= Duration::from_millis(80),
        "slow_down adds one more interval: {after_slow_down:?}"
    );
}

#[tokio::test]
async fn device_code_expired_and_bad_code_are_device_code_errors() {
    for (answer, expect) in [
        (
            oauth_error("expired_token", 70020, "This device code has expired."),
            "expired",
        ),
        (
            oauth_error(
                "bad_verification_code",
                70000,
                "The device_code is not valid.",
            ),
            "did not recognise",
        ),
    ] {
        let (url, _) = scripted(vec![answer]).await;
        let err = provider(device_settings(&url, Arc::new(Mutex::new(Vec::new()))))
            .token(None)
            .await
            .unwrap_err();
        match &err {
            AuthError::DeviceCode(m) => assert!(m.contains(expect), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("Trace ID"));
    }
}
