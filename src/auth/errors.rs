//! Entra token-endpoint errors: parse the error JSON, keep what helps, add a one-sentence hint.
//!
//! Entra answers a failed token request with HTTP 400/401 and a body such as
//! `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided...\r\nTrace ID: ...\r\nCorrelation ID: ...","error_codes":[7000215],...}`.
//! Only the first line of the description is kept (trace, correlation ids and timestamp dropped), and
//! its `AADSTSnnn: ` prefix is removed because the code is shown separately. Entra never echoes a
//! credential in these fields; nothing else from the body is kept.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::AuthError;

/// The JSON body of an Entra token-endpoint error (also the oauth2 error type of our clients).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<u64>,
}

impl fmt::Display for EntraErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(d) = &self.error_description {
            write!(f, ": {}", first_line(d))?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for EntraErrorBody {}

/// What a hint may mention: where to grant admin consent, which app.
#[derive(Debug, Clone, Default)]
pub struct HintContext {
    /// Login root, e.g. `https://login.microsoftonline.com`.
    pub login: String,
    pub tenant: String,
    pub client_id: Option<String>,
}

impl HintContext {
    /// `{login}/{tenant}/adminconsent?client_id=...`
    pub fn admin_consent_url(&self) -> String {
        format!(
            "{}/{}/adminconsent?client_id={}",
            self.login,
            self.tenant,
            self.client_id.as_deref().unwrap_or("<client id>")
        )
    }
}

impl EntraErrorBody {
    /// Parse a token-endpoint error body; `None` if it is not Entra/OAuth error JSON.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|e| !e.error.is_empty())
    }

    /// The AADSTS number: the first of `error_codes`, else the `AADSTSnnn` prefix of the description.
    pub fn aadsts(&self) -> Option<String> {
        if let Some(code) = self.error_codes.first() {
            return Some(code.to_string());
        }
        let d = self.error_description.as_deref()?.trim_start();
        let digits: String = d
            .strip_prefix("AADSTS")?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (!digits.is_empty()).then_some(digits)
    }

    /// The first line of the description, without its `AADSTSnnn: ` prefix.
    pub fn short_description(&self) -> String {
        let line = self
            .error_description
            .as_deref()
            .map(first_line)
            .unwrap_or_default();
        strip_code_prefix(line).to_owned()
    }

    /// The `AuthError::Rejected` for this body, with a hint.
    pub fn into_auth_error(self, ctx: &HintContext) -> AuthError {
        let aadsts = self.aadsts();
        let hint = hint(aadsts.as_deref(), &self.error, ctx);
        AuthError::Rejected {
            description: self.short_description(),
            error: self.error,
            aadsts,
            hint,
        }
    }
}

/// From oauth2's standard error (used by the device-code poller, whose error type is fixed).
impl<T: oauth2::ErrorResponseType + fmt::Display> From<&oauth2::StandardErrorResponse<T>>
    for EntraErrorBody
{
    fn from(e: &oauth2::StandardErrorResponse<T>) -> Self {
        EntraErrorBody {
            error: e.error().to_string(),
            error_description: e.error_description().cloned(),
            error_codes: Vec::new(),
        }
    }
}

/// Lets [`super::transport::map_request_error`] take either error type.
impl From<&EntraErrorBody> for EntraErrorBody {
    fn from(e: &EntraErrorBody) -> Self {
        e.clone()
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

fn strip_code_prefix(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("AADSTS") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(after) = rest.strip_prefix(':') {
            return after.trim_start();
        }
    }
    line
}

/// One sentence on what to fix, keyed by the AADSTS code (then the OAuth error).
pub fn hint(aadsts: Option<&str>, error: &str, ctx: &HintContext) -> String {
    let code = aadsts.unwrap_or("");
    match code {
        "7000215" => "The client secret is wrong: AZURE_CLIENT_SECRET must hold the secret's value (not its secret id) of a secret of this app registration.".into(),
        "7000222" => "The client secret has expired: create a new secret on the app registration (Certificates & secrets) and update AZURE_CLIENT_SECRET.".into(),
        "700016" => format!(
            "No application with this client id was found in tenant {}: check --client-id (AZURE_CLIENT_ID) and --tenant; a multi-tenant app must first be consented to in this tenant (admin consent at {}).",
            ctx.tenant,
            ctx.admin_consent_url()
        ),
        "7000229" => format!(
            "The app has no service principal in tenant {}: it was never consented to there. Grant admin consent for the multi-tenant app in that tenant at {} (a Global Administrator or Privileged Role Administrator of the tenant; for a GDAP customer, a partner admin holding Application Administrator or Cloud Application Administrator through GDAP), then run again.",
            ctx.tenant,
            ctx.admin_consent_url()
        ),
        "90002" | "90023" => "The tenant was not found: check --tenant (AZURE_TENANT_ID), a tenant id (GUID) or a verified domain such as contoso.onmicrosoft.com, and --cloud.".into(),
        "65001" | "650057" => format!(
            "The app has not been granted admin consent in tenant {} for the permissions it needs: have a Global Administrator or Privileged Role Administrator of that tenant (for a GDAP customer, a partner admin holding Application Administrator or Cloud Application Administrator through GDAP) consent at {}.",
            ctx.tenant,
            ctx.admin_consent_url()
        ),
        "700082" => format!(
            "The refresh token has expired (unused for too long, 90 days by default): sign in again once with `--device-code --refresh-token-file FILE` (or update {}) and rerun.",
            super::refresh_token::REFRESH_TOKEN_ENV
        ),
        "70043" | "70044" => format!(
            "The refresh token is past the sign-in frequency a Conditional Access policy of tenant {} sets: sign in again with `--device-code --refresh-token-file FILE` and rerun within that period, or have the policy's owner exempt this audit account.",
            ctx.tenant
        ),
        "50173" | "50133" => "The refresh token was revoked (password change or an administrator revoking sessions): sign in again with `--device-code --refresh-token-file FILE`.".into(),
        "50020" => format!(
            "The signed-in account cannot reach tenant {}: for a GDAP customer, check that the partner has an active GDAP relationship with it and that the account is in a security group assigned roles in that relationship; otherwise sign in with an account of that tenant.",
            ctx.tenant
        ),
        "7000218" => "The app is a confidential client and the request carried no credential: set AZURE_CLIENT_SECRET or pass --certificate for the refresh-token route too, or enable 'Allow public client flows' on the app registration.".into(),
        "50076" | "50079" | "50074" => "Multi-factor authentication is required: sign in again with --device-code and complete MFA (register a method first if asked); a refresh token from a sign-in without MFA cannot satisfy this tenant's policy.".into(),
        "700027" => "The certificate assertion was not accepted: upload this certificate to the app registration (Certificates & secrets), check the PEM's key belongs to it, or try the RS256 assertion.".into(),
        "700024" => "The client assertion is outside its validity window: check this machine's clock (NTP), or that the federated token file is fresh.".into(),
        "70021" => "No federated identity credential of the app matches the token in AZURE_FEDERATED_TOKEN_FILE: check the credential's issuer, subject and audience (api://AzureADTokenExchange) against the token.".into(),
        "50034" => "The user account does not exist in this tenant: sign in with an account of the tenant given by --tenant.".into(),
        "53003" => format!(
            "Conditional Access blocked the sign-in to tenant {}: an administrator of that tenant can find the blocking policy in its sign-in logs (by correlation id) and exclude or allow this identity (for a partner admin, the policy's service-provider user conditions).",
            ctx.tenant
        ),
        "70011" => "The requested scope is invalid: the scope must be the Graph root followed by /.default; check --cloud and --graph-url.".into(),
        "" => match error {
            "invalid_client" => "The client credentials were refused: check --client-id, the secret or certificate, and --tenant.".into(),
            "unauthorized_client" => "This app is not allowed to use this sign-in method: check the app registration (e.g. 'Allow public client flows' for --device-code).".into(),
            "invalid_grant" => "The grant was refused (expired or revoked): sign in again.".into(),
            _ => "Check --tenant, --client-id and the credential.".into(),
        },
        other => format!(
            "Check --tenant, --client-id and the credential; Microsoft explains AADSTS{other} at https://login.microsoftonline.com/error?code={other}."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> HintContext {
        HintContext {
            login: "https://login.microsoftonline.com".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: Some("11111111-2222-3333-4444-555555555555".into()),
        }
    }

    const SCOPE_ERR: &str = r#"{"error":"invalid_scope","error_description":"AADSTS70011: The provided request must include a 'scope' input parameter.\r\nTrace ID: 0b4a9b1c-aaaa\r\nCorrelation ID: 7f3c-bbbb\r\nTimestamp: 2025-01-01 10:00:00Z","error_codes":[70011],"timestamp":"2025-01-01 10:00:00Z","trace_id":"0b4a9b1c-aaaa","correlation_id":"7f3c-bbbb"}"#;

    #[test]
    fn parses_entra_error_json_and_keeps_the_first_line() {
        let body = EntraErrorBody::parse(SCOPE_ERR.as_bytes()).unwrap();
        assert_eq!(body.aadsts().as_deref(), Some("70011"));
        assert_eq!(
            body.short_description(),
            "The provided request must include a 'scope' input parameter."
        );
        let err = body.into_auth_error(&ctx());
        let text = err.to_string();
        assert!(text.contains("AADSTS70011"), "{text}");
        assert!(text.contains("invalid_scope"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        assert!(!text.contains("Correlation ID"), "{text}");
        assert!(text.contains("/.default"), "{text}");
    }

    #[test]
    fn code_comes_from_the_description_when_error_codes_is_missing() {
        let body = EntraErrorBody::parse(
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\nTrace ID: x"}"#,
        )
        .unwrap();
        assert_eq!(body.aadsts().as_deref(), Some("7000215"));
        match body.into_auth_error(&ctx()) {
            AuthError::Rejected {
                aadsts,
                error,
                description,
                hint,
            } => {
                assert_eq!(aadsts.as_deref(), Some("7000215"));
                assert_eq!(error, "invalid_client");
                assert_eq!(description, "Invalid client secret provided.");
                assert!(hint.contains("AZURE_CLIENT_SECRET"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_error_json_is_not_an_entra_error() {
        assert!(EntraErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(EntraErrorBody::parse(br#"{"access_token":"x"}"#).is_none());
        assert!(EntraErrorBody::parse(br#"{"error":""}"#).is_none());
    }

    #[test]
    fn hints_name_what_to_fix() {
        let c = ctx();
        let h = |code: &str| hint(Some(code), "invalid_request", &c);
        assert!(h("7000215").contains("secret"));
        assert!(h("7000222").contains("expired"));
        assert!(h("700016").contains("client id"));
        assert!(h("700016").contains("adminconsent"));
        let sp = h("7000229");
        assert!(
            sp.contains("service principal")
                && sp.contains("contoso.onmicrosoft.com/adminconsent?client_id=11111111")
                && sp.contains("Cloud Application Administrator"),
            "{sp}"
        );
        for code in ["700082", "70043", "50173"] {
            assert!(
                h(code).contains("--device-code --refresh-token-file"),
                "{code}"
            );
        }
        assert!(h("700082").contains("GDAP_AUDIT_REFRESH_TOKEN"));
        assert!(h("70043").contains("sign-in frequency"));
        assert!(h("50020").contains("GDAP relationship"));
        assert!(h("7000218").contains("AZURE_CLIENT_SECRET"));
        for code in ["50076", "50079"] {
            assert!(h(code).contains("MFA"), "{code}");
        }
        assert!(h("90002").contains("--tenant"));
        assert!(h("90023").contains("--tenant"));
        for code in ["65001", "650057"] {
            let s = h(code);
            assert!(
                s.contains(
                    "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=11111111-2222-3333-4444-555555555555"
                ),
                "{s}"
            );
        }
        assert!(h("700027").contains("certificate"));
        assert!(h("700024").contains("clock"));
        assert!(h("70021").contains("federated"));
        assert!(h("50034").contains("user"));
        assert!(h("53003").contains("Conditional Access"));
        assert!(h("70011").contains("scope"));
        assert!(h("12345").contains("error?code=12345"));
        assert!(hint(None, "invalid_client", &c).contains("client"));
        assert!(hint(None, "whatever", &c).contains("--tenant"));
    }

    #[test]
    fn description_prefix_is_stripped_only_when_it_is_a_code() {
        assert_eq!(
            strip_code_prefix("AADSTS50034: The user account"),
            "The user account"
        );
        assert_eq!(strip_code_prefix("AADSTSX: y"), "AADSTSX: y");
        assert_eq!(strip_code_prefix("plain text"), "plain text");
    }
}
