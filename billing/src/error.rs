//! Domain errors, classified for the two places that act on them: HTTP (status and code)
//! and jobs (retry or dead-letter).

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A limit that protects capacity or quota was reached: `code` names it for clients.
    #[error("{message}")]
    LimitReached { code: &'static str, message: String },
    #[error("insufficient credits")]
    InsufficientFunds,
    /// A ledger key was reused for a different transfer: a bug, never retried.
    #[error("ledger key {0} reused with different terms")]
    KeyReuse(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A shared service (Redis) did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl DomainError {
    /// Whether a job that hit this error should run again later. Infrastructure faults
    /// (database, Redis) are transient; rule violations will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DomainError::Db(_) | DomainError::Unavailable(_) | DomainError::Internal(_))
    }
}
