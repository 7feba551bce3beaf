//! The host's duties toward remote functions, without I/O: which batch to
//! send to which address and when, what the function type's registered
//! states are, and what an answer asks the host to do.
//!
//! - One request in flight per address. Messages that arrive meanwhile wait
//!   in the address's backlog, in order, and go together as the next batch
//!   (at most `max_batch` messages). A full backlog (`max_backlog`) refuses
//!   the message: the caller holds it back (backpressure).
//! - Every registered state of the function type is attached to every
//!   request ([`Dispatcher::request`]); the caller supplies the values.
//! - `IncompleteInvocationContext`: the missing states are registered and
//!   the same batch is to be sent again. A name registered with another
//!   typename is an error.
//! - An accepted response becomes [`Effects`] in the order they apply:
//!   messages, delayed messages (or cancellations), egress, state
//!   mutations. A malformed response is an error and changes nothing: the
//!   batch stays in flight, to be retried or set aside ([`Dispatcher::abandon`]).
//! - The pending messages (in flight and backlogged) and the registry are a
//!   snapshot; after a restore, batches that were in flight are sent again
//!   (the call is at-least-once, its effects are applied once).

use crate::proto::{self, FromFunction, ToFunction, TypedValue};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A function type: its namespace and name (`namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionType {
    /// The namespace.
    pub namespace: String,
    /// The type's name.
    pub name: String,
}

/// One function instance: its type and id (`namespace/name/id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// Its type.
    pub function: FunctionType,
    /// Its id.
    pub id: String,
}

impl Address {
    /// An address from its parts.
    pub fn new(namespace: &str, name: &str, id: &str) -> Self {
        Address {
            function: FunctionType {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            id: id.to_owned(),
        }
    }

    /// Parses `namespace/name/id` (the id may contain `/`).
    pub fn parse(text: &str) -> Option<Address> {
        let (namespace, rest) = text.split_once('/')?;
        let (name, id) = rest.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !id.is_empty())
            .then(|| Address::new(namespace, name, id))
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::Address {
        proto::Address {
            namespace: self.function.namespace.clone(),
            r#type: self.function.name.clone(),
            id: self.id.clone(),
        }
    }

    /// From the wire form; every part must be present.
    pub fn from_proto(a: &proto::Address) -> Result<Address, ProtocolError> {
        if a.namespace.is_empty() || a.r#type.is_empty() || a.id.is_empty() {
            return Err(ProtocolError::BadAddress(format!(
                "{}/{}/{}",
                a.namespace, a.r#type, a.id
            )));
        }
        Ok(Address::new(&a.namespace, &a.r#type, &a.id))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.function.namespace, self.function.name, self.id
        )
    }
}

/// A message for a function: who sent it (none from an ingress) and its
/// value.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sending function, if a function sent it.
    pub caller: Option<Address>,
    /// The value.
    pub argument: TypedValue,
}

/// When a state's value expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiration {
    /// Never.
    Never,
    /// This long after it was last written.
    AfterWriteMs(u64),
    /// This long after the address was last invoked (or the state written).
    AfterInvokeMs(u64),
}

/// A state a function type registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSpec {
    /// Its name.
    pub name: String,
    /// The typename of its values.
    pub typename: String,
    /// When its value expires.
    pub expiration: Expiration,
}

/// Messages for one address, sent as one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The address.
    pub address: Address,
    /// Its messages, in the order they arrived.
    pub messages: Vec<Message>,
}

/// A delayed message, or the cancellation of one.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a few per response, never stored in bulk
pub enum DelayedOp {
    /// Deliver `message` to `target` after `delay_ms`.
    Send {
        /// Milliseconds from now.
        delay_ms: u64,
        /// Its cancellation token (may be empty: not cancellable).
        token: String,
        /// Where it goes.
        target: Address,
        /// What it carries (its caller is the sending address).
        message: Message,
    },
    /// Cancel the pending delayed message with this token, if any.
    Cancel {
        /// The token.
        token: String,
    },
}

/// A message for an egress.
#[derive(Debug, Clone, PartialEq)]
pub struct Egress {
    /// The egress's namespace.
    pub namespace: String,
    /// The egress's type.
    pub name: String,
    /// The value.
    pub argument: TypedValue,
}

/// A change of one state of the responding address.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// The state has no value any more.
    Delete(String),
    /// The state's new value.
    Modify(String, TypedValue),
}

/// What an accepted response asks for, in the order it applies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effects {
    /// Messages to other functions (or itself).
    pub messages: Vec<(Address, Message)>,
    /// Delayed messages and cancellations.
    pub delayed: Vec<DelayedOp>,
    /// Egress messages.
    pub egress: Vec<Egress>,
    /// State changes of the responding address.
    pub mutations: Vec<Mutation>,
}

/// What to do after a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response is accepted: apply `effects`, then send `next` if any
    /// (the backlog, now in flight).
    Applied {
        /// What it asks for.
        effects: Effects,
        /// The next batch for the address.
        next: Option<Batch>,
    },
    /// The function needed states it was not sent; they are registered now.
    /// Send this (the same) batch again.
    Resend(Batch),
}

/// What became of an enqueued message.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// Nothing was in flight for the address: send this batch now.
    Send(Batch),
    /// It waits in the address's backlog.
    Queued,
    /// The backlog is full: hold the message back and offer it again
    /// after a response for the address.
    Full(Message),
}

/// A response (or the lack of one) the host cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A response for an address with no request in flight.
    #[error("a response for {0}, which has no request in flight")]
    NotInFlight(String),
    /// An address without namespace, type or id.
    #[error("a message to the incomplete address '{0}'")]
    BadAddress(String),
    /// A state registered twice with different typenames.
    #[error(
        "state '{state}' of {function} is registered as '{registered}', the function now says '{asked}'"
    )]
    StateTypeConflict {
        /// The function type.
        function: String,
        /// The state.
        state: String,
        /// The typename registered first.
        registered: String,
        /// The typename asked for now.
        asked: String,
    },
    /// A mutation of a state the function type never registered.
    #[error("{address} changed state '{state}', which it never registered")]
    UnknownState {
        /// The responding address.
        address: String,
        /// The state.
        state: String,
    },
    /// A `MODIFY` whose value is not of the state's registered type.
    #[error("{address} wrote state '{state}' as '{written}', registered as '{registered}'")]
    WrongStateType {
        /// The responding address.
        address: String,
        /// The state.
        state: String,
        /// The typename written.
        written: String,
        /// The registered typename.
        registered: String,
    },
    /// A negative delay.
    #[error("{address} asked for a delay of {delay_ms} ms")]
    NegativeDelay {
        /// The responding address.
        address: String,
        /// The delay.
        delay_ms: i64,
    },
}

/// What waits for one address.
#[derive(Debug, Default)]
struct Slot {
    in_flight: Option<Vec<Message>>,
    backlog: VecDeque<Message>,
}

/// The pending messages and the registry, as a checkpoint keeps them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Every function type's registered states.
    pub registry: Vec<(FunctionType, Vec<StateSpec>)>,
    /// Each address's messages not yet answered, oldest first (the batch
    /// in flight, then the backlog).
    pub pending: Vec<(Address, Vec<Message>)>,
}

/// The sans-IO core: see the module documentation.
#[derive(Debug)]
pub struct Dispatcher {
    registry: HashMap<FunctionType, BTreeMap<String, StateSpec>>,
    slots: HashMap<Address, Slot>,
    max_batch: usize,
    max_backlog: usize,
}

impl Dispatcher {
    /// A dispatcher sending at most `max_batch` messages per request and
    /// keeping at most `max_backlog` waiting per address (both at least 1).
    pub fn new(max_batch: usize, max_backlog: usize) -> Self {
        Dispatcher {
            registry: HashMap::new(),
            slots: HashMap::new(),
            max_batch: max_batch.max(1),
            max_backlog: max_backlog.max(1),
        }
    }

    /// The registered states of `function`, by name.
    pub fn states(&self, function: &FunctionType) -> impl Iterator<Item = &StateSpec> {
        self.registry
            .get(function)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Registers a state of `function`; one already registered under the
    /// same name must have the same typename.
    pub fn register(
        &mut self,
        function: &FunctionType,
        spec: StateSpec,
    ) -> Result<(), ProtocolError> {
        let states = self.registry.entry(function.clone()).or_default();
        match states.get(&spec.name) {
            Some(old) if old.typename != spec.typename => Err(ProtocolError::StateTypeConflict {
                function: format!("{}/{}", function.namespace, function.name),
                state: spec.name.clone(),
                registered: old.typename.clone(),
                asked: spec.typename,
            }),
            Some(_) => Ok(()),
            None => {
                states.insert(spec.name.clone(), spec);
                Ok(())
            }
        }
    }

    /// Offers a message for `target`.
    pub fn enqueue(&mut self, target: &Address, message: Message) -> Enqueued {
        let slot = self.slots.entry(target.clone()).or_default();
        if slot.in_flight.is_none() {
            slot.in_flight = Some(vec![message.clone()]);
            return Enqueued::Send(Batch {
                address: target.clone(),
                messages: vec![message],
            });
        }
        if slot.backlog.len() >= self.max_backlog {
            return Enqueued::Full(message);
        }
        slot.backlog.push_back(message);
        Enqueued::Queued
    }

    /// The request for `batch`, with every registered state of its
    /// function type; `value` gives a state's current value (none: sent
    /// by name only).
    pub fn request(&self, batch: &Batch, value: impl Fn(&str) -> Option<TypedValue>) -> ToFunction {
        use proto::to_function::{Invocation, InvocationBatchRequest, PersistedValue, Request};
        let state = self
            .states(&batch.address.function)
            .map(|s| PersistedValue {
                state_name: s.name.clone(),
                state_value: value(&s.name),
            })
            .collect();
        let invocations = batch
            .messages
            .iter()
            .map(|m| Invocation {
                caller: m.caller.as_ref().map(Address::to_proto),
                argument: Some(m.argument.clone()),
            })
            .collect();
        ToFunction {
            request: Some(Request::Invocation(InvocationBatchRequest {
                target: Some(batch.address.to_proto()),
                state,
                invocations,
            })),
        }
    }

    /// Takes the response to the batch in flight for `address`.
    pub fn on_reply(
        &mut self,
        address: &Address,
        reply: FromFunction,
    ) -> Result<Outcome, ProtocolError> {
        use proto::from_function::Response;
        let in_flight = self
            .slots
            .get(address)
            .and_then(|s| s.in_flight.clone())
            .ok_or_else(|| ProtocolError::NotInFlight(address.to_string()))?;
        // No response at all is an empty result, as StateFun reads it: the
        // Python SDK sends an empty body when a function did nothing.
        match reply
            .response
            .unwrap_or_else(|| Response::InvocationResult(Default::default()))
        {
            Response::IncompleteInvocationContext(ctx) => {
                for v in &ctx.missing_values {
                    self.register(&address.function, spec_of(v))?;
                }
                Ok(Outcome::Resend(Batch {
                    address: address.clone(),
                    messages: in_flight,
                }))
            }
            Response::InvocationResult(r) => {
                let effects = self.effects_of(address, r)?;
                Ok(Outcome::Applied {
                    effects,
                    next: self.advance(address),
                })
            }
        }
    }

    /// Sets the batch in flight for `address` aside (its function keeps
    /// failing on it: the caller dead-letters it); the next batch, if any,
    /// goes in flight.
    pub fn abandon(&mut self, address: &Address) -> Option<(Vec<Message>, Option<Batch>)> {
        let failed = self.slots.get_mut(address)?.in_flight.take()?;
        Some((failed, self.advance(address)))
    }

    /// Ends the batch in flight and puts the backlog's head in flight.
    fn advance(&mut self, address: &Address) -> Option<Batch> {
        let slot = self.slots.get_mut(address)?;
        let n = slot.backlog.len().min(self.max_batch);
        if n == 0 {
            self.slots.remove(address);
            return None;
        }
        let messages: Vec<Message> = slot.backlog.drain(..n).collect();
        slot.in_flight = Some(messages.clone());
        Some(Batch {
            address: address.clone(),
            messages,
        })
    }

    /// Checks a result and turns it into effects.
    fn effects_of(
        &self,
        address: &Address,
        r: proto::from_function::InvocationResponse,
    ) -> Result<Effects, ProtocolError> {
        use proto::from_function::persisted_value_mutation::MutationType;
        let target = |a: Option<&proto::Address>| {
            Address::from_proto(a.unwrap_or(&proto::Address::default()))
        };
        let me = Some(address.clone());
        let mut out = Effects::default();
        for m in &r.outgoing_messages {
            out.messages.push((
                target(m.target.as_ref())?,
                Message {
                    caller: me.clone(),
                    argument: m.argument.clone().unwrap_or_default(),
                },
            ));
        }
        for d in &r.delayed_invocations {
            if d.is_cancellation_request {
                out.delayed.push(DelayedOp::Cancel {
                    token: d.cancellation_token.clone(),
                });
                continue;
            }
            let delay_ms =
                u64::try_from(d.delay_in_ms).map_err(|_| ProtocolError::NegativeDelay {
                    address: address.to_string(),
                    delay_ms: d.delay_in_ms,
                })?;
            out.delayed.push(DelayedOp::Send {
                delay_ms,
                token: d.cancellation_token.clone(),
                target: target(d.target.as_ref())?,
                message: Message {
                    caller: me.clone(),
                    argument: d.argument.clone().unwrap_or_default(),
                },
            });
        }
        for e in &r.outgoing_egresses {
            out.egress.push(Egress {
                namespace: e.egress_namespace.clone(),
                name: e.egress_type.clone(),
                argument: e.argument.clone().unwrap_or_default(),
            });
        }
        let states = self.registry.get(&address.function);
        for m in &r.state_mutations {
            let Some(spec) = states.and_then(|s| s.get(&m.state_name)) else {
                return Err(ProtocolError::UnknownState {
                    address: address.to_string(),
                    state: m.state_name.clone(),
                });
            };
            out.mutations.push(match m.mutation_type() {
                MutationType::Delete => Mutation::Delete(m.state_name.clone()),
                MutationType::Modify => {
                    let v = m.state_value.clone().unwrap_or_default();
                    if v.typename != spec.typename {
                        return Err(ProtocolError::WrongStateType {
                            address: address.to_string(),
                            state: m.state_name.clone(),
                            written: v.typename,
                            registered: spec.typename.clone(),
                        });
                    }
                    Mutation::Modify(m.state_name.clone(), v)
                }
            });
        }
        Ok(out)
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.slots
            .values()
            .filter(|s| s.in_flight.is_some())
            .count()
    }

    /// Whether no message waits anywhere (nothing in flight or queued).
    pub fn is_idle(&self) -> bool {
        self.slots.is_empty()
    }

    /// The pending messages and the registry, for a checkpoint.
    pub fn snapshot(&self) -> Snapshot {
        let mut registry: Vec<(FunctionType, Vec<StateSpec>)> = self
            .registry
            .iter()
            .map(|(f, s)| (f.clone(), s.values().cloned().collect()))
            .collect();
        registry.sort_by(|a, b| a.0.cmp(&b.0));
        let mut pending: Vec<(Address, Vec<Message>)> = self
            .slots
            .iter()
            .map(|(a, s)| {
                let mut m = s.in_flight.clone().unwrap_or_default();
                m.extend(s.backlog.iter().cloned());
                (a.clone(), m)
            })
            .filter(|(_, m)| !m.is_empty())
            .collect();
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        Snapshot { registry, pending }
    }

    /// A dispatcher restored from `snapshot`, and the batches to send now
    /// (what was in flight is sent again: its response was never applied).
    pub fn restore(
        snapshot: Snapshot,
        max_batch: usize,
        max_backlog: usize,
    ) -> (Dispatcher, Vec<Batch>) {
        let mut d = Dispatcher::new(max_batch, max_backlog);
        for (f, specs) in snapshot.registry {
            d.registry
                .insert(f, specs.into_iter().map(|s| (s.name.clone(), s)).collect());
        }
        let mut send = Vec::new();
        for (address, messages) in snapshot.pending {
            let mut backlog: VecDeque<Message> = messages.into();
            let first: Vec<Message> = backlog.drain(..backlog.len().min(d.max_batch)).collect();
            send.push(Batch {
                address: address.clone(),
                messages: first.clone(),
            });
            d.slots.insert(
                address,
                Slot {
                    in_flight: Some(first),
                    backlog,
                },
            );
        }
        (d, send)
    }
}

/// A state spec from the wire.
fn spec_of(v: &proto::from_function::PersistedValueSpec) -> StateSpec {
    use proto::from_function::expiration_spec::ExpireMode;
    let expiration = match &v.expiration_spec {
        Some(e) => {
            let ms = u64::try_from(e.expire_after_millis).unwrap_or(0);
            match e.mode() {
                ExpireMode::None => Expiration::Never,
                ExpireMode::AfterWrite => Expiration::AfterWriteMs(ms),
                ExpireMode::AfterInvoke => Expiration::AfterInvokeMs(ms),
            }
        }
        None => Expiration::Never,
    };
    StateSpec {
        name: v.state_name.clone(),
        typename: v.type_typename.clone(),
        expiration,
    }
}

#[cfg(test)]
mod tests;
