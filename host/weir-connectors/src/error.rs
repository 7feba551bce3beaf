//! Connector failures.

use weir_core::ErrorDomain;

/// A source or sink failure.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted ("cannot read", "cannot write").
        action: &'static str,
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A path or pattern matched no file.
    #[error("no input files: {0}")]
    NoFiles(String),
    /// A batch handed to a sink was not well-formed (a bug upstream).
    #[error("corrupt batch: {0}")]
    Corrupt(String),
    /// The source's timestamp assigner (a guest function) failed.
    #[error("timestamp assigner: {message}")]
    Assigner {
        /// Who is at fault.
        domain: ErrorDomain,
        /// What happened.
        message: String,
    },
    /// A service the connector runs or talks to failed, or refused what
    /// it was given.
    #[error("{message}")]
    Service {
        /// Who is at fault.
        domain: ErrorDomain,
        /// What happened.
        message: String,
    },
    /// A JSON line did not parse and the policy is to fail.
    #[error("malformed JSON at {file}:{line}: {message}")]
    Malformed {
        /// File.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Parser message.
        message: String,
    },
}

impl ConnectorError {
    /// Who is at fault.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            ConnectorError::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                ErrorDomain::User
            }
            ConnectorError::Io { .. } => ErrorDomain::External,
            ConnectorError::NoFiles(_) | ConnectorError::Malformed { .. } => ErrorDomain::User,
            ConnectorError::Corrupt(_) => ErrorDomain::Internal,
            ConnectorError::Assigner { domain, .. } | ConnectorError::Service { domain, .. } => {
                *domain
            }
        }
    }
}
