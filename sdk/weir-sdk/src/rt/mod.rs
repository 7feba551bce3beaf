//! The machinery behind [`crate::export_functions!`]: registration, the
//! batch drivers and the WIT glue. Not part of the public API.

mod chain;
mod component;
pub mod host;
mod keyed;
mod out;
mod registry;
mod transform;
mod window;

pub use component::Component;
pub(crate) use out::Out;
pub use registry::{Entry, Registry};
