//! Stateful Functions: Apache Flink StateFun's model, run in-process.
//!
//! A function type (`namespace/name`) has one logical instance per
//! [`Address`] id, with its own states. The host calls the component with
//! batches of messages, one address each; the function reads and writes the
//! address's states through the [`Context`], sends messages to other
//! addresses (now or after a delay), and sends records to egresses. Values
//! are [`TypedValue`]s: a typename and bytes, with the `io.statefun.types/*`
//! builtins encoded as the StateFun SDKs encode them, so a Rust function and
//! one written with another SDK can message each other and share a module.
//!
//! ```no_run
//! use weir_sdk::statefun::{self, Context, Message, StatefulFunction, ValueSpec, types};
//!
//! #[derive(Default)]
//! struct Counter;
//! impl StatefulFunction for Counter {
//!     fn states() -> Vec<ValueSpec> {
//!         vec![ValueSpec::new("n", types::INT), ValueSpec::new("total", types::LONG)]
//!     }
//!     fn invoke(&mut self, ctx: &mut Context, message: Message) -> weir_sdk::Result<()> {
//!         let amount = message.as_long()?;
//!         let n = ctx.get::<i32>("n")?.unwrap_or(0) + 1;
//!         let total = ctx.get::<i64>("total")?.unwrap_or(0) + amount;
//!         ctx.set("n", &n)?;
//!         ctx.set("total", &total)?;
//!         let record = serde_json::json!({"id": ctx.address().id(), "n": n, "total": total});
//!         ctx.egress("bench/totals", statefun::TypedValue::json("bench/Json", &record)?);
//!         Ok(())
//!     }
//! }
//!
//! weir_sdk::export_stateful_functions!("bench/counter" => Counter);
//! ```
//!
//! Within a batch each invocation sees the state changes of the ones before
//! it; if one returns an error the batch fails as a whole and nothing it did
//! is applied (the host retries it or dead-letters it).

mod address;
mod codec;
mod component;
mod context;
mod spec;
mod value;

#[doc(hidden)]
pub mod rt;

#[cfg(test)]
mod tests;

pub use crate::Json;
pub use address::Address;
pub use codec::StateType;
pub use context::Context;
pub use spec::{Expiration, ValueSpec};
pub use value::{Message, TypedValue};

/// The StateFun builtin typenames.
pub mod types {
    /// A 64-bit signed integer (`i64`).
    pub const LONG: &str = "io.statefun.types/long";
    /// A 32-bit signed integer (`i32`).
    pub const INT: &str = "io.statefun.types/int";
    /// UTF-8 text (`String`).
    pub const STRING: &str = "io.statefun.types/string";
    /// A boolean (`bool`).
    pub const BOOL: &str = "io.statefun.types/bool";
    /// A 32-bit float (`f32`).
    pub const FLOAT: &str = "io.statefun.types/float";
    /// A 64-bit float (`f64`).
    pub const DOUBLE: &str = "io.statefun.types/double";

    /// Whether `typename` is one of StateFun's builtin types.
    pub fn is_builtin(typename: &str) -> bool {
        typename.starts_with("io.statefun.types/")
    }
}

/// A stateful function type. One instance (made with `Default`) serves
/// every address of its type; keep per-address data in states, not in
/// `self`.
pub trait StatefulFunction {
    /// The states each address keeps. The host registers them before the
    /// first invocation; [`Context::get`] and [`Context::set`] accept only
    /// these.
    fn states() -> Vec<ValueSpec> {
        Vec::new()
    }

    /// Handles one message to `ctx.address()`. An error fails the whole
    /// batch the message came in.
    fn invoke(&mut self, ctx: &mut Context, message: Message) -> crate::Result<()>;
}

/// Exports stateful function types as a Weir component (world
/// `stateful-functions`). Each line names a function typename
/// (`namespace/name`) and the type serving it, which implements
/// [`StatefulFunction`] and `Default`:
///
/// ```no_run
/// # use weir_sdk::statefun::*;
/// # #[derive(Default)] struct Counter;
/// # impl StatefulFunction for Counter {
/// #     fn invoke(&mut self, _: &mut Context, _: Message) -> weir_sdk::Result<()> { Ok(()) }
/// # }
/// # #[derive(Default)] struct Greeter;
/// # impl StatefulFunction for Greeter {
/// #     fn invoke(&mut self, _: &mut Context, _: Message) -> weir_sdk::Result<()> { Ok(()) }
/// # }
/// weir_sdk::export_stateful_functions!(
///     "bench/counter" => Counter,
///     "example/greeter" => Greeter,
/// );
/// ```
#[macro_export]
macro_rules! export_stateful_functions {
    ($($typename:literal => $ty:ty),* $(,)?) => {
        #[doc(hidden)]
        pub struct __WeirStatefulRegistry;
        impl $crate::statefun::rt::Registry for __WeirStatefulRegistry {
            fn entries() -> ::std::vec::Vec<$crate::statefun::rt::Entry> {
                ::std::vec![$($crate::statefun::rt::Entry::of::<$ty>($typename)),*]
            }
        }
        #[doc(hidden)]
        type __WeirStatefulComponent = $crate::statefun::rt::Component<__WeirStatefulRegistry>;
        $crate::statefun_bindings::export!(
            __WeirStatefulComponent with_types_in $crate::statefun_bindings
        );
    };
}
