//! Errors of loading and calling components, worded for the user.

use weir_core::ErrorDomain;

/// A component that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing or unreadable.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("{path} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// Path.
        path: String,
        /// Compiler message.
        message: String,
    },
    /// The component is valid but not a Weir function component.
    #[error("{path} is not a Weir function component: {message}")]
    WrongWorld {
        /// Path.
        path: String,
        /// What is missing.
        message: String,
    },
    /// The component failed while listing or opening its functions.
    #[error("{path}: {message}")]
    Guest {
        /// Path.
        path: String,
        /// What happened.
        message: String,
    },
    /// A directory granted to the component cannot be opened.
    #[error("{path}: cannot grant directory {dir} to the guest: {message}")]
    Grant {
        /// Component path.
        path: String,
        /// Host directory.
        dir: String,
        /// Cause.
        message: String,
    },
    /// The engine could not be set up.
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// Why a guest trapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapCause {
    /// The call ran past its deadline (for example an endless loop).
    Timeout {
        /// The deadline.
        limit_ms: u64,
    },
    /// The guest tried to grow its memory past the cap.
    MemoryLimit {
        /// The cap.
        limit_bytes: u64,
    },
    /// The guest's call stack overflowed (for example unbounded recursion).
    StackOverflow,
    /// The call was stopped because the job is stopping.
    Interrupted,
    /// The guest panicked; the panic message when it printed one.
    Panic(String),
    /// A host call on the guest's behalf went over a budget.
    Budget(crate::BudgetExceeded),
    /// A host call refused what the guest asked of it.
    HostCall(String),
    /// Any other trap.
    Other(String),
}

impl std::fmt::Display for TrapCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrapCause::Timeout { limit_ms } => write!(
                f,
                "the call exceeded its deadline of {limit_ms} ms and was stopped (an endless loop, or a long wait in the guest? raise sandbox.call_timeout_ms if it needs longer)"
            ),
            TrapCause::MemoryLimit { limit_bytes } => write!(
                f,
                "the function exceeded its memory limit of {} MiB",
                limit_bytes >> 20
            ),
            TrapCause::Interrupted => {
                write!(f, "the call was interrupted because the job is stopping")
            }
            TrapCause::StackOverflow => {
                write!(
                    f,
                    "the function overflowed its stack (unbounded recursion?)"
                )
            }
            TrapCause::Panic(m) => write!(f, "the function panicked: {m}"),
            TrapCause::Budget(b) => write!(f, "{b}"),
            TrapCause::HostCall(m) => write!(f, "the function misused a host call: {m}"),
            TrapCause::Other(m) => write!(f, "the function trapped: {m}"),
        }
    }
}

/// A failed call into a function.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped; the instance is unusable afterwards.
    #[error("{0}")]
    Trap(TrapCause),
    /// The function returned an error of its own.
    #[error("the function failed: {0}")]
    Function(String),
    /// A record or state value did not decode in the guest.
    #[error("the function could not decode its input: {0}")]
    Decode(String),
    /// The instance already trapped earlier.
    #[error("the instance is unusable after an earlier trap")]
    Poisoned,
    /// The guest returned a malformed result buffer.
    #[error("the function returned a malformed result: {0}")]
    BadResult(String),
    /// A host-side state access failed.
    #[error("state access failed: {0}")]
    State(String),
    /// The call went over a budget of what the host does for it.
    #[error("{0}")]
    Budget(crate::BudgetExceeded),
}

impl CallError {
    /// Who is at fault.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            CallError::State(_) => ErrorDomain::External,
            _ => ErrorDomain::User,
        }
    }
}

/// Longest panic message reported.
const MAX_PANIC_MESSAGE: usize = 1000;

/// What a guest printed to standard error just before it trapped: the
/// text after Rust's "panicked at ", else the last few lines (a Python
/// traceback ends with the exception, a JavaScript error with its
/// message).
pub(crate) fn panic_message(stderr: &str) -> String {
    let from = match stderr.rfind("panicked at ") {
        Some(i) => &stderr[i + "panicked at ".len()..],
        None => stderr,
    };
    let lines: Vec<&str> = from
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note:"))
        .collect();
    if lines.is_empty() {
        return "unreachable code reached (the function printed no message)".into();
    }
    let keep = if from.len() < stderr.len() {
        &lines[..]
    } else {
        &lines[lines.len().saturating_sub(5)..]
    };
    let joined = keep.join(" ");
    if joined.chars().count() > MAX_PANIC_MESSAGE {
        let skip = joined.chars().count() - MAX_PANIC_MESSAGE;
        format!("…{}", joined.chars().skip(skip).collect::<String>())
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_of_several_languages() {
        let rust = "thread '<unnamed>' panicked at src/lib.rs:93:13:\nthe record said boom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(rust),
            "src/lib.rs:93:13: the record said boom"
        );
        let python = "Traceback (most recent call last):\n  File \"app.py\", line 3, in map\n    raise ValueError('bad')\nValueError: bad record\n";
        assert!(panic_message(python).ends_with("ValueError: bad record"));
        let js = "Error: cannot parse \"x\"\n    at map (app.js:4)\n";
        assert!(panic_message(js).starts_with("Error: cannot parse"));
        assert!(panic_message("").contains("no message"));
        let long = "x".repeat(5000);
        assert!(panic_message(&long).chars().count() <= 1001);
    }
}
