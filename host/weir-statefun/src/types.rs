//! The built-in types of the StateFun SDKs: `io.statefun.types/{bool,int,
//! long,float,double,string}`, each a protobuf wrapper message with the
//! value in field 1 (int is `sfixed32`, long `sfixed64`).

use crate::proto::TypedValue;

/// The typename prefix of the built-in types.
pub const BUILTIN: &str = "io.statefun.types/";

/// A value of a built-in type.
#[derive(Debug, Clone, PartialEq)]
pub enum Builtin {
    /// `io.statefun.types/bool`.
    Bool(bool),
    /// `io.statefun.types/int` (sfixed32).
    Int(i32),
    /// `io.statefun.types/long` (sfixed64).
    Long(i64),
    /// `io.statefun.types/float`.
    Float(f32),
    /// `io.statefun.types/double`.
    Double(f64),
    /// `io.statefun.types/string`.
    String(String),
}

/// Wrapper messages, one per built-in type.
mod wrappers {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BoolWrapper {
        #[prost(bool, tag = "1")]
        pub value: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IntWrapper {
        #[prost(sfixed32, tag = "1")]
        pub value: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LongWrapper {
        #[prost(sfixed64, tag = "1")]
        pub value: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FloatWrapper {
        #[prost(float, tag = "1")]
        pub value: f32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DoubleWrapper {
        #[prost(double, tag = "1")]
        pub value: f64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringWrapper {
        #[prost(string, tag = "1")]
        pub value: String,
    }
}

/// Why a value is not the built-in it claims to be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    /// Not a built-in typename.
    #[error("'{0}' is not a built-in type (io.statefun.types/...)")]
    NotBuiltin(String),
    /// The bytes do not decode as the type's wrapper.
    #[error("a '{typename}' value that does not decode: {message}")]
    Malformed {
        /// The typename.
        typename: String,
        /// The decoder's words.
        message: String,
    },
}

impl Builtin {
    /// Its typename.
    pub fn typename(&self) -> &'static str {
        match self {
            Builtin::Bool(_) => "io.statefun.types/bool",
            Builtin::Int(_) => "io.statefun.types/int",
            Builtin::Long(_) => "io.statefun.types/long",
            Builtin::Float(_) => "io.statefun.types/float",
            Builtin::Double(_) => "io.statefun.types/double",
            Builtin::String(_) => "io.statefun.types/string",
        }
    }

    /// The wrapper message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message as _;
        match self {
            Builtin::Bool(v) => wrappers::BoolWrapper { value: *v }.encode_to_vec(),
            Builtin::Int(v) => wrappers::IntWrapper { value: *v }.encode_to_vec(),
            Builtin::Long(v) => wrappers::LongWrapper { value: *v }.encode_to_vec(),
            Builtin::Float(v) => wrappers::FloatWrapper { value: *v }.encode_to_vec(),
            Builtin::Double(v) => wrappers::DoubleWrapper { value: *v }.encode_to_vec(),
            Builtin::String(v) => wrappers::StringWrapper { value: v.clone() }.encode_to_vec(),
        }
    }

    /// A present [`TypedValue`] holding it.
    pub fn typed(&self) -> TypedValue {
        TypedValue {
            typename: self.typename().to_owned(),
            has_value: true,
            value: self.encode(),
        }
    }

    /// Decodes `bytes` as the built-in `typename`.
    pub fn decode(typename: &str, bytes: &[u8]) -> Result<Builtin, TypeError> {
        use prost::Message as _;
        let bad = |e: prost::DecodeError| TypeError::Malformed {
            typename: typename.to_owned(),
            message: e.to_string(),
        };
        let name = typename
            .strip_prefix(BUILTIN)
            .ok_or_else(|| TypeError::NotBuiltin(typename.to_owned()))?;
        Ok(match name {
            "bool" => Builtin::Bool(wrappers::BoolWrapper::decode(bytes).map_err(bad)?.value),
            "int" => Builtin::Int(wrappers::IntWrapper::decode(bytes).map_err(bad)?.value),
            "long" => Builtin::Long(wrappers::LongWrapper::decode(bytes).map_err(bad)?.value),
            "float" => Builtin::Float(wrappers::FloatWrapper::decode(bytes).map_err(bad)?.value),
            "double" => Builtin::Double(wrappers::DoubleWrapper::decode(bytes).map_err(bad)?.value),
            "string" => Builtin::String(wrappers::StringWrapper::decode(bytes).map_err(bad)?.value),
            _ => return Err(TypeError::NotBuiltin(typename.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_the_sdks_wire_bytes() {
        // The protocol notes' example: int 5 is `0d 05 00 00 00`.
        assert_eq!(Builtin::Int(5).encode(), [0x0d, 5, 0, 0, 0]);
        assert_eq!(
            Builtin::Long(-1).encode(),
            [0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(Builtin::String("hi".into()).encode(), [0x0a, 2, b'h', b'i']);
        assert_eq!(Builtin::Bool(true).encode(), [0x08, 1]);
        for v in [
            Builtin::Bool(true),
            Builtin::Int(-7),
            Builtin::Long(1 << 40),
            Builtin::Float(1.5),
            Builtin::Double(-2.25),
            Builtin::String("héllo".into()),
        ] {
            let t = v.typed();
            assert_eq!(Builtin::decode(&t.typename, &t.value), Ok(v));
        }
        assert!(matches!(
            Builtin::decode("example/Cart", b""),
            Err(TypeError::NotBuiltin(_))
        ));
        assert!(matches!(
            Builtin::decode("io.statefun.types/int", &[0x0d, 5]),
            Err(TypeError::Malformed { .. })
        ));
    }
}
