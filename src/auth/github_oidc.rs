//! GitHub Actions OIDC: the workflow's ID token used as the client assertion (jwt-bearer) at the
//! Entra token endpoint, for an app with a federated credential that trusts the repository.
//!
//! `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange` with
//! `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` answers `{"value": "<jwt>"}` (the workflow
//! needs `permissions: id-token: write`). The ID token lives a few minutes: it is kept while its
//! `exp` is more than a minute away and fetched again after that.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::AuthError;
use super::managed_identity::{as_i64, short};
use super::transport::{describe, display_url};

/// The audience Entra expects of a federated assertion (public cloud and the national clouds).
pub const AZURE_AD_TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange";
/// Fetch a new ID token when the current one has less than this left.
const REUSE_MARGIN_SECS: i64 = 60;

/// Where to get the workflow's ID token.
pub struct GitHubOidc {
    http: reqwest::Client,
    /// ACTIONS_ID_TOKEN_REQUEST_URL.
    request_url: String,
    /// ACTIONS_ID_TOKEN_REQUEST_TOKEN.
    request_token: SecretString,
    /// The last ID token and its `exp` (Unix seconds; `None` when it had none: never reused).
    cached: Mutex<Option<(SecretString, Option<i64>)>>,
}

impl std::fmt::Debug for GitHubOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubOidc")
            .field("request_url", &display_url(&self.request_url))
            .field("request_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl GitHubOidc {
    pub fn new(http: reqwest::Client, request_url: String, request_token: SecretString) -> Self {
        GitHubOidc {
            http,
            request_url,
            request_token,
            cached: Mutex::new(None),
        }
    }

    /// The request URL with the Entra audience, checked: https, or http on loopback (tests).
    fn url(&self) -> Result<url::Url, AuthError> {
        let mut url = url::Url::parse(&self.request_url).map_err(|e| {
            AuthError::Config(format!(
                "ACTIONS_ID_TOKEN_REQUEST_URL {} is not a URL: {e}",
                display_url(&self.request_url)
            ))
        })?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(AuthError::Config(format!(
                "ACTIONS_ID_TOKEN_REQUEST_URL {} must be https (it carries the request token)",
                display_url(&self.request_url)
            )));
        }
        url.query_pairs_mut()
            .append_pair("audience", AZURE_AD_TOKEN_EXCHANGE);
        Ok(url)
    }

    /// A valid ID token: the cached one while it has more than a minute left, else a new one.
    pub async fn assertion(&self) -> Result<SecretString, AuthError> {
        self.assertion_at(chrono::Utc::now().timestamp()).await
    }

    pub async fn assertion_at(&self, now: i64) -> Result<SecretString, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, Some(exp))) = cached.as_ref()
            && exp.saturating_sub(REUSE_MARGIN_SECS) > now
        {
            return Ok(token.clone());
        }
        let token = self.fetch().await?;
        let exp = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token.expose_secret())
            .ok()
            .and_then(|c| c.get("exp").and_then(as_i64));
        tracing::debug!(expires = ?exp, "fetched a GitHub Actions ID token");
        *cached = Some((token.clone(), exp));
        Ok(token)
    }

    async fn fetch(&self) -> Result<SecretString, AuthError> {
        let url = self.url()?;
        let shown = display_url(url.as_str());
        let transport = |detail: String, unreachable: bool| AuthError::Transport {
            url: shown.clone(),
            detail,
            unreachable,
        };
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let sent = self
                .http
                .get(url.clone())
                .bearer_auth(self.request_token.expose_secret())
                .header("Accept", "application/json")
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_server_error() && attempt < 3 => {}
                Ok(r) => break r,
                Err(e) if !e.is_connect() && attempt < 3 => {}
                Err(e) => return Err(transport(describe(&e), e.is_connect())),
            }
            tokio::time::sleep(Duration::from_millis(500) * attempt).await;
        };
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport(describe(&e), false))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(short))
                .unwrap_or_else(|| "no error message".into());
            let hint = match status.as_u16() {
                401 | 403 => {
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN was refused: give the job `permissions: id-token: write` \
                     and run in the job that GitHub set it for"
                }
                _ => "GitHub could not issue the ID token; re-run the job",
            };
            return Err(AuthError::Rejected {
                aadsts: None,
                error: format!(
                    "GitHub OIDC token request answered HTTP {}",
                    status.as_u16()
                ),
                description: message,
                hint: hint.into(),
            });
        }
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("value").and_then(Value::as_str).map(str::to_owned))
            .filter(|v| !v.trim().is_empty())
            .map(|v| SecretString::from(v.trim()))
            .ok_or_else(|| transport("answered without {\"value\": <ID token>}".into(), false))
    }
}
