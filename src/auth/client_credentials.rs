//! App-only tokens (OAuth 2.0 client credentials, research/graph-api.md §5.7) with a client secret,
//! a certificate assertion, or a federated token used as the assertion.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use super::cache::{FreshToken, TokenSource};
use super::certificate::CertificateCredential;
use super::errors::{EntraErrorBody, HintContext};
use super::github_oidc::GitHubOidc;
use super::transport::{HttpError, adapter, display_url, map_request_error};
use super::{AuthError, BoxFuture};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime assumed when the token endpoint gives no `expires_in`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// An oauth2 client whose error type keeps Entra's `error_codes`.
pub(crate) type EntraClient<HasDeviceAuthUrl = EndpointNotSet> = oauth2::Client<
    EntraErrorBody,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    HasDeviceAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub(crate) fn entra_client(client_id: &str, token_url: &str) -> Result<EntraClient, AuthError> {
    let url = TokenUrl::new(token_url.to_owned()).map_err(|e| {
        AuthError::Config(format!(
            "token URL {} is invalid: {e}",
            display_url(token_url)
        ))
    })?;
    Ok(oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(url))
}

/// How the app proves its identity.
pub enum ClientCredential {
    Secret(SecretString),
    Certificate(Box<CertificateCredential>),
    /// A file holding a token from another issuer (Kubernetes workload identity, GitHub OIDC...).
    /// Read on every fetch: the platform rotates it.
    FederatedTokenFile(PathBuf),
    /// The GitHub Actions ID token, fetched again when it expires.
    GitHubOidc(Arc<GitHubOidc>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret([redacted])"),
            ClientCredential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
            ClientCredential::FederatedTokenFile(p) => {
                f.debug_tuple("FederatedTokenFile").field(p).finish()
            }
            ClientCredential::GitHubOidc(g) => f.debug_tuple("GitHubOidc").field(g).finish(),
        }
    }
}

impl ClientCredential {
    pub fn kind(&self) -> &'static str {
        match self {
            ClientCredential::Secret(_) => "client secret",
            ClientCredential::Certificate(_) => "certificate",
            ClientCredential::FederatedTokenFile(_) => "federated token",
            ClientCredential::GitHubOidc(_) => "GitHub OIDC",
        }
    }
}

/// Fetches app-only tokens for Graph.
pub struct ClientCredentialsSource {
    http: reqwest::Client,
    client_id: String,
    token_url: String,
    scope: String,
    credential: ClientCredential,
    hints: Arc<HintContext>,
}

impl std::fmt::Debug for ClientCredentialsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsSource")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .field("scope", &self.scope)
            .field("credential", &self.credential)
            .finish()
    }
}

impl ClientCredentialsSource {
    pub fn new(
        http: reqwest::Client,
        client_id: String,
        token_url: String,
        scope: String,
        credential: ClientCredential,
        hints: Arc<HintContext>,
    ) -> Self {
        ClientCredentialsSource {
            http,
            client_id,
            token_url,
            scope,
            credential,
            hints,
        }
    }

    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        let mut client = entra_client(&self.client_id, &self.token_url)?;
        // A fresh assertion (or a fresh read of the federated token file) for every fetch.
        let assertion = match &self.credential {
            ClientCredential::Secret(s) => {
                client = client.set_client_secret(ClientSecret::new(s.expose_secret().to_owned()));
                None
            }
            ClientCredential::Certificate(cert) => {
                Some(cert.assertion(&self.client_id, &self.token_url)?)
            }
            ClientCredential::FederatedTokenFile(path) => Some(read_federated_token(path).await?),
            ClientCredential::GitHubOidc(github) => Some(github.assertion().await?),
        };
        let adapter = adapter(&self.http);
        let mut request = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()));
        if let Some(assertion) = &assertion {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion.expose_secret());
        }
        finish(
            request.request_async(&adapter).await,
            &self.token_url,
            &self.hints,
        )
    }
}

fn finish(
    result: Result<BasicTokenResponse, oauth2::RequestTokenError<HttpError, EntraErrorBody>>,
    token_url: &str,
    hints: &HintContext,
) -> Result<FreshToken, AuthError> {
    let resp = result.map_err(|e| map_request_error(e, token_url, hints))?;
    Ok(fresh_token(&resp))
}

pub(crate) fn fresh_token(resp: &BasicTokenResponse) -> FreshToken {
    FreshToken {
        secret: SecretString::from(resp.access_token().secret().as_str()),
        expires_in: resp.expires_in().unwrap_or(DEFAULT_LIFETIME),
    }
}

/// The federated token, trimmed; errors name the file.
pub async fn read_federated_token(path: &std::path::Path) -> Result<SecretString, AuthError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| {
        AuthError::Config(format!(
            "cannot read the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthError::Config(format!(
            "the federated token file {} (AZURE_FEDERATED_TOKEN_FILE) is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(token))
}

impl TokenSource for ClientCredentialsSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        self.credential.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn federated_token_is_read_fresh_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  first-token\n").unwrap();
        assert_eq!(
            read_federated_token(&path).await.unwrap().expose_secret(),
            "first-token"
        );
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(
            read_federated_token(&path).await.unwrap().expose_secret(),
            "second-token"
        );
        std::fs::write(&path, "\n  \n").unwrap();
        let err = read_federated_token(&path).await.unwrap_err().to_string();
        assert!(
            err.contains("empty") && err.contains(&path.display().to_string()),
            "{err}"
        );
        let missing = dir.path().join("missing");
        let err = read_federated_token(&missing)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AZURE_FEDERATED_TOKEN_FILE") && err.contains("missing"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = ClientCredential::Secret(SecretString::from("s3cr3t-value"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
