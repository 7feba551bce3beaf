//! Moving batches between sub-tasks: envelopes, bounded channels with
//! cancellation-aware send and receive, and the partitioners of an edge.

use crate::control::Control;
use crate::failure::Failure;
use crate::operators::{DeadLetters, Rejected};
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use std::time::Duration;
use weir_core::Batch;
use weir_core::graph::KeySelector;
use weir_core::keygroup::{key_group, subtask_for_key_group};
use weir_core::spec::Exchange;

/// How long a blocked send or receive waits before it checks for
/// cancellation (and a receiver lets processing time advance).
const POLL: Duration = Duration::from_millis(20);

/// What travels on a channel.
pub(crate) enum Msg {
    /// Records.
    Data(Batch),
    /// The sender's event time has reached this watermark: it will send no
    /// record it considers on time with a smaller timestamp.
    Watermark(i64),
    /// The sender has no records for a while; do not wait for its
    /// watermark. Its next message makes it active again.
    Idle,
    /// A checkpoint barrier: everything before it belongs to the
    /// checkpoint, everything after to the next.
    Barrier(crate::control::Barrier),
    /// Records the sender could not route to the receiving operator (no
    /// key field), as dead letters for that operator's `dead-letter` side
    /// output.
    DeadLetters(Batch),
    /// The sender has no more records.
    End,
}

/// A message and the channel (sender) it came from.
pub(crate) struct Envelope {
    pub(crate) channel: u32,
    pub(crate) msg: Msg,
}

/// The sending side of one channel.
pub(crate) type Outbox = Sender<Envelope>;

/// One input channel of a sub-task: a bounded queue fed by one upstream
/// sub-task. A channel the sub-task does not read from (aligned on a
/// barrier) fills up and holds its sender back: backpressure per channel.
pub(crate) struct InChannel {
    pub(crate) id: u32,
    pub(crate) rx: Receiver<Envelope>,
    /// For a channel from another process: returns a credit to the sender
    /// for each message taken.
    pub(crate) credit: Option<std::sync::Arc<std::sync::OnceLock<crate::remote::CreditHook>>>,
}

impl InChannel {
    /// A channel fed from this process.
    pub(crate) fn local(id: u32, rx: Receiver<Envelope>) -> Self {
        InChannel {
            id,
            rx,
            credit: None,
        }
    }

    fn took(&self) {
        if let Some(hook) = self.credit.as_ref().and_then(|h| h.get()) {
            hook();
        }
    }
}

/// The receiving side of a sub-task's input: its channels.
pub(crate) struct Inbox {
    channels: Vec<InChannel>,
}

impl Inbox {
    /// An inbox over `channels`.
    pub(crate) fn new(channels: Vec<InChannel>) -> Self {
        Inbox { channels }
    }

    /// The channel ids.
    pub(crate) fn ids(&self) -> Vec<u32> {
        self.channels.iter().map(|c| c.id).collect()
    }

    /// Receives from one of the channels `open` lets through, waiting up
    /// to a short poll interval; `None` when nothing came.
    pub(crate) fn receive(
        &self,
        open: impl Fn(u32) -> bool,
        ctl: &Control,
    ) -> Result<Option<Envelope>, Stop> {
        let mut first = 0;
        let mut n = 0;
        for (i, c) in self.channels.iter().enumerate() {
            if open(c.id) {
                if n == 0 {
                    first = i;
                }
                n += 1;
            }
        }
        let timed_out = || {
            if ctl.cancelled() {
                Err(Stop::Cancelled)
            } else {
                Ok(None)
            }
        };
        match n {
            0 => {
                std::thread::sleep(POLL);
                timed_out()
            }
            // The common case of one live channel needs no select.
            1 => match self.channels[first].rx.recv_timeout(POLL) {
                Ok(e) => {
                    self.channels[first].took();
                    Ok(Some(e))
                }
                Err(RecvTimeoutError::Timeout) => timed_out(),
                Err(RecvTimeoutError::Disconnected) => Err(Stop::Cancelled),
            },
            _ => {
                let mut sel = crossbeam_channel::Select::new();
                let mut index = Vec::with_capacity(n);
                for (i, c) in self.channels.iter().enumerate() {
                    if open(c.id) {
                        sel.recv(&c.rx);
                        index.push(i);
                    }
                }
                match sel.select_timeout(POLL) {
                    Ok(op) => {
                        let c = &self.channels[index[op.index()]];
                        let env = op.recv(&c.rx).map_err(|_| Stop::Cancelled)?;
                        c.took();
                        Ok(Some(env))
                    }
                    Err(_) => timed_out(),
                }
            }
        }
    }
}

/// Why a sub-task stops without a failure of its own.
pub(crate) enum Stop {
    /// Another sub-task failed or the job was cancelled.
    Cancelled,
    /// This sub-task failed.
    Failed(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failed(f)
    }
}

impl From<weir_state::StateError> for Stop {
    fn from(e: weir_state::StateError) -> Self {
        Stop::Failed(e.into())
    }
}

impl From<weir_wasm::CallError> for Stop {
    fn from(e: weir_wasm::CallError) -> Self {
        Stop::Failed(e.into())
    }
}

/// Sends, waiting while the channel is full (backpressure) unless the job is
/// cancelled.
pub(crate) fn send(out: &Outbox, env: Envelope, ctl: &Control) -> Result<(), Stop> {
    let mut env = match out.try_send(env) {
        Ok(()) => return Ok(()),
        Err(crossbeam_channel::TrySendError::Full(e)) => e,
        Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(Stop::Cancelled),
    };
    let started = std::time::Instant::now();
    crate::metrics::blocked();
    let result = loop {
        match out.send_timeout(env, POLL) {
            Ok(()) => break Ok(()),
            Err(SendTimeoutError::Timeout(e)) => {
                if ctl.cancelled() {
                    break Err(Stop::Cancelled);
                }
                env = e;
            }
            Err(SendTimeoutError::Disconnected(_)) => break Err(Stop::Cancelled),
        }
    };
    crate::metrics::unblocked(started.elapsed());
    result
}

/// Distributes one output of a sub-task over the sub-tasks of a downstream
/// node.
pub(crate) struct EdgeWriter {
    exchange: Exchange,
    key: KeySelector,
    targets: Vec<Outbox>,
    /// This sender's channel number at the receivers.
    channel: u32,
    /// This sender's sub-task index (the forward target).
    subtask: usize,
    buffers: Vec<Batch>,
    next: usize,
    max_parallelism: u32,
    flush_bytes: usize,
    /// When the receiving operator sets failed records aside: records
    /// without their key field go to it as dead letters.
    dead_letters: Option<String>,
}

impl EdgeWriter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        exchange: Exchange,
        key: KeySelector,
        targets: Vec<Outbox>,
        channel: u32,
        subtask: u32,
        max_parallelism: u32,
        flush_bytes: usize,
    ) -> Self {
        let n = targets.len();
        EdgeWriter {
            exchange,
            key,
            targets,
            channel,
            subtask: subtask as usize,
            buffers: (0..n).map(|_| Batch::default()).collect(),
            next: subtask as usize,
            max_parallelism,
            flush_bytes,
            dead_letters: None,
        }
    }

    /// Records without their key field become dead letters of the
    /// receiving operator `operator` instead of failing the job.
    pub(crate) fn with_dead_letters(mut self, operator: &str) -> Self {
        self.dead_letters = Some(operator.to_owned());
        self
    }

    /// Routes a batch into the per-target buffers, sending full ones.
    pub(crate) fn write(&mut self, batch: &Batch, ctl: &Control) -> Result<(), Stop> {
        if batch.is_empty() {
            return Ok(());
        }
        match self.exchange {
            // A forward edge has one target: the peer sub-task.
            Exchange::Forward => self.append(0, batch, ctl)?,
            Exchange::Rebalance => {
                let t = self.next % self.targets.len();
                self.next = self.next.wrapping_add(1);
                self.append(t, batch, ctl)?;
            }
            Exchange::Broadcast => {
                for t in 0..self.targets.len() {
                    self.append(t, batch, ctl)?;
                }
            }
            Exchange::KeyBy => {
                let p = self.targets.len() as u32;
                let mut rejected = Vec::new();
                for r in batch.iter() {
                    let r = r.map_err(|e| Failure::user(format!("corrupt batch: {e}")))?;
                    match &self.key {
                        KeySelector::RecordKey => {
                            let kg = key_group(r.key, self.max_parallelism);
                            let t = subtask_for_key_group(kg, self.max_parallelism, p);
                            self.buffers[t as usize].push_ref(&r);
                        }
                        KeySelector::JsonField(path) => match json_key(r.value, path) {
                            Ok(key) => {
                                let kg = key_group(&key, self.max_parallelism);
                                let t = subtask_for_key_group(kg, self.max_parallelism, p);
                                self.buffers[t as usize].push(r.ts, &key, r.value);
                            }
                            Err(f) => match &self.dead_letters {
                                Some(_) => rejected.push((r, f.message)),
                                None => return Err(f.into()),
                            },
                        },
                    }
                }
                if let (false, Some(operator)) = (rejected.is_empty(), &self.dead_letters) {
                    // They go to one receiver, after the records before them.
                    let t = self.subtask % self.targets.len();
                    let dl = DeadLetters {
                        operator: operator.clone(),
                        subtask: t as u32,
                    };
                    let mut letters = Batch::default();
                    for (r, message) in &rejected {
                        let rej = Rejected {
                            ts: r.ts,
                            key: r.key,
                            value: r.value,
                            timer: false,
                        };
                        dl.push(&mut letters, "rejected", message, &rej);
                    }
                    if !self.buffers[t].is_empty() {
                        self.send_buffer(t, ctl)?;
                    }
                    send(
                        &self.targets[t],
                        Envelope {
                            channel: self.channel,
                            msg: Msg::DeadLetters(letters),
                        },
                        ctl,
                    )?;
                }
            }
        }
        for t in 0..self.buffers.len() {
            if self.buffers[t].byte_len() >= self.flush_bytes {
                self.send_buffer(t, ctl)?;
            }
        }
        Ok(())
    }

    /// Appends `batch` to target `t`'s buffer, sending full buffers on the
    /// way, so no message is much bigger than the flush size.
    fn append(&mut self, t: usize, batch: &Batch, ctl: &Control) -> Result<(), Stop> {
        if self.buffers[t].is_empty() && batch.byte_len() <= 2 * self.flush_bytes {
            self.buffers[t] = batch.clone();
            return Ok(());
        }
        for r in batch.iter() {
            let r = r.map_err(|e| Failure::user(format!("corrupt batch: {e}")))?;
            self.buffers[t].push_ref(&r);
            if self.buffers[t].byte_len() >= self.flush_bytes {
                self.send_buffer(t, ctl)?;
            }
        }
        Ok(())
    }

    fn send_buffer(&mut self, t: usize, ctl: &Control) -> Result<(), Stop> {
        let b = std::mem::take(&mut self.buffers[t]);
        send(
            &self.targets[t],
            Envelope {
                channel: self.channel,
                msg: Msg::Data(b),
            },
            ctl,
        )
    }

    /// Sends every buffered record.
    pub(crate) fn flush(&mut self, ctl: &Control) -> Result<(), Stop> {
        for t in 0..self.buffers.len() {
            if !self.buffers[t].is_empty() {
                self.send_buffer(t, ctl)?;
            }
        }
        Ok(())
    }

    /// Flushes, then sends a control message to every receiver of this
    /// sender (after the records, on the same channels, so order holds).
    fn broadcast(&mut self, msg: impl Fn() -> Msg, ctl: &Control) -> Result<(), Stop> {
        self.flush(ctl)?;
        for t in 0..self.targets.len() {
            send(
                &self.targets[t],
                Envelope {
                    channel: self.channel,
                    msg: msg(),
                },
                ctl,
            )?;
        }
        Ok(())
    }

    /// Sends a watermark after the buffered records.
    pub(crate) fn watermark(&mut self, wm: i64, ctl: &Control) -> Result<(), Stop> {
        self.broadcast(|| Msg::Watermark(wm), ctl)
    }

    /// Sends a checkpoint barrier after the buffered records.
    pub(crate) fn barrier(
        &mut self,
        b: crate::control::Barrier,
        ctl: &Control,
    ) -> Result<(), Stop> {
        self.broadcast(|| Msg::Barrier(b), ctl)
    }

    /// Marks this sender idle.
    pub(crate) fn idle(&mut self, ctl: &Control) -> Result<(), Stop> {
        self.broadcast(|| Msg::Idle, ctl)
    }

    /// Flushes, then tells every receiver this sender is done.
    pub(crate) fn end(&mut self, ctl: &Control) -> Result<(), Stop> {
        self.broadcast(|| Msg::End, ctl)
    }
}

/// The key of a JSON record: the field's text for strings, its JSON text
/// otherwise.
fn json_key(value: &[u8], path: &[String]) -> Result<Vec<u8>, Failure> {
    let v: serde_json::Value = serde_json::from_slice(value).map_err(|e| {
        Failure::user(format!(
            "cannot key by field '{}': record is not JSON ({e}): {}",
            path.join("."),
            snippet(value)
        ))
    })?;
    let mut cur = &v;
    for p in path {
        cur = cur.get(p).ok_or_else(|| {
            Failure::user(format!(
                "cannot key by field '{}': record has no such field: {}",
                path.join("."),
                snippet(value)
            ))
        })?;
    }
    Ok(match cur {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    })
}

fn snippet(value: &[u8]) -> String {
    let s = String::from_utf8_lossy(value);
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.into_owned()
    }
}
