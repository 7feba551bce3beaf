//! The feedback edge of a stateful-functions stage: messages a function
//! sends to an address another sub-task owns go there on the mesh, one
//! unbounded channel into each sub-task (unbounded so that two sub-tasks
//! messaging each other never block on each other; the stage's input is
//! what backpressure holds back).
//!
//! Checkpoints are consistent across it in the Chandy–Lamport way. A
//! sub-task that passes barrier `n` sends marker `n` to every peer, then
//! waits for every peer's marker `n`, taking in what arrives before it
//! (messages a peer sent before its own snapshot, which belong to this
//! one's), and snapshots after. Messages that come from a peer after its
//! marker, while this sub-task has not snapshotted yet, are held back
//! until it has: the peer's snapshot does not have them sent, so after a
//! restore the peer sends them again.

use crossbeam_channel::{Receiver, Sender, unbounded};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use weir_statefun::{Address, Message};

/// What travels on the mesh.
pub(crate) enum MeshMsg {
    /// A message for an address the receiver owns.
    Message(Address, Message),
    /// The sender snapshotted for checkpoint `id`.
    Marker(u64),
}

/// What arrives at a sub-task: the sending sub-task and its message.
type Arrival = (u32, MeshMsg);

/// The channels of one stage in one attempt.
pub(crate) struct Mesh {
    senders: Vec<Sender<Arrival>>,
    receivers: Mutex<Vec<Option<Receiver<Arrival>>>>,
}

impl Mesh {
    /// The mesh of a stage with `parallelism` sub-tasks.
    pub(crate) fn new(parallelism: u32) -> Mesh {
        let (senders, receivers) = (0..parallelism)
            .map(|_| {
                let (tx, rx) = unbounded();
                (tx, Some(rx))
            })
            .unzip();
        Mesh {
            senders,
            receivers: Mutex::new(receivers),
        }
    }

    /// Sub-task `me`'s end (once).
    pub(crate) fn end(&self, me: u32) -> Option<MeshEnd> {
        let rx = self.receivers.lock().ok()?.get_mut(me as usize)?.take()?;
        Some(MeshEnd {
            me,
            rx,
            peers: self.senders.clone(),
            markers: BTreeMap::new(),
            held: BTreeMap::new(),
            snapshotted: 0,
        })
    }
}

/// One sub-task's end of the mesh.
pub(crate) struct MeshEnd {
    me: u32,
    rx: Receiver<Arrival>,
    peers: Vec<Sender<Arrival>>,
    /// Peers whose marker of each checkpoint arrived.
    markers: BTreeMap<u64, Vec<u32>>,
    /// Messages of peers past their marker, held until this sub-task
    /// snapshots too.
    held: BTreeMap<u32, VecDeque<(Address, Message)>>,
    /// The newest checkpoint this sub-task snapshotted.
    snapshotted: u64,
}

impl MeshEnd {
    /// Sends a message to the sub-task `to`.
    pub(crate) fn send(&self, to: u32, target: Address, message: Message) {
        // A peer's end is gone only when the attempt is being torn down.
        if let Some(p) = self.peers.get(to as usize) {
            let _ = p.send((self.me, MeshMsg::Message(target, message)));
        }
    }

    /// The receiving side, for waiting on it with other channels.
    pub(crate) fn receiver(&self) -> &Receiver<Arrival> {
        &self.rx
    }

    /// Whether `peer` passed a checkpoint this sub-task has not.
    fn past_marker(&self, peer: u32) -> bool {
        self.markers
            .iter()
            .any(|(id, peers)| *id > self.snapshotted && peers.contains(&peer))
    }

    /// Takes one arrival: a message to deliver now, if it is one that may
    /// be.
    pub(crate) fn accept(&mut self, from: u32, msg: MeshMsg) -> Option<(Address, Message)> {
        match msg {
            MeshMsg::Marker(id) => {
                self.markers.entry(id).or_default().push(from);
                None
            }
            MeshMsg::Message(a, m) if self.past_marker(from) => {
                self.held.entry(from).or_default().push_back((a, m));
                None
            }
            MeshMsg::Message(a, m) => Some((a, m)),
        }
    }

    /// Starts checkpoint `id`: tells every peer.
    pub(crate) fn send_markers(&self, id: u64) {
        for (i, p) in self.peers.iter().enumerate() {
            if i as u32 != self.me {
                let _ = p.send((self.me, MeshMsg::Marker(id)));
            }
        }
    }

    /// Whether every peer's marker of checkpoint `id` arrived.
    pub(crate) fn all_markers(&self, id: u64) -> bool {
        let peers = self.peers.len().saturating_sub(1);
        self.markers.get(&id).map_or(0, Vec::len) >= peers
    }

    /// This sub-task snapshotted checkpoint `id`: the messages held back
    /// until then, in the order they came (per peer).
    pub(crate) fn snapshotted(&mut self, id: u64) -> Vec<(Address, Message)> {
        self.snapshotted = self.snapshotted.max(id);
        let done = self.snapshotted;
        self.markers.retain(|k, _| *k > done);
        let mut out = Vec::new();
        let peers: Vec<u32> = self.held.keys().copied().collect();
        for p in peers {
            if !self.past_marker(p)
                && let Some(q) = self.held.remove(&p)
            {
                out.extend(q);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_statefun::proto::TypedValue;

    fn msg(n: u8) -> Message {
        Message {
            caller: None,
            argument: TypedValue {
                typename: "t/n".into(),
                has_value: true,
                value: vec![n],
            },
        }
    }

    fn drain(end: &mut MeshEnd) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok((from, m)) = end.receiver().try_recv() {
            if let Some((_, m)) = end.accept(from, m) {
                out.push(m.argument.value[0]);
            }
        }
        out
    }

    #[test]
    fn messages_after_a_peers_marker_wait_for_this_snapshot() {
        let mesh = Mesh::new(2);
        let (Some(mut a), Some(b)) = (mesh.end(0), mesh.end(1)) else {
            panic!("ends");
        };
        assert!(mesh.end(0).is_none(), "an end is taken once");
        let to = Address::new("n", "f", "x");
        b.send(0, to.clone(), msg(1));
        b.send_markers(7);
        b.send(0, to.clone(), msg(2));
        // Before its own snapshot, `a` takes in 1 (sent before b's
        // snapshot) and holds 2 back.
        assert_eq!(drain(&mut a), vec![1]);
        assert!(a.all_markers(7));
        let released: Vec<u8> = a
            .snapshotted(7)
            .into_iter()
            .map(|(_, m)| m.argument.value[0])
            .collect();
        assert_eq!(released, vec![2]);
        b.send(0, to, msg(3));
        assert_eq!(
            drain(&mut a),
            vec![3],
            "after the snapshot, nothing is held"
        );
    }

    #[test]
    fn one_sub_task_needs_no_markers() {
        let mesh = Mesh::new(1);
        let Some(a) = mesh.end(0) else {
            panic!("end");
        };
        a.send_markers(1);
        assert!(a.all_markers(1));
        assert!(a.receiver().try_recv().is_err(), "no marker to itself");
    }
}
