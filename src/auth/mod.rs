//! Credentials: one `TokenProvider` interface over every way of getting a Graph token.
//!
//! Tokens and assertions are `SecretString`s: they are never logged, printed or serialized.
//!
//! [`provider`] picks the credential from [`AuthSettings`] (`--credential`, or the default chain in
//! [`chain`]: refresh token, GRAPH_ACCESS_TOKEN, certificate, client secret, federated token file,
//! GitHub OIDC, managed identity, Azure CLI) and wraps it in a [`cache::TokenCache`] that refreshes
//! before expiry and never fetches twice at once.

pub mod arm;
pub mod azure_cli;
pub mod cache;
pub mod certificate;
pub mod chain;
pub mod client_credentials;
pub mod customer;
pub mod device_code;
pub mod errors;
pub mod github_oidc;
pub mod managed_identity;
pub mod refresh_token;
pub mod static_token;
pub mod transport;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::graph::cloud::Endpoints;

pub use cache::{FreshToken, TokenCache, TokenSource};
pub use certificate::CertificateCredential;
pub use chain::CredentialKind;
pub use client_credentials::{ClientCredential, ClientCredentialsSource};
pub use customer::{CustomerTokenRoute, CustomerTokens, customer_provider};
pub use device_code::DeviceCodeSource;
pub use errors::{EntraErrorBody, HintContext};
pub use refresh_token::{REFRESH_TOKEN_ENV, RefreshTokenSource, RefreshTokenStore};
pub use static_token::StaticToken;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bearer token for Graph.
#[derive(Clone)]
pub struct AccessToken {
    pub secret: SecretString,
    /// When the token stops being valid (monotonic clock).
    pub expires_at: Instant,
    /// Increases each time the provider fetches a new token; lets a caller that saw a 401 ask for a
    /// token newer than the rejected one without making every concurrent caller refetch.
    pub generation: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Something that hands out Graph access tokens.
pub trait TokenProvider: Send + Sync {
    /// A currently valid token. `rejected` is the generation of a token Graph just refused (401); the
    /// provider then returns a newer one, fetching at most once however many callers ask.
    fn token(&self, rejected: Option<u64>) -> BoxFuture<'_, Result<AccessToken, AuthError>>;

    /// Short human name of the credential kind, for messages ("client secret", "certificate", ...).
    fn kind(&self) -> &'static str;
}

/// Why no token could be obtained. Messages carry the AADSTS code and what to fix; never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint refused the request.
    #[error("authentication failed{}: {error}: {description}\n  hint: {hint}", aadsts.as_deref().map(|c| format!(" (AADSTS{c})")).unwrap_or_default())]
    Rejected {
        /// The AADSTS number, e.g. "7000215".
        aadsts: Option<String>,
        /// OAuth `error`, e.g. "invalid_client".
        error: String,
        /// First line of `error_description` (trace and correlation ids dropped).
        description: String,
        /// One sentence on what to fix.
        hint: String,
    },
    /// Credentials are missing or unusable before any request (no tenant, unreadable certificate...).
    #[error("{0}")]
    Config(String),
    /// The token endpoint could not be reached or answered garbage.
    #[error("token endpoint {url}: {detail}")]
    Transport {
        url: String,
        detail: String,
        /// No connection could be made at all (refused, DNS, TLS handshake, connect timeout).
        unreachable: bool,
    },
    /// Device-code sign-in ended without a token (declined, expired).
    #[error("device code sign-in failed: {0}")]
    DeviceCode(String),
}

impl AuthError {
    /// The token endpoint could not be reached at all (after the short connect-retry budget).
    pub fn is_unreachable(&self) -> bool {
        self.unreachable_url().is_some()
    }

    /// The token endpoint URL (without query) that could not be reached.
    pub fn unreachable_url(&self) -> Option<&str> {
        match self {
            AuthError::Transport {
                url,
                unreachable: true,
                ..
            } => Some(url),
            _ => None,
        }
    }
}

/// The tenant id (`tid` claim) of a JWT access token, read WITHOUT verifying the signature: only to
/// learn which tenant a token is for, never to trust it. Lower-cased; `None` when the token is not a
/// JWT or its `tid` is not a GUID (an opaque token, a B2C or consumer token).
pub fn token_tenant_id(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tid {
        tid: Option<serde_json::Value>,
    }
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let claims: Tid = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    let tid = claims.tid?;
    let tid = tid.as_str()?;
    is_guid(tid).then(|| crate::model::tenant_id::normalise(tid))
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Shows the device-code sign-in message to the user (the CLI prints it on stderr).
pub type DeviceCodeCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// Signature algorithm and thumbprint header of the certificate assertion.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AssertionAlg {
    /// PS256 with `x5t#S256` (SHA-256 thumbprint): what Microsoft documents today.
    #[default]
    Ps256,
    /// RS256 with `x5t` (SHA-1 thumbprint): the older form, still widely accepted.
    Rs256,
}

/// Everything needed to obtain Graph tokens. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct AuthSettings {
    /// Tenant id or verified domain (`--tenant`, AZURE_TENANT_ID).
    pub tenant: String,
    /// App (client) id (`--client-id`, AZURE_CLIENT_ID).
    pub client_id: Option<String>,
    /// From AZURE_CLIENT_SECRET only.
    pub client_secret: Option<SecretString>,
    /// PEM with the private key and certificate (`--certificate`, AZURE_CLIENT_CERTIFICATE_PATH).
    pub certificate: Option<PathBuf>,
    pub assertion_alg: AssertionAlg,
    /// AZURE_FEDERATED_TOKEN_FILE.
    pub federated_token_file: Option<PathBuf>,
    /// GRAPH_ACCESS_TOKEN.
    pub access_token: Option<SecretString>,
    /// `--device-code`.
    pub device_code: bool,
    /// `--credential`: use this one only instead of the default chain.
    pub credential: Option<CredentialKind>,
    /// AZURE_CLIENT_CERTIFICATE_PASSWORD: opens a PFX or an encrypted PEM key.
    pub certificate_password: Option<SecretString>,
    /// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub Actions).
    pub github_oidc: Option<GitHubOidcSettings>,
    /// IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service, Functions, Container Apps).
    pub app_service_identity: Option<AppServiceIdentity>,
    /// IMDS base URL to probe for a managed identity; `None` (the default) never probes it. The CLI
    /// sets it (169.254.169.254, or AZURE_POD_IDENTITY_AUTHORITY_HOST).
    pub imds: Option<String>,
    /// The `az` executable found on PATH; `None` leaves the Azure CLI out of the chain.
    pub azure_cli: Option<PathBuf>,
    /// A partner admin's refresh token (GDAP_AUDIT_REFRESH_TOKEN or `--refresh-token-file`): the
    /// refresh-token route. With `--device-code`, where the sign-in's refresh token is saved instead.
    pub refresh_token: Option<Arc<RefreshTokenStore>>,
    pub endpoints: Endpoints,
    /// Shows the device-code message.
    pub show_device_code: DeviceCodeCallback,
    /// Refresh a cached token when less than this much life remains (default 5 minutes; capped at
    /// half the token lifetime so a short-lived token is still reused).
    pub refresh_margin: Duration,
    /// Replaces the server's device-code polling interval (tests); `None` honours the server.
    pub device_poll_interval: Option<Duration>,
}

impl AuthSettings {
    /// Settings with no credential yet; the device-code message goes to stderr.
    pub fn new(tenant: impl Into<String>, endpoints: Endpoints) -> Self {
        AuthSettings {
            tenant: tenant.into(),
            client_id: None,
            client_secret: None,
            certificate: None,
            assertion_alg: AssertionAlg::default(),
            federated_token_file: None,
            access_token: None,
            device_code: false,
            credential: None,
            certificate_password: None,
            github_oidc: None,
            app_service_identity: None,
            imds: None,
            azure_cli: None,
            refresh_token: None,
            endpoints,
            show_device_code: Arc::new(|message: &str| eprintln!("{message}")),
            refresh_margin: cache::DEFAULT_REFRESH_MARGIN,
            device_poll_interval: None,
        }
    }

    fn hints(&self) -> HintContext {
        HintContext {
            login: self.endpoints.login.clone(),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("AuthSettings")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("certificate", &self.certificate)
            .field("assertion_alg", &self.assertion_alg)
            .field("federated_token_file", &self.federated_token_file)
            .field("access_token", &redacted(&self.access_token))
            .field("device_code", &self.device_code)
            .field("credential", &self.credential)
            .field(
                "certificate_password",
                &redacted(&self.certificate_password),
            )
            .field("github_oidc", &self.github_oidc)
            .field("app_service_identity", &self.app_service_identity)
            .field("imds", &self.imds)
            .field("azure_cli", &self.azure_cli)
            .field("refresh_token", &self.refresh_token)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .field("device_poll_interval", &self.device_poll_interval)
            .finish_non_exhaustive()
    }
}

/// GitHub Actions' ID-token request endpoint and its bearer token.
#[derive(Clone)]
pub struct GitHubOidcSettings {
    pub request_url: String,
    pub request_token: SecretString,
}

impl std::fmt::Debug for GitHubOidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubOidcSettings")
            .field("request_url", &transport::display_url(&self.request_url))
            .field("request_token", &"[redacted]")
            .finish()
    }
}

/// The App Service / Functions / Container Apps identity endpoint and its header secret.
#[derive(Clone)]
pub struct AppServiceIdentity {
    pub endpoint: String,
    pub header: SecretString,
}

impl std::fmt::Debug for AppServiceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServiceIdentity")
            .field("endpoint", &transport::display_url(&self.endpoint))
            .field("header", &"[redacted]")
            .finish()
    }
}

/// The token provider for `settings`: the credential `--credential` names, else the first available in
/// the default chain ([`chain`]).
///
/// Token requests use a client of their own that never follows redirects (a 307/308 would resend
/// the secret or assertion elsewhere, and reqwest cannot turn redirects off on an existing client),
/// so `http`'s configuration does not apply to them; `http` is accepted for the interface's sake.
pub fn provider(
    settings: AuthSettings,
    http: reqwest::Client,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    let _ = http;
    provider_with_client(settings, transport::token_http_client()?)
}

/// [`provider`] with the HTTP client for token requests given; it must not follow redirects
/// (see [`transport::token_http_client`]).
pub fn provider_with_client(
    settings: AuthSettings,
    token_http: reqwest::Client,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    chain::select(settings, token_http)
}

/// A tenant goes into the token URL path: accept ids, domain names and the `organizations` /
/// `common` aliases, nothing that could change the URL.
fn check_tenant(tenant: &str) -> Result<(), AuthError> {
    if tenant.trim().is_empty() {
        return Err(AuthError::Config(
            "no tenant: pass --tenant or set AZURE_TENANT_ID".into(),
        ));
    }
    if !tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(AuthError::Config(format!(
            "--tenant {tenant:?} is not a tenant id or domain name (letters, digits, '.', '-', '_')"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            graph: "https://graph.microsoft.com".into(),
            login: "https://login.microsoftonline.com".into(),
        }
    }

    fn settings() -> AuthSettings {
        let mut s = AuthSettings::new("contoso.onmicrosoft.com", endpoints());
        s.client_id = Some("app-id".into());
        s
    }

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/certs")
            .join(name)
    }

    fn kind_of(s: AuthSettings) -> Result<&'static str, AuthError> {
        provider(s, reqwest::Client::new()).map(|p| p.kind())
    }

    fn jwt(claims: serde_json::Value) -> String {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{h}.{c}.c2lnbmF0dXJl")
    }

    #[test]
    fn token_tenant_id_reads_a_guid_tid_lower_cased() {
        let tid = "8777B240-C6F0-4469-9E98-A3205431B836";
        let token = jwt(serde_json::json!({"tid": tid, "exp": 1}));
        assert_eq!(
            token_tenant_id(&token).as_deref(),
            Some("8777b240-c6f0-4469-9e98-a3205431b836")
        );
        assert_eq!(
            token_tenant_id(&format!("Bearer {token}\n")).as_deref(),
            Some("8777b240-c6f0-4469-9e98-a3205431b836")
        );
        for claims in [
            serde_json::json!({}),
            serde_json::json!({"tid": null}),
            serde_json::json!({"tid": 5}),
            serde_json::json!({"tid": "contoso.onmicrosoft.com"}),
            serde_json::json!({"tid": "8777b240-c6f0-4469-9e98-a3205431b83"}),
            serde_json::json!({"tid": "8777b240-c6f0-4469-9e98-a3205431b83g"}),
            serde_json::json!({"tid": "8777b240c6f0-4469-9e98-a3205431b836-"}),
        ] {
            assert_eq!(token_tenant_id(&jwt(claims.clone())), None, "{claims}");
        }
        for opaque in ["", "opaque-token", "a.b.c", "..", "fake-at-0001"] {
            assert_eq!(token_tenant_id(opaque), None, "{opaque}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut s = settings();
        s.client_secret = Some(SecretString::from("super-secret-value"));
        s.access_token = Some(SecretString::from("eyJtoken-value"));
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("super-secret-value") && !dbg.contains("eyJtoken-value"),
            "{dbg}"
        );
        assert!(
            dbg.contains("[redacted]") && dbg.contains("contoso"),
            "{dbg}"
        );
    }

    #[test]
    fn precedence_device_code_token_certificate_secret_federated() {
        let mut s = settings();
        s.federated_token_file = Some("/var/run/token".into());
        assert_eq!(kind_of(s.clone()).unwrap(), "federated token");
        s.client_secret = Some(SecretString::from("x"));
        assert_eq!(kind_of(s.clone()).unwrap(), "client secret");
        s.certificate = Some(fixture("test-combined.pem"));
        assert_eq!(kind_of(s.clone()).unwrap(), "certificate");
        s.access_token = Some(SecretString::from("opaque"));
        assert_eq!(kind_of(s.clone()).unwrap(), "access token");
        s.device_code = true;
        assert_eq!(kind_of(s).unwrap(), "device code");
    }

    #[test]
    fn no_credentials_names_the_options() {
        let err = kind_of(settings()).unwrap_err().to_string();
        for name in [
            "AZURE_CLIENT_SECRET",
            "--certificate",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "GRAPH_ACCESS_TOKEN",
            "--device-code",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn client_id_is_required_except_for_a_ready_token() {
        for configure in [
            (|s: &mut AuthSettings| s.client_secret = Some(SecretString::from("x")))
                as fn(&mut AuthSettings),
            |s| s.certificate = Some(fixture("test-combined.pem")),
            |s| s.federated_token_file = Some("/t".into()),
            |s| s.device_code = true,
        ] {
            let mut s = settings();
            s.client_id = None;
            configure(&mut s);
            let err = kind_of(s).unwrap_err().to_string();
            assert!(
                err.contains("--client-id") && err.contains("AZURE_CLIENT_ID"),
                "{err}"
            );
        }
        let mut s = settings();
        s.client_id = None;
        s.tenant = String::new();
        s.access_token = Some(SecretString::from("opaque"));
        assert_eq!(kind_of(s).unwrap(), "access token");
    }

    #[test]
    fn tenant_is_checked() {
        let mut s = settings();
        s.client_secret = Some(SecretString::from("x"));
        s.tenant = "".into();
        assert!(
            kind_of(s.clone())
                .unwrap_err()
                .to_string()
                .contains("AZURE_TENANT_ID")
        );
        s.tenant = "evil.com/x?".into();
        assert!(
            kind_of(s.clone())
                .unwrap_err()
                .to_string()
                .contains("not a tenant")
        );
        s.tenant = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc".into();
        assert!(kind_of(s).is_ok());
    }

    #[test]
    fn unreadable_certificate_fails_early_naming_the_file() {
        let mut s = settings();
        s.certificate = Some(fixture("test-cert.pem"));
        let err = kind_of(s).unwrap_err().to_string();
        assert!(
            err.contains("test-cert.pem") && err.contains("private key"),
            "{err}"
        );
    }
}
