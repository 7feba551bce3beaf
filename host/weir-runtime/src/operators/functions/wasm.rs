//! In-process stateful functions: the batches the dispatcher releases for
//! function types a Wasm component serves go to a thread of their own that
//! holds the sub-task's instances, takes every batch waiting at once into
//! one `invoke` call, and answers on the same channel as remote calls,
//! translated to the protocol's messages, so that the dispatcher and the
//! effects code cannot tell the two apart.

use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;
use weir_statefun::Address;
use weir_statefun::proto::{self, FromFunction, ToFunction};
use weir_statefun::transport::{CallFailure, Done};
use weir_wasm::stateful_wit as wit;
use weir_wasm::{InstanceConfig, LoadedComponent, Runtime, StatefulInstance, TaskInfo};

/// Most batches in one `invoke` call.
const MAX_BATCHES_PER_CALL: usize = 256;

/// What a sub-task's Wasm functions are opened with.
pub(crate) struct WasmSetup {
    pub(crate) rt: Arc<Runtime>,
    /// One component per `weir.io/wasm-functions.v1` document, in order.
    pub(crate) components: Vec<Arc<LoadedComponent>>,
    pub(crate) task: TaskInfo,
    pub(crate) config: InstanceConfig,
}

/// A batch for the component of document `endpoint`.
struct Job {
    tag: Address,
    endpoint: usize,
    request: ToFunction,
}

/// The thread running a sub-task's Wasm functions. Dropping it lets the
/// thread finish the call it is in and stop.
pub(crate) struct WasmCaller {
    tx: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WasmCaller {
    /// Opens one instance per component (errors name the component) and
    /// starts the thread; results go to `done`.
    pub(crate) fn start(
        name: &str,
        setup: WasmSetup,
        done: Sender<Done<Address>>,
    ) -> Result<WasmCaller, String> {
        let instances = setup
            .components
            .iter()
            .map(|c| StatefulInstance::open(&setup.rt, c, &setup.task, setup.config.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                Worker {
                    setup,
                    instances,
                    done,
                }
                .run(rx)
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(WasmCaller {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a batch for the component of document `endpoint`.
    pub(crate) fn call(
        &self,
        tag: Address,
        endpoint: usize,
        request: ToFunction,
    ) -> Result<(), String> {
        let job = Job {
            tag,
            endpoint,
            request,
        };
        match &self.tx {
            Some(tx) => tx
                .send(job)
                .map_err(|_| "the Wasm functions' thread stopped".to_owned()),
            None => Err("the Wasm functions' thread stopped".into()),
        }
    }
}

impl Drop for WasmCaller {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    setup: WasmSetup,
    instances: Vec<StatefulInstance>,
    done: Sender<Done<Address>>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCHES_PER_CALL
                && let Ok(j) = rx.try_recv()
            {
                jobs.push(j);
            }
            for endpoint in 0..self.instances.len() {
                let (mine, rest): (Vec<Job>, Vec<Job>) =
                    jobs.into_iter().partition(|j| j.endpoint == endpoint);
                jobs = rest;
                if !mine.is_empty() {
                    self.invoke(endpoint, mine);
                }
            }
            for j in jobs {
                self.unserved(j.tag);
            }
        }
    }

    /// One `invoke` call for `jobs`; every job gets its answer.
    fn invoke(&mut self, endpoint: usize, jobs: Vec<Job>) {
        let started = Instant::now();
        let (tags, batches): (Vec<Address>, Vec<wit::Batch>) = jobs
            .into_iter()
            .map(|j| (j.tag, to_batch(j.request)))
            .unzip();
        match self.instances[endpoint].invoke(&batches) {
            Ok(results) => {
                for (tag, r) in tags.into_iter().zip(results) {
                    let result = match r {
                        wit::BatchResult::Failed(m) => Err(self.failure(endpoint, m, started)),
                        r => Ok(from_result(r)),
                    };
                    let _ = self.done.send(Done { tag, result });
                }
            }
            Err(e) => {
                let m = e.to_string();
                for tag in tags {
                    let _ = self.done.send(Done {
                        tag,
                        result: Err(self.failure(endpoint, m.clone(), started)),
                    });
                }
                self.reopen(endpoint);
            }
        }
    }

    /// A fresh instance after a trap: the host holds all the state.
    fn reopen(&mut self, endpoint: usize) {
        if !self.instances[endpoint].is_poisoned() {
            return;
        }
        let s = &self.setup;
        match StatefulInstance::open(&s.rt, &s.components[endpoint], &s.task, s.config.clone()) {
            Ok(i) => self.instances[endpoint] = i,
            Err(e) => tracing::warn!("cannot reopen a Wasm functions component: {e}"),
        }
    }

    fn failure(&self, endpoint: usize, message: String, started: Instant) -> CallFailure {
        CallFailure {
            url: format!("wasm:{}", self.setup.components[endpoint].path()),
            message,
            attempts: 1,
            elapsed_ms: started.elapsed().as_millis() as u64,
            by_function: true,
        }
    }

    /// A batch for a document with no component (a bug of the caller).
    fn unserved(&self, tag: Address) {
        let failure = CallFailure {
            url: "wasm".into(),
            message: "no Wasm component serves it".into(),
            attempts: 0,
            elapsed_ms: 0,
            by_function: false,
        };
        let _ = self.done.send(Done {
            tag,
            result: Err(failure),
        });
    }
}

fn address_to_wit(a: proto::Address) -> wit::Address {
    wit::Address {
        namespace: a.namespace,
        type_: a.r#type,
        id: a.id,
    }
}

fn address_from_wit(a: wit::Address) -> proto::Address {
    proto::Address {
        namespace: a.namespace,
        r#type: a.type_,
        id: a.id,
    }
}

fn value_to_wit(v: proto::TypedValue) -> wit::TypedValue {
    wit::TypedValue {
        typename: v.typename,
        value: v.value,
    }
}

fn value_from_wit(v: wit::TypedValue) -> proto::TypedValue {
    proto::TypedValue {
        typename: v.typename,
        has_value: true,
        value: v.value,
    }
}

/// The request the dispatcher built, as the guest reads it.
fn to_batch(request: ToFunction) -> wit::Batch {
    let Some(proto::to_function::Request::Invocation(r)) = request.request else {
        return wit::Batch {
            target: address_to_wit(proto::Address::default()),
            states: Vec::new(),
            invocations: Vec::new(),
        };
    };
    wit::Batch {
        target: address_to_wit(r.target.unwrap_or_default()),
        states: r
            .state
            .into_iter()
            .map(|s| wit::StateValue {
                name: s.state_name,
                value: s.state_value.filter(|v| v.has_value).map(value_to_wit),
            })
            .collect(),
        invocations: r
            .invocations
            .into_iter()
            .map(|i| wit::Invocation {
                caller: i.caller.map(address_to_wit),
                argument: value_to_wit(i.argument.unwrap_or_default()),
            })
            .collect(),
    }
}

/// A guest's answer as the protocol's reply (failures are handled before).
fn from_result(r: wit::BatchResult) -> FromFunction {
    use proto::from_function::{self as ff, Response};
    let response = match r {
        wit::BatchResult::Done(e) => Response::InvocationResult(from_effects(e)),
        wit::BatchResult::MissingStates(specs) => {
            Response::IncompleteInvocationContext(ff::IncompleteInvocationContext {
                missing_values: specs.into_iter().map(spec_from_wit).collect(),
            })
        }
        wit::BatchResult::Failed(_) => Response::InvocationResult(Default::default()),
    };
    FromFunction {
        response: Some(response),
    }
}

fn spec_from_wit(s: wit::StateSpec) -> proto::from_function::PersistedValueSpec {
    use proto::from_function::expiration_spec::ExpireMode;
    let mode = match s.expire_mode {
        wit::ExpireMode::Never => ExpireMode::None,
        wit::ExpireMode::AfterWrite => ExpireMode::AfterWrite,
        wit::ExpireMode::AfterInvoke => ExpireMode::AfterInvoke,
    };
    proto::from_function::PersistedValueSpec {
        state_name: s.name,
        expiration_spec: Some(proto::from_function::ExpirationSpec {
            mode: mode as i32,
            expire_after_millis: i64::try_from(s.expire_after_ms).unwrap_or(i64::MAX),
        }),
        type_typename: s.typename,
    }
}

fn from_effects(e: wit::Effects) -> proto::from_function::InvocationResponse {
    use proto::from_function::{self as ff, persisted_value_mutation::MutationType};
    ff::InvocationResponse {
        state_mutations: e
            .mutations
            .into_iter()
            .map(|m| ff::PersistedValueMutation {
                mutation_type: if m.value.is_some() {
                    MutationType::Modify
                } else {
                    MutationType::Delete
                } as i32,
                state_name: m.name,
                state_value: m.value.map(value_from_wit),
            })
            .collect(),
        outgoing_messages: e
            .messages
            .into_iter()
            .map(|m| ff::Invocation {
                target: Some(address_from_wit(m.target)),
                argument: Some(value_from_wit(m.argument)),
            })
            .collect(),
        delayed_invocations: e
            .delayed
            .into_iter()
            .map(|d| match d {
                wit::Delayed::Send(d) => ff::DelayedInvocation {
                    is_cancellation_request: false,
                    cancellation_token: d.cancellation_token,
                    delay_in_ms: i64::try_from(d.delay_ms).unwrap_or(i64::MAX),
                    target: Some(address_from_wit(d.target)),
                    argument: Some(value_from_wit(d.argument)),
                },
                wit::Delayed::Cancel(token) => ff::DelayedInvocation {
                    is_cancellation_request: true,
                    cancellation_token: token,
                    ..Default::default()
                },
            })
            .collect(),
        outgoing_egresses: e
            .egress
            .into_iter()
            .map(|m| {
                let (namespace, kind) = m.egress.split_once('/').unwrap_or(("", &m.egress));
                ff::EgressMessage {
                    egress_namespace: namespace.to_owned(),
                    egress_type: kind.to_owned(),
                    argument: Some(value_from_wit(m.argument)),
                }
            })
            .collect(),
    }
}
