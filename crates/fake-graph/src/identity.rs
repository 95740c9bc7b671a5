//! Loopback fakes of the endpoints that hand out credentials without a secret, issuing tokens that a
//! [`FakeGraph`](crate::FakeGraph) accepts:
//!
//! * Azure IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=C]`
//!   with `Metadata: true`; answers like IMDS (`expires_in`/`expires_on` as strings; errors as
//!   `{"error","error_description"}`).
//! * App Service / Functions / Container Apps: `GET /msi/token?api-version=2019-08-01&resource=R` with
//!   `X-IDENTITY-HEADER`; answers `expires_on` as a string, errors as `{"statusCode","message","correlationId"}`.
//! * GitHub Actions: `GET /_apis/idtoken?...&audience=A` with `Authorization: Bearer <request token>`;
//!   answers `{"count":1,"value":"<ID token>"}`.
//!
//! Tests point the client at it with AZURE_POD_IDENTITY_AUTHORITY_HOST (IMDS), IDENTITY_ENDPOINT
//! (App Service) and ACTIONS_ID_TOKEN_REQUEST_URL (GitHub).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::TokenIssuer;

/// What the fake identity endpoints accept and hand out.
#[derive(Debug, Clone)]
pub struct FakeIdentityConfig {
    /// The resource tokens are asked for: the fake Graph's root (its URL).
    pub resource: String,
    /// Whether a system-assigned identity exists (requests without `client_id`).
    pub system_assigned: bool,
    /// Client ids of the user-assigned identities.
    pub user_assigned: Vec<String>,
    /// The App Service IDENTITY_HEADER value.
    pub identity_header: String,
    /// GitHub's ACTIONS_ID_TOKEN_REQUEST_TOKEN value.
    pub github_request_token: String,
    /// The ID token GitHub hands out (register it as the fake app's `federated_assertion`).
    pub github_id_token: String,
}

/// One request to the fake, for assertions (a test fake: header values are kept).
#[derive(Debug, Clone)]
pub struct IdentityRequest {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
}

struct IdState {
    config: FakeIdentityConfig,
    issuer: TokenIssuer,
    requests: Vec<IdentityRequest>,
    /// Canned answers served before the real ones (status, body), in order.
    queued: VecDeque<(u16, Value)>,
}

/// The running fake; dropping it stops the server.
pub struct FakeIdentity {
    base: String,
    state: Arc<Mutex<IdState>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIdentity")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<IdState>) -> MutexGuard<'_, IdState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeIdentity {
    /// Binds `127.0.0.1:0`; tokens are issued by `issuer` (from [`crate::FakeGraph::issuer`]) for its
    /// first tenant.
    pub async fn start(config: FakeIdentityConfig, issuer: TokenIssuer) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(Mutex::new(IdState {
            config,
            issuer,
            requests: Vec::new(),
            queued: VecDeque::new(),
        }));
        let (stop, mut stopped) = watch::channel(false);
        let app = Router::new().fallback(handle).with_state(state.clone());
        let task = tokio::spawn(async move {
            let signal = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!("fake identity server stopped: {e}");
            }
        });
        Ok(FakeIdentity {
            base,
            state,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: the IMDS authority (AZURE_POD_IDENTITY_AUTHORITY_HOST).
    pub fn imds_base(&self) -> String {
        self.base.clone()
    }

    /// IDENTITY_ENDPOINT for App Service.
    pub fn app_service_endpoint(&self) -> String {
        format!("{}/msi/token", self.base)
    }

    /// ACTIONS_ID_TOKEN_REQUEST_URL (already has a query, as GitHub's does).
    pub fn github_request_url(&self) -> String {
        format!("{}/_apis/idtoken?api-version=2.0", self.base)
    }

    /// Serve `status` with `body` for the next request (any endpoint), before the normal answers.
    pub fn push_reply(&self, status: u16, body: Value) {
        lock(&self.state).queued.push_back((status, body));
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<IdentityRequest> {
        lock(&self.state).requests.clone()
    }

    /// Changes the ID token GitHub hands out from now on.
    pub fn set_github_id_token(&self, token: impl Into<String>) {
        lock(&self.state).config.github_id_token = token.into();
    }
}

impl Drop for FakeIdentity {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.take();
    }
}

fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

async fn handle(State(state): State<Arc<Mutex<IdState>>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut s = lock(&state);
    s.requests.push(IdentityRequest {
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
    });
    if let Some((status, body)) = s.queued.pop_front() {
        return reply(status, body);
    }
    match path.as_str() {
        "/metadata/identity/oauth2/token" => imds(&s, &query, &headers),
        "/msi/token" => app_service(&s, &query, &headers),
        "/_apis/idtoken" => github(&s, &query, &headers),
        _ => reply(
            404,
            json!({"error": "not_found", "error_description": path}),
        ),
    }
}

/// Which identity a request names; `Err` when there is none such.
fn identity(s: &IdState, query: &BTreeMap<String, String>) -> Result<String, ()> {
    match query.get("client_id") {
        Some(id) if s.config.user_assigned.iter().any(|u| u == id) => Ok(id.clone()),
        Some(_) => Err(()),
        None if s.config.system_assigned => Ok("5a5a5a5a-0000-4000-8000-00000000005a".into()),
        None => Err(()),
    }
}

fn issue(s: &IdState, query: &BTreeMap<String, String>, client_id: &str) -> Value {
    let (token, expires_in) = s.issuer.issue_for_first_tenant();
    let now = chrono::Utc::now().timestamp();
    json!({
        "access_token": token,
        "client_id": client_id,
        "expires_in": expires_in.to_string(),
        "expires_on": (now + expires_in as i64).to_string(),
        "ext_expires_in": expires_in.to_string(),
        "not_before": now.to_string(),
        "resource": query.get("resource"),
        "token_type": "Bearer",
    })
}

fn imds(
    s: &IdState,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
) -> Response {
    let bad = |error: &str, description: &str| {
        reply(
            400,
            json!({"error": error, "error_description": description}),
        )
    };
    if headers.get("metadata").map(String::as_str) != Some("true") {
        return bad("invalid_request", "Required metadata header not specified");
    }
    if query.get("api-version").map(String::as_str) != Some("2018-02-01") {
        return bad("invalid_request", "Invalid API version");
    }
    if query.get("resource") != Some(&s.config.resource) {
        return bad(
            "invalid_resource",
            "AADSTS500011: The resource principal named the requested resource was not found in the tenant.",
        );
    }
    match identity(s, query) {
        Ok(id) => reply(200, issue(s, query, &id)),
        Err(()) => bad("invalid_request", "Identity not found"),
    }
}

fn app_service(
    s: &IdState,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
) -> Response {
    let fail = |status: u16, message: &str| {
        reply(
            status,
            json!({"statusCode": status, "message": message, "correlationId": "00000000-0000-0000-0000-00000000c0de"}),
        )
    };
    if headers.get("x-identity-header") != Some(&s.config.identity_header) {
        return fail(
            401,
            "Unauthorized: X-IDENTITY-HEADER is missing or invalid.",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return fail(400, "The api-version is not supported.");
    }
    if query.get("resource") != Some(&s.config.resource) {
        return fail(
            400,
            "AADSTS500011: The resource principal was not found in the tenant.",
        );
    }
    match identity(s, query) {
        Ok(id) => {
            let mut body = issue(s, query, &id);
            // App Service answers no expires_in.
            if let Some(o) = body.as_object_mut() {
                o.remove("expires_in");
                o.remove("ext_expires_in");
            }
            reply(200, body)
        }
        Err(()) => fail(400, "Unable to load the proper Managed Identity."),
    }
}

fn github(
    s: &IdState,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
) -> Response {
    let expected = format!("Bearer {}", s.config.github_request_token);
    if headers.get("authorization") != Some(&expected) {
        return reply(401, json!({"message": "Bad credentials"}));
    }
    if query.get("audience").map(String::as_str) != Some("api://AzureADTokenExchange") {
        return reply(400, json!({"message": "Unexpected audience"}));
    }
    reply(200, json!({"count": 1, "value": s.config.github_id_token}))
}
