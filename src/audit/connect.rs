//! Before collecting: prove the login endpoint and Graph answer, and establish the audited tenant's id.
//! History and every fingerprint are keyed by that id, so it comes from the token's `tid` claim or from
//! `/organization`, never from a guess: when neither gives a GUID the audit stops.

use std::sync::Arc;
use std::time::Duration;

use super::AuditError;
use crate::auth::{AuthError, TokenProvider};
use crate::graph::{ClientSettings, Endpoints, GraphClient, GraphError, RetryPolicy};
use crate::model::TenantId;

/// A client for the one reachability request before collecting: a dead endpoint fails in seconds
/// instead of after the collection's full retry budget.
pub fn probe_client(
    endpoints: Endpoints,
    tokens: Arc<dyn TokenProvider>,
) -> Result<GraphClient, AuditError> {
    let mut cs = ClientSettings::new(endpoints);
    cs.retry = RetryPolicy {
        max_attempts: 2,
        max_total: Duration::from_secs(15),
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(5),
    };
    GraphClient::new(cs, tokens).map_err(|e| AuditError::Usage(e.to_string()))
}

/// The collection client: at most `max_in_flight` requests at once.
pub fn client_for(
    endpoints: Endpoints,
    tokens: Arc<dyn TokenProvider>,
    max_in_flight: usize,
) -> Result<GraphClient, AuditError> {
    let mut cs = ClientSettings::new(endpoints);
    cs.max_in_flight = max_in_flight.max(1);
    GraphClient::new(cs, tokens).map_err(|e| AuditError::Usage(e.to_string()))
}

/// Sign in, prove Graph answers, and return the audited tenant's id (lower-case GUID).
///
/// * The token endpoint unreachable (connection refused, DNS, TLS) → exit 2 naming the login URL.
/// * Graph unreachable at the connection level → exit 2 naming the Graph root. `probe` is a client with
///   a short retry budget, so a dead endpoint fails in seconds rather than after minutes of retries.
/// * `tenant` a GUID that disagrees with the token's `tid` or `/organization` → exit 2.
/// * `tenant` a domain, and neither the token nor `/organization` gives the id → exit 2 with a hint.
pub async fn identify(
    tokens: &dyn TokenProvider,
    probe: &GraphClient,
    tenant: &str,
) -> Result<Identity, AuditError> {
    let token = tokens.token(None).await.map_err(auth_error)?;
    let tid = {
        use secrecy::ExposeSecret;
        crate::auth::token_tenant_id(token.secret.expose_secret())
    };
    let graph = probe.endpoints().graph.clone();

    #[derive(serde::Deserialize)]
    struct Org {
        id: String,
    }
    // Graph refusing the token itself (401 after a refresh) stops the command too, once the tenant
    // check had its say (a token for another tenant is the likelier cause then).
    let mut rejected = None;
    // The collector's own request: its answer is handed on, so the audit reads it once.
    let mut answer = None;
    let org = match probe
        .get::<serde_json::Value>(crate::collect::ORGANIZATION_PATH)
        .await
    {
        Ok(body) => {
            let page = serde_json::from_value::<crate::graph::Page<Org>>(body.clone());
            answer = Some(body);
            match page {
                Ok(page) => match page.value.as_slice() {
                    [one] => {
                        guid(&one.id).ok_or_else(|| format!("it answered the id {:?}", one.id))
                    }
                    other => Err(format!("it answered {} organizations", other.len())),
                },
                Err(e) => Err(format!("its answer could not be read ({e})")),
            }
        }
        Err(e) => {
            if let Some(err) = unreachable(&e, &graph) {
                return Err(err);
            }
            tracing::debug!(error = %e, "organization not readable");
            if let GraphError::Auth(a) = e.root() {
                rejected = Some(AuditError::Auth(a.to_string()));
            }
            Err(e.to_string())
        }
    };
    let id = decide(tenant, tid.as_deref(), org)?;
    match rejected {
        Some(e) => Err(e),
        None => Ok(Identity {
            tenant_id: id,
            organization: answer,
        }),
    }
}

/// Who the credentials audit: the tenant's id and, when it was read, `/organization`'s answer (for
/// [`super::TenantAudit::organization`]).
#[derive(Debug, Clone)]
pub struct Identity {
    pub tenant_id: TenantId,
    pub organization: Option<serde_json::Value>,
}

/// The tenant id from what the token and `/organization` said.
fn decide(
    tenant: &str,
    tid: Option<&str>,
    org: Result<TenantId, String>,
) -> Result<TenantId, AuditError> {
    let given = tenant.trim();
    let tid = tid.and_then(TenantId::parse);
    if let Some(g) = guid(given) {
        for (what, id) in [
            ("the access token is", tid.as_ref()),
            ("/organization says", org.as_ref().ok()),
        ] {
            if let Some(id) = id.filter(|id| **id != g) {
                return Err(AuditError::Auth(format!(
                    "--tenant is {g} but {what} for tenant {id}: the credentials do not belong to the tenant to audit\n  \
                     hint: pass the tenant id the credentials are for, or credentials for {g}"
                )));
            }
        }
        return Ok(g);
    }
    if let Some(t) = tid {
        return Ok(t);
    }
    match org {
        Ok(id) => Ok(id),
        Err(why) => Err(AuditError::Auth(format!(
            "cannot establish the tenant id of {given}: the access token carries no tenant id (tid) and \
             /organization could not be read ({why})\n  hint: pass the tenant's GUID with --tenant, or grant \
             the app the permission /organization needs (Organization.Read.All or Directory.Read.All)"
        ))),
    }
}

fn guid(s: &str) -> Option<TenantId> {
    TenantId::parse(s)
}

/// The token endpoint could not be reached: name it and say what to check.
fn auth_error(e: AuthError) -> AuditError {
    match e {
        AuthError::Transport {
            url,
            detail,
            unreachable: true,
        } => AuditError::Auth(format!(
            "cannot reach the login endpoint {url}: {detail}\n  hint: check --login-url / --cloud and the network \
             (proxy, firewall, DNS)"
        )),
        other => AuditError::Auth(other.to_string()),
    }
}

/// A connection-level failure (refused, DNS, TLS, timeout), directly or after retries ran out.
fn unreachable(e: &GraphError, graph: &str) -> Option<AuditError> {
    match e.root() {
        GraphError::Transport { detail, .. } => Some(AuditError::Auth(format!(
            "cannot reach Microsoft Graph at {graph}: {detail}\n  hint: check --graph-url / --cloud and the network \
             (proxy, firewall, DNS)"
        ))),
        GraphError::Auth(AuthError::Transport {
            url,
            detail,
            unreachable: true,
        }) => Some(auth_error(AuthError::Transport {
            url: url.clone(),
            detail: detail.clone(),
            unreachable: true,
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_tenant_id;
    use base64::Engine;

    const A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

    fn jwt(claims: serde_json::Value) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(br#"{"alg":"none"}"#),
            e.encode(claims.to_string())
        )
    }

    #[test]
    fn tid_from_a_jwt() {
        let upper = A.to_ascii_uppercase();
        assert_eq!(
            token_tenant_id(&jwt(serde_json::json!({"tid": upper}))),
            Some(A.into())
        );
        assert_eq!(token_tenant_id("x"), None);
        assert_eq!(token_tenant_id("a.b.c"), None);
        assert_eq!(
            token_tenant_id(&jwt(serde_json::json!({"tid": "contoso"}))),
            None
        );
        assert_eq!(token_tenant_id(&jwt(serde_json::json!({"tid": 5}))), None);
    }

    /// #4: a domain never falls back to itself; the token's tid, then /organization, else an error.
    #[test]
    fn a_domain_resolves_from_the_token_or_organization_or_stops() {
        assert_eq!(
            decide("contoso.com", Some(A), Err("403".into()))
                .unwrap()
                .as_str(),
            A
        );
        assert_eq!(
            decide("contoso.com", None, Ok(TenantId::parse(B).unwrap()))
                .unwrap()
                .as_str(),
            B
        );
        let e = decide("contoso.com", None, Err("HTTP 403".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contoso.com") && e.contains("--tenant"), "{e}");
    }

    /// #4: a GUID --tenant that disagrees with the token or /organization is an error.
    #[test]
    fn a_guid_must_match_the_token_and_organization() {
        assert_eq!(
            decide(A, Some(A), Ok(TenantId::parse(A).unwrap()))
                .unwrap()
                .as_str(),
            A
        );
        assert_eq!(
            decide(&A.to_ascii_uppercase(), None, Err("x".into()))
                .unwrap()
                .as_str(),
            A
        );
        let e = decide(A, Some(B), Err("x".into())).unwrap_err().to_string();
        assert!(e.contains(A) && e.contains(B), "{e}");
        assert!(decide(A, None, Ok(TenantId::parse(B).unwrap())).is_err());
    }
}
