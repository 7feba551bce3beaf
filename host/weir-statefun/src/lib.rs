//! Stateful Functions on Weir: functions addressed by `namespace/type/id`
//! that message each other, served by remote endpoints written with the
//! published StateFun SDKs (or, later, as Wasm components).
//!
//! This crate holds what does not depend on where a function runs:
//! - [`proto`]: the request-reply protocol, generated from
//!   `proto/io/statefun/sdk/reqreply/request-reply.proto`;
//! - [`types`]: the built-in `io.statefun.types/*` values;
//! - [`module`]: the module file (`module.yaml`) users already write;
//! - [`records`]: the JSON lines of the file ingress and egress;
//! - [`dispatch`]: the sans-IO core of the host's duties (one request in
//!   flight per address, backlogs batched in order with a cap, the
//!   registered states of each function type, incomplete-context retries,
//!   responses checked and split into effects in the order they apply);
//! - [`transport`]: calls to remote endpoints, with StateFun's retries;
//! - [`playground`]: StateFun's playground ingress and egress (HTTP);
//! - [`stored`]: what the host stores for functions (state values with
//!   their expiration times, delayed messages, pending messages).

pub mod dispatch;
pub mod job;
pub mod module;
pub mod playground;
pub mod records;
pub mod stored;
pub mod transport;
pub mod types;

/// The generated protocol messages (`io.statefun.sdk.reqreply`).
#[allow(missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/io.statefun.sdk.reqreply.rs"));
}

pub use dispatch::{Address, Batch, Dispatcher, Effects, FunctionType, Message, Outcome};
