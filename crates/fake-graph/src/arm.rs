//! The Azure Resource Manager side, served under `{base}/arm` ([`super::FakeGraph::arm_url`]): its own
//! token audience (`{base}/arm/.default`), `api-version` required, ARM-shaped errors and request-id
//! headers, collections paged with a plain `nextLink`, and `$expandRegistrationDefinition` honoured.
//!
//! Fixture route keys are real ARM paths (`/subscriptions`, `/subscriptions/{id}/providers/...`,
//! `/providers/...`). A collection body may carry `"@fake.pageSize": N` (default 100) to be paged; a
//! body with `"@fake.status": N` is served with that status. Faults ([`super::Fault`]) match the path
//! as the client sent it below `/arm` (e.g. `/subscriptions?api-version=...`).

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::chaos::Drawn;
use super::fixtures::route_id;
use super::graph::{FaultAction, bearer, fault_reply, injected_fault};
use super::util::Query;
use super::{Reply, ReqIds, Shared, Tenant};

/// Path prefix of the ARM root on the fake.
pub(crate) const PREFIX: &str = "/arm";

const DEFAULT_PAGE: usize = 100;

pub(crate) struct ArmRequest {
    pub method: String,
    /// Percent-decoded, without the `/arm` prefix.
    pub path: String,
    pub query: Query,
}

/// An ARM error body, `{"error":{"code","message"}}`, as ARM sends it (no innerError).
pub(crate) fn arm_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn with_arm_headers(mut reply: Reply, ids: &ReqIds) -> Reply {
    reply.content_type = "application/json; charset=utf-8";
    reply
        .header("x-ms-request-id", ids.request_id.clone())
        .header("x-ms-correlation-request-id", ids.client_request_id.clone())
        .header("x-ms-ratelimit-remaining-subscription-reads", "11999")
}

fn authenticate(shared: &Shared, token: Option<&str>) -> Result<std::sync::Arc<Tenant>, Reply> {
    let invalid = |m: &str| arm_error(401, "InvalidAuthenticationToken", m);
    let Some(token) = token else {
        return Err(arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let tenant_id = {
        let m = shared.lock();
        let Some(issued) = m.access.get(token) else {
            return Err(invalid("The access token is invalid."));
        };
        if !issued.arm {
            return Err(invalid(&format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences '{}{PREFIX}'.",
                shared.base, shared.base
            )));
        }
        if issued.revoked {
            return Err(invalid("The access token has been revoked."));
        }
        if std::time::Instant::now() >= issued.expires_at {
            return Err(arm_error(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            ));
        }
        issued.tenant.clone()
    };
    shared
        .tenant(&tenant_id)
        .ok_or_else(|| invalid("The access token is from the wrong issuer."))
}

pub(crate) async fn handle(
    shared: &Shared,
    req: ArmRequest,
    raw_query: &str,
    headers: &HeaderMap,
    ids: &ReqIds,
) -> Reply {
    let token = bearer(headers);
    let tenant = match authenticate(shared, token.as_deref()) {
        Ok(t) => t,
        Err(r) => return with_arm_headers(r, ids),
    };
    let target = if raw_query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{raw_query}", req.path)
    };
    let mut truncate = false;
    match injected_fault(shared, &req.method, &target, &[]) {
        Some(Drawn::Kind(kind)) => match fault_reply(shared, kind, token.as_deref(), ids).await {
            FaultAction::Reply(r) => return with_arm_headers(r, ids),
            FaultAction::Continue { truncate: t } => truncate = t,
        },
        Some(Drawn::Reset) => return super::chaos::reset_reply(),
        None => {}
    }
    let mut reply = with_arm_headers(serve(shared, &tenant, &req, raw_query), ids);
    reply.truncate |= truncate;
    reply
}

fn serve(shared: &Shared, tenant: &Tenant, req: &ArmRequest, raw_query: &str) -> Reply {
    if !req.method.eq_ignore_ascii_case("GET") {
        return arm_error(
            405,
            "MethodNotAllowed",
            "The fake serves only GET on Azure Resource Manager.",
        );
    }
    if req.query.get("api-version").is_none_or(str::is_empty) {
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let path = req.path.trim_end_matches('/');
    let Some(body) = tenant.routes.get(&route_id("GET", path)) else {
        return arm_error(
            404,
            "ResourceNotFound",
            &format!("The resource '{path}' could not be found."),
        );
    };
    let Value::Object(obj) = body else {
        return Reply::json(200, body);
    };
    let mut obj = obj.clone();
    if let Some(status) = obj.remove("@fake.status") {
        let status = status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(500);
        return Reply::json(status, &Value::Object(obj));
    }
    let page_size = obj
        .remove("@fake.pageSize")
        .and_then(|v| v.as_u64())
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(DEFAULT_PAGE);
    let Some(Value::Array(items)) = obj.get("value") else {
        return Reply::json(200, &Value::Object(obj));
    };
    let expand = req
        .query
        .get("$expandRegistrationDefinition")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let offset: usize = req
        .query
        .get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|item| {
            if expand {
                item.clone()
            } else {
                without_definition(item)
            }
        })
        .collect();
    let mut out = Map::new();
    out.insert("value".into(), Value::Array(page));
    let next = offset.saturating_add(page_size);
    if next < items.len() {
        let rest = Query::parse(raw_query).raw_without_skiptoken();
        let sep = if rest.is_empty() { "" } else { "&" };
        out.insert(
            "nextLink".into(),
            json!(format!(
                "{}{PREFIX}{path}?{rest}{sep}%24skiptoken={next}",
                shared.base
            )),
        );
    }
    Reply::json(200, &Value::Object(out))
}

/// A registration assignment as ARM lists it without `$expandRegistrationDefinition=true`.
fn without_definition(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(Value::Object(props)) = item.get_mut("properties") {
        props.remove("registrationDefinition");
    }
    item
}
