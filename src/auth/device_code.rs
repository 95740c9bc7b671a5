//! Delegated sign-in with the device code flow (research/graph-api.md §5.9): show the message, poll
//! the token endpoint, then keep the refresh token so later refreshes do not ask the user again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth2::basic::BasicTokenResponse;
use oauth2::{
    DeviceAuthorizationResponse, DeviceAuthorizationUrl, DeviceCodeErrorResponse,
    DeviceCodeErrorResponseType, ExtraDeviceAuthorizationFields, RefreshToken, RequestTokenError,
    Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};

use super::cache::{FreshToken, TokenSource};
use super::client_credentials::{entra_client, fresh_token};
use super::errors::{EntraErrorBody, HintContext};
use super::refresh_token::RefreshTokenStore;
use super::transport::{HttpError, adapter, display_url, map_request_error};
use super::{AuthError, BoxFuture, DeviceCodeCallback};

/// Entra's extra field on the device authorization response: the text to show the user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EntraDeviceFields {
    #[serde(default)]
    pub message: Option<String>,
}

impl ExtraDeviceAuthorizationFields for EntraDeviceFields {}

/// The device-code credential.
pub struct DeviceCodeSource {
    http: reqwest::Client,
    client_id: String,
    token_url: String,
    device_code_url: String,
    /// The Graph `.default` scope; `offline_access` is added to get a refresh token.
    scope: String,
    show: DeviceCodeCallback,
    /// Replaces the server's polling `interval` when set (tests); `slow_down` then adds the same
    /// amount again per occurrence instead of 5 s.
    poll_interval: Option<Duration>,
    refresh_token: Mutex<Option<SecretString>>,
    /// Where the sign-in's refresh token is also saved (`--device-code --refresh-token-file`).
    sink: Option<Arc<RefreshTokenStore>>,
    hints: Arc<HintContext>,
}

impl std::fmt::Debug for DeviceCodeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeSource")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .field("device_code_url", &self.device_code_url)
            .field("scope", &self.scope)
            .field("poll_interval", &self.poll_interval)
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// Floor under the server's interval, so a server answering `interval: 0` is not hammered.
const MIN_SERVER_INTERVAL: Duration = Duration::from_secs(1);
/// RFC 8628 `slow_down` increment, as applied by oauth2.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Longest wait between two polls, whatever interval the server asks for.
const MAX_POLL_WAIT: Duration = Duration::from_secs(60);

impl DeviceCodeSource {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        client_id: String,
        token_url: String,
        device_code_url: String,
        scope: String,
        show: DeviceCodeCallback,
        poll_interval: Option<Duration>,
        hints: Arc<HintContext>,
    ) -> Self {
        DeviceCodeSource {
            http,
            client_id,
            token_url,
            device_code_url,
            scope,
            show,
            poll_interval,
            refresh_token: Mutex::new(None),
            sink: None,
            hints,
        }
    }

    /// Also saves every refresh token received (the sign-in's and rotated ones) to this store.
    pub fn with_refresh_token_sink(mut self, sink: Option<Arc<RefreshTokenStore>>) -> Self {
        self.sink = sink;
        self
    }

    async fn save_refresh_token(&self, resp: &BasicTokenResponse) {
        if let (Some(sink), Some(rt)) = (&self.sink, resp.refresh_token()) {
            sink.update(SecretString::from(rt.secret().as_str())).await;
        }
    }

    fn scopes(&self) -> [Scope; 2] {
        [
            Scope::new(self.scope.clone()),
            Scope::new("offline_access".into()),
        ]
    }

    fn keep_refresh_token(&self, resp: &BasicTokenResponse) {
        if let Some(rt) = resp.refresh_token() {
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(SecretString::from(rt.secret().as_str()));
        }
    }

    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        let saved = self
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(rt) = saved {
            match self.refresh(&rt).await {
                Ok(t) => return Ok(t),
                Err(AuthError::Rejected { error, aadsts, .. }) if error == "invalid_grant" => {
                    tracing::debug!(
                        aadsts = aadsts.as_deref(),
                        "refresh token refused; signing in again with a device code"
                    );
                    *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.sign_in().await
    }

    async fn refresh(&self, rt: &SecretString) -> Result<FreshToken, AuthError> {
        tracing::debug!(
            credential = "device code",
            "refreshing with the refresh token"
        );
        let client = entra_client(&self.client_id, &self.token_url)?;
        let adapter = adapter(&self.http);
        let rt = RefreshToken::new(rt.expose_secret().to_owned());
        let resp = client
            .exchange_refresh_token(&rt)
            .add_scopes(self.scopes())
            .request_async(&adapter)
            .await
            .map_err(|e| map_request_error(e, &self.token_url, &self.hints))?;
        self.keep_refresh_token(&resp);
        self.save_refresh_token(&resp).await;
        Ok(fresh_token(&resp))
    }

    async fn sign_in(&self) -> Result<FreshToken, AuthError> {
        let url = DeviceAuthorizationUrl::new(self.device_code_url.clone()).map_err(|e| {
            AuthError::Config(format!(
                "device code URL {} is invalid: {e}",
                display_url(&self.device_code_url)
            ))
        })?;
        let client =
            entra_client(&self.client_id, &self.token_url)?.set_device_authorization_url(url);
        let adapter = adapter(&self.http);
        let details: DeviceAuthorizationResponse<EntraDeviceFields> = client
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request_async(&adapter)
            .await
            .map_err(|e| map_request_error(e, &self.device_code_url, &self.hints))?;
        let message = details.extra_fields().message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                details.verification_uri().as_str(),
                details.user_code().secret()
            )
        });
        (self.show)(&message);

        let server = details.interval();
        let replaced = self.poll_interval;
        tracing::debug!(
            interval_secs = server.as_secs(),
            expires_in_secs = details.expires_in().as_secs(),
            "polling for the device-code sign-in"
        );
        // oauth2 computes the wait (server interval, +5 s per slow_down, doubled on transport
        // errors); apply the floor or the test override here.
        let sleep = move |wanted: Duration| {
            let wait = match replaced {
                None => wanted.max(MIN_SERVER_INTERVAL),
                Some(base) => {
                    let steps =
                        wanted.saturating_sub(server).as_secs_f64() / SLOW_DOWN_STEP.as_secs_f64();
                    Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + steps)).unwrap_or(base)
                }
            };
            // The interval comes from the server: never park for longer than the cap.
            let wait = wait.min(MAX_POLL_WAIT);
            tokio::time::sleep(wait)
        };
        let resp = client
            .exchange_device_access_token(&details)
            .request_async(&adapter, sleep, None)
            .await
            .map_err(|e| self.map_poll_error(e, details.expires_in()))?;
        self.keep_refresh_token(&resp);
        self.save_refresh_token(&resp).await;
        Ok(fresh_token(&resp))
    }

    fn map_poll_error(
        &self,
        e: RequestTokenError<HttpError, DeviceCodeErrorResponse>,
        expires_in: Duration,
    ) -> AuthError {
        let RequestTokenError::ServerResponse(resp) = e else {
            return map_request_error(e, &self.token_url, &self.hints);
        };
        let body = EntraErrorBody::from(&resp);
        let detail = |what: &str| {
            let d = body.short_description();
            let code = body
                .aadsts()
                .map(|c| format!(" (AADSTS{c})"))
                .unwrap_or_default();
            if d.is_empty() {
                format!("{what}{code}")
            } else {
                format!("{what}{code}: {d}")
            }
        };
        match resp.error() {
            DeviceCodeErrorResponseType::ExpiredToken => AuthError::DeviceCode(detail(&format!(
                "the code expired before the sign-in was completed (it is valid for {} minutes); run again",
                expires_in.as_secs().div_ceil(60)
            ))),
            DeviceCodeErrorResponseType::AccessDenied => {
                AuthError::DeviceCode(detail("the sign-in was declined"))
            }
            other => match other.as_ref() {
                "authorization_declined" => {
                    AuthError::DeviceCode(detail("the sign-in was declined"))
                }
                "bad_verification_code" => AuthError::DeviceCode(detail(
                    "the token endpoint did not recognise the device code",
                )),
                _ => body.into_auth_error(&self.hints),
            },
        }
    }
}

impl TokenSource for DeviceCodeSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        "device code"
    }
}
