//! A stateful-functions stage: the host side of StateFun's remote
//! functions. Each sub-task owns the addresses of its key groups: their
//! state (in the keyed backend), their pending messages (the sans-IO
//! [`Dispatcher`]) and their delayed messages (in the sender's keyed state,
//! fired by processing-time timers). Calls go out concurrently on a
//! [`Caller`]; messages for addresses of other sub-tasks cross the
//! [`mesh`]. Input records are ingress lines; egress messages leave on the
//! side output named by the egress typename.

mod effects;
mod mesh;
mod stage;
mod wasm;

pub(crate) use stage::Stage;
pub(crate) use wasm::WasmSetup;

use super::{DeadLetters, Emitter, OpState, Operator, Rejected, SnapshotCtx, bad};
use super::{restore_state, snapshot_state};
use crate::clock::Clock;
use crate::exchange::Stop;
use crate::failure::Failure;
use crossbeam_channel::{Receiver, select};
use mesh::MeshEnd;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasm::WasmCaller;
use weir_checkpoint::OperatorSnapshot;
use weir_core::keygroup::{key_group, subtask_for_key_group};
use weir_core::spec::DEAD_LETTER_OUTPUT;
use weir_core::{Batch, ErrorDomain};
use weir_state::{KeyedStateBackend, StateId, StateKind, TimerService};
use weir_statefun::module::{Module, Served};
use weir_statefun::stored::{AddressState, decode_snapshot, encode_snapshot};
use weir_statefun::transport::{Call, Caller, Client, Done};
use weir_statefun::{Address, Dispatcher, Message, records};

/// How long a sub-task waits for a response or a mesh message at a time
/// while it must (backpressure, the end of input, a checkpoint's markers).
const WAIT: Duration = Duration::from_millis(5);

/// What a stage's sub-task is built from.
pub(crate) struct FunctionsCtx {
    pub(crate) node_id: String,
    pub(crate) module: Arc<Module>,
    pub(crate) stage: Arc<Stage>,
    pub(crate) backend: Box<dyn KeyedStateBackend>,
    pub(crate) subtask: u32,
    pub(crate) parallelism: u32,
    pub(crate) max_parallelism: u32,
    /// The egress typenames the job reads.
    pub(crate) egresses: HashSet<String>,
    pub(crate) dead_letter: bool,
    pub(crate) max_backlog: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cancel: Arc<AtomicBool>,
    /// The module's Wasm function components, when it has any.
    pub(crate) wasm: Option<WasmSetup>,
}

/// One sub-task of a stateful-functions stage.
pub(crate) struct FunctionsOp {
    module: Arc<Module>,
    clients: Vec<Client>,
    dispatcher: Dispatcher,
    max_batch: usize,
    max_backlog: usize,
    backend: Box<dyn KeyedStateBackend>,
    values: StateId,
    delayed: StateId,
    timers: TimerService,
    holds_timers: bool,
    mesh: MeshEnd,
    stage: Arc<Stage>,
    caller: Caller<Address>,
    wasm: Option<WasmCaller>,
    done: Receiver<Done<Address>>,
    /// Batches the dispatcher released, waiting for a free call slot.
    ready: VecDeque<weir_statefun::Batch>,
    /// The size of the batch in flight per address.
    sizes: HashMap<Address, usize>,
    max_in_flight: usize,
    /// Messages past an address's full backlog, in order.
    held: HashMap<Address, VecDeque<Message>>,
    held_count: usize,
    egresses: HashSet<String>,
    dead_letters: Option<DeadLetters>,
    subtask: u32,
    parallelism: u32,
    max_parallelism: u32,
    clock: Arc<dyn Clock>,
    cancel: Arc<AtomicBool>,
    /// Makes the map keys of delayed messages without a token unique.
    sequence: u64,
    /// Whether the input ended (the stage is draining).
    input_ended: bool,
}

impl FunctionsOp {
    /// A stage sub-task with no state yet (see [`Operator::restore`]).
    pub(crate) fn open(c: FunctionsCtx) -> Result<FunctionsOp, Failure> {
        let mut backend = c.backend;
        let values = backend.register("statefun.values", StateKind::Value)?;
        let delayed = backend.register("statefun.delayed", StateKind::Map)?;
        let clients = c
            .module
            .endpoints
            .iter()
            .map(Client::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::internal)?;
        // One batch cap for the stage: the smallest any endpoint allows.
        let max_batch = c.module.max_batch();
        let (done_tx, done) = crossbeam_channel::unbounded();
        let wasm = match c.wasm {
            Some(setup) if !c.module.wasm.is_empty() => Some(
                WasmCaller::start(
                    &format!("weir-wasm-{}-{}", c.node_id, c.subtask),
                    setup,
                    done_tx.clone(),
                )
                .map_err(Failure::user)?,
            ),
            _ if !c.module.wasm.is_empty() => {
                return Err(Failure::internal(
                    "the module's Wasm functions were not loaded",
                ));
            }
            _ => None,
        };
        let caller = Caller::start(&format!("weir-http-{}-{}", c.node_id, c.subtask), done_tx)
            .map_err(|m| Failure {
                domain: ErrorDomain::External,
                message: m,
            })?;
        let mesh = c
            .stage
            .mesh
            .end(c.subtask)
            .ok_or_else(|| Failure::internal("the stage's mesh end was taken twice"))?;
        let sequence = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(FunctionsOp {
            module: c.module,
            clients,
            dispatcher: Dispatcher::new(max_batch, c.max_backlog),
            max_batch,
            max_backlog: c.max_backlog,
            backend,
            values,
            delayed,
            timers: TimerService::default(),
            holds_timers: false,
            mesh,
            stage: c.stage,
            caller,
            wasm,
            done,
            ready: VecDeque::new(),
            sizes: HashMap::new(),
            max_in_flight: c.max_in_flight,
            held: HashMap::new(),
            held_count: 0,
            egresses: c.egresses,
            dead_letters: c.dead_letter.then_some(DeadLetters {
                operator: c.node_id,
                subtask: c.subtask,
            }),
            subtask: c.subtask,
            parallelism: c.parallelism,
            max_parallelism: c.max_parallelism,
            clock: c.clock,
            cancel: c.cancel,
            sequence,
            input_ended: false,
        })
    }

    fn key_group(&self, a: &Address) -> u16 {
        key_group(a.to_string().as_bytes(), self.max_parallelism)
    }

    /// A new message: to this sub-task's dispatcher or over the mesh.
    fn route(&mut self, target: Address, message: Message) {
        self.stage.quiet.made(1);
        let owner = subtask_for_key_group(
            self.key_group(&target),
            self.max_parallelism,
            self.parallelism,
        );
        if owner == self.subtask {
            self.deliver(target, message);
        } else {
            self.mesh.send(owner, target, message);
        }
    }

    /// A message for an address this sub-task owns.
    fn deliver(&mut self, target: Address, message: Message) {
        if let Some(q) = self.held.get_mut(&target) {
            q.push_back(message);
            self.held_count += 1;
            return;
        }
        match self.dispatcher.enqueue(&target, message) {
            weir_statefun::dispatch::Enqueued::Send(b) => self.ready.push_back(b),
            weir_statefun::dispatch::Enqueued::Queued => {}
            weir_statefun::dispatch::Enqueued::Full(m) => {
                self.held.entry(target).or_default().push_back(m);
                self.held_count += 1;
            }
        }
    }

    /// Offers the held messages of `a` again after a response freed room.
    fn release_held(&mut self, a: &Address) {
        let Some(mut q) = self.held.remove(a) else {
            return;
        };
        while let Some(m) = q.pop_front() {
            match self.dispatcher.enqueue(a, m) {
                weir_statefun::dispatch::Enqueued::Send(b) => self.ready.push_back(b),
                weir_statefun::dispatch::Enqueued::Queued => {}
                weir_statefun::dispatch::Enqueued::Full(m) => {
                    q.push_front(m);
                    break;
                }
            }
            self.held_count -= 1;
        }
        if !q.is_empty() {
            self.held.insert(a.clone(), q);
        }
    }

    /// Sends ready batches while call slots are free.
    fn start_ready(&mut self) -> Result<(), Failure> {
        while self.sizes.len() < self.max_in_flight {
            let Some(b) = self.ready.pop_front() else {
                break;
            };
            self.send(b)?;
        }
        Ok(())
    }

    fn send(&mut self, b: weir_statefun::Batch) -> Result<(), Failure> {
        let f = &b.address.function;
        let Some(served) = self.module.served(f) else {
            return Err(Failure::user(format!(
                "no endpoint of the module serves function type {}/{} (a message went to {})",
                f.namespace, f.name, b.address
            )));
        };
        let state = self.load(&b.address)?;
        let now = self.clock.now_ms();
        let values: HashMap<String, weir_statefun::proto::TypedValue> = self
            .dispatcher
            .states(f)
            .filter_map(|s| state.value(s, now).map(|v| (s.name.clone(), v)))
            .collect();
        let request = self.dispatcher.request(&b, |n| values.get(n).cloned());
        self.sizes.insert(b.address.clone(), b.messages.len());
        let sent = match (served, &self.wasm) {
            (Served::Http(i), _) => self.caller.call(Call {
                url: self.module.endpoints[i].url(f),
                tag: b.address,
                client: self.clients[i].clone(),
                request,
            }),
            (Served::Wasm(i), Some(w)) => w.call(b.address, i, request),
            (Served::Wasm(_), None) => Err("the module's Wasm functions are not running".into()),
        };
        sent.map_err(|m| Failure {
            domain: ErrorDomain::External,
            message: m,
        })
    }

    /// The stored state of `a`.
    fn load(&self, a: &Address) -> Result<AddressState, Failure> {
        let key = a.to_string();
        let mut buf = Vec::new();
        if !self
            .backend
            .value_get_into(self.key_group(a), self.values, key.as_bytes(), &mut buf)?
        {
            return Ok(AddressState::default());
        }
        AddressState::decode(&buf).map_err(|e| Failure::internal(e.to_string()))
    }

    /// Takes what arrived (responses, mesh messages), waiting up to `wait`
    /// when nothing has, and starts the calls that can start.
    fn pump(&mut self, out: &mut Emitter<'_>, wait: Duration) -> Result<(), Stop> {
        let mut took = false;
        while let Ok((from, m)) = self.mesh.receiver().try_recv() {
            took = true;
            if let Some((a, m)) = self.mesh.accept(from, m) {
                self.deliver(a, m);
            }
        }
        while let Ok(d) = self.done.try_recv() {
            took = true;
            self.on_done(d, out)?;
        }
        if !took && !wait.is_zero() {
            let (mesh, done) = (self.mesh.receiver().clone(), self.done.clone());
            select! {
                recv(mesh) -> m => if let Ok((from, m)) = m
                    && let Some((a, m)) = self.mesh.accept(from, m) {
                    self.deliver(a, m);
                },
                recv(done) -> d => if let Ok(d) = d {
                    self.on_done(d, out)?;
                },
                default(wait) => {}
            }
        }
        self.start_ready()?;
        out.pass_on_if_full()
    }

    fn check_cancel(&self) -> Result<(), Stop> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Whether the stage should take no more input for now.
    fn backpressured(&self) -> bool {
        !self.ready.is_empty() || self.held_count > 0
    }

    /// Rejects an input record that is not an ingress line.
    fn reject(
        &self,
        out: &mut Emitter<'_>,
        r: &weir_wire::RecordRef<'_>,
        why: &str,
    ) -> Result<(), Stop> {
        let Some(d) = &self.dead_letters else {
            return Err(Failure::user(format!(
                "an input record is not an ingress message ({why}): {}",
                super::outcome::snippet(r.value)
            ))
            .into());
        };
        let rejected = Rejected {
            ts: r.ts,
            key: r.key,
            value: r.value,
            timer: false,
        };
        d.push(out.side(DEAD_LETTER_OUTPUT), "ingress", why, &rejected);
        Ok(())
    }

    /// Counts whether this sub-task holds timers, for the stage's end.
    fn note_timers(&mut self) {
        let holds = !self.timers.is_empty();
        if holds != self.holds_timers {
            self.holds_timers = holds;
            self.stage.quiet.timers(holds);
        }
    }
}

impl Operator for FunctionsOp {
    fn process(&mut self, input: &Batch, out: &mut Emitter<'_>) -> Result<(), Stop> {
        for r in input.iter() {
            let r = r.map_err(bad)?;
            let parsed = std::str::from_utf8(r.value)
                .map_err(|e| e.to_string())
                .and_then(|line| records::parse_ingress(line).map_err(|e| e.to_string()));
            match parsed {
                Ok((target, argument)) => self.route(
                    target,
                    Message {
                        caller: None,
                        argument,
                    },
                ),
                Err(why) => self.reject(out, &r, &why)?,
            }
        }
        self.pump(out, Duration::ZERO)?;
        while self.backpressured() {
            self.check_cancel()?;
            self.pump(out, WAIT)?;
        }
        Ok(())
    }

    fn wants_processing_time(&self) -> bool {
        true
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.fire_delayed(now)?;
        self.pump(out, Duration::ZERO)
    }

    fn drain(&mut self, out: &mut Emitter<'_>) -> Result<bool, Stop> {
        if !self.input_ended {
            self.input_ended = true;
            self.stage.quiet.input_ended();
        }
        self.check_cancel()?;
        let now = self.clock.now_ms();
        self.fire_delayed(now)?;
        self.pump(out, WAIT)?;
        Ok(self.stage.quiet.is_done() && self.sizes.is_empty())
    }

    fn snapshot(&mut self, ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        // The final snapshot, after the stage is done, has nothing in
        // transit to agree on.
        let exchange = ctx.checkpoint != u64::MAX;
        if exchange {
            self.mesh.send_markers(ctx.checkpoint);
            // A peer whose stage is done (nothing anywhere to send) takes
            // no more part: it may have finished before this checkpoint.
            while !self.mesh.all_markers(ctx.checkpoint) && !self.stage.quiet.is_done() {
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(Failure::internal("cancelled during a checkpoint"));
                }
                if let Ok((from, m)) = self.mesh.receiver().recv_timeout(WAIT)
                    && let Some((a, m)) = self.mesh.accept(from, m)
                {
                    self.deliver(a, m);
                }
            }
        }
        // Delayed messages' timers stay in memory here, whatever the
        // backend (they are few, and fired by this operator).
        let mut st = snapshot_state(self.backend.as_mut(), ctx)?;
        st.timers = self.timers.snapshot();
        let mut snap = self.dispatcher.snapshot();
        for (a, q) in &self.held {
            match snap.pending.iter_mut().find(|(p, _)| p == a) {
                Some((_, ms)) => ms.extend(q.iter().cloned()),
                None => snap.pending.push((a.clone(), q.iter().cloned().collect())),
            }
        }
        st.operator_state = Some(encode_snapshot(&snap));
        if exchange {
            for (a, m) in self.mesh.snapshotted(ctx.checkpoint) {
                self.deliver(a, m);
            }
        }
        Ok(st)
    }

    fn restore(&mut self, from: &[&OperatorSnapshot]) -> Result<(), Failure> {
        restore_state(self.backend.as_mut(), from)?;
        let range = self.backend.key_groups();
        for s in from {
            self.timers.restore(&s.timers, &range);
        }
        let mut merged = weir_statefun::dispatch::Snapshot::default();
        for s in from {
            let Some(bytes) = &s.operator_state else {
                continue;
            };
            let snap = decode_snapshot(bytes).map_err(|e| Failure::internal(e.to_string()))?;
            for (f, specs) in snap.registry {
                if !merged.registry.iter().any(|(g, _)| *g == f) {
                    merged.registry.push((f, specs));
                }
            }
            for (a, ms) in snap.pending {
                if range.contains(&self.key_group(&a)) {
                    merged.pending.push((a, ms));
                }
            }
        }
        let pending: usize = merged.pending.iter().map(|(_, m)| m.len()).sum();
        self.stage.quiet.made(pending);
        let (d, send) = Dispatcher::restore(merged, self.max_batch, self.max_backlog);
        self.dispatcher = d;
        self.ready.extend(send);
        self.note_timers();
        Ok(())
    }
}
