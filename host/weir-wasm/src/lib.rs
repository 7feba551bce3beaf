//! Weir's Wasm sandbox.
//!
//! One [`Runtime`] per process owns the wasmtime engine (component-model
//! concurrency support off: it makes every synchronous call several times
//! slower), an epoch ticker that enforces call deadlines, and a cache of
//! compiled components. A [`FunctionInstance`] is one store holding one
//! opened function for one sub-task, with its own memory cap. Guests get no
//! ambient authority: no files, sockets, environment or arguments. Calls
//! run under a deadline and stop when the job stops, also while the guest
//! waits inside a WASI call; what guests print goes to the log (rate
//! limited) and the end of their standard error into trap messages; what
//! the host holds for a guest per call is budgeted.

/// The version of the `weir:function` WIT package this host speaks.
pub const WIT_VERSION: &str = "0.2.0";

mod bindings;
mod budget;
mod cache;
mod call;
mod chain;
mod component;
mod error;
mod guest_io;
mod host_state;
mod instance;
mod runtime;
mod stateful;

pub use budget::{BudgetExceeded, Usage};
pub use cache::CacheConfig;
pub use chain::ChainStage;
pub use component::{FunctionInfo, LoadedComponent, Origin};
pub use error::{CallError, LoadError, TrapCause};
pub use host_state::{KeyedScope, StateBinding};
pub use instance::{CallStats, FunctionInstance, InstanceConfig, TaskInfo, WindowCall};
pub use runtime::Runtime;
pub use stateful::{StatefulInstance, wit as stateful_wit};
