//! JSON batching: up to 20 GETs per `$batch` POST, each answered on its own, inner 429s retried.
//!
//! Inner bodies are kept as raw JSON text (no `Value` tree): the caller decodes each straight into its
//! model, which keeps a partner's thousands of sub-collections cheap in memory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::client::GraphClient;
use super::error::GraphError;
use super::retry::parse_retry_after;

/// Graph's limit of requests per batch.
pub const MAX_BATCH: usize = 20;

/// One GET inside a batch; `url` is relative to the version root, e.g. `/tenantRelationships/...`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub id: String,
    pub url: String,
}

#[derive(Deserialize)]
struct BatchResponse {
    responses: Vec<InnerResponse>,
}

#[derive(Deserialize)]
struct InnerResponse {
    id: String,
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Box<RawValue>>,
}

/// The `error` member of an inner error body, read leniently.
#[derive(Deserialize, Default)]
struct InnerErrorBody {
    #[serde(default)]
    error: Option<Value>,
}

impl GraphClient {
    /// Run GETs through `$batch` on `version` ("v1.0" or "beta"), 20 at a time. Returns one result per
    /// request id, in the order given. Inner 429/503/504 answers are retried (after the longest
    /// `Retry-After` of the round, bounded by the client's retry policy); other inner errors are returned
    /// as that item's error, never silently dropped.
    pub async fn batch(
        &self,
        version: &str,
        requests: Vec<BatchRequest>,
    ) -> Vec<(String, Result<Value, GraphError>)> {
        self.batch_raw(version, requests)
            .await
            .into_iter()
            .map(|(id, r)| {
                let r = r.and_then(|raw| {
                    serde_json::from_str(raw.get()).map_err(|e| GraphError::Decode {
                        url: "$batch response".into(),
                        detail: e.to_string(),
                        request_id: None,
                    })
                });
                (id, r)
            })
            .collect()
    }

    /// [`batch`](Self::batch) with each inner body as raw JSON (`null` when the answer had none), to
    /// be decoded by the caller straight into its model.
    pub async fn batch_raw(
        &self,
        version: &str,
        requests: Vec<BatchRequest>,
    ) -> Vec<(String, Result<Box<RawValue>, GraphError>)> {
        let order: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
        let mut results: BTreeMap<String, Result<Box<RawValue>, GraphError>> = BTreeMap::new();
        for chunk in requests.chunks(MAX_BATCH) {
            self.batch_chunk(version, chunk.to_vec(), &mut results)
                .await;
        }
        order
            .into_iter()
            .map(|id| {
                let r = results.remove(&id).unwrap_or_else(|| {
                    Err(GraphError::Invalid(format!(
                        "$batch answered no response for request {id}"
                    )))
                });
                (id, r)
            })
            .collect()
    }

    async fn batch_chunk(
        &self,
        version: &str,
        mut pending: Vec<BatchRequest>,
        results: &mut BTreeMap<String, Result<Box<RawValue>, GraphError>>,
    ) {
        let policy = self.retry_policy().clone();
        let batch_url = format!("/{version}/$batch");
        let started = tokio::time::Instant::now();
        let mut round = 0u32;
        while !pending.is_empty() {
            round += 1;
            let body = json!({
                "requests": pending.iter().map(|r| json!({"id": r.id, "method": "GET", "url": r.url})).collect::<Vec<_>>()
            });
            // Graph counts the inner requests against their own limits one by one: `send` paces the
            // batch by its GDAP requests.
            let answer: Result<BatchResponse, GraphError> = self.post(&batch_url, &body).await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    let shared = e.to_string();
                    for r in pending.drain(..) {
                        results.insert(
                            r.id,
                            Err(GraphError::Invalid(format!("$batch failed: {shared}"))),
                        );
                    }
                    return;
                }
            };
            let mut by_id: BTreeMap<String, InnerResponse> = answer
                .responses
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let mut retry = Vec::new();
            let mut wait = Duration::ZERO;
            for req in pending.drain(..) {
                let Some(inner) = by_id.remove(&req.id) else {
                    results.insert(
                        req.id.clone(),
                        Err(GraphError::Invalid(format!(
                            "$batch answered no response for {}",
                            req.url
                        ))),
                    );
                    continue;
                };
                if (200..300).contains(&inner.status) {
                    let body = inner.body.unwrap_or_else(null_body);
                    results.insert(req.id, Ok(body));
                    continue;
                }
                let error = inner_error(version, &req, &inner);
                if error.is_retryable() && round < policy.max_attempts {
                    let hint = inner
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| parse_retry_after(v, chrono::Utc::now()));
                    wait = wait.max(policy.delay(round, hint));
                    retry.push((req, error));
                } else {
                    results.insert(req.id, Err(error));
                }
            }
            if retry.is_empty() {
                return;
            }
            if started.elapsed().saturating_add(wait) > policy.max_total {
                for (req, error) in retry {
                    results.insert(
                        req.id,
                        Err(GraphError::RetriesExhausted {
                            attempts: round,
                            last: Box::new(error),
                        }),
                    );
                }
                return;
            }
            tracing::debug!(
                count = retry.len(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying throttled $batch items"
            );
            tokio::time::sleep(wait).await;
            pending = retry.into_iter().map(|(r, _)| r).collect();
        }
    }
}

/// `null`: an inner answer without a body.
fn null_body() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

fn inner_error(version: &str, req: &BatchRequest, inner: &InnerResponse) -> GraphError {
    let parsed: InnerErrorBody = inner
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b.get()).ok())
        .unwrap_or_default();
    let err = parsed.error.as_ref();
    let text = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let request_id = err
        .and_then(|e| e.get("innerError").or_else(|| e.get("innererror")))
        .and_then(|i| i.get("request-id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| inner.headers.get("request-id").cloned());
    GraphError::Status {
        method: "GET",
        url: format!("$batch {version}{}", req.url),
        status: inner.status,
        code: text("code"),
        message: {
            let m = text("message");
            if m.is_empty() {
                format!("HTTP {}", inner.status)
            } else {
                m
            }
        },
        request_id,
    }
}
