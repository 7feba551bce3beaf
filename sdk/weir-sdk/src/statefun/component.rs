//! The WIT export `weir:function/stateful`: converts between the generated
//! types and the plain ones the batch runner uses.

use super::context::{Delayed, Effects};
use super::rt::{Batch, BatchResult, Dispatcher, Registry};
use super::{Address, Expiration, Message, TypedValue, ValueSpec};
use crate::statefun_bindings::exports::weir::function::stateful as w;
use std::cell::RefCell;
use std::marker::PhantomData;

/// The exported component of a stateful function crate.
pub struct Component<R>(PhantomData<R>);

thread_local! {
    /// The instances; a component runs on one thread.
    static DISPATCHER: RefCell<Option<Dispatcher>> = const { RefCell::new(None) };
}

impl<R: Registry> w::Guest for Component<R> {
    fn function_types() -> Vec<String> {
        R::entries().iter().map(|e| e.typename.to_owned()).collect()
    }

    fn invoke(batches: Vec<w::Batch>) -> Vec<w::BatchResult> {
        DISPATCHER.with(|d| {
            let mut d = d.borrow_mut();
            let d = d.get_or_insert_with(|| Dispatcher::new(R::entries()));
            batches
                .into_iter()
                .map(|b| to_wit(d.run(from_wit(b))))
                .collect()
        })
    }
}

fn address(a: w::Address) -> Address {
    Address::new(a.namespace, a.type_, a.id)
}

fn typed(v: w::TypedValue) -> TypedValue {
    TypedValue::new(v.typename, v.value)
}

fn from_wit(b: w::Batch) -> Batch {
    Batch {
        target: address(b.target),
        states: b
            .states
            .into_iter()
            .map(|s| (s.name, s.value.map(typed)))
            .collect(),
        invocations: b
            .invocations
            .into_iter()
            .map(|i| Message::new(i.caller.map(address), typed(i.argument)))
            .collect(),
    }
}

fn wit_address(a: Address) -> w::Address {
    let (namespace, type_, id) = a.into_parts();
    w::Address {
        namespace,
        type_,
        id,
    }
}

fn wit_typed(v: TypedValue) -> w::TypedValue {
    let (typename, value) = v.into_parts();
    w::TypedValue { typename, value }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn wit_spec(s: ValueSpec) -> w::StateSpec {
    let (expire_mode, after) = match s.expiration() {
        Expiration::Never => (w::ExpireMode::Never, 0),
        Expiration::AfterWrite(d) => (w::ExpireMode::AfterWrite, millis(d)),
        Expiration::AfterInvoke(d) => (w::ExpireMode::AfterInvoke, millis(d)),
    };
    w::StateSpec {
        name: s.name().to_owned(),
        typename: s.typename().to_owned(),
        expire_mode,
        expire_after_ms: after,
    }
}

fn wit_effects(e: Effects) -> w::Effects {
    w::Effects {
        mutations: e
            .mutations
            .into_iter()
            .map(|(name, value)| w::Mutation {
                name,
                value: value.map(wit_typed),
            })
            .collect(),
        messages: e
            .messages
            .into_iter()
            .map(|(target, argument)| w::Outgoing {
                target: wit_address(target),
                argument: wit_typed(argument),
            })
            .collect(),
        delayed: e
            .delayed
            .into_iter()
            .map(|d| match d {
                Delayed::Send {
                    target,
                    argument,
                    delay_ms,
                    token,
                } => w::Delayed::Send(w::DelayedMessage {
                    target: wit_address(target),
                    argument: wit_typed(argument),
                    delay_ms,
                    cancellation_token: token,
                }),
                Delayed::Cancel(token) => w::Delayed::Cancel(token),
            })
            .collect(),
        egress: e
            .egress
            .into_iter()
            .map(|(egress, argument)| w::EgressMessage {
                egress,
                argument: wit_typed(argument),
            })
            .collect(),
    }
}

fn to_wit(r: BatchResult) -> w::BatchResult {
    match r {
        BatchResult::Done(e) => w::BatchResult::Done(wit_effects(e)),
        BatchResult::MissingStates(specs) => {
            w::BatchResult::MissingStates(specs.into_iter().map(wit_spec).collect())
        }
        BatchResult::Failed(m) => w::BatchResult::Failed(m),
    }
}
