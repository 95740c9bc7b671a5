//! Azure CLI: the token of the account an admin already signed in with (`az login`).
//!
//! Runs `az account get-access-token --output json --resource <graph root> [--tenant T]` and reads
//! `accessToken` and `expires_on` (epoch seconds; preferred over `expiresOn`, a local time without a
//! zone). Errors show az's own message (first lines, anything token-like removed) and what to do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::cache::{FreshToken, TokenSource};
use super::client_credentials::DEFAULT_LIFETIME;
use super::managed_identity::as_i64;
use super::{AuthError, BoxFuture};

/// `az` can be slow to start (Python); a hung one is killed after this.
pub const AZ_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of az's stderr is shown.
const MAX_STDERR: usize = 600;

/// The first executable named `az` in `path` (the PATH variable's value).
pub fn find_az(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let names: &[&str] = if cfg!(windows) {
        &["az.cmd", "az.exe", "az"]
    } else {
        &["az"]
    };
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Fetches Graph tokens through the Azure CLI.
#[derive(Debug)]
pub struct AzureCliSource {
    program: PathBuf,
    /// Graph root, e.g. `https://graph.microsoft.com`.
    resource: String,
    /// `None` for `organizations`/`common`: the CLI's current tenant.
    tenant: Option<String>,
    timeout: Duration,
}

impl AzureCliSource {
    pub fn new(program: PathBuf, resource: String, tenant: &str) -> Self {
        let tenant = (!matches!(
            tenant.to_ascii_lowercase().as_str(),
            "organizations" | "common" | ""
        ))
        .then(|| tenant.to_owned());
        AzureCliSource {
            program,
            resource,
            tenant,
            timeout: AZ_TIMEOUT,
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            &self.resource,
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(t) = &self.tenant {
            args.extend(["--tenant".to_owned(), t.clone()]);
        }
        args
    }

    async fn fetch_token(&self) -> Result<FreshToken, AuthError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => {
                return Err(AuthError::Config(format!(
                    "the Azure CLI ({}) did not answer within {} s; run `az account get-access-token` \
                     yourself to see what it waits for",
                    self.program.display(),
                    self.timeout.as_secs()
                )));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuthError::Config(format!(
                    "the Azure CLI was not found ({}): install it and sign in with `az login`, or \
                     choose another credential with --credential",
                    self.program.display()
                )));
            }
            Ok(Err(e)) => {
                return Err(AuthError::Config(format!(
                    "cannot run the Azure CLI {}: {e}",
                    self.program.display()
                )));
            }
            Ok(Ok(out)) => out,
        };
        if !output.status.success() {
            let stderr = sanitize_stderr(&String::from_utf8_lossy(&output.stderr));
            let hint = if stderr.contains("az login") || stderr.contains("not logged in") {
                match &self.tenant {
                    Some(t) => format!("sign in with `az login --tenant {t}` and run again"),
                    None => "sign in with `az login` and run again".into(),
                }
            } else if stderr.contains("AADSTS") {
                "the sign-in of the Azure CLI was refused: sign in again with `az login` (with \
                 --tenant for the audited tenant)"
                    .into()
            } else {
                "run `az account get-access-token --resource-type ms-graph` to check the CLI".into()
            };
            return Err(AuthError::Config(format!(
                "the Azure CLI failed ({}): {}\n  hint: {hint}",
                output.status,
                if stderr.is_empty() {
                    "no message"
                } else {
                    &stderr
                }
            )));
        }
        parse_output(&output.stdout, chrono::Utc::now())
    }
}

impl TokenSource for AzureCliSource {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
        Box::pin(self.fetch_token())
    }

    fn kind(&self) -> &'static str {
        "Azure CLI"
    }
}

/// az's stderr for a message: without warnings about the CLI itself, anything that looks like a JWT
/// or a long opaque value, at most [`MAX_STDERR`] characters.
fn sanitize_stderr(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("WARNING:"))
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    // Quoted or prefixed (`'eyJ…'`, `token=eyJ…`, `"…",`) counts too.
                    let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                    let core = core.rsplit(['=', ':']).next().unwrap_or(core);
                    let opaque = core.len() >= 40
                        && core
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.=+/".contains(c));
                    if w.contains("eyJ") || opaque {
                        "[redacted]"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let text = lines.join(" / ");
    match text.char_indices().nth(MAX_STDERR) {
        Some((i, _)) => format!("{}...", text.get(..i).unwrap_or_default()),
        None => text,
    }
}

/// `az account get-access-token --output json`: `accessToken`, and `expires_on` (epoch, CLI 2.54+) or
/// else `expiresOn` (local time `YYYY-MM-DD HH:MM:SS[.ffffff]`).
fn parse_output(
    stdout: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FreshToken, AuthError> {
    let bad = |what: &str| {
        AuthError::Config(format!(
            "the Azure CLI answered {what}; update it (az upgrade) or choose another credential"
        ))
    };
    let v: Value = serde_json::from_slice(stdout).map_err(|_| bad("something that is not JSON"))?;
    let token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("JSON without accessToken"))?;
    let expires = v.get("expires_on").and_then(as_i64).or_else(|| {
        let local = v.get("expiresOn").and_then(Value::as_str)?;
        let naive =
            chrono::NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
        naive
            .and_local_timezone(chrono::Local)
            .earliest()
            .map(|t| t.timestamp())
    });
    let lifetime = match expires {
        Some(at) => match at.checked_sub(now.timestamp()) {
            Some(left) if left > 0 => Duration::from_secs(left.unsigned_abs()),
            _ => return Err(bad("an expired token; sign in again with `az login`")),
        },
        None => DEFAULT_LIFETIME,
    };
    Ok(FreshToken {
        secret: SecretString::from(token),
        expires_in: lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn at(ts: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(ts, 0).unwrap()
    }

    #[test]
    fn epoch_expiry_is_preferred_over_local_time() {
        let out = br#"{"accessToken":"tok","expiresOn":"1999-01-01 00:00:00.000000","expires_on":1800003600,"subscription":"s","tenant":"t","tokenType":"Bearer"}"#;
        let t = parse_output(out, at(1_800_000_000)).unwrap();
        assert_eq!(t.secret.expose_secret(), "tok");
        assert_eq!(t.expires_in, Duration::from_secs(3600));
    }

    #[test]
    fn local_expires_on_is_read_when_the_epoch_is_missing() {
        let local = chrono::Local::now().naive_local() + chrono::Duration::seconds(1800);
        let out = serde_json::json!({
            "accessToken": "tok",
            "expiresOn": local.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        })
        .to_string();
        let t = parse_output(out.as_bytes(), chrono::Utc::now()).unwrap();
        let secs = t.expires_in.as_secs();
        assert!((1795..=1800).contains(&secs), "{secs}");
    }

    #[test]
    fn bad_output_is_named_without_the_token() {
        for out in [
            &b"not json tok-secret"[..],
            br#"{"token":"tok-secret"}"#,
            br#"{"accessToken":"tok-secret","expires_on":1}"#,
        ] {
            let err = parse_output(out, at(1_800_000_000))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("Azure CLI") && !err.contains("tok-secret"),
                "{err}"
            );
        }
    }

    #[test]
    fn stderr_is_cut_and_token_like_words_removed() {
        let s = sanitize_stderr(
            "WARNING: upgrade\nERROR: Please run 'az login' to setup account.\nsecret eyJhbGciOi.x.y and AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh\n",
        );
        assert_eq!(
            s,
            "ERROR: Please run 'az login' to setup account. / secret [redacted] and [redacted]"
        );
        assert!(sanitize_stderr(&"word ".repeat(500)).len() <= MAX_STDERR + 3);
        // Quoted, prefixed or followed by punctuation: still removed.
        let opaque = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh";
        let s = sanitize_stderr(&format!(
            "got 'eyJhbGciOi.x.y' token=eyJz \"{opaque}\", key:{opaque}"
        ));
        assert!(!s.contains("eyJ") && !s.contains(opaque), "{s}");
    }

    #[test]
    fn tenant_aliases_are_not_passed() {
        let s = AzureCliSource::new(
            "az".into(),
            "https://graph.microsoft.com".into(),
            "organizations",
        );
        assert!(!s.args().contains(&"--tenant".to_owned()));
        let s = AzureCliSource::new(
            "az".into(),
            "https://graph.microsoft.com".into(),
            "contoso.com",
        );
        assert_eq!(
            s.args(),
            [
                "account",
                "get-access-token",
                "--output",
                "json",
                "--resource",
                "https://graph.microsoft.com",
                "--tenant",
                "contoso.com"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn find_az_needs_an_executable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(plain.join("az"), "#!/bin/sh\n").unwrap();
        std::fs::write(bin.join("az"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("az"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([plain.clone(), bin.clone()]).unwrap();
        assert_eq!(find_az(Some(&path)), Some(bin.join("az")));
        let path = std::env::join_paths([plain]).unwrap();
        assert_eq!(find_az(Some(&path)), None);
        assert_eq!(find_az(None), None);
    }
}
