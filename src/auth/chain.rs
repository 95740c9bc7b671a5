//! Which credential to use: the one `--credential` names, or the first available in the default chain
//! (like azure-identity's DefaultAzureCredential):
//!
//! 1. `refresh-token`: a partner admin's refresh token (GDAP_AUDIT_REFRESH_TOKEN or
//!    `--refresh-token-file`);
//! 2. `access-token`: GRAPH_ACCESS_TOKEN, a ready token;
//! 3. `certificate`: `--certificate` / AZURE_CLIENT_CERTIFICATE_PATH (PEM or PFX);
//! 4. `secret`: AZURE_CLIENT_SECRET;
//! 5. `federated`: AZURE_FEDERATED_TOKEN_FILE (Kubernetes workload identity and the like);
//! 6. `github`: GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN);
//! 7. `managed-identity`: IDENTITY_ENDPOINT + IDENTITY_HEADER, else IMDS (probed, fails fast off Azure);
//! 8. `azure-cli`: `az` on PATH, signed in.
//!
//! Steps 1 to 6 and App Service's managed identity are decided from the settings alone: the first one
//! configured is used and its errors are final (a wrong secret is reported, not silently replaced by
//! another identity). IMDS and the Azure CLI can only be known by trying: they are tried in order at the
//! first token request and the first that gives a token is kept. `device-code` is never chosen by the
//! chain (it needs a person); `--device-code` or `--credential device-code` selects it. With `-v`, the
//! log says which credential was used and why each earlier one was skipped, never a secret value.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::azure_cli::AzureCliSource;
use super::cache::{FreshToken, TokenCache, TokenSource};
use super::certificate::CertificateCredential;
use super::client_credentials::{ClientCredential, ClientCredentialsSource};
use super::device_code::DeviceCodeSource;
use super::github_oidc::GitHubOidc;
use super::managed_identity::{
    IMDS_DEFAULT_BASE, ManagedIdentityEndpoint, ManagedIdentitySource, identity_http_client,
};
use super::refresh_token::RefreshTokenSource;
use super::static_token::StaticToken;
use super::{AuthError, AuthSettings, BoxFuture, TokenProvider, check_tenant};

/// A way of obtaining Graph tokens; the names are those of `--credential`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// A partner admin's refresh token (GDAP_AUDIT_REFRESH_TOKEN or --refresh-token-file): the Secure
    /// Application Model route, exchanged per tenant.
    RefreshToken,
    /// GRAPH_ACCESS_TOKEN: a token obtained elsewhere.
    AccessToken,
    /// The app's certificate (--certificate / AZURE_CLIENT_CERTIFICATE_PATH; PEM or PFX).
    Certificate,
    /// The app's client secret (AZURE_CLIENT_SECRET).
    Secret,
    /// A federated token file (AZURE_FEDERATED_TOKEN_FILE) as the client assertion.
    Federated,
    /// The GitHub Actions OIDC token as the client assertion (needs `id-token: write`).
    Github,
    /// The Azure resource's managed identity (App Service / Functions / Container Apps, or IMDS).
    ManagedIdentity,
    /// The account signed in to the Azure CLI (`az login`).
    AzureCli,
    /// Interactive device-code sign-in (same as --device-code).
    DeviceCode,
}

/// The default chain, in order.
pub const CHAIN: [CredentialKind; 8] = [
    CredentialKind::RefreshToken,
    CredentialKind::AccessToken,
    CredentialKind::Certificate,
    CredentialKind::Secret,
    CredentialKind::Federated,
    CredentialKind::Github,
    CredentialKind::ManagedIdentity,
    CredentialKind::AzureCli,
];

impl CredentialKind {
    /// The `--credential` name.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::RefreshToken => "refresh-token",
            CredentialKind::AccessToken => "access-token",
            CredentialKind::Certificate => "certificate",
            CredentialKind::Secret => "secret",
            CredentialKind::Federated => "federated",
            CredentialKind::Github => "github",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::AzureCli => "azure-cli",
            CredentialKind::DeviceCode => "device-code",
        }
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a credential can be used, from the settings alone.
enum Availability {
    /// Configured: use it.
    Ready,
    /// Configured as far as the settings tell; only a token request shows whether it works.
    Probe,
    /// Not configured, and why (no value is ever included).
    Skip(String),
}

fn availability(kind: CredentialKind, s: &AuthSettings) -> Availability {
    use Availability::*;
    let ready_if = |set: bool, why: &str| if set { Ready } else { Skip(why.into()) };
    match kind {
        CredentialKind::RefreshToken => ready_if(
            s.refresh_token.is_some(),
            "GDAP_AUDIT_REFRESH_TOKEN is not set and there is no --refresh-token-file",
        ),
        CredentialKind::AccessToken => {
            ready_if(s.access_token.is_some(), "GRAPH_ACCESS_TOKEN is not set")
        }
        CredentialKind::Certificate => ready_if(
            s.certificate.is_some(),
            "no --certificate (AZURE_CLIENT_CERTIFICATE_PATH is not set)",
        ),
        CredentialKind::Secret => {
            ready_if(s.client_secret.is_some(), "AZURE_CLIENT_SECRET is not set")
        }
        CredentialKind::Federated => ready_if(
            s.federated_token_file.is_some(),
            "AZURE_FEDERATED_TOKEN_FILE is not set",
        ),
        CredentialKind::Github => match (&s.github_oidc, has_client_id(s)) {
            (None, _) => Skip(
                "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (not in \
                 GitHub Actions, or the job lacks `permissions: id-token: write`)"
                    .into(),
            ),
            (Some(_), false) => Skip(
                "in GitHub Actions but no --client-id (AZURE_CLIENT_ID) of the app that trusts the \
                 workflow"
                    .into(),
            ),
            (Some(_), true) => Ready,
        },
        CredentialKind::ManagedIdentity => match (&s.app_service_identity, &s.imds) {
            (Some(_), _) => Ready,
            (None, Some(_)) => Probe,
            (None, None) => Skip("IDENTITY_ENDPOINT is not set and IMDS is not probed".into()),
        },
        CredentialKind::AzureCli => match &s.azure_cli {
            Some(_) => Probe,
            None => Skip("`az` is not on PATH".into()),
        },
        CredentialKind::DeviceCode => ready_if(s.device_code, "interactive; only on request"),
    }
}

fn has_client_id(s: &AuthSettings) -> bool {
    s.client_id.as_deref().is_some_and(|c| !c.trim().is_empty())
}

pub(super) const NO_CREDENTIALS: &str = "no credentials: set AZURE_CLIENT_SECRET (with --client-id), pass --certificate PEM/PFX \
     (AZURE_CLIENT_CERTIFICATE_PATH), set AZURE_FEDERATED_TOKEN_FILE, run in GitHub Actions with `id-token: write`, \
     run on Azure with a managed identity, sign in with `az login`, set GRAPH_ACCESS_TOKEN to a ready token, \
     set GDAP_AUDIT_REFRESH_TOKEN (or pass --refresh-token-file) to a partner admin's refresh token, \
     or use --device-code";

/// The credential the settings select (see the module doc), wrapped in the token cache.
pub(super) fn select(
    settings: AuthSettings,
    token_http: reqwest::Client,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    let forced = match (settings.credential, settings.device_code) {
        (Some(k), true) if k != CredentialKind::DeviceCode => {
            return Err(AuthError::Config(format!(
                "--device-code and --credential {k} name different credentials: keep one"
            )));
        }
        (Some(k), _) => Some(k),
        (None, true) => Some(CredentialKind::DeviceCode),
        (None, false) => None,
    };
    if let Some(kind) = forced {
        if let Availability::Skip(why) = availability(kind, &settings)
            && kind != CredentialKind::DeviceCode
            && kind != CredentialKind::ManagedIdentity
        {
            return Err(AuthError::Config(format!(
                "--credential {kind} cannot be used: {why}"
            )));
        }
        tracing::info!("credential: using {kind} (chosen with --credential)");
        return build(kind, &settings, &token_http);
    }

    let mut skipped = Vec::new();
    let mut tail = Vec::new();
    for kind in CHAIN {
        let availability = availability(kind, &settings);
        if !tail.is_empty() {
            // After the first probe, each step takes its turn at the first token request.
            tail.push(match availability {
                Availability::Skip(why) => Step::Skip(kind, why),
                _ => Step::Try(kind, source(kind, &settings, &token_http)?),
            });
            continue;
        }
        match availability {
            Availability::Skip(why) => {
                tracing::info!("credential: skipped {kind}: {why}");
                skipped.push(format!("{kind}: {why}"));
            }
            Availability::Ready => {
                tracing::info!("credential: using {kind} (first configured in the default chain)");
                return build(kind, &settings, &token_http);
            }
            Availability::Probe => {
                tail.push(Step::Try(kind, source(kind, &settings, &token_http)?));
            }
        }
    }
    if tail.is_empty() {
        return Err(AuthError::Config(NO_CREDENTIALS.into()));
    }
    Ok(Arc::new(TokenCache::with_refresh_margin(
        ChainSource {
            steps: tail,
            skipped,
            chosen: AtomicUsize::new(NONE_CHOSEN),
        },
        settings.refresh_margin,
    )))
}

/// The provider for one credential kind.
fn build(
    kind: CredentialKind,
    s: &AuthSettings,
    token_http: &reqwest::Client,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    if kind == CredentialKind::AccessToken {
        let Some(token) = s.access_token.clone() else {
            return Err(AuthError::Config(
                "--credential access-token needs GRAPH_ACCESS_TOKEN".into(),
            ));
        };
        return Ok(Arc::new(StaticToken::new(token)?));
    }
    let source = source(kind, s, token_http)?;
    Ok(Arc::new(TokenCache::with_refresh_margin(
        source,
        s.refresh_margin,
    )))
}

/// The token source of a credential that fetches tokens (not the static token).
fn source(
    kind: CredentialKind,
    s: &AuthSettings,
    token_http: &reqwest::Client,
) -> Result<Box<dyn TokenSource>, AuthError> {
    check_tenant(&s.tenant)?;
    let hints = Arc::new(s.hints());
    let token_url = s.endpoints.token_url(&s.tenant);
    let scope = s.endpoints.scope();
    let client_id = || {
        s.client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                AuthError::Config(format!(
                    "the {} credential needs the app's client id: pass --client-id or set AZURE_CLIENT_ID",
                    label(kind)
                ))
            })
    };
    let app = |credential: ClientCredential| -> Result<Box<dyn TokenSource>, AuthError> {
        Ok(Box::new(ClientCredentialsSource::new(
            token_http.clone(),
            client_id()?,
            token_url.clone(),
            scope.clone(),
            credential,
            hints.clone(),
        )))
    };
    match kind {
        CredentialKind::Certificate => {
            let Some(path) = &s.certificate else {
                return Err(missing(kind));
            };
            // The client id is checked before the file is read, as before.
            client_id()?;
            let cert = CertificateCredential::load_with_password(
                path,
                s.assertion_alg,
                s.certificate_password.as_ref(),
            )?;
            tracing::debug!(file = %path.display(), sha1_thumbprint = %cert.sha1_hex(), alg = ?cert.alg(), "loaded the certificate");
            app(ClientCredential::Certificate(Box::new(cert)))
        }
        CredentialKind::Secret => match &s.client_secret {
            Some(secret) => app(ClientCredential::Secret(secret.clone())),
            None => Err(missing(kind)),
        },
        CredentialKind::Federated => match &s.federated_token_file {
            Some(path) => app(ClientCredential::FederatedTokenFile(path.clone())),
            None => Err(missing(kind)),
        },
        CredentialKind::Github => match &s.github_oidc {
            Some(g) => app(ClientCredential::GitHubOidc(Arc::new(GitHubOidc::new(
                token_http.clone(),
                g.request_url.clone(),
                g.request_token.clone(),
            )))),
            None => Err(missing(kind)),
        },
        CredentialKind::DeviceCode => Ok(Box::new(
            DeviceCodeSource::new(
                token_http.clone(),
                client_id()?,
                token_url.clone(),
                s.endpoints.device_code_url(&s.tenant),
                scope,
                s.show_device_code.clone(),
                s.device_poll_interval,
                hints,
            )
            // With --refresh-token-file, the sign-in's refresh token is saved for later runs.
            .with_refresh_token_sink(s.refresh_token.clone()),
        )),
        CredentialKind::RefreshToken => match &s.refresh_token {
            // The app's own credential, when it has one, goes along: a confidential client needs it.
            Some(store) => Ok(Box::new(RefreshTokenSource::new(
                token_http.clone(),
                client_id()?,
                token_url.clone(),
                scope,
                super::refresh_token::app_credential(s)?,
                store.clone(),
                hints,
            ))),
            None => Err(missing(kind)),
        },
        CredentialKind::ManagedIdentity => {
            let endpoint = match (&s.app_service_identity, &s.imds) {
                (Some(app), _) => ManagedIdentityEndpoint::AppService {
                    endpoint: app.endpoint.clone(),
                    header: app.header.clone(),
                },
                (None, base) => ManagedIdentityEndpoint::Imds {
                    base: base.clone().unwrap_or_else(|| IMDS_DEFAULT_BASE.into()),
                },
            };
            let client_id = s.client_id.clone().filter(|c| !c.trim().is_empty());
            tracing::debug!(endpoint = ?endpoint, user_assigned = ?client_id, "managed identity");
            Ok(Box::new(ManagedIdentitySource::new(
                identity_http_client()?,
                endpoint,
                s.endpoints.graph.clone(),
                client_id,
                (*hints).clone(),
            )))
        }
        CredentialKind::AzureCli => match &s.azure_cli {
            Some(az) => Ok(Box::new(AzureCliSource::new(
                az.clone(),
                s.endpoints.graph.clone(),
                &s.tenant,
            ))),
            None => Err(AuthError::Config(
                "the Azure CLI (`az`) is not on PATH: install it and sign in with `az login`"
                    .into(),
            )),
        },
        CredentialKind::AccessToken => Err(AuthError::Config(
            "a ready access token has no token source".into(),
        )),
    }
}

fn missing(kind: CredentialKind) -> AuthError {
    let what = match kind {
        CredentialKind::Certificate => "--certificate or AZURE_CLIENT_CERTIFICATE_PATH",
        CredentialKind::Secret => "AZURE_CLIENT_SECRET",
        CredentialKind::Federated => "AZURE_FEDERATED_TOKEN_FILE",
        CredentialKind::Github => "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        CredentialKind::RefreshToken => "GDAP_AUDIT_REFRESH_TOKEN or --refresh-token-file",
        _ => "its settings",
    };
    AuthError::Config(format!("--credential {kind} needs {what}"))
}

/// Human name of a kind, as `TokenProvider::kind` reports it.
pub fn label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::RefreshToken => "refresh token",
        CredentialKind::AccessToken => "access token",
        CredentialKind::Certificate => "certificate",
        CredentialKind::Secret => "client secret",
        CredentialKind::Federated => "federated token",
        CredentialKind::Github => "GitHub OIDC",
        CredentialKind::ManagedIdentity => "managed identity",
        CredentialKind::AzureCli => "Azure CLI",
        CredentialKind::DeviceCode => "device code",
    }
}

const NONE_CHOSEN: usize = usize::MAX;

/// One step of the chain's tail.
enum Step {
    Try(CredentialKind, Box<dyn TokenSource>),
    Skip(CredentialKind, String),
}

/// The tail of the default chain from the first step that can only be decided by trying (IMDS, the
/// Azure CLI): at the first fetch the steps are taken in order and the first to give a token is kept for
/// the rest of the run. The token cache around it serialises fetches.
struct ChainSource {
    steps: Vec<Step>,
    /// Why the steps before the tail were skipped (for the final error).
    skipped: Vec<String>,
    chosen: AtomicUsize,
}

impl ChainSource {
    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        if let Some(Step::Try(_, source)) = self.steps.get(self.chosen.load(Ordering::Acquire)) {
            return source.fetch().await;
        }
        let mut failures = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let (kind, why) = match step {
                Step::Skip(kind, why) => (kind, why.clone()),
                Step::Try(kind, source) => match source.fetch().await {
                    Ok(token) => {
                        tracing::info!(
                            "credential: using {kind} (the first in the default chain to give a token)"
                        );
                        self.chosen.store(i, Ordering::Release);
                        return Ok(token);
                    }
                    Err(AuthError::Transport {
                        url,
                        unreachable: true,
                        ..
                    }) if *kind == CredentialKind::ManagedIdentity => (
                        kind,
                        format!("no managed identity endpoint answered at {url} (not on Azure)"),
                    ),
                    Err(other) => (kind, other.to_string()),
                },
            };
            tracing::info!("credential: skipped {kind}: {why}");
            failures.push(format!("{kind}: {why}"));
        }
        let tried: Vec<String> = self.skipped.iter().chain(&failures).cloned().collect();
        Err(AuthError::Config(format!(
            "{NO_CREDENTIALS}\n  tried, in order:\n    {}",
            tried.join("\n    ")
        )))
    }
}

impl TokenSource for ChainSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        match self.steps.get(self.chosen.load(Ordering::Acquire)) {
            Some(Step::Try(kind, _)) => label(*kind),
            _ => "default credential chain",
        }
    }
}

impl TokenSource for Box<dyn TokenSource> {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        (**self).fetch()
    }

    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

/// The environment variables the platforms set for credentials without a secret (GitHub Actions,
/// App Service / Functions / Container Apps, IMDS override), AZURE_CLIENT_CERTIFICATE_PASSWORD, and `az`
/// on PATH. `var` reads one variable (empty counts as unset); `path` is PATH's value.
pub fn apply_environment(
    s: &mut AuthSettings,
    var: impl Fn(&str) -> Option<String>,
    path: Option<&std::ffi::OsStr>,
) {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let secret = |name: &str| var(name).map(secrecy::SecretString::from);
    s.certificate_password = secret("AZURE_CLIENT_CERTIFICATE_PASSWORD");
    s.github_oidc = match (
        var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        secret("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        (Some(request_url), Some(request_token)) => Some(super::GitHubOidcSettings {
            request_url: request_url.trim().to_owned(),
            request_token,
        }),
        _ => None,
    };
    s.app_service_identity = match (var("IDENTITY_ENDPOINT"), secret("IDENTITY_HEADER")) {
        (Some(endpoint), Some(header)) => Some(super::AppServiceIdentity {
            endpoint: endpoint.trim().to_owned(),
            header,
        }),
        _ => None,
    };
    s.imds = Some(
        var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| IMDS_DEFAULT_BASE.into()),
    );
    s.azure_cli = super::azure_cli::find_az(path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Endpoints;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn settings() -> AuthSettings {
        AuthSettings::new(
            "contoso.onmicrosoft.com",
            Endpoints {
                graph: "https://graph.microsoft.com".into(),
                login: "https://login.microsoftonline.com".into(),
            },
        )
    }

    #[test]
    fn environment_is_read_and_empty_values_count_as_unset() {
        let env: HashMap<&str, &str> = [
            ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pw"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                " https://gh.example/idtoken?x=1 ",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "req"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"),
            ("IDENTITY_HEADER", "  "),
        ]
        .into();
        let mut s = settings();
        apply_environment(&mut s, |n| env.get(n).map(|v| v.to_string()), None);
        assert_eq!(
            s.certificate_password.as_ref().map(|p| p.expose_secret()),
            Some("pw")
        );
        let gh = s.github_oidc.as_ref().unwrap();
        assert_eq!(gh.request_url, "https://gh.example/idtoken?x=1");
        assert_eq!(gh.request_token.expose_secret(), "req");
        assert!(s.app_service_identity.is_none(), "blank IDENTITY_HEADER");
        assert_eq!(s.imds.as_deref(), Some(IMDS_DEFAULT_BASE));
        assert!(s.azure_cli.is_none());

        let mut s = settings();
        apply_environment(
            &mut s,
            |n| (n == "AZURE_POD_IDENTITY_AUTHORITY_HOST").then(|| "http://127.0.0.1:9".into()),
            None,
        );
        assert_eq!(s.imds.as_deref(), Some("http://127.0.0.1:9"));
        assert!(s.github_oidc.is_none() && s.certificate_password.is_none());
    }

    #[test]
    fn names_round_trip_through_clap() {
        use clap::ValueEnum;
        for kind in CredentialKind::value_variants() {
            assert_eq!(CredentialKind::from_str(kind.name(), false), Ok(*kind));
        }
        assert_eq!(CHAIN.len() + 1, CredentialKind::value_variants().len());
    }
}
