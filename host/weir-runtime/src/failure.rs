//! A failed job, attributed to an operator and sub-task.

use weir_core::ErrorDomain;

/// Why a job failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message} [{domain}{}]",
    match .operator { Some(o) => format!("operator '{o}'"), None => "job".to_owned() },
    match .subtask { Some((i, p)) => format!(" (sub-task {}/{p})", i + 1), None => String::new() },
    if .domain.retryable() { ", retryable" } else { "" })]
pub struct JobFailure {
    /// The node that failed, if one did.
    pub operator: Option<String>,
    /// Its sub-task index and parallelism.
    pub subtask: Option<(u32, u32)>,
    /// Who is at fault.
    pub domain: ErrorDomain,
    /// What happened.
    pub message: String,
}

impl JobFailure {
    /// A failure of the job as a whole (setup, not a sub-task).
    pub fn job(domain: ErrorDomain, message: impl Into<String>) -> Self {
        JobFailure {
            operator: None,
            subtask: None,
            domain,
            message: message.into(),
        }
    }
}

/// A failure inside a sub-task, before it is attributed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) domain: ErrorDomain,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn user(message: impl Into<String>) -> Self {
        Failure {
            domain: ErrorDomain::User,
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Failure {
            domain: ErrorDomain::Internal,
            message: message.into(),
        }
    }
}

impl From<weir_connectors::ConnectorError> for Failure {
    fn from(e: weir_connectors::ConnectorError) -> Self {
        Failure {
            domain: e.domain(),
            message: e.to_string(),
        }
    }
}

impl From<weir_wasm::CallError> for Failure {
    fn from(e: weir_wasm::CallError) -> Self {
        Failure {
            domain: e.domain(),
            message: e.to_string(),
        }
    }
}

impl From<weir_wasm::LoadError> for Failure {
    fn from(e: weir_wasm::LoadError) -> Self {
        let domain = match &e {
            // A granted directory that cannot be opened (moved, permissions)
            // is the machine's problem, and may pass.
            weir_wasm::LoadError::Grant { .. } => ErrorDomain::External,
            _ => ErrorDomain::User,
        };
        Failure {
            domain,
            message: e.to_string(),
        }
    }
}

impl From<weir_state::StateError> for Failure {
    fn from(e: weir_state::StateError) -> Self {
        use weir_state::StateError as E;
        let domain = match &e {
            // The function and the state it meets disagree: the user's to fix.
            E::KindMismatch { .. } | E::Incompatible { .. } => ErrorDomain::User,
            E::UnknownState(_) | E::KeyGroupOutOfRange { .. } => ErrorDomain::Internal,
            E::Storage(_) => ErrorDomain::External,
        };
        Failure {
            domain,
            message: e.to_string(),
        }
    }
}

/// A checkpoint or savepoint that cannot be read while restoring: a
/// damaged file is the user's to replace; an unreachable store is external.
impl From<weir_checkpoint::CheckpointError> for Failure {
    fn from(e: weir_checkpoint::CheckpointError) -> Self {
        use weir_checkpoint::CheckpointError as E;
        let domain = match e {
            E::Corrupt { .. } | E::NotFound { .. } => ErrorDomain::User,
            E::Io { .. } | E::Remote { .. } => ErrorDomain::External,
        };
        Failure {
            domain,
            message: format!("cannot restore: {e}"),
        }
    }
}
