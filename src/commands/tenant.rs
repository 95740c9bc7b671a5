//! Before collecting: prove the login endpoint and Graph answer, and establish the audited tenant's id.
//! History and every fingerprint are keyed by that id, so it comes from the token's `tid` claim or from
//! `/organization`, never from a guess: when neither gives a GUID the command stops.

use super::CommandError;
use crate::auth::{AuthError, TokenProvider};
use crate::graph::{GraphClient, GraphError};
use crate::printer::Printer;

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
    printer: &Printer,
) -> Result<String, CommandError> {
    let spinner = printer.spinner("signing in");
    let result = identify_inner(tokens, probe, tenant).await;
    spinner.finish();
    result
}

async fn identify_inner(
    tokens: &dyn TokenProvider,
    probe: &GraphClient,
    tenant: &str,
) -> Result<String, CommandError> {
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
    let org = match probe
        .get::<crate::graph::Page<Org>>("/v1.0/organization?$select=id")
        .await
    {
        Ok(page) => match page.value.as_slice() {
            [one] => guid(&one.id).ok_or_else(|| format!("it answered the id {:?}", one.id)),
            other => Err(format!("it answered {} organizations", other.len())),
        },
        Err(e) => {
            if let Some(err) = unreachable(&e, &graph) {
                return Err(err);
            }
            tracing::debug!(error = %e, "organization not readable");
            if let GraphError::Auth(a) = e.root() {
                rejected = Some(CommandError::Auth(a.to_string()));
            }
            Err(e.to_string())
        }
    };
    let id = decide(tenant, tid.as_deref(), org)?;
    match rejected {
        Some(e) => Err(e),
        None => Ok(id),
    }
}

/// The tenant id from what the token and `/organization` said.
fn decide(
    tenant: &str,
    tid: Option<&str>,
    org: Result<String, String>,
) -> Result<String, CommandError> {
    let given = tenant.trim();
    if let Some(g) = guid(given) {
        for (what, id) in [
            ("the access token is", tid),
            ("/organization says", org.as_deref().ok()),
        ] {
            if let Some(id) = id.filter(|id| *id != g) {
                return Err(CommandError::Auth(format!(
                    "--tenant is {g} but {what} for tenant {id}: the credentials do not belong to the tenant to audit\n  \
                     hint: pass the tenant id the credentials are for, or credentials for {g}"
                )));
            }
        }
        return Ok(g);
    }
    if let Some(t) = tid {
        return Ok(t.to_owned());
    }
    match org {
        Ok(id) => Ok(id),
        Err(why) => Err(CommandError::Auth(format!(
            "cannot establish the tenant id of {given}: the access token carries no tenant id (tid) and \
             /organization could not be read ({why})\n  hint: pass the tenant's GUID with --tenant, or grant \
             the app the permission /organization needs (Organization.Read.All or Directory.Read.All)"
        ))),
    }
}

/// A lower-case GUID, or `None`.
fn guid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// The token endpoint could not be reached: name it and say what to check.
fn auth_error(e: AuthError) -> CommandError {
    match e {
        AuthError::Transport {
            url,
            detail,
            unreachable: true,
        } => CommandError::Auth(format!(
            "cannot reach the login endpoint {url}: {detail}\n  hint: check --login-url / --cloud and the network \
             (proxy, firewall, DNS)"
        )),
        other => CommandError::Auth(other.to_string()),
    }
}

/// A connection-level failure (refused, DNS, TLS, timeout), directly or after retries ran out.
fn unreachable(e: &GraphError, graph: &str) -> Option<CommandError> {
    match e.root() {
        GraphError::Transport { detail, .. } => Some(CommandError::Auth(format!(
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
            decide("contoso.com", Some(A), Err("403".into())).unwrap(),
            A
        );
        assert_eq!(decide("contoso.com", None, Ok(B.into())).unwrap(), B);
        let e = decide("contoso.com", None, Err("HTTP 403".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contoso.com") && e.contains("--tenant"), "{e}");
    }

    /// #4: a GUID --tenant that disagrees with the token or /organization is an error.
    #[test]
    fn a_guid_must_match_the_token_and_organization() {
        assert_eq!(decide(A, Some(A), Ok(A.into())).unwrap(), A);
        assert_eq!(
            decide(&A.to_ascii_uppercase(), None, Err("x".into())).unwrap(),
            A
        );
        let e = decide(A, Some(B), Err("x".into())).unwrap_err().to_string();
        assert!(e.contains(A) && e.contains(B), "{e}");
        assert!(decide(A, None, Ok(B.into())).is_err());
    }
}
