//! The Graph client: authenticated requests with retry, a per-tenant concurrency limit, and paging.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::Stream;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::cloud::Endpoints;
use super::error::GraphError;
use super::retry::{RetryPolicy, parse_retry_after};
use crate::auth::TokenProvider;

/// How the client talks to Graph.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub endpoints: Endpoints,
    /// Requests in flight at once for this tenant: fan-out never turns into a 429 storm.
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    /// Timeout of one attempt, body included.
    pub request_timeout: Duration,
    /// A response body larger than this is refused (a log page of 1,000 sign-ins is a few MB).
    pub max_body_bytes: usize,
    pub user_agent: String,
    /// Graph's identity reports limit (sign-ins, directory audits): at most this many requests per
    /// window per app and tenant. `None` turns the pacing off (benchmarks of our own throughput).
    pub log_rate: Option<(usize, Duration)>,
    /// Timeout of one connection attempt (TCP and TLS).
    pub connect_timeout: Duration,
    /// Connect-level failures (refused, DNS, TLS handshake, connect timeout) are retried only while
    /// less than this has passed since the first attempt: a dead endpoint fails in seconds, and the
    /// error says [`GraphError::is_unreachable`].
    pub connect_budget: Duration,
    /// Pages one collection may have before paging stops with an error: a server that keeps handing
    /// out new nextLinks must not keep us reading forever (a 1,000-record log page times this is far
    /// beyond any tenant's 30 days of sign-ins).
    pub max_pages: u64,
    /// A budget shared by the clients of several tenants (a fleet run) for the audit-log requests on
    /// top of `log_rate`: Graph's app-wide limit ([`super::pace::APP_WIDE_LOG_RATE`]).
    pub app_log_pacer: Option<Arc<super::Pacer>>,
    /// Graph's limit of the GDAP APIs (`/tenantRelationships/...`) per app and tenant, `$batch` inner
    /// requests counted one by one ([`super::pace::GDAP_RATE`]); `None` turns the pacing off.
    pub gdap_rate: Option<(usize, Duration)>,
}

impl ClientSettings {
    pub fn new(endpoints: Endpoints) -> Self {
        ClientSettings {
            endpoints,
            max_in_flight: 4,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(100),
            max_body_bytes: 32 * 1024 * 1024,
            user_agent: format!("gdap-audit/{}", env!("CARGO_PKG_VERSION")),
            log_rate: Some((5, Duration::from_secs(10))),
            connect_timeout: crate::auth::transport::CONNECT_TIMEOUT,
            connect_budget: crate::auth::transport::CONNECT_BUDGET,
            max_pages: 100_000,
            app_log_pacer: None,
            gdap_rate: Some(super::pace::GDAP_RATE),
        }
    }
}

/// One page of a Graph collection, or of an Azure Resource Manager list (which pages with a plain
/// `nextLink`; the same client serves ARM with its root as the resource root).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// ARM's `nextLink`.
    #[serde(rename = "nextLink", default)]
    pub arm_next_link: Option<String>,
}

/// Where paging of one collection stands.
struct Paging {
    next: Option<String>,
    seen: LinkSet,
    pages: u64,
}

/// The links already read in one collection, kept as 64-bit keyed hashes: a log of 100,000 pages
/// with kilobyte-long skiptokens would otherwise hold 100 MB of links. A collision (odds 2^-64 per
/// pair) would only end paging early with an error, never loop.
#[derive(Default)]
struct LinkSet {
    hasher: std::hash::RandomState,
    seen: std::collections::HashSet<u64>,
}

impl LinkSet {
    /// False when `link` was seen before.
    fn insert(&mut self, link: &str) -> bool {
        use std::hash::BuildHasher;
        self.seen.insert(self.hasher.hash_one(link))
    }
}

/// Counters for benchmarks and diagnostics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClientStats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub token_refreshes: u64,
}

/// A Graph client bound to one tenant's credentials. Cheap to clone; clones share the limit and the token.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// For retries after a 503/504 or a broken transfer: Graph asks for a new connection then.
    fresh_http: reqwest::Client,
    settings: ClientSettings,
    tokens: Arc<dyn TokenProvider>,
    permits: Semaphore,
    /// `gdap_rate`'s budget for this tenant.
    gdap_pacer: Option<super::Pacer>,
    /// This tenant's audit-log budget (`log_rate`).
    log_pacer: Option<super::Pacer>,
    /// After a 429 with `Retry-After`, no request of this tenant starts before this instant.
    not_before: Mutex<Option<Instant>>,
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    token_refreshes: AtomicU64,
}

/// A failed attempt and the server's hint on when to try again.
struct Failure {
    error: GraphError,
    retry_after: Option<Duration>,
}

/// A successful response body.
pub struct RawResponse {
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

/// How many GDAP API requests (`/tenantRelationships/...`) Graph counts for one request: 1 for such a
/// request, the inner ones for a `$batch` (Graph counts them one by one), else 0.
fn gdap_weight(url: &str, body: Option<&serde_json::Value>) -> usize {
    const GDAP: &str = "/tenantRelationships/";
    if url.contains(GDAP) {
        return 1;
    }
    if !url.split('?').next().unwrap_or(url).ends_with("/$batch") {
        return 0;
    }
    body.and_then(|b| b.get("requests"))
        .and_then(|r| r.as_array())
        .map_or(0, |requests| {
            requests
                .iter()
                .filter(|r| {
                    r.get("url")
                        .and_then(|u| u.as_str())
                        .is_some_and(|u| u.contains(GDAP))
                })
                .count()
        })
}

impl GraphClient {
    pub fn new(
        settings: ClientSettings,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<Self, GraphError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(settings.user_agent.clone())
                .timeout(settings.request_timeout)
                .connect_timeout(settings.connect_timeout)
                // Graph never redirects API calls; following one could carry the bearer token elsewhere.
                .redirect(reqwest::redirect::Policy::none())
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build()
                .map_err(|e| GraphError::Invalid(format!("cannot build the HTTP client: {e}")))
        };
        let http = built(builder())?;
        // Keeps no idle connection, so each request opens its own.
        let fresh_http = built(builder().pool_max_idle_per_host(0))?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                fresh_http,
                permits: Semaphore::new(settings.max_in_flight.max(1)),
                gdap_pacer: settings
                    .gdap_rate
                    .map(|(max, window)| super::Pacer::new(max, window)),
                log_pacer: settings
                    .log_rate
                    .map(|(max, window)| super::Pacer::new(max, window)),
                settings,
                tokens,
                not_before: Mutex::new(None),
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
                token_refreshes: AtomicU64::new(0),
            }),
        })
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.settings.endpoints
    }

    /// Obtain a token without calling Graph: proves the credentials before any collection.
    pub async fn token_check(&self) -> Result<(), crate::auth::AuthError> {
        self.inner.tokens.token(None).await.map(|_| ())
    }

    /// The tenant id (`tid` claim) of the current token, decoded without verification from the
    /// cached token (fetched first if need be). `Ok(None)` for a token that is not a JWT with a GUID
    /// `tid` (an opaque token, like the fake Graph's). Errors only when no token can be obtained.
    pub async fn token_tenant_id(&self) -> Result<Option<String>, crate::auth::AuthError> {
        let token = self.inner.tokens.token(None).await?;
        Ok(crate::auth::token_tenant_id(token.secret.expose_secret()))
    }

    /// One cheap GET (`/v1.0/organization?$select=id`) proving that Graph answers, for commands to
    /// call before collecting: `Ok(())` whenever Graph answered at all, even with an error status
    /// (a missing permission is recorded per source later). `Err` when it cannot be reached
    /// ([`GraphError::is_unreachable`], after the short connect budget) or no token could be had
    /// (`GraphError::Auth`; see [`crate::auth::AuthError::is_unreachable`] for a dead token endpoint).
    pub async fn probe(&self) -> Result<(), GraphError> {
        let url = self
            .inner
            .settings
            .endpoints
            .url("/v1.0/organization?$select=id");
        match self.send(Method::GET, &url, None, &[]).await {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Requests this client lets run at once (`--max-in-flight`): callers that fan out size their
    /// fan-out to it, so that every permit can be used and none is waited for in vain.
    pub fn max_in_flight(&self) -> usize {
        self.inner.settings.max_in_flight.max(1)
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.settings.retry
    }

    pub fn stats(&self) -> ClientStats {
        let i = &self.inner;
        ClientStats {
            requests: i.requests.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            throttled: i.throttled.load(Ordering::Relaxed),
            token_refreshes: i.token_refreshes.load(Ordering::Relaxed),
        }
    }

    /// GET one resource (`/v1.0/...`, `/beta/...` or an absolute Graph URL) and decode it.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GraphError> {
        self.get_with(path, &[]).await
    }

    /// GET with extra request headers (e.g. `ConsistencyLevel: eventual`).
    pub async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<T, GraphError> {
        let url = self.inner.settings.endpoints.url(path);
        let raw = self.send(Method::GET, &url, None, headers).await?;
        decode(&url, &raw)
    }

    /// POST a JSON body and decode the answer (for `getByIds` and `$batch`).
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GraphError> {
        let url = self.inner.settings.endpoints.url(path);
        let raw = self.send(Method::POST, &url, Some(body), &[]).await?;
        decode(&url, &raw)
    }

    /// Stream a collection page by page, following `@odata.nextLink` verbatim. Nothing beyond the
    /// current page is held: callers reduce each page before the next is fetched.
    pub fn pages<T>(
        &self,
        path: &str,
    ) -> impl Stream<Item = Result<Vec<T>, GraphError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.pages_with(path, Vec::new())
    }

    /// [`pages`](Self::pages) with extra headers, re-sent on every page (Graph does not carry them over).
    pub fn pages_with<T>(
        &self,
        path: &str,
        headers: Vec<(String, String)>,
    ) -> impl Stream<Item = Result<Vec<T>, GraphError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let first = self.inner.settings.endpoints.url(path);
        let state = Paging {
            next: Some(first),
            seen: LinkSet::default(),
            pages: 0,
        };
        futures::stream::try_unfold(state, move |mut state| {
            let client = client.clone();
            let headers = headers.clone();
            async move {
                let Some(url) = state.next.take() else {
                    return Ok(None);
                };
                client.check_paging(&url, &mut state)?;
                let refs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let raw = client.send(Method::GET, &url, None, &refs).await?;
                let page: Page<T> = decode(&url, &raw)?;
                state.next = match page.next_link.or(page.arm_next_link) {
                    Some(link) => Some(client.check_next_link(&url, &link)?),
                    None => None,
                };
                Ok(Some((page.value, state)))
            }
        })
    }

    /// Before reading page `url`: a link already read means the server's nextLinks go round in a
    /// circle (A -> B -> A), and more than `max_pages` pages means they never end. Either way the
    /// collection is incomplete, and the caller records it as failed.
    fn check_paging(&self, url: &str, state: &mut Paging) -> Result<(), GraphError> {
        let max = self.inner.settings.max_pages;
        let detail = if !state.seen.insert(url) {
            "@odata.nextLink points back to a page already read (paging loop); the collection is incomplete".to_owned()
        } else if state.pages >= max {
            format!(
                "more than {max} pages: the server keeps returning @odata.nextLink; stopped reading, the collection is incomplete"
            )
        } else {
            state.pages = state.pages.saturating_add(1);
            return Ok(());
        };
        Err(GraphError::Decode {
            url: url.to_owned(),
            detail,
            request_id: None,
        })
    }

    /// Every item of a small collection (relationships, partners, policies). Never use it for logs.
    pub async fn collect_all<T>(&self, path: &str) -> Result<Vec<T>, GraphError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        use futures::TryStreamExt;
        let mut all = Vec::new();
        let mut pages = std::pin::pin!(self.pages::<T>(path));
        while let Some(page) = pages.try_next().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// A nextLink must stay on the Graph host we were given: a hostile page must not send our token elsewhere.
    fn check_next_link(&self, from: &str, link: &str) -> Result<String, GraphError> {
        if self.inner.settings.endpoints.is_graph_url(link) {
            Ok(link.to_owned())
        } else {
            Err(GraphError::Decode {
                url: from.to_owned(),
                detail: format!(
                    "@odata.nextLink leaves the Graph endpoint {}; refusing to follow it",
                    self.inner.settings.endpoints.graph
                ),
                request_id: None,
            })
        }
    }

    /// One logical request: attempts, retries, one token refresh on 401, shared throttling pause.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse, GraphError> {
        // Every request carries the bearer token: whatever its origin (a caller's absolute URL, a link
        // inside a `$batch` answer), it goes to the Graph endpoint or nowhere.
        if !self.inner.settings.endpoints.is_graph_url(url) {
            return Err(GraphError::Invalid(format!(
                "refusing to send the Graph token to {url}: it is not under the Graph endpoint {}",
                self.inner.settings.endpoints.graph
            )));
        }
        let policy = &self.inner.settings.retry;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        let mut new_connection = false;
        let gdap = gdap_weight(url, body);
        loop {
            attempt = attempt.saturating_add(1);
            self.wait_for_throttle().await;
            let token = self.inner.tokens.token(None).await?;
            let outcome = {
                // The semaphore lives as long as the client and is never closed; were it closed, the
                // request would still go out, only without the in-flight limit.
                let _permit = self.inner.permits.acquire().await.ok();
                // Paced last, right before the request leaves: a start recorded before waiting for a
                // permit or a token could reach Graph in a later window than the pacer counted it in.
                // Every attempt is paced: Graph counts a retry too.
                self.pace_logs(url).await;
                self.pace_gdap(gdap).await;
                // A 429 elsewhere may have paused the tenant while this request waited.
                self.wait_for_throttle().await;
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                let http = if new_connection {
                    &self.inner.fresh_http
                } else {
                    &self.inner.http
                };
                self.attempt(
                    http,
                    &method,
                    url,
                    body,
                    headers,
                    token.secret.expose_secret(),
                )
                .await
            };
            let Failure { error, retry_after } = match outcome {
                Ok(raw) => return Ok(raw),
                Err(f) => f,
            };
            // A revoked or expired token: fetch a newer one once, then repeat the request.
            if error.status() == Some(401) && !error.is_unlicensed() && !refreshed {
                refreshed = true;
                self.inner.token_refreshes.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(url, "token rejected (401); fetching a fresh one");
                self.inner.tokens.token(Some(token.generation)).await?;
                continue;
            }
            if !error.is_retryable() {
                return Err(error);
            }
            new_connection = !error.is_throttled();
            let delay = policy.delay(attempt, retry_after);
            // A dead endpoint is not worth minutes of backoff: connect failures get a short budget.
            let budget = if error.is_unreachable() {
                self.inner.settings.connect_budget.min(policy.max_total)
            } else {
                policy.max_total
            };
            if attempt >= policy.max_attempts || started.elapsed().saturating_add(delay) > budget {
                return Err(GraphError::RetriesExhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            if error.is_throttled() {
                self.inner.throttled.fetch_add(1, Ordering::Relaxed);
                if retry_after.is_some() {
                    self.pause_all(delay).await;
                }
            }
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url, attempt, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn wait_for_throttle(&self) {
        let until = *self.inner.not_before.lock().await;
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Spread audit-log requests so that no more than `log_rate` start within its window: Graph allows
    /// 5 per 10 seconds per app and tenant, and reading faster only earns 429s. The app-wide budget
    /// (`app_log_pacer`, shared by a fleet's tenants) is taken while this tenant's slot is held.
    async fn pace_logs(&self, url: &str) {
        if !url.contains("/auditLogs/") {
            return;
        }
        let app = async {
            if let Some(app) = &self.inner.settings.app_log_pacer {
                app.wait().await;
            }
        };
        match &self.inner.log_pacer {
            Some(tenant) => tenant.wait_then(1, app).await,
            None => app.await,
        }
    }

    /// Wait until `n` more GDAP API requests fit this tenant's budget (`gdap_rate`).
    async fn pace_gdap(&self, n: usize) {
        if let Some(p) = &self.inner.gdap_pacer {
            p.wait_n(n).await;
        }
    }

    async fn pause_all(&self, delay: Duration) {
        let Some(until) = Instant::now().checked_add(delay) else {
            return;
        };
        let mut guard = self.inner.not_before.lock().await;
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        method: &Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
        token: &str,
    ) -> Result<RawResponse, Failure> {
        let verb = method_name(method);
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut req = http
            .request(method.clone(), url)
            .bearer_auth(token)
            .header("client-request-id", &client_request_id)
            .header("Prefer", "include-unknown-enum-members")
            .header("Accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| Failure {
            error: GraphError::Transport {
                method: verb,
                url: url.to_owned(),
                detail: describe_reqwest(&e),
                retryable: e.is_timeout() || e.is_connect() || e.is_request(),
                unreachable: e.is_connect(),
            },
            retry_after: None,
        })?;
        let status = resp.status();
        // Graph answers `request-id`; Azure Resource Manager `x-ms-request-id`.
        let request_id = header(&resp, "request-id").or_else(|| header(&resp, "x-ms-request-id"));
        let retry_after =
            header(&resp, "retry-after").and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
        tracing::debug!(
            method = verb,
            url,
            status = status.as_u16(),
            request_id = request_id.as_deref().unwrap_or(""),
            client_request_id,
            "graph"
        );
        let bytes = read_limited(resp, self.inner.settings.max_body_bytes)
            .await
            .map_err(|(detail, retryable)| Failure {
                error: if retryable {
                    GraphError::Transport {
                        method: verb,
                        url: url.to_owned(),
                        detail,
                        retryable,
                        unreachable: false,
                    }
                } else {
                    GraphError::Decode {
                        url: url.to_owned(),
                        detail,
                        request_id: request_id.clone(),
                    }
                },
                retry_after: None,
            })?;
        if status.is_success() {
            return Ok(RawResponse {
                body: bytes,
                request_id,
            });
        }
        let (code, message, inner_request_id) = parse_error_body(&bytes, status);
        Err(Failure {
            error: GraphError::Status {
                method: verb,
                url: url.to_owned(),
                status: status.as_u16(),
                code,
                message,
                request_id: request_id.or(inner_request_id),
            },
            retry_after,
        })
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// reqwest's message without the URL it sometimes embeds twice.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.without_url_ref().to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_timeout() {
            "timed out".into()
        } else if self.is_connect() {
            "cannot connect".into()
        } else if self.is_body() || self.is_decode() {
            "response body truncated or unreadable".into()
        } else {
            "request failed".into()
        }
    }
}

/// Read the body, refusing more than `max` bytes. Err((detail, retryable)).
async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, (String, bool)> {
    if let Some(len) = resp.content_length()
        && usize::try_from(len).map_or(true, |len| len > max)
    {
        return Err((
            format!("response of {len} bytes exceeds the {max}-byte limit"),
            false,
        ));
    }
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len().saturating_add(chunk.len()) > max {
                    return Err((format!("response exceeds the {max}-byte limit"), false));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                return Err((
                    format!(
                        "response body truncated after {} bytes ({})",
                        buf.len(),
                        describe_reqwest(&e)
                    ),
                    true,
                ));
            }
        }
    }
}

fn decode<T: DeserializeOwned>(url: &str, raw: &RawResponse) -> Result<T, GraphError> {
    super::lenient::from_slice(&raw.body).map_err(|e| GraphError::Decode {
        url: url.to_owned(),
        detail: format!("not the expected JSON ({e})"),
        request_id: raw.request_id.clone(),
    })
}

/// Graph's `{"error":{"code","message","innerError":{"request-id"}}}`, read leniently: casing varies
/// (`innerError`/`innererror`) and the body may not be JSON at all.
fn parse_error_body(bytes: &[u8], status: StatusCode) -> (String, String, Option<String>) {
    let fallback = || status.canonical_reason().unwrap_or("error").to_owned();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return (String::new(), fallback(), None);
    };
    let err = get_ci(&v, "error").unwrap_or(&serde_json::Value::Null);
    let code = get_ci(err, "code")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_owned();
    let message = get_ci(err, "message")
        .and_then(|m| m.as_str())
        .map(|m| truncate(m, 500))
        .unwrap_or_else(fallback);
    let mut inner = get_ci(err, "innerError");
    let mut request_id = None;
    for _ in 0..8 {
        let Some(i) = inner else { break };
        if let Some(id) = get_ci(i, "request-id").and_then(|r| r.as_str()) {
            request_id = Some(id.to_owned());
            break;
        }
        inner = get_ci(i, "innerError");
    }
    (truncate(&code, 200), message, request_id)
}

fn get_ci<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdap_weight_counts_what_graph_counts() {
        let rel =
            "https://graph.microsoft.com/v1.0/tenantRelationships/delegatedAdminRelationships";
        assert_eq!(gdap_weight(rel, None), 1);
        assert_eq!(
            gdap_weight("https://graph.microsoft.com/v1.0/organization", None),
            0
        );
        let body = serde_json::json!({"requests": [
            {"id": "1", "method": "GET", "url": "/tenantRelationships/delegatedAdminRelationships/a/accessAssignments"},
            {"id": "2", "method": "GET", "url": "/servicePrincipals"},
            {"id": "3", "method": "GET", "url": "/tenantRelationships/delegatedAdminRelationships/b/accessAssignments"},
        ]});
        assert_eq!(
            gdap_weight("https://graph.microsoft.com/v1.0/$batch", Some(&body)),
            2
        );
        assert_eq!(
            gdap_weight("https://graph.microsoft.com/v1.0/users", Some(&body)),
            0
        );
        assert_eq!(
            gdap_weight("https://graph.microsoft.com/v1.0/$batch", None),
            0
        );
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges.","innererror":{"request-id":"abc"}}}"#;
        let (code, msg, rid) = parse_error_body(body, StatusCode::FORBIDDEN);
        assert_eq!(
            (code.as_str(), msg.as_str(), rid.as_deref()),
            (
                "Authorization_RequestDenied",
                "Insufficient privileges.",
                Some("abc")
            )
        );
        let (code, msg, rid) =
            parse_error_body(b"<html>bad gateway</html>", StatusCode::BAD_GATEWAY);
        assert_eq!(
            (code.as_str(), msg.as_str(), rid),
            ("", "Bad Gateway", None)
        );
        let nested = br#"{"error":{"code":"x","message":"m","innerError":{"innerError":{"request-id":"deep"}}}}"#;
        assert_eq!(
            parse_error_body(nested, StatusCode::BAD_REQUEST)
                .2
                .as_deref(),
            Some("deep")
        );
    }
}
