//! The table of functions a component exports.

use super::{keyed, transform, window};
use crate::bindings::weir::function::types::FunctionKind;
use crate::{
    AggregateFunction, FilterFunction, FlatMapFunction, KeyedProcessFunction, MapFunction,
    ProcessWindowFunction, ReduceFunction, TimestampAssigner,
};

/// Lists a crate's functions; implemented by [`crate::export_functions!`].
pub trait Registry: 'static {
    /// Every exported function.
    fn entries() -> Vec<Entry>;
}

/// How an entry is opened, per host interface. Reduce and aggregate
/// functions open both as keyed functions and as window functions.
#[derive(Default)]
pub(crate) struct Factories {
    pub(crate) transform: Option<fn() -> Box<dyn transform::TransformOp>>,
    pub(crate) keyed: Option<fn() -> Box<dyn keyed::KeyedOp>>,
    pub(crate) window: Option<fn() -> Box<dyn window::WindowOp>>,
}

/// One exported function: its name, kind and constructors.
pub struct Entry {
    pub(crate) name: &'static str,
    pub(crate) kind: FunctionKind,
    pub(crate) side_outputs: &'static [&'static str],
    pub(crate) factories: Factories,
}

impl Entry {
    fn transform(
        name: &'static str,
        kind: FunctionKind,
        make: fn() -> Box<dyn transform::TransformOp>,
    ) -> Self {
        Entry {
            name,
            kind,
            side_outputs: &[],
            factories: Factories {
                transform: Some(make),
                ..Factories::default()
            },
        }
    }

    /// A [`MapFunction`].
    pub fn map<F: MapFunction>(name: &'static str) -> Self {
        Self::transform(name, FunctionKind::Map, || {
            Box::new(transform::Map(F::default()))
        })
    }

    /// A [`FlatMapFunction`].
    pub fn flat_map<F: FlatMapFunction>(name: &'static str) -> Self {
        Entry {
            side_outputs: F::SIDE_OUTPUTS,
            ..Self::transform(name, FunctionKind::FlatMap, || {
                Box::new(transform::FlatMap(F::default()))
            })
        }
    }

    /// A [`FilterFunction`].
    pub fn filter<F: FilterFunction>(name: &'static str) -> Self {
        Self::transform(name, FunctionKind::Filter, || {
            Box::new(transform::Filter(F::default(), None))
        })
    }

    /// A [`TimestampAssigner`].
    pub fn timestamp_assigner<F: TimestampAssigner>(name: &'static str) -> Self {
        Self::transform(name, FunctionKind::TimestampAssigner, || {
            Box::new(transform::Timestamps(F::default(), None))
        })
    }

    /// A [`ReduceFunction`]: on a keyed stream or a window.
    pub fn reduce<F: ReduceFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Reduce,
            side_outputs: &[],
            factories: Factories {
                keyed: Some(|| Box::new(keyed::Reduce(F::default(), Vec::new()))),
                window: Some(|| Box::new(window::ReduceWindow(F::default()))),
                ..Factories::default()
            },
        }
    }

    /// An [`AggregateFunction`]: on a keyed stream or a window.
    pub fn aggregate<F: AggregateFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::Aggregate,
            side_outputs: &[],
            factories: Factories {
                keyed: Some(|| Box::new(keyed::Aggregate(F::default(), Vec::new()))),
                window: Some(|| Box::new(window::AggregateWindow(F::default()))),
                ..Factories::default()
            },
        }
    }

    /// A [`KeyedProcessFunction`].
    pub fn keyed_process<F: KeyedProcessFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::KeyedProcess,
            side_outputs: F::SIDE_OUTPUTS,
            factories: Factories {
                keyed: Some(|| Box::new(keyed::Process(F::default()))),
                ..Factories::default()
            },
        }
    }

    /// A [`ProcessWindowFunction`] over all elements of a window.
    pub fn process_window<F: ProcessWindowFunction>(name: &'static str) -> Self {
        Entry {
            name,
            kind: FunctionKind::ProcessWindow,
            side_outputs: F::SIDE_OUTPUTS,
            factories: Factories {
                window: Some(|| Box::new(window::ProcessWindow(F::default()))),
                ..Factories::default()
            },
        }
    }

    /// An incremental [`AggregateFunction`] whose result a
    /// [`ProcessWindowFunction`] renders with the window (windows only).
    pub fn window_aggregate<A, P>(name: &'static str) -> Self
    where
        A: AggregateFunction,
        P: ProcessWindowFunction<In = A::Out>,
    {
        Entry {
            name,
            kind: FunctionKind::Aggregate,
            side_outputs: P::SIDE_OUTPUTS,
            factories: Factories {
                window: Some(|| {
                    Box::new(window::Then(
                        window::AggregateWindow(A::default()),
                        P::default(),
                    ))
                }),
                ..Factories::default()
            },
        }
    }

    /// An incremental [`ReduceFunction`] whose result a
    /// [`ProcessWindowFunction`] renders with the window (windows only).
    pub fn window_reduce<R, P>(name: &'static str) -> Self
    where
        R: ReduceFunction,
        P: ProcessWindowFunction<In = R::T>,
    {
        Entry {
            name,
            kind: FunctionKind::Reduce,
            side_outputs: P::SIDE_OUTPUTS,
            factories: Factories {
                window: Some(|| {
                    Box::new(window::Then(
                        window::ReduceWindow(R::default()),
                        P::default(),
                    ))
                }),
                ..Factories::default()
            },
        }
    }
}
