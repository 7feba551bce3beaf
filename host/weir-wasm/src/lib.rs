//! Weir's Wasm sandbox.
//!
//! One [`Runtime`] per process owns the wasmtime engine (component-model
//! concurrency support off: it makes every synchronous call several times
//! slower), an epoch ticker that enforces call deadlines, and a cache of
//! compiled components. A [`FunctionInstance`] is one store holding one
//! opened function for one sub-task, with its own memory cap. Guests get no
//! ambient authority: no files, sockets, environment or arguments; their
//! standard output and error are captured so that a panic message can be
//! reported.

mod bindings;
mod component;
mod error;
mod host_state;
mod instance;
mod runtime;

pub use component::{FunctionInfo, LoadedComponent};
pub use error::{CallError, LoadError, TrapCause};
pub use host_state::{KeyedScope, StateBinding};
pub use instance::{FunctionInstance, InstanceConfig, TaskInfo, WindowCall};
pub use runtime::Runtime;
