//! Errors of job definitions, and how failures are classified.

use std::path::PathBuf;

/// Who is at fault for a failure, which says whether a retry can help
/// (after Arroyo's user / external / internal split).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDomain {
    /// The job or its functions are wrong (bad input, a trap, a bad job
    /// file). Retrying the same thing fails the same way.
    User,
    /// Something outside Weir failed (a file system, the network). A retry
    /// may succeed.
    External,
    /// A bug in Weir itself.
    Internal,
}

impl ErrorDomain {
    /// Whether retrying may help.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorDomain::External)
    }
}

impl std::fmt::Display for ErrorDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorDomain::User => "user error",
            ErrorDomain::External => "external error",
            ErrorDomain::Internal => "internal error",
        })
    }
}

/// A job definition that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job file could not be read.
    #[error("cannot read job file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The job file is not valid TOML or has unknown or mistyped fields.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The job is well-formed but inconsistent.
    #[error("invalid job '{job}':\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Job name.
        job: String,
        /// Every problem found.
        problems: Vec<String>,
    },
}
