//! A loopback fake of Microsoft Graph and the Entra token endpoint, serving recorded fixtures.
//!
//! Used by the integration tests, by `gdap-audit demo` and by the benchmarks. It runs in-process on
//! `127.0.0.1` with an ephemeral port; [`FakeGraph::url`] is both the Graph root (`--graph-url`) and the
//! login root (`--login-url`).
//!
//! What it does (see `shared/research/graph-api.md` §5 for the real service):
//! * **Token endpoint** `POST /{tenant}/oauth2/v2.0/token` and `POST /{tenant}/oauth2/v2.0/devicecode`,
//!   strict like Entra (unknown tenant, unknown client, wrong scope, wrong secret, certificate assertions
//!   checked for thumbprint, signature, audience, issuer and time), answering Entra-shaped errors.
//!   Access tokens are random, issued per tenant, and expire after `token_lifetime`.
//! * **Graph** `/v1.0/...` and `/beta/...`: a bearer token selects the tenant whose routes are served.
//!   Collections are paged (`$top`, caps, `@odata.nextLink` with an opaque `$skiptoken`), log date
//!   filters are applied, `$batch` and `directoryObjects/getByIds` work, and a body with a top-level
//!   `"@fake.status": N` is served with status N.
//! * **Faults** ([`Fault`]) queued by tests: throttling, 503/504, revoked tokens, delays, truncated
//!   bodies, arbitrary errors, pathological JSON.
//! * **Chaos** ([`ChaosConfig`], [`FakeGraph::set_chaos`]): faults of every kind drawn at random from a
//!   seed for every request, logged ([`FakeGraph::chaos_log`]).
//! * **Latency** ([`FakeGraphConfig::latency`]): every Graph request answered after a delay, like the
//!   real service's round trip (benchmarks).
//! * **Graph's documented limits** ([`GraphLimits`], [`FakeGraphConfig::limits`]): per-tenant and
//!   app-wide request budgets answered with 429 and `Retry-After` when spent, counted
//!   ([`FakeGraph::throttled_count`]).
//! * **A request log** ([`FakeGraph::requests`], [`FakeGraph::token_requests`]) for assertions. The
//!   `Authorization` header is never recorded.

// Test infrastructure: it serves our own fixtures to our own client, in tests and the demo; a panic here
// fails a test, never an audit of outside data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test infrastructure serving the project's own fixtures"
)]

mod arm;
mod chaos;
mod fixtures;
pub mod fleet;
mod graph;
mod identity;
mod limits;
mod signins;
mod token;
mod util;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use chaos::{ChaosConfig, ChaosFault, Injection};
pub use fleet::{CustomerCase, Fleet, FleetCustomer, FleetSpec, fleet};
pub use identity::{FakeIdentity, FakeIdentityConfig, IdentityRequest};
pub use limits::{Budget, GraphLimits};

/// Largest request body the fake reads (a `$batch` of 20 requests is far below this).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Everything the fake serves.
#[derive(Debug, Clone)]
pub struct FakeGraphConfig {
    pub tenants: Vec<FakeTenant>,
    pub app: FakeApp,
    /// Lifetime of issued access tokens (`expires_in` is its whole seconds).
    pub token_lifetime: Duration,
    /// How many device-code polls answer `authorization_pending` before the sign-in "completes".
    pub device_pending_polls: u32,
    /// Every Graph request (a `$batch` once, not per inner request) is answered this much later, like
    /// Graph's round trip; token requests are not delayed. `None`: at once.
    pub latency: Option<Duration>,
    /// Graph's request budgets, answered with 429 when spent; `None` (the default): unlimited.
    pub limits: Option<GraphLimits>,
}

impl FakeGraphConfig {
    /// Tokens valid for an hour, device code completing after one pending poll.
    pub fn new(tenants: Vec<FakeTenant>, app: FakeApp) -> FakeGraphConfig {
        FakeGraphConfig {
            tenants,
            app,
            token_lifetime: Duration::from_secs(3599),
            device_pending_polls: 1,
            latency: None,
            limits: None,
        }
    }
}

/// The one application registration the token endpoint knows.
#[derive(Debug, Clone, Default)]
pub struct FakeApp {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub certificate: Option<FakeCertificate>,
    /// A federated token (e.g. a workload-identity file's content) accepted verbatim as `client_assertion`.
    pub federated_assertion: Option<String>,
}

impl FakeApp {
    /// An app that authenticates with a client secret.
    pub fn with_secret(client_id: impl Into<String>, secret: impl Into<String>) -> FakeApp {
        FakeApp {
            client_id: client_id.into(),
            client_secret: Some(secret.into()),
            ..FakeApp::default()
        }
    }
}

/// A certificate credential registered on the app.
#[derive(Debug, Clone)]
pub struct FakeCertificate {
    /// PEM certificate: its DER gives the accepted `x5t` (SHA-1) and `x5t#S256` (SHA-256) thumbprints.
    pub cert_pem: String,
    /// PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) that verifies assertion signatures.
    pub public_key_pem: String,
}

/// One tenant: the token endpoint issues tokens for it and Graph serves its routes to those tokens.
#[derive(Debug, Clone)]
pub struct FakeTenant {
    pub tenant_id: String,
    /// Route key (`/v1.0/...`, `/beta/...`, or `POST /v1.0/...`) to response body.
    pub routes: BTreeMap<String, Value>,
    /// When set, `/beta/auditLogs/signIns` is computed by this generator instead of read from `routes`.
    pub generated_sign_ins: Option<SignInGenerator>,
    /// Client ids with a service principal (consent) in this tenant; `None`: every client. The token
    /// endpoint refuses the others like Entra: client credentials with AADSTS7000229, a refresh token
    /// with AADSTS65001.
    pub consented_clients: Option<Vec<String>>,
    /// Partner tenants whose users reach this tenant through GDAP: their refresh tokens are redeemable
    /// at this tenant's token endpoint (the Secure Application Model). A refresh token from any other
    /// tenant is refused with AADSTS50020.
    pub gdap_partners: Vec<String>,
    /// The tenant's own throttling: its first Graph requests answer 429.
    pub throttle: Option<TenantThrottle>,
}

/// A tenant that throttles hard: its first `first_requests` Graph requests (top-level, after
/// authentication) answer 429 `TooManyRequests` with this `Retry-After`; later ones are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantThrottle {
    pub first_requests: u32,
    pub retry_after: String,
}

/// A synthetic sign-in log of any size: record `k` (0 = oldest) is computed from `k` alone and created at
/// `start + k * step_secs`; pages are served newest first, so the first record served is the one at
/// [`SignInGenerator::newest`]. Nothing is materialised beyond the page being served.
///
/// Mix of records: `crossTenantAccessType` mostly `serviceProvider`, about 5 % each
/// `b2bCollaboration,serviceProvider` and `none` (home tenant = resource tenant); `homeTenantId` cycles
/// through `partner_tenant_ids`; about 20 % failures (`status.errorCode` 50126 or 50074), about 12 %
/// `singleFactorAuthentication`; several apps and countries; 7 users per partner.
#[derive(Debug, Clone)]
pub struct SignInGenerator {
    pub count: u64,
    /// Time of the oldest record.
    pub start: DateTime<Utc>,
    /// Seconds between consecutive records (a negative value counts as its absolute value).
    pub step_secs: i64,
    pub partner_tenant_ids: Vec<String>,
    pub resource_tenant_id: String,
    /// When set, this percentage of the records (0-100, by record) are the tenant's own sign-ins
    /// (`crossTenantAccessType` `none`) instead of about 5 %: a log where partner activity is a small
    /// share, as on a real tenant.
    pub local_percent: Option<u8>,
}

/// A fault to inject into the next `times` requests whose path (decoded, with its query string)
/// contains `path_contains`, checked after authentication. Inner requests of a `$batch` are matched
/// one by one on their own path (`/v1.0/...`); the `$batch` request itself on `/v1.0/$batch`. Token
/// endpoint requests are matched on `/{tenant}/oauth2/v2.0/token`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub path_contains: String,
    pub times: u32,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(path_contains: impl Into<String>, times: u32, kind: FaultKind) -> Fault {
        Fault {
            path_contains: path_contains.into(),
            times,
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 with this `Retry-After` (seconds, as sent), or none.
    TooManyRequests { retry_after: Option<String> },
    /// 503 with this `Retry-After`, or none.
    ServiceUnavailable { retry_after: Option<String> },
    /// 504.
    GatewayTimeout,
    /// 401 InvalidAuthenticationToken, and the presented token is revoked as well.
    TokenRevoked,
    /// The request is answered normally after this delay.
    Delay(Duration),
    /// The normal answer with the full `Content-Length`, but the connection closes halfway through the
    /// body. Inside a `$batch`, the whole batch response is cut.
    TruncatedBody,
    /// Any Graph error (`{"error":{"code","message","innerError"}}`) with this status.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// 200 with a collection whose one item holds arrays nested `depth` deep.
    DeeplyNested { depth: usize },
    /// 200 with a collection whose one item has a `displayName` of `bytes` bytes.
    HugeString { bytes: usize },
    /// This status and body, byte for byte (duplicate keys, hand-made nextLinks, absurd numbers).
    RawBody { status: u16, body: String },
}

/// One Graph request the fake received. Inner `$batch` requests are logged too (with `in_batch`),
/// after their `$batch`; token-endpoint requests are not (see [`FakeGraph::token_requests`]).
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// As received (still percent-encoded); for a `$batch` inner request `/v1.0` + its relative URL.
    pub path_and_query: String,
    pub received_at: Instant,
    /// Selected headers, lowercase names: `user-agent`, `client-request-id`, `prefer`,
    /// `consistencylevel`. Never `authorization`.
    pub headers: BTreeMap<String, String>,
    pub in_batch: bool,
    /// The client's port: a different port means a different TCP connection.
    pub peer_port: Option<u16>,
}

impl LoggedRequest {
    /// A recorded header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The path, percent-decoded, without the query string.
    pub fn path(&self) -> String {
        util::percent_decode(self.path_and_query.split('?').next().unwrap_or(""))
    }

    /// A query parameter, decoded (`$filter`, `$top`, ...), name compared case-insensitively.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let raw = self
            .path_and_query
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("");
        util::Query::parse(raw).get(name).map(str::to_owned)
    }
}

const LOGGED_HEADERS: [&str; 4] = [
    "user-agent",
    "client-request-id",
    "prefer",
    "consistencylevel",
];

/// The running fake. Dropping it (or [`FakeGraph::shutdown`]) stops the server.
pub struct FakeGraph {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph")
            .field("url", &self.shared.base)
            .finish_non_exhaustive()
    }
}

impl FakeGraph {
    /// Binds `127.0.0.1:0` and serves in a task of the current tokio runtime. Fails on a bad
    /// configuration (unparsable certificate, malformed route key) as `InvalidInput`.
    pub async fn start(config: FakeGraphConfig) -> std::io::Result<FakeGraph> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://127.0.0.1:{}", addr.port());
        let shared = Arc::new(Shared::new(config, base)?);
        let (stop, mut stopped) = watch::channel(false);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let signal = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(signal)
            .await
            {
                tracing::warn!("fake graph server stopped: {e}");
            }
        });
        Ok(FakeGraph {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    /// `http://127.0.0.1:PORT/arm`: the Azure Resource Manager root (`--arm-url`); tokens for it are asked
    /// with the scope `{arm_url}/.default` and are refused by the Graph routes (and Graph's by ARM).
    pub fn arm_url(&self) -> String {
        format!("{}{}", self.shared.base, arm::PREFIX)
    }

    /// Queues a fault; faults are checked in the order queued.
    pub fn push_fault(&self, fault: Fault) {
        if fault.times > 0 {
            self.shared.lock().faults.push_back(fault);
        }
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Turns chaos on with this configuration (forgetting the previous one's draws and log), or off.
    pub fn set_chaos(&self, config: Option<ChaosConfig>) {
        self.shared.lock().chaos = config.map(chaos::Chaos::new);
    }

    /// What chaos injected since it was last set, in order of injection.
    pub fn chaos_log(&self) -> Vec<Injection> {
        self.shared
            .lock()
            .chaos
            .as_ref()
            .map(|c| c.log().to_vec())
            .unwrap_or_default()
    }

    /// Makes every access token issued so far invalid (401 InvalidAuthenticationToken). Refresh tokens
    /// stay valid and new tokens can be obtained.
    pub fn revoke_tokens(&self) {
        for t in self.shared.lock().access.values_mut() {
            t.revoked = true;
        }
    }

    /// Every Graph request received so far (not the token endpoint's), in order of arrival.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the request logs (requests and token requests).
    pub fn clear_requests(&self) {
        let mut m = self.shared.lock();
        m.requests.clear();
        m.token_requests.clear();
    }

    /// The form fields of every request the token and device-code endpoints received, plus `"_path"`
    /// (the decoded request path). Credentials included: this is a test fake.
    pub fn token_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.shared.lock().token_requests.clone()
    }

    /// A refresh token for a user of `home_tenant` (as a device-code sign-in there would give), for
    /// tests of the refresh-token route. Unknown tenants get one too: the token endpoint decides.
    pub fn issue_refresh_token(&self, home_tenant: &str) -> String {
        token::new_refresh_token(&self.shared, &home_tenant.to_ascii_lowercase())
    }

    /// Expires every refresh token issued so far (AADSTS700082 when redeemed); new ones are valid.
    pub fn expire_refresh_tokens(&self) {
        for g in self.shared.lock().refresh.values_mut() {
            g.expired = true;
        }
    }

    /// The refresh tokens issued so far, rotated ones included (tests check none leaks into output).
    pub fn issued_refresh_token_values(&self) -> Vec<String> {
        self.shared.lock().refresh.keys().cloned().collect()
    }

    /// Issues access tokens this fake accepts, for the fakes of other token sources ([`FakeIdentity`]).
    pub fn issuer(&self) -> TokenIssuer {
        TokenIssuer(self.shared.clone())
    }

    /// How many requests (inner `$batch` requests included) were answered 429 because one of
    /// [`FakeGraphConfig::limits`]' budgets was spent; queued faults and chaos are not counted.
    pub fn throttled_count(&self) -> u64 {
        self.shared
            .lock()
            .limiter
            .as_ref()
            .map_or(0, |l| l.throttled)
    }

    /// Number of access tokens issued so far.
    pub fn issued_tokens(&self) -> usize {
        self.shared.lock().access.len()
    }

    /// The access tokens issued so far (tests check that none of them leaks into any output).
    pub fn issued_token_values(&self) -> Vec<String> {
        self.shared.lock().access.keys().cloned().collect()
    }

    /// Stops the server: no new connections; open ones close once their current request is answered.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        self.task.take();
    }
}

/// Hands out access tokens that a [`FakeGraph`] accepts, as if its token endpoint had issued them.
#[derive(Clone)]
pub struct TokenIssuer(Arc<Shared>);

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TokenIssuer").field(&self.0.base).finish()
    }
}

impl TokenIssuer {
    /// A token for `tenant_id` and its lifetime in seconds.
    pub fn issue(&self, tenant_id: &str) -> (String, u64) {
        token::issue(&self.0, &tenant_id.to_ascii_lowercase(), false)
    }

    /// A token for the first configured tenant.
    pub fn issue_for_first_tenant(&self) -> (String, u64) {
        let tenant = self.0.first_tenant.clone().unwrap_or_default();
        token::issue(&self.0, &tenant, false)
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.stop_now();
    }
}

// ----------------------------------------------------------------------------------------------------
// Shared state

pub(crate) struct Tenant {
    pub tenant_id: String,
    /// `route_id(method, path)` -> body
    pub routes: HashMap<String, Value>,
    pub generated_sign_ins: Option<SignInGenerator>,
    pub consented_clients: Option<Vec<String>>,
    /// Lowercase partner tenant ids.
    pub gdap_partners: Vec<String>,
    pub throttle: Option<TenantThrottle>,
}

impl Tenant {
    /// Whether `client_id` has a service principal here.
    pub fn consented(&self, client_id: &str) -> bool {
        self.consented_clients
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|c| c.eq_ignore_ascii_case(client_id)))
    }
}

pub(crate) struct App {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub federated_assertion: Option<String>,
    pub certificate: Option<token::CertInfo>,
}

pub(crate) struct Shared {
    pub base: String,
    /// Keyed by lowercase tenant id; the first configured tenant also answers `organizations`/`common`.
    pub tenants: HashMap<String, Arc<Tenant>>,
    pub first_tenant: Option<String>,
    pub app: App,
    pub token_lifetime: Duration,
    pub device_pending_polls: u32,
    pub latency: Option<Duration>,
    state: Mutex<Mutable>,
}

#[derive(Default)]
pub(crate) struct Mutable {
    pub requests: Vec<LoggedRequest>,
    pub token_requests: Vec<BTreeMap<String, String>>,
    pub faults: VecDeque<Fault>,
    pub access: HashMap<String, token::IssuedToken>,
    pub refresh: HashMap<String, token::RefreshGrant>,
    pub devices: HashMap<String, token::DeviceGrant>,
    pub chaos: Option<chaos::Chaos>,
    /// Graph requests received per tenant (lowercase id), for [`TenantThrottle`].
    pub tenant_requests: HashMap<String, u32>,
    pub limiter: Option<limits::Limiter>,
}

impl Shared {
    fn new(config: FakeGraphConfig, base: String) -> std::io::Result<Shared> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        let mut tenants = HashMap::new();
        let mut first_tenant = None;
        for t in config.tenants {
            let mut routes = HashMap::new();
            for (key, body) in t.routes {
                let (method, path) = fixtures::split_route_key(&key)
                    .map_err(|e| invalid(format!("tenant {}: route {key:?}: {e}", t.tenant_id)))?;
                routes.insert(fixtures::route_id(&method, &path), body);
            }
            let id = t.tenant_id.to_ascii_lowercase();
            first_tenant.get_or_insert_with(|| id.clone());
            tenants.insert(
                id,
                Arc::new(Tenant {
                    tenant_id: t.tenant_id,
                    routes,
                    generated_sign_ins: t.generated_sign_ins,
                    consented_clients: t.consented_clients,
                    gdap_partners: t
                        .gdap_partners
                        .iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect(),
                    throttle: t.throttle,
                }),
            );
        }
        let certificate = match &config.app.certificate {
            Some(c) => Some(token::CertInfo::new(c).map_err(invalid)?),
            None => None,
        };
        Ok(Shared {
            base,
            tenants,
            first_tenant,
            app: App {
                client_id: config.app.client_id,
                client_secret: config.app.client_secret,
                federated_assertion: config.app.federated_assertion,
                certificate,
            },
            token_lifetime: config.token_lifetime,
            device_pending_polls: config.device_pending_polls,
            latency: config.latency,
            state: Mutex::new(Mutable {
                limiter: config.limits.map(limits::Limiter::new),
                ..Mutable::default()
            }),
        })
    }

    /// The mutable state; a poisoned lock is recovered (the fake never gives up serving).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one use of the first queued fault matching `target`.
    pub(crate) fn take_fault(&self, target: &str) -> Option<FaultKind> {
        let mut m = self.lock();
        let idx = m
            .faults
            .iter()
            .position(|f| target.contains(&f.path_contains))?;
        let fault = m.faults.get_mut(idx)?;
        let kind = fault.kind.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            m.faults.remove(idx);
        }
        Some(kind)
    }

    pub(crate) fn log(
        &self,
        method: &str,
        path_and_query: String,
        headers: &HeaderMap,
        in_batch: bool,
        peer_port: Option<u16>,
    ) {
        let mut logged = BTreeMap::new();
        for name in LOGGED_HEADERS {
            if let Some(v) = headers.get(name) {
                logged.insert(
                    name.to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                );
            }
        }
        self.lock().requests.push(LoggedRequest {
            method: method.to_owned(),
            path_and_query,
            received_at: Instant::now(),
            headers: logged,
            in_batch,
            peer_port,
        });
    }

    /// `Err(reply)` when the request spends a budget of the emulated limits (429 with `Retry-After`).
    pub(crate) fn check_limits(
        &self,
        tenant: &str,
        method: &str,
        path: &str,
        raw_query: &str,
    ) -> Result<(), limits::Refusal> {
        match self.lock().limiter.as_mut() {
            Some(l) => l.check(
                &tenant.to_ascii_lowercase(),
                method,
                path,
                raw_query,
                Instant::now(),
            ),
            None => Ok(()),
        }
    }

    pub(crate) fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        let id = id.to_ascii_lowercase();
        let id = match id.as_str() {
            "organizations" | "common" => self.first_tenant.clone()?,
            _ => id,
        };
        self.tenants.get(&id).cloned()
    }
}

// ----------------------------------------------------------------------------------------------------
// Replies

/// A response before it becomes HTTP: lets `$batch` embed inner replies.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Always JSON (possibly deliberately broken by a fault).
    pub body: Vec<u8>,
    /// Close the connection halfway through the body.
    pub truncate: bool,
    /// Close the connection before any byte of the body (wins over `truncate`).
    pub reset: bool,
    pub content_type: &'static str,
}

pub(crate) const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
pub(crate) const LOGIN_JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::raw(status, serde_json::to_vec(body).unwrap_or_default())
    }

    pub fn raw(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
            truncate: false,
            reset: false,
            content_type: GRAPH_JSON,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Per-request identifiers echoed in headers and error bodies.
#[derive(Debug, Clone)]
pub(crate) struct ReqIds {
    pub request_id: String,
    pub client_request_id: String,
}

impl ReqIds {
    fn from_headers(headers: &HeaderMap) -> ReqIds {
        let request_id = util::guid();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        ReqIds {
            request_id,
            client_request_id,
        }
    }
}

fn into_response(reply: Reply, ids: &ReqIds) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let full_len = reply.body.len();
    let body = if reply.reset {
        // No byte of the body: the client loses the connection as the answer starts.
        Body::from_stream(futures::stream::once(async {
            Err::<Bytes, _>(std::io::Error::other("fake graph: connection reset"))
        }))
    } else if reply.truncate {
        use futures::StreamExt as _;
        // Half the body, a pause (so the head and that half are flushed to the client), then an error:
        // hyper closes the connection short of the announced Content-Length.
        let half = Bytes::copy_from_slice(&reply.body[..full_len / 2]);
        let cut = futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<Bytes, _>(std::io::Error::other("fake graph: truncated body fault"))
        });
        Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(cut))
    } else {
        Body::from(reply.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.append(n, v);
        }
    };
    put("content-type", reply.content_type);
    put("content-length", &full_len.to_string());
    put("request-id", &ids.request_id);
    put("client-request-id", &ids.client_request_id);
    put("cache-control", "no-cache");
    if reply.content_type == GRAPH_JSON {
        put("odata-version", "4.0");
        put(
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"FAKE-GRAPH"}}"#,
        );
    }
    for (name, value) in &reply.headers {
        put(name, value);
    }
    response
}

// ----------------------------------------------------------------------------------------------------
// Dispatch

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.as_str().to_owned();
    let decoded = util::percent_decode(&raw_path);
    let login = token::login_path(&decoded);
    if login.is_none() {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.port());
        shared.log(&method, path_and_query, &parts.headers, false, peer);
    }
    let ids = ReqIds::from_headers(&parts.headers);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let reply = graph::error_reply(
                413,
                "RequestEntityTooLarge",
                "The request body is too large.",
                &ids,
            );
            return into_response(reply, &ids);
        }
    };
    let arm_path = decoded
        .strip_prefix(arm::PREFIX)
        .filter(|rest| rest.starts_with('/'))
        .map(str::to_owned);
    let reply = if let Some(path) = arm_path {
        let req = arm::ArmRequest {
            method,
            path,
            query: util::Query::parse(&raw_query),
        };
        arm::handle(&shared, req, &raw_query, &parts.headers, &ids).await
    } else if let Some((tenant, endpoint)) = login {
        token::handle(
            &shared,
            &method,
            &tenant,
            endpoint,
            &decoded,
            &parts.headers,
            &body,
            &ids,
        )
        .await
    } else {
        let req = graph::GraphRequest {
            method,
            raw_path,
            path: decoded,
            query: util::Query::parse(&raw_query),
            body: body.to_vec(),
        };
        graph::handle(&shared, req, &parts.headers, &ids).await
    };
    into_response(reply, &ids)
}
