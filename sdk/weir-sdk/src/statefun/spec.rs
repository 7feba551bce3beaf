//! State declarations.

use std::time::Duration;

/// When a state's value expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiration {
    /// Never.
    #[default]
    Never,
    /// This long after it was last written.
    AfterWrite(Duration),
    /// This long after it was last written or read (by any invocation).
    AfterInvoke(Duration),
}

/// A state a function keeps per address: its name, typename and
/// expiration. The host registers it the first time the function asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSpec {
    name: String,
    typename: String,
    expiration: Expiration,
}

impl ValueSpec {
    /// A state that never expires; `typename` is one of [`super::types`]
    /// or a user typename (read and written as [`crate::Json`]).
    pub fn new(name: impl Into<String>, typename: impl Into<String>) -> Self {
        ValueSpec {
            name: name.into(),
            typename: typename.into(),
            expiration: Expiration::Never,
        }
    }

    /// Expires the value `after` its last write.
    pub fn expire_after_write(mut self, after: Duration) -> Self {
        self.expiration = Expiration::AfterWrite(after);
        self
    }

    /// Expires the value `after` its last write or read.
    pub fn expire_after_invoke(mut self, after: Duration) -> Self {
        self.expiration = Expiration::AfterInvoke(after);
        self
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The typename its values have.
    pub fn typename(&self) -> &str {
        &self.typename
    }

    /// When its value expires.
    pub fn expiration(&self) -> Expiration {
        self.expiration
    }
}
