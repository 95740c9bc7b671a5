//! Managed identity: tokens from the Azure platform, no secret anywhere (research/graph-api.md §7.3).
//!
//! * App Service, Functions, Container Apps: `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R`
//!   with `X-IDENTITY-HEADER: $IDENTITY_HEADER`; the answer's `expires_on` is epoch seconds (a string).
//! * Virtual machines, scale sets, AKS, Automation (IMDS): `GET
//!   http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R` with
//!   `Metadata: true`; the answer has `expires_in` and `expires_on` (strings). The base can be moved with
//!   AZURE_POD_IDENTITY_AUTHORITY_HOST, as azure-identity and MSAL allow (tests point it at loopback).
//!
//! A user-assigned identity is chosen by its client id (`client_id=`, from AZURE_CLIENT_ID). Errors come
//! as `{"error","error_description"}` (IMDS, Entra-like) or `{"statusCode","message"}` (App Service).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::cache::{FreshToken, TokenSource};
use super::client_credentials::DEFAULT_LIFETIME;
use super::errors::{EntraErrorBody, HintContext};
use super::transport::{describe, display_url};
use super::{AuthError, BoxFuture};

/// The IMDS address on every Azure VM.
pub const IMDS_DEFAULT_BASE: &str = "http://169.254.169.254";
pub const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
pub const IMDS_API_VERSION: &str = "2018-02-01";
pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// Off Azure nothing answers at 169.254.169.254: give up connecting quickly.
pub const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts for answers Microsoft documents as transient (IMDS: 404 while an identity is being
/// assigned, 410 while IMDS updates, 429, 5xx).
const MAX_ATTEMPTS: u32 = 3;
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How much of an error message from the endpoint is shown.
const MAX_MESSAGE: usize = 300;

/// Where the platform's identity endpoint is.
#[derive(Clone)]
pub enum ManagedIdentityEndpoint {
    /// IMDS at `base` (scheme, host and port; the token path is added).
    Imds { base: String },
    /// App Service / Functions / Container Apps: IDENTITY_ENDPOINT and IDENTITY_HEADER.
    AppService {
        endpoint: String,
        header: SecretString,
    },
}

impl std::fmt::Debug for ManagedIdentityEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagedIdentityEndpoint::Imds { base } => {
                f.debug_struct("Imds").field("base", base).finish()
            }
            ManagedIdentityEndpoint::AppService { endpoint, .. } => f
                .debug_struct("AppService")
                .field("endpoint", &display_url(endpoint))
                .field("header", &"[redacted]")
                .finish(),
        }
    }
}

impl ManagedIdentityEndpoint {
    /// The env var a message should name.
    fn source_name(&self) -> &'static str {
        match self {
            ManagedIdentityEndpoint::Imds { .. } => "IMDS",
            ManagedIdentityEndpoint::AppService { .. } => "IDENTITY_ENDPOINT",
        }
    }

    /// The token URL without query. http is accepted only on loopback and link-local addresses (where
    /// the platform serves it); anything else must be https.
    fn token_url(&self) -> Result<url::Url, AuthError> {
        let (raw, what) = match self {
            ManagedIdentityEndpoint::Imds { base } => (
                format!("{}{IMDS_TOKEN_PATH}", base.trim_end_matches('/')),
                "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            ),
            ManagedIdentityEndpoint::AppService { endpoint, .. } => {
                (endpoint.clone(), "IDENTITY_ENDPOINT")
            }
        };
        let url = url::Url::parse(&raw).map_err(|e| {
            AuthError::Config(format!("{what} {} is not a URL: {e}", display_url(&raw)))
        })?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_platform_local(&url) => Ok(url),
            _ => Err(AuthError::Config(format!(
                "{what} {}: the managed identity endpoint must be https, or http on a loopback or \
                 link-local address",
                display_url(&raw)
            ))),
        }
    }
}

/// Loopback (127.0.0.0/8, ::1, localhost) or link-local IPv4 (169.254.0.0/16, where IMDS and the
/// Linux App Service identity endpoint live).
fn is_platform_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// An HTTP client for the identity endpoint: short connect timeout (fail fast off Azure), no
/// redirects, bounded overall time, and never through a proxy (the endpoint is local to the host, and
/// App Service's `X-IDENTITY-HEADER` must not reach a proxy).
pub fn identity_http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(IMDS_CONNECT_TIMEOUT)
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("gdap-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            AuthError::Config(format!(
                "cannot set up HTTP for managed identity: {}",
                describe(&e)
            ))
        })
}

/// Fetches Graph tokens for the managed identity.
pub struct ManagedIdentitySource {
    http: reqwest::Client,
    endpoint: ManagedIdentityEndpoint,
    /// The Graph root (`https://graph.microsoft.com`): managed identity takes a resource, not a scope.
    resource: String,
    /// Client id of a user-assigned identity; `None` for the system-assigned one.
    client_id: Option<String>,
    hints: HintContext,
}

impl std::fmt::Debug for ManagedIdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentitySource")
            .field("endpoint", &self.endpoint)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentitySource {
    pub fn new(
        http: reqwest::Client,
        endpoint: ManagedIdentityEndpoint,
        resource: String,
        client_id: Option<String>,
        hints: HintContext,
    ) -> Self {
        ManagedIdentitySource {
            http,
            endpoint,
            resource,
            client_id,
            hints,
        }
    }

    pub fn endpoint(&self) -> &ManagedIdentityEndpoint {
        &self.endpoint
    }

    fn request(&self, url: &url::Url) -> reqwest::RequestBuilder {
        let mut url = url.clone();
        {
            let mut q = url.query_pairs_mut();
            let version = match &self.endpoint {
                ManagedIdentityEndpoint::Imds { .. } => IMDS_API_VERSION,
                ManagedIdentityEndpoint::AppService { .. } => APP_SERVICE_API_VERSION,
            };
            q.append_pair("api-version", version);
            q.append_pair("resource", &self.resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        let req = self.http.get(url);
        match &self.endpoint {
            ManagedIdentityEndpoint::Imds { .. } => req.header("Metadata", "true"),
            ManagedIdentityEndpoint::AppService { header, .. } => {
                req.header("X-IDENTITY-HEADER", header.expose_secret())
            }
        }
    }

    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        let url = self.endpoint.token_url()?;
        let shown = display_url(url.as_str());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = match self.request(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    // Not reachable: off Azure (IMDS), or the platform endpoint is down. No retry for a
                    // connection that could not be made: that is the fail-fast probe.
                    let unreachable = e.is_connect();
                    if !unreachable && attempt < MAX_ATTEMPTS {
                        tokio::time::sleep(RETRY_DELAY * attempt).await;
                        continue;
                    }
                    return Err(AuthError::Transport {
                        url: shown,
                        detail: describe(&e),
                        unreachable,
                    });
                }
            };
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| AuthError::Transport {
                url: shown.clone(),
                detail: describe(&e),
                unreachable: false,
            })?;
            if status.is_success() {
                return parse_token(&body, chrono::Utc::now().timestamp(), &shown);
            }
            let code = status.as_u16();
            let imds = matches!(self.endpoint, ManagedIdentityEndpoint::Imds { .. });
            let transient = matches!(code, 429 | 500..=599) || (imds && matches!(code, 404 | 410));
            if transient && attempt < MAX_ATTEMPTS {
                tracing::debug!(
                    status = status.as_u16(),
                    attempt,
                    "managed identity endpoint answered a transient error; retrying"
                );
                tokio::time::sleep(RETRY_DELAY * attempt).await;
                continue;
            }
            return Err(self.error(status, &body));
        }
    }

    /// The endpoint's error, with what to do.
    fn error(&self, status: reqwest::StatusCode, body: &[u8]) -> AuthError {
        let source = self.endpoint.source_name();
        // IMDS passes Entra's errors on ({"error","error_description"} with AADSTS codes).
        if let Some(entra) = EntraErrorBody::parse(body) {
            let aadsts = entra.aadsts();
            let mut err = entra.into_auth_error(&self.hints);
            if aadsts.is_none()
                && let AuthError::Rejected { hint, .. } = &mut err
            {
                *hint = self.hint(status);
            }
            return err;
        }
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.pointer("/error/message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(|m| short(&m))
            .unwrap_or_else(|| "no error message".into());
        AuthError::Rejected {
            aadsts: None,
            error: format!("{source} answered HTTP {}", status.as_u16()),
            description: message,
            hint: self.hint(status),
        }
    }

    fn hint(&self, status: reqwest::StatusCode) -> String {
        let who = match &self.client_id {
            Some(id) => format!("the user-assigned identity with client id {id} (AZURE_CLIENT_ID)"),
            None => "a system-assigned identity".into(),
        };
        match (&self.endpoint, status.as_u16()) {
            (ManagedIdentityEndpoint::AppService { .. }, 401 | 403) => {
                "IDENTITY_HEADER was refused: run inside the App Service / Functions / Container Apps \
                 process that the platform set IDENTITY_ENDPOINT and IDENTITY_HEADER for"
                    .into()
            }
            (_, 400 | 404) => format!(
                "no managed identity found: assign {who} to this resource; for a user-assigned \
                 identity set AZURE_CLIENT_ID to its client id (not its object id)"
            ),
            _ => format!(
                "the managed identity endpoint failed for {who}; try again, or choose another \
                 credential with --credential"
            ),
        }
    }
}

impl TokenSource for ManagedIdentitySource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        "managed identity"
    }
}

/// First line, at most [`MAX_MESSAGE`] characters.
pub(crate) fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}...", line.get(..i).unwrap_or(line)),
        None => line.to_owned(),
    }
}

/// A JSON number or a string of digits (the identity endpoints send both).
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The success body: `access_token`, and the lifetime from `expires_on` (epoch seconds) relative to
/// `now`, else `expires_in`, else an hour. Never echoes the body (it holds the token).
pub(crate) fn parse_token(body: &[u8], now: i64, url: &str) -> Result<FreshToken, AuthError> {
    let garbage = |what: &str| AuthError::Transport {
        url: url.to_owned(),
        detail: format!("the managed identity endpoint answered {what}"),
        unreachable: false,
    };
    let v: Value =
        serde_json::from_slice(body).map_err(|_| garbage("something that is not JSON"))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| garbage("JSON without an access_token"))?;
    let lifetime = match (
        v.get("expires_on").and_then(as_i64),
        v.get("expires_in").and_then(as_i64),
    ) {
        (Some(on), _) => match on.checked_sub(now) {
            Some(left) if left > 0 => Duration::from_secs(left.unsigned_abs()),
            _ => return Err(garbage("a token that has already expired (expires_on)")),
        },
        (None, Some(secs)) if secs > 0 => Duration::from_secs(secs.unsigned_abs()),
        (None, Some(_)) => return Err(garbage("a token that has already expired (expires_in)")),
        (None, None) => DEFAULT_LIFETIME,
    };
    Ok(FreshToken {
        secret: SecretString::from(token),
        expires_in: lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_prefers_expires_on_then_expires_in() {
        let now = 1_800_000_000;
        let t = parse_token(
            br#"{"access_token":"at","expires_on":"1800003600","expires_in":"86399","resource":"r","token_type":"Bearer"}"#,
            now,
            "u",
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(3600));
        assert_eq!(t.secret.expose_secret(), "at");
        let t = parse_token(
            br#"{"access_token":"at","expires_on":1800000060}"#,
            now,
            "u",
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(60));
        let t = parse_token(br#"{"access_token":"at","expires_in":"120"}"#, now, "u").unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(120));
        let t = parse_token(br#"{"access_token":"at"}"#, now, "u").unwrap();
        assert_eq!(t.expires_in, DEFAULT_LIFETIME);
    }

    #[test]
    fn bad_bodies_are_errors_that_never_echo_the_body() {
        let now = 1_800_000_000;
        for body in [
            &br#"not json at-secret"#[..],
            br#"{"token":"at-secret"}"#,
            br#"{"access_token":"  "}"#,
            br#"{"access_token":"at-secret","expires_on":"1700000000"}"#,
            br#"{"access_token":"at-secret","expires_on":"-9223372036854775808"}"#,
            br#"{"access_token":"at-secret","expires_in":-5}"#,
        ] {
            let err = parse_token(body, now, "http://127.0.0.1:1/t")
                .unwrap_err()
                .to_string();
            assert!(!err.contains("at-secret"), "{err}");
            assert!(err.contains("managed identity"), "{err}");
        }
        // Huge numbers never overflow.
        let t = parse_token(
            br#"{"access_token":"at","expires_on":9223372036854775807}"#,
            i64::MIN,
            "u",
        );
        assert!(t.is_err());
    }

    #[test]
    fn plain_http_only_on_loopback_and_link_local() {
        let imds = |base: &str| ManagedIdentityEndpoint::Imds { base: base.into() }.token_url();
        assert_eq!(
            imds(IMDS_DEFAULT_BASE).unwrap().as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token"
        );
        assert!(imds("http://127.0.0.1:5000/").is_ok());
        assert!(imds("http://localhost:5000").is_ok());
        assert!(imds("http://[::1]:5000").is_ok());
        assert!(imds("https://imds.example.com").is_ok());
        for bad in [
            "http://imds.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "::",
        ] {
            let err = imds(bad).unwrap_err().to_string();
            assert!(err.contains("AZURE_POD_IDENTITY_AUTHORITY_HOST"), "{err}");
        }
        let app = ManagedIdentityEndpoint::AppService {
            endpoint: "http://169.254.129.5:8081/msi/token".into(),
            header: SecretString::from("h"),
        };
        assert!(app.token_url().is_ok());
        let app = ManagedIdentityEndpoint::AppService {
            endpoint: "http://evil.example/msi/token".into(),
            header: SecretString::from("h"),
        };
        assert!(
            app.token_url()
                .unwrap_err()
                .to_string()
                .contains("IDENTITY_ENDPOINT")
        );
    }

    #[test]
    fn debug_hides_the_identity_header() {
        let app = ManagedIdentityEndpoint::AppService {
            endpoint: "http://127.0.0.1:1/msi/token?x=1".into(),
            header: SecretString::from("hdr-secret-value"),
        };
        let dbg = format!("{app:?}");
        assert!(
            !dbg.contains("hdr-secret-value") && dbg.contains("redacted"),
            "{dbg}"
        );
    }

    #[test]
    fn short_cuts_long_messages() {
        assert_eq!(short("one\ntwo"), "one");
        let long = "x".repeat(1000);
        assert_eq!(short(&long).len(), MAX_MESSAGE + 3);
    }
}
