//! The input side of a sub-task fed by upstream sub-tasks, free of I/O: per
//! channel it tracks the watermark, idleness and end of input, aligns
//! checkpoint barriers (a channel that delivered the barrier is closed until
//! every live channel has: the sub-task stops reading it, so it fills up and
//! holds its sender back, Flink's blocking alignment), and says what the
//! sub-task should do with each message. The sub-task loop (`task.rs`)
//! feeds it messages from its open channels and acts on the steps; the model
//! tests below feed it random interleavings.

use crate::control::Barrier;
use crate::exchange::{Envelope, Msg};
use weir_core::Batch;

/// What a receiver knows about one input channel.
struct Channel {
    id: u32,
    watermark: i64,
    idle: bool,
    ended: bool,
    /// A barrier arrived on this channel and others' are awaited: the
    /// channel is closed until they arrive (barrier alignment).
    aligned: bool,
}

/// What the sub-task does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Process these records.
    Records(Batch),
    /// Route these dead letters of the head operator.
    DeadLetters(Batch),
    /// The input watermark is now this: the minimum over live channels
    /// that are not idle (+∞ when none is live). The sub-task advances
    /// when it is ahead of its own.
    Watermark(i64),
    /// Every live channel is idle.
    Idle,
    /// Every live channel delivered this barrier: snapshot now, then go
    /// on (every live channel is open again).
    Aligned(Barrier),
}

/// A message the gate cannot take: on a channel it does not know, or on
/// one it closed.
#[derive(Debug)]
pub(crate) struct UnknownChannel(pub(crate) u32);

/// The channels of one sub-task's input.
pub(crate) struct InputGate {
    chans: Vec<Channel>,
    aligning: Option<Barrier>,
    /// The last barrier aligned.
    last_barrier: u64,
}

impl InputGate {
    /// A gate over the channels with these ids.
    pub(crate) fn new(channels: &[u32]) -> Self {
        InputGate {
            chans: channels
                .iter()
                .map(|&id| Channel {
                    id,
                    watermark: i64::MIN,
                    idle: false,
                    ended: false,
                    aligned: false,
                })
                .collect(),
            aligning: None,
            last_barrier: 0,
        }
    }

    /// Whether every channel ended.
    pub(crate) fn all_ended(&self) -> bool {
        self.chans.iter().all(|c| c.ended)
    }

    /// Whether the sub-task may read channel `id` now: not while it waits
    /// for the other channels' barrier, nor after its end.
    pub(crate) fn is_open(&self, id: u32) -> bool {
        self.chans
            .iter()
            .find(|c| c.id == id)
            .is_some_and(|c| !c.aligned && !c.ended)
    }

    /// The input watermark after a change: idle when every live channel is.
    fn watermark_step(&self) -> Step {
        let mut live = self.chans.iter().filter(|c| !c.ended).peekable();
        if live.peek().is_some() && self.chans.iter().filter(|c| !c.ended).all(|c| c.idle) {
            return Step::Idle;
        }
        Step::Watermark(
            self.chans
                .iter()
                .filter(|c| !c.ended && !c.idle)
                .map(|c| c.watermark)
                .min()
                .unwrap_or(i64::MAX),
        )
    }

    /// Takes one message; appends what to do about it to `steps`, in order.
    pub(crate) fn accept(
        &mut self,
        env: Envelope,
        steps: &mut Vec<Step>,
    ) -> Result<(), UnknownChannel> {
        let ci = self
            .chans
            .iter()
            .position(|c| c.id == env.channel)
            .ok_or(UnknownChannel(env.channel))?;
        if self.chans[ci].aligned || self.chans[ci].ended {
            return Err(UnknownChannel(env.channel));
        }
        match env.msg {
            Msg::Data(batch) => {
                self.chans[ci].idle = false;
                steps.push(Step::Records(batch));
            }
            Msg::DeadLetters(letters) => steps.push(Step::DeadLetters(letters)),
            Msg::Watermark(wm) => {
                let ch = &mut self.chans[ci];
                ch.idle = false;
                ch.watermark = ch.watermark.max(wm);
                steps.push(self.watermark_step());
            }
            Msg::Idle => {
                self.chans[ci].idle = true;
                steps.push(self.watermark_step());
            }
            Msg::Barrier(b) => {
                if b.id > self.last_barrier {
                    // A newer barrier supersedes one still aligning (that
                    // checkpoint failed).
                    self.aligning = Some(match self.aligning {
                        Some(a) if a.id >= b.id => a,
                        _ => b,
                    });
                    self.chans[ci].aligned = true;
                }
            }
            Msg::End => {
                self.chans[ci].ended = true;
                if !self.all_ended() {
                    steps.push(self.watermark_step());
                }
            }
        }
        // Aligned: every live channel delivered the barrier (ended channels
        // never will, and need not).
        if let Some(b) = self.aligning
            && self.chans.iter().all(|c| c.ended || c.aligned)
        {
            self.aligning = None;
            self.last_barrier = b.id;
            steps.push(Step::Aligned(b));
            for c in &mut self.chans {
                c.aligned = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Model tests: random interleavings of what upstream sub-tasks send,
    //! checked against what must hold whatever the interleaving.

    use super::*;
    use std::collections::VecDeque;
    use weir_checkpoint::CheckpointKind;

    /// A small deterministic generator.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n.max(1)
        }
    }

    fn record(channel: u32, seq: u32) -> Batch {
        let mut b = Batch::default();
        b.push(0, &channel.to_le_bytes(), &seq.to_le_bytes());
        b
    }

    fn decode(b: &Batch) -> (u32, u32) {
        let r = b.iter().next().expect("one record").expect("frame");
        let mut c = [0u8; 4];
        c.copy_from_slice(r.key);
        let mut s = [0u8; 4];
        s.copy_from_slice(r.value);
        (u32::from_le_bytes(c), u32::from_le_bytes(s))
    }

    fn barrier(id: u64) -> Barrier {
        Barrier {
            id,
            kind: CheckpointKind::Checkpoint,
        }
    }

    /// What one channel sends, in order: records numbered from 0 with
    /// barriers 1..=`barriers` among them, then the end (unless it stops
    /// early, before some barriers).
    fn script(rng: &mut Rng, channel: u32, barriers: u64) -> Vec<Msg> {
        let mut msgs = Vec::new();
        let mut seq = 0;
        let last = if rng.below(4) == 0 {
            rng.below(barriers + 1)
        } else {
            barriers
        };
        for b in 1..=last {
            for _ in 0..rng.below(4) {
                msgs.push(Msg::Data(record(channel, seq)));
                seq += 1;
            }
            msgs.push(Msg::Barrier(barrier(b)));
        }
        for _ in 0..rng.below(4) {
            msgs.push(Msg::Data(record(channel, seq)));
            seq += 1;
        }
        msgs.push(Msg::End);
        msgs
    }

    /// Delivers the channels' scripts interleaved at random, acting on the
    /// steps as a sub-task would; returns the records in processing order
    /// and, per aligned barrier, how many records of each channel had been
    /// processed when it aligned.
    /// The records processed, as (channel, number), in order.
    type Processed = Vec<(u32, u32)>;
    /// Per aligned barrier: its id and the records processed per channel.
    type Cuts = Vec<(u64, Vec<u32>)>;

    fn drive(rng: &mut Rng, scripts: Vec<Vec<Msg>>) -> (Processed, Cuts) {
        let n = scripts.len();
        let mut queues: Vec<VecDeque<Msg>> = scripts.into_iter().map(VecDeque::from).collect();
        let ids: Vec<u32> = (0..n as u32).collect();
        let mut gate = InputGate::new(&ids);
        let mut processed = Vec::new();
        let mut per_channel = vec![0u32; n];
        let mut snapshots = Vec::new();
        let mut steps = Vec::new();
        while !gate.all_ended() {
            // The sub-task reads only open channels.
            let open: Vec<usize> = (0..n)
                .filter(|&c| gate.is_open(c as u32) && !queues[c].is_empty())
                .collect();
            assert!(
                !open.is_empty(),
                "the gate waits for a message nobody will send"
            );
            let c = open[rng.below(open.len() as u64) as usize];
            let msg = queues[c].pop_front().expect("non-empty");
            let env = Envelope {
                channel: c as u32,
                msg,
            };
            gate.accept(env, &mut steps).expect("known channel");
            for s in steps.drain(..) {
                match s {
                    Step::Records(b) => {
                        let (c, seq) = decode(&b);
                        processed.push((c, seq));
                        per_channel[c as usize] += 1;
                    }
                    Step::Aligned(b) => snapshots.push((b.id, per_channel.clone())),
                    _ => {}
                }
            }
        }
        (processed, snapshots)
    }

    #[test]
    fn alignment_makes_every_checkpoint_cut_consistent() {
        for seed in 0..500 {
            let mut rng = Rng(seed);
            let channels = 1 + rng.below(4) as u32;
            let barriers = rng.below(4);
            let scripts: Vec<Vec<Msg>> = (0..channels)
                .map(|c| script(&mut rng, c, barriers))
                .collect();
            // What each channel sent before each barrier, and in all.
            let mut before: Vec<Vec<Option<u32>>> = Vec::new();
            let mut total = Vec::new();
            let mut sent = 0;
            for s in &scripts {
                let mut counts = vec![None; barriers as usize + 1];
                let mut records = 0;
                for m in s {
                    match m {
                        Msg::Data(_) => records += 1,
                        Msg::Barrier(b) => {
                            counts[b.id as usize] = Some(records);
                            sent = sent.max(b.id);
                        }
                        _ => {}
                    }
                }
                before.push(counts);
                total.push(records);
            }
            let (processed, snapshots) = drive(&mut rng, scripts);

            // Every record once, each channel's in order.
            for c in 0..channels {
                let seqs: Vec<u32> = processed
                    .iter()
                    .filter(|(ch, _)| *ch == c)
                    .map(|(_, s)| *s)
                    .collect();
                assert_eq!(
                    seqs,
                    (0..total[c as usize]).collect::<Vec<_>>(),
                    "seed {seed}"
                );
            }
            // A barrier some channel sent aligns once, in order, when every
            // channel delivered it or ended; its cut holds exactly what came
            // before it on each channel (everything, for channels that
            // ended first).
            let ids: Vec<u64> = snapshots.iter().map(|s| s.0).collect();
            let want: Vec<u64> = (1..=sent).collect();
            assert_eq!(ids, want, "seed {seed}");
            for (id, cut) in &snapshots {
                for c in 0..channels as usize {
                    let expect = before[c][*id as usize].unwrap_or(total[c]);
                    assert_eq!(cut[c], expect, "seed {seed}, barrier {id}, channel {c}");
                }
            }
        }
    }

    #[test]
    fn the_input_watermark_is_the_minimum_over_live_active_channels() {
        for seed in 0..500 {
            let mut rng = Rng(seed);
            let n = 1 + rng.below(4) as usize;
            let ids: Vec<u32> = (0..n as u32).collect();
            let mut gate = InputGate::new(&ids);
            // The reference: per channel its watermark, idleness, end.
            let mut wm = vec![i64::MIN; n];
            let mut idle = vec![false; n];
            let mut ended = vec![false; n];
            let mut steps = Vec::new();
            for _ in 0..60 {
                let live: Vec<usize> = (0..n).filter(|&c| !ended[c]).collect();
                if live.is_empty() {
                    break;
                }
                let c = live[rng.below(live.len() as u64) as usize];
                let msg = match rng.below(10) {
                    0..=5 => {
                        // Watermarks may come out of order: they never go back.
                        let w = rng.below(100) as i64;
                        wm[c] = wm[c].max(w);
                        idle[c] = false;
                        Msg::Watermark(w)
                    }
                    6..=8 => {
                        idle[c] = true;
                        Msg::Idle
                    }
                    _ => {
                        ended[c] = true;
                        Msg::End
                    }
                };
                gate.accept(
                    Envelope {
                        channel: c as u32,
                        msg,
                    },
                    &mut steps,
                )
                .expect("known");
                let live: Vec<usize> = (0..n).filter(|&c| !ended[c]).collect();
                if live.is_empty() {
                    assert!(steps.is_empty(), "no step when the input ended");
                    continue;
                }
                let expected = if live.iter().all(|&c| idle[c]) {
                    None
                } else {
                    live.iter().filter(|&&c| !idle[c]).map(|&c| wm[c]).min()
                };
                match steps.pop() {
                    Some(Step::Idle) => assert_eq!(expected, None, "seed {seed}"),
                    Some(Step::Watermark(w)) => assert_eq!(Some(w), expected, "seed {seed}"),
                    other => panic!("seed {seed}: unexpected {other:?}"),
                }
                assert!(steps.is_empty());
            }
        }
    }

    #[test]
    fn a_newer_barrier_supersedes_one_still_aligning() {
        let mut gate = InputGate::new(&[0, 1]);
        let mut steps = Vec::new();
        let send = |gate: &mut InputGate, steps: &mut Vec<Step>, channel, msg| {
            gate.accept(Envelope { channel, msg }, steps)
                .expect("known")
        };
        send(&mut gate, &mut steps, 0, Msg::Barrier(barrier(1)));
        // Checkpoint 1 failed; 2 reaches channel 1 first.
        send(&mut gate, &mut steps, 1, Msg::Barrier(barrier(2)));
        let aligned: Vec<u64> = steps
            .drain(..)
            .filter_map(|s| match s {
                Step::Aligned(b) => Some(b.id),
                _ => None,
            })
            .collect();
        assert_eq!(aligned, vec![2]);
        // Channel 0's barrier 2 comes later and is old news.
        assert!(gate.is_open(0) && gate.is_open(1));
        send(&mut gate, &mut steps, 0, Msg::Barrier(barrier(2)));
        send(&mut gate, &mut steps, 0, Msg::Data(record(0, 0)));
        assert!(matches!(steps.as_slice(), [Step::Records(_)]), "{steps:?}");

        // While a barrier aligns, its channel is closed.
        steps.clear();
        send(&mut gate, &mut steps, 0, Msg::Barrier(barrier(3)));
        assert!(!gate.is_open(0) && gate.is_open(1));
        let closed = gate.accept(
            Envelope {
                channel: 0,
                msg: Msg::End,
            },
            &mut steps,
        );
        assert!(closed.is_err(), "a closed channel takes nothing");
        send(&mut gate, &mut steps, 1, Msg::Barrier(barrier(3)));
        assert!(gate.is_open(0) && gate.is_open(1));
    }

    #[test]
    fn a_message_on_an_unknown_channel_is_an_error() {
        let mut gate = InputGate::new(&[3]);
        let r = gate.accept(
            Envelope {
                channel: 9,
                msg: Msg::End,
            },
            &mut Vec::new(),
        );
        assert!(matches!(r, Err(UnknownChannel(9))));
    }
}
