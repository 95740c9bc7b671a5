//! "Trustworthy under bad input, dead endpoints and real Microsoft data": the command-level regressions
//! (numbered as in the issue), end to end through the binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_graph::{Fault, FaultKind};
use serde_json::Value;

use crate::cli::{CLEAN, bin, clean_tenant, run, run_sync, scan_args, text};
use crate::common::*;

const AS_OF_1: &str = "2026-11-23T12:00:00Z";
const AS_OF_2: &str = "2026-11-30T12:00:00Z";

/// `demo --tenant KIND` with plain output and the given extra arguments.
fn demo(dir: &Path, kind: &str, extra: &[&str]) -> Command {
    let mut c = bin(dir);
    c.args(["demo", "--tenant", kind, "--no-progress"])
        .args(extra);
    c
}

fn history_runs(dir: &Path, db: &Path) -> Vec<Value> {
    let out = run_sync({
        let mut c = bin(dir);
        c.args(["history", "list", "--format", "json", "--history"])
            .arg(db);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// #1: a dead Graph endpoint is not an audit: exit 2 naming the URL, in seconds, nothing on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_graph_endpoint_is_exit_two_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    cmd.env("GRAPH_ACCESS_TOKEN", "x").args([
        "scan",
        "--no-history",
        "--tenant",
        CLEAN,
        "--graph-url",
        "http://127.0.0.1:9",
    ]);
    let started = Instant::now();
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach Microsoft Graph at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("--graph-url"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
}

/// #1: a dead login endpoint: exit 2 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_login_endpoint_is_exit_two_naming_the_url() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    cmd.env("AZURE_CLIENT_SECRET", SECRET).args([
        "scan",
        "--no-history",
        "--tenant",
        CLEAN,
        "--client-id",
        CLIENT_ID,
        "--graph-url",
        &fake.url(),
        "--login-url",
        "http://127.0.0.1:9",
    ]);
    let started = Instant::now();
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach the login endpoint http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert!(
        fake.requests().is_empty(),
        "no Graph request without a token"
    );
}

/// #4: `--tenant` given as a domain (here `organizations`) takes the id /organization gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_tenant_is_keyed_by_the_organization_id() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, "organizations");
    cmd.env("AZURE_CLIENT_SECRET", SECRET)
        .args(["--format", "json", "-q"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tenant_id"], CLEAN);
}

/// #4: a domain whose id neither the token nor /organization gives stops (exit 2, with a hint); it never
/// falls back to the domain itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_tenant_without_an_id_is_exit_two() {
    let fake = fake(vec![clean_tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/organization",
        100,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges to complete the operation.".into(),
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, "organizations");
    cmd.env("AZURE_CLIENT_SECRET", SECRET);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot establish the tenant id of organizations"),
        "{stderr}"
    );
    assert!(stderr.contains("--tenant"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// #4: a GUID `--tenant` that disagrees with the token's `tid` is an error naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guid_tenant_other_than_the_tokens_is_exit_two() {
    use base64::Engine;
    let other = "0b0b0b0b-0000-4000-8000-00000000000b";
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "{}.{}.c2ln",
        e.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        e.encode(format!(
            r#"{{"tid":"{other}","aud":"https://graph.microsoft.com"}}"#
        ))
    );
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    cmd.env("GRAPH_ACCESS_TOKEN", &token).args([
        "scan",
        "--no-history",
        "--tenant",
        CLEAN,
        "--graph-url",
        &fake.url(),
    ]);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(CLEAN) && stderr.contains(other), "{stderr}");
    assert!(!stderr.contains(&token), "the token never appears");
}

/// #2: a run whose report could not be written is not recorded; the history file is not even created.
#[test]
fn a_run_whose_report_failed_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &["--history", s(&db), "--output", "/nonexistent/x"],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!db.exists(), "no history is created for a failed run");

    // With an existing history: still only the run whose report was written.
    let ok = run_sync(demo(
        dir.path(),
        "partner",
        &["-q", "--history", s(&db), "--as-of", AS_OF_1],
    ));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &[
            "--history",
            s(&db),
            "--as-of",
            AS_OF_2,
            "--output",
            "/nonexistent/x",
        ],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(history_runs(dir.path(), &db).len(), 1);
}

/// #2: a scan that fails before auditing (no tenant) creates no history file.
#[test]
fn a_failing_scan_creates_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub").join("h.db");
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["scan", "--history"]).arg(&db);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(!db.exists() && !db.parent().unwrap().exists());
}

/// #2: evaluating the same snapshot again records nothing new, and says so.
#[test]
fn re_recording_the_same_snapshot_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    let db = dir.path().join("h.db");
    let out = run_sync(demo(
        dir.path(),
        "customer",
        &["-q", "--format", "json", "--save-snapshot", s(&snap)],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut stderr = Vec::new();
    for _ in 0..3 {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(["evaluate", "--format", "json", "--fail-on", "never"])
                .arg(&snap)
                .arg("--history")
                .arg(&db);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        stderr.push(text(&out.stderr));
    }
    assert_eq!(history_runs(dir.path(), &db).len(), 1);
    assert!(
        stderr[1].contains("already recorded as run 1"),
        "{}",
        stderr[1]
    );
}

/// #7: reports and snapshots are private to the user.
#[cfg(unix)]
#[test]
fn reports_and_snapshots_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let snap = dir.path().join("s.json");
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &[
            "-q",
            "--format",
            "json",
            "-o",
            s(&report),
            "--save-snapshot",
            s(&snap),
        ],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for p in [&report, &snap] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    // An existing file is untouched when the run fails before writing it.
    std::fs::write(&report, "keep").unwrap();
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &["-q", "-o", s(&report), "--as-of", "not-a-date"],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "keep");
}

/// #16: `-o -` and `-o /dev/stdout` write to stdout; `-o /dev/null` stays a device.
#[cfg(unix)]
#[test]
fn special_outputs_are_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    for target in ["-", "/dev/stdout"] {
        let out = run_sync(demo(
            dir.path(),
            "partner",
            &["-q", "--format", "json", "-o", target],
        ));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("-o {target}: {e}: {}", text(&out.stdout)));
        assert_eq!(report["schema_version"], "1");
    }
    // `-o /dev/stdout` when stdout is a file the shell opened for appending (`>> out.txt`): appended to,
    // the file not replaced.
    let appended = dir.path().join("out.txt");
    std::fs::write(&appended, "pre\n").unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&appended)
        .unwrap();
    let status = demo(
        dir.path(),
        "partner",
        &["-q", "--format", "json", "-o", "/dev/stdout"],
    )
    .stdout(file)
    .status()
    .unwrap();
    assert_eq!(status.code(), Some(0));
    let written = std::fs::read_to_string(&appended).unwrap();
    let report: Value = serde_json::from_str(written.strip_prefix("pre\n").unwrap()).unwrap();
    assert_eq!(report["schema_version"], "1");

    let out = run_sync(demo(
        dir.path(),
        "partner",
        &["-q", "--format", "json", "-o", "/dev/null"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// #16: a FIFO is written to, not replaced.
#[cfg(unix)]
#[test]
fn a_fifo_is_written_to() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &["-q", "--format", "json", "-o", s(&fifo)],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = reader.join().unwrap();
    let report: Value = serde_json::from_str(&read).unwrap();
    assert_eq!(report["schema_version"], "1");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// #15: a history locked by another writer does not throw the audit away: the report is delivered,
/// the failure said on stderr, the exit code is not 2, and the wait is seconds.
#[test]
fn a_locked_history_still_delivers_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let first = run_sync(demo(
        dir.path(),
        "partner",
        &["-q", "--history", s(&db), "--as-of", AS_OF_1],
    ));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));

    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let out = run_sync(demo(
        dir.path(),
        "partner",
        &[
            "-q",
            "--format",
            "json",
            "--history",
            s(&db),
            "--as-of",
            AS_OF_2,
        ],
    ));
    let elapsed = started.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema_version"], "1");
    assert!(stderr.contains("not recorded in the history"), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert_eq!(history_runs(dir.path(), &db).len(), 1);
}

/// #15: a history that cannot be written is refused before any Graph request, creating nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_history_is_refused_before_collecting() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    // A directory nobody can create files in, even root: /proc. Elsewhere a read-only directory.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let probe = ro.join("probe");
    let db = if std::fs::write(&probe, "").is_ok() {
        // Running as root: permission bits do not stop it.
        let _ = std::fs::remove_file(&probe);
        Path::new("/proc/gdap-audit-history.db").to_path_buf()
    } else {
        ro.join("h.db")
    };
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut cmd = bin(dir.path());
    cmd.args(args.iter().filter(|a| *a != "--no-history"))
        .arg("--history")
        .arg(&db)
        .env("AZURE_CLIENT_SECRET", SECRET);
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(s(&db)), "{stderr}");
    assert!(stderr.contains("--no-history"), "{stderr}");
    assert!(fake.requests().is_empty(), "nothing collected");
    assert!(!db.exists());
}

/// #19: a diff of two tenants' snapshots is refused, naming both.
#[test]
fn diff_of_two_tenants_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for (kind, path) in [("partner", &a), ("customer", &b)] {
        let out = run_sync(demo(
            dir.path(),
            kind,
            &["-q", "--format", "json", "--save-snapshot", s(path)],
        ));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let tenant = |p: &Path| -> String {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["tenant_id"].as_str().unwrap().to_owned()
    };
    let out = run_sync({
        let mut c = bin(dir.path());
        c.arg("diff").arg(&a).arg(&b);
        c
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&tenant(&a)) && stderr.contains(&tenant(&b)),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// #8: one definition of a coverage gap: the report, `evaluate::coverage_gaps` (collect's exit code) and
/// `history list` agree, for a `skipped` source a rule needed and one none needed.
#[test]
fn coverage_gaps_agree_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let snap_path = dir.path().join("s.json");
    let out = run_sync(demo(
        dir.path(),
        "customer",
        &["-q", "--format", "json", "--save-snapshot", s(&snap_path)],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut snap: Value =
        serde_json::from_str(&std::fs::read_to_string(&snap_path).unwrap()).unwrap();
    let coverage = snap["coverage"].as_array_mut().unwrap();
    let sign_ins = coverage
        .iter_mut()
        .find(|c| c["source"] == "sign_ins")
        .expect("the demo customer reads sign-ins");
    sign_ins["status"] = "skipped".into();
    std::fs::write(&snap_path, serde_json::to_string_pretty(&snap).unwrap()).unwrap();

    let parsed = gdap_audit::snapshot::Snapshot::read(&snap_path).unwrap();
    let counted =
        gdap_audit::evaluate::coverage_gaps(&parsed, &gdap_audit::config::Config::default());

    let db = dir.path().join("h.db");
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["evaluate", "--format", "json", "--fail-on", "never"])
            .arg(&snap_path)
            .arg("--history")
            .arg(&db);
        c
    });
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let in_report = report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["status"] != "collected"
                && (c["status"] != "skipped"
                    || !c["rules_not_evaluated"].as_array().unwrap().is_empty())
        })
        .count();
    let runs = history_runs(dir.path(), &db);
    assert!(in_report >= 1);
    assert_eq!(counted, in_report);
    assert_eq!(runs[0]["coverage_gaps"], in_report as u64);
}
