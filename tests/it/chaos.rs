//! Chaos: the scan of both demo tenants through the fake's fault-injecting layer, over many seeds.
//!
//! Each seed's scan must end with the clean scan's findings exactly, or with the affected sources marked
//! not collected and the rules that needed them listed as not evaluated under them: never an invented,
//! doubled or silently dropped or changed finding, and never a hang (each seed has its own timeout).
//! Only names may go missing (the tenant's and partners' names are looked up best-effort).
//! A failure prints the seed, what was injected and the difference. `CHAOS_SEED=N` re-runs one seed,
//! `CHAOS_SEEDS=N` runs N seeds (`CHAOS_BUDGET_SECS` lengthens the time budget), `CHAOS_ONLY=throttle,cycle,...` injects only those faults (names as
//! in [`only`]; small pages are always on).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fake_graph::{ChaosConfig, FakeGraph, Injection};
use gdap_audit::collect::{self, CollectOptions, PerspectiveMode};
use gdap_audit::config::Config;
use gdap_audit::evaluate::{Evaluation, evaluate};
use gdap_audit::graph::RetryPolicy;
use gdap_audit::graph::error::GraphError;
use gdap_audit::report::v1::{ReportHeader, build};
use gdap_audit::rules::Severity;
use gdap_audit::rules::context::HistoryView;
use gdap_audit::rules::finding::Finding;
use gdap_audit::snapshot::{CoverageStatus, Snapshot, Source};
use serde_json::Value;

use crate::common::*;

/// Seeds run by default; each scans both demo tenants.
const SEEDS: u64 = 64;
/// A seed whose scans take longer has a client that loops or waits on something it should not. A clean
/// scan takes well under a second and a faulty one a few (Retry-After pauses); the margin is for a
/// loaded machine (several builds on 2 cores made 5 s fail scans that were only slow).
const SEED_TIMEOUT: Duration = Duration::from_secs(30);
/// No new seed starts after this much time, so a slow machine cannot push the test past CI's patience.
/// `CHAOS_BUDGET_SECS` changes it for a long run by hand.
const BUDGET: Duration = Duration::from_secs(50);

fn budget() -> Duration {
    env_u64("CHAOS_BUDGET_SECS").map_or(BUDGET, Duration::from_secs)
}
/// Seeds run at once, each on its own fake.
const WORKERS: usize = 4;
/// Failures printed with their injections and gaps; the rest get a line each.
const SHOWN_IN_FULL: usize = 8;
/// The demo's clock (`commands::demo::DEMO_AS_OF`): the fixtures are dated relative to it.
const DEMO_AS_OF: &str = "2026-11-23T12:00:00Z";
/// Evaluator-made finding whose subject is another rule's suppression.
const SUPPRESSION_UNUSED: &str = "suppression-unused";

fn as_of() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEMO_AS_OF)
        .unwrap()
        .with_timezone(&Utc)
}

/// Retries as the real client does them, with delays shrunk so that a seed takes well under a second:
/// a `Retry-After: 1` waits 50 ms.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total: Duration::from_secs(3),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(50),
    }
}

/// The faults `CHAOS_ONLY` may name, each keeping only that probability of [`ChaosConfig::new`].
fn only(config: ChaosConfig, names: &str) -> ChaosConfig {
    let full = config.clone();
    let mut c = ChaosConfig {
        max_page_size: full.max_page_size,
        ..ChaosConfig::quiet(full.seed)
    };
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "throttle" => c.throttle = full.throttle,
            "server_error" => c.server_error = full.server_error,
            "reset" => c.reset = full.reset,
            "truncate" => c.truncate = full.truncate,
            "duplicate_page" => c.duplicate_page = full.duplicate_page,
            "cycle" => c.cycle = full.cycle,
            "malformed_item" => c.malformed_item = full.malformed_item,
            "wrong_type" => c.wrong_type = full.wrong_type,
            "duplicate_item" => c.duplicate_item = full.duplicate_item,
            "batch_duplicate" => c.batch_duplicate = full.batch_duplicate,
            "token" => c.token = full.token,
            // Small pages only (they are always on).
            "pages" => {}
            other => panic!("CHAOS_ONLY: unknown fault {other:?}"),
        }
    }
    c
}

fn chaos_config(seed: u64) -> ChaosConfig {
    let config = ChaosConfig::new(seed);
    match std::env::var("CHAOS_ONLY") {
        Ok(names) => only(config, &names),
        Err(_) => config,
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// One demo tenant and how the demo scans it.
struct DemoTenant {
    name: &'static str,
    id: String,
    mode: PerspectiveMode,
}

/// The outcome of one scan.
struct Scan {
    snap: Snapshot,
    evaluation: Evaluation,
}

async fn scan(fake: &FakeGraph, tenant: &DemoTenant, config: &Config) -> Scan {
    let client = client_with(fake, &tenant.id, |s| {
        s.retry = fast_retry();
        s.request_timeout = Duration::from_secs(2);
    });
    let mut opts = CollectOptions::new(tenant.id.clone(), as_of(), as_of());
    opts.perspective = tenant.mode;
    let snap = collect::collect(&client, &opts).await;
    let evaluation = evaluate(&snap, config, &HistoryView::default(), as_of());
    Scan { snap, evaluation }
}

/// A finding as reported: shown or suppressed.
#[derive(Debug, Clone, PartialEq)]
struct Reported {
    finding: Finding,
    suppressed: bool,
}

impl Reported {
    /// What the finding says, without its wording: the tenant's own name comes from `/organization`,
    /// which is read best-effort by design (no coverage entry), so names and the sentences that
    /// embed them may differ; severity, subject and evidence may not.
    fn substance(&self) -> Value {
        let f = &self.finding;
        serde_json::json!({
            "rule_id": f.rule_id,
            "severity": f.severity,
            "subject": { "kind": f.subject.kind, "id": f.subject.id },
            "partner_tenant_id": f.partner_tenant_id,
            "customer_tenant_id": f.customer_tenant_id,
            "evidence": f.evidence,
            "suppressed": self.suppressed,
        })
    }

    fn label(&self) -> String {
        format!(
            "{} [{}] {}{} ({})",
            self.finding.rule_id,
            self.finding.severity,
            self.finding.subject.id,
            if self.suppressed { ", suppressed" } else { "" },
            self.finding.fingerprint
        )
    }
}

fn reported(ev: &Evaluation) -> Vec<Reported> {
    let shown = ev.findings.iter().map(|f| Reported {
        finding: f.clone(),
        suppressed: false,
    });
    let hidden = ev.suppressed.iter().map(|s| Reported {
        finding: s.finding.clone(),
        suppressed: true,
    });
    shown.chain(hidden).collect()
}

/// Why a clean finding may be missing or different in a chaos scan: a source its rule uses that the
/// clean scan collected, the chaos scan did not, and the report names as the reason the rule was not
/// (fully) evaluated; or the rule listed as not evaluated. `Err` says why nothing explains it.
fn explanation(
    rule_id: &str,
    evidence_rule: Option<&str>,
    clean: &Scan,
    chaos: &Scan,
) -> Result<String, String> {
    if let Some(n) = chaos
        .evaluation
        .not_evaluated
        .iter()
        .find(|n| n.rule_id == rule_id)
    {
        return Ok(format!("{rule_id} not evaluated: {}", n.reason));
    }
    // `suppression-unused` is raised only when the suppressed rule ran in full.
    if rule_id == SUPPRESSION_UNUSED {
        let rule = evidence_rule.ok_or("its evidence names no rule")?;
        return explanation(rule, None, clean, chaos);
    }
    let meta = gdap_audit::rules::rule(rule_id).ok_or("unknown rule")?;
    let lost: Vec<Source> = meta
        .sources
        .iter()
        .chain(meta.optional_sources)
        .copied()
        .filter(|s| clean.snap.has(*s) && !chaos.snap.has(*s))
        .collect();
    let named =
        |s: &Source| {
            chaos.evaluation.coverage.iter().any(|c| {
                c.coverage.source == *s && c.rules_not_evaluated.iter().any(|r| r == rule_id)
            })
        };
    match (lost.iter().find(|s| named(s)), lost.first()) {
        (Some(s), _) => Ok(format!("{rule_id} needs {s}, not collected")),
        (None, Some(s)) => Err(format!(
            "{s} was not collected, but its coverage entry does not list {rule_id} as not evaluated"
        )),
        (None, None) => Err("every source it uses was collected".into()),
    }
}

/// Where two JSON values differ, as `path: clean -> chaos` lines (long values shortened).
fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                json_diff(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            // Lists of another length: which items come more or fewer times.
            let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for v in x {
                counts.entry(v.to_string()).or_default().0 += 1;
            }
            for v in y {
                counts.entry(v.to_string()).or_default().1 += 1;
            }
            out.push(format!("{path}: {} items -> {}", x.len(), y.len()));
            for (item, (a, b)) in counts.into_iter().filter(|(_, (a, b))| a != b) {
                out.push(format!("{path}[]: {} x{a} -> x{b}", shorten(&item)));
            }
        }
        _ => out.push(format!("{path}: {} -> {}", short(a), short(b))),
    }
}

fn short(v: &Value) -> String {
    shorten(&v.to_string())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(240) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

fn suppressed_rule(f: &Finding) -> Option<String> {
    f.evidence
        .get("rule")
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Summary counts of the report built from `ev` against its findings.
fn summary_violations(snap: &Snapshot, ev: &Evaluation) -> Vec<String> {
    let report = build(&ReportHeader::from_snapshot(snap), ev, as_of());
    let mut out = Vec::new();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let counted = ev
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count() as u64;
        let sev = gdap_audit::report::v1::Severity::from(severity);
        if report.summary.count(sev) != counted {
            out.push(format!(
                "summary says {} {severity} finding(s), the report holds {counted}",
                report.summary.count(sev)
            ));
        }
    }
    if report.summary.suppressed != ev.suppressed.len() as u64 {
        out.push(format!(
            "summary says {} suppressed, the report holds {}",
            report.summary.suppressed,
            ev.suppressed.len()
        ));
    }
    out
}

/// The chaos invariant: every violation, as a line.
fn violations(clean: &Scan, chaos: &Scan) -> Vec<String> {
    let mut out = Vec::new();
    let ours = reported(&chaos.evaluation);
    let mut by_fp: BTreeMap<&str, &Reported> = BTreeMap::new();
    for r in &ours {
        if by_fp.insert(&r.finding.fingerprint, r).is_some() {
            out.push(format!("DOUBLED   {}", r.label()));
        }
    }
    let theirs = reported(&clean.evaluation);
    let clean_fp: BTreeMap<&str, &Reported> = theirs
        .iter()
        .map(|r| (r.finding.fingerprint.as_str(), r))
        .collect();
    for r in &ours {
        match clean_fp.get(r.finding.fingerprint.as_str()) {
            None => out.push(format!("INVENTED  {}: {}", r.label(), r.finding.message)),
            Some(c) if c.substance() != r.substance() => {
                let rule = &r.finding.rule_id;
                let mut diff = Vec::new();
                json_diff("", &c.substance(), &r.substance(), &mut diff);
                // Names (of the tenant, of partners) are looked up best-effort: a failed lookup leaves
                // a name out, which is no different finding.
                let names_only = diff.iter().all(|d| {
                    d.split(':')
                        .next()
                        .and_then(|path| path.rsplit('.').next())
                        .is_some_and(|field| field == "name" || field.ends_with("_name"))
                });
                if names_only {
                    continue;
                }
                if let Err(why) =
                    explanation(rule, suppressed_rule(&r.finding).as_deref(), clean, chaos)
                {
                    out.push(format!(
                        "CHANGED   {} ({why}):\n            {}",
                        r.label(),
                        diff.join("\n            ")
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for c in &theirs {
        if by_fp.contains_key(c.finding.fingerprint.as_str()) {
            continue;
        }
        let rule = &c.finding.rule_id;
        if let Err(why) = explanation(rule, suppressed_rule(&c.finding).as_deref(), clean, chaos) {
            out.push(format!("DROPPED   {} ({why})", c.label()));
        }
    }
    out.extend(summary_violations(&chaos.snap, &chaos.evaluation));
    out
}

fn gaps(snap: &Snapshot) -> Vec<String> {
    snap.coverage
        .iter()
        .filter(|c| !c.status.is_complete() && c.status != CoverageStatus::Skipped)
        .map(|c| {
            format!(
                "{} {:?}: {}",
                c.source,
                c.status,
                c.detail.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// One seed's failure, printed whole.
struct Failure {
    seed: u64,
    tenant: &'static str,
    lines: Vec<String>,
    injected: Vec<Injection>,
    gaps: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "--- seed {} ({} tenant): re-run with CHAOS_SEED={}",
            self.seed, self.tenant, self.seed
        )?;
        for l in &self.lines {
            writeln!(f, "  {l}")?;
        }
        writeln!(f, "  injected ({}):", self.injected.len())?;
        // A loop injects the same thing again and again: once with a count.
        let mut shown: Vec<(String, usize)> = Vec::new();
        for i in &self.injected {
            let line = i.to_string();
            match shown.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += 1,
                None => shown.push((line, 1)),
            }
        }
        for (line, n) in shown {
            if n > 1 {
                writeln!(f, "    {line} (x{n})")?;
            } else {
                writeln!(f, "    {line}")?;
            }
        }
        writeln!(f, "  coverage gaps ({}):", self.gaps.len())?;
        for g in &self.gaps {
            writeln!(f, "    {g}")?;
        }
        Ok(())
    }
}

/// The fault kinds of an injection log, for the closing tally.
fn kinds(injected: &[Injection]) -> BTreeSet<String> {
    injected
        .iter()
        .map(|i| {
            let debug = format!("{:?}", i.fault);
            debug
                .split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn demo_tenants() -> (Vec<fake_graph::FakeTenant>, Vec<DemoTenant>) {
    let partner = tenant_dir("fixtures/demo/partner");
    let customer = tenant_dir("fixtures/demo/customer");
    let tenants = vec![
        DemoTenant {
            name: "partner",
            id: partner.tenant_id.clone(),
            mode: PerspectiveMode::Partner,
        },
        DemoTenant {
            name: "customer",
            id: customer.tenant_id.clone(),
            mode: PerspectiveMode::Customer,
        },
    ];
    (vec![partner, customer], tenants)
}

/// What a worker saw.
#[derive(Default)]
struct Tally {
    /// Seeds run (each over every tenant).
    ran: usize,
    requests: usize,
    injected: usize,
    /// Scans that ended with a coverage gap (and no violation, or one).
    gap_runs: usize,
    failures: Vec<Failure>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ran += other.ran;
        self.requests += other.requests;
        self.injected += other.injected;
        self.gap_runs += other.gap_runs;
        self.failures.extend(other.failures);
    }
}

/// Scans every tenant under chaos for each seed, one after the other, on `fake`; stops starting seeds
/// once the budget is spent.
async fn run_seeds(
    fake: &FakeGraph,
    seeds: Vec<u64>,
    tenants: &[DemoTenant],
    clean: &[Scan],
    config: &Config,
    started: Instant,
) -> Tally {
    let mut tally = Tally::default();
    for seed in seeds {
        if started.elapsed() > budget() {
            break;
        }
        tally.ran += 1;
        for (t, clean) in tenants.iter().zip(clean) {
            fake.clear_requests();
            fake.set_chaos(Some(chaos_config(seed)));
            let outcome = tokio::time::timeout(SEED_TIMEOUT, scan(fake, t, config)).await;
            let injected = fake.chaos_log();
            fake.set_chaos(None);
            let requests = fake.requests().len();
            tally.requests += requests;
            tally.injected += injected.len();
            let (lines, gaps) = match outcome {
                Err(_) => (
                    vec![format!(
                        "TIMEOUT   the scan did not end within {SEED_TIMEOUT:?} ({requests} Graph requests sent)"
                    )],
                    Vec::new(),
                ),
                Ok(chaos) => {
                    let g = gaps(&chaos.snap);
                    if !g.is_empty() {
                        tally.gap_runs += 1;
                    }
                    (violations(clean, &chaos), g)
                }
            };
            if !lines.is_empty() {
                tally.failures.push(Failure {
                    seed,
                    tenant: t.name,
                    lines,
                    injected,
                    gaps,
                });
            }
        }
    }
    tally
}

/// #chaos: many seeds of random 429, 5xx, resets, truncated bodies, duplicated and cyclic pages,
/// malformed items and duplicated `$batch` answers over the demo scan; each ends as the clean result or
/// as a named coverage gap, in bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_scans_end_clean_or_as_named_gaps() {
    let (fixtures, tenants) = demo_tenants();
    let fake = fake(fixtures.clone()).await;
    let config = Config::load(repo("fixtures/demo/gdap-audit.toml")).expect("demo config");

    let mut clean = Vec::new();
    for t in &tenants {
        fake.clear_requests();
        let t0 = Instant::now();
        let s = scan(&fake, t, &config).await;
        eprintln!(
            "chaos: clean {} scan: {} requests, {} findings, {:.0?}",
            t.name,
            fake.requests().len(),
            s.evaluation.findings.len(),
            t0.elapsed()
        );
        assert!(
            gaps(&s.snap).is_empty(),
            "the clean {} scan has gaps: {:#?}",
            t.name,
            gaps(&s.snap)
        );
        assert!(
            !s.evaluation.findings.is_empty(),
            "the clean {} scan finds nothing",
            t.name
        );
        assert!(
            violations(&s, &s).is_empty(),
            "the clean {} scan is not self-consistent: {:#?}",
            t.name,
            violations(&s, &s)
        );
        clean.push(s);
    }

    let seeds: Vec<u64> = match env_u64("CHAOS_SEED") {
        Some(one) => vec![one],
        None => (0..env_u64("CHAOS_SEEDS").unwrap_or(SEEDS)).collect(),
    };
    // Scans mostly wait (loopback round trips, retry pauses): a few seeds at once, each on its own fake
    // since chaos is per fake.
    let started = Instant::now();
    let workers = WORKERS.min(seeds.len()).max(1);
    let mut fakes = vec![fake];
    while fakes.len() < workers {
        fakes.push(crate::common::fake(fixtures.clone()).await);
    }
    let runs = fakes.iter().enumerate().map(|(w, fake)| {
        let mine: Vec<u64> = seeds.iter().copied().skip(w).step_by(workers).collect();
        run_seeds(fake, mine, &tenants, &clean, &config, started)
    });
    let mut total = Tally::default();
    for t in futures::future::join_all(runs).await {
        total.add(t);
    }
    let Tally {
        ran,
        requests: requests_total,
        injected: injected_total,
        gap_runs,
        mut failures,
    } = total;
    failures.sort_by_key(|f| (f.seed, f.tenant));
    if ran < seeds.len() {
        eprintln!(
            "chaos: time budget of {:?} spent after {ran} of {} seed(s)",
            budget(),
            seeds.len()
        );
    }
    eprintln!(
        "chaos: {ran} seed(s) x {} tenants in {:.1?} ({workers} at a time), {requests_total} Graph requests, {injected_total} faults injected, {gap_runs} scan(s) ended with coverage gaps, {} failed",
        tenants.len(),
        started.elapsed(),
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failures {
        let what: BTreeSet<&str> = f
            .lines
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for w in what {
            *tally.entry(format!("violation {w}")).or_default() += 1;
        }
        for k in kinds(&f.injected) {
            *tally.entry(format!("with fault {k}")).or_default() += 1;
        }
    }
    let mut text = String::new();
    for (i, f) in failures.iter().enumerate() {
        if i < SHOWN_IN_FULL {
            text.push_str(&f.to_string());
        } else {
            text.push_str(&format!(
                "--- seed {} ({}): {}\n",
                f.seed,
                f.tenant,
                f.lines.first().map(String::as_str).unwrap_or_default()
            ));
        }
    }
    panic!(
        "{} of {} chaos scan(s) broke the invariant\n{text}--- tally over failed scans: {tally:#?}",
        failures.len(),
        ran * tenants.len()
    );
}

/// The chaos layer through the real client: the same seed injects the same faults into the same scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_injects_the_same_faults() {
    let (fixtures, tenants) = demo_tenants();
    let fake = fake(fixtures).await;
    let config = Config::load(repo("fixtures/demo/gdap-audit.toml")).expect("demo config");
    // Request faults only: their retries are the same whatever the order of concurrent requests.
    let chaos = ChaosConfig {
        throttle: 0.1,
        server_error: 0.1,
        ..ChaosConfig::quiet(42)
    };
    let mut logs = Vec::new();
    for _ in 0..2 {
        fake.set_chaos(Some(chaos.clone()));
        let _ = tokio::time::timeout(SEED_TIMEOUT, scan(&fake, &tenants[1], &config))
            .await
            .expect("the scan ends");
        let mut log: Vec<String> = fake.chaos_log().iter().map(|i| i.to_string()).collect();
        // Concurrent requests arrive in any order; what each one got does not depend on it.
        log.sort();
        logs.push(log);
    }
    assert!(!logs[0].is_empty(), "a 20 % fault rate injects something");
    assert_eq!(logs[0], logs[1]);
}

/// The chaos layer's faults reach the wire as they claim: a reset or a cut body is a transport
/// failure, not an answer; pages repeat items, link back, carry malformed items; `$batch` repeats an
/// answer. (What the client makes of them is the chaos scan's business.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_faults_reach_the_wire() {
    let (fixtures, tenants) = demo_tenants();
    let fake = fake(fixtures).await;
    let client = client_with(&fake, &tenants[1].id, |s| {
        s.retry.max_attempts = 1;
        s.request_timeout = Duration::from_secs(2);
    });
    client.token_check().await.expect("a token before chaos");
    let quiet = ChaosConfig::quiet(3);

    for (name, config) in [
        (
            "reset",
            ChaosConfig {
                reset: 1.0,
                ..quiet.clone()
            },
        ),
        (
            "truncate",
            ChaosConfig {
                truncate: 1.0,
                ..quiet.clone()
            },
        ),
    ] {
        fake.set_chaos(Some(config));
        let err = client
            .get::<Value>("/v1.0/organization")
            .await
            .expect_err(name);
        assert!(
            matches!(err.root(), GraphError::Transport { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(fake.chaos_log().len(), 1, "{name}");
    }

    let policies = "/v1.0/identity/conditionalAccess/policies";
    let ids = |page: &Value| -> Vec<String> {
        page["value"]
            .as_array()
            .expect("a collection")
            .iter()
            .map(|v| v["id"].to_string())
            .collect()
    };
    fake.set_chaos(Some(ChaosConfig {
        duplicate_page: 1.0,
        max_page_size: Some(2),
        ..quiet.clone()
    }));
    let mut url = policies.to_owned();
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page: Value = client.get(&url).await.expect("a page");
        seen.extend(ids(&page));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert!(distinct.len() < seen.len(), "items repeat: {seen:?}");

    fake.set_chaos(Some(ChaosConfig {
        cycle: 1.0,
        max_page_size: Some(2),
        ..quiet.clone()
    }));
    let first: Value = client.get(policies).await.expect("page 1");
    let second_url = first["@odata.nextLink"]
        .as_str()
        .expect("page 2")
        .to_owned();
    let second: Value = client.get(&second_url).await.expect("page 2");
    assert_eq!(
        second["@odata.nextLink"].as_str(),
        Some(format!("{}{policies}", fake.url()).as_str()),
        "page 2 leads back to page 1"
    );

    fake.set_chaos(Some(ChaosConfig {
        malformed_item: 1.0,
        ..quiet.clone()
    }));
    let page: Value = client.get(policies).await.expect("a page");
    assert!(
        page["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.get("id").and_then(Value::as_str).is_none()),
        "a malformed item: {page}"
    );

    fake.set_chaos(Some(ChaosConfig {
        batch_duplicate: 1.0,
        ..quiet
    }));
    let body = serde_json::json!({"requests": [
        {"id": "1", "method": "GET", "url": "/organization"},
        {"id": "2", "method": "GET", "url": "/identity/conditionalAccess/policies"},
    ]});
    let answer: Value = client.post("/v1.0/$batch", &body).await.expect("a batch");
    assert_eq!(answer["responses"].as_array().map(Vec::len), Some(3));
    fake.set_chaos(None);
}
