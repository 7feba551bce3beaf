//! Write Weir stream functions in Rust.
//!
//! A function crate implements one of the traits below for each function and
//! exports them all with [`export_functions!`]. Built with
//! `cargo build --release --target wasm32-wasip2`, the crate becomes a
//! WebAssembly component that a Weir job names.
//!
//! | trait | Flink counterpart | job `kind` | runnable example (`functions-examples/`) |
//! |---|---|---|---|
//! | [`MapFunction`] | `MapFunction` | `map` | `wordcount` `format-json` (`wordcount-json.toml`) |
//! | [`FlatMapFunction`] | `FlatMapFunction` | `flat-map` | `wordcount` `tokenize`, `format` (`wordcount.toml`) |
//! | [`FilterFunction`] | `FilterFunction` | `filter` | `wordcount` `long-words` (`wordcount-long-words.toml`) |
//! | [`ReduceFunction`] | `ReduceFunction` on a keyed stream | `reduce` | `wordcount` `count` (`wordcount.toml`) |
//! | [`AggregateFunction`] | `AggregateFunction` on a keyed stream | `aggregate` | `user-activity` `clicks-per-user` (`clicks-per-user.toml`) |
//! | [`KeyedProcessFunction`] | `KeyedProcessFunction` | `keyed-process` | `wordcount` `count-with-state` (`ValueState`), `user-activity` (`MapState`, `ListState`), `event-time` `start-end-duration` (timers) |
//! | [`ReduceFunction`] / [`AggregateFunction`] on a window | `window(...).reduce/aggregate` | `reduce` / `aggregate` with `[operators.window]` | `windows` `count-words` (`tumbling-word-count.toml`), `count-reduce-rendered` |
//! | [`ProcessWindowFunction`] | `ProcessWindowFunction` | `process-window` | `windows` `session-clicks` (`session-clicks.toml`) |
//! | [`TimestampAssigner`] | `TimestampAssigner` | `timestamp-assigner` (in a source's `event_time`) | `windows` `leading-timestamp` (`tumbling-word-count.toml`) |
//!
//! Each example runs with `weir run functions-examples/<crate>/<job>.toml`.
//!
//! ```no_run
//! use weir_sdk::{Collector, Context, FlatMapFunction, ReduceFunction, Result};
//!
//! #[derive(Default)]
//! struct Tokenizer;
//! impl FlatMapFunction for Tokenizer {
//!     type In = String;
//!     type Out = u64;
//!     fn flat_map(&mut self, line: String, _: &Context, out: &mut Collector<u64>) -> Result<()> {
//!         for word in line.split_whitespace() {
//!             out.collect_keyed(word.to_lowercase().as_bytes(), &1)?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Sum;
//! impl ReduceFunction for Sum {
//!     type T = u64;
//!     fn reduce(&mut self, a: u64, b: u64) -> Result<u64> { Ok(a + b) }
//! }
//!
//! weir_sdk::export_functions! {
//!     "tokenize" => flat_map(Tokenizer),
//!     "sum" => reduce(Sum),
//! }
//! ```
//!
//! Records are bytes on the wire; [`Data`] says how a type becomes bytes.
//! Numbers and strings have compact built-in codecs; wrap your own types in
//! [`Json`] (for files and interop), [`MsgPack`] (compact and portable to the
//! Python and JavaScript SDKs) or [`Bin`] (compact, Rust only).
//!
//! ## Stateful Functions
//!
//! [`statefun`] writes Apache Flink Stateful Functions (StateFun) in Rust,
//! run in-process by a Weir StateFun module: implement
//! [`statefun::StatefulFunction`] and export the function types with
//! [`export_stateful_functions!`] (a separate component from
//! [`export_functions!`]). `functions-examples/statefun-counter` is this one:
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
//! weir_sdk::export_stateful_functions!("bench/counter" => Counter);
//! ```

mod collector;
mod context;
mod data;
mod error;
mod functions;
mod state;
pub mod statefun;

#[doc(hidden)]
pub mod rt;

/// Bindings generated from the WIT package (`weir:function@0.2.0`).
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "chained-functions",
        pub_export_macro: true,
        default_bindings_module: "weir_sdk::bindings",
    });
}

/// Bindings for the `stateful-functions` world, behind
/// [`export_stateful_functions!`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod statefun_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "stateful-functions",
        pub_export_macro: true,
        default_bindings_module: "weir_sdk::statefun_bindings",
    });
}

pub use collector::Collector;
pub use context::{Context, OpenContext, TaskInfo, TimeDomain};
pub use data::{Bin, Data, Json, MsgPack};
pub use error::{Error, Result};
pub use functions::{
    AggregateFunction, FilterFunction, FlatMapFunction, KeyedProcessFunction, MapFunction,
    ProcessWindowFunction, ReduceFunction, TimestampAssigner, Window,
};
pub use state::{ListState, MapState, StateTtl, ValueState};

/// Exports the functions of a crate as a Weir component.
///
/// Each line names a function as the job file will call it, its kind and the
/// type implementing it (which must implement `Default`):
///
/// ```no_run
/// # use weir_sdk::*;
/// # #[derive(Default)] struct Tokenizer;
/// # impl FlatMapFunction for Tokenizer {
/// #     type In = String;
/// #     type Out = u64;
/// #     fn flat_map(&mut self, _: String, _: &Context, _: &mut Collector<u64>) -> Result<()> { Ok(()) }
/// # }
/// # #[derive(Default)] struct Sum;
/// # impl ReduceFunction for Sum {
/// #     type T = u64;
/// #     fn reduce(&mut self, a: u64, b: u64) -> Result<u64> { Ok(a + b) }
/// # }
/// # #[derive(Default)] struct Sessions;
/// # impl KeyedProcessFunction for Sessions {
/// #     type In = String;
/// #     type Out = String;
/// #     fn process_element(&mut self, _: String, _: &Context, _: &mut Collector<String>) -> Result<()> { Ok(()) }
/// # }
/// weir_sdk::export_functions! {
///     "tokenize" => flat_map(Tokenizer),
///     "count" => reduce(Sum),
///     "sessions" => keyed_process(Sessions),
/// }
/// ```
///
/// Kinds: `map`, `flat_map`, `filter`, `reduce`, `aggregate`,
/// `keyed_process`, `process_window`, `timestamp_assigner`, and
/// `window_aggregate(Agg, WindowFn)` / `window_reduce(Reduce, WindowFn)`:
/// an incremental aggregate whose result a [`ProcessWindowFunction`] turns
/// into the window's output (declared as an `aggregate` / `reduce`).
#[macro_export]
macro_rules! export_functions {
    ($($name:literal => $kind:ident($($ty:ty),+)),* $(,)?) => {
        #[doc(hidden)]
        pub struct __WeirRegistry;
        impl $crate::rt::Registry for __WeirRegistry {
            fn entries() -> ::std::vec::Vec<$crate::rt::Entry> {
                ::std::vec![$($crate::rt::Entry::$kind::<$($ty),+>($name)),*]
            }
        }
        #[doc(hidden)]
        type __WeirComponent = $crate::rt::Component<__WeirRegistry>;
        $crate::bindings::export!(__WeirComponent with_types_in $crate::bindings);
    };
}
