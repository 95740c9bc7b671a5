//! The loopback fake Graph + token endpoint, exercised with plain reqwest.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use fake_graph::{
    FakeApp, FakeCertificate, FakeGraph, FakeGraphConfig, FakeTenant, Fault, FaultKind,
    SignInGenerator,
};
use serde_json::{Value, json};
use sha1::Digest as _;

const CLIENT_ID: &str = "0d4c5c1e-1111-4222-8333-944455556666";
const SECRET: &str = "fake~secret.value";
const PARTNER: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const CUSTOMER: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
const RELATIONSHIPS: &str = "/v1.0/tenantRelationships/delegatedAdminRelationships";
const R1: &str = "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836";
const R2: &str = "4b227261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836";

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_path(rel)).unwrap()
}

fn tenant(name: &str) -> FakeTenant {
    FakeTenant::from_dir(&repo_path(&format!("fixtures/test/{name}"))).unwrap()
}

fn app() -> FakeApp {
    FakeApp {
        client_id: CLIENT_ID.into(),
        client_secret: Some(SECRET.into()),
        certificate: Some(FakeCertificate {
            cert_pem: read("fixtures/certs/test-cert.pem"),
            public_key_pem: read("fixtures/certs/test-pubkey.pem"),
        }),
        federated_assertion: Some("federated.token.from.file".into()),
    }
}

async fn start_with(tenants: Vec<FakeTenant>) -> FakeGraph {
    FakeGraph::start(FakeGraphConfig::new(tenants, app()))
        .await
        .unwrap()
}

async fn start() -> FakeGraph {
    start_with(vec![tenant("partner-basic"), tenant("customer-basic")]).await
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn token_response(fake: &FakeGraph, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/{tenant}/oauth2/v2.0/token", fake.url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn token(fake: &FakeGraph, tenant: &str) -> String {
    let scope = format!("{}/.default", fake.url());
    let (status, body) = token_response(
        fake,
        tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(
    fake: &FakeGraph,
    token: &str,
    path_and_query: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    get_url(token, &format!("{}{path_and_query}", fake.url())).await
}

async fn get_url(token: &str, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = http().get(url).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

fn assertion_claims(fake: &FakeGraph, tenant: &str, exp_offset: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "aud": format!("{}/{tenant}/oauth2/v2.0/token", fake.url()),
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + exp_offset,
    })
}

fn cert_der(rel: &str) -> Vec<u8> {
    pem::parse_many(read(rel))
        .unwrap()
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .unwrap()
        .contents()
        .to_vec()
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs an assertion with `key` (a combined PEM), thumbprint of `cert`.
fn sign(claims: &Value, alg: jsonwebtoken::Algorithm, key: &str, cert: &str) -> String {
    let der = cert_der(cert);
    let mut header = jsonwebtoken::Header::new(alg);
    if alg == jsonwebtoken::Algorithm::PS256 {
        header.x5t_s256 = Some(b64url(&sha2::Sha256::digest(&der)));
    } else {
        header.x5t = Some(b64url(&sha1::Sha1::digest(&der)));
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(read(key).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn assertion_status(fake: &FakeGraph, assertion: &str) -> (u16, Value) {
    let scope = format!("{}/.default", fake.url());
    token_response(
        fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", &scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn fake_pages_relationships_with_top() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    let mut url = format!("{}{RELATIONSHIPS}?$top=2&$select=id,status", fake.url());
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let (status, headers, body) = get_url(&t, &url).await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("request-id"));
        assert!(
            body["@odata.context"]
                .as_str()
                .unwrap()
                .contains("delegatedAdminRelationships")
        );
        pages += 1;
        let value = body["value"].as_array().unwrap();
        assert!(value.len() <= 2);
        ids.extend(value.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&fake.url()), "{next}");
                assert!(
                    next.contains("$top=2")
                        && next.contains("$select=id,status")
                        && next.contains("$skiptoken="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[0], R1);
    let logged: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path() == RELATIONSHIPS)
        .collect();
    assert_eq!(logged.len(), 3);
    assert!(
        logged
            .iter()
            .all(|r| r.query_param("$top").as_deref() == Some("2"))
    );

    // Without $top the default page (100) holds everything.
    let (_, _, body) = get(&fake, &t, RELATIONSHIPS).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 5);
    assert!(body.get("@odata.nextLink").is_none());
    // $count on the first page.
    let (_, _, body) = get(&fake, &t, &format!("{RELATIONSHIPS}?$top=2&$count=true")).await;
    assert_eq!(body["@odata.count"], 5);
}

#[tokio::test]
async fn fake_top_above_cap_is_400() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    let (status, _, body) = get(&fake, &t, &format!("{RELATIONSHIPS}?$top=301")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadRequest");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("$top") && message.contains("maximum") && message.contains("300"),
        "{message}"
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let (status, _, _) = get(&fake, &t, &format!("{RELATIONSHIPS}?$top=300")).await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&fake, &t, &format!("{RELATIONSHIPS}?$top=abc")).await;
    assert_eq!(status, 400);

    let c = token(&fake, CUSTOMER).await;
    assert_eq!(
        get(&fake, &c, "/v1.0/servicePrincipals?$top=999").await.0,
        200
    );
    assert_eq!(
        get(&fake, &c, "/v1.0/servicePrincipals?$top=1000").await.0,
        400
    );
    assert_eq!(
        get(&fake, &c, "/beta/auditLogs/signIns?$top=1000").await.0,
        200
    );
    assert_eq!(
        get(&fake, &c, "/beta/auditLogs/signIns?$top=1001").await.0,
        400
    );
}

#[tokio::test]
async fn fake_429_fault_with_retry_after() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    fake.push_fault(Fault::new(
        "delegatedAdminRelationships",
        2,
        FaultKind::TooManyRequests {
            retry_after: Some("7".into()),
        },
    ));
    for _ in 0..2 {
        let resp = http()
            .get(format!("{}{RELATIONSHIPS}", fake.url()))
            .bearer_auth(&t)
            .header("client-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        assert_eq!(resp.headers()["client-request-id"], "abc-123");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
    }
    assert_eq!(get(&fake, &t, RELATIONSHIPS).await.0, 200);

    // 503 without Retry-After, then 504, then a custom status; each once.
    fake.push_fault(Fault::new(
        "/contracts",
        1,
        FaultKind::ServiceUnavailable { retry_after: None },
    ));
    fake.push_fault(Fault::new("/contracts", 1, FaultKind::GatewayTimeout));
    fake.push_fault(Fault::new(
        "/contracts",
        1,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges.".into(),
        },
    ));
    let (s, h, _) = get(&fake, &t, "/v1.0/contracts").await;
    assert_eq!((s, h.contains_key("retry-after")), (503, false));
    assert_eq!(get(&fake, &t, "/v1.0/contracts").await.0, 504);
    let (s, _, body) = get(&fake, &t, "/v1.0/contracts").await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (403, Some("Authorization_RequestDenied"))
    );
    assert_eq!(get(&fake, &t, "/v1.0/contracts").await.0, 200);
}

#[tokio::test]
async fn fake_truncated_body_and_delay_faults() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    fake.push_fault(Fault::new("/contracts", 1, FaultKind::TruncatedBody));
    let resp = http()
        .get(format!("{}/v1.0/contracts", fake.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let announced = resp.content_length().unwrap();
    assert!(announced > 100);
    match resp.bytes().await {
        Err(_) => {}
        Ok(bytes) => {
            assert!((bytes.len() as u64) < announced);
            assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        }
    }
    // The server is still fine.
    assert_eq!(get(&fake, &t, "/v1.0/contracts").await.0, 200);

    fake.push_fault(Fault::new(
        "/contracts",
        1,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    let started = std::time::Instant::now();
    assert_eq!(get(&fake, &t, "/v1.0/contracts").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn fake_pathological_json_faults() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    fake.push_fault(Fault::new(
        "/contracts",
        1,
        FaultKind::DeeplyNested { depth: 100_000 },
    ));
    fake.push_fault(Fault::new(
        "/contracts",
        1,
        FaultKind::HugeString { bytes: 5_000_000 },
    ));
    let deep = http()
        .get(format!("{}/v1.0/contracts", fake.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status().as_u16(), 200);
    let text = deep.text().await.unwrap();
    assert!(text.len() > 200_000 && text.contains("[[[[[[[[") && text.ends_with("]}]}"));
    let huge = http()
        .get(format!("{}/v1.0/contracts", fake.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(huge.text().await.unwrap().len() > 5_000_000);
}

#[tokio::test]
async fn fake_token_endpoint_accepts_and_refuses_secrets() {
    let fake = start().await;
    let scope = format!("{}/.default", fake.url());
    let (status, body) = token_response(
        &fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() > 20);

    let entra = |body: &Value, error: &str, code: u64| {
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([code]), "{body}");
        let d = body["error_description"].as_str().unwrap();
        assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
        assert!(
            d.contains("\r\nTrace ID: ")
                && d.contains("\r\nCorrelation ID: ")
                && d.contains("\r\nTimestamp: "),
            "{d}"
        );
        assert!(
            body["trace_id"].is_string()
                && body["correlation_id"].is_string()
                && body["timestamp"].is_string()
        );
    };
    let (status, body) = token_response(
        &fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 401);
    entra(&body, "invalid_client", 7000215);

    let (status, body) = token_response(
        &fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "someone-else"),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 400);
    entra(&body, "unauthorized_client", 700016);

    let (status, body) = token_response(
        &fake,
        "00000000-0000-0000-0000-000000000000",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 400);
    entra(&body, "invalid_request", 90002);

    let (status, body) = token_response(
        &fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    entra(&body, "invalid_scope", 70011);

    let (status, body) = token_response(
        &fake,
        PARTNER,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 401);
    entra(&body, "invalid_client", 7000218);

    // HTTP Basic client authentication is accepted too.
    let resp = http()
        .post(format!("{}/{PARTNER}/oauth2/v2.0/token", fake.url()))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let recorded = fake.token_requests();
    assert_eq!(recorded.len(), 7);
    assert_eq!(recorded[1]["client_secret"], "wrong");
    assert_eq!(recorded[0]["scope"], scope);
    assert_eq!(
        recorded[0]["_path"],
        format!("/{PARTNER}/oauth2/v2.0/token")
    );
}

#[tokio::test]
async fn fake_bearer_tokens_are_checked() {
    let mut config = FakeGraphConfig::new(
        vec![tenant("partner-basic"), tenant("customer-basic")],
        app(),
    );
    config.token_lifetime = Duration::from_millis(1500);
    let fake = FakeGraph::start(config).await.unwrap();

    let resp = http()
        .get(format!("{}/v1.0/contracts", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(get(&fake, "not-a-token", "/v1.0/contracts").await.0, 401);

    // The token selects the tenant: the customer has no contracts route.
    let c = token(&fake, CUSTOMER).await;
    assert_eq!(get(&fake, &c, "/v1.0/contracts").await.0, 404);
    let p = token(&fake, PARTNER).await;
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 200);

    // Expiry.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, _, body) = get(&fake, &p, "/v1.0/contracts").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );

    // Revocation of everything issued so far; new tokens work.
    let p = token(&fake, PARTNER).await;
    fake.revoke_tokens();
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 401);
    let p = token(&fake, PARTNER).await;
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 200);

    // A TokenRevoked fault answers 401 once and kills the presented token.
    fake.push_fault(Fault::new("/contracts", 1, FaultKind::TokenRevoked));
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 401);
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 401);
    let p = token(&fake, PARTNER).await;
    assert_eq!(get(&fake, &p, "/v1.0/contracts").await.0, 200);
}

#[tokio::test]
async fn fake_certificate_assertions() {
    use jsonwebtoken::Algorithm::{PS256, RS256};
    let fake = start().await;
    let good = assertion_claims(&fake, PARTNER, 600);
    let key = "fixtures/certs/test-combined.pem";
    let cert = "fixtures/certs/test-cert.pem";

    let (status, body) = assertion_status(&fake, &sign(&good, PS256, key, cert)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = assertion_status(&fake, &sign(&good, RS256, key, cert)).await;
    assert_eq!(status, 200, "{body}");

    // Signed by another key, claiming our certificate's thumbprint.
    let (status, body) = assertion_status(
        &fake,
        &sign(&good, PS256, "fixtures/certs/other-combined.pem", cert),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
    // A certificate that is not registered.
    let other = "fixtures/certs/other-cert.pem";
    let (status, body) = assertion_status(
        &fake,
        &sign(&good, RS256, "fixtures/certs/other-combined.pem", other),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
    // Expired.
    let expired = assertion_claims(&fake, PARTNER, -60);
    let (status, body) = assertion_status(&fake, &sign(&expired, PS256, key, cert)).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700024)),
        "{body}"
    );
    // Not yet valid (beyond the 5 minutes of skew).
    let mut future = good.clone();
    future["nbf"] = json!(Utc::now().timestamp() + 3600);
    future["exp"] = json!(Utc::now().timestamp() + 4000);
    let (status, body) = assertion_status(&fake, &sign(&future, PS256, key, cert)).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700024)),
        "{body}"
    );
    // Wrong audience.
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!(format!(
        "https://login.microsoftonline.com/{PARTNER}/oauth2/v2.0/token"
    ));
    let (status, body) = assertion_status(&fake, &sign(&wrong_aud, PS256, key, cert)).await;
    assert_eq!(status, 401, "{body}");
    // Wrong issuer.
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    let (status, body) = assertion_status(&fake, &sign(&wrong_iss, PS256, key, cert)).await;
    assert_eq!(status, 401, "{body}");
    // Missing jti.
    let mut no_jti = good.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    let (status, _) = assertion_status(&fake, &sign(&no_jti, PS256, key, cert)).await;
    assert_eq!(status, 401);
    // Garbage.
    let (status, _) = assertion_status(&fake, "not.a.jwt").await;
    assert!(status == 400 || status == 401);

    // A federated token is accepted verbatim.
    let (status, body) = assertion_status(&fake, "federated.token.from.file").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn fake_device_code_flow() {
    let mut config = FakeGraphConfig::new(vec![tenant("customer-basic")], app());
    config.device_pending_polls = 2;
    let fake = FakeGraph::start(config).await.unwrap();
    let scope = format!("{}/.default offline_access", fake.url());
    let resp = http()
        .post(format!("{}/{CUSTOMER}/oauth2/v2.0/devicecode", fake.url()))
        .form(&[("client_id", CLIENT_ID), ("scope", scope.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let dc: Value = resp.json().await.unwrap();
    assert_eq!(dc["interval"], 1);
    assert!(
        dc["message"]
            .as_str()
            .unwrap()
            .contains(dc["user_code"].as_str().unwrap())
    );
    let code = dc["device_code"].as_str().unwrap();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", CLIENT_ID),
        ("device_code", code),
    ];
    for _ in 0..2 {
        let (status, body) = token_response(&fake, CUSTOMER, &poll).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("authorization_pending"))
        );
    }
    let (status, body) = token_response(&fake, CUSTOMER, &poll).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        get(&fake, access, "/v1.0/identity/conditionalAccess/policies")
            .await
            .0,
        200
    );
    // Redeemed codes cannot be reused.
    assert_eq!(token_response(&fake, CUSTOMER, &poll).await.0, 400);

    let (status, body) = token_response(
        &fake,
        CUSTOMER,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", &refresh),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let (status, body) = token_response(
        &fake,
        CUSTOMER,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", "bogus"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Device code scope must name this Graph's .default.
    let resp = http()
        .post(format!("{}/{CUSTOMER}/oauth2/v2.0/devicecode", fake.url()))
        .form(&[
            ("client_id", CLIENT_ID),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn fake_batch_returns_inner_statuses() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    fake.push_fault(Fault::new(
        format!("{R1}/requests"),
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("10".into()),
        },
    ));
    let batch = json!({ "requests": [
        { "id": "1", "method": "GET", "url": format!("/tenantRelationships/delegatedAdminRelationships/{R1}/accessAssignments?$top=1") },
        { "id": "2", "method": "GET", "url": format!("/tenantRelationships/delegatedAdminRelationships/{R1}/requests") },
        { "id": "3", "method": "GET", "url": "/tenantRelationships/delegatedAdminRelationships/nope/accessAssignments" },
        { "id": "4", "method": "GET", "url": format!("/tenantRelationships/delegatedAdminRelationships/{R2}") },
    ]});
    let resp = http()
        .post(format!("{}/v1.0/$batch", fake.url()))
        .bearer_auth(&t)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 4);
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap().clone();
    let r1 = by_id("1");
    assert_eq!(r1["status"], 200);
    assert_eq!(r1["body"]["value"].as_array().unwrap().len(), 1);
    let next = r1["body"]["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/v1.0/tenantRelationships/", fake.url())),
        "{next}"
    );
    let r2 = by_id("2");
    assert_eq!(r2["status"], 429);
    assert_eq!(r2["headers"]["Retry-After"], "10");
    assert_eq!(r2["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(by_id("3")["status"], 404);
    let r4 = by_id("4");
    assert_eq!(
        (r4["status"].as_u64(), r4["body"]["status"].as_str()),
        (Some(200), Some("approvalPending"))
    );

    // Following the inner nextLink directly works.
    let (status, _, page2) = get_url(&t, next).await;
    assert_eq!(status, 200);
    assert_eq!(page2["value"].as_array().unwrap().len(), 1);

    // Inner requests are logged.
    let inner: Vec<_> = fake.requests().into_iter().filter(|r| r.in_batch).collect();
    assert_eq!(inner.len(), 4);
    assert!(inner[0].path().starts_with("/v1.0/tenantRelationships/"));

    // More than 20 requests, or duplicate ids: 400.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/contracts"}))
        .collect();
    let resp = http()
        .post(format!("{}/v1.0/$batch", fake.url()))
        .bearer_auth(&t)
        .json(&json!({"requests": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let dup = json!({"requests": [{"id": "1", "method": "GET", "url": "/contracts"}, {"id": "1", "method": "GET", "url": "/contracts"}]});
    let resp = http()
        .post(format!("{}/beta/$batch", fake.url()))
        .bearer_auth(&t)
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn fake_get_by_ids_and_fixture_statuses() {
    let fake = start().await;
    let c = token(&fake, CUSTOMER).await;
    let resp = http()
        .post(format!("{}/v1.0/directoryObjects/getByIds", fake.url()))
        .bearer_auth(&c)
        .json(&json!({"ids": ["227a2f44-2682-4831-a021-f8d69a34bcba", "00000000-0000-0000-0000-000000000000"],
                      "types": ["user", "group", "directoryObjectPartnerReference"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["externalPartnerTenantId"], PARTNER);

    // A recorded 404 (`@fake.status`) gets an innerError.
    let (status, headers, body) =
        get(&fake, &c, "/v1.0/policies/crossTenantAccessPolicy/partners/123f4846-ba00-4fd7-ba43-dac1f8f63013/serviceProviderConstraints")
            .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        headers["request-id"].to_str().unwrap()
    );
    assert!(body.get("@fake.status").is_none());
    let (status, _, body) = get(
        &fake,
        &c,
        &format!(
            "/v1.0/policies/crossTenantAccessPolicy/partners/{PARTNER}/serviceProviderConstraints"
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["allowedRoleTemplateIds"].as_array().unwrap().len(), 2);

    // Unknown route.
    let (status, _, body) = get(&fake, &c, "/v1.0/nothing/here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );

    // Percent-encoded paths are decoded before lookup.
    let tenant = FakeTenant::new(PARTNER).with_route(
        "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='52eaad04-13a2-4a2f-9ce8-93a294fadf36')",
        json!({"tenantId": CUSTOMER, "displayName": "Contoso Inc"}),
    );
    let fake2 = start_with(vec![tenant]).await;
    let t = token(&fake2, PARTNER).await;
    let (status, _, body) = get(
        &fake2,
        &t,
        "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId=%2752eaad04-13a2-4a2f-9ce8-93a294fadf36%27)",
    )
    .await;
    assert_eq!(
        (status, body["displayName"].as_str()),
        (200, Some("Contoso Inc"))
    );
}

#[tokio::test]
async fn fake_fixture_log_filters_newest_first() {
    let fake = start().await;
    let c = token(&fake, CUSTOMER).await;
    let (status, _, body) = get(&fake, &c, "/beta/auditLogs/signIns").await;
    assert_eq!(status, 200);
    let times: Vec<String> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["createdDateTime"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(times.len(), 6);
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    let q = "/beta/auditLogs/signIns?$filter=createdDateTime%20ge%202026-08-12T00:00:00Z%20and%20signInEventTypes/any(t:%20t%20eq%20'interactiveUser')";
    let (status, _, body) = get(&fake, &c, q).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 4);
    let logged = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path() == "/beta/auditLogs/signIns")
        .unwrap();
    assert!(
        logged
            .query_param("$filter")
            .unwrap()
            .contains("signInEventTypes/any")
    );

    let (status, _, body) = get(
        &fake,
        &c,
        "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime+ge+2026-08-01T00:00:00Z",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    let (status, _, _) = get(
        &fake,
        &c,
        "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime+ge+soon",
    )
    .await;
    assert_eq!(status, 400);
}

fn generated_customer(count: u64) -> FakeTenant {
    let mut t = FakeTenant::new(CUSTOMER);
    t.generated_sign_ins = Some(SignInGenerator {
        count,
        start: Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap(),
        step_secs: 60,
        partner_tenant_ids: vec![
            PARTNER.into(),
            "0c5b3a9f-1d2e-4f60-8a7b-9c0d1e2f3a4b".into(),
        ],
        resource_tenant_id: CUSTOMER.into(),
        local_percent: None,
    });
    t
}

async fn count_pages(fake: &FakeGraph, token: &str, first: &str) -> (usize, Vec<Value>) {
    let mut url = format!("{}{first}", fake.url());
    let mut pages = 0;
    let mut records = Vec::new();
    loop {
        let (status, _, body) = get_url(token, &url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        records.extend(body["value"].as_array().unwrap().iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    (pages, records)
}

#[tokio::test]
async fn fake_generated_sign_ins_pages_and_filter() {
    let fake = start_with(vec![generated_customer(2_500)]).await;
    let t = token(&fake, CUSTOMER).await;
    let (pages, records) = count_pages(&fake, &t, "/beta/auditLogs/signIns?$top=1000").await;
    assert_eq!(pages, 3);
    assert_eq!(records.len(), 2_500);
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["createdDateTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(*times.last().unwrap(), "2026-07-01T00:00:00Z");
    let ids: std::collections::HashSet<&str> =
        records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2_500);
    assert!(records.iter().any(|r| r["homeTenantId"] == PARTNER));
    assert!(records.iter().any(|r| r["status"]["errorCode"] != 0));

    // 2,500 records a minute apart from 2026-07-01T00:00Z: the last day (from 2026-07-02T00:00Z on) holds
    // records 1440..2499.
    let q = "/beta/auditLogs/signIns?$filter=createdDateTime+ge+2026-07-02T00:00:00Z+and+signInEventTypes/any(t:+t+eq+'interactiveUser')&$top=500";
    let (pages, records) = count_pages(&fake, &t, q).await;
    assert_eq!(records.len(), 1_060);
    assert_eq!(pages, 3);
    assert!(
        records
            .iter()
            .all(|r| r["createdDateTime"].as_str().unwrap() >= "2026-07-02T00:00:00Z")
    );
    let q = "/beta/auditLogs/signIns?$filter=createdDateTime+ge+2026-07-02T00:00:00Z+and+createdDateTime+lt+2026-07-02T01:00:00Z";
    let (_, records) = count_pages(&fake, &t, q).await;
    assert_eq!(records.len(), 60);

    // v1.0 sign-ins are not generated.
    assert_eq!(get(&fake, &t, "/v1.0/auditLogs/signIns").await.0, 404);
}

#[tokio::test]
async fn fake_generated_sign_ins_scale_without_walking() {
    // 300,000 records: the first page and a filtered tail come back at once.
    let fake = start_with(vec![generated_customer(300_000)]).await;
    let t = token(&fake, CUSTOMER).await;
    let started = std::time::Instant::now();
    let (_, _, body) = get(&fake, &t, "/beta/auditLogs/signIns").await;
    assert_eq!(body["value"].as_array().unwrap().len(), 1000);
    let next = body["@odata.nextLink"].as_str().unwrap();
    // Page 150 by editing nothing but following links would take long; jump with a filter instead.
    assert!(next.contains("$skiptoken="));
    let newest = body["value"][0]["createdDateTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let cutoff = (chrono::DateTime::parse_from_rfc3339(&newest).unwrap()
        - chrono::Duration::minutes(1_499))
    .to_rfc3339();
    let q = format!("/beta/auditLogs/signIns?$filter=createdDateTime ge {cutoff}");
    let (pages, records) = count_pages(&fake, &t, &q.replace(' ', "%20").replace('+', "%2B")).await;
    assert_eq!((pages, records.len()), (2, 1_500));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn fake_logs_selected_headers_never_authorization() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    http()
        .get(format!("{}/v1.0/contracts", fake.url()))
        .bearer_auth(&t)
        .header("User-Agent", "gdap-audit-test/1")
        .header("client-request-id", "11111111-2222-3333-4444-555555555555")
        .header("Prefer", "include-unknown-enum-members")
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    let r = fake
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v1.0/contracts")
        .unwrap();
    assert_eq!(r.method, "GET");
    assert_eq!(r.header("User-Agent"), Some("gdap-audit-test/1"));
    assert_eq!(
        r.header("client-request-id"),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(r.header("prefer"), Some("include-unknown-enum-members"));
    assert_eq!(r.header("consistencylevel"), Some("eventual"));
    assert!(r.header("authorization").is_none());
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
}

#[tokio::test]
async fn fake_survives_odd_input() {
    let fake = start().await;
    let t = token(&fake, PARTNER).await;
    let base = fake.url();
    let odd_gets = [
        "/",
        "/v1.0",
        "/v1.0/%ff%fe%00",
        "/beta/",
        "/v2.0/contracts",
        "/v1.0/contracts?$skiptoken=%%%",
        "/v1.0/contracts?$top=-1",
        "/v1.0/contracts?$top=99999999999999999999999",
        "/v1.0/auditLogs/signIns?$filter=createdDateTime%20ge%20",
        "/x/oauth2/v2.0/token",
        "/v1.0/$batch",
    ];
    for path in odd_gets {
        let resp = http()
            .get(format!("{base}{path}"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert!(resp.status().as_u16() >= 400, "{path}: {}", resp.status());
    }
    let posts: [(&str, &[u8]); 6] = [
        ("/v1.0/$batch", b"{not json"),
        ("/v1.0/$batch", br#"{"requests": "nope"}"#),
        (
            "/v1.0/$batch",
            br#"{"requests": [{"id": "1", "method": "GET", "url": "https://evil.example/x"}]}"#,
        ),
        ("/v1.0/directoryObjects/getByIds", b"\xff\xfe"),
        ("/v1.0/contracts", b""),
        (
            "/v1.0/$batch",
            br#"{"requests": [{"id": "1", "method": "GET", "url": "/$batch"}]}"#,
        ),
    ];
    for (path, body) in posts {
        let resp = http()
            .post(format!("{base}{path}"))
            .bearer_auth(&t)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let _ = resp.bytes().await.unwrap();
        assert!(status >= 200, "{path}");
    }
    let token_url = format!("{base}/{PARTNER}/oauth2/v2.0/token");
    for body in [
        &b""[..],
        b"\xff\xfe=\xff",
        b"grant_type=client_credentials&client_id=",
        b"=&&==",
    ] {
        let resp = http()
            .post(&token_url)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
    }
    assert_eq!(
        http()
            .get(&token_url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let resp = http()
        .delete(format!("{base}/v1.0/contracts"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    // Still serving.
    assert_eq!(get(&fake, &t, "/v1.0/contracts").await.0, 200);
    fake.shutdown();
}

#[tokio::test]
async fn fake_shutdown_stops_serving() {
    let fake = start().await;
    let url = fake.url();
    let t = token(&fake, PARTNER).await;
    drop(fake);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let result = reqwest::Client::new()
        .get(format!("{url}/v1.0/contracts"))
        .bearer_auth(&t)
        .send()
        .await;
    assert!(result.is_err());
}
