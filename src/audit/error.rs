/// Why one tenant's audit stopped before it produced a result. The caller decides what that means
/// (exit 2 for `scan`; that customer's coverage for `fleet`).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Credentials, the token endpoint or Graph: nothing was audited.
    #[error("{0}")]
    Auth(String),
    /// The history could not be opened, read or planned from.
    #[error("{0}")]
    History(String),
    /// A setting the audit cannot run with (an endpoint, a client option).
    #[error("{0}")]
    Usage(String),
}
