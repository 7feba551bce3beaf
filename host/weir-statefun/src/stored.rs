//! What the host keeps for stateful functions, as bytes for a state
//! backend or a checkpoint: each address's state values (with the times
//! their expiration counts from), its pending delayed messages, and the
//! messages a checkpoint holds in flight. postcard-encoded; the layout is
//! part of the checkpoint format.

use crate::dispatch::{Address, Expiration, FunctionType, Message, Snapshot, StateSpec};
use crate::proto::TypedValue;
use serde::{Deserialize, Serialize};

/// Stored bytes that do not decode.
#[derive(Debug, thiserror::Error)]
#[error("stored stateful-function data is corrupt: {0}")]
pub struct Corrupt(String);

fn decode<T: for<'a> Deserialize<'a>>(bytes: &[u8]) -> Result<T, Corrupt> {
    postcard::from_bytes(bytes).map_err(|e| Corrupt(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs into a Vec cannot fail.
    postcard::to_allocvec(v).unwrap_or_default()
}

/// A typed value as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Value {
    typename: String,
    has_value: bool,
    bytes: Vec<u8>,
}

impl From<&TypedValue> for Value {
    fn from(v: &TypedValue) -> Self {
        Value {
            typename: v.typename.clone(),
            has_value: v.has_value,
            bytes: v.value.clone(),
        }
    }
}

impl From<Value> for TypedValue {
    fn from(v: Value) -> Self {
        TypedValue {
            typename: v.typename,
            has_value: v.has_value,
            value: v.bytes,
        }
    }
}

/// One state value of an address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    name: String,
    value: Value,
    written_ms: i64,
}

/// The state values of one address and when it was last invoked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AddressState {
    slots: Vec<Slot>,
    invoked_ms: i64,
}

impl AddressState {
    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<AddressState, Corrupt> {
        decode(bytes)
    }

    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The live value of `spec`'s state at `now_ms` (none once expired).
    pub fn value(&self, spec: &StateSpec, now_ms: i64) -> Option<TypedValue> {
        let slot = self.slots.iter().find(|s| s.name == spec.name)?;
        let expired = match spec.expiration {
            Expiration::Never => false,
            Expiration::AfterWriteMs(ttl) => now_ms - slot.written_ms >= ttl as i64,
            Expiration::AfterInvokeMs(ttl) => {
                now_ms - slot.written_ms.max(self.invoked_ms) >= ttl as i64
            }
        };
        (!expired).then(|| slot.value.clone().into())
    }

    /// Records an invocation at `now_ms` (after-invoke expiration counts
    /// from it).
    pub fn invoked(&mut self, now_ms: i64) {
        self.invoked_ms = now_ms;
    }

    /// Sets a state's value.
    pub fn set(&mut self, name: &str, value: &TypedValue, now_ms: i64) {
        let slot = Slot {
            name: name.to_owned(),
            value: value.into(),
            written_ms: now_ms,
        };
        match self.slots.iter_mut().find(|s| s.name == name) {
            Some(s) => *s = slot,
            None => self.slots.push(slot),
        }
    }

    /// Removes a state's value.
    pub fn delete(&mut self, name: &str) {
        self.slots.retain(|s| s.name != name);
    }

    /// Drops values expired at `now_ms` under `specs`.
    pub fn expire<'a>(&mut self, specs: impl Iterator<Item = &'a StateSpec>, now_ms: i64) {
        let dead: Vec<String> = specs
            .filter(|s| {
                self.slots.iter().any(|v| v.name == s.name) && self.value(s, now_ms).is_none()
            })
            .map(|s| s.name.clone())
            .collect();
        self.slots.retain(|s| !dead.contains(&s.name));
    }
}

/// An address as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredAddress(String, String, String);

impl From<&Address> for StoredAddress {
    fn from(a: &Address) -> Self {
        StoredAddress(
            a.function.namespace.clone(),
            a.function.name.clone(),
            a.id.clone(),
        )
    }
}

impl From<StoredAddress> for Address {
    fn from(a: StoredAddress) -> Self {
        Address::new(&a.0, &a.1, &a.2)
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredMessage {
    caller: Option<StoredAddress>,
    argument: Value,
}

impl From<&Message> for StoredMessage {
    fn from(m: &Message) -> Self {
        StoredMessage {
            caller: m.caller.as_ref().map(StoredAddress::from),
            argument: (&m.argument).into(),
        }
    }
}

impl From<StoredMessage> for Message {
    fn from(m: StoredMessage) -> Self {
        Message {
            caller: m.caller.map(Address::from),
            argument: m.argument.into(),
        }
    }
}

/// A delayed message waiting in its sender's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Delayed {
    /// When it is due, ms since the epoch.
    pub due_ms: i64,
    /// Where it goes.
    pub target: Address,
    /// What it carries.
    pub message: Message,
}

#[derive(Serialize, Deserialize)]
struct StoredDelayed {
    due_ms: i64,
    target: StoredAddress,
    message: StoredMessage,
}

impl Delayed {
    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Delayed, Corrupt> {
        let d: StoredDelayed = decode(bytes)?;
        Ok(Delayed {
            due_ms: d.due_ms,
            target: d.target.into(),
            message: d.message.into(),
        })
    }

    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        encode(&StoredDelayed {
            due_ms: self.due_ms,
            target: (&self.target).into(),
            message: (&self.message).into(),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredSpec {
    name: String,
    typename: String,
    /// 0 never, 1 after write, 2 after invoke.
    mode: u8,
    ttl_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    registry: Vec<(String, String, Vec<StoredSpec>)>,
    pending: Vec<(StoredAddress, Vec<StoredMessage>)>,
}

/// Encodes a dispatcher snapshot for a checkpoint's operator state.
pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let registry = s
        .registry
        .iter()
        .map(|(f, specs)| {
            let specs = specs
                .iter()
                .map(|sp| {
                    let (mode, ttl_ms) = match sp.expiration {
                        Expiration::Never => (0, 0),
                        Expiration::AfterWriteMs(t) => (1, t),
                        Expiration::AfterInvokeMs(t) => (2, t),
                    };
                    StoredSpec {
                        name: sp.name.clone(),
                        typename: sp.typename.clone(),
                        mode,
                        ttl_ms,
                    }
                })
                .collect();
            (f.namespace.clone(), f.name.clone(), specs)
        })
        .collect();
    let pending = s
        .pending
        .iter()
        .map(|(a, ms)| (a.into(), ms.iter().map(StoredMessage::from).collect()))
        .collect();
    encode(&StoredSnapshot { registry, pending })
}

/// Decodes what [`encode_snapshot`] wrote.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, Corrupt> {
    let s: StoredSnapshot = decode(bytes)?;
    let registry = s
        .registry
        .into_iter()
        .map(|(ns, name, specs)| {
            let specs = specs
                .into_iter()
                .map(|sp| StateSpec {
                    name: sp.name,
                    typename: sp.typename,
                    expiration: match sp.mode {
                        1 => Expiration::AfterWriteMs(sp.ttl_ms),
                        2 => Expiration::AfterInvokeMs(sp.ttl_ms),
                        _ => Expiration::Never,
                    },
                })
                .collect();
            (
                FunctionType {
                    namespace: ns,
                    name,
                },
                specs,
            )
        })
        .collect();
    let pending = s
        .pending
        .into_iter()
        .map(|(a, ms)| (a.into(), ms.into_iter().map(Message::from).collect()))
        .collect();
    Ok(Snapshot { registry, pending })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(typename: &str, bytes: &[u8]) -> TypedValue {
        TypedValue {
            typename: typename.into(),
            has_value: true,
            value: bytes.to_vec(),
        }
    }

    #[test]
    fn values_expire_after_write_or_after_invoke() {
        let spec = |e| StateSpec {
            name: "seen".into(),
            typename: "t/x".into(),
            expiration: e,
        };
        let mut s = AddressState::default();
        s.set("seen", &tv("t/x", b"1"), 1000);
        let s = AddressState::decode(&s.encode()).expect("round trip");
        assert!(s.value(&spec(Expiration::Never), 1_000_000).is_some());
        let w = spec(Expiration::AfterWriteMs(100));
        assert!(s.value(&w, 1099).is_some());
        assert!(s.value(&w, 1100).is_none());
        let i = spec(Expiration::AfterInvokeMs(100));
        let mut s2 = s.clone();
        s2.invoked(1090);
        assert!(s2.value(&i, 1150).is_some(), "the invocation renewed it");
        assert!(s.value(&i, 1150).is_none());
        let mut s3 = s.clone();
        s3.expire([w].iter(), 2000);
        assert!(s3.is_empty());
    }

    #[test]
    fn snapshots_and_delayed_messages_round_trip() {
        let a = Address::new("ns", "f", "1");
        let m = Message {
            caller: Some(Address::new("ns", "g", "2")),
            argument: tv("t/x", b"hi"),
        };
        let snap = Snapshot {
            registry: vec![(
                a.function.clone(),
                vec![StateSpec {
                    name: "s".into(),
                    typename: "t/y".into(),
                    expiration: Expiration::AfterInvokeMs(5),
                }],
            )],
            pending: vec![(a.clone(), vec![m.clone(), m.clone()])],
        };
        let back = decode_snapshot(&encode_snapshot(&snap)).expect("decodes");
        assert_eq!(back, snap);
        let d = Delayed {
            due_ms: 42,
            target: a,
            message: m,
        };
        assert_eq!(Delayed::decode(&d.encode()).expect("decodes"), d);
        assert!(decode_snapshot(b"\xff\xff\xff").is_err());
    }
}
