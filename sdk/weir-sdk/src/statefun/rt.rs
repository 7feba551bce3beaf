//! The machinery behind [`crate::export_stateful_functions!`]: the table
//! of function types and the batch runner, over plain Rust values (the WIT
//! glue is in `component.rs`). Not part of the public API.

use super::context::Effects;
use super::{Address, Context, Message, StatefulFunction, TypedValue, ValueSpec};

pub use super::component::Component;

/// Lists a crate's function types; implemented by
/// [`crate::export_stateful_functions!`].
pub trait Registry: 'static {
    /// Every exported function type.
    fn entries() -> Vec<Entry>;
}

/// One exported function type: its typename and constructor.
pub struct Entry {
    pub(crate) typename: &'static str,
    make: fn() -> Box<dyn Run>,
}

impl Entry {
    /// The function type `typename` (`namespace/name`), served by `F`.
    pub fn of<F: StatefulFunction + Default + 'static>(typename: &'static str) -> Self {
        Entry {
            typename,
            make: || {
                Box::new(Instance {
                    function: F::default(),
                    specs: F::states(),
                })
            },
        }
    }
}

/// The messages for one address, in order, and the values of its
/// registered states (an absent entry: the state is not registered).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Batch {
    pub(crate) target: Address,
    pub(crate) states: Vec<(String, Option<TypedValue>)>,
    pub(crate) invocations: Vec<Message>,
}

/// The outcome of one batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BatchResult {
    Done(Effects),
    MissingStates(Vec<ValueSpec>),
    Failed(String),
}

/// A function instance, its type erased.
pub(crate) trait Run {
    fn run(&mut self, batch: Batch) -> BatchResult;
}

struct Instance<F> {
    function: F,
    specs: Vec<ValueSpec>,
}

impl<F: StatefulFunction> Run for Instance<F> {
    fn run(&mut self, batch: Batch) -> BatchResult {
        run_batch(&mut self.function, &self.specs, batch)
    }
}

/// Runs a batch's invocations in order against one context, as the StateFun
/// SDKs do: all of them or (on an error) none.
pub(crate) fn run_batch<F: StatefulFunction>(
    function: &mut F,
    specs: &[ValueSpec],
    batch: Batch,
) -> BatchResult {
    let mut given = batch.states;
    let mut values = Vec::with_capacity(specs.len());
    for spec in specs {
        match given.iter().position(|(name, _)| name == spec.name()) {
            Some(i) => values.push(given.swap_remove(i).1),
            None => return BatchResult::MissingStates(specs.to_vec()),
        }
    }
    let mut ctx = Context::new(batch.target, specs, values);
    for message in batch.invocations {
        ctx.caller = message.caller().cloned();
        if let Err(e) = function.invoke(&mut ctx, message) {
            return BatchResult::Failed(e.to_string());
        }
    }
    BatchResult::Done(ctx.into_effects())
}

/// The component's function types and their instances, one per type,
/// made on its first batch and kept for the component's life.
pub(crate) struct Dispatcher {
    entries: Vec<Entry>,
    instances: Vec<Option<Box<dyn Run>>>,
}

impl Dispatcher {
    pub(crate) fn new(entries: Vec<Entry>) -> Self {
        let instances = entries.iter().map(|_| None).collect();
        Dispatcher { entries, instances }
    }

    /// The typenames served.
    pub(crate) fn typenames(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.typename.to_owned()).collect()
    }

    /// Runs a batch on the instance of its target's function type.
    pub(crate) fn run(&mut self, batch: Batch) -> BatchResult {
        let typename = batch.target.typename();
        let Some(i) = self.entries.iter().position(|e| e.typename == typename) else {
            return BatchResult::Failed(format!(
                "no function '{typename}' in this component; it has: {}",
                self.typenames().join(", ")
            ));
        };
        let make = self.entries[i].make;
        self.instances[i].get_or_insert_with(make).run(batch)
    }
}
