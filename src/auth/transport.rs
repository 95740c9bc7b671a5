//! HTTP for token requests: a reqwest 0.13 client that never follows redirects, the closure adapter
//! that makes it an oauth2 `AsyncHttpClient`, and the mapping of oauth2 errors to `AuthError`.

use std::error::Error as _;
use std::time::Duration;

use tokio::time::Instant;

use oauth2::RequestTokenError;
use reqwest::StatusCode;

use super::errors::{EntraErrorBody, HintContext};
use super::{AuthError, BoxFuture};
use crate::graph::retry::{RetryPolicy, parse_retry_after};

/// Connect-level failures (refused, DNS, TLS handshake, connect timeout) are retried only while this
/// much time has passed since the first attempt: an endpoint that cannot be reached fails in seconds.
pub const CONNECT_BUDGET: Duration = Duration::from_secs(3);

/// Timeout of one connection attempt (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for token requests: no redirects (a 307/308 would resend the secret or assertion to the
/// new location), bounded timeouts, rustls.
pub fn token_http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("gdap-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            AuthError::Config(format!(
                "cannot set up HTTP for token requests: {}",
                describe(&e)
            ))
        })
}

/// Why the adapter produced no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{}", describe(.0))]
    Send(reqwest::Error),
    #[error("refused to follow a redirect (HTTP {0}) from the token endpoint")]
    Redirect(StatusCode),
    #[error("HTTP {0} without an OAuth error body")]
    Status(StatusCode),
    /// Transient failures until the retry budget ran out; `last` is the final one.
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp { attempts: u32, last: Box<HttpError> },
}

impl HttpError {
    /// No connection could be made at all: refused, DNS, TLS handshake, connect timeout.
    pub fn is_unreachable(&self) -> bool {
        match self {
            HttpError::Send(e) => e.is_connect(),
            HttpError::GaveUp { last, .. } => last.is_unreachable(),
            _ => false,
        }
    }

    /// Whether the same request may succeed later (a redirect or a builder error never will).
    fn is_transient(&self) -> bool {
        match self {
            HttpError::Send(e) => !e.is_builder() && !e.is_redirect(),
            HttpError::Status(s) => is_transient_status(*s),
            HttpError::Redirect(_) | HttpError::GaveUp { .. } => false,
        }
    }
}

/// Throttling and server-side failures of the token endpoint; 4xx answers (invalid_client...) are final.
fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// oauth2 5 on reqwest 0.13: a closure is an `AsyncHttpClient`. It owns a clone of the client and
/// returns a `'static` future, which keeps the token futures `Send` (a closure borrowing the client
/// trips a higher-ranked lifetime limitation).
pub fn adapter(
    client: &reqwest::Client,
) -> impl Fn(oauth2::HttpRequest) -> BoxFuture<'static, Result<oauth2::HttpResponse, HttpError>>
+ Send
+ Sync
+ use<> {
    let client = client.clone();
    move |req| {
        let client = client.clone();
        Box::pin(async move { send(&client, req).await })
    }
}

/// Send one oauth2 request with Graph's retry policy ([`RetryPolicy::default`]) and the short
/// [`CONNECT_BUDGET`].
pub async fn send(
    client: &reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    send_with(client, req, &RetryPolicy::default(), CONNECT_BUDGET).await
}

/// Send one oauth2 request, repeating it on 429 (honouring `Retry-After`, seconds or date), 5xx,
/// connection failures, resets and truncated bodies, bounded in attempts and total time. Connect-level
/// failures stop once `connect_budget` has passed. The request is resent as is: Entra accepts a
/// client assertion more than once while it is valid (MSAL reuses them too).
pub async fn send_with(
    client: &reqwest::Client,
    req: oauth2::HttpRequest,
    policy: &RetryPolicy,
    connect_budget: Duration,
) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let mut copy = http::Request::new(body.clone());
        *copy.method_mut() = parts.method.clone();
        *copy.uri_mut() = parts.uri.clone();
        *copy.headers_mut() = parts.headers.clone();
        *copy.version_mut() = parts.version;
        let result = send_once(client, copy).await;
        let (transient, unreachable, retry_after) = match &result {
            Ok(resp) => (
                is_transient_status(resp.status()),
                false,
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now())),
            ),
            Err(e) => (e.is_transient(), e.is_unreachable(), None),
        };
        if !transient {
            return result;
        }
        let delay = policy.delay(attempt, retry_after);
        let budget = if unreachable {
            connect_budget.min(policy.max_total)
        } else {
            policy.max_total
        };
        if attempt >= policy.max_attempts || started.elapsed().saturating_add(delay) > budget {
            return result.map_err(|last| HttpError::GaveUp {
                attempts: attempt,
                last: Box::new(last),
            });
        }
        let why = match &result {
            Ok(resp) => format!("HTTP {}", resp.status().as_u16()),
            Err(e) => e.to_string(),
        };
        tracing::debug!(
            url = %display_url(&parts.uri.to_string()),
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %why,
            "retrying the token request"
        );
        tokio::time::sleep(delay).await;
    }
}

/// One attempt: a redirect or a non-OAuth error page is an error, anything else the response.
async fn send_once(
    client: &reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let req = reqwest::Request::try_from(req).map_err(HttpError::Send)?;
    let resp = client.execute(req).await.map_err(HttpError::Send)?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(HttpError::Redirect(status));
    }
    let mut builder = http::Response::builder().status(status);
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let body = resp.bytes().await.map_err(HttpError::Send)?.to_vec();
    if !status.is_success() && EntraErrorBody::parse(&body).is_none() {
        // A proxy page, an HTML 5xx...: say the status, never echo the body.
        return Err(HttpError::Status(status));
    }
    builder
        .body(body)
        .map_err(|_| HttpError::Status(StatusCode::BAD_GATEWAY))
}

/// A reqwest error with its causes, without the URL (the caller names the URL itself).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    out.push_str(kind);
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `url` without query, fragment or credentials, for messages.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Map an oauth2 request error to `AuthError`. Never includes a response body (a half-parsed
/// success response would carry the token).
pub fn map_request_error<TE>(
    err: RequestTokenError<HttpError, TE>,
    url: &str,
    ctx: &HintContext,
) -> AuthError
where
    TE: oauth2::ErrorResponse + 'static,
    for<'a> &'a TE: Into<EntraErrorBody>,
{
    match err {
        RequestTokenError::ServerResponse(e) => (&e).into().into_auth_error(ctx),
        RequestTokenError::Request(e) => AuthError::Transport {
            url: display_url(url),
            unreachable: e.is_unreachable(),
            detail: e.to_string(),
        },
        RequestTokenError::Parse(e, body) => {
            if let Some(entra) = EntraErrorBody::parse(&body) {
                return entra.into_auth_error(ctx);
            }
            let path = e.path().to_string();
            let category = match e.inner().classify() {
                serde_json::error::Category::Io => "I/O error",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "unexpected JSON",
                serde_json::error::Category::Eof => "truncated JSON",
            };
            AuthError::Transport {
                url: display_url(url),
                detail: format!("could not read the token response ({category} at `{path}`)"),
                unreachable: false,
            }
        }
        RequestTokenError::Other(detail) => AuthError::Transport {
            url: display_url(url),
            detail,
            unreachable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_and_credentials() {
        assert_eq!(
            display_url("https://user:pw@login.example.com/t/oauth2/v2.0/token?x=secret#f"),
            "https://login.example.com/t/oauth2/v2.0/token"
        );
        assert_eq!(display_url("not a url?q=1"), "not a url");
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error_naming_the_url() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/tenant/oauth2/v2.0/token");
        let client = token_http_client().unwrap();
        let req = http::Request::builder()
            .method("POST")
            .uri(&url)
            .body(b"client_secret=hush".to_vec())
            .unwrap();
        let err = send(&client, req).await.unwrap_err();
        let mapped = map_request_error::<EntraErrorBody>(
            RequestTokenError::Request(err),
            &url,
            &HintContext::default(),
        );
        let text = mapped.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("connect"), "{text}");
        assert!(!text.contains("hush"), "{text}");
    }
}
