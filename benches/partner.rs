//! The partner-side audit of a large partner, end to end: the release binary's `scan --perspective
//! partner` against the loopback fake Graph answering every request after Graph-like latency.
//!
//! `cargo bench --bench partner` (optionally `-- RELATIONSHIPS LATENCY_MS IN_FLIGHT...`, default
//! `5000 100 4 16`). The partner is the demo's (fixtures/demo/partner) with its 13 relationships
//! repeated, each copy for a customer of its own (with its access assignments, customer entry, contract
//! and Lighthouse roles), until there are RELATIONSHIPS of them. The fake emulates Graph's documented
//! request limits (`GraphLimits::documented()`), among them 1,000 GDAP requests per 20 s per app and
//! tenant, `$batch` inner requests counted one by one. For each in-flight limit and report format it
//! prints the HTTP requests Graph received, the time Graph was busy against the lower bound (the larger
//! of the in-flight limit's, requests x latency / in flight, and the GDAP limit's, a 20 s window per
//! 1,000 GDAP requests after the first 1,000), the 429s the limits answered, the findings, and the scan
//! process's peak resident memory (`/usr/bin/time`, the child alone: the fake's copy of the data is not
//! counted).
//! `PARTNER_BENCH_FORMATS=collect,jsonl,json` picks the runs: `collect` is `gdap-audit collect` (the
//! collector and the snapshot file alone), anything else a `scan --format`. With
//! `PARTNER_BENCH_SNAPSHOT=PATH` the `collect` run's snapshot is copied there, for measuring `evaluate`
//! and the renderers offline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a panic in a benchmark is its failure"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_graph::{FakeApp, FakeGraph, FakeGraphConfig, FakeTenant, GraphLimits};
use serde_json::{Value, json};

const CLIENT_ID: &str = "bench";
const SECRET: &str = "bench-secret";
const RELATIONSHIPS: &str = "/v1.0/tenantRelationships/delegatedAdminRelationships";

/// Replaces every occurrence of each `from` with its `to` in every string of `v`.
fn rewrite(v: &mut Value, map: &[(String, String)]) {
    match v {
        Value::String(s) => {
            for (from, to) in map {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, map)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite(x, map)),
        _ => {}
    }
}

/// `guid` with its last five hex digits replaced by `copy` (copy 0 keeps it).
fn variant(guid: &str, copy: usize) -> String {
    if copy == 0 || guid.len() < 36 {
        return guid.to_owned();
    }
    format!("{}{:05x}", &guid[..31], copy)
}

fn values(routes: &BTreeMap<String, Value>, key: &str) -> Vec<Value> {
    routes
        .get(key)
        .and_then(|b| b.get("value"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The demo partner with `count` relationships (and their customers' entries).
fn big_partner(count: usize) -> FakeTenant {
    let demo =
        FakeTenant::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/partner"))
            .expect("the demo partner fixture");
    let mut routes = demo.routes.clone();
    let templates = values(&demo.routes, RELATIONSHIPS);
    let customers = values(
        &demo.routes,
        "/v1.0/tenantRelationships/delegatedAdminCustomers",
    );
    let contracts = values(&demo.routes, "/v1.0/contracts");
    let my_roles = values(
        &demo.routes,
        "/beta/tenantRelationships/managedTenants/myRoles",
    );
    // Every customer tenant id of the fixture: each copy gets its own.
    let mut tenant_ids: Vec<String> = templates
        .iter()
        .filter_map(|r| r.pointer("/customer/tenantId").and_then(Value::as_str))
        .chain(
            customers
                .iter()
                .filter_map(|c| c.get("tenantId").and_then(Value::as_str)),
        )
        .chain(
            contracts
                .iter()
                .filter_map(|c| c.get("customerId").and_then(Value::as_str)),
        )
        .chain(
            my_roles
                .iter()
                .filter_map(|c| c.get("tenantId").and_then(Value::as_str)),
        )
        .map(str::to_owned)
        .collect();
    tenant_ids.sort();
    tenant_ids.dedup();

    let copies = count.div_ceil(templates.len());
    let (mut rels, mut custs, mut cons, mut roles) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for copy in 0..copies {
        let map: Vec<(String, String)> = tenant_ids
            .iter()
            .map(|t| (t.clone(), variant(t, copy)))
            .collect();
        for template in &templates {
            if rels.len() == count {
                break;
            }
            let old_id = template["id"].as_str().unwrap().to_owned();
            let mut rel = template.clone();
            rewrite(&mut rel, &map);
            let new_id = format!("{}-{copy:05}", rel["id"].as_str().unwrap());
            rel["id"] = json!(new_id);
            if let Some(name) = rel.get("displayName").and_then(Value::as_str) {
                rel["displayName"] = json!(format!("{name}-{copy}"));
            }
            let old = format!("{RELATIONSHIPS}/{old_id}/accessAssignments");
            if let Some(body) = demo.routes.get(&old) {
                let mut body = body.clone();
                rewrite(&mut body, &map);
                routes.insert(format!("{RELATIONSHIPS}/{new_id}/accessAssignments"), body);
            }
            rels.push(rel);
        }
        for (list, into) in [
            (&customers, &mut custs),
            (&contracts, &mut cons),
            (&my_roles, &mut roles),
        ] {
            for item in list {
                let mut item = item.clone();
                rewrite(&mut item, &map);
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    item["id"] = json!(format!("{id}-{copy}"));
                }
                into.push(item);
            }
        }
    }
    // The originals' sub-collections are not asked for any more; keep the fake's table lean.
    routes.retain(|k, _| {
        !(k.starts_with(RELATIONSHIPS)
            && k.len() > RELATIONSHIPS.len()
            && !k.ends_with("/accessAssignments"))
    });
    for (key, items) in [
        (RELATIONSHIPS, rels),
        ("/v1.0/tenantRelationships/delegatedAdminCustomers", custs),
        ("/v1.0/contracts", cons),
        ("/beta/tenantRelationships/managedTenants/myRoles", roles),
    ] {
        routes.insert(key.to_owned(), json!({ "value": items }));
    }
    FakeTenant { routes, ..demo }
}

struct Run {
    /// From the first Graph request received to the last one answered.
    graph: Duration,
    requests: usize,
    inner: usize,
    /// GDAP API requests (`/tenantRelationships/`), inner ones included: what Graph's GDAP limit counts.
    gdap: usize,
    throttled: u64,
    wall: Duration,
    peak_kib: u64,
    findings: usize,
    exit: Option<i32>,
}

fn scan(
    fake: &FakeGraph,
    tenant: &str,
    in_flight: usize,
    format: &str,
    dir: &Path,
    latency: Duration,
) -> Run {
    let out = dir.join(format!("report.{format}"));
    let rss = dir.join("rss");
    fake.clear_requests();
    let throttled_before = fake.throttled_count();
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_gdap-audit"))
        .args(if format == "collect" {
            vec!["collect", "--out"]
        } else {
            vec![
                "scan",
                "--no-history",
                "--fail-on",
                "never",
                "--format",
                format,
                "--output",
            ]
        })
        .arg(&out)
        .args([
            "--perspective",
            "partner",
            "--as-of",
            "2026-11-23T12:00:00Z",
            "--tenant",
            tenant,
            "--client-id",
            CLIENT_ID,
            "--graph-url",
            &fake.url(),
            "--login-url",
            &fake.url(),
            "--max-in-flight",
            &in_flight.to_string(),
        ])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env_remove("RUST_LOG")
        // Nothing of the caller's: a refresh token comes first in the credential chain, a webhook
        // needs history.
        .env_remove("GDAP_AUDIT_REFRESH_TOKEN")
        .env_remove("GDAP_AUDIT_WEBHOOK_URL")
        .env_remove("GRAPH_ACCESS_TOKEN")
        .output()
        .expect("/usr/bin/time and the gdap-audit binary");
    if !matches!(output.status.code(), Some(0 | 1 | 3)) {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let status = output.status;
    if format == "collect"
        && let Some(keep) = std::env::var_os("PARTNER_BENCH_SNAPSHOT")
    {
        std::fs::copy(&out, keep).expect("PARTNER_BENCH_SNAPSHOT is writable");
    }
    let wall = started.elapsed();
    let requests = fake.requests();
    let findings = match format {
        "json" => {
            let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
            v["findings"].as_array().map_or(0, Vec::len)
        }
        "jsonl" => std::fs::read_to_string(&out).unwrap().lines().count(),
        _ => 0,
    };
    let first = requests.iter().map(|r| r.received_at).min();
    let last = requests.iter().map(|r| r.received_at).max();
    Run {
        graph: match (first, last) {
            (Some(a), Some(b)) => b.duration_since(a) + latency,
            _ => Duration::ZERO,
        },
        requests: requests.iter().filter(|r| !r.in_batch).count(),
        gdap: requests
            .iter()
            .filter(|r| r.path_and_query.contains("/tenantRelationships/"))
            .count(),
        throttled: fake.throttled_count() - throttled_before,
        inner: requests.iter().filter(|r| r.in_batch).count(),
        wall,
        peak_kib: std::fs::read_to_string(&rss)
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0),
        findings,
        exit: status.code(),
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count = args.first().copied().unwrap_or(5000);
    let latency = Duration::from_millis(args.get(1).copied().unwrap_or(100) as u64);
    let in_flights: Vec<usize> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        vec![4, 16]
    };
    // `collect` (the collector and the snapshot file alone) or any --format of scan.
    let formats = std::env::var("PARTNER_BENCH_FORMATS").unwrap_or_else(|_| "json,table".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tenant = big_partner(count);
    let tenant_id = tenant.tenant_id.clone();
    let mut config = FakeGraphConfig::new(vec![tenant], FakeApp::with_secret(CLIENT_ID, SECRET));
    config.latency = Some(latency);
    config.limits = Some(GraphLimits::documented());
    let fake = runtime
        .block_on(FakeGraph::start(config))
        .expect("fake graph");
    let dir = tempfile::tempdir().unwrap();
    println!(
        "partner of {count} relationships, {} ms per Graph request",
        latency.as_millis()
    );
    let mut first = true;
    for &in_flight in &in_flights {
        for format in formats.split(',') {
            if !first {
                // Graph's GDAP window (20 s) still counts the previous run's requests: a new process
                // cannot know them, so each run starts on a window of its own.
                std::thread::sleep(Duration::from_secs(21));
            }
            first = false;
            let run = scan(&fake, &tenant_id, in_flight, format, dir.path(), latency);
            let in_flight_bound = latency.as_secs_f64() * run.requests as f64 / in_flight as f64;
            // Graph's GDAP window: 1,000 requests per 20 s; the first 1,000 go at once.
            let gdap_bound = (run.gdap.saturating_sub(1) / 1000) as f64 * 20.0;
            let bound = in_flight_bound.max(gdap_bound);
            println!(
                "in flight {in_flight:>2}  {format:<7}  {:>4} requests ({:>5} inside $batch, {:>5} GDAP)  Graph {:>6.2} s  bound {:>6.2} s (in flight {:.2} s, GDAP limit {:.0} s)  x{:.2}  429s {}  whole scan {:>6.2} s  {:>6} findings  peak RSS {:>6.1} MiB  exit {:?}",
                run.requests,
                run.inner,
                run.gdap,
                run.graph.as_secs_f64(),
                bound,
                in_flight_bound,
                gdap_bound,
                run.graph.as_secs_f64() / bound,
                run.throttled,
                run.wall.as_secs_f64(),
                run.findings,
                run.peak_kib as f64 / 1024.0,
                run.exit,
            );
        }
    }
}
