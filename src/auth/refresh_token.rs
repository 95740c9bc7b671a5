//! The Secure Application Model route: a partner admin's refresh token, obtained once with
//! `--device-code`, exchanged for a Graph token of any tenant the admin reaches, including each GDAP
//! customer (`grant_type=refresh_token` at `{login}/{tenant}/oauth2/v2.0/token`, scope
//! `{graph}/.default`).
//!
//! The refresh token comes from `GDAP_AUDIT_REFRESH_TOKEN` or from a file (`--refresh-token-file`)
//! that only its owner can read (mode 0600; anything group- or world-readable is refused), never from
//! a flag value. Entra rotates refresh tokens: every answer may carry a newer one. The
//! [`RefreshTokenStore`] keeps the newest in memory, shared by every tenant's exchange, and writes it
//! back (atomically) to the file it came from. With `--device-code`, the same file receives the
//! refresh token of the sign-in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oauth2::{ClientSecret, RefreshToken, Scope, TokenResponse};
use secrecy::{ExposeSecret, SecretString};

use super::cache::{FreshToken, TokenSource};
use super::client_credentials::{
    ClientCredential, JWT_BEARER, entra_client, fresh_token, read_federated_token,
};
use super::errors::HintContext;
use super::transport::map_request_error;
use super::{AuthError, BoxFuture};

/// Environment variable holding a refresh token (the file option wins when both are set).
pub const REFRESH_TOKEN_ENV: &str = "GDAP_AUDIT_REFRESH_TOKEN";

/// The newest refresh token, shared by every tenant's exchange, and the file it is kept in.
pub struct RefreshTokenStore {
    current: Mutex<Option<SecretString>>,
    file: Option<PathBuf>,
    /// Serialises write-backs so the file ends with the newest token; holds the token last written,
    /// so concurrent rotations (many tenants at once) collapse into one write.
    writing: tokio::sync::Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for RefreshTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenStore")
            .field("token", &"[redacted]")
            .field("file", &self.file)
            .finish()
    }
}

impl RefreshTokenStore {
    /// A token from the environment: rotated tokens stay in memory.
    pub fn in_memory(token: SecretString) -> Arc<RefreshTokenStore> {
        Arc::new(RefreshTokenStore {
            current: Mutex::new(Some(token)),
            file: None,
            writing: tokio::sync::Mutex::new(None),
        })
    }

    /// An empty in-memory store: a `--device-code` sign-in without a file puts its refresh token here,
    /// so the same run can reach the customers with it.
    pub fn empty() -> Arc<RefreshTokenStore> {
        Arc::new(RefreshTokenStore {
            current: Mutex::new(None),
            file: None,
            writing: tokio::sync::Mutex::new(None),
        })
    }

    /// The token in `path`, which must be a regular file readable by its owner only.
    pub fn load(path: &Path) -> Result<Arc<RefreshTokenStore>, AuthError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            AuthError::Config(format!(
                "cannot read the refresh token file {}: {e}",
                path.display()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(AuthError::Config(format!(
                "the refresh token file {} is empty: sign in again with --device-code --refresh-token-file {}",
                path.display(),
                path.display()
            )));
        }
        Ok(Arc::new(RefreshTokenStore {
            current: Mutex::new(Some(SecretString::from(token))),
            file: Some(path.to_path_buf()),
            writing: tokio::sync::Mutex::new(None),
        }))
    }

    /// An empty store that saves the first token it receives to `path` (a `--device-code` sign-in).
    /// An existing file must already be private; it is replaced.
    pub fn save_to(path: &Path) -> Result<Arc<RefreshTokenStore>, AuthError> {
        if path.exists() {
            check_private(path)?;
        }
        Ok(Arc::new(RefreshTokenStore {
            current: Mutex::new(None),
            file: Some(path.to_path_buf()),
            writing: tokio::sync::Mutex::new(None),
        }))
    }

    /// The newest token, if any.
    pub fn current(&self) -> Option<SecretString> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The file the token is kept in.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Keeps `token` as the newest and writes it back to the file. A failed write is logged, not
    /// fatal: the token in memory serves this run, and the file's older token stays valid (Entra does
    /// not revoke a refresh token when it issues a newer one).
    pub async fn update(&self, token: SecretString) {
        {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            if current
                .as_ref()
                .is_some_and(|c| c.expose_secret() == token.expose_secret())
            {
                return;
            }
            *current = Some(token);
        }
        let Some(path) = self.file.clone() else {
            return;
        };
        let mut written = self.writing.lock().await;
        // Whatever is newest when this write runs (a later update may have replaced `token`), unless
        // a write that ran meanwhile already saved it.
        let Some(newest) = self.current() else {
            return;
        };
        if written
            .as_ref()
            .is_some_and(|w| w.expose_secret() == newest.expose_secret())
        {
            return;
        }
        let saving = newest.clone();
        let shown = path.display().to_string();
        let result = tokio::task::spawn_blocking(move || {
            let mut text = newest.expose_secret().to_owned();
            text.push('\n');
            crate::files::write_atomic(&path, &text)
        })
        .await;
        match result {
            Ok(Ok(())) => {
                *written = Some(saving);
                tracing::debug!(file = %shown, "saved the newest refresh token");
            }
            Ok(Err(e)) => tracing::warn!(
                "could not save the newest refresh token to {shown}: {e}; the token in the file stays valid until it expires"
            ),
            Err(e) => tracing::warn!("could not save the newest refresh token to {shown}: {e}"),
        }
    }
}

/// Refuses a refresh token file that is not a regular file or that others may read.
fn check_private(path: &Path) -> Result<(), AuthError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        AuthError::Config(format!(
            "cannot read the refresh token file {}: {e}",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(AuthError::Config(format!(
            "the refresh token file {} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AuthError::Config(format!(
                "the refresh token file {} is readable by others (mode {mode:04o}): a refresh token opens every customer tenant the signed-in admin can reach; run `chmod 600 {}` (and consider rotating the token with a new --device-code sign-in)",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// The app's credential to send with the refresh token (confidential client), if one is configured.
pub(crate) fn app_credential(
    settings: &super::AuthSettings,
) -> Result<Option<ClientCredential>, AuthError> {
    Ok(if let Some(path) = &settings.certificate {
        let cert = super::CertificateCredential::load_with_password(
            path,
            settings.assertion_alg,
            settings.certificate_password.as_ref(),
        )?;
        Some(ClientCredential::Certificate(Box::new(cert)))
    } else if let Some(secret) = &settings.client_secret {
        Some(ClientCredential::Secret(secret.clone()))
    } else {
        settings
            .federated_token_file
            .clone()
            .map(ClientCredential::FederatedTokenFile)
    })
}

/// Exchanges the store's refresh token for a Graph token of one tenant.
pub struct RefreshTokenSource {
    http: reqwest::Client,
    client_id: String,
    token_url: String,
    scope: String,
    /// The app's credential when it is a confidential client (Entra then requires it with the
    /// refresh token); `None` for a public client.
    credential: Option<ClientCredential>,
    store: Arc<RefreshTokenStore>,
    hints: Arc<HintContext>,
}

impl std::fmt::Debug for RefreshTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenSource")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .field("scope", &self.scope)
            .field("credential", &self.credential)
            .field("store", &self.store)
            .finish()
    }
}

impl RefreshTokenSource {
    pub fn new(
        http: reqwest::Client,
        client_id: String,
        token_url: String,
        scope: String,
        credential: Option<ClientCredential>,
        store: Arc<RefreshTokenStore>,
        hints: Arc<HintContext>,
    ) -> Self {
        RefreshTokenSource {
            http,
            client_id,
            token_url,
            scope,
            credential,
            store,
            hints,
        }
    }

    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        let Some(rt) = self.store.current() else {
            return Err(AuthError::Config(format!(
                "no refresh token: set {REFRESH_TOKEN_ENV} or pass --refresh-token-file (obtained once with --device-code --refresh-token-file FILE)"
            )));
        };
        let mut client = entra_client(&self.client_id, &self.token_url)?;
        let assertion = match &self.credential {
            None => None,
            Some(ClientCredential::Secret(s)) => {
                client = client.set_client_secret(ClientSecret::new(s.expose_secret().to_owned()));
                None
            }
            Some(ClientCredential::Certificate(cert)) => {
                Some(cert.assertion(&self.client_id, &self.token_url)?)
            }
            Some(ClientCredential::FederatedTokenFile(path)) => {
                Some(read_federated_token(path).await?)
            }
            Some(ClientCredential::GitHubOidc(github)) => Some(github.assertion().await?),
        };
        let adapter = super::transport::adapter(&self.http);
        let refresh = RefreshToken::new(rt.expose_secret().to_owned());
        let mut request = client
            .exchange_refresh_token(&refresh)
            .add_scope(Scope::new(self.scope.clone()))
            .add_scope(Scope::new("offline_access".into()));
        if let Some(assertion) = &assertion {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion.expose_secret());
        }
        let resp = request
            .request_async(&adapter)
            .await
            .map_err(|e| map_request_error(e, &self.token_url, &self.hints))?;
        if let Some(newer) = resp.refresh_token() {
            self.store
                .update(SecretString::from(newer.secret().as_str()))
                .await;
        }
        Ok(fresh_token(&resp))
    }
}

impl TokenSource for RefreshTokenSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        "refresh token"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn write_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn only_private_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt");
        write_mode(&path, "rt-value-1\n", 0o644);
        let err = RefreshTokenStore::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && err.contains("0644") && !err.contains("rt-value-1"),
            "{err}"
        );
        write_mode(&path, "rt-value-1\n", 0o640);
        assert!(RefreshTokenStore::load(&path).is_err());
        write_mode(&path, "  rt-value-1\n", 0o600);
        let store = RefreshTokenStore::load(&path).unwrap();
        assert_eq!(store.current().unwrap().expose_secret(), "rt-value-1");
        assert!(!format!("{store:?}").contains("rt-value-1"));
        write_mode(&path, "\n", 0o600);
        assert!(
            RefreshTokenStore::load(&path)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let err = RefreshTokenStore::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = RefreshTokenStore::load(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        // Saving over an existing file checks it as well.
        write_mode(&path, "x", 0o604);
        assert!(RefreshTokenStore::save_to(&path).is_err());
        assert!(RefreshTokenStore::save_to(&dir.path().join("new")).is_ok());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn rotated_tokens_are_kept_and_written_back_privately() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt");
        let store = RefreshTokenStore::save_to(&path).unwrap();
        assert!(store.current().is_none());
        store.update(SecretString::from("first")).await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        store.update(SecretString::from("second")).await;
        assert_eq!(store.current().unwrap().expose_secret(), "second");
        let loaded = RefreshTokenStore::load(&path).unwrap();
        assert_eq!(loaded.current().unwrap().expose_secret(), "second");
        // Many tenants rotating at once: the file ends with the newest token.
        let updates = (0..20).map(|i| store.update(SecretString::from(format!("rotated-{i}"))));
        futures::future::join_all(updates).await;
        let newest = store.current().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            newest.expose_secret()
        );
        let memory = RefreshTokenStore::in_memory(SecretString::from("env"));
        memory.update(SecretString::from("newer")).await;
        assert_eq!(memory.current().unwrap().expose_secret(), "newer");
        assert!(memory.file().is_none());
    }
}
