//! The Graph side: authentication, faults, routing, paging, log filters, `$batch`, `getByIds`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::chaos::{self, Drawn};
use super::fixtures::route_id;
use super::signins::{DateBounds, date_bounds};
use super::util::{
    Query, b64url, b64url_decode, graph_date, guid, nanos, parse_datetime, percent_decode,
};
use super::{FaultKind, Reply, ReqIds, Shared, Tenant};

/// Maximum number of requests in one `$batch`.
const BATCH_MAX: usize = 20;
/// Maximum number of ids in one `getByIds`.
const GET_BY_IDS_MAX: usize = 1000;

pub(crate) struct GraphRequest {
    pub method: String,
    /// As received, percent-encoded (used to build nextLinks).
    pub raw_path: String,
    /// Percent-decoded (used to look routes up).
    pub path: String,
    pub query: Query,
    pub body: Vec<u8>,
}

/// A Graph error body with `innerError` like the real service.
pub(crate) fn error_reply(status: u16, code: &str, message: &str, ids: &ReqIds) -> Reply {
    Reply::json(
        status,
        &json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": inner_error(ids),
            }
        }),
    )
}

fn inner_error(ids: &ReqIds) -> Value {
    json!({
        "date": graph_date(Utc::now()),
        "request-id": ids.request_id,
        "client-request-id": ids.client_request_id,
    })
}

fn unauthorized(shared: &Shared, message: &str, ids: &ReqIds) -> Reply {
    error_reply(401, "InvalidAuthenticationToken", message, ids).header(
        "WWW-Authenticate",
        format!(
            "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            shared.base
        ),
    )
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn authenticate(shared: &Shared, token: Option<&str>) -> Result<Arc<Tenant>, &'static str> {
    let Some(token) = token else {
        return Err("Access token is empty.");
    };
    let tenant_id = {
        let m = shared.lock();
        let Some(issued) = m.access.get(token) else {
            return Err("Access token validation failure. Invalid audience.");
        };
        if issued.arm {
            return Err("Access token validation failure. Invalid audience.");
        }
        if issued.revoked {
            return Err(
                "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
            );
        }
        if std::time::Instant::now() >= issued.expires_at {
            return Err("Lifetime validation failed, the token is expired.");
        }
        issued.tenant.clone()
    };
    shared
        .tenant(&tenant_id)
        .ok_or("Access token validation failure. Invalid audience.")
}

/// What a fault does to a request.
pub(crate) enum FaultAction {
    /// Answer this instead.
    Reply(Reply),
    /// Serve normally (after any delay), cutting the body if `truncate`.
    Continue { truncate: bool },
}

/// Applies a fault to a Graph or ARM request; `token` is revoked by `TokenRevoked`.
pub(crate) async fn fault_reply(
    shared: &Shared,
    kind: FaultKind,
    token: Option<&str>,
    ids: &ReqIds,
) -> FaultAction {
    let reply = match kind {
        FaultKind::TooManyRequests { retry_after } => {
            let r = error_reply(429, "TooManyRequests", "Too many requests.", ids)
                .header("x-ms-throttle-information", "ResourceUnitLimitExceeded");
            with_retry_after(r, retry_after)
        }
        FaultKind::ServiceUnavailable { retry_after } => with_retry_after(
            error_reply(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
                ids,
            ),
            retry_after,
        ),
        FaultKind::GatewayTimeout => error_reply(
            504,
            "GatewayTimeout",
            "The gateway did not receive a timely response from the upstream server.",
            ids,
        ),
        FaultKind::TokenRevoked => {
            if let Some(t) = token
                && let Some(issued) = shared.lock().access.get_mut(t)
            {
                issued.revoked = true;
            }
            unauthorized(
                shared,
                "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
                ids,
            )
        }
        FaultKind::Delay(d) => {
            tokio::time::sleep(d).await;
            return FaultAction::Continue { truncate: false };
        }
        FaultKind::TruncatedBody => return FaultAction::Continue { truncate: true },
        FaultKind::Status {
            status,
            code,
            message,
        } => error_reply(status, &code, &message, ids),
        FaultKind::DeeplyNested { depth } => {
            let mut body = String::with_capacity(depth * 2 + 64);
            body.push_str(r#"{"value":[{"id":"deeply-nested","nested":"#);
            body.extend(std::iter::repeat_n('[', depth));
            body.extend(std::iter::repeat_n(']', depth));
            body.push_str("}]}");
            Reply::raw(200, body.into_bytes())
        }
        FaultKind::HugeString { bytes } => {
            let mut body = String::with_capacity(bytes + 64);
            body.push_str(r#"{"value":[{"id":"huge-string","displayName":""#);
            body.extend(std::iter::repeat_n('x', bytes));
            body.push_str(r#""}]}"#);
            Reply::raw(200, body.into_bytes())
        }
        FaultKind::RawBody { status, body } => Reply::raw(status, body.into_bytes()),
    };
    FaultAction::Reply(reply)
}

fn with_retry_after(reply: Reply, retry_after: Option<String>) -> Reply {
    match retry_after {
        Some(v) => reply.header("Retry-After", v),
        None => reply,
    }
}

/// The first queued fault matching the request, else one drawn by chaos (when it is on).
pub(crate) fn injected_fault(
    shared: &Shared,
    method: &str,
    target: &str,
    body: &[u8],
) -> Option<Drawn> {
    match shared.take_fault(target) {
        Some(kind) => Some(Drawn::Kind(kind)),
        None => chaos::request_fault(shared, &chaos::request_key(method, target, body), false),
    }
}

/// The text faults are matched against: decoded path plus raw query.
fn fault_target(path: &str, raw_query: &str) -> String {
    if raw_query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{raw_query}")
    }
}

/// `/v1.0/x/y` -> `("v1.0", "/x/y")`.
fn split_version(path: &str) -> Option<(&'static str, &str)> {
    if let Some(rest) = path.strip_prefix("/v1.0") {
        (rest.is_empty() || rest.starts_with('/')).then_some(("v1.0", rest))
    } else if let Some(rest) = path.strip_prefix("/beta") {
        (rest.is_empty() || rest.starts_with('/')).then_some(("beta", rest))
    } else {
        None
    }
}

/// Entry point for everything that is not the token endpoint.
pub(crate) async fn handle(
    shared: &Shared,
    req: GraphRequest,
    headers: &HeaderMap,
    ids: &ReqIds,
) -> Reply {
    if let Some(latency) = shared.latency {
        tokio::time::sleep(latency).await;
    }
    let Some((version, rest)) = split_version(&req.path) else {
        return error_reply(400, "BadRequest", "Invalid version.", ids);
    };
    let token = bearer(headers);
    let tenant = match authenticate(shared, token.as_deref()) {
        Ok(t) => t,
        Err(message) => return unauthorized(shared, message, ids),
    };
    if let Some(reply) = tenant_throttled(shared, &tenant, ids) {
        return reply;
    }
    let mut truncate = false;
    let target = fault_target(&req.path, &req.query.raw);
    match injected_fault(shared, &req.method, &target, &req.body) {
        Some(Drawn::Kind(kind)) => match fault_reply(shared, kind, token.as_deref(), ids).await {
            FaultAction::Reply(r) => return r,
            FaultAction::Continue { truncate: t } => truncate = t,
        },
        Some(Drawn::Reset) => return chaos::reset_reply(),
        None => {}
    }
    let mut reply = if rest == "/$batch" {
        batch(shared, &tenant, token.as_deref(), version, &req, ids).await
    } else {
        limited_serve(shared, &tenant, &req, ids)
    };
    reply.truncate |= truncate;
    reply
}

/// A 429 while the tenant's own throttling ([`crate::TenantThrottle`]) lasts.
fn tenant_throttled(shared: &Shared, tenant: &Tenant, ids: &ReqIds) -> Option<Reply> {
    let throttle = tenant.throttle.as_ref()?;
    let seen = {
        let mut m = shared.lock();
        let n = m
            .tenant_requests
            .entry(tenant.tenant_id.to_ascii_lowercase())
            .or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    (seen <= throttle.first_requests).then(|| {
        error_reply(429, "TooManyRequests", "Too many requests.", ids)
            .header("x-ms-throttle-information", "ResourceUnitLimitExceeded")
            .header("Retry-After", throttle.retry_after.clone())
    })
}

/// [`serve`] within the emulated limits: a spent budget answers 429 with `Retry-After`, like Graph.
fn limited_serve(shared: &Shared, tenant: &Tenant, req: &GraphRequest, ids: &ReqIds) -> Reply {
    match shared.check_limits(&tenant.tenant_id, &req.method, &req.path, &req.query.raw) {
        Ok(()) => serve(shared, tenant, req, ids),
        Err(refusal) => error_reply(
            429,
            "TooManyRequests",
            "Too many requests: the application's request budget for this tenant is spent. Retry after the time given in Retry-After.",
            ids,
        )
        .header("Retry-After", refusal.retry_after_secs.to_string())
        .header("x-ms-throttle-scope", refusal.scope)
        .header("x-ms-throttle-information", "ResourceUnitLimitExceeded"),
    }
}

/// Serves one (non-batch) request from the tenant's routes.
fn serve(shared: &Shared, tenant: &Tenant, req: &GraphRequest, ids: &ReqIds) -> Reply {
    let method = req.method.to_ascii_uppercase();
    if method != "GET" && method != "POST" {
        return error_reply(
            405,
            "Request_BadRequest",
            &format!(
                "The HTTP method '{method}' is not allowed for the resource '{}'.",
                req.path
            ),
            ids,
        );
    }
    if method == "GET"
        && req.path == "/beta/auditLogs/signIns"
        && let Some(generator) = &tenant.generated_sign_ins
    {
        let bounds = match log_bounds(req, "createdDateTime", ids) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let (lo, hi) = generator.range(&bounds);
        let mut meta = Map::new();
        meta.insert(
            "@odata.context".into(),
            json!(format!("{}/beta/$metadata#auditLogs/signIns", shared.base)),
        );
        return paged(
            shared,
            req,
            meta,
            hi - lo,
            |offset, n| {
                (0..n)
                    .map(|j| generator.record(hi - 1 - offset - j))
                    .collect()
            },
            ids,
        );
    }
    if let Some(body) = tenant.routes.get(&route_id(&method, &req.path)) {
        if method == "POST" && req.path.ends_with("/directoryObjects/getByIds") {
            return get_by_ids(shared, req, body, ids);
        }
        return serve_body(shared, req, body, ids);
    }
    if method == "GET"
        && let Some(reply) = item_of_collection(shared, tenant, req)
    {
        return reply;
    }
    let other = if method == "GET" { "POST" } else { "GET" };
    if tenant.routes.contains_key(&route_id(other, &req.path)) {
        return error_reply(
            405,
            "Request_BadRequest",
            &format!(
                "The HTTP method '{method}' is not allowed for the resource '{}'.",
                req.path
            ),
            ids,
        );
    }
    not_found(req, ids)
}

fn not_found(req: &GraphRequest, ids: &ReqIds) -> Reply {
    error_reply(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
            req.path.rsplit('/').next().unwrap_or_default()
        ),
        ids,
    )
}

/// `GET /collection/{id}` with no route of its own: the item of `/collection` whose `id` matches.
fn item_of_collection(shared: &Shared, tenant: &Tenant, req: &GraphRequest) -> Option<Reply> {
    let (parent, id) = req.path.rsplit_once('/')?;
    let body = tenant.routes.get(&route_id("GET", parent))?;
    let item = body
        .get("value")?
        .as_array()?
        .iter()
        .find(|v| v.get("id").and_then(Value::as_str) == Some(id))?;
    let mut item = item.as_object()?.clone();
    let context = match body.get("@odata.context").and_then(Value::as_str) {
        Some(c) => format!("{c}/$entity"),
        None => format!("{}{}", default_context(shared, parent), "/$entity"),
    };
    item.insert("@odata.context".into(), json!(context));
    Some(Reply::json(200, &Value::Object(item)))
}

fn default_context(shared: &Shared, path: &str) -> String {
    let (version, rest) = split_version(path).unwrap_or(("v1.0", path));
    format!(
        "{}/{version}/$metadata#{}",
        shared.base,
        rest.trim_start_matches('/')
    )
}

/// A route body: `@fake.status` honoured, collections paged, anything else served as is.
fn serve_body(shared: &Shared, req: &GraphRequest, body: &Value, ids: &ReqIds) -> Reply {
    let Value::Object(obj) = body else {
        return Reply::json(200, body);
    };
    if let Some(status) = obj.get("@fake.status") {
        let status = status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(500);
        let mut obj = obj.clone();
        obj.remove("@fake.status");
        if let Some(Value::Object(err)) = obj.get_mut("error")
            && !err.keys().any(|k| k.eq_ignore_ascii_case("innerError"))
        {
            err.insert("innerError".into(), inner_error(ids));
        }
        if (200..300).contains(&status) {
            let mut reply = serve_object(shared, req, &obj, ids);
            if reply.status == 200 {
                reply.status = status;
            }
            return reply;
        }
        return Reply::json(status, &Value::Object(obj));
    }
    serve_object(shared, req, obj, ids)
}

fn serve_object(
    shared: &Shared,
    req: &GraphRequest,
    obj: &Map<String, Value>,
    ids: &ReqIds,
) -> Reply {
    let Some(Value::Array(items)) = obj.get("value") else {
        return Reply::json(200, &Value::Object(obj.clone()));
    };
    if obj.contains_key("@odata.nextLink") {
        // A recorded page: served verbatim.
        return Reply::json(200, &Value::Object(obj.clone()));
    }
    // Everything but the items (a large collection is not copied for every page).
    let meta: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "value")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match log_date_field(&req.path) {
        Some(field) => {
            let bounds = match log_bounds(req, field, ids) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let time = |v: &Value| {
                v.get(field)
                    .and_then(Value::as_str)
                    .and_then(parse_datetime)
                    .map(nanos)
            };
            let mut selected: Vec<(&Value, Option<i128>)> = items
                .iter()
                .map(|v| (v, time(v)))
                .filter(|(_, t)| {
                    bounds == DateBounds::default() || t.is_some_and(|t| bounds.contains(t))
                })
                .collect();
            // Newest first, like Graph.
            selected.sort_by_key(|entry| std::cmp::Reverse(entry.1));
            let total = selected.len() as u64;
            paged(
                shared,
                req,
                meta,
                total,
                |offset, n| {
                    slice(&selected, offset, n)
                        .iter()
                        .map(|(v, _)| (*v).clone())
                        .collect()
                },
                ids,
            )
        }
        None => {
            let total = items.len() as u64;
            paged(
                shared,
                req,
                meta,
                total,
                |offset, n| slice(items, offset, n).to_vec(),
                ids,
            )
        }
    }
}

fn slice<T>(items: &[T], offset: u64, n: u64) -> &[T] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(items.len());
    let end = start
        .saturating_add(usize::try_from(n).unwrap_or(usize::MAX))
        .min(items.len());
    &items[start..end]
}

/// The date property a log collection is filtered and ordered by.
fn log_date_field(path: &str) -> Option<&'static str> {
    if path.ends_with("/auditLogs/signIns") {
        Some("createdDateTime")
    } else if path.ends_with("/auditLogs/directoryAudits")
        || path.ends_with("/auditLogs/provisioning")
    {
        Some("activityDateTime")
    } else {
        None
    }
}

fn log_bounds(req: &GraphRequest, field: &str, ids: &ReqIds) -> Result<DateBounds, Reply> {
    match req.query.get("$filter") {
        None => Ok(DateBounds::default()),
        Some(f) => date_bounds(f, field).map_err(|m| error_reply(400, "BadRequest", &m, ids)),
    }
}

/// (default page size, maximum `$top`) for a path.
fn page_limits(path: &str) -> (u64, u64) {
    if path.contains("/auditLogs/signIns")
        || path.contains("/auditLogs/directoryAudits")
        || path.contains("/auditLogs/provisioning")
    {
        (1000, 1000)
    } else if path.contains("/tenantRelationships/") {
        (100, 300)
    } else {
        (100, 999)
    }
}

const SKIPTOKEN_PREFIX: &str = "fake-offset:";

fn encode_skiptoken(offset: u64) -> String {
    b64url(format!("{SKIPTOKEN_PREFIX}{offset}").as_bytes())
}

fn decode_skiptoken(token: &str) -> Option<u64> {
    let bytes = b64url_decode(token)?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(SKIPTOKEN_PREFIX)?.parse().ok()
}

/// One page of a collection of `total` items; `fetch(offset, n)` returns items `offset..offset+n`.
fn paged(
    shared: &Shared,
    req: &GraphRequest,
    mut meta: Map<String, Value>,
    total: u64,
    fetch: impl FnOnce(u64, u64) -> Vec<Value>,
    ids: &ReqIds,
) -> Reply {
    let (default_size, cap) = page_limits(&req.path);
    let target = fault_target(&req.path, &req.query.raw);
    let size = match req.query.get("$top") {
        None => default_size,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if (1..=cap).contains(&n) => n,
            Ok(n) if n > cap => {
                return error_reply(
                    400,
                    "BadRequest",
                    &format!(
                        "Invalid page size specified: '{n}'. The value of $top must be between 1 and the maximum of {cap}."
                    ),
                    ids,
                );
            }
            _ => {
                return error_reply(
                    400,
                    "BadRequest",
                    &format!(
                        "Invalid value '{text}' for query parameter $top. The value must be between 1 and the maximum of {cap}."
                    ),
                    ids,
                );
            }
        },
    };
    let offset = match req.query.get("$skiptoken") {
        None => 0,
        Some(token) => match decode_skiptoken(token) {
            Some(o) => o,
            None => return error_reply(400, "BadRequest", "Invalid $skiptoken value.", ids),
        },
    };
    let collection = fault_target(&req.path, &req.query.raw_without_skiptoken());
    let size = chaos::page_size(
        shared,
        &chaos::request_key(&req.method, &collection, &[]),
        size,
    );
    let n = size.min(total.saturating_sub(offset));
    let mut page = fetch(offset, n);
    if !meta.contains_key("@odata.context") {
        meta.insert(
            "@odata.context".into(),
            json!(default_context(shared, &req.path)),
        );
    }
    if offset == 0
        && req
            .query
            .get("$count")
            .is_some_and(|c| c.eq_ignore_ascii_case("true"))
    {
        meta.insert("@odata.count".into(), json!(total));
    }
    let next = offset.saturating_add(n);
    let natural = (n > 0 && next < total).then_some(next);
    let key = chaos::request_key(&req.method, &target, &[]);
    if let Some(next) = chaos::twist_page(shared, &key, offset, natural, &mut page) {
        let kept = req.query.raw_without_skiptoken();
        // Back to offset 0 from a later page (a chaos cycle): the first page's own URL.
        let back_to_first = next == 0 && offset > 0;
        let link = match (back_to_first, kept.is_empty()) {
            (true, true) => format!("{}{}", shared.base, req.raw_path),
            (true, false) => format!("{}{}?{kept}", shared.base, req.raw_path),
            (false, true) => format!(
                "{}{}?$skiptoken={}",
                shared.base,
                req.raw_path,
                encode_skiptoken(next)
            ),
            (false, false) => format!(
                "{}{}?{kept}&$skiptoken={}",
                shared.base,
                req.raw_path,
                encode_skiptoken(next)
            ),
        };
        meta.insert("@odata.nextLink".into(), json!(link));
    }
    meta.insert("value".into(), Value::Array(page));
    Reply::json(200, &Value::Object(meta))
}

/// `POST directoryObjects/getByIds`: the route's `value` restricted to the requested ids (and types).
fn get_by_ids(shared: &Shared, req: &GraphRequest, body: &Value, ids: &ReqIds) -> Reply {
    let bad = |m: &str| error_reply(400, "Request_BadRequest", m, ids);
    let Ok(request) = serde_json::from_slice::<Value>(&req.body) else {
        return bad("Invalid request body: expected JSON {\"ids\": [...]}.");
    };
    let Some(wanted) = request.get("ids").and_then(Value::as_array) else {
        return bad("Invalid value specified for property 'ids' of resource 'DirectoryObject'.");
    };
    if wanted.len() > GET_BY_IDS_MAX {
        return bad(&format!(
            "Too many ids: at most {GET_BY_IDS_MAX} ids are allowed."
        ));
    }
    let types: Option<Vec<String>> = request.get("types").and_then(Value::as_array).map(|t| {
        t.iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect()
    });
    let items = body
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut value = Vec::new();
    for id in wanted.iter().filter_map(Value::as_str) {
        let found = items
            .iter()
            .find(|v| v.get("id").and_then(Value::as_str) == Some(id));
        if let Some(item) = found {
            let type_ok = match (&types, item.get("@odata.type").and_then(Value::as_str)) {
                (Some(types), Some(t)) => {
                    let short = t
                        .trim_start_matches('#')
                        .trim_start_matches("microsoft.graph.")
                        .to_ascii_lowercase();
                    types.contains(&short)
                }
                _ => true,
            };
            if type_ok {
                value.push(item.clone());
            }
        }
    }
    let context = body
        .get("@odata.context")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}/v1.0/$metadata#directoryObjects", shared.base));
    Reply::json(200, &json!({ "@odata.context": context, "value": value }))
}

/// `POST /{version}/$batch`.
async fn batch(
    shared: &Shared,
    tenant: &Tenant,
    token: Option<&str>,
    version: &str,
    req: &GraphRequest,
    ids: &ReqIds,
) -> Reply {
    if !req.method.eq_ignore_ascii_case("POST") {
        return error_reply(
            405,
            "Request_BadRequest",
            "The HTTP method is not allowed for the resource '$batch'.",
            ids,
        );
    }
    let bad = |m: &str| error_reply(400, "BadRequest", m, ids);
    let Ok(payload) = serde_json::from_slice::<Value>(&req.body) else {
        return bad("Invalid batch payload format.");
    };
    let Some(requests) = payload.get("requests").and_then(Value::as_array) else {
        return bad("Invalid batch payload format.");
    };
    if requests.is_empty() {
        return bad("Invalid batch payload format: the batch contains no requests.");
    }
    if requests.len() > BATCH_MAX {
        return bad(&format!(
            "The number of batch requests ({}) exceeds the limit of {BATCH_MAX}.",
            requests.len()
        ));
    }
    let mut seen = HashSet::new();
    for r in requests {
        let (Some(id), Some(_), Some(_)) = (
            r.get("id").and_then(Value::as_str),
            r.get("method").and_then(Value::as_str),
            r.get("url").and_then(Value::as_str),
        ) else {
            return bad(
                "Invalid batch payload format: every request needs string 'id', 'method' and 'url'.",
            );
        };
        if !seen.insert(id) {
            return bad(&format!("Batch request id '{id}' is duplicated."));
        }
    }

    let mut truncate = false;
    let mut reset = false;
    let mut fragments = Vec::with_capacity(requests.len());
    for r in requests {
        let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let url = r.get("url").and_then(Value::as_str).unwrap_or_default();
        let inner_ids = ReqIds {
            request_id: guid(),
            client_request_id: ids.client_request_id.clone(),
        };
        let inner_headers = header_map(r.get("headers"));
        let relative = if url.starts_with('/') {
            url.to_owned()
        } else {
            format!("/{url}")
        };
        let (raw_path, raw_query) = match relative.split_once('?') {
            Some((p, q)) => (format!("/{version}{p}"), q.to_owned()),
            None => (format!("/{version}{relative}"), String::new()),
        };
        let path_and_query = if raw_query.is_empty() {
            raw_path.clone()
        } else {
            format!("{raw_path}?{raw_query}")
        };
        shared.log(&method, path_and_query, &inner_headers, true, None);

        let body = match r.get("body") {
            Some(Value::Null) | None => Vec::new(),
            Some(b) => serde_json::to_vec(b).unwrap_or_default(),
        };
        let inner = GraphRequest {
            method,
            path: percent_decode(&raw_path),
            raw_path,
            query: Query::parse(&raw_query),
            body,
        };
        let reply = if url.contains("://") {
            error_reply(
                400,
                "BadRequest",
                "Invalid request URL: batch request URLs must be relative.",
                &inner_ids,
            )
        } else if !inner.body.is_empty() && !inner_headers.contains_key("content-type") {
            error_reply(
                400,
                "BadRequest",
                "Write request id : '' does not contain Content-Type header or body.",
                &inner_ids,
            )
        } else if split_version(&inner.path).is_some_and(|(_, rest)| rest == "/$batch") {
            error_reply(
                400,
                "BadRequest",
                "Nested batch requests are not supported.",
                &inner_ids,
            )
        } else {
            let target = fault_target(&inner.path, &inner.query.raw);
            let action = match injected_fault(shared, &inner.method, &target, &inner.body) {
                Some(Drawn::Kind(kind)) => fault_reply(shared, kind, token, &inner_ids).await,
                // The batch shares one connection: losing it loses every answer.
                Some(Drawn::Reset) => {
                    reset = true;
                    FaultAction::Continue { truncate: false }
                }
                None => FaultAction::Continue { truncate: false },
            };
            match action {
                FaultAction::Reply(r) => r,
                FaultAction::Continue { truncate: t } => {
                    truncate |= t;
                    limited_serve(shared, tenant, &inner, &inner_ids)
                }
            }
        };
        fragments.push((id.to_owned(), inner_fragment(id, &reply)));
    }
    // Graph may answer in any order; answering in reverse keeps clients honest.
    fragments.reverse();
    let key = chaos::request_key(
        &req.method,
        &fault_target(&req.path, &req.query.raw),
        &req.body,
    );
    chaos::twist_batch(shared, &key, &mut fragments);
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"responses\":[");
    for (i, (_, f)) in fragments.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(f);
    }
    body.extend_from_slice(b"]}");
    let mut reply = Reply::raw(200, body);
    reply.truncate = truncate;
    reply.reset = reset;
    reply
}

/// `{"id","status","headers","body"}` with the inner body spliced in as raw JSON.
fn inner_fragment(id: &str, reply: &Reply) -> Vec<u8> {
    let mut headers = Map::new();
    headers.insert("Cache-Control".into(), json!("no-cache"));
    headers.insert("OData-Version".into(), json!("4.0"));
    headers.insert("Content-Type".into(), json!(reply.content_type));
    for (name, value) in &reply.headers {
        headers.insert(name.clone(), json!(value));
    }
    let head = json!({ "id": id, "status": reply.status, "headers": headers });
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    // Replace the closing brace with `,"body":<raw>}`.
    out.pop();
    out.extend_from_slice(b",\"body\":");
    if reply.body.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(&reply.body);
    }
    out.push(b'}');
    out
}

fn header_map(headers: Option<&Value>) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(Value::Object(obj)) = headers {
        for (name, value) in obj {
            if let (Ok(n), Some(Ok(v))) = (
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                map.append(n, v);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_skiptoken(&encode_skiptoken(12345)), Some(12345));
        assert_eq!(decode_skiptoken("not base64 !"), None);
        assert_eq!(decode_skiptoken(&b64url(b"offset:1")), None);
    }

    #[test]
    fn limits_per_endpoint() {
        assert_eq!(
            page_limits("/v1.0/tenantRelationships/delegatedAdminRelationships"),
            (100, 300)
        );
        assert_eq!(page_limits("/beta/auditLogs/signIns"), (1000, 1000));
        assert_eq!(page_limits("/v1.0/auditLogs/directoryAudits"), (1000, 1000));
        assert_eq!(page_limits("/v1.0/servicePrincipals"), (100, 999));
    }

    #[test]
    fn versions() {
        assert_eq!(
            split_version("/v1.0/contracts"),
            Some(("v1.0", "/contracts"))
        );
        assert_eq!(split_version("/beta/$batch"), Some(("beta", "/$batch")));
        assert_eq!(split_version("/v1.00/x"), None);
        assert_eq!(split_version("/"), None);
    }

    #[test]
    fn inner_fragment_is_valid_json() {
        let r = Reply::raw(429, br#"{"error":{"code":"TooManyRequests"}}"#.to_vec())
            .header("Retry-After", "3");
        let v: Value = serde_json::from_slice(&inner_fragment("7", &r)).unwrap();
        assert_eq!(v["status"], 429);
        assert_eq!(v["headers"]["Retry-After"], "3");
        assert_eq!(v["body"]["error"]["code"], "TooManyRequests");
    }
}
