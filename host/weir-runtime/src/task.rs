//! The loop of one sub-task: read from a source or an inbox, run the chain's
//! operators, route outputs, and pass end-of-input on.

use crate::clock::Clock;
use crate::control::{Barrier, Control, OpAck, TaskEvent, TaskId};
use crate::exchange::{EdgeWriter, Inbox, Stop};
use crate::failure::{Failure, JobFailure};
use crate::gate::{InputGate, Step as GateStep, UnknownChannel};
use crate::metrics::NodeCounters;
use crate::operators::{Emitter, Operator, SnapshotCtx, StageOut};
use std::path::PathBuf;
use std::sync::Arc;
use weir_checkpoint::{CheckpointKind, OperatorSnapshot};
use weir_connectors::{SourceReader, SourceStatus};
use weir_core::{Batch, Outputs};

/// Where a sub-task's records come from.
pub(crate) enum Head {
    /// A source reader (the chain starts with a source node).
    Source(Box<dyn SourceReader>),
    /// Upstream sub-tasks, each sending on its own channel.
    Inbox(Inbox),
}

/// Where one node's outputs go beyond the chain.
#[derive(Default)]
pub(crate) struct Routes {
    /// Writers of the main output (only for the chain's last node).
    pub(crate) main: Vec<EdgeWriter>,
    /// Writers of each consumed side output.
    pub(crate) side: Vec<(String, Vec<EdgeWriter>)>,
}

/// A node of the chain with its operator (none for a source head, and
/// none for a later stage of a fused chain, which the step `stage` steps
/// before it runs).
pub(crate) struct Step {
    pub(crate) node: usize,
    pub(crate) op: Option<Box<dyn Operator>>,
    pub(crate) routes: Routes,
    /// How many of the following steps this step's operator runs in the
    /// same guest calls (a fused chain; 0 for none).
    pub(crate) fused: usize,
    /// For a later stage of a fused chain, its stage number (1…); else 0.
    pub(crate) stage: usize,
}

impl Step {
    /// A step running its own operator (or none, for a source).
    pub(crate) fn new(node: usize, op: Option<Box<dyn Operator>>, routes: Routes) -> Self {
        Step {
            node,
            op,
            routes,
            fused: 0,
            stage: 0,
        }
    }
}

/// One parallel instance of a chain.
pub(crate) struct SubTask {
    pub(crate) subtask: u32,
    pub(crate) parallelism: u32,
    pub(crate) node_ids: Arc<Vec<String>>,
    pub(crate) head: Head,
    pub(crate) steps: Vec<Step>,
    pub(crate) counters: Arc<Vec<NodeCounters>>,
    pub(crate) ctl: Arc<Control>,
    pub(crate) batch_bytes: usize,
    current: usize,
    /// The chain's event-time watermark.
    watermark: i64,
    /// Whether downstream was told this sub-task is idle.
    idle_sent: bool,
    clock: Arc<dyn Clock>,
    last_tick: std::time::Instant,
    /// This sub-task's id at the coordinator.
    task: TaskId,
    /// The last barrier this sub-task passed.
    last_barrier: u64,
    /// The last completed checkpoint its operators heard of.
    last_notified: u64,
    /// Where backends stage their own checkpoint files.
    staging: PathBuf,
    /// What its snapshots may use or leave out.
    snapshots: SnapshotPolicy,
    /// The time the sub-task waited for input.
    idle: std::time::Duration,
    last_published: std::time::Instant,
}

/// How often a sub-task publishes its times and guest call statistics.
const PUBLISH: std::time::Duration = std::time::Duration::from_millis(200);

/// Records and encoded bytes in `out`.
fn sizes(out: &Outputs) -> (usize, usize) {
    out.side.iter().fold(
        (out.main.len(), out.main.byte_len()),
        |(n, b), (_, batch)| (n + batch.len(), b + batch.byte_len()),
    )
}

/// How often operators hear that processing time passed.
/// What a sub-task's snapshots may use or leave out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SnapshotPolicy {
    /// Checkpoints may use the backend's own (incremental) format.
    pub(crate) native: bool,
}

const TICK: std::time::Duration = std::time::Duration::from_millis(5);

impl SubTask {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        subtask: u32,
        parallelism: u32,
        node_ids: Arc<Vec<String>>,
        head: Head,
        steps: Vec<Step>,
        counters: Arc<Vec<NodeCounters>>,
        ctl: Arc<Control>,
        batch_bytes: usize,
        clock: Arc<dyn Clock>,
        task: TaskId,
        staging: PathBuf,
        snapshots: SnapshotPolicy,
    ) -> Self {
        SubTask {
            task,
            last_barrier: 0,
            last_notified: 0,
            staging,
            snapshots,
            subtask,
            parallelism,
            node_ids,
            head,
            steps,
            counters,
            ctl,
            batch_bytes,
            current: 0,
            watermark: i64::MIN,
            idle_sent: false,
            clock,
            last_tick: std::time::Instant::now(),
            idle: std::time::Duration::ZERO,
            last_published: std::time::Instant::now(),
        }
    }

    /// Publishes where the sub-task's time went (on the chain's head node)
    /// and what each guest's calls took, at most every PUBLISH unless
    /// `now` says so.
    fn publish(&mut self, now: bool) {
        if !now && self.last_published.elapsed() < PUBLISH {
            return;
        }
        self.last_published = std::time::Instant::now();
        self.counters[self.steps[0].node].set_idle(self.subtask, self.idle);
        for step in &self.steps {
            if let Some(stats) = step.op.as_ref().and_then(|op| op.call_stats()) {
                self.counters[step.node].set_calls(self.subtask, stats);
            }
        }
    }

    /// Runs to the end of input or the first failure, which is recorded in
    /// the job's control.
    pub(crate) fn run(mut self) {
        crate::metrics::enter_task(self.counters.clone(), self.steps[0].node, self.subtask);
        tracing::info!("sub-task running");
        let result = self.run_inner();
        match &result {
            Ok(()) => tracing::info!("sub-task finished"),
            Err(Stop::Cancelled) => tracing::info!("sub-task cancelled"),
            Err(Stop::Failed(f)) => tracing::info!("sub-task failed: {}", f.message),
        }
        self.publish(true);
        crate::metrics::leave_task();
        if result.is_err() {
            for step in &mut self.steps {
                if let Some(op) = &mut step.op {
                    op.abort();
                }
            }
        }
        if let Err(Stop::Failed(f)) = result {
            if self.ctl.cancelled() {
                // Stopping already (a failure elsewhere, a cancel, a failed
                // checkpoint): what this sub-task hit on the way out, such as
                // an interrupted call, is not the job's failure.
                tracing::debug!("sub-task stopped with: {}", f.message);
                return;
            }
            // A fused chain's failure belongs to the stage that failed.
            let at = self.current
                + self
                    .steps
                    .get(self.current)
                    .and_then(|s| s.op.as_ref())
                    .map_or(0, |op| op.failed_stage());
            let node = self.steps.get(at).map_or(0, |s| s.node);
            self.ctl.fail(JobFailure {
                operator: Some(self.node_ids[node].clone()),
                subtask: Some((self.subtask, self.parallelism)),
                domain: f.domain,
                message: f.message,
            });
        }
    }

    fn run_inner(&mut self) -> Result<(), Stop> {
        let head = std::mem::replace(&mut self.head, Head::Inbox(Inbox::new(Vec::new())));
        match head {
            Head::Source(mut reader) => {
                let mut last_data = std::time::Instant::now();
                loop {
                    if self.ctl.cancelled() {
                        return Err(Stop::Cancelled);
                    }
                    if let Some(b) = self.ctl.barrier_after(self.last_barrier) {
                        self.checkpoint(b, Some(reader.as_ref()))?;
                    }
                    if let Some(id) = self.notify_completed()? {
                        reader.notify_checkpoint_complete(id);
                    }
                    self.current = 0;
                    let mut out = Outputs::default();
                    let status = reader
                        .poll(&mut out, self.batch_bytes)
                        .map_err(Failure::from)?;
                    let (produced, bytes) = sizes(&out);
                    self.counters[self.steps[0].node].add_out(self.subtask, produced, bytes);
                    if produced > 0 {
                        last_data = std::time::Instant::now();
                        self.idle_sent = false;
                    }
                    self.route(0, out)?;
                    self.tick()?;
                    self.publish(false);
                    self.flush()?;
                    if let Some(wm) = reader.watermark()
                        && wm > self.watermark
                        && wm < i64::MAX
                    {
                        self.advance(wm, true)?;
                    }
                    match status {
                        SourceStatus::More => {}
                        SourceStatus::Idle(d) => {
                            if let Some(timeout) = reader.idle_timeout()
                                && !self.idle_sent
                                && last_data.elapsed() >= timeout
                            {
                                self.send_idle()?;
                            }
                            std::thread::sleep(d);
                            self.idle += d;
                        }
                        SourceStatus::Finished => break,
                    }
                }
                self.finish(Some(reader.as_ref()))?;
                self.report_finished(Some(reader.as_ref()))
            }
            Head::Inbox(inbox) => {
                let mut gate = InputGate::new(&inbox.ids());
                let mut steps = Vec::new();
                while !gate.all_ended() {
                    // Channels aligned on a barrier are not read: they fill
                    // up and hold their senders back until the barrier
                    // aligns everywhere.
                    let waiting = std::time::Instant::now();
                    let received = inbox.receive(|c| gate.is_open(c), &self.ctl)?;
                    self.idle += waiting.elapsed();
                    self.tick()?;
                    self.publish(false);
                    self.notify_completed()?;
                    let Some(env) = received else {
                        self.flush()?;
                        continue;
                    };
                    gate.accept(env, &mut steps).map_err(|UnknownChannel(c)| {
                        Failure::internal(format!("message on unexpected channel {c}"))
                    })?;
                    for step in steps.drain(..) {
                        self.act(step)?;
                    }
                }
                self.finish(None)?;
                self.report_finished(None)
            }
        }
    }

    /// Tells the operators of a newly completed checkpoint (sinks commit
    /// what it covers).
    fn notify_completed(&mut self) -> Result<Option<u64>, Stop> {
        let Some(id) = self.ctl.completed_after(self.last_notified) else {
            return Ok(None);
        };
        self.last_notified = id;
        for i in 0..self.steps.len() {
            self.current = i;
            if let Some(op) = &mut self.steps[i].op {
                op.notify_checkpoint_complete(id)?;
            }
        }
        Ok(Some(id))
    }

    /// Does what the input gate says.
    fn act(&mut self, step: GateStep) -> Result<(), Stop> {
        match step {
            GateStep::Records(batch) => {
                self.process_from(0, batch)?;
                self.flush()
            }
            GateStep::DeadLetters(letters) => {
                // The head operator's own dead letters.
                let mut out = Outputs::default();
                *out.side(weir_core::spec::DEAD_LETTER_OUTPUT) = letters;
                self.route_produced(0, out, &mut [])?;
                self.flush()
            }
            GateStep::Watermark(wm) => {
                if wm > self.watermark {
                    self.idle_sent = false;
                    self.advance(wm, wm < i64::MAX)?;
                }
                Ok(())
            }
            GateStep::Idle => {
                if self.idle_sent {
                    Ok(())
                } else {
                    self.send_idle()
                }
            }
            GateStep::Aligned(b) => self.checkpoint(b, None),
        }
    }

    /// Snapshots every operator of the chain (and the source's position)
    /// and sends the barrier on, after the records before it.
    fn checkpoint(&mut self, b: Barrier, reader: Option<&dyn SourceReader>) -> Result<(), Stop> {
        self.last_barrier = b.id;
        self.flush()?;
        let ops = self.snapshot_ops(b.kind, reader, false)?;
        let ctl = self.ctl.clone();
        for w in self.writers() {
            w.barrier(b, &ctl)?;
        }
        self.ctl.report(TaskEvent::Ack {
            id: b.id,
            task: self.task,
            ops,
        });
        Ok(())
    }

    fn snapshot_ops(
        &mut self,
        kind: CheckpointKind,
        reader: Option<&dyn SourceReader>,
        finished: bool,
    ) -> Result<Vec<OpAck>, Stop> {
        let staging = self.staging.join(format!("chk-{}", self.last_barrier));
        let mut acks = Vec::with_capacity(self.steps.len());
        // The operator states of a fused chain's later stages.
        let mut stage_states: Vec<Option<Vec<u8>>> = Vec::new();
        for i in 0..self.steps.len() {
            self.current = i;
            let node = self.steps[i].node;
            let mut snapshot =
                OperatorSnapshot::empty(&self.node_ids[node], self.subtask, self.parallelism);
            snapshot.finished = finished;
            let mut native = None;
            let mut deferred = None;
            let stage = self.steps[i].stage;
            match &mut self.steps[i].op {
                None if stage > 0 => {
                    snapshot.operator_state =
                        stage_states.get_mut(stage - 1).and_then(Option::take);
                }
                None => snapshot.source = reader.and_then(|r| r.position()),
                Some(op) => {
                    let ctx = SnapshotCtx {
                        kind,
                        native: self.snapshots.native && !finished,
                        staging: &staging.join(format!("{}-{}", self.node_ids[node], self.subtask)),
                        checkpoint: if finished {
                            u64::MAX
                        } else {
                            self.last_barrier
                        },
                    };
                    let st = op.snapshot(&ctx)?;
                    snapshot.keyed = st.keyed;
                    snapshot.timers = st.timers;
                    snapshot.operator_state = st.operator_state;
                    snapshot.sink = st.sink;
                    stage_states = st.stages;
                    native = st.native;
                    deferred = st.deferred;
                }
            }
            acks.push(OpAck {
                snapshot,
                native,
                deferred,
                spilled: None,
            });
        }
        Ok(acks)
    }

    /// Lets step `i` work on after the end of input. No barrier can come
    /// through the input any more, so the sub-task takes the checkpoints
    /// triggered meanwhile itself: with all its input read, any moment is
    /// a consistent cut of it.
    fn drain(&mut self, i: usize, reader: Option<&dyn SourceReader>) -> Result<(), Stop> {
        loop {
            // A step without an operator (the source) has nothing to do.
            let mut done = true;
            self.with_op(i, |op, out| {
                done = op.drain(out)?;
                Ok(())
            })?;
            if done {
                return Ok(());
            }
            if let Some(b) = self.ctl.barrier_after(self.last_barrier) {
                self.checkpoint(b, reader)?;
            }
            self.notify_completed()?;
            self.flush()?;
        }
    }

    /// After the end of input: this sub-task's final state, which stands
    /// for it in every later checkpoint.
    fn report_finished(&mut self, reader: Option<&dyn SourceReader>) -> Result<(), Stop> {
        let ops = self.snapshot_ops(CheckpointKind::Checkpoint, reader, true)?;
        self.ctl.report(TaskEvent::Finished {
            task: self.task,
            ops,
        });
        Ok(())
    }

    /// Advances the chain's watermark: every operator sees it in chain
    /// order (their outputs flow on), then downstream gets it after the
    /// records, unless `send` is false (the end of input says it anyway).
    fn advance(&mut self, wm: i64, send: bool) -> Result<(), Stop> {
        self.watermark = wm;
        for step in &self.steps {
            self.counters[step.node].set_watermark(self.subtask, wm);
        }
        for i in 0..self.steps.len() {
            self.with_op(i, |op, out| op.on_watermark(wm, out))?;
        }
        if send {
            let ctl = self.ctl.clone();
            for w in self.writers() {
                w.watermark(wm, &ctl)?;
            }
        }
        Ok(())
    }

    /// Lets operators act on processing time (timers), at most every TICK.
    fn tick(&mut self) -> Result<(), Stop> {
        if self.last_tick.elapsed() < TICK {
            return Ok(());
        }
        self.last_tick = std::time::Instant::now();
        if !self
            .steps
            .iter()
            .any(|s| s.op.as_ref().is_some_and(|o| o.wants_processing_time()))
        {
            return Ok(());
        }
        let now = self.clock.now_ms();
        for i in 0..self.steps.len() {
            self.with_op(i, |op, out| op.on_processing_time(now, out))?;
        }
        Ok(())
    }

    fn send_idle(&mut self) -> Result<(), Stop> {
        self.idle_sent = true;
        let ctl = self.ctl.clone();
        for w in self.writers() {
            w.idle(&ctl)?;
        }
        Ok(())
    }

    /// Runs `batch` through step `i` (and, as it produces, the steps after
    /// it).
    fn process_from(&mut self, i: usize, batch: Batch) -> Result<(), Stop> {
        let node = self.steps[i].node;
        self.counters[node].add_in(self.subtask, batch.len(), batch.byte_len());
        self.check_fault(i)?;
        self.with_op(i, |op, out| op.process(&batch, out))
    }

    /// Fails with an injected fault (tests) when step `i`'s node is due.
    fn check_fault(&mut self, i: usize) -> Result<(), Stop> {
        let node = self.steps[i].node;
        if self.ctl.has_fault()
            && self
                .ctl
                .fault_due(&self.node_ids[node], self.counters[node].total_in())
        {
            self.current = i;
            return Err(Failure::internal("injected fault").into());
        }
        Ok(())
    }

    /// Runs `f` on step `i`'s operator with an emitter that routes what it
    /// produces as it goes: side outputs out of the chain, the main output
    /// to the next step or out.
    fn with_op(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut dyn Operator, &mut Emitter<'_>) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let Some(mut op) = self.steps[i].op.take() else {
            return Ok(());
        };
        self.current = i;
        let flush = self.batch_bytes;
        let stages = self.steps[i].fused;
        let result = {
            let mut downstream = |out: Outputs, later: &mut [StageOut]| {
                let routed = self.route_produced(i, out, later);
                // Back at step `i`: a failure of its own from here on is its.
                if routed.is_ok() {
                    self.current = i;
                }
                routed
            };
            let mut out = Emitter::new(flush, stages, &mut downstream);
            f(op.as_mut(), &mut out).and_then(|()| out.pass_on())
        };
        self.steps[i].op = Some(op);
        result
    }

    /// Counts and routes what step `i` produced; with `later` stages, step
    /// `i` runs a fused chain: each stage counts and routes as its own
    /// node, and the last stage's main output goes on from there.
    fn route_produced(
        &mut self,
        i: usize,
        mut out: Outputs,
        later: &mut [StageOut],
    ) -> Result<(), Stop> {
        if later.is_empty() {
            if out.is_empty() {
                return Ok(());
            }
            let (produced, bytes) = sizes(&out);
            self.counters[self.steps[i].node].add_out(self.subtask, produced, bytes);
            return self.route(i, out);
        }
        let main = std::mem::take(&mut out.main);
        // What each stage passed to the next inside the guest.
        let passed: Vec<(u64, u64)> = later
            .iter()
            .map(|s| (s.records_in, s.bytes_in))
            .chain(std::iter::once((main.len() as u64, main.byte_len() as u64)))
            .collect();
        self.count_stage(i, &out, passed[0]);
        self.route_side(i, out)?;
        for (k, stage) in later.iter_mut().enumerate() {
            let at = i + k + 1;
            let node = self.steps[at].node;
            let got = (stage.records_in, stage.bytes_in);
            (stage.records_in, stage.bytes_in) = (0, 0);
            self.counters[node].add_in(self.subtask, got.0 as usize, got.1 as usize);
            self.check_fault(at)?;
            let side = std::mem::take(&mut stage.out);
            self.count_stage(at, &side, passed[k + 1]);
            self.route_side(at, side)?;
        }
        let last = i + later.len();
        self.route(
            last,
            Outputs {
                main,
                ..Outputs::default()
            },
        )
    }

    /// Counts what step `i` produced: its side outputs in `out`, and
    /// `main` (records, bytes) passed on.
    fn count_stage(&self, i: usize, out: &Outputs, main: (u64, u64)) {
        let (side, side_bytes) = sizes(out);
        self.counters[self.steps[i].node].add_out(
            self.subtask,
            side + main.0 as usize,
            side_bytes + main.1 as usize,
        );
    }

    /// Routes what step `i` produced: side outputs out, main onward (to
    /// the next step in batches of at most 16 times the batch size).
    fn route(&mut self, i: usize, mut out: Outputs) -> Result<(), Stop> {
        let main = std::mem::take(&mut out.main);
        self.route_side(i, out)?;
        if i + 1 < self.steps.len() {
            if main.is_empty() {
                return Ok(());
            }
            // Operators size their own calls; only very large outputs
            // (a big window firing) are cut here.
            if main.byte_len() <= 16 * self.batch_bytes {
                return self.process_from(i + 1, main);
            }
            for part in main
                .split(self.batch_bytes)
                .map_err(crate::operators::bad)?
            {
                self.process_from(i + 1, part)?;
            }
            Ok(())
        } else {
            for w in &mut self.steps[i].routes.main {
                w.write(&main, &self.ctl)?;
            }
            Ok(())
        }
    }

    fn route_side(&mut self, i: usize, out: Outputs) -> Result<(), Stop> {
        for (name, batch) in out.side {
            if let Some((_, writers)) = self.steps[i]
                .routes
                .side
                .iter_mut()
                .find(|(n, _)| *n == name)
            {
                for w in writers {
                    w.write(&batch, &self.ctl)?;
                }
            }
        }
        Ok(())
    }

    fn writers(&mut self) -> impl Iterator<Item = &mut EdgeWriter> {
        self.steps.iter_mut().flat_map(|s| {
            s.routes
                .main
                .iter_mut()
                .chain(s.routes.side.iter_mut().flat_map(|(_, w)| w.iter_mut()))
        })
    }

    fn flush(&mut self) -> Result<(), Stop> {
        let ctl = self.ctl.clone();
        for w in self.writers() {
            w.flush(&ctl)?;
        }
        Ok(())
    }

    /// End of input: the watermark goes to +∞ (event-time work completes),
    /// every operator drains and finishes in chain order, then every
    /// downstream sub-task is told.
    fn finish(&mut self, reader: Option<&dyn SourceReader>) -> Result<(), Stop> {
        if self.watermark < i64::MAX {
            self.advance(i64::MAX, false)?;
        }
        for i in 0..self.steps.len() {
            self.drain(i, reader)?;
            self.with_op(i, |op, out| op.finish(out))?;
        }
        let ctl = self.ctl.clone();
        for w in self.writers() {
            w.end(&ctl)?;
        }
        Ok(())
    }
}
