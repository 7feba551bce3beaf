//! Function addresses.

use crate::{Error, Result};
use std::fmt;

/// A function instance: its type (`namespace/type`) and id. Each address
/// has its own state; messages are sent to addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    namespace: String,
    function_type: String,
    id: String,
}

impl Address {
    /// The address of function `namespace/function_type` with this id.
    pub fn new(
        namespace: impl Into<String>,
        function_type: impl Into<String>,
        id: impl Into<String>,
    ) -> Self {
        Address {
            namespace: namespace.into(),
            function_type: function_type.into(),
            id: id.into(),
        }
    }

    /// The address of a function typename `namespace/type` (split at its
    /// last `/`, as StateFun does) with this id.
    pub fn of(typename: &str, id: impl Into<String>) -> Result<Self> {
        match typename.rsplit_once('/') {
            Some((ns, ty)) if !ns.is_empty() && !ty.is_empty() => Ok(Self::new(ns, ty, id)),
            _ => Err(Error::msg(format!(
                "'{typename}' is not a function typename (namespace/type)"
            ))),
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The function type's name within its namespace.
    pub fn function_type(&self) -> &str {
        &self.function_type
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The namespace, type and id, taken.
    pub(crate) fn into_parts(self) -> (String, String, String) {
        (self.namespace, self.function_type, self.id)
    }

    /// The function typename, `namespace/type`.
    pub fn typename(&self) -> String {
        format!("{}/{}", self.namespace, self.function_type)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.function_type, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_typename() {
        let a = Address::new("bench", "counter", "u1");
        assert_eq!(a.to_string(), "bench/counter/u1");
        assert_eq!(a.typename(), "bench/counter");
        assert_eq!(
            Address::of("com.x/y/counter", "7").expect("ok").namespace(),
            "com.x/y"
        );
        assert!(Address::of("counter", "7").is_err());
        assert!(Address::of("bench/", "7").is_err());
    }
}
