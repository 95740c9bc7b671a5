//! A fleet audit of many customers, end to end: the release binary's `gdap-audit fleet` against the
//! loopback fake Graph with Graph's documented request limits emulated (`GraphLimits::documented()`:
//! audit logs 5 / 10 s per tenant and 122 / 10 s per app across tenants, GDAP APIs 1,000 / 20 s per
//! tenant, directory resource units per tenant) and, optionally, Graph-like latency.
//!
//! `cargo bench --bench fleet` (optionally `-- CUSTOMERS LATENCY_MS MAX_TENANTS`, default `1000 0 8`).
//! The fleet is `fake_graph::fleet` (the demo partner with a GDAP relationship to every customer, each
//! customer built from the demo customer). It prints:
//! * wall time against the lower bound the limits impose: the audit-log requests the fleet needs,
//!   spread at 122 per 10 s (the first window's go at once), which dominates every other limit here;
//! * Graph requests, against the minimum (the requests Graph answered: every refused one is an extra);
//! * the 429s the fake answered because a documented limit was spent (the goal: none after the first);
//! * the fleet process's peak resident memory (`/usr/bin/time`; the fake's copy of 1,000 tenants is
//!   in this process and not counted).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a panic in a benchmark is its failure"
)]

use std::process::Command;
use std::time::{Duration, Instant};

use fake_graph::fleet::{FLEET_CLIENT_ID, FLEET_SECRET, HARD_THROTTLE_REQUESTS, PARTNER_TENANT};
use fake_graph::{FakeGraph, FleetSpec, GraphLimits, fleet};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let customers = args.first().copied().unwrap_or(1000) as usize;
    let latency = Duration::from_millis(args.get(1).copied().unwrap_or(0));
    let max_tenants = args.get(2).copied().unwrap_or(8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = fleet(&FleetSpec { customers }).into_config();
    config.limits = Some(GraphLimits::documented());
    if !latency.is_zero() {
        config.latency = Some(latency);
    }
    let fake = runtime
        .block_on(FakeGraph::start(config))
        .expect("fake graph");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet.jsonl");
    let rss = dir.path().join("rss");
    println!(
        "fleet of {customers} customers, documented Graph limits, {} ms latency, {max_tenants} tenants at once",
        latency.as_millis()
    );
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_gdap-audit"))
        .args([
            "fleet",
            "--no-history",
            "--no-progress",
            "--fail-on",
            "never",
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-23T12:00:00Z",
            "--tenant",
            PARTNER_TENANT,
            "--client-id",
            FLEET_CLIENT_ID,
            "--graph-url",
            &fake.url(),
            "--login-url",
            &fake.url(),
            "--max-tenants",
            &max_tenants.to_string(),
            "--output",
        ])
        .arg(&out)
        .env("AZURE_CLIENT_SECRET", FLEET_SECRET)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env_remove("RUST_LOG")
        // Nothing of the caller's: a refresh token comes first in the credential chain, a webhook
        // needs history.
        .env_remove("GDAP_AUDIT_REFRESH_TOKEN")
        .env_remove("GDAP_AUDIT_WEBHOOK_URL")
        .env_remove("GRAPH_ACCESS_TOKEN")
        .output()
        .expect("/usr/bin/time and the gdap-audit binary");
    let wall = started.elapsed();
    if !matches!(output.status.code(), Some(0 | 1 | 3)) {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let requests = fake.requests();
    let graph: Vec<_> = requests.iter().filter(|r| !r.in_batch).collect();
    let inner = requests.len() - graph.len();
    let logs = requests
        .iter()
        .filter(|r| r.path_and_query.contains("/auditLogs/"))
        .count() as u64;
    let limited = fake.throttled_count();
    // The ThrottlingHard customer refuses its first requests whatever the pace: not the client's doing.
    let refused = limited + u64::from(HARD_THROTTLE_REQUESTS);
    let all = requests.len() as u64;
    let minimum = all.saturating_sub(refused);
    // Audit-log requests Graph accepted; the first 122 start at once, each further 122 a window later.
    let accepted_logs = logs.saturating_sub(limited);
    let windows = accepted_logs.div_ceil(122).saturating_sub(1);
    let bound = Duration::from_secs(10 * windows);
    let findings = std::fs::read_to_string(&out)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    let peak_kib: u64 = std::fs::read_to_string(&rss)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    println!(
        "wall {:.1} s, bound {:.1} s (x{:.2}); requests {all} ({} HTTP, {inner} inside $batch; {logs} audit-log), minimum {minimum} (x{:.3}); 429s from the limits {limited}; {findings} findings; peak RSS {:.1} MiB; exit {:?}",
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        if bound.is_zero() {
            0.0
        } else {
            wall.as_secs_f64() / bound.as_secs_f64()
        },
        graph.len(),
        all as f64 / minimum.max(1) as f64,
        peak_kib as f64 / 1024.0,
        output.status.code(),
    );
}
