//! End-to-end tests: real Wasm components run by the embedded runner.
//! Build the example functions first (scripts/test does).

mod cache;
mod cluster;
mod connectors;
mod dead_letter;
mod event_time;
mod fusion;
mod grants;
mod idleness;
mod keyed_state;
mod operations;
mod recovery;
mod runtime;
mod sandbox;
mod savepoints;
mod timers;
mod windows;
mod wordcount;
