//! A Weir component written against the WIT directly, without the SDK,
//! that returns broken result buffers and misuses the host's state calls:
//! the host must reject each with a clear error and live on.

wit_bindgen::generate!({
    path: "../../wit",
    world: "functions",
});

use exports::weir::function::{keyed, registry, transform, window};
use weir::function::keyed_state;
use weir::function::types::{
    BatchContext, FunctionError, FunctionInfo, FunctionKind, StateDescriptor, StateKind, TaskInfo,
};

struct Raw;

const MAPS: &[&str] = &[
    "garbage",
    "huge-length",
    "truncated",
    "undeclared-side-output",
    "bad-utf8-side-output",
    "failure-out-of-range",
];
const KEYED: &[&str] = &[
    "bad-state-id",
    "bad-slot",
    "host-bad-slot",
    "host-bad-state",
    "host-wrong-kind",
    "timer-flood",
    "too-many-states",
];

impl registry::Guest for Raw {
    fn functions() -> Vec<FunctionInfo> {
        let map = MAPS.iter().map(|n| FunctionInfo {
            name: (*n).to_owned(),
            kind: FunctionKind::Map,
            side_outputs: vec!["declared".to_owned()],
        });
        let keyed = KEYED.iter().map(|n| FunctionInfo {
            name: (*n).to_owned(),
            kind: FunctionKind::KeyedProcess,
            side_outputs: Vec::new(),
        });
        map.chain(keyed).collect()
    }
}

/// An opened broken function: its name says how it breaks.
pub struct Broken(String);

impl transform::Guest for Raw {
    type TransformFunction = Broken;
}

impl transform::GuestTransformFunction for Broken {
    fn open(name: String, _task: TaskInfo) -> Result<transform::TransformFunction, FunctionError> {
        Ok(transform::TransformFunction::new(Broken(name)))
    }

    fn process_batch(&self, _ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        let mut out = Vec::new();
        match self.0.as_str() {
            "garbage" => out.extend_from_slice(&[0xEE; 64]),
            "huge-length" => {
                // A main record whose key claims 4 GiB.
                out.push(weir_wire::tag::MAIN);
                out.extend_from_slice(&0i64.to_le_bytes());
                out.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
                out.extend_from_slice(b"tiny");
            }
            "truncated" => {
                weir_wire::put_main(&mut out, 0, b"k", &input);
                out.truncate(out.len() / 2);
            }
            "undeclared-side-output" => weir_wire::put_side(&mut out, "secret", 0, b"", b"x"),
            "bad-utf8-side-output" => {
                out.push(weir_wire::tag::SIDE);
                out.extend_from_slice(&2u16.to_le_bytes());
                out.extend_from_slice(&[0xff, 0xfe]);
                weir_wire::put_record(&mut out, 0, b"", b"x");
            }
            "failure-out-of-range" => {
                weir_wire::put_failed(&mut out, 0, 1_000_000, weir_wire::failure::USER, "nope")
            }
            other => return Err(FunctionError::UnknownFunction(other.to_owned())),
        }
        Ok(out)
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, FunctionError> {
        Ok(None)
    }

    fn restore_state(&self, _states: Vec<Vec<u8>>) -> Result<(), FunctionError> {
        Ok(())
    }
}

impl keyed::Guest for Raw {
    type KeyedFunction = Broken;
}

impl keyed::GuestKeyedFunction for Broken {
    fn open(name: String, _task: TaskInfo) -> Result<keyed::KeyedFunction, FunctionError> {
        Ok(keyed::KeyedFunction::new(Broken(name)))
    }

    fn states(&self) -> Vec<StateDescriptor> {
        let n = if self.0 == "too-many-states" { 100 } else { 1 };
        (0..n)
            .map(|i| StateDescriptor {
                name: format!("list-{i}"),
                kind: StateKind::List,
                codec: "bytes".into(),
                ttl: None,
            })
            .collect()
    }

    fn process_batch(&self, _ctx: BatchContext, _input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        let mut out = Vec::new();
        match self.0.as_str() {
            "bad-state-id" => weir_wire::put_value_set(&mut out, 0, 99, b"v"),
            "bad-slot" => weir_wire::put_value_set(&mut out, 1_000_000, 0, b"v"),
            "host-bad-slot" => keyed_state::list_add(0, 999, b"v"),
            "host-bad-state" => keyed_state::list_add(42, 0, b"v"),
            "host-wrong-kind" => keyed_state::map_put(0, 0, b"k", b"v"),
            "timer-flood" => {
                for t in 0..200_000i64 {
                    weir_wire::put_timer(
                        &mut out,
                        weir_wire::tag::TIMER_REGISTER,
                        0,
                        weir_wire::domain::EVENT_TIME,
                        t,
                    );
                }
            }
            other => return Err(FunctionError::UnknownFunction(other.to_owned())),
        }
        Ok(out)
    }

    fn on_timers(&self, _ctx: BatchContext, _input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        Ok(Vec::new())
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, FunctionError> {
        Ok(None)
    }

    fn restore_state(&self, _states: Vec<Vec<u8>>) -> Result<(), FunctionError> {
        Ok(())
    }
}

impl window::Guest for Raw {
    type WindowFunction = Broken;
}

impl window::GuestWindowFunction for Broken {
    fn open(name: String, _task: TaskInfo) -> Result<window::WindowFunction, FunctionError> {
        Err(FunctionError::UnknownFunction(format!("'{name}' is not a window function")))
    }

    fn accumulate(&self, _ctx: BatchContext, _input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        Ok(Vec::new())
    }

    fn merge(&self, _ctx: BatchContext, _input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        Ok(Vec::new())
    }

    fn emit(&self, _ctx: BatchContext, _input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        Ok(Vec::new())
    }
}

export!(Raw);
