//! The table of functions a component exports.

use super::{keyed, transform};
use crate::bindings::weir::function::types::FunctionKind;
use crate::{
    AggregateFunction, FilterFunction, FlatMapFunction, KeyedProcessFunction, MapFunction,
    ReduceFunction,
};

/// Lists a crate's functions; implemented by [`crate::export_functions!`].
pub trait Registry: 'static {
    /// Every exported function.
    fn entries() -> Vec<Entry>;
}

pub(crate) enum Factory {
    Transform(fn() -> Box<dyn transform::TransformOp>),
    Keyed(fn() -> Box<dyn keyed::KeyedOp>),
}

/// One exported function: its name, kind and constructor.
pub struct Entry {
    pub(crate) name: &'static str,
    pub(crate) kind: FunctionKind,
    pub(crate) factory: Factory,
}

impl Entry {
    /// A [`MapFunction`].
    pub fn map<F: MapFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Map,
            factory: Factory::Transform(|| Box::new(transform::Map(F::default()))),
        }
    }

    /// A [`FlatMapFunction`].
    pub fn flat_map<F: FlatMapFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::FlatMap,
            factory: Factory::Transform(|| Box::new(transform::FlatMap(F::default()))),
        }
    }

    /// A [`FilterFunction`].
    pub fn filter<F: FilterFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Filter,
            factory: Factory::Transform(|| Box::new(transform::Filter(F::default()))),
        }
    }

    /// A [`ReduceFunction`].
    pub fn reduce<F: ReduceFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Reduce,
            factory: Factory::Keyed(|| Box::new(keyed::Reduce(F::default()))),
        }
    }

    /// An [`AggregateFunction`].
    pub fn aggregate<F: AggregateFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Aggregate,
            factory: Factory::Keyed(|| Box::new(keyed::Aggregate(F::default()))),
        }
    }

    /// A [`KeyedProcessFunction`].
    pub fn keyed_process<F: KeyedProcessFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::KeyedProcess,
            factory: Factory::Keyed(|| Box::new(keyed::Process(F::default()))),
        }
    }
}
