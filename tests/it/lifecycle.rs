//! The finding lifecycle end to end, through the binary against the fake Graph: two scheduled runs with
//! a history, `--changes-only` as a ticket system reads it, and the changes webhook.

use std::path::Path;
use std::sync::{Arc, Mutex};

use fake_graph::{FakeGraph, FakeTenant, Fault, FaultKind};
use serde_json::{Value, json};

use crate::cli::{bin, run, text};
use crate::common::*;

const TENANT: &str = "11fe0000-0000-4000-8000-0000000011fe";
const PARTNER: &str = "0b0b0b0b-0000-4000-8000-00000000000b";
const RUN1: &str = "2026-11-23T12:00:00Z";
/// 48 days later: the 30-day log window of run 2 starts after run 1's sign-in.
const RUN2: &str = "2027-01-10T12:00:00Z";
const WEBHOOK_SECRET: &str = "hook-token-5ecret";

/// A customer tenant whose partner is trusted for MFA (`partner-mfa-trusted` when `mfa_trusted`), signed
/// in without MFA on 2026-11-20 (`partner-signin-without-mfa`) and changed a role on 2026-11-21
/// (`partner-privileged-change`).
fn tenant(mfa_trusted: bool) -> FakeTenant {
    FakeTenant::new(TENANT)
        .with_route(
            "/v1.0/organization",
            json!({"value": [{"id": TENANT, "displayName": "Lifecycle Corp"}]}),
        )
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": [{"tenantId": PARTNER, "isServiceProvider": true,
                              "inboundTrust": {"isMfaAccepted": mfa_trusted}}]}),
        )
        .with_route(
            format!("/v1.0/policies/crossTenantAccessPolicy/partners/{PARTNER}/serviceProviderConstraints"),
            json!({"allowedRoleTemplateIds": ["f023fd81-a637-4b56-95fd-791ac0226033"]}),
        )
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/default",
            json!({"inboundTrust": {"isMfaAccepted": false}}),
        )
        .with_route(
            format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{PARTNER}')"),
            json!({"tenantId": PARTNER, "displayName": "Hasty Partner Ltd"}),
        )
        .with_route("/v1.0/roleManagement/directory/roleAssignments", json!({"value": []}))
        .with_route("/beta/roleManagement/directory/roleDefinitions", json!({"value": []}))
        .with_route("/v1.0/servicePrincipals", json!({"value": []}))
        .with_route(
            "/beta/auditLogs/signIns",
            json!({"value": [{
                "id": "s1", "createdDateTime": "2026-11-20T10:00:00Z", "userPrincipalName": "tech@hasty.example",
                "crossTenantAccessType": "serviceProvider", "homeTenantId": PARTNER, "resourceTenantId": TENANT,
                "authenticationRequirement": "singleFactorAuthentication", "status": {"errorCode": 0},
                "location": {"countryOrRegion": "GB"}, "appDisplayName": "Azure Portal"
            }]}),
        )
        .with_route(
            "/v1.0/auditLogs/directoryAudits",
            json!({"value": [{
                "id": "a1", "category": "RoleManagement", "result": "success",
                "activityDisplayName": "Add member to role", "activityDateTime": "2026-11-21T09:00:00Z",
                "loggedByService": "Core Directory", "operationType": "Assign",
                "initiatedBy": {"user": {"id": "u1", "userPrincipalName": "tech@hasty.example",
                                         "homeTenantId": PARTNER}, "app": null},
                "targetResources": [{"id": "r1", "displayName": "Helpdesk Administrator", "type": "Role",
                                     "modifiedProperties": []}],
                "additionalDetails": []
            }]}),
        )
        .with_route(
            "/v1.0/identity/conditionalAccess/policies",
            json!({"value": [{
                "id": "p1", "displayName": "MFA for service providers", "state": "enabled",
                "conditions": {"users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "serviceProvider", "externalTenants": {"membershipKind": "all"}}}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
            }]}),
        )
}

/// `scan` of the customer side with the history at `dir/history.sqlite3`.
fn scan(dir: &Path, fake: &FakeGraph, as_of: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = bin(dir);
    cmd.args(["scan", "--perspective", "customer", "--as-of", as_of])
        .arg("--history")
        .arg(dir.join("history.sqlite3"))
        .args(["--tenant", TENANT, "--client-id", CLIENT_ID])
        .args(["--graph-url", &fake.url(), "--login-url", &fake.url()])
        .args(["--fail-on", "never", "-q"])
        .args(extra)
        .env("AZURE_CLIENT_SECRET", SECRET);
    cmd
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn rules_of(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["rule_id"].as_str().unwrap_or_default().to_owned(),
                        f["resolution"]
                            .as_str()
                            .or(f["status"].as_str())
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn denied_audits(fake: &FakeGraph) {
    fake.push_fault(Fault::new(
        "/auditLogs/directoryAudits",
        20,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges to complete the operation.".into(),
        },
    ));
}

/// Run 1 at [`RUN1`]: the three findings, all new.
async fn first_run(dir: &Path) {
    let fake = fake(vec![tenant(true)]).await;
    let out = run(scan(dir, &fake, RUN1, &["--format", "json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    let mut rules = rules_of(&report["findings"]);
    rules.retain(|(_, s)| s != "new");
    assert!(
        rules.is_empty(),
        "first run: every finding is new: {rules:?}"
    );
    let found: Vec<(String, String)> = rules_of(&report["findings"]);
    for rule in [
        "partner-mfa-trusted",
        "partner-signin-without-mfa",
        "partner-privileged-change",
    ] {
        assert!(
            found.contains(&(rule.to_owned(), "new".to_owned())),
            "{rule} in run 1: {found:?}"
        );
    }
    assert_eq!(report["resolved"], json!([]), "history on: an empty list");
}

/// MUST SHOW (issue 10): between two runs one finding is fixed (the partner is no longer trusted for
/// MFA), one ages out (the clock moves 48 days, the sign-in leaves the 30-day window) and one source is
/// denied (directory audits): the second run's `--changes-only` lists exactly the fixed one and the
/// aged-out one, and nothing for the denied source's finding, which stays open with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_only_lists_the_fixed_and_the_aged_out_finding_and_nothing_for_a_denied_source() {
    let dir = tempfile::tempdir().unwrap();
    first_run(dir.path()).await;

    let fake = fake(vec![tenant(false)]).await;
    denied_audits(&fake);

    // JSON.
    let out = run(scan(
        dir.path(),
        &fake,
        RUN2,
        &["--changes-only", "--format", "json"],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a source is denied: {}",
        text(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["changes_only"], true);
    assert_eq!(
        rules_of(&report["resolved"]),
        vec![
            ("partner-mfa-trusted".to_owned(), "fixed".to_owned()),
            (
                "partner-signin-without-mfa".to_owned(),
                "aged_out".to_owned()
            ),
        ]
    );
    for f in report["resolved"].as_array().unwrap() {
        assert_eq!(f["status"], "resolved");
        assert_eq!(
            f["partner_tenant_id"], PARTNER,
            "the finding as last reported"
        );
    }
    assert_eq!(
        report["findings"],
        json!([]),
        "nothing new or reopened, and nothing for the denied source"
    );

    // JSONL: one line per change, each a ticket on its own.
    let out = run(scan(
        dir.path(),
        &fake,
        RUN2,
        &["--changes-only", "--format", "jsonl"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rules_of(&Value::Array(lines.clone())),
        vec![
            ("partner-mfa-trusted".to_owned(), "fixed".to_owned()),
            (
                "partner-signin-without-mfa".to_owned(),
                "aged_out".to_owned()
            ),
        ]
    );
    for l in &lines {
        assert_eq!(l["tenant_id"], TENANT);
        assert_eq!(l["tenant_name"], "Lifecycle Corp");
        assert_eq!(l["as_of"], "2027-01-10T12:00:00Z");
        assert!(l["fingerprint"].as_str().is_some_and(|f| f.len() == 32));
    }

    // The full report: the denied source's finding is still open, with the reason it was not re-checked.
    let out = run(scan(dir.path(), &fake, RUN2, &["--format", "json"])).await;
    let report = json_of(&out);
    let change = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "partner-privileged-change")
        .unwrap_or_else(|| panic!("carried open: {:#}", report["findings"]));
    assert_eq!(change["status"], "open");
    assert_eq!(change["first_seen"], "2026-11-23T12:00:00Z");
    let note = change["note"].as_str().unwrap();
    assert!(
        note.contains("directory_audits") && note.contains("denied"),
        "{note}"
    );
    assert!(
        report["summary"]["high"].as_u64() >= Some(1),
        "{:#}",
        report["summary"]
    );

    // Markdown and table name the resolved ones too.
    let out = run(scan(
        dir.path(),
        &fake,
        RUN2,
        &["--changes-only", "--format", "markdown"],
    ))
    .await;
    let md = text(&out.stdout);
    assert!(
        md.contains("## Resolved since the previous run (2)"),
        "{md}"
    );
    assert!(
        md.contains("`partner-signin-without-mfa`: Hasty Partner Ltd (`aged_out`)"),
        "{md}"
    );
    assert!(md.contains("No new or reopened findings."), "{md}");
    let out = run(scan(
        dir.path(),
        &fake,
        RUN2,
        &["--changes-only", "--format", "table"],
    ))
    .await;
    let table = text(&out.stdout);
    assert!(table.contains("0 new, 0 reopened, 2 resolved"), "{table}");
    assert!(
        table.contains("fixed partner-mfa-trusted Hasty Partner Ltd"),
        "{table}"
    );
}

/// When the trust comes back, the finding is `reopened`, not `new`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_finding_that_comes_back_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    first_run(dir.path()).await;
    let fixed = fake(vec![tenant(false)]).await;
    let out = run(scan(
        dir.path(),
        &fixed,
        "2026-11-24T12:00:00Z",
        &["--format", "json"],
    ))
    .await;
    assert!(
        rules_of(&json_of(&out)["resolved"])
            .contains(&("partner-mfa-trusted".into(), "fixed".into()))
    );
    let again = fake(vec![tenant(true)]).await;
    let out = run(scan(
        dir.path(),
        &again,
        "2026-11-25T12:00:00Z",
        &["--changes-only", "--format", "json"],
    ))
    .await;
    let report = json_of(&out);
    assert_eq!(
        rules_of(&report["findings"]),
        vec![("partner-mfa-trusted".to_owned(), "reopened".to_owned())]
    );
    assert_eq!(report["resolved"], json!([]));
}

#[test]
fn changes_only_without_history_is_a_usage_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.args([
            "evaluate",
            "fixtures/snapshots/customer.json",
            "--no-history",
            "--changes-only",
        ])
        .current_dir(repo("."));
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--changes-only") && err.contains("needs history"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.args([
            "evaluate",
            "fixtures/snapshots/customer.json",
            "--changes-only",
        ])
        .args(["--format", "sarif", "--history"])
        .arg(dir.path().join("h.sqlite3"))
        .current_dir(repo("."));
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("json, jsonl, markdown or table"));

    // A --report beside a json main report is checked too: a SARIF of the changes only would close
    // every alert still open in code scanning.
    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.args([
            "evaluate",
            "fixtures/snapshots/customer.json",
            "--changes-only",
            "--format",
            "json",
            "-o",
        ])
        .arg(dir.path().join("r.json"))
        .arg("--report")
        .arg(format!("sarif={}", dir.path().join("r.sarif").display()))
        .arg("--history")
        .arg(dir.path().join("h.sqlite3"))
        .current_dir(repo("."));
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("not sarif") && err.contains("r.sarif"),
        "{err}"
    );
    assert!(
        !dir.path().join("r.json").exists(),
        "refused before any report"
    );
}

/// What a loopback webhook received, and how it answers: the first `fail_first` posts get `status`.
#[derive(Clone, Default)]
struct Hook {
    posts: Arc<Mutex<Vec<Value>>>,
    fail_first: usize,
    status: u16,
}

async fn start_hook(hook: Hook) -> String {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let state = hook.clone();
    let app = axum::Router::new().route(
        &format!("/hooks/{WEBHOOK_SECRET}"),
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let state = state.clone();
            async move {
                let mut posts = state.posts.lock().unwrap();
                posts.push(body);
                if posts.len() <= state.fail_first {
                    let status = StatusCode::from_u16(state.status).unwrap();
                    (status, [("retry-after", "0")], "try later").into_response()
                } else {
                    (StatusCode::OK, "ok").into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hooks/{WEBHOOK_SECRET}")
}

/// The webhook gets only the changes, is retried on 503 with Retry-After, and its URL (a secret) never
/// shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_receives_only_the_changes_after_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    first_run(dir.path()).await;
    let hook = Hook {
        fail_first: 1,
        status: 503,
        ..Hook::default()
    };
    let url = start_hook(hook.clone()).await;
    let fake = fake(vec![tenant(false)]).await;
    denied_audits(&fake);
    let mut cmd = scan(dir.path(), &fake, RUN2, &["--format", "table"]);
    cmd.env("GDAP_AUDIT_WEBHOOK_URL", &url);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(WEBHOOK_SECRET), "{all}");

    let posts = hook.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "one 503, then delivered");
    assert_eq!(posts[0], posts[1], "the same document again");
    let body = &posts[1];
    assert_eq!(body["tenant_id"], TENANT);
    assert_eq!(body["tenant_name"], "Lifecycle Corp");
    assert_eq!(body["as_of"], "2027-01-10T12:00:00Z");
    assert_eq!(
        body["counts"],
        json!({"new": 0, "reopened": 0, "resolved": 2})
    );
    assert_eq!(
        rules_of(&body["changes"]),
        vec![
            ("partner-mfa-trusted".to_owned(), "fixed".to_owned()),
            (
                "partner-signin-without-mfa".to_owned(),
                "aged_out".to_owned()
            ),
        ]
    );
    assert!(body["text"].as_str().unwrap().contains("2 resolved"));
}

/// A webhook that keeps failing: a clear error without the URL, exit 3, and the run is not recorded, so
/// the next run sends the same changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_webhook_is_an_error_and_the_changes_are_sent_again_next_time() {
    let dir = tempfile::tempdir().unwrap();
    first_run(dir.path()).await;
    let fake = fake(vec![tenant(false)]).await;

    let broken = Hook {
        fail_first: usize::MAX,
        status: 500,
        ..Hook::default()
    };
    let url = start_hook(broken.clone()).await;
    let mut cmd = scan(
        dir.path(),
        &fake,
        "2026-11-24T12:00:00Z",
        &["--format", "json"],
    );
    cmd.env("GDAP_AUDIT_WEBHOOK_URL", &url);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("GDAP_AUDIT_WEBHOOK_URL") && err.contains("HTTP 500"),
        "{err}"
    );
    assert!(err.contains("sends these changes again"), "{err}");
    assert!(!err.contains(WEBHOOK_SECRET) && !text(&out.stdout).contains(WEBHOOK_SECRET));
    assert_eq!(broken.posts.lock().unwrap().len(), 4, "bounded retries");
    assert!(
        rules_of(&json_of(&out)["resolved"])
            .contains(&("partner-mfa-trusted".into(), "fixed".into())),
        "the report is written all the same"
    );

    let good = Hook::default();
    let url = start_hook(good.clone()).await;
    let mut cmd = scan(
        dir.path(),
        &fake,
        "2026-11-25T12:00:00Z",
        &["--format", "json"],
    );
    cmd.env("GDAP_AUDIT_WEBHOOK_URL", &url);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let posts = good.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1);
    assert!(
        rules_of(&posts[0]["changes"]).contains(&("partner-mfa-trusted".into(), "fixed".into())),
        "{:#}",
        posts[0]
    );

    // Plain http to another host is refused before anything is collected, without echoing the URL.
    let mut cmd = scan(dir.path(), &fake, "2026-11-26T12:00:00Z", &[]);
    cmd.env(
        "GDAP_AUDIT_WEBHOOK_URL",
        format!("http://hooks.example.com/{WEBHOOK_SECRET}"),
    );
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("https"), "{err}");
    assert!(!err.contains(WEBHOOK_SECRET), "{err}");
}

/// `diff` shows the findings that appeared and disappeared, between the last two runs of the history and
/// between two snapshot files (both evaluated with the same configuration and clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_findings_that_appeared_and_disappeared() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = fake(vec![tenant(true)]).await;
    let old = dir.path().join("old.json");
    let new = dir.path().join("new.json");
    let mut cmd = scan(
        dir.path(),
        &trusted,
        RUN1,
        &["--format", "json", "--save-snapshot"],
    );
    cmd.arg(&old);
    assert_eq!(run(cmd).await.status.code(), Some(0));
    let fixed = fake(vec![tenant(false)]).await;
    let mut cmd = scan(
        dir.path(),
        &fixed,
        "2026-11-24T12:00:00Z",
        &["--format", "json", "--save-snapshot"],
    );
    cmd.arg(&new);
    assert_eq!(run(cmd).await.status.code(), Some(0));

    let disappeared = vec![("partner-mfa-trusted".to_owned(), String::new())];
    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.args(["diff", "--format", "json", "--history"])
            .arg(dir.path().join("history.sqlite3"));
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let d = json_of(&out);
    assert_eq!(rules_of(&d["findings_disappeared"]), disappeared, "{d:#}");
    assert_eq!(d["findings_appeared"], json!([]));
    assert_eq!(
        d["findings_disappeared"][0]["subject_name"],
        "Hasty Partner Ltd"
    );

    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.arg("diff").arg(&old).arg(&new).args(["--format", "json"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let d = json_of(&out);
    assert_eq!(rules_of(&d["findings_disappeared"]), disappeared, "{d:#}");
    assert_eq!(d["findings_appeared"], json!([]));

    // Reversed, in the table a reviewer reads.
    let out = crate::cli::run_sync({
        let mut c = bin(dir.path());
        c.arg("diff").arg(&new).arg(&old);
        c
    });
    let table = text(&out.stdout);
    assert!(
        table.contains("appeared") && table.contains("partner-mfa-trusted"),
        "{table}"
    );
    assert!(table.contains("1 finding(s) appeared"), "{table}");
}

/// A finding kept open while its source was denied stays open in the history: once the source is read
/// again it is `open` (not `new` or `reopened`), and it resolves normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_carried_over_a_denied_source_continues_its_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    first_run(dir.path()).await;
    let denied = fake(vec![tenant(true)]).await;
    denied_audits(&denied);
    let out = run(scan(
        dir.path(),
        &denied,
        "2026-11-24T12:00:00Z",
        &["--format", "json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3));
    let report = json_of(&out);
    let carried: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["note"].is_string())
        .collect();
    assert_eq!(carried.len(), 1, "{:#}", report["findings"]);
    assert_eq!(carried[0]["rule_id"], "partner-privileged-change");
    assert_eq!(report["resolved"], json!([]));

    let readable = fake(vec![tenant(true)]).await;
    let out = run(scan(
        dir.path(),
        &readable,
        "2026-11-25T12:00:00Z",
        &["--format", "json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    let change = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "partner-privileged-change")
        .unwrap();
    assert_eq!(change["status"], "open", "{change:#}");
    assert!(change["note"].is_null());
    assert_eq!(report["resolved"], json!([]));

    // 46 days later the role change has left the 30-day window: resolved as aged out.
    let out = run(scan(
        dir.path(),
        &readable,
        RUN2,
        &["--changes-only", "--format", "json"],
    ))
    .await;
    let resolved = rules_of(&json_of(&out)["resolved"]);
    assert!(
        resolved.contains(&("partner-privileged-change".into(), "aged_out".into())),
        "{resolved:?}"
    );
}
