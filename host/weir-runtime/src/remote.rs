//! The ends of channels whose other end runs in another process: frames
//! (one message each, batches as their `weir-wire` bytes) and credits. A
//! transport moves the frames; flow control is one credit per frame: a
//! receiver holds at most as many frames as it granted credits, and grants
//! one back each time its sub-task takes a frame from the channel's queue,
//! so memory stays bounded and a slow channel stalls only its sender.

use crate::control::{Barrier, TaskId};
use crate::exchange::{Envelope, Msg};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use weir_checkpoint::CheckpointKind;
use weir_core::Batch;

/// One channel between two sub-tasks: producer, consumer, and the
/// channel's number at the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey {
    /// The producing sub-task.
    pub from: TaskId,
    /// The consuming sub-task.
    pub to: TaskId,
    /// The channel's number among the consumer's inputs.
    pub channel: u32,
}

/// Called each time the consumer takes a frame: one credit back.
pub type CreditHook = Box<dyn Fn() + Send + Sync>;

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not a frame this version writes.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The sender sent more frames than it had credits for.
    #[error("the sender exceeded its credits on channel {0}")]
    OverCredit(u32),
    /// The consuming sub-task is gone.
    #[error("the receiving sub-task stopped")]
    Closed,
}

const DATA: u8 = 1;
const WATERMARK: u8 = 2;
const IDLE: u8 = 3;
const BARRIER: u8 = 4;
const DEAD_LETTERS: u8 = 5;
const END: u8 = 6;

/// Encodes one message as a frame.
fn encode(msg: &Msg) -> Vec<u8> {
    match msg {
        Msg::Data(b) => tagged(DATA, b.bytes()),
        Msg::DeadLetters(b) => tagged(DEAD_LETTERS, b.bytes()),
        Msg::Watermark(wm) => tagged(WATERMARK, &wm.to_le_bytes()),
        Msg::Idle => vec![IDLE],
        Msg::Barrier(b) => {
            let mut v = tagged(BARRIER, &b.id.to_le_bytes());
            v.push(match b.kind {
                CheckpointKind::Checkpoint => 0,
                CheckpointKind::Savepoint => 1,
            });
            v
        }
        Msg::End => vec![END],
    }
}

fn tagged(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + payload.len());
    v.push(tag);
    v.extend_from_slice(payload);
    v
}

/// Decodes a frame.
pub(crate) fn decode(frame: &[u8]) -> Result<Msg, FrameError> {
    let bad = |m: &str| FrameError::Malformed(m.to_owned());
    let (&tag, rest) = frame.split_first().ok_or_else(|| bad("empty"))?;
    let fixed = |n: usize| -> Result<&[u8], FrameError> {
        if rest.len() == n {
            Ok(rest)
        } else {
            Err(FrameError::Malformed(format!(
                "tag {tag} wants {n} bytes, got {}",
                rest.len()
            )))
        }
    };
    let u64_of = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        a
    };
    Ok(match tag {
        DATA | DEAD_LETTERS => {
            let batch = Batch::from_bytes(rest.to_vec())
                .map_err(|e| FrameError::Malformed(format!("bad batch: {e}")))?;
            if tag == DATA {
                Msg::Data(batch)
            } else {
                Msg::DeadLetters(batch)
            }
        }
        WATERMARK => Msg::Watermark(i64::from_le_bytes(u64_of(fixed(8)?))),
        IDLE => {
            fixed(0)?;
            Msg::Idle
        }
        BARRIER => {
            let b = fixed(9)?;
            let kind = match b[8] {
                0 => CheckpointKind::Checkpoint,
                1 => CheckpointKind::Savepoint,
                k => return Err(FrameError::Malformed(format!("barrier kind {k}"))),
            };
            Msg::Barrier(Barrier {
                id: u64::from_le_bytes(u64_of(b)),
                kind,
            })
        }
        END => {
            fixed(0)?;
            Msg::End
        }
        t => return Err(FrameError::Malformed(format!("unknown tag {t}"))),
    })
}

/// Whether a frame is the channel's last (end of input).
pub fn is_end(frame: &[u8]) -> bool {
    frame == [END]
}

/// The local end of a channel to a sub-task in another process: frames to
/// send, in order.
pub struct OutEnd {
    /// The channel.
    pub key: ChannelKey,
    pub(crate) rx: Receiver<Envelope>,
}

/// What [`OutEnd::next_frame`] found.
pub enum Next {
    /// A frame to send.
    Frame(Vec<u8>),
    /// Nothing yet.
    Empty,
    /// The producing sub-task is gone (after its end of input, or
    /// stopped).
    Closed,
}

impl OutEnd {
    /// The next frame, waiting up to `wait`.
    pub fn next_frame(&self, wait: Duration) -> Next {
        match self.rx.recv_timeout(wait) {
            Ok(env) => Next::Frame(encode(&env.msg)),
            Err(RecvTimeoutError::Timeout) => Next::Empty,
            Err(RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }
}

/// The local end of a channel from a sub-task in another process: the
/// consumer's queue, fed with frames.
pub struct InEnd {
    /// The channel.
    pub key: ChannelKey,
    pub(crate) tx: Sender<Envelope>,
    pub(crate) hook: Arc<OnceLock<CreditHook>>,
    pub(crate) capacity: u32,
}

impl InEnd {
    /// Frames the queue holds: the credits to grant at first.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Sets what is called each time the consumer takes a frame (one
    /// credit back to the sender). Set once, before the first frame.
    pub fn on_credit(&self, hook: CreditHook) {
        let _ = self.hook.set(hook);
    }

    /// Queues a received frame; never blocks, because the sender may only
    /// send as many frames as it holds credits for.
    pub fn push_frame(&self, frame: &[u8]) -> Result<(), FrameError> {
        let msg = decode(frame)?;
        self.tx
            .try_send(Envelope {
                channel: self.key.channel,
                msg,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => FrameError::OverCredit(self.key.channel),
                TrySendError::Disconnected(_) => FrameError::Closed,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(msg: Msg) -> Msg {
        decode(&encode(&msg)).expect("decodes")
    }

    #[test]
    fn every_message_survives_a_frame() {
        let mut b = Batch::default();
        b.push(7, b"k", b"v");
        match roundtrip(Msg::Data(b.clone())) {
            Msg::Data(x) => assert_eq!(x.bytes(), b.bytes()),
            _ => panic!("not data"),
        }
        match roundtrip(Msg::DeadLetters(b.clone())) {
            Msg::DeadLetters(x) => assert_eq!(x.bytes(), b.bytes()),
            _ => panic!("not dead letters"),
        }
        assert!(matches!(roundtrip(Msg::Watermark(-5)), Msg::Watermark(-5)));
        assert!(matches!(roundtrip(Msg::Idle), Msg::Idle));
        assert!(matches!(roundtrip(Msg::End), Msg::End));
        let barrier = Barrier {
            id: 1 << 40,
            kind: CheckpointKind::Savepoint,
        };
        assert!(matches!(roundtrip(Msg::Barrier(barrier)), Msg::Barrier(x) if x == barrier));
        assert!(is_end(&encode(&Msg::End)));
    }

    #[test]
    fn malformed_frames_are_refused_not_trusted() {
        for frame in [
            &[][..],
            &[9],
            &[WATERMARK, 1, 2],
            &[IDLE, 0],
            &[BARRIER, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            &[DATA, 0xff, 0xff, 0xff, 0xff, 1],
        ] {
            assert!(
                matches!(decode(frame), Err(FrameError::Malformed(_))),
                "{frame:?}"
            );
        }
    }

    #[test]
    fn a_sender_past_its_credits_is_refused() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let end = InEnd {
            key: ChannelKey {
                from: (0, 0),
                to: (1, 0),
                channel: 3,
            },
            tx,
            hook: Arc::new(OnceLock::new()),
            capacity: 2,
        };
        let idle = encode(&Msg::Idle);
        end.push_frame(&idle).expect("credit 1");
        end.push_frame(&idle).expect("credit 2");
        assert!(matches!(
            end.push_frame(&idle),
            Err(FrameError::OverCredit(3))
        ));
        let got = rx.try_recv().expect("queued");
        assert_eq!(got.channel, 3);
        drop(rx);
        assert!(matches!(end.push_frame(&idle), Err(FrameError::Closed)));
    }
}
