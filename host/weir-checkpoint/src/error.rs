//! Checkpoint failures.

use std::path::PathBuf;

/// Why a checkpoint or savepoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not a Weir snapshot, or is damaged.
    #[error("{path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An object-store call failed (unreachable endpoint, wrong bucket or
    /// credentials, a refused request).
    #[error("object storage {location}: {message}")]
    Remote {
        /// The `s3://` location.
        location: String,
        /// The store's answer.
        message: String,
    },
    /// No complete checkpoint or savepoint could be read.
    #[error("no usable checkpoint in {dir}: {message}")]
    NotFound {
        /// Where we looked.
        dir: PathBuf,
        /// Why each candidate was refused.
        message: String,
    },
}

pub(crate) fn io<'p>(
    action: &'static str,
    path: &'p std::path::Path,
) -> impl FnOnce(std::io::Error) -> CheckpointError + 'p {
    move |source| CheckpointError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
