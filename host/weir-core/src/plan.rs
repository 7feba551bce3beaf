//! The physical plan: operator chains and the channels between them.
//!
//! Consecutive nodes joined by a forward edge (same parallelism, the
//! upstream's main output going only there) are fused into one chain, run by
//! one thread per sub-task without serialising records between them, as
//! Flink's operator chaining does. Every other edge becomes an exchange of
//! batches through bounded channels.

use crate::graph::JobGraph;
use crate::spec::Exchange;

/// A chain of nodes run together.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Node indices, head first.
    pub nodes: Vec<usize>,
    /// Parallel sub-tasks.
    pub parallelism: u32,
    /// Exchanges into the head.
    pub inputs: Vec<ChainInput>,
}

/// An exchange into a chain's head.
#[derive(Debug, Clone)]
pub struct ChainInput {
    /// The graph edge.
    pub edge: usize,
    /// Parallelism of the sending node.
    pub upstream_parallelism: u32,
    /// First channel number of this input at each receiving sub-task.
    pub channel_offset: u32,
    /// Distribution.
    pub exchange: Exchange,
}

impl ChainInput {
    /// The channels receiving sub-task `subtask` hears from on this input:
    /// its peer for a forward exchange, every upstream sub-task otherwise.
    pub fn channels_for(&self, subtask: u32) -> std::ops::Range<u32> {
        match self.exchange {
            Exchange::Forward => self.channel_offset + subtask..self.channel_offset + subtask + 1,
            _ => self.channel_offset..self.channel_offset + self.upstream_parallelism,
        }
    }
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct PhysicalPlan {
    /// Chains in topological order.
    pub chains: Vec<Chain>,
    /// Chain of each node.
    pub chain_of: Vec<usize>,
}

impl PhysicalPlan {
    /// Plans a validated graph.
    pub fn new(graph: &JobGraph) -> PhysicalPlan {
        let mut chains: Vec<Chain> = Vec::new();
        let mut chain_of = vec![usize::MAX; graph.nodes.len()];
        for (i, node) in graph.nodes.iter().enumerate() {
            let incoming: Vec<(usize, _)> = graph.inputs_of(i).collect();
            let chain_to = match incoming.as_slice() {
                [(_, e)] if chainable(graph, e.from, e) => Some(chain_of[e.from]),
                _ => None,
            };
            match chain_to {
                Some(c) => {
                    chains[c].nodes.push(i);
                    chain_of[i] = c;
                }
                None => {
                    let mut offset = 0;
                    let inputs = incoming
                        .iter()
                        .map(|(ei, e)| {
                            let input = ChainInput {
                                edge: *ei,
                                upstream_parallelism: graph.nodes[e.from].parallelism,
                                channel_offset: offset,
                                exchange: e.exchange,
                            };
                            offset += input.upstream_parallelism;
                            input
                        })
                        .collect();
                    chain_of[i] = chains.len();
                    chains.push(Chain {
                        nodes: vec![i],
                        parallelism: node.parallelism,
                        inputs,
                    });
                }
            }
        }
        PhysicalPlan { chains, chain_of }
    }

    /// Whether an edge is inside a chain (no exchange).
    pub fn is_chained(&self, graph: &JobGraph, edge: usize) -> bool {
        let e = &graph.edges[edge];
        self.chain_of[e.from] == self.chain_of[e.to]
    }
}

fn chainable(graph: &JobGraph, from: usize, e: &crate::graph::Edge) -> bool {
    e.exchange == Exchange::Forward
        && e.output.is_none()
        && graph.nodes[from].parallelism == graph.nodes[e.to].parallelism
        && graph
            .outputs_of(from)
            .filter(|(_, o)| o.output.is_none())
            .count()
            == 1
}
