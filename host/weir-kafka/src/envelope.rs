//! The sink's `envelope` format: each record's value is a JSON object
//! saying where and what to write, so records choose their topic,
//! partition, key, headers and timestamp.

use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One record to write, as the envelope says.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// The topic (default: the sink's).
    #[serde(default)]
    pub topic: Option<String>,
    /// The partition (default: by key, or any).
    #[serde(default)]
    pub partition: Option<i32>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_base64: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    value_base64: Option<String>,
    /// Headers (a `null` value is a header without one).
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    /// The record's timestamp (default: the record's event time).
    #[serde(default)]
    pub timestamp: Option<i64>,
}

impl Envelope {
    /// Reads an envelope from a record value.
    pub(crate) fn parse(value: &[u8]) -> Result<Envelope, String> {
        serde_json::from_slice(value).map_err(|e| format!("not a Kafka envelope: {e}"))
    }

    /// The key bytes, if any.
    pub(crate) fn key(&self) -> Result<Option<Vec<u8>>, String> {
        bytes(self.key.as_deref(), self.key_base64.as_deref(), "key")
    }

    /// The value bytes; `None` is a tombstone. A string is written as
    /// its text, any other JSON value as JSON.
    pub(crate) fn value(&self) -> Result<Option<Vec<u8>>, String> {
        match (&self.value, &self.value_base64) {
            (Some(serde_json::Value::String(s)), _) => Ok(Some(s.as_bytes().to_vec())),
            (Some(serde_json::Value::Null) | None, None) => Ok(None),
            (Some(v), _) => Ok(Some(v.to_string().into_bytes())),
            (None, Some(b)) => bytes(None, Some(b), "value"),
        }
    }
}

fn bytes(text: Option<&str>, b64: Option<&str>, what: &str) -> Result<Option<Vec<u8>>, String> {
    match (text, b64) {
        (Some(t), _) => Ok(Some(t.as_bytes().to_vec())),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(Some)
            .map_err(|e| format!("{what}_base64: {e}")),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_names_topic_partition_key_value_and_headers() {
        let e = Envelope::parse(
            br#"{"topic": "t", "partition": 2, "key": "k", "value": {"a": 1}, "headers": {"h": "v", "n": null}, "timestamp": 5}"#,
        )
        .expect("envelope");
        assert_eq!(e.topic.as_deref(), Some("t"));
        assert_eq!(e.partition, Some(2));
        assert_eq!(e.key().expect("key"), Some(b"k".to_vec()));
        assert_eq!(e.value().expect("value"), Some(br#"{"a":1}"#.to_vec()));
        assert_eq!(e.headers.get("n"), Some(&None));
        assert_eq!(e.timestamp, Some(5));
        let t = Envelope::parse(br#"{"key_base64": "/w==", "value": null}"#).expect("tombstone");
        assert_eq!(t.key().expect("key"), Some(vec![0xff]));
        assert_eq!(t.value().expect("value"), None);
        assert!(Envelope::parse(b"plain text").is_err());
        assert!(
            Envelope::parse(br#"{"value_base64": "%%"}"#)
                .expect("parses")
                .value()
                .is_err()
        );
    }
}
