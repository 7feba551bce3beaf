//! How state values and message arguments become bytes: the protobuf
//! wrapper messages the StateFun SDKs use for `io.statefun.types/*` (the
//! value in field 1: `bool` a varint, `int` an sfixed32, `long` an
//! sfixed64, `float`/`double` fixed32/fixed64, `string` length-delimited;
//! a default value is empty bytes), and JSON for user typenames.

use super::types;
use crate::{Error, Json, Result};
use serde::{Serialize, de::DeserializeOwned};

/// A Rust type a state or message value can be read as and written from.
///
/// `i32`, `i64`, `String`, `bool`, `f32` and `f64` are StateFun's builtin
/// types (`io.statefun.types/int`, `long`, `string`, `bool`, `float`,
/// `double`), encoded as the SDKs encode them, so that values cross between
/// functions written in any SDK. [`Json<T>`] is any serde type under a user
/// typename.
pub trait StateType: Sized {
    /// The builtin typename this type is stored as; `None` for a type
    /// stored under the user typename its state declares (not a builtin one).
    const TYPENAME: Option<&'static str>;
    /// The value's bytes.
    fn encode(&self) -> Result<Vec<u8>>;
    /// Reads a value from its bytes; bytes from outside that do not decode
    /// are an error.
    fn decode(bytes: &[u8]) -> Result<Self>;

    /// Whether a value of `typename` can be read as this type.
    fn accepts(typename: &str) -> bool {
        match Self::TYPENAME {
            Some(t) => t == typename,
            None => !types::is_builtin(typename),
        }
    }
}

impl<T: Serialize + DeserializeOwned> StateType for Json<T> {
    const TYPENAME: Option<&'static str> = None;
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.0)
            .map_err(|e| Error::msg(format!("cannot encode the value as JSON: {e}")))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|e| Error::decode(format!("invalid JSON value: {e}")))
    }
}

/// The protobuf wire types the wrapper messages use.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Field 1 of a wrapper message, as read from the wire.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| Error::decode("truncated protobuf varint"))?;
        *pos += 1;
        if i == 9 && b > 1 {
            return Err(Error::decode("protobuf varint overflows 64 bits"));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Error::decode("protobuf varint longer than 10 bytes"))
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| Error::decode("truncated protobuf field"))?;
    let s = &bytes[*pos..end];
    *pos = end;
    Ok(s)
}

/// Reads a wrapper message: the last field 1 of wire type `wire` (as
/// protobuf does), skipping other fields; `None` when it has none (the
/// default value).
fn read_field1(bytes: &[u8], wire: u8) -> Result<Option<Field<'_>>> {
    let mut pos = 0;
    let mut found = None;
    while pos < bytes.len() {
        let key = read_varint(bytes, &mut pos)?;
        let (number, ty) = (key >> 3, (key & 7) as u8);
        let field = match ty {
            VARINT => Field::Varint(read_varint(bytes, &mut pos)?),
            FIXED64 => {
                let b: [u8; 8] = take(bytes, &mut pos, 8)?
                    .try_into()
                    .map_err(|_| Error::decode("bad fixed64"))?;
                Field::Fixed64(u64::from_le_bytes(b))
            }
            LEN => {
                let n = usize::try_from(read_varint(bytes, &mut pos)?)
                    .map_err(|_| Error::decode("protobuf length too large"))?;
                Field::Bytes(take(bytes, &mut pos, n)?)
            }
            FIXED32 => {
                let b: [u8; 4] = take(bytes, &mut pos, 4)?
                    .try_into()
                    .map_err(|_| Error::decode("bad fixed32"))?;
                Field::Fixed32(u32::from_le_bytes(b))
            }
            _ => {
                return Err(Error::decode(format!(
                    "unsupported protobuf wire type {ty}"
                )));
            }
        };
        if number == 1 {
            if ty != wire {
                return Err(Error::decode(format!(
                    "protobuf field 1 has wire type {ty}, expected {wire}"
                )));
            }
            found = Some(field);
        }
    }
    Ok(found)
}

/// The wrapper message with field 1 a varint (empty when 0).
fn encode_varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if v != 0 {
        out.push(0x08);
        push_varint(&mut out, v);
    }
    out
}

/// The wrapper message with field 1 a fixed-width value (`key` the field's
/// key byte); empty for the default value (`is_default`).
fn encode_fixed(key: u8, le_bytes: &[u8], is_default: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if !is_default {
        out.push(key);
        out.extend_from_slice(le_bytes);
    }
    out
}

fn decode_varint(bytes: &[u8]) -> Result<u64> {
    match read_field1(bytes, VARINT)? {
        Some(Field::Varint(v)) => Ok(v),
        _ => Ok(0),
    }
}

impl StateType for i64 {
    const TYPENAME: Option<&'static str> = Some(types::LONG);
    fn encode(&self) -> Result<Vec<u8>> {
        // LongWrapper's field is an sfixed64.
        Ok(encode_fixed(0x09, &self.to_le_bytes(), *self == 0))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        match read_field1(bytes, FIXED64)? {
            Some(Field::Fixed64(v)) => Ok(v as i64),
            _ => Ok(0),
        }
    }
}

impl StateType for i32 {
    const TYPENAME: Option<&'static str> = Some(types::INT);
    fn encode(&self) -> Result<Vec<u8>> {
        // IntWrapper's field is an sfixed32.
        Ok(encode_fixed(0x0d, &self.to_le_bytes(), *self == 0))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        match read_field1(bytes, FIXED32)? {
            Some(Field::Fixed32(v)) => Ok(v as i32),
            _ => Ok(0),
        }
    }
}

impl StateType for bool {
    const TYPENAME: Option<&'static str> = Some(types::BOOL);
    fn encode(&self) -> Result<Vec<u8>> {
        Ok(encode_varint(u64::from(*self)))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(decode_varint(bytes)? != 0)
    }
}

impl StateType for String {
    const TYPENAME: Option<&'static str> = Some(types::STRING);
    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if !self.is_empty() {
            out.push(0x0a);
            push_varint(&mut out, self.len() as u64);
            out.extend_from_slice(self.as_bytes());
        }
        Ok(out)
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        match read_field1(bytes, LEN)? {
            Some(Field::Bytes(b)) => std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|e| Error::decode(format!("string value is not UTF-8: {e}"))),
            _ => Ok(String::new()),
        }
    }
}

impl StateType for f64 {
    const TYPENAME: Option<&'static str> = Some(types::DOUBLE);
    fn encode(&self) -> Result<Vec<u8>> {
        // Both 0.0 and -0.0 are left out, as the Python SDK and prost (the host) do.
        Ok(encode_fixed(0x09, &self.to_le_bytes(), *self == 0.0))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        match read_field1(bytes, FIXED64)? {
            Some(Field::Fixed64(v)) => Ok(f64::from_bits(v)),
            _ => Ok(0.0),
        }
    }
}

impl StateType for f32 {
    const TYPENAME: Option<&'static str> = Some(types::FLOAT);
    fn encode(&self) -> Result<Vec<u8>> {
        Ok(encode_fixed(0x0d, &self.to_le_bytes(), *self == 0.0))
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        match read_field1(bytes, FIXED32)? {
            Some(Field::Fixed32(v)) => Ok(f32::from_bits(v)),
            _ => Ok(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: StateType>(v: T) -> Vec<u8> {
        v.encode().expect("encodes")
    }

    #[test]
    fn long_is_an_sfixed64_wrapper() {
        assert_eq!(enc(300i64), [0x09, 0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            enc(-1i64),
            [0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(enc(0i64), Vec::<u8>::new());
        for v in [0, 1, 300, -1, i64::MIN, i64::MAX] {
            assert_eq!(i64::decode(&enc(v)).expect("decodes"), v);
        }
    }

    #[test]
    fn int_is_an_sfixed32_wrapper() {
        // The StateFun protocol notes' example: int 5 is `0d 05 00 00 00`.
        assert_eq!(enc(5i32), [0x0d, 0x05, 0, 0, 0]);
        assert_eq!(enc(-2i32), [0x0d, 0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(enc(0i32), Vec::<u8>::new());
        for v in [0, 7, -2, i32::MIN, i32::MAX] {
            assert_eq!(i32::decode(&enc(v)).expect("decodes"), v);
        }
    }

    #[test]
    fn string_bool_float_double_wrapper_bytes() {
        assert_eq!(enc(String::from("hi")), [0x0a, 0x02, b'h', b'i']);
        assert_eq!(enc(String::new()), Vec::<u8>::new());
        assert_eq!(enc(true), [0x08, 0x01]);
        assert_eq!(enc(false), Vec::<u8>::new());
        assert_eq!(enc(1.0f32), [0x0d, 0x00, 0x00, 0x80, 0x3f]);
        assert_eq!(enc(1.0f64), [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        assert_eq!(enc(0.0f64), Vec::<u8>::new());
        assert_eq!(enc(-0.0f64), Vec::<u8>::new());
        assert_eq!(String::decode(&[0x0a, 0x02, b'h', b'i']).expect("ok"), "hi");
        assert_eq!(f64::decode(&enc(-2.5f64)).expect("ok"), -2.5);
        assert_eq!(f32::decode(&enc(0.25f32)).expect("ok"), 0.25);
        assert!(bool::decode(&[0x08, 0x01]).expect("ok"));
    }

    #[test]
    fn empty_bytes_decode_as_the_default() {
        assert_eq!(i64::decode(&[]).expect("ok"), 0);
        assert_eq!(i32::decode(&[]).expect("ok"), 0);
        assert_eq!(String::decode(&[]).expect("ok"), "");
        assert!(!bool::decode(&[]).expect("ok"));
        assert_eq!(f64::decode(&[]).expect("ok"), 0.0);
        assert_eq!(f32::decode(&[]).expect("ok"), 0.0);
    }

    #[test]
    fn unknown_fields_are_skipped_and_the_last_field_1_wins() {
        // field 2 (varint 5), field 1 = 1, field 3 (bytes "x"), field 1 = 300
        let mut bytes = vec![0x10, 0x05, 0x0d, 0x01, 0, 0, 0, 0x1a, 0x01, b'x'];
        bytes.extend_from_slice(&[0x0d, 0x2c, 0x01, 0, 0]);
        assert_eq!(i32::decode(&bytes).expect("ok"), 300);
    }

    #[test]
    fn malformed_bytes_are_decode_errors() {
        assert!(i64::decode(&[0x08]).is_err(), "truncated varint");
        assert!(i64::decode(&[0x08, 0xff]).is_err(), "unterminated varint");
        assert!(
            i64::decode(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ])
            .is_err()
        );
        assert!(String::decode(&[0x0a, 0x05, b'h']).is_err(), "short string");
        assert!(String::decode(&[0x0a, 0x01, 0xff]).is_err(), "not UTF-8");
        assert!(
            i64::decode(&[0x08, 0x01]).is_err(),
            "a varint long: wrong wire type"
        );
        assert!(f64::decode(&[0x09, 0x00]).is_err(), "short fixed64");
        let e = i64::decode(&[0x0b]).expect_err("group wire type");
        assert!(e.message().contains("wire type 3"), "{e}");
    }

    #[test]
    fn json_takes_user_typenames_only() {
        assert!(<Json<u8>>::accepts("bench/Json"));
        assert!(!<Json<u8>>::accepts(types::LONG));
        assert!(i64::accepts(types::LONG));
        assert!(!i64::accepts(types::INT));
        assert_eq!(enc(Json(vec![1, 2])), b"[1,2]");
        assert!(<Json<Vec<u8>>>::decode(b"{").is_err());
    }
}
