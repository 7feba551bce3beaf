//! The JSON lines of Weir's file ingress and egress.
//!
//! Ingress: `{"target": "ns/type/id", "type": "<typename>", "value": <JSON>}`.
//! For a built-in type (`io.statefun.types/*`) the value is a JSON bool,
//! number or string, carried as the type's protobuf wrapper; for any other
//! type the value's compact JSON bytes are the message. Instead of
//! `"value"`, `"value_base64"` gives the message's bytes verbatim (what the
//! egress writes for payloads that are not JSON, and what the playground
//! ingress makes of a request body).
//!
//! Egress: `{"egress": "<id>", "type": "<typename>", "value": <JSON>}`, the
//! value decoded the same way; a payload that is not JSON is written as
//! `"value_base64"` instead.

use crate::dispatch::Address;
use crate::proto::TypedValue;
use crate::types::{BUILTIN, Builtin};
use base64::Engine as _;
use serde_json::{Value, json};

/// Why an ingress line is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(String);

fn bad(m: impl Into<String>) -> RecordError {
    RecordError(m.into())
}

/// Parses one ingress line: the target and the message's value.
pub fn parse_ingress(line: &str) -> Result<(Address, TypedValue), RecordError> {
    let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object {\"target\", \"type\", \"value\"}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "target" | "type" | "value" | "value_base64"))
    {
        return Err(bad(format!("unknown field '{k}'")));
    }
    let field = |name: &str| {
        obj.get(name)
            .ok_or_else(|| bad(format!("no \"{name}\" field")))
    };
    let target = field("target")?
        .as_str()
        .and_then(Address::parse)
        .ok_or_else(|| bad("\"target\" is not \"namespace/type/id\""))?;
    let typename = field("type")?
        .as_str()
        .filter(|t| t.contains('/'))
        .ok_or_else(|| bad("\"type\" is not a typename (namespace/name)"))?;
    match (obj.get("value"), obj.get("value_base64")) {
        (Some(value), None) => Ok((target, typed(typename, value)?)),
        (None, Some(b64)) => {
            let value = b64
                .as_str()
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .ok_or_else(|| bad("\"value_base64\" is not a base64 string"))?;
            Ok((
                target,
                TypedValue {
                    typename: typename.to_owned(),
                    has_value: true,
                    value,
                },
            ))
        }
        (Some(_), Some(_)) => Err(bad("both \"value\" and \"value_base64\"; give one")),
        (None, None) => Err(bad("no \"value\" field")),
    }
}

/// The ingress line of a message whose bytes are given verbatim.
pub fn ingress_line_verbatim(target: &str, typename: &str, value: &[u8]) -> String {
    json!({
        "target": target,
        "type": typename,
        "value_base64": base64::engine::general_purpose::STANDARD.encode(value),
    })
    .to_string()
}

/// A JSON value as a message of `typename`.
fn typed(typename: &str, value: &Value) -> Result<TypedValue, RecordError> {
    let Some(name) = typename.strip_prefix(BUILTIN) else {
        let bytes = serde_json::to_vec(value).map_err(|e| bad(e.to_string()))?;
        return Ok(TypedValue {
            typename: typename.to_owned(),
            has_value: true,
            value: bytes,
        });
    };
    let wrong = || bad(format!("a '{typename}' value cannot be {value}"));
    let b = match name {
        "bool" => Builtin::Bool(value.as_bool().ok_or_else(wrong)?),
        "int" => Builtin::Int(
            value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        "long" => Builtin::Long(value.as_i64().ok_or_else(wrong)?),
        "float" => Builtin::Float(value.as_f64().ok_or_else(wrong)? as f32),
        "double" => Builtin::Double(value.as_f64().ok_or_else(wrong)?),
        "string" => Builtin::String(value.as_str().ok_or_else(wrong)?.to_owned()),
        _ => return Err(bad(format!("'{typename}' is not a built-in type"))),
    };
    Ok(b.typed())
}

/// The egress line for a message sent to egress `id`.
pub fn egress_line(id: &str, value: &TypedValue) -> String {
    line("egress", id, value)
}

/// A message to `target` in the ingress's own shape (dead letters use it,
/// so that they can be fed back in once the function is fixed).
pub fn message_line(target: &str, value: &TypedValue) -> String {
    line("target", target, value)
}

fn line(field: &str, name: &str, value: &TypedValue) -> String {
    let decoded = match Builtin::decode(&value.typename, &value.value) {
        Ok(b) => Some(match b {
            Builtin::Bool(v) => json!(v),
            Builtin::Int(v) => json!(v),
            Builtin::Long(v) => json!(v),
            Builtin::Float(v) => json!(v),
            Builtin::Double(v) => json!(v),
            Builtin::String(v) => json!(v),
        }),
        Err(_) if value.typename.starts_with(BUILTIN) => None,
        Err(_) => serde_json::from_slice::<Value>(&value.value).ok(),
    };
    let mut obj = serde_json::Map::new();
    obj.insert(field.to_owned(), json!(name));
    obj.insert("type".to_owned(), json!(value.typename));
    match decoded {
        Some(v) => obj.insert("value".to_owned(), v),
        None => obj.insert(
            "value_base64".to_owned(),
            json!(base64::engine::general_purpose::STANDARD.encode(&value.value)),
        ),
    };
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_lines_become_messages_with_the_sdks_encodings() {
        let (to, v) = parse_ingress(
            r#"{"target": "example/greeter/alice", "type": "io.statefun.types/string", "value": "Alice"}"#,
        )
        .expect("valid");
        assert_eq!(to, Address::new("example", "greeter", "alice"));
        assert_eq!(v, Builtin::String("Alice".into()).typed());
        let (_, v) =
            parse_ingress(r#"{"target": "e/c/1", "type": "io.statefun.types/int", "value": 5}"#)
                .expect("valid");
        assert_eq!(v.value, [0x0d, 5, 0, 0, 0]);
        let (_, v) = parse_ingress(
            r#"{"target": "e/c/1", "type": "example/AddToCart", "value": {"item": "socks", "qty": 2}}"#,
        )
        .expect("valid");
        assert_eq!(v.typename, "example/AddToCart");
        assert_eq!(v.value, br#"{"item":"socks","qty":2}"#, "compact JSON");
        let line = ingress_line_verbatim("e/c/1", "example/Raw", b"{ \"spaced\": 1 }\xff");
        let (to, v) = parse_ingress(&line).expect("verbatim");
        assert_eq!(to, Address::new("e", "c", "1"));
        assert_eq!(v.typename, "example/Raw");
        assert_eq!(v.value, b"{ \"spaced\": 1 }\xff", "bytes as given");
        for (line, want) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"type": "a/b", "value": 1}"#, "no \"target\""),
            (
                r#"{"target": "a/b", "type": "a/b", "value": 1}"#,
                "namespace/type/id",
            ),
            (
                r#"{"target": "a/b/c", "type": "ab", "value": 1}"#,
                "not a typename",
            ),
            (
                r#"{"target": "a/b/c", "type": "io.statefun.types/int", "value": "x"}"#,
                "cannot be",
            ),
            (
                r#"{"target": "a/b/c", "type": "io.statefun.types/int", "value": 3000000000}"#,
                "cannot be",
            ),
            (
                r#"{"target": "a/b/c", "type": "io.statefun.types/uuid", "value": 1}"#,
                "not a built-in",
            ),
            (
                r#"{"target": "a/b/c", "type": "a/b", "value": 1, "value_base64": "AA=="}"#,
                "give one",
            ),
            (
                r#"{"target": "a/b/c", "type": "a/b", "value_base64": "!!"}"#,
                "not a base64",
            ),
            (
                r#"{"target": "a/b/c", "type": "a/b", "value": 1, "extra": 2}"#,
                "unknown field 'extra'",
            ),
        ] {
            let e = parse_ingress(line).expect_err(line);
            assert!(e.to_string().contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn egress_lines_show_json_and_fall_back_to_base64() {
        let v = Builtin::String("Hello Alice, #1".into()).typed();
        assert_eq!(
            egress_line("example/greetings", &v),
            r#"{"egress":"example/greetings","type":"io.statefun.types/string","value":"Hello Alice, #1"}"#
        );
        let json = TypedValue {
            typename: "example/Receipt".into(),
            has_value: true,
            value: br#"{"total":3}"#.to_vec(),
        };
        assert_eq!(
            egress_line("example/out", &json),
            r#"{"egress":"example/out","type":"example/Receipt","value":{"total":3}}"#
        );
        let raw = TypedValue {
            typename: "example/Blob".into(),
            has_value: true,
            value: vec![0xff, 0x00],
        };
        assert_eq!(
            egress_line("example/out", &raw),
            r#"{"egress":"example/out","type":"example/Blob","value_base64":"/wA="}"#
        );
        // A line and back: the value survives.
        let (_, back) = parse_ingress(
            r#"{"target": "example/out/x", "type": "example/Receipt", "value": {"total":3}}"#,
        )
        .expect("valid");
        assert_eq!(back, json);
    }
}
