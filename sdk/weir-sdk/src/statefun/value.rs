//! Typed values and the messages that carry them.

use super::{Address, StateType, types};
use crate::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};

/// A value with its StateFun typename: what messages, egress records and
/// states carry. The typename says how to read the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedValue {
    typename: String,
    value: Vec<u8>,
}

impl TypedValue {
    /// A value from its typename and bytes, as they are.
    pub fn new(typename: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        TypedValue {
            typename: typename.into(),
            value: value.into(),
        }
    }

    /// An `io.statefun.types/long`.
    pub fn long(v: i64) -> Self {
        Self::builtin(v)
    }

    /// An `io.statefun.types/int`.
    pub fn int(v: i32) -> Self {
        Self::builtin(v)
    }

    /// An `io.statefun.types/string`.
    pub fn string(v: impl Into<String>) -> Self {
        Self::builtin(v.into())
    }

    /// An `io.statefun.types/bool`.
    pub fn bool(v: bool) -> Self {
        Self::builtin(v)
    }

    /// An `io.statefun.types/double`.
    pub fn double(v: f64) -> Self {
        Self::builtin(v)
    }

    /// An `io.statefun.types/float`.
    pub fn float(v: f32) -> Self {
        Self::builtin(v)
    }

    /// `value` as JSON under a user typename (`namespace/name`); fails for
    /// values JSON cannot express.
    pub fn json<T: Serialize>(typename: impl Into<String>, value: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::msg(format!("cannot encode the value as JSON: {e}")))?;
        Ok(Self::new(typename, bytes))
    }

    fn builtin<T: StateType>(v: T) -> Self {
        // Builtin encodings cannot fail; an empty value is the default.
        let value = v.encode().unwrap_or_default();
        TypedValue {
            typename: T::TYPENAME.unwrap_or_default().to_owned(),
            value,
        }
    }

    /// The typename, `namespace/name`.
    pub fn typename(&self) -> &str {
        &self.typename
    }

    /// The bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The typename and the bytes.
    pub fn into_parts(self) -> (String, Vec<u8>) {
        (self.typename, self.value)
    }

    /// Reads the value as `T`, which must accept its typename.
    pub(crate) fn read<T: StateType>(&self) -> Result<T> {
        if !T::accepts(&self.typename) {
            return Err(Error::msg(format!(
                "a value of type '{}' cannot be read as {}",
                self.typename,
                T::TYPENAME.unwrap_or("a user type (JSON)")
            )));
        }
        T::decode(&self.value)
    }
}

/// One message to a function: its argument and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    caller: Option<Address>,
    argument: TypedValue,
}

impl Message {
    /// A message; `caller` is `None` for one from an ingress.
    pub fn new(caller: Option<Address>, argument: TypedValue) -> Self {
        Message { caller, argument }
    }

    /// The function that sent it; `None` when it came from an ingress.
    pub fn caller(&self) -> Option<&Address> {
        self.caller.as_ref()
    }

    /// The argument.
    pub fn argument(&self) -> &TypedValue {
        &self.argument
    }

    /// The argument, taken.
    pub fn into_argument(self) -> TypedValue {
        self.argument
    }

    /// The argument's typename.
    pub fn typename(&self) -> &str {
        self.argument.typename()
    }

    /// The argument's bytes, as they came.
    pub fn raw(&self) -> &[u8] {
        self.argument.value()
    }

    /// Whether the argument has this typename.
    pub fn is_type(&self, typename: &str) -> bool {
        self.argument.typename == typename
    }

    /// Whether the argument is an `io.statefun.types/long`.
    pub fn is_long(&self) -> bool {
        self.is_type(types::LONG)
    }

    /// The argument as an `io.statefun.types/long`.
    pub fn as_long(&self) -> Result<i64> {
        self.argument.read()
    }

    /// The argument as an `io.statefun.types/int`.
    pub fn as_int(&self) -> Result<i32> {
        self.argument.read()
    }

    /// The argument as an `io.statefun.types/string`.
    pub fn as_string(&self) -> Result<String> {
        self.argument.read()
    }

    /// The argument as an `io.statefun.types/bool`.
    pub fn as_bool(&self) -> Result<bool> {
        self.argument.read()
    }

    /// The argument as an `io.statefun.types/double`.
    pub fn as_double(&self) -> Result<f64> {
        self.argument.read()
    }

    /// The argument as an `io.statefun.types/float`.
    pub fn as_float(&self) -> Result<f32> {
        self.argument.read()
    }

    /// The argument read as JSON; its typename must be a user one (check it
    /// with [`Message::is_type`] when a function takes several).
    pub fn as_json<T: DeserializeOwned>(&self) -> Result<T> {
        if types::is_builtin(self.typename()) {
            return Err(Error::msg(format!(
                "a value of type '{}' cannot be read as JSON",
                self.typename()
            )));
        }
        serde_json::from_slice(self.raw())
            .map_err(|e| Error::decode(format!("invalid JSON value: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_constructors_encode_as_the_sdks_do() {
        let v = TypedValue::long(300);
        assert_eq!(v.typename(), "io.statefun.types/long");
        assert_eq!(v.value(), [0x09, 0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(TypedValue::string("hi").value(), [0x0a, 0x02, b'h', b'i']);
        assert_eq!(TypedValue::int(0).value(), [0u8; 0]);
        assert_eq!(TypedValue::bool(true).typename(), types::BOOL);
        let j = TypedValue::json("bench/Json", &serde_json::json!({"a": 1})).expect("json");
        assert_eq!((j.typename(), j.value()), ("bench/Json", &b"{\"a\":1}"[..]));
    }

    #[test]
    fn messages_read_their_own_type_only() {
        let m = Message::new(None, TypedValue::long(-5));
        assert!(m.is_long() && m.is_type(types::LONG));
        assert_eq!(m.as_long().expect("long"), -5);
        let e = m.as_int().expect_err("not an int");
        assert!(e.message().contains("'io.statefun.types/long'"), "{e}");
        assert!(m.as_json::<i64>().is_err());
        let j = Message::new(None, TypedValue::new("x/J", b"[1,2]".to_vec()));
        assert_eq!(j.as_json::<Vec<u8>>().expect("json"), vec![1, 2]);
        assert_eq!(j.raw(), b"[1,2]");
    }
}
