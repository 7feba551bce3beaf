//! What an invocation sees and does: its address, its states, and the
//! messages it sends.

use super::{Address, StateType, TypedValue, ValueSpec};
use crate::{Error, Result};
use std::time::Duration;

/// A delayed message to send, or a cancellation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delayed {
    Send {
        target: Address,
        argument: TypedValue,
        delay_ms: u64,
        /// Empty: not cancellable.
        token: String,
    },
    Cancel(String),
}

/// What a batch did: the states it changed (final value, or `None` for
/// removed) in declaration order, then what it sent, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    pub(crate) mutations: Vec<(String, Option<TypedValue>)>,
    pub(crate) messages: Vec<(Address, TypedValue)>,
    pub(crate) delayed: Vec<Delayed>,
    pub(crate) egress: Vec<(String, TypedValue)>,
}

/// What an invocation of a [`super::StatefulFunction`] works with: the
/// address it runs for, the sender of the current message, the address's
/// states, and the messages it sends.
///
/// Within a batch the invocations share one context: each sees the state
/// changes of those before it.
pub struct Context<'a> {
    address: Address,
    pub(crate) caller: Option<Address>,
    specs: &'a [ValueSpec],
    values: Vec<Option<TypedValue>>,
    changed: Vec<bool>,
    effects: Effects,
}

impl<'a> Context<'a> {
    /// A context for `address` whose declared states (`specs`) hold
    /// `values`, in the same order.
    pub(crate) fn new(
        address: Address,
        specs: &'a [ValueSpec],
        values: Vec<Option<TypedValue>>,
    ) -> Self {
        Context {
            address,
            caller: None,
            specs,
            changed: vec![false; values.len()],
            values,
            effects: Effects::default(),
        }
    }

    /// The address this function runs for.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The function that sent the current message; `None` when it came from
    /// an ingress.
    pub fn caller(&self) -> Option<&Address> {
        self.caller.as_ref()
    }

    /// The declared state `name` and its index, checked to hold `T`.
    fn slot<T: StateType>(&self, name: &str) -> Result<usize> {
        let i = self.index(name)?;
        let spec = &self.specs[i];
        if !T::accepts(spec.typename()) {
            return Err(Error::msg(format!(
                "state '{name}' of {} is declared as '{}', not {}",
                self.address.typename(),
                spec.typename(),
                T::TYPENAME.unwrap_or("a user type (JSON)")
            )));
        }
        Ok(i)
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.specs
            .iter()
            .position(|s| s.name() == name)
            .ok_or_else(|| {
                Error::msg(format!(
                    "state '{name}' is not declared in states() of {}",
                    self.address.typename()
                ))
            })
    }

    /// The value of state `name`; `None` when it is not set (or expired).
    /// The state must be declared in `states()` with a typename `T` reads.
    pub fn get<T: StateType>(&self, name: &str) -> Result<Option<T>> {
        let i = self.slot::<T>(name)?;
        match &self.values[i] {
            None => Ok(None),
            Some(v) if v.typename() != self.specs[i].typename() => Err(Error::msg(format!(
                "state '{name}' of {} holds a '{}', but is declared as '{}'",
                self.address.typename(),
                v.typename(),
                self.specs[i].typename()
            ))),
            Some(v) => T::decode(v.value()).map(Some),
        }
    }

    /// Sets state `name`, declared in `states()` with a typename `T` writes.
    pub fn set<T: StateType>(&mut self, name: &str, value: &T) -> Result<()> {
        let i = self.slot::<T>(name)?;
        let bytes = value.encode()?;
        self.values[i] = Some(TypedValue::new(self.specs[i].typename(), bytes));
        self.changed[i] = true;
        Ok(())
    }

    /// Clears state `name`, declared in `states()`.
    pub fn remove(&mut self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        self.values[i] = None;
        self.changed[i] = true;
        Ok(())
    }

    /// Sends `value` to the function at `target`.
    pub fn send(&mut self, target: Address, value: TypedValue) {
        self.effects.messages.push((target, value));
    }

    /// Sends `value` to `target` after `delay`.
    pub fn send_after(&mut self, delay: Duration, target: Address, value: TypedValue) {
        self.send_after_with_token(delay, target, value, "");
    }

    /// Sends `value` to `target` after `delay`, unless [`Context::cancel_delayed`]
    /// cancels `token` first.
    pub fn send_after_with_token(
        &mut self,
        delay: Duration,
        target: Address,
        value: TypedValue,
        token: impl Into<String>,
    ) {
        self.effects.delayed.push(Delayed::Send {
            target,
            argument: value,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            token: token.into(),
        });
    }

    /// Cancels the delayed message sent with `token`, if not yet delivered.
    pub fn cancel_delayed(&mut self, token: impl Into<String>) {
        self.effects.delayed.push(Delayed::Cancel(token.into()));
    }

    /// Sends `value` to the egress `egress_typename` (`namespace/name`).
    pub fn egress(&mut self, egress_typename: impl Into<String>, value: TypedValue) {
        self.effects.egress.push((egress_typename.into(), value));
    }

    /// The batch's effects: the changed states' final values and what was sent.
    pub(crate) fn into_effects(self) -> Effects {
        let mut effects = self.effects;
        effects.mutations = self
            .specs
            .iter()
            .zip(self.values)
            .zip(self.changed)
            .filter(|(_, changed)| *changed)
            .map(|((spec, value), _)| (spec.name().to_owned(), value))
            .collect();
        effects
    }
}
