//! One error type for every Graph call: enough to decide on a retry, to record coverage, and to quote in
//! a support ticket (the `request-id`).

use crate::auth::AuthError;

/// What went wrong with a Graph request.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with a non-success status.
    #[error(
        "{method} {url} answered HTTP {status}{}: {message}{}",
        fmt_code(code),
        fmt_request_id(request_id)
    )]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        /// Graph `error.code` ("" when absent).
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The connection failed or timed out before a complete answer arrived.
    #[error("{method} {url}: {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
        retryable: bool,
        /// No connection could be made at all (refused, DNS, TLS handshake, connect timeout): the
        /// endpoint is unreachable rather than flaky, so retrying is cut short.
        unreachable: bool,
    },
    /// The body arrived but is not the JSON we expected (truncated, hostile, wrong shape).
    #[error("{url}: invalid response body: {detail}{}", fmt_request_id(request_id))]
    Decode {
        url: String,
        detail: String,
        request_id: Option<String>,
    },
    /// Retries ran out (count or total time); `last` is the final failure.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        attempts: u32,
        last: Box<GraphError>,
    },
    /// No token could be obtained.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A caller error: bad URL, plain http to a non-loopback host, and the like.
    #[error("{0}")]
    Invalid(String),
}

fn fmt_code(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    }
}

fn fmt_request_id(id: &Option<String>) -> String {
    id.as_deref()
        .map(|id| format!(" [request-id {id}]"))
        .unwrap_or_default()
}

/// Graph's error code for a tenant without an Entra ID P1/P2 licence asking for sign-in logs.
pub const NON_PREMIUM_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

impl GraphError {
    /// The innermost error (through `RetriesExhausted`).
    pub fn root(&self) -> &GraphError {
        match self {
            GraphError::RetriesExhausted { last, .. } => last.root(),
            other => other,
        }
    }

    /// HTTP status, when Graph answered.
    pub fn status(&self) -> Option<u16> {
        match self.root() {
            GraphError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph `error.code`, when Graph answered with one.
    pub fn code(&self) -> Option<&str> {
        match self.root() {
            GraphError::Status { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self.root() {
            GraphError::Status { request_id, .. } | GraphError::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// Whether repeating the same request may succeed (429, 503, 504, transient transport).
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Status { status, .. } => matches!(status, 429 | 503 | 504),
            GraphError::Transport { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The tenant lacks the Entra ID P1/P2 licence the API needs (403, sometimes 401, with a known code).
    pub fn is_unlicensed(&self) -> bool {
        matches!(self.status(), Some(401 | 403)) && self.code() == Some(NON_PREMIUM_CODE)
    }

    /// The caller is not allowed: a missing permission or role (but not the licence case).
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403) && !self.is_unlicensed()
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The Graph endpoint itself could not be reached (connection refused, DNS or TLS failure,
    /// connect timeout), after the short connect-retry budget. Commands turn this into "cannot reach
    /// Microsoft Graph at URL" instead of recording empty coverage. A token endpoint that cannot be
    /// reached is `GraphError::Auth(e)` with [`AuthError::is_unreachable`].
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.root(),
            GraphError::Transport {
                unreachable: true,
                ..
            }
        )
    }

    /// The URL that could not be reached: the Graph URL, or the token endpoint's (through `Auth`).
    pub fn unreachable_url(&self) -> Option<&str> {
        match self.root() {
            GraphError::Transport {
                url,
                unreachable: true,
                ..
            } => Some(url),
            GraphError::Auth(e) => e.unreachable_url(),
            _ => None,
        }
    }

    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }
}
