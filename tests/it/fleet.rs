//! `gdap-audit fleet` end to end through the binary and the real client, against the fake fleet: a
//! partner with 26 GDAP customers, among them one that has not consented the app, one without an Entra
//! ID P1 licence, one where another partner holds Global Administrator, one that throttles hard and one
//! whose customer side disagrees with the partner side.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use fake_graph::fleet::{
    FLEET_CLIENT_ID, FLEET_SECRET, FOREIGN_PARTNER_TENANT, MISMATCH_ROLE, PARTNER_TENANT,
};
use fake_graph::{CustomerCase, FakeGraph, Fleet, FleetSpec, fleet};
use serde_json::Value;

use crate::cli::{bin, run, text};
use crate::common::repo;

const CUSTOMERS: usize = 26;
const AS_OF: &str = "2026-11-23T12:00:00Z";

async fn start(customers: usize) -> (Fleet, FakeGraph) {
    let f = fleet(&FleetSpec { customers });
    let fake = FakeGraph::start(f.clone().into_config())
        .await
        .expect("fake graph starts");
    (f, fake)
}

fn fleet_cmd(dir: &Path, fake: &FakeGraph, extra: &[&str]) -> Command {
    let mut c = bin(dir);
    c.env("AZURE_CLIENT_SECRET", FLEET_SECRET)
        .args([
            "fleet",
            "--tenant",
            PARTNER_TENANT,
            "--client-id",
            FLEET_CLIENT_ID,
            "--graph-url",
            &fake.url(),
            "--login-url",
            &fake.url(),
            "--as-of",
            AS_OF,
            "--no-history",
            "--no-progress",
            "--fail-on",
            "never",
        ])
        .args(extra);
    c
}

/// What fleet cannot write is refused before any tenant is audited: `--report`, and an `--output` in a
/// directory that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_outputs_are_checked_before_auditing() {
    let (_f, fake) = start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let report = format!("json={}", dir.path().join("x.json").display());
    let out = run(fleet_cmd(dir.path(), &fake, &["--report", &report])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--report"),
        "{}",
        text(&out.stderr)
    );
    let missing = dir.path().join("missing").join("fleet.json");
    let out = run(fleet_cmd(
        dir.path(),
        &fake,
        &["--format", "json", "-o", missing.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(fake.requests().is_empty(), "nothing was asked of Graph");
}

fn section<'a>(report: &'a Value, tenant: &str) -> &'a Value {
    report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant_id"] == tenant)
        .unwrap_or_else(|| panic!("no section for {tenant}"))
}

fn row<'a>(report: &'a Value, tenant: &str) -> &'a Value {
    report["overview"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant_id"] == tenant)
        .unwrap_or_else(|| panic!("no overview row for {tenant}"))
}

fn rule_ids(section: &Value) -> BTreeSet<String> {
    section["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every reachable customer is audited; each failure is in its own customer's coverage with a hint;
/// the fleet's exit code is 3 (incomplete) under `--fail-on never`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_26_customers_is_audited_with_each_failure_in_its_customer() {
    let (f, fake) = start(CUSTOMERS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(fleet_cmd(dir.path(), &fake, &["--format", "json"])).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains(FLEET_SECRET), "the secret never appears");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    // The published contract (docs/fleet.schema.json) holds for the real document.
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("docs/fleet.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "against docs/fleet.schema.json: {errors:?}"
    );
    assert_eq!(report["schema_version"], "1");
    assert_eq!(report["kind"], "fleet");
    assert_eq!(report["partner_tenant_id"], PARTNER_TENANT);
    let tenants = report["tenants"].as_array().unwrap();
    assert_eq!(
        tenants.len(),
        CUSTOMERS + 1,
        "the partner and every customer"
    );
    assert_eq!(report["summary"]["tenants"], CUSTOMERS + 1);
    assert_eq!(
        report["summary"]["failed"], 1,
        "only the unconsented customer"
    );
    // The partner first, then the customers by name.
    assert_eq!(tenants[0]["tenant_id"], PARTNER_TENANT);
    let names: Vec<&str> = tenants[1..]
        .iter()
        .map(|t| t["tenant_name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Every section is a v1 report of its tenant: summary equals findings.
    for t in tenants {
        let n = t["findings"].as_array().unwrap().len() as u64;
        let s = &t["summary"];
        let sum: u64 = ["critical", "high", "medium", "low", "info"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, n, "{}", t["tenant_id"]);
    }

    for (c, _) in &f.customers {
        let sec = section(&report, &c.tenant_id);
        let r = row(&report, &c.tenant_id);
        match c.case {
            CustomerCase::NotConsented => {
                assert_eq!(r["state"], "failed");
                let err = r["error"].as_str().unwrap();
                assert!(err.contains("AADSTS7000229"), "{err}");
                assert!(
                    sec["coverage"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|e| e["status"] != "collected"),
                    "nothing of an unconsented customer is reported as read"
                );
                assert!(sec["findings"].as_array().unwrap().is_empty());
                assert!(
                    sec["coverage"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["rules_not_evaluated"].as_array().is_some_and(|r| r
                            .iter()
                            .any(|id| id == "mfa-not-enforced-for-partners"))),
                    "its rules are listed as not evaluated, never clean"
                );
            }
            CustomerCase::Unlicensed => {
                assert_eq!(r["state"], "incomplete");
                let signins = sec["coverage"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["source"] == "sign_ins")
                    .unwrap();
                assert_eq!(signins["status"], "unlicensed", "{signins}");
                assert!(!rule_ids(sec).contains("stale-partner-access"));
            }
            CustomerCase::ForeignGlobalAdmin => {
                let ga = r["partners_with_global_admin"].as_array().unwrap();
                assert!(
                    ga.iter().any(|p| p["tenant_id"] == FOREIGN_PARTNER_TENANT
                        && p["auditing_partner"] == false),
                    "{ga:?}"
                );
                assert!(rule_ids(sec).contains("global-admin-granted"));
                assert!(!rule_ids(sec).contains("partner-view-mismatch"));
            }
            CustomerCase::RoleMismatch => {
                let mismatch = sec["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["rule_id"] == "partner-view-mismatch")
                    .expect("the cross-check finds the extra role");
                assert_eq!(mismatch["severity"], "high");
                assert_eq!(mismatch["subject"]["id"], PARTNER_TENANT);
                let extra = mismatch["evidence"]["roles_outside_relationships"].to_string();
                assert!(extra.contains(MISMATCH_ROLE), "{extra}");
            }
            CustomerCase::Healthy | CustomerCase::ThrottlingHard => {
                assert_eq!(r["state"], "complete", "{}: {r}", c.display_name);
                assert!(!rule_ids(sec).contains("partner-view-mismatch"));
                assert!(r["partners_with_global_admin"].is_null());
            }
        }
    }
}

/// JSONL: one finding per line, each naming its audited tenant; markdown and table: the overview, then
/// one section per customer by name; `--customers` narrows the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_formats_and_a_customer_list() {
    let (f, fake) = start(8).await;
    let dir = tempfile::tempdir().unwrap();
    let picked: Vec<&str> = f.customers[..3]
        .iter()
        .map(|(c, _)| c.tenant_id.as_str())
        .collect();
    let list = picked.join(",");

    let out = run(fleet_cmd(
        dir.path(),
        &fake,
        &["--format", "jsonl", "--customers", &list],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(!lines.is_empty());
    let tenants: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["tenant_id"].as_str().expect("tenant_id on every line"))
        .collect();
    let expected: BTreeSet<&str> = picked
        .iter()
        .copied()
        .chain([PARTNER_TENANT])
        .filter(|t| *t != f.customer(CustomerCase::NotConsented).unwrap().tenant_id)
        .collect();
    assert!(
        tenants.is_subset(&expected),
        "only the partner and the listed customers: {tenants:?}"
    );
    for t in expected.iter().filter(|t| **t != PARTNER_TENANT) {
        assert!(tenants.contains(t), "{t} has findings in the demo data");
    }

    let out = run(fleet_cmd(dir.path(), &fake, &["--format", "markdown"])).await;
    let md = text(&out.stdout);
    assert!(md.starts_with("# Fleet audit"), "{md}");
    let mut last = 0;
    for (c, _) in &f.customers {
        let at = md
            .find(&format!("## Customer {}", c.display_name))
            .or_else(|| md.find(&c.display_name))
            .unwrap_or_else(|| panic!("{} missing", c.display_name));
        assert!(at >= last, "customers by name");
        last = at;
    }

    let mut cmd = fleet_cmd(dir.path(), &fake, &["--format", "table"]);
    cmd.env("COLUMNS", "400");
    let out = run(cmd).await;
    let table = text(&out.stdout);
    assert!(
        table.contains("partners with Global Administrator"),
        "{table}"
    );
    assert!(table.contains("(OTHER partner)"), "{table}");
    assert!(table.contains("not audited"), "{table}");

    let out = run(fleet_cmd(dir.path(), &fake, &["--format", "sarif"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("fleet writes"),
        "{}",
        text(&out.stderr)
    );
}

/// Per-tenant history: a second fleet run reads each tenant's previous run (incremental logs, first
/// seen), and the report is written to a private file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_keeps_history_per_tenant() {
    let (_f, fake) = start(6).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    let report = dir.path().join("fleet.json");
    for _ in 0..2 {
        let mut cmd = fleet_cmd(dir.path(), &fake, &["--format", "json"]);
        cmd.args([
            "--history",
            db.to_str().unwrap(),
            "-o",
            report.to_str().unwrap(),
        ]);
        // `--history` conflicts with `--no-history`: drop the latter from the base command.
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| a != "--no-history")
            .collect();
        let mut c = bin(dir.path());
        c.env("AZURE_CLIENT_SECRET", FLEET_SECRET).args(&args);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.args(["history", "list", "--format", "json", "--history"])
            .arg(&db);
        c
    });
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let audited =
        doc["summary"]["tenants"].as_u64().unwrap() - doc["summary"]["failed"].as_u64().unwrap();
    assert_eq!(
        runs.as_array().unwrap().len() as u64,
        audited * 2,
        "two runs recorded per audited tenant, none for the one that could not be audited"
    );
}

/// The refresh-token route (Secure Application Model): the partner admin's refresh token, from the
/// environment, is exchanged at each customer's token endpoint; an unconsented customer gets the
/// AADSTS65001 hint in its row, and no token appears in any output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_token_route_audits_every_customer_through_gdap() {
    let (f, fake) = start(6).await;
    let refresh = fake.issue_refresh_token(PARTNER_TENANT);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = fleet_cmd(dir.path(), &fake, &["--format", "json"]);
    cmd.env("GDAP_AUDIT_REFRESH_TOKEN", &refresh);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let unconsented = f.customer(CustomerCase::NotConsented).unwrap();
    let r = row(&report, &unconsented.tenant_id);
    assert_eq!(r["state"], "failed");
    assert!(r["error"].as_str().unwrap().contains("AADSTS65001"), "{r}");
    let healthy = f.customer(CustomerCase::Healthy).unwrap();
    assert_eq!(row(&report, &healthy.tenant_id)["state"], "complete");
    let all = format!("{stderr}{}", text(&out.stdout));
    for t in fake.issued_refresh_token_values() {
        assert!(!all.contains(&t), "a refresh token leaked");
    }
    // One token request per customer tenant, not one per request.
    let per_tenant = fake
        .token_requests()
        .iter()
        .filter(|r| r.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .count();
    assert!(
        per_tenant <= f.customers.len() + 2,
        "{per_tenant} refresh-token exchanges"
    );
}
