//! Tokens per customer tenant for the fleet audit, both ways MSP tools get them.
//!
//! * [`CustomerTokenRoute::AppOnly`]: client credentials (secret, certificate or federated token) of
//!   the partner's multi-tenant app, at each customer's own token endpoint. The app needs a service
//!   principal with admin consent in every customer (else AADSTS7000229 / 700016).
//! * [`CustomerTokenRoute::RefreshToken`]: the Secure Application Model; a partner admin's refresh
//!   token ([`super::refresh_token`]) exchanged at each customer's token endpoint. The admin reaches
//!   the customer through GDAP: what Graph lets the token read is what the admin's GDAP roles allow.
//!
//! Use: `let tokens = CustomerTokens::new(&base, route)?;` once per run, then
//! `tokens.provider(customer_tenant_id)?` per customer. Every provider shares one HTTP client (and the
//! one refresh-token store); asking twice for a tenant returns the same provider, so its token is
//! cached and refreshed once per tenant. [`customer_provider`] is the one-off form.
//!
//! Token errors come back as [`AuthError::Rejected`] with a hint about that customer (consent URL of
//! the customer's tenant, sign in again for an expired refresh token, ...): the caller records them as
//! that customer's coverage and goes on with the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{AuthError, AuthSettings, TokenProvider};

/// How to get a token for a customer tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerTokenRoute {
    /// The multi-tenant app's own credential (client credentials) at the customer's token endpoint.
    AppOnly,
    /// The partner admin's refresh token exchanged at the customer's token endpoint.
    RefreshToken,
}

impl CustomerTokenRoute {
    /// The route the settings call for: the refresh token when one is configured (or a
    /// `--device-code` sign-in will put one in the store), else app-only.
    pub fn from_settings(base: &AuthSettings) -> CustomerTokenRoute {
        if base.refresh_token.is_some() {
            CustomerTokenRoute::RefreshToken
        } else {
            CustomerTokenRoute::AppOnly
        }
    }
}

/// Token providers for the customers of one run.
pub struct CustomerTokens {
    base: AuthSettings,
    route: CustomerTokenRoute,
    http: reqwest::Client,
    providers: Mutex<HashMap<String, Arc<dyn TokenProvider>>>,
}

impl std::fmt::Debug for CustomerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerTokens")
            .field("base", &self.base)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl CustomerTokens {
    /// Checks that `base` can serve `route` (a credential of the app, or a refresh token) before any
    /// customer is contacted.
    pub fn new(
        base: &AuthSettings,
        route: CustomerTokenRoute,
    ) -> Result<CustomerTokens, AuthError> {
        let mut base = base.clone();
        base.device_code = false;
        base.access_token = None;
        match route {
            CustomerTokenRoute::AppOnly => {
                base.refresh_token = None;
                // Only the app's own credentials work in every tenant; managed identity and the Azure
                // CLI are one tenant's.
                base.credential = None;
                base.imds = None;
                base.app_service_identity = None;
                base.azure_cli = None;
                if base.client_secret.is_none()
                    && base.certificate.is_none()
                    && base.federated_token_file.is_none()
                    && base.github_oidc.is_none()
                {
                    return Err(AuthError::Config(
                        "the app-only fleet route needs the multi-tenant app's credential: set AZURE_CLIENT_SECRET, pass --certificate PEM, set AZURE_FEDERATED_TOKEN_FILE or run in GitHub Actions with `id-token: write` (GRAPH_ACCESS_TOKEN holds one tenant's token only); or use the refresh-token route (GDAP_AUDIT_REFRESH_TOKEN or --refresh-token-file)".into(),
                    ));
                }
            }
            CustomerTokenRoute::RefreshToken => {
                if base
                    .refresh_token
                    .as_ref()
                    .and_then(|s| s.current())
                    .is_none()
                {
                    return Err(AuthError::Config(format!(
                        "the refresh-token fleet route needs a partner admin's refresh token: set {} or pass --refresh-token-file FILE (get one once with --device-code --refresh-token-file FILE); with --device-code, sign in to the partner tenant first",
                        super::refresh_token::REFRESH_TOKEN_ENV
                    )));
                }
            }
        }
        Ok(CustomerTokens {
            base,
            route,
            http: super::transport::token_http_client()?,
            providers: Mutex::new(HashMap::new()),
        })
    }

    pub fn route(&self) -> CustomerTokenRoute {
        self.route
    }

    /// The provider for one customer tenant (an id or verified domain), the same one on every call.
    pub fn provider(&self, customer_tenant: &str) -> Result<Arc<dyn TokenProvider>, AuthError> {
        // A GUID in its one form, a domain lower-cased: either way one provider per tenant.
        let key = crate::model::tenant_id::normalise(customer_tenant);
        if let Some(p) = self
            .providers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let mut settings = self.base.clone();
        settings.tenant = key.clone();
        let provider = super::provider_with_client(settings, self.http.clone())?;
        Ok(self
            .providers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(provider)
            .clone())
    }
}

/// A provider for one customer tenant on its own (its own HTTP client); for many customers use
/// [`CustomerTokens`].
pub fn customer_provider(
    base: &AuthSettings,
    route: CustomerTokenRoute,
    customer_tenant: &str,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    CustomerTokens::new(base, route)?.provider(customer_tenant)
}
