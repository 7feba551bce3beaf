//! How values become bytes on the wire.

use crate::Error;
use serde::{Serialize, de::DeserializeOwned};

/// A type that can travel in records and state.
///
/// Built-in codecs: `String` (UTF-8), `Vec<u8>` (raw), integers, floats and
/// `bool` (little-endian fixed width), `()` (empty). Wrap other types in
/// [`Json`] or [`Bin`].
pub trait Data: Sized {
    /// Appends the encoding of `self` to `out`; a value that cannot be
    /// encoded is an error (never a placeholder), and what was appended
    /// before the error is discarded by the caller.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error>;
    /// Reads a value from its encoding.
    fn decode(bytes: &[u8]) -> Result<Self, Error>;
    /// Reads a value from its encoding into `into`, reusing its
    /// allocation where the codec can (`String`, `Vec<u8>`): the batch
    /// drivers of functions that borrow their input (filters, timestamp
    /// assigners) decode every record into one value.
    fn decode_into(bytes: &[u8], into: &mut Self) -> Result<(), Error> {
        *into = Self::decode(bytes)?;
        Ok(())
    }
    /// Names the encoding, for state compatibility checks: state written
    /// with one codec cannot be read with another.
    fn codec() -> String {
        "bytes".into()
    }
}

impl Data for String {
    fn codec() -> String {
        "string".into()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(self.as_bytes());
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        text(bytes).map(str::to_owned)
    }
    fn decode_into(bytes: &[u8], into: &mut Self) -> Result<(), Error> {
        let t = text(bytes)?;
        into.clear();
        into.push_str(t);
        Ok(())
    }
}

impl Data for Vec<u8> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(self);
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Ok(bytes.to_vec())
    }
    fn decode_into(bytes: &[u8], into: &mut Self) -> Result<(), Error> {
        into.clear();
        into.extend_from_slice(bytes);
        Ok(())
    }
}

/// `bytes` as UTF-8 text.
#[inline]
fn text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|e| Error::decode(format!("record is not UTF-8 text: {e}")))
}

impl Data for () {
    fn codec() -> String {
        "unit".into()
    }
    fn encode(&self, _: &mut Vec<u8>) -> Result<(), Error> {
        Ok(())
    }
    fn decode(_: &[u8]) -> Result<Self, Error> {
        Ok(())
    }
}

impl Data for bool {
    fn codec() -> String {
        "bool".into()
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(u8::from(*self));
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        match bytes {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(Error::decode("expected one byte 0 or 1 for a bool")),
        }
    }
}

macro_rules! fixed_width {
    ($($t:ty),*) => {$(
        impl Data for $t {
            fn codec() -> String {
                stringify!($t).into()
            }
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
                out.extend_from_slice(&self.to_le_bytes());
                Ok(())
            }
            #[inline]
            fn decode(bytes: &[u8]) -> Result<Self, Error> {
                let arr = bytes.try_into().map_err(|_| {
                    Error::decode(format!(
                        "expected {} bytes for {}, got {}",
                        std::mem::size_of::<$t>(),
                        stringify!($t),
                        bytes.len()
                    ))
                })?;
                Ok(<$t>::from_le_bytes(arr))
            }
        }
    )*};
}
fixed_width!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

/// A value encoded as JSON: for records read from or written to JSON files.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> Data for Json<T> {
    fn codec() -> String {
        "json".into()
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        // Fails for types JSON cannot express (a map with non-string keys).
        serde_json::to_writer(&mut *out, &self.0)
            .map_err(|e| Error::msg(format!("cannot encode the value as JSON: {e}")))
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|e| Error::decode(format!("invalid JSON record: {e}")))
    }
}

/// A value in MessagePack, structs as maps of field names: the portable
/// binary codec (`msgpack`), which the Python and JavaScript SDKs read and
/// write too (`wit/CONTRACT.md`). Use it for structured state a function
/// in another language may take over from a savepoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MsgPack<T>(pub T);

impl<T: Serialize + DeserializeOwned> Data for MsgPack<T> {
    fn codec() -> String {
        "msgpack".into()
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let mut ser = rmp_serde::Serializer::new(&mut *out).with_struct_map();
        self.0
            .serialize(&mut ser)
            .map_err(|e| Error::msg(format!("cannot encode the value as MessagePack: {e}")))
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        rmp_serde::from_slice(bytes)
            .map(MsgPack)
            .map_err(|e| Error::decode(format!("invalid MessagePack record: {e}")))
    }
}

/// A value in a compact binary encoding (postcard): for records and state
/// that stay inside a job and in Rust (`bin` is not portable; see
/// [`MsgPack`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bin<T>(pub T);

impl<T: Serialize + DeserializeOwned> Data for Bin<T> {
    fn codec() -> String {
        "bin".into()
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let bytes = postcard::to_allocvec(&self.0)
            .map_err(|e| Error::msg(format!("cannot encode the value in binary: {e}")))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        postcard::from_bytes(bytes)
            .map(Bin)
            .map_err(|e| Error::decode(format!("invalid binary record: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Data + PartialEq + std::fmt::Debug>(v: T) {
        let mut b = Vec::new();
        v.encode(&mut b).expect("encodes");
        assert_eq!(T::decode(&b).expect("decodes"), v);
    }

    #[test]
    fn a_value_json_cannot_hold_is_an_error_not_null() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(vec![1u8, 2], 3u32);
        let mut b = Vec::new();
        let e = Json(m).encode(&mut b).expect_err("non-string keys");
        assert!(
            e.message().contains("cannot encode the value as JSON"),
            "{e}"
        );
    }

    #[test]
    fn codecs_round_trip() {
        round(String::from("héllo"));
        round(42u64);
        round(-7i32);
        round(1.5f64);
        round(true);
        round(Json(vec![1, 2, 3]));
        round(Bin((String::from("a"), 9u32)));
        round(MsgPack((String::from("a"), 9u32, vec![-1i64, 300])));
    }

    #[test]
    fn wrong_width_is_a_decode_error() {
        let e = u64::decode(&[1, 2, 3]).expect_err("must fail");
        assert!(e.message().contains("expected 8 bytes"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_a_decode_error() {
        assert!(String::decode(&[0xff, 0xfe]).is_err());
        let mut s = String::from("kept");
        assert!(String::decode_into(&[0xff], &mut s).is_err());
    }

    #[test]
    fn decoding_into_a_value_replaces_it() {
        let mut s = String::from("a longer value first");
        String::decode_into("héllo".as_bytes(), &mut s).expect("text");
        assert_eq!(s, "héllo");
        let mut v = vec![9u8; 40];
        Vec::<u8>::decode_into(&[1, 2], &mut v).expect("bytes");
        assert_eq!(v, [1, 2]);
        let mut n = 5u64;
        u64::decode_into(&7u64.to_le_bytes(), &mut n).expect("u64");
        assert_eq!(n, 7);
        let mut j = Json(vec![1]);
        Json::<Vec<i32>>::decode_into(b"[2,3]", &mut j).expect("json");
        assert_eq!(j.0, [2, 3]);
    }
}
