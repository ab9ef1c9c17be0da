//! The one error type of the library. Each variant is a different answer to the caller; the
//! HTTP layer maps them to statuses in `api::problem`.

use serde::Serialize;

use crate::storage::StorageError;

/// One field-level reason of an invalid request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// One bad row of a bulk import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line number in the file; the header is line 1.
    pub row: usize,
    pub column: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bulk import refused as a whole, with every bad row.
    #[error("{title}")]
    InvalidRows { title: String, rows: Vec<RowError> },
    /// Missing, or belonging to a tenant the caller may not see: the two are never told apart.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Well-formed but invalid input, with every field's reason.
    #[error("{title}")]
    Invalid {
        title: String,
        fields: Vec<FieldError>,
    },
    /// Malformed input (not JSON, wrong content type, bad id).
    #[error("{0}")]
    BadRequest(String),
    /// The request contradicts the current state (duplicate, wrong status, cap reached).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but what an organization already uses is more than the request allows
    /// (a plan smaller than its usage): 409 with every limit it breaks.
    #[error("{title}")]
    Exceeded {
        title: String,
        fields: Vec<FieldError>,
    },
    /// The thing existed but is no longer usable (expired or used invitation).
    #[error("{0}")]
    Gone(String),
    /// A policy refused; `reason` is the deciding layer's reason.
    #[error("{reason}")]
    Forbidden { reason: String, layer: String },
    #[error("missing, invalid or revoked token")]
    Unauthorized,
    /// A sign-in with a wrong password, an unknown address, or as someone who has no password:
    /// never told apart.
    #[error("wrong e-mail address or password")]
    SignInFailed,
    #[error("{0}")]
    TooLarge(String),
    /// A quota is used up (`what`: the caller's requests, a member's PIN attempts, the
    /// invitation e-mails to one address); the caller may retry after this long.
    #[error("too many requests; retry after {}s", retry_after.as_secs().max(1))]
    RateLimited {
        what: &'static str,
        retry_after: std::time::Duration,
    },
    /// The caller's organization already runs as much policy work as it may; retry shortly.
    #[error("{0}")]
    Busy(String),
    /// Sign-in is needed, and what to send: an invitation addressed to an existing account.
    #[error("{0}")]
    SignInRequired(String),
    #[error(transparent)]
    Storage(StorageError),
    /// The server cannot be set up as configured (a key file, a setting).
    #[error("{0}")]
    Setup(String),
    /// A policy source that cannot be loaded (compile error, bad fixture file).
    #[error("{0}")]
    Policy(String),
    /// A write transaction met a tenant policy decision it had not been given; the write is
    /// rolled back and retried with it (`app::write`). Never reaches a client.
    #[error("internal: a policy decision is needed before this write")]
    DecisionNeeded(Box<crate::app::write::Needed>),
    /// A new policy version refused by its test gate, with every failing case.
    #[error("policy version failed its fixtures")]
    FixturesFailed(Vec<crate::policy::fixtures::CaseFailure>),
}

impl Error {
    pub fn invalid(title: impl Into<String>, fields: Vec<FieldError>) -> Self {
        Self::Invalid {
            title: title.into(),
            fields,
        }
    }

    pub fn field(title: impl Into<String>, field: &str, reason: impl Into<String>) -> Self {
        Self::invalid(title, vec![FieldError::new(field, reason)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<StorageError> for Error {
    /// A uniqueness rule the store refused is the client's conflict, not a storage fault.
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Duplicate(detail) => Error::Conflict(detail),
            error => Error::Storage(error),
        }
    }
}
