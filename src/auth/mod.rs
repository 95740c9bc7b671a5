//! Credentials: one `TokenProvider` interface over every way of getting a Graph token.
//!
//! Tokens and assertions are `SecretString`s: they are never logged, printed or serialized.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use secrecy::SecretString;

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
    Transport { url: String, detail: String },
    /// Device-code sign-in ended without a token (declined, expired).
    #[error("device code sign-in failed: {0}")]
    DeviceCode(String),
}
