//! `--format html` in a real browser: the demo's page opened in headless Chromium (no console error, the
//! counts on the page equal the JSON report's, the filter script ran), a report with hostile text in
//! every field (nothing executes, nothing escapes its element), and the page's self-containment (no
//! network at view time, under 1 MiB).
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the browser tests skip
//! locally and fail in CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gdap_audit::report::{self, Format, ReportV1, Style};
use serde_json::Value;

use crate::cli::{bin, text};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (skip) when it is missing outside CI. In CI a missing browser is a failure.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing: the HTML report's browser test needs it in CI (apt-get install -y chromium)"
    );
    eprintln!("skipped: {CHROMIUM} not installed (apt-get install -y chromium); required in CI");
    None
}

/// What the browser saw: the DOM after the page's scripts ran, and its log (console messages included).
struct Browsed {
    dom: String,
    log: String,
}

/// Opens `page` in headless Chromium with every route to the network closed (an unreachable proxy for
/// everything but loopback), and dumps the DOM; with `screenshot`, also writes a 1280x2000 PNG there.
fn browse(browser: &str, page: &Path, screenshot: Option<&Path>) -> Browsed {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=http://127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => {
            cmd.arg(format!("--screenshot={}", png.display()))
                .arg("--window-size=1280,2000");
        }
        None => {
            cmd.arg("--dump-dom").arg("--window-size=1280,2000");
        }
    }
    // Output goes to files: a DOM larger than a pipe's buffer would block the browser while we wait.
    let stdout = profile.path().join("stdout");
    let stderr = profile.path().join("stderr");
    cmd.arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = cmd.spawn().unwrap();
    // The browser must not hang the suite.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within 60 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = text(&std::fs::read(&stderr).unwrap());
    assert!(status.success(), "chromium failed: {log}");
    Browsed {
        dom: text(&std::fs::read(&stdout).unwrap()),
        log,
    }
}

/// Console messages (errors, CSP refusals, uncaught exceptions) in the browser's log.
fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to"))
        .collect()
}

/// `id="count-critical">2<`: the number a tile shows.
fn tile(dom: &str, id: &str) -> u64 {
    let marker = format!("id=\"count-{id}\">");
    let start = dom.find(&marker).unwrap_or_else(|| panic!("no tile {id}")) + marker.len();
    let rest = &dom[start..];
    rest[..rest.find('<').unwrap()].parse().unwrap()
}

pub(crate) fn demo(dir: &Path, tenant: &str, format: &str) -> String {
    let out = bin(dir)
        .args(["demo", "--tenant", tenant, "--format", format])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0..=1)),
        "demo {tenant} {format}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `js` (an expression) in a copy of the page after the page's own script, and returns its value.
/// The copy has no policy (so that the probe may run); the page itself is checked with its policy.
fn probe(browser: &str, html: &str, name: &str, js: &str) -> String {
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + html[csp_start..].find(">\n").unwrap() + 2;
    let page = format!("{}{}", &html[..csp_start], &html[csp_end..]).replace(
        "</body>",
        &format!("<script>document.body.setAttribute('data-probe', {js});</script></body>"),
    );
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("html-{name}-probe.html"));
    std::fs::write(&path, page).unwrap();
    let seen = browse(browser, &path, None);
    assert!(
        console_errors(&seen.log).is_empty(),
        "{:?}",
        console_errors(&seen.log)
    );
    let marker = "data-probe=\"";
    let start = seen.dom.find(marker).expect("the probe ran") + marker.len();
    let rest = &seen.dom[start..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Nothing on the page is fetched: no external resource, and a policy forbidding every fetch.
fn assert_self_contained(html: &str) {
    assert!(
        html.len() < 1024 * 1024,
        "the page is {} bytes (limit 1 MiB)",
        html.len()
    );
    assert!(
        html.contains(
            "http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;;"
        ),
        "no CSP"
    );
    let lower = html.to_lowercase();
    for needle in [
        "<img", "<link", "<iframe", "<object", "<embed", "<audio", "<video", "<source", "@import",
        "url(",
    ] {
        assert!(
            !lower.contains(needle),
            "the page loads something: {needle}"
        );
    }
    // One script, inline (no `src`).
    assert_eq!(lower.matches("<script").count(), 1);
    assert!(lower.contains("<script>("));
}

/// The demo's HTML for both perspectives in Chromium: no console error, the tiles and the findings on
/// the page equal the JSON report's counts, the filter script ran, and a screenshot is written.
#[test]
fn demo_report_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["partner", "customer"] {
        let html = demo(dir.path(), tenant, "html");
        let json: Value = serde_json::from_str(&demo(dir.path(), tenant, "json")).unwrap();
        assert_self_contained(&html);
        let Some(browser) = chromium() else { return };
        let page = dir.path().join(format!("{tenant}.html"));
        std::fs::write(&page, &html).unwrap();

        let seen = browse(browser, &page, None);
        assert!(
            console_errors(&seen.log).is_empty(),
            "console errors: {:?}",
            console_errors(&seen.log)
        );
        let summary = &json["summary"];
        for sev in ["critical", "high", "medium", "low", "info", "suppressed"] {
            assert_eq!(
                tile(&seen.dom, sev),
                summary[sev].as_u64().unwrap(),
                "{tenant}: tile {sev}"
            );
        }
        let findings = json["findings"].as_array().unwrap().len();
        assert_eq!(
            seen.dom.matches("<article class=\"finding").count(),
            findings,
            "{tenant}: findings on the page"
        );
        // The script ran: it reveals the filter bar and counts what is shown.
        assert!(
            seen.dom.contains("<div id=\"controls\">"),
            "{tenant}: controls still hidden"
        );
        assert!(
            seen.dom
                .contains(&format!("<span id=\"shown\">{findings}</span>"))
        );

        // The page fits the window, and the rule filter shows exactly that rule's findings.
        let fits = probe(
            browser,
            &html,
            tenant,
            "String(document.documentElement.scrollWidth <= window.innerWidth)",
        );
        assert_eq!(fits, "true", "{tenant}: wider than the window");
        let rule = json["findings"][0]["rule_id"].as_str().unwrap();
        let expected = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"] == rule)
            .count();
        let shown = probe(
            browser,
            &html,
            tenant,
            &format!(
                "(function () {{ var s = document.getElementById('filter-rule'); s.value = '{rule}'; \
                 s.dispatchEvent(new Event('change')); \
                 return document.querySelectorAll('article.finding:not([hidden])').length + '/' + \
                 document.getElementById('shown').textContent; }})()"
            ),
        );
        assert_eq!(
            shown,
            format!("{expected}/{expected}"),
            "{tenant}: filter by {rule}"
        );

        // The pictures show the snapshot's context in the browser too: a bar per live relationship
        // (partner), a dot per service-provider partner (customer).
        let (class, list) = match tenant {
            "partner" => ("timeline-row", "relationships"),
            _ => ("activity-row", "partners"),
        };
        assert_eq!(
            seen.dom.matches(&format!("<g class=\"{class}\">")).count(),
            json["context"][list].as_array().unwrap().len(),
            "{tenant}: {class}"
        );

        let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("html-{tenant}.png"));
        let _ = std::fs::remove_file(&png);
        let shot = browse(browser, &page, Some(&png));
        assert!(console_errors(&shot.log).is_empty());
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "screenshot"
        );
    }
}

/// Hostile text: markup, an event handler, a `javascript:` URL, a bidi override and element-closing tags.
const HOSTILE: &str = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">\
                       \"'></code></a></dd></dl></details></article></section></main><svg onload=\"document.title='PWNED'\">\
                       \u{202E}evil{{ 1+1 }}";

/// Every string of the report's JSON that the schema lets be free text, made hostile (and one 100 KB).
fn poison(v: &mut Value, key: &str) {
    const KEEP: [&str; 7] = [
        "severity",
        "kind",
        "status",
        "schema_version",
        "generated_at",
        "as_of",
        "perspectives",
    ];
    // Dates stay dates, so the charts draw (with hostile labels); enums stay enums.
    if KEEP.contains(&key)
        || key.ends_with("_date_time")
        || matches!(
            key,
            "first_seen" | "expires" | "last_successful_sign_in" | "last_attempt" | "fail_on"
        )
    {
        return;
    }
    match v {
        Value::String(s) => *s = format!("{HOSTILE}{s}"),
        Value::Array(items) => items.iter_mut().for_each(|i| poison(i, key)),
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                poison(item, k);
            }
        }
        _ => {}
    }
}

fn hostile_report() -> ReportV1 {
    let dir = tempfile::tempdir().unwrap();
    let mut json: Value = serde_json::from_str(&demo(dir.path(), "partner", "json")).unwrap();
    poison(&mut json, "");
    let first = &mut json["findings"][0];
    first["evidence"][HOSTILE] = Value::String(HOSTILE.to_owned());
    first["references"] = serde_json::json!([
        "javascript:document.title='PWNED'",
        format!("https://example.com/\"><script>document.title='PWNED'</script>"),
    ]);
    first["message"] = Value::String(format!("{HOSTILE}{}", "A".repeat(100 * 1024)));
    json["coverage"][0]["status"] = Value::String("denied".into());
    json["coverage"][0]["permission"] = Value::String(HOSTILE.to_owned());
    serde_json::from_value(json).expect("a hostile report is still a report")
}

/// #11: hostile Graph text in every field of the report is rendered as text: the markup never appears
/// unescaped, bidi overrides are gone, the 100 KB message is capped, and only `https:` references link.
#[test]
fn hostile_text_is_escaped_in_html() {
    let report = hostile_report();
    let html = report::render(&report, Format::Html, Style::plain());
    assert_self_contained(&html);
    assert!(
        !html.contains("<script>document"),
        "raw script from Graph text"
    );
    assert!(!html.contains("<img"), "raw img from Graph text");
    assert!(!html.contains("<svg onload"), "raw svg from Graph text");
    assert!(!html.contains("href=\"javascript:"));
    assert!(!html.contains('\u{202E}'), "bidi override kept");
    assert!(
        html.contains("&#60;script&#62;document.title="),
        "hostile text not shown as text"
    );
    assert!(html.len() < 1024 * 1024, "{} bytes", html.len());
    // One `<script>` element: the page's own.
    assert_eq!(html.matches("<script").count(), 1);
}

/// #11: the hostile report in Chromium: no script from Graph text ran (the title is the page's own), no
/// element escaped its place (every finding still renders inside `main`, before the footer), no console
/// error.
#[test]
fn hostile_text_does_not_run_in_chromium() {
    let report = hostile_report();
    let html = report::render(&report, Format::Html, Style::plain());
    let Some(browser) = chromium() else { return };
    // Kept after the run (target's test directory) to look at when this fails.
    let page = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-hostile.html");
    std::fs::write(&page, &html).unwrap();
    let seen = browse(browser, &page, None);
    assert!(
        console_errors(&seen.log).is_empty(),
        "console errors: {:?}",
        console_errors(&seen.log)
    );
    assert!(
        !seen.dom.contains("PWNED</title>"),
        "a script from Graph text ran"
    );
    assert!(seen.dom.contains("<title>Partner access audit: "));
    assert!(!seen.dom.contains("<img"), "an element was injected");
    assert!(!seen.dom.contains("<svg onload"), "an element was injected");
    assert_eq!(seen.dom.matches("</main>").count(), 1);
    let footer = seen.dom.find("<footer>").unwrap();
    let main_end = seen.dom.find("</main>").unwrap();
    assert!(footer < main_end, "the layout escaped main");
    assert_eq!(
        seen.dom.matches("<article class=\"finding").count(),
        report.findings.len()
    );
    // The timeline drew its rows, labelled with the hostile names as text.
    assert!(seen.dom.matches("<g class=\"timeline-row\">").count() > 3);
    assert!(
        seen.dom.contains("<div id=\"controls\">"),
        "the page's script did not run"
    );

    let fits = probe(
        browser,
        &html,
        "hostile",
        "String(document.documentElement.scrollWidth <= window.innerWidth)",
    );
    assert_eq!(
        fits, "true",
        "hostile text pushed the layout wider than the window"
    );
}

/// #11: with history, each finding shows its first-seen date and whether it is new in this run or was
/// already open; without history, neither.
#[test]
fn html_shows_first_seen_and_lifecycle_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut report: ReportV1 = serde_json::from_str(&demo(dir.path(), "partner", "json")).unwrap();
    let html = report::render(&report, Format::Html, Style::plain());
    assert!(!html.contains("badge status"), "no history, no status");
    report.findings[0].first_seen = Some(report.as_of);
    report.findings[1].first_seen = Some(report.as_of - chrono::Duration::days(30));
    let html = report::render(&report, Format::Html, Style::plain());
    assert_eq!(
        html.matches("<span class=\"badge status\">new</span>")
            .count(),
        1
    );
    assert_eq!(
        html.matches("<span class=\"badge status\">open</span>")
            .count(),
        1
    );
    let earlier = (report.as_of - chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    assert!(html.contains(&format!("<dt>First seen</dt><dd>{earlier}</dd>")));
}

fn html_of(report: &ReportV1) -> String {
    report::render(report, Format::Html, Style::plain())
}

/// #11 (pictures): the partner page's timeline has a bar for every live relationship of the snapshot
/// (the JSON report's `context.relationships`), and the customer page a strip with a row for every
/// service-provider partner (`context.partners`), whether or not a finding names them: with every
/// finding removed the pictures are unchanged.
#[test]
fn pictures_draw_the_snapshot_context_not_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    for (tenant, class, list) in [
        ("partner", "timeline-row", "relationships"),
        ("customer", "activity-row", "partners"),
    ] {
        let mut report: ReportV1 = serde_json::from_str(&demo(dir.path(), tenant, "json")).unwrap();
        let context = report
            .context
            .clone()
            .expect("the demo report has a context");
        let expected = match list {
            "relationships" => context.relationships.map(|r| r.len()),
            _ => context.partners.map(|p| p.len()),
        }
        .expect("the audited side's list");
        assert!(expected >= 3, "{tenant}: the demo has several {list}");
        if let Some(rels) = &report
            .context
            .as_ref()
            .and_then(|c| c.relationships.clone())
        {
            // Live ones only (the demo also has expired and terminated ones); undated ones last.
            assert!(
                rels.iter()
                    .all(|r| !matches!(r.status.as_str(), "expired" | "terminated"))
            );
            let undated = rels.iter().position(|r| r.end_date_time.is_none());
            assert_eq!(undated, Some(rels.len() - 1), "the pending one, last");
            assert!(html_of(&report).contains("no end date yet (approvalPending)"));
        }
        let marker = format!("<g class=\"{class}\">");
        let html = report::render(&report, Format::Html, Style::plain());
        assert_eq!(html.matches(&marker).count(), expected, "{tenant}: {class}");
        if tenant == "customer" {
            assert!(
                html.contains("class=\"threshold\""),
                "the stale threshold line"
            );
            // The demo reads 30 days of logs against a 90-day threshold: a partner without a sign-in
            // in them is not yet known to be stale, and the page says so.
            assert!(html.contains("none in the 30 d read"), "a partner not seen");
            assert!(html.contains("class=\"dot-unknown\""));
            assert!(html.contains("class=\"dot-active\""));
            assert!(html.contains("fewer than the stale threshold (90 days)"));
        }
        report.findings.clear();
        report.suppressed.clear();
        let html = report::render(&report, Format::Html, Style::plain());
        assert_eq!(
            html.matches(&marker).count(),
            expected,
            "{tenant}: {class} without findings"
        );
    }
}

/// #11 (settings): the page's header shows what the audit was run with, from the report's `settings`
/// (every threshold, `--fail-on`, the window, the configuration digest), not from findings' evidence.
#[test]
fn html_header_shows_the_run_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut report: ReportV1 = serde_json::from_str(&demo(dir.path(), "customer", "json")).unwrap();
    report.findings.clear();
    let settings = report
        .settings
        .clone()
        .expect("the demo report has settings");
    let html = report::render(&report, Format::Html, Style::plain());
    for key in [
        "stale_after_days",
        "expiring_within_days",
        "new_within_days",
        "max_duration_days",
        "fail_on",
        "since",
        "config",
    ] {
        assert!(html.contains(&format!("<code>{key}</code> = ")), "{key}");
    }
    let digest = settings
        .config_digest
        .expect("the demo uses its configuration");
    assert!(html.contains(&format!("sha256:{digest}")));
    assert!(html.contains("<code>since</code> = 30 days"));
}

/// #11 (pictures): when the sign-in logs could not be read, the activity strip still lists every partner
/// but says its "no sign-in seen" is not a result.
#[test]
fn activity_strip_says_when_sign_ins_were_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut report: ReportV1 = serde_json::from_str(&demo(dir.path(), "customer", "json")).unwrap();
    assert!(!html_of(&report).contains("Sign-in logs were not read in full"));
    let sign_ins = report
        .coverage
        .iter_mut()
        .find(|c| c.source == "sign_ins")
        .expect("the customer side reads sign-ins");
    sign_ins.status = report::v1::CoverageStatus::Unlicensed;
    let html = html_of(&report);
    assert!(html.contains("Sign-in logs were not read in full (unlicensed)"));
    assert_eq!(
        html.matches("<g class=\"activity-row\">").count(),
        report.context.unwrap().partners.unwrap().len()
    );
}
