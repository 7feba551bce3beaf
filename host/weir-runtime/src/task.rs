//! The loop of one sub-task: read from a source or an inbox, run the chain's
//! operators, route outputs, and pass end-of-input on.

use crate::control::Control;
use crate::exchange::{EdgeWriter, Inbox, Msg, Stop, receive};
use crate::failure::{Failure, JobFailure};
use crate::metrics::NodeCounters;
use crate::operators::Operator;
use std::sync::Arc;
use weir_connectors::{SourceReader, SourceStatus};
use weir_core::{Batch, Outputs};

/// Where a sub-task's records come from.
pub(crate) enum Head {
    /// A source reader (the chain starts with a source node).
    Source(Box<dyn SourceReader>),
    /// Upstream sub-tasks; done after this many end-of-input markers.
    Inbox { inbox: Inbox, expected_ends: u32 },
}

/// Where one node's outputs go beyond the chain.
#[derive(Default)]
pub(crate) struct Routes {
    /// Writers of the main output (only for the chain's last node).
    pub(crate) main: Vec<EdgeWriter>,
    /// Writers of each consumed side output.
    pub(crate) side: Vec<(String, Vec<EdgeWriter>)>,
}

/// A node of the chain with its operator (none for a source head).
pub(crate) struct Step {
    pub(crate) node: usize,
    pub(crate) op: Option<Box<dyn Operator>>,
    pub(crate) routes: Routes,
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
}

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
    ) -> Self {
        SubTask {
            subtask,
            parallelism,
            node_ids,
            head,
            steps,
            counters,
            ctl,
            batch_bytes,
            current: 0,
        }
    }

    /// Runs to the end of input or the first failure, which is recorded in
    /// the job's control.
    pub(crate) fn run(mut self) {
        let result = self.run_inner();
        if let Err(Stop::Failed(f)) = result {
            let node = self.steps.get(self.current).map_or(0, |s| s.node);
            self.ctl.fail(JobFailure {
                operator: Some(self.node_ids[node].clone()),
                subtask: Some((self.subtask, self.parallelism)),
                domain: f.domain,
                message: f.message,
            });
        }
    }

    fn run_inner(&mut self) -> Result<(), Stop> {
        let head = std::mem::replace(
            &mut self.head,
            Head::Inbox {
                inbox: crossbeam_channel::never(),
                expected_ends: 0,
            },
        );
        match head {
            Head::Source(mut reader) => loop {
                if self.ctl.cancelled() {
                    return Err(Stop::Cancelled);
                }
                self.current = 0;
                let mut out = Outputs::default();
                let status = reader
                    .poll(&mut out, self.batch_bytes)
                    .map_err(Failure::from)?;
                let produced =
                    out.main.len() + out.side.iter().map(|(_, b)| b.len()).sum::<usize>();
                self.counters[self.steps[0].node].add_out(self.subtask, produced);
                self.route(0, out)?;
                self.flush()?;
                match status {
                    SourceStatus::More => {}
                    SourceStatus::Idle(d) => std::thread::sleep(d),
                    SourceStatus::Finished => break,
                }
            },
            Head::Inbox {
                inbox,
                expected_ends,
            } => {
                let mut ends = 0;
                while ends < expected_ends {
                    let env = receive(&inbox, &self.ctl)?;
                    match env.msg {
                        Msg::Data(batch) => {
                            self.process_from(0, batch)?;
                            self.flush()?;
                        }
                        Msg::End => ends += 1,
                    }
                }
            }
        }
        self.finish()
    }

    /// Runs `batch` through the steps from `start` on.
    fn process_from(&mut self, start: usize, batch: Batch) -> Result<(), Stop> {
        let mut cur = batch;
        for i in start..self.steps.len() {
            self.current = i;
            let node = self.steps[i].node;
            self.counters[node].add_in(self.subtask, cur.len());
            let mut out = Outputs::default();
            if let Some(op) = &mut self.steps[i].op {
                op.process(&cur, &mut out)?;
            }
            let produced = out.main.len() + out.side.iter().map(|(_, b)| b.len()).sum::<usize>();
            self.counters[node].add_out(self.subtask, produced);
            let main = std::mem::take(&mut out.main);
            self.route_side(i, out)?;
            if i + 1 == self.steps.len() {
                for w in &mut self.steps[i].routes.main {
                    w.write(&main, &self.ctl)?;
                }
                return Ok(());
            }
            cur = main;
        }
        Ok(())
    }

    /// Routes what step `i` produced: side outputs out, main onward.
    fn route(&mut self, i: usize, mut out: Outputs) -> Result<(), Stop> {
        let main = std::mem::take(&mut out.main);
        self.route_side(i, out)?;
        if i + 1 < self.steps.len() {
            self.process_from(i + 1, main)
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

    /// End of input: let every operator finish in chain order, then tell
    /// every downstream sub-task.
    fn finish(&mut self) -> Result<(), Stop> {
        for i in 0..self.steps.len() {
            self.current = i;
            let mut out = Outputs::default();
            if let Some(op) = &mut self.steps[i].op {
                op.finish(&mut out)?;
            }
            if !out.is_empty() {
                self.route(i, out)?;
            }
        }
        let ctl = self.ctl.clone();
        for w in self.writers() {
            w.end(&ctl)?;
        }
        Ok(())
    }
}
