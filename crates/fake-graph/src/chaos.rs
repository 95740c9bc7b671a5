//! Chaos: faults drawn at random, from a seed, for every request the fake serves.
//!
//! Queued [`Fault`](super::Fault)s test one failure at a time; chaos tests the collectors against many
//! at once, the way a bad day of the real service looks: 429s, 5xx, connections reset before the answer
//! or cut in the middle of the body, pages whose items come again on the next page, `@odata.nextLink`s
//! that lead back to an earlier page, malformed or wrongly typed items, and `$batch` answers holding an
//! inner response twice.
//!
//! Every decision comes from its own generator, seeded by (seed, kind of decision, request key, how
//! many times that key was seen): the faults of a run depend on the seed and on what the client asks,
//! not on the order in which concurrent requests arrive. A retry of the same request is a new draw, so
//! transient faults stay transient. The one exception is the nextLink cycle: it is drawn without the
//! count, so the page that leads back does so every time it is served (a real loop, which only a
//! client that notices it escapes). Every injection is logged ([`FakeGraph::chaos_log`]).
//!
//! [`FakeGraph::chaos_log`]: super::FakeGraph::chaos_log

use std::collections::HashMap;
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FaultKind, Reply, Shared};

/// What chaos injects, with what probability. Request faults are drawn per Graph request (inner
/// `$batch` requests included), `token` per token request; page faults per page of a collection;
/// `batch_duplicate` per `$batch` answer. Probabilities outside `0..=1` are clamped.
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosConfig {
    pub seed: u64,
    /// 429 with `Retry-After: 0` or `1`.
    pub throttle: f64,
    /// 500, 502, 503 or 504.
    pub server_error: f64,
    /// The connection closes before a byte of the answer's body (inside a `$batch`: the whole batch).
    pub reset: f64,
    /// The answer is cut halfway through its body.
    pub truncate: f64,
    /// The next page starts again 1..=n items back, so items of this page come again.
    pub duplicate_page: f64,
    /// A page after the first links back to the first page (sticky: a real loop).
    pub cycle: f64,
    /// An item that is not a valid object (`null`, a number, a string, an array, an object without
    /// `id`) is inserted into the page.
    pub malformed_item: f64,
    /// One field of one item is given a value of the wrong JSON type.
    pub wrong_type: f64,
    /// One item of the page appears twice in it.
    pub duplicate_item: f64,
    /// One inner response of a `$batch` answer appears twice.
    pub batch_duplicate: f64,
    /// Collections are served at most this many items per page (drawn per collection in
    /// `1..=max_page_size`), like Graph's server-side paging, so page faults have pages to act on.
    pub max_page_size: Option<u64>,
    /// A token request fails: 429, 5xx, reset or truncated, one of them at random.
    pub token: f64,
}

impl ChaosConfig {
    /// Nothing injected: a starting point for setting only some faults.
    pub fn quiet(seed: u64) -> ChaosConfig {
        ChaosConfig {
            seed,
            throttle: 0.0,
            server_error: 0.0,
            reset: 0.0,
            truncate: 0.0,
            duplicate_page: 0.0,
            cycle: 0.0,
            malformed_item: 0.0,
            wrong_type: 0.0,
            duplicate_item: 0.0,
            batch_duplicate: 0.0,
            max_page_size: None,
            token: 0.0,
        }
    }

    /// Every fault, each with a small probability: a few faults per scan of a demo tenant.
    pub fn new(seed: u64) -> ChaosConfig {
        ChaosConfig {
            throttle: 0.03,
            server_error: 0.01,
            reset: 0.01,
            truncate: 0.01,
            duplicate_page: 0.02,
            cycle: 0.005,
            malformed_item: 0.005,
            wrong_type: 0.005,
            duplicate_item: 0.02,
            batch_duplicate: 0.2,
            max_page_size: Some(8),
            token: 0.1,
            ..ChaosConfig::quiet(seed)
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChaosFault {
    Throttled {
        retry_after_secs: u8,
    },
    ServerError {
        status: u16,
    },
    Reset,
    Truncated,
    /// The nextLink of this page starts `overlap` items back.
    DuplicatePage {
        overlap: u64,
    },
    /// The nextLink of this page leads back to the first page.
    Cycle,
    /// This JSON was inserted into the page at `index`.
    MalformedItem {
        index: usize,
        item: String,
    },
    /// Item `index`'s `field` was given this value.
    WrongType {
        index: usize,
        field: String,
        value: String,
    },
    /// Item `index` appears twice in the page.
    DuplicateItem {
        index: usize,
    },
    /// The inner response of this request id appears twice in the `$batch` answer.
    BatchDuplicate {
        id: String,
    },
}

impl fmt::Display for ChaosFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChaosFault::Throttled { retry_after_secs } => {
                write!(f, "429 Retry-After {retry_after_secs}")
            }
            ChaosFault::ServerError { status } => write!(f, "{status}"),
            ChaosFault::Reset => f.write_str("connection reset"),
            ChaosFault::Truncated => f.write_str("body truncated"),
            ChaosFault::DuplicatePage { overlap } => {
                write!(f, "next page repeats the last {overlap} item(s)")
            }
            ChaosFault::Cycle => f.write_str("nextLink cycles back to the first page"),
            ChaosFault::MalformedItem { index, item } => {
                write!(f, "malformed item {item} inserted at {index}")
            }
            ChaosFault::WrongType {
                index,
                field,
                value,
            } => write!(f, "item {index}: {field} = {value} (wrong type)"),
            ChaosFault::DuplicateItem { index } => write!(f, "item {index} served twice"),
            ChaosFault::BatchDuplicate { id } => {
                write!(f, "$batch inner response {id} served twice")
            }
        }
    }
}

/// Where and what was injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// `GET /v1.0/...?...` as received (inner `$batch` requests with their `/v1.0` prefix), or
    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub request: String,
    pub fault: ChaosFault,
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.request, self.fault)
    }
}

/// Chaos state of a running fake.
#[derive(Debug)]
pub(crate) struct Chaos {
    config: ChaosConfig,
    /// Times each (decision, request key) was drawn.
    seen: HashMap<String, u32>,
    log: Vec<Injection>,
}

impl Chaos {
    pub fn new(config: ChaosConfig) -> Chaos {
        Chaos {
            config,
            seen: HashMap::new(),
            log: Vec::new(),
        }
    }

    pub fn log(&self) -> &[Injection] {
        &self.log
    }

    /// The generator of one decision. `sticky` decisions ignore how often the key was seen.
    fn rng(&mut self, decision: &str, key: &str, sticky: bool) -> StdRng {
        let occurrence = if sticky {
            0
        } else {
            let n = self.seen.entry(format!("{decision} {key}")).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let mut h = Sha256::new();
        h.update(self.config.seed.to_le_bytes());
        h.update(decision.as_bytes());
        h.update([0u8]);
        h.update(key.as_bytes());
        h.update([0u8]);
        h.update(occurrence.to_le_bytes());
        StdRng::from_seed(h.finalize().into())
    }

    fn record(&mut self, request: &str, fault: ChaosFault) {
        self.log.push(Injection {
            request: request.to_owned(),
            fault,
        });
    }
}

fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.random_bool(if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) })
}

/// A request fault: one the queued-fault machinery already renders, or a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Drawn {
    Kind(FaultKind),
    Reset,
}

/// The key of a request: method, path and query as received, and for a POST to Graph a digest of its
/// body (`$batch` and `getByIds` requests differ only there). Token request bodies hold credentials and
/// are left out.
pub(crate) fn request_key(method: &str, path_and_query: &str, body: &[u8]) -> String {
    if body.is_empty() {
        return format!("{} {path_and_query}", method.to_ascii_uppercase());
    }
    let digest = Sha256::digest(body);
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{} {path_and_query} #{short}", method.to_ascii_uppercase())
}

/// An answer whose connection closes before any byte of its body.
pub(crate) fn reset_reply() -> Reply {
    let mut r = Reply::raw(200, b"{}".to_vec());
    r.reset = true;
    r
}

/// A request fault for a Graph request (`token: false`) or a token request (`token: true`), if chaos
/// is on and draws one.
pub(crate) fn request_fault(shared: &Shared, key: &str, token: bool) -> Option<Drawn> {
    shared.lock().chaos.as_mut()?.request_fault(key, token)
}

/// The page size for a collection: `size`, or less under chaos.
pub(crate) fn page_size(shared: &Shared, collection: &str, size: u64) -> u64 {
    match shared.lock().chaos.as_mut() {
        Some(chaos) => chaos.page_size(collection, size),
        None => size,
    }
}

/// Page faults, if chaos is on (see [`Chaos::twist_page`]).
pub(crate) fn twist_page(
    shared: &Shared,
    key: &str,
    offset: u64,
    natural: Option<u64>,
    page: &mut Vec<Value>,
) -> Option<u64> {
    match shared.lock().chaos.as_mut() {
        Some(chaos) => chaos.twist_page(key, offset, natural, page),
        None => natural,
    }
}

/// `$batch` faults, if chaos is on (see [`Chaos::twist_batch`]).
pub(crate) fn twist_batch(shared: &Shared, key: &str, fragments: &mut Vec<(String, Vec<u8>)>) {
    if let Some(chaos) = shared.lock().chaos.as_mut() {
        chaos.twist_batch(key, fragments);
    }
}

impl Chaos {
    fn request_fault(&mut self, key: &str, token: bool) -> Option<Drawn> {
        let mut c = self.config.clone();
        let mut rng = self.rng("request", key, false);
        if token {
            // One draw for "a fault", then its kind among the four, equally likely.
            if !chance(&mut rng, c.token) {
                return None;
            }
            c = ChaosConfig {
                throttle: 1.0 / 4.0,
                server_error: 1.0 / 3.0,
                reset: 1.0 / 2.0,
                truncate: 1.0,
                ..c
            };
        }
        let (drawn, fault) = if chance(&mut rng, c.throttle) {
            let secs: u8 = rng.random_range(0..=1);
            (
                Drawn::Kind(FaultKind::TooManyRequests {
                    retry_after: Some(secs.to_string()),
                }),
                ChaosFault::Throttled {
                    retry_after_secs: secs,
                },
            )
        } else if chance(&mut rng, c.server_error) {
            let status = [500u16, 502, 503, 504][rng.random_range(0..4usize)];
            let kind = match status {
                503 => FaultKind::ServiceUnavailable { retry_after: None },
                504 => FaultKind::GatewayTimeout,
                500 => FaultKind::Status {
                    status,
                    code: "InternalServerError".into(),
                    message: "An internal server error occurred.".into(),
                },
                _ => FaultKind::Status {
                    status,
                    code: "BadGateway".into(),
                    message: "The gateway received an invalid response from the upstream server."
                        .into(),
                },
            };
            (Drawn::Kind(kind), ChaosFault::ServerError { status })
        } else if chance(&mut rng, c.reset) {
            (Drawn::Reset, ChaosFault::Reset)
        } else if chance(&mut rng, c.truncate) {
            (Drawn::Kind(FaultKind::TruncatedBody), ChaosFault::Truncated)
        } else {
            return None;
        };
        self.record(key, fault);
        Some(drawn)
    }

    /// `size`, or less: drawn once per collection (`collection` is the request without its
    /// `$skiptoken`) in `1..=max_page_size`.
    fn page_size(&mut self, collection: &str, size: u64) -> u64 {
        let Some(max) = self.config.max_page_size.filter(|m| *m > 0) else {
            return size;
        };
        let mut rng = self.rng("page-size", collection, true);
        size.min(rng.random_range(1..=max))
    }

    /// Page faults for the page at `offset` served to `key`: may change its items, and returns the
    /// offset its nextLink should point to (`natural`: the honest one; `Some(0)`: the first page).
    fn twist_page(
        &mut self,
        key: &str,
        offset: u64,
        natural: Option<u64>,
        page: &mut Vec<Value>,
    ) -> Option<u64> {
        let c = self.config.clone();
        let n = page.len() as u64;
        let mut next = natural;
        let mut sticky = self.rng("cycle", key, true);
        let mut rng = self.rng("page", key, false);
        if offset > 0 && chance(&mut sticky, c.cycle) {
            next = Some(0);
            self.record(key, ChaosFault::Cycle);
        } else if natural.is_some() && n > 0 && chance(&mut rng, c.duplicate_page) {
            // From a later page, going back the whole page would give the same URL again: a
            // self-loop, which is the cycle's business. From the first, it gives `$skiptoken` 0.
            let most = if offset == 0 { n } else { n - 1 };
            if most > 0 {
                let overlap = rng.random_range(1..=most);
                next = natural.map(|o| o.saturating_sub(overlap));
                self.record(key, ChaosFault::DuplicatePage { overlap });
            }
        }
        if chance(&mut rng, c.wrong_type)
            && let Some(fault) = wrong_type(&mut rng, page)
        {
            self.record(key, fault);
        }
        if !page.is_empty() && chance(&mut rng, c.duplicate_item) {
            let index = rng.random_range(0..page.len());
            let copy = page[index].clone();
            page.insert(index + 1, copy);
            self.record(key, ChaosFault::DuplicateItem { index });
        }
        if chance(&mut rng, c.malformed_item) {
            let bad = [
                Value::Null,
                json!(42),
                json!("not an object"),
                json!([]),
                json!({}),
                json!({ "id": 7 }),
            ];
            let item = bad[rng.random_range(0..bad.len())].clone();
            let index = rng.random_range(0..=page.len());
            let shown = item.to_string();
            page.insert(index, item);
            self.record(key, ChaosFault::MalformedItem { index, item: shown });
        }
        next
    }

    /// May repeat one inner response of a `$batch` answer (fragments as `(id, raw JSON)`).
    fn twist_batch(&mut self, key: &str, fragments: &mut Vec<(String, Vec<u8>)>) {
        let p = self.config.batch_duplicate;
        let mut rng = self.rng("batch", key, false);
        if fragments.is_empty() || !chance(&mut rng, p) {
            return;
        }
        let index = rng.random_range(0..fragments.len());
        let copy = fragments[index].clone();
        let at = rng.random_range(0..=fragments.len());
        self.record(key, ChaosFault::BatchDuplicate { id: copy.0.clone() });
        fragments.insert(at, copy);
    }
}

/// Gives one field (not an `@odata` annotation) of one object item a value of another JSON type.
fn wrong_type(rng: &mut StdRng, page: &mut [Value]) -> Option<ChaosFault> {
    let objects: Vec<usize> = (0..page.len()).filter(|i| page[*i].is_object()).collect();
    let index = *objects.get(rng.random_range(0..objects.len().max(1)))?;
    let obj = page.get_mut(index)?.as_object_mut()?;
    let fields: Vec<String> = obj.keys().filter(|k| !k.contains('@')).cloned().collect();
    let field = fields
        .get(rng.random_range(0..fields.len().max(1)))?
        .clone();
    let slot = obj.get_mut(&field)?;
    let value = match slot {
        Value::String(_) => json!(12345),
        Value::Number(_) | Value::Bool(_) => json!("wrong type"),
        Value::Array(_) => json!({ "wrong": "type" }),
        Value::Object(_) => json!("wrong type"),
        Value::Null => json!([1, 2]),
    };
    let shown = value.to_string();
    *slot = value;
    Some(ChaosFault::WrongType {
        index,
        field,
        value: shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives every kind of decision over a made-up run: requests (some repeated), pages, batches.
    fn run(config: ChaosConfig) -> (Vec<Injection>, Vec<Value>) {
        let mut chaos = Chaos::new(config);
        let mut pages = Vec::new();
        for i in 0..300u64 {
            let key = format!("GET /v1.0/things?$skiptoken={}", i % 40);
            let _ = chaos.request_fault(&key, false);
            let _ = chaos.request_fault(&format!("POST /t/oauth2/v2.0/token {}", i % 3), true);
            let size = chaos.page_size("GET /v1.0/things", 100);
            let mut page: Vec<Value> = (0..size)
                .map(|j| json!({"id": format!("{i}-{j}"), "n": j}))
                .collect();
            let next = chaos.twist_page(&key, i % 40, Some(i + size), &mut page);
            pages.push(json!({"next": next, "page": page}));
            let mut fragments = vec![
                ("1".to_owned(), b"{}".to_vec()),
                ("2".to_owned(), b"{}".to_vec()),
            ];
            chaos.twist_batch(&key, &mut fragments);
            pages.push(json!(
                fragments.iter().map(|f| f.0.clone()).collect::<Vec<_>>()
            ));
        }
        (chaos.log, pages)
    }

    #[test]
    fn the_same_seed_injects_the_same_and_another_seed_differs() {
        let (log, pages) = run(ChaosConfig::new(7));
        assert!(log.len() > 20, "the defaults inject something: {log:#?}");
        assert_eq!((log.clone(), pages.clone()), run(ChaosConfig::new(7)));
        assert_ne!(log, run(ChaosConfig::new(8)).0);
        assert!(run(ChaosConfig::quiet(7)).0.is_empty());
    }

    #[test]
    fn repeats_of_a_request_draw_afresh_but_sticky_decisions_do_not() {
        let mut chaos = Chaos::new(ChaosConfig::new(1));
        let a: u64 = chaos.rng("request", "GET /x", false).random();
        let b: u64 = chaos.rng("request", "GET /x", false).random();
        assert_ne!(a, b);
        let c: u64 = chaos.rng("cycle", "GET /x", true).random();
        let d: u64 = chaos.rng("cycle", "GET /x", true).random();
        assert_eq!(c, d);
    }

    #[test]
    fn wrong_type_changes_the_type_of_one_field() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut page = vec![json!({"id": "a", "@odata.type": "#x", "n": 1})];
        let fault = wrong_type(&mut rng, &mut page).expect("a field to change");
        let ChaosFault::WrongType { field, .. } = fault else {
            panic!("{fault:?}")
        };
        assert_ne!(field, "@odata.type");
        assert_ne!(page[0], json!({"id": "a", "@odata.type": "#x", "n": 1}));
        assert_eq!(page[0]["@odata.type"], "#x");
        assert!(wrong_type(&mut rng, &mut [json!(1), Value::Null]).is_none());
    }

    #[test]
    fn keys_tell_posts_apart_by_body() {
        assert_ne!(
            request_key("POST", "/v1.0/$batch", b"{\"a\":1}"),
            request_key("POST", "/v1.0/$batch", b"{\"a\":2}")
        );
        assert_eq!(request_key("get", "/v1.0/x", b""), "GET /v1.0/x");
    }
}
