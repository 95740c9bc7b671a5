//! The changes webhook: after the report is written, POST the run's changes (new, reopened and resolved
//! findings) as one JSON document to the URL in `GDAP_AUDIT_WEBHOOK_URL`, for Teams / Slack workflows and
//! PSA intake. The URL is a secret (it usually embeds a token): it is read only from the environment,
//! kept in a `SecretString`, and never printed, logged or put in an error (reqwest's errors are stripped
//! of it). Plain http is accepted only for loopback.
//!
//! Delivery is retried on 429, 5xx and connection failures (`Retry-After` honoured, capped), a bounded
//! number of times. See docs/output.md "Webhook".

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::report::v1::{FindingV1, ReportV1, Status, Tool};

/// The environment variable holding the webhook URL.
pub const ENV: &str = "GDAP_AUDIT_WEBHOOK_URL";

/// How many times a delivery is attempted, at most.
const MAX_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The first backoff without `Retry-After`; doubled on each retry.
const BASE_DELAY: Duration = Duration::from_millis(500);
/// One request's timeout (connect, send, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the webhook could not be used. None of these mention the URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "{ENV} is not a valid URL ({0}); set it to the https URL of the webhook (the value is not shown: it is a secret)"
    )]
    Invalid(String),
    #[error(
        "{ENV} must be an https URL (plain http is accepted only for 127.0.0.1, ::1 or localhost); the value is not shown"
    )]
    Insecure,
    #[error(
        "the webhook ({ENV}) did not accept the changes: {detail} after {attempts} attempt(s). The report was \
written; the run was not recorded in the history, so the next run sends these changes again"
    )]
    Delivery { detail: String, attempts: u32 },
}

/// A validated webhook URL.
pub struct Webhook {
    url: SecretString,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook([redacted])")
    }
}

/// Whether `GDAP_AUDIT_WEBHOOK_URL` is set (to anything non-blank).
pub fn configured() -> bool {
    std::env::var_os(ENV).is_some_and(|v| !v.to_string_lossy().trim().is_empty())
}

impl Webhook {
    /// The webhook of `GDAP_AUDIT_WEBHOOK_URL`; `None` when it is not set.
    pub fn from_env() -> Result<Option<Webhook>, WebhookError> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => Webhook::new(SecretString::from(v.trim())).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(WebhookError::Invalid("not valid UTF-8".into()))
            }
        }
    }

    /// https, or http to a loopback host.
    pub fn new(url: SecretString) -> Result<Webhook, WebhookError> {
        // The parse error names the problem (e.g. "relative URL without a base"), never the value.
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| WebhookError::Invalid(e.to_string()))?;
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => return Err(WebhookError::Invalid("no host".into())),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(WebhookError::Insecure),
            other => {
                return Err(WebhookError::Invalid(format!(
                    "scheme {other:?} is not https"
                )));
            }
        }
        Ok(Webhook { url })
    }

    /// POST `payload`, retrying on 429, 5xx and connection failures.
    pub async fn post(&self, payload: &Payload<'_>) -> Result<(), WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gdap-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Delivery {
                detail: e.without_url().to_string(),
                attempts: 0,
            })?;
        let mut delay = BASE_DELAY;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = client
                .post(self.url.expose_secret())
                .json(payload)
                .send()
                .await;
            let (detail, retry_after) = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    let detail = format!("HTTP {status}");
                    if !retryable {
                        return Err(WebhookError::Delivery {
                            detail,
                            attempts: attempt,
                        });
                    }
                    (detail, retry_after(r.headers()))
                }
                Err(e) => (e.without_url().to_string(), None),
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(WebhookError::Delivery {
                    detail,
                    attempts: attempt,
                });
            }
            let wait = retry_after.unwrap_or(delay).min(MAX_RETRY_AFTER);
            tracing::debug!(attempt, ?wait, %detail, "webhook delivery failed; retrying");
            tokio::time::sleep(wait).await;
            delay = delay.saturating_mul(2);
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by webhook services; it falls back to the
/// backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The document posted: the run's changes only.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    /// "1": the version of this document.
    pub schema_version: &'static str,
    /// One line for chat tools that show `text` (Slack, Teams workflows).
    pub text: String,
    pub tool: &'a Tool,
    pub tenant_id: &'a str,
    pub tenant_name: Option<&'a str>,
    pub as_of: DateTime<Utc>,
    pub counts: Counts,
    /// New and reopened findings, then resolved ones, each with its `status` (and `resolution`).
    pub changes: Vec<&'a FindingV1>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub new: usize,
    pub reopened: usize,
    pub resolved: usize,
}

impl<'a> Payload<'a> {
    /// The changes of a report built with the lifecycle (its full or `--changes-only` form).
    pub fn of(report: &'a ReportV1) -> Payload<'a> {
        let changes: Vec<&FindingV1> = report.changes().collect();
        let count = |s: Status| changes.iter().filter(|f| f.status == Some(s)).count();
        let counts = Counts {
            new: count(Status::New),
            reopened: count(Status::Reopened),
            resolved: count(Status::Resolved),
        };
        let tenant = report.tenant_name.as_deref().unwrap_or(&report.tenant_id);
        Payload {
            schema_version: "1",
            text: format!(
                "gdap-audit: {tenant}: {} new, {} reopened, {} resolved finding(s) as of {}",
                counts.new,
                counts.reopened,
                counts.resolved,
                report.as_of.format("%Y-%m-%d %H:%M UTC")
            ),
            tool: &report.tool,
            tenant_id: &report.tenant_id,
            tenant_name: report.tenant_name.as_deref(),
            as_of: report.as_of,
            counts,
            changes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Deliver `report`'s changes to the configured webhook, if any and if there is a change; blocking (on
/// a thread of its own, so it works from inside or outside an async runtime).
pub fn send_changes(report: &ReportV1) -> Result<(), WebhookError> {
    let Some(hook) = Webhook::from_env()? else {
        return Ok(());
    };
    let payload = Payload::of(report);
    if payload.is_empty() {
        tracing::debug!("no change since the previous run; webhook not called");
        return Ok(());
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| WebhookError::Delivery {
                    detail: format!("cannot start a runtime: {e}"),
                    attempts: 0,
                })?;
            rt.block_on(hook.post(&payload))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(WebhookError::Delivery {
                detail: "the delivery thread panicked".into(),
                attempts: 0,
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str) -> Result<Webhook, WebhookError> {
        Webhook::new(SecretString::from(url))
    }

    #[test]
    fn https_or_loopback_http_only_and_the_url_is_never_shown() {
        assert!(hook("https://hooks.example.com/T0/B0/secret-token").is_ok());
        assert!(hook("http://127.0.0.1:8080/hook").is_ok());
        assert!(hook("http://[::1]:8080/hook").is_ok());
        assert!(hook("http://localhost/hook").is_ok());
        for bad in [
            "http://hooks.example.com/secret-token",
            "ftp://hooks.example.com/secret-token",
            "secret-token",
        ] {
            let e = hook(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.is_empty(), "{bad} accepted");
            assert!(!e.contains("secret-token"), "{e}");
            assert!(e.contains(ENV), "{e}");
        }
        let w = hook("https://hooks.example.com/secret-token").ok();
        assert!(!format!("{w:?}").contains("secret-token"));
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
