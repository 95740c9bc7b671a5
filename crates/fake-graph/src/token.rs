//! The Entra side: `/{tenant}/oauth2/v2.0/token` and `/{tenant}/oauth2/v2.0/devicecode`, strict like
//! Entra and answering Entra-shaped errors.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha1::Digest as _;

use super::chaos::{self, Drawn};
use super::util::{b64url, entra_timestamp, random_token};
use super::{FakeCertificate, FaultKind, LOGIN_JSON, Reply, ReqIds, Shared, Tenant};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Allowed clock skew on assertion `nbf`.
const SKEW_SECS: i64 = 300;
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(900);

pub(crate) struct IssuedToken {
    /// Lowercase tenant id.
    pub tenant: String,
    /// Issued for the Azure Resource Manager audience (`{base}/arm/.default`) rather than Graph's.
    pub arm: bool,
    pub expires_at: Instant,
    pub revoked: bool,
}

pub(crate) struct RefreshGrant {
    /// Lowercase id of the signed-in user's home tenant: the token is redeemable there and at the
    /// tenants that list it in `gdap_partners`.
    pub tenant: String,
    pub issued_at: chrono::DateTime<Utc>,
    /// Redeeming it answers AADSTS700082 ([`crate::FakeGraph::expire_refresh_tokens`]).
    pub expired: bool,
}

pub(crate) struct DeviceGrant {
    pub tenant: String,
    pub polls: u32,
    pub expires_at: Instant,
    pub redeemed: bool,
    pub scope: String,
}

/// What the configured certificate accepts.
pub(crate) struct CertInfo {
    x5t: String,
    x5t_s256: String,
    key: DecodingKey,
}

impl CertInfo {
    pub fn new(c: &FakeCertificate) -> Result<CertInfo, String> {
        let blocks =
            pem::parse_many(c.cert_pem.as_bytes()).map_err(|e| format!("certificate PEM: {e}"))?;
        let der = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or("certificate PEM: no CERTIFICATE block")?
            .contents()
            .to_vec();
        let key = DecodingKey::from_rsa_pem(c.public_key_pem.as_bytes())
            .map_err(|e| format!("public key PEM: {e}"))?;
        Ok(CertInfo {
            x5t: b64url(&sha1::Sha1::digest(&der)),
            x5t_s256: b64url(&sha2::Sha256::digest(&der)),
            key,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginEndpoint {
    Token,
    DeviceCode,
}

/// `/{tenant}/oauth2/v2.0/token` -> `(tenant, Token)`; `.../devicecode` -> `(tenant, DeviceCode)`.
pub(crate) fn login_path(path: &str) -> Option<(String, LoginEndpoint)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] if !tenant.is_empty() => {
            Some(((*tenant).to_owned(), LoginEndpoint::Token))
        }
        [tenant, "oauth2", "v2.0", "devicecode"] if !tenant.is_empty() => {
            Some(((*tenant).to_owned(), LoginEndpoint::DeviceCode))
        }
        _ => None,
    }
}

/// An Entra error: `{"error","error_description":"AADSTSn: text\r\nTrace ID...","error_codes":[n],...}`.
fn entra_error(
    shared: &Shared,
    status: u16,
    error: &str,
    code: u32,
    text: &str,
    ids: &ReqIds,
) -> Reply {
    entra_error_sub(shared, status, error, code, text, None, ids)
}

/// [`entra_error`] with Entra's `suberror` (`consent_required`, `bad_token`, ...).
fn entra_error_sub(
    shared: &Shared,
    status: u16,
    error: &str,
    code: u32,
    text: &str,
    suberror: Option<&str>,
    ids: &ReqIds,
) -> Reply {
    let ts = entra_timestamp(Utc::now());
    let description = format!(
        "AADSTS{code}: {text}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
        ids.request_id, ids.client_request_id
    );
    let mut body = json!({
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": ids.request_id,
        "correlation_id": ids.client_request_id,
        "error_uri": format!("{}/error?code={code}", shared.base),
    });
    if let (Some(sub), Some(obj)) = (suberror, body.as_object_mut()) {
        obj.insert("suberror".into(), json!(sub));
    }
    let mut reply = Reply::json(status, &body).header("x-ms-request-id", ids.request_id.clone());
    reply.content_type = LOGIN_JSON;
    reply
}

fn ok_json(body: &Value, ids: &ReqIds) -> Reply {
    let mut reply = Reply::json(200, body).header("x-ms-request-id", ids.request_id.clone());
    reply.content_type = LOGIN_JSON;
    reply
}

fn missing(shared: &Shared, name: &str, ids: &ReqIds) -> Reply {
    entra_error(
        shared,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
        ids,
    )
}

/// A fault on the token endpoint, rendered Entra-style.
fn login_fault(shared: &Shared, kind: FaultKind, ids: &ReqIds) -> Option<Reply> {
    let with_retry = |r: Reply, after: Option<String>| match after {
        Some(v) => r.header("Retry-After", v),
        None => r,
    };
    Some(match kind {
        FaultKind::TooManyRequests { retry_after } => with_retry(
            entra_error(
                shared,
                429,
                "temporarily_unavailable",
                90055,
                "TenantThrottlingThreshold: too many requests.",
                ids,
            ),
            retry_after,
        ),
        FaultKind::ServiceUnavailable { retry_after } => with_retry(
            entra_error(
                shared,
                503,
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again.",
                ids,
            ),
            retry_after,
        ),
        FaultKind::GatewayTimeout => entra_error(
            shared,
            504,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
            ids,
        ),
        FaultKind::TokenRevoked => entra_error(
            shared,
            400,
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            ids,
        ),
        FaultKind::Status {
            status,
            code,
            message,
        } => {
            let mut r = Reply::json(
                status,
                &json!({ "error": code, "error_description": message, "error_codes": [], "trace_id": ids.request_id }),
            );
            r.content_type = LOGIN_JSON;
            r
        }
        FaultKind::Delay(_) | FaultKind::TruncatedBody => return None,
        FaultKind::DeeplyNested { depth } => {
            let mut body =
                String::from(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"#);
            body.extend(std::iter::repeat_n('[', depth));
            body.extend(std::iter::repeat_n(']', depth));
            body.push('}');
            Reply::raw(200, body.into_bytes())
        }
        FaultKind::HugeString { bytes } => {
            let mut body =
                String::from(r#"{"token_type":"Bearer","expires_in":3599,"access_token":""#);
            body.extend(std::iter::repeat_n('x', bytes));
            body.push_str("\"}");
            Reply::raw(200, body.into_bytes())
        }
        FaultKind::RawBody { status, body } => {
            let mut r = Reply::raw(status, body.into_bytes());
            r.content_type = LOGIN_JSON;
            r
        }
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn handle(
    shared: &Shared,
    method: &str,
    tenant_segment: &str,
    endpoint: LoginEndpoint,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    ids: &ReqIds,
) -> Reply {
    let mut form: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    let mut recorded = form.clone();
    recorded.insert("_path".into(), path.to_owned());
    shared.lock().token_requests.push(recorded);

    if !method.eq_ignore_ascii_case("POST") {
        return entra_error(
            shared,
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
            ids,
        );
    }
    let mut truncate = false;
    let fault = match shared.take_fault(path) {
        Some(kind) => Some(Drawn::Kind(kind)),
        None => chaos::request_fault(shared, &chaos::request_key(method, path, &[]), true),
    };
    if let Some(drawn) = fault {
        let kind = match drawn {
            Drawn::Kind(kind) => kind,
            Drawn::Reset => return chaos::reset_reply(),
        };
        match kind {
            FaultKind::Delay(d) => tokio::time::sleep(d).await,
            FaultKind::TruncatedBody => truncate = true,
            other => {
                if let Some(r) = login_fault(shared, other, ids) {
                    return r;
                }
            }
        }
    }
    let mut reply = match shared.tenant(tenant_segment) {
        None => entra_error(
            shared,
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
            ids,
        ),
        Some(tenant) => {
            let tenant_id = tenant.tenant_id.to_ascii_lowercase();
            match endpoint {
                LoginEndpoint::Token => token(shared, &tenant, tenant_segment, &form, headers, ids),
                LoginEndpoint::DeviceCode => device_code(shared, &tenant_id, &form, ids),
            }
        }
    };
    reply.truncate |= truncate;
    reply
}

/// `client_id` and secret from `Authorization: Basic` (RFC 6749 §2.3.1: both form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn check_client(
    shared: &Shared,
    client_id: &str,
    tenant_id: &str,
    ids: &ReqIds,
) -> Result<(), Reply> {
    if client_id == shared.app.client_id {
        return Ok(());
    }
    Err(entra_error(
        shared,
        400,
        "unauthorized_client",
        700016,
        &format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
        ids,
    ))
}

fn invalid_scope(shared: &Shared, scope: &str, ids: &ReqIds) -> Reply {
    entra_error(
        shared,
        400,
        "invalid_scope",
        70011,
        &format!(
            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The expected scope is {}/.default.",
            shared.base
        ),
        ids,
    )
}

/// Scopes of a delegated (device code / refresh) request: must include `{url}/.default`, may add OIDC scopes.
fn check_delegated_scope(shared: &Shared, scope: &str, ids: &ReqIds) -> Result<(), Reply> {
    let default = format!("{}/.default", shared.base);
    let mut has_default = false;
    for s in scope.split_whitespace() {
        if s == default {
            has_default = true;
        } else if !matches!(s, "offline_access" | "openid" | "profile" | "email") {
            return Err(invalid_scope(shared, scope, ids));
        }
    }
    if has_default {
        Ok(())
    } else {
        Err(invalid_scope(shared, scope, ids))
    }
}

fn token(
    shared: &Shared,
    tenant: &Tenant,
    tenant_segment: &str,
    form: &BTreeMap<String, String>,
    headers: &HeaderMap,
    ids: &ReqIds,
) -> Reply {
    let tenant_id = tenant.tenant_id.to_ascii_lowercase();
    let tenant_id = tenant_id.as_str();
    let basic = basic_credentials(headers);
    let Some(grant_type) = form.get("grant_type") else {
        return missing(shared, "grant_type", ids);
    };
    let Some(client_id) = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
    else {
        return missing(shared, "client_id", ids);
    };
    if let Err(r) = check_client(shared, &client_id, tenant_id, ids) {
        return r;
    }
    match grant_type.as_str() {
        "client_credentials" => {
            let Some(scope) = form.get("scope") else {
                return missing(shared, "scope", ids);
            };
            let arm = scope.trim() == format!("{}{}/.default", shared.base, super::arm::PREFIX);
            if scope.trim() != format!("{}/.default", shared.base) && !arm {
                return invalid_scope(shared, scope, ids);
            }
            let secret = form
                .get("client_secret")
                .cloned()
                .or_else(|| basic.map(|(_, s)| s));
            if let Err(r) = client_credential(shared, tenant_segment, tenant_id, form, secret, ids)
            {
                return r;
            }
            if !tenant.consented(&client_id) {
                return missing_service_principal(shared, &client_id, tenant_id, ids);
            }
            let (access, expires_in) = issue(shared, tenant_id, arm);
            ok_json(
                &json!({ "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access }),
                ids,
            )
        }
        DEVICE_CODE_GRANT => {
            let Some(code) = form.get("device_code") else {
                return missing(shared, "device_code", ids);
            };
            device_poll(shared, tenant_id, code, ids)
        }
        "refresh_token" => {
            let Some(refresh) = form.get("refresh_token") else {
                return missing(shared, "refresh_token", ids);
            };
            if let Some(scope) = form.get("scope")
                && let Err(r) = check_delegated_scope(shared, scope, ids)
            {
                return r;
            }
            // A confidential client presents its credential with the refresh token; a public one none.
            let secret = form
                .get("client_secret")
                .cloned()
                .or_else(|| basic.map(|(_, s)| s));
            if (secret.is_some() || form.contains_key("client_assertion"))
                && let Err(r) =
                    client_credential(shared, tenant_segment, tenant_id, form, secret, ids)
            {
                return r;
            }
            match redeem_refresh(shared, tenant, &client_id, refresh, ids) {
                Ok(home) => delegated_success(
                    shared,
                    tenant_id,
                    &home,
                    form.get("scope").map(String::as_str).unwrap_or_default(),
                    ids,
                ),
                Err(r) => r,
            }
        }
        other => entra_error(
            shared,
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
            ids,
        ),
    }
}

/// AADSTS7000229: the multi-tenant app has no service principal in this tenant (never consented).
fn missing_service_principal(
    shared: &Shared,
    client_id: &str,
    tenant_id: &str,
    ids: &ReqIds,
) -> Reply {
    entra_error(
        shared,
        400,
        "invalid_client",
        7000229,
        &format!(
            "The client application {client_id} is missing service principal in the tenant {tenant_id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"
        ),
        ids,
    )
}

/// Checks a refresh token redeemed at `tenant`; returns the user's home tenant (lowercase).
fn redeem_refresh(
    shared: &Shared,
    tenant: &Tenant,
    client_id: &str,
    refresh: &str,
    ids: &ReqIds,
) -> Result<String, Reply> {
    let tenant_id = tenant.tenant_id.to_ascii_lowercase();
    let grant = shared
        .lock()
        .refresh
        .get(refresh)
        .map(|g| (g.tenant.clone(), g.issued_at, g.expired));
    let Some((home, issued_at, expired)) = grant else {
        return Err(entra_error(
            shared,
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
            ids,
        ));
    };
    if expired {
        return Err(entra_error_sub(
            shared,
            400,
            "invalid_grant",
            700082,
            &format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for 90.00:00:00.",
                issued_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            Some("bad_token"),
            ids,
        ));
    }
    if home != tenant_id && !tenant.gdap_partners.contains(&home) {
        return Err(entra_error(
            shared,
            400,
            "invalid_grant",
            50020,
            &format!(
                "User account from identity provider 'https://sts.windows.net/{home}/' does not exist in tenant '{tenant_id}' and cannot access the application '{client_id}' in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."
            ),
            ids,
        ));
    }
    if !tenant.consented(client_id) {
        return Err(entra_error_sub(
            shared,
            400,
            "invalid_grant",
            65001,
            &format!(
                "The user or administrator has not consented to use the application with ID '{client_id}' named '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
            Some("consent_required"),
            ids,
        ));
    }
    Ok(home)
}

/// Records a new refresh token for a user of `home` (lowercase tenant id).
pub(crate) fn new_refresh_token(shared: &Shared, home: &str) -> String {
    let refresh = format!("fakeRT.{}", random_token(48));
    shared.lock().refresh.insert(
        refresh.clone(),
        RefreshGrant {
            tenant: home.to_owned(),
            issued_at: Utc::now(),
            expired: false,
        },
    );
    refresh
}

/// Checks the client credential of a `client_credentials` request.
fn client_credential(
    shared: &Shared,
    tenant_segment: &str,
    tenant_id: &str,
    form: &BTreeMap<String, String>,
    secret: Option<String>,
    ids: &ReqIds,
) -> Result<(), Reply> {
    let app = &shared.app;
    let invalid_client =
        |code: u32, text: &str| entra_error(shared, 401, "invalid_client", code, text, ids);
    match (form.get("client_assertion"), secret) {
        (Some(_), Some(_)) => Err(entra_error(
            shared,
            400,
            "invalid_request",
            90023,
            "Only one client credential may be presented: 'client_assertion' or 'client_secret', not both.",
            ids,
        )),
        (None, None) => Err(invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (None, Some(secret)) => {
            if app.client_secret.as_deref() == Some(secret.as_str()) {
                Ok(())
            } else {
                Err(invalid_client(
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        app.client_id
                    ),
                ))
            }
        }
        (Some(assertion), None) => {
            match form.get("client_assertion_type") {
                None => {
                    return Err(entra_error(
                        shared,
                        400,
                        "invalid_request",
                        90014,
                        "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
                        ids,
                    ));
                }
                Some(t) if t != JWT_BEARER => {
                    return Err(entra_error(
                        shared,
                        400,
                        "invalid_request",
                        90014,
                        &format!(
                            "The value '{t}' of 'client_assertion_type' is not supported; expected '{JWT_BEARER}'."
                        ),
                        ids,
                    ));
                }
                Some(_) => {}
            }
            if app.federated_assertion.as_deref() == Some(assertion.as_str()) {
                return Ok(());
            }
            let audiences = [
                format!("{}/{tenant_segment}/oauth2/v2.0/token", shared.base),
                format!("{}/{tenant_id}/oauth2/v2.0/token", shared.base),
            ];
            verify_assertion(
                app.certificate.as_ref(),
                &app.client_id,
                assertion,
                &audiences,
                Utc::now().timestamp(),
            )
            .map_err(|(code, text)| invalid_client(code, &text))
        }
    }
}

/// Verifies a certificate client assertion. Errors are `(AADSTS code, text)`.
pub(crate) fn verify_assertion(
    cert: Option<&CertInfo>,
    client_id: &str,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), (u32, String)> {
    let malformed = || (50027, "JWT token is invalid or malformed.".to_owned());
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let not_registered = |thumb: &str| {
        (
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
        )
    };
    let Some(cert) = cert else {
        return Err(not_registered(
            header
                .x5t_s256
                .as_deref()
                .or(header.x5t.as_deref())
                .unwrap_or(""),
        ));
    };
    if !matches!(header.alg, Algorithm::PS256 | Algorithm::RS256) {
        return Err((
            700027,
            format!(
                "Client assertion contains an unsupported signing algorithm {:?}; use PS256 or RS256.",
                header.alg
            ),
        ));
    }
    match (&header.x5t_s256, &header.x5t) {
        (Some(s256), _) if *s256 != cert.x5t_s256 => return Err(not_registered(s256)),
        (Some(_), _) => {}
        (None, Some(x5t)) if *x5t != cert.x5t => return Err(not_registered(x5t)),
        (None, Some(_)) => {}
        (None, None) => {
            return Err((
                700027,
                "Client assertion header contains neither 'x5t#S256' nor 'x5t'.".to_owned(),
            ));
        }
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<Value>(assertion, &cert.key, &validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => (
                    700027,
                    "Client assertion failed signature validation.".to_owned(),
                ),
                _ => malformed(),
            }
        })?;
    let claims = data.claims;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.iter().any(|x| x == a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err((
            700027,
            format!(
                "Client assertion contains an invalid audience claim {}. Expected '{}'.",
                claims.get("aud").unwrap_or(&Value::Null),
                audiences[0]
            ),
        ));
    }
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    if iss != Some(client_id) || sub != Some(client_id) {
        return Err((
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .".to_owned(),
        ));
    }
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err((
            700027,
            "Client assertion is missing the 'jti' claim.".to_owned(),
        ));
    }
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    };
    let exp = number("exp");
    let nbf = number("nbf");
    let in_range = exp.is_some_and(|e| e > now) && nbf.is_none_or(|n| n <= now + SKEW_SECS);
    if !in_range {
        return Err((
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
                nbf.map(|n| n.to_string())
                    .unwrap_or_else(|| "(none)".into()),
                exp.map(|n| n.to_string())
                    .unwrap_or_else(|| "(none)".into()),
            ),
        ));
    }
    Ok(())
}

/// `now + lifetime`, saturating (a `Duration::MAX` lifetime never expires instead of panicking).
fn expiry(lifetime: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(lifetime)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Issues an access token for `tenant_id` (lowercase); returns it and `expires_in`.
pub(crate) fn issue(shared: &Shared, tenant_id: &str, arm: bool) -> (String, u64) {
    let access = format!("fakeAT.{}", random_token(32));
    shared.lock().access.insert(
        access.clone(),
        IssuedToken {
            tenant: tenant_id.to_owned(),
            arm,
            expires_at: expiry(shared.token_lifetime),
            revoked: false,
        },
    );
    (access, shared.token_lifetime.as_secs())
}

/// Access token for `tenant_id` + a new (rotated) refresh token for the user of `home`.
fn delegated_success(
    shared: &Shared,
    tenant_id: &str,
    home: &str,
    scope: &str,
    ids: &ReqIds,
) -> Reply {
    let (access, expires_in) = issue(shared, tenant_id, false);
    let refresh = new_refresh_token(shared, home);
    let scope = if scope.trim().is_empty() {
        format!("{}/.default", shared.base)
    } else {
        scope.trim().to_owned()
    };
    ok_json(
        &json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access,
            "refresh_token": refresh,
        }),
        ids,
    )
}

fn device_poll(shared: &Shared, tenant_id: &str, code: &str, ids: &ReqIds) -> Reply {
    enum Poll {
        Unknown,
        Expired,
        Redeemed,
        Pending,
        Done(String),
    }
    let poll = {
        let mut m = shared.lock();
        match m.devices.get_mut(code) {
            Some(g) if g.tenant != tenant_id => Poll::Unknown,
            None => Poll::Unknown,
            Some(g) if Instant::now() >= g.expires_at => Poll::Expired,
            Some(g) if g.redeemed => Poll::Redeemed,
            Some(g) if g.polls < shared.device_pending_polls => {
                g.polls += 1;
                Poll::Pending
            }
            Some(g) => {
                g.redeemed = true;
                Poll::Done(g.scope.clone())
            }
        }
    };
    match poll {
        Poll::Unknown => entra_error(
            shared,
            400,
            "bad_verification_code",
            70000,
            "The provided value for the input parameter 'device_code' is not valid.",
            ids,
        ),
        Poll::Expired => entra_error(
            shared,
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ids,
        ),
        Poll::Redeemed => entra_error(
            shared,
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ids,
        ),
        Poll::Pending => entra_error(
            shared,
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ids,
        ),
        Poll::Done(scope) => delegated_success(shared, tenant_id, tenant_id, &scope, ids),
    }
}

fn device_code(
    shared: &Shared,
    tenant_id: &str,
    form: &BTreeMap<String, String>,
    ids: &ReqIds,
) -> Reply {
    let Some(client_id) = form.get("client_id") else {
        return missing(shared, "client_id", ids);
    };
    if let Err(r) = check_client(shared, client_id, tenant_id, ids) {
        return r;
    }
    let Some(scope) = form.get("scope") else {
        return missing(shared, "scope", ids);
    };
    if let Err(r) = check_delegated_scope(shared, scope, ids) {
        return r;
    }
    let device_code = format!("fakeDC.{}", random_token(36));
    let letters: Vec<char> = random_token(16)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let pick = |i: usize| letters.get(i).copied().unwrap_or('X');
    let user_code = format!(
        "{}{}{}{}-{}{}{}{}",
        pick(0),
        pick(1),
        pick(2),
        pick(3),
        pick(4),
        pick(5),
        pick(6),
        pick(7)
    );
    shared.lock().devices.insert(
        device_code.clone(),
        DeviceGrant {
            tenant: tenant_id.to_owned(),
            polls: 0,
            expires_at: expiry(DEVICE_CODE_LIFETIME),
            redeemed: false,
            scope: scope.trim().to_owned(),
        },
    );
    let uri = "https://microsoft.com/devicelogin";
    ok_json(
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
            "interval": 1,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }),
        ids,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_paths() {
        assert_eq!(
            login_path("/t1/oauth2/v2.0/token"),
            Some(("t1".into(), LoginEndpoint::Token))
        );
        assert_eq!(
            login_path("/organizations/oauth2/v2.0/devicecode"),
            Some(("organizations".into(), LoginEndpoint::DeviceCode))
        );
        assert_eq!(login_path("//oauth2/v2.0/token"), None);
        assert_eq!(login_path("/v1.0/oauth2/v2.0/token/x"), None);
    }
}
