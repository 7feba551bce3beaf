//! The error a function returns.

use std::fmt;

/// A function's failure. It fails the job with the message, naming the
/// operator and sub-task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    User,
    Decode,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::User,
            message: message.to_string(),
        }
    }

    /// A record or state value that its codec could not read.
    pub fn decode(message: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Decode,
            message: message.to_string(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Error::msg(e)
    }
}
