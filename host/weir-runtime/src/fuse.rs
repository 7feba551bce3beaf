//! Operator fusion: consecutive chained functions of one component run in
//! one guest call (`weir:function/chain`) instead of one call each. The
//! first may be keyed or stateless, the others are map, flat-map or filter
//! functions; each keeps its node: its own side outputs, dead letters,
//! metrics, operator state in checkpoints, and watermark. `[sandbox]
//! fuse_chained_calls = false` (or `--fuse-chained-calls false`) turns it
//! off.

use crate::checkpoint::RestorePlan;
use crate::clock::Clock;
use crate::failure::Failure;
use crate::operators::{Operator, Stages, WasmKeyed, WasmTransform};
use crate::setup::{
    Local, Prepared, instance_config, make_backend, outcomes_of, restore_operator, task_info,
};
use std::sync::Arc;
use weir_core::JobGraph;
use weir_core::graph::{NodeKind, OperatorNode};
use weir_core::keygroup::key_group_range;
use weir_core::spec::FunctionKind;
use weir_wasm::{ChainStage, FunctionInstance, Runtime};

/// The Wasm function of `node`, if it is a plain (unwindowed) one.
fn function(graph: &JobGraph, node: usize) -> Option<&OperatorNode> {
    match &graph.nodes[node].kind {
        NodeKind::Operator(op) if op.window.is_none() => Some(op),
        _ => None,
    }
}

/// Whether `op` can follow in a chained call.
fn can_follow(op: &OperatorNode) -> bool {
    matches!(
        op.kind,
        FunctionKind::Map | FunctionKind::FlatMap | FunctionKind::Filter
    )
}

/// Whether `op` can start a chained call.
fn can_lead(op: &OperatorNode) -> bool {
    can_follow(op) || op.kind.is_keyed()
}

/// For each node of a chain (`nodes`, in order), how many of the nodes
/// after it its operator runs in the same calls: 0 for none, and 0 for the
/// nodes so taken.
pub(crate) fn plan(graph: &JobGraph, prepared: &Prepared, nodes: &[usize]) -> Vec<usize> {
    let mut runs = vec![0; nodes.len()];
    if !graph.sandbox.fuse_chained_calls {
        return runs;
    }
    let mut i = 0;
    while i < nodes.len() {
        let head = function(graph, nodes[i])
            .filter(|op| can_lead(op))
            .filter(|_| {
                prepared
                    .components
                    .get(&nodes[i])
                    .is_some_and(|c| c.can_chain())
            });
        let Some(head) = head else {
            i += 1;
            continue;
        };
        let mut n = 0;
        while let Some(next) = nodes.get(i + n + 1).and_then(|&j| function(graph, j)) {
            // The same component name, not only the same file: grants are
            // given per name, and one instance has one set.
            if !can_follow(next) || next.component != head.component {
                break;
            }
            n += 1;
        }
        runs[i] = n;
        i += n + 1;
    }
    runs
}

/// What opening a fused chain for one sub-task needs.
pub(crate) struct FuseAt<'a> {
    pub(crate) graph: &'a JobGraph,
    pub(crate) rt: &'a Runtime,
    pub(crate) prepared: &'a Prepared,
    /// The chain's nodes: the first, then those it runs.
    pub(crate) nodes: &'a [usize],
    pub(crate) s: u32,
    pub(crate) local: &'a Local,
    pub(crate) restore: Option<&'a RestorePlan>,
}

/// Opens the fused chain of `at.nodes` for sub-task `at.s` in one instance,
/// and restores every stage's state.
pub(crate) fn open_fused(
    at: &FuseAt<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Operator>, Failure> {
    let FuseAt {
        graph,
        rt,
        prepared,
        nodes,
        s,
        local,
        restore,
    } = *at;
    let head = nodes[0];
    let n = &graph.nodes[head];
    let ops: Vec<&OperatorNode> = nodes
        .iter()
        .map(|&i| {
            function(graph, i).ok_or_else(|| Failure::internal("a fused node is not a function"))
        })
        .collect::<Result<_, _>>()?;
    let component = prepared
        .components
        .get(&head)
        .ok_or_else(|| Failure::user("component not loaded"))?;
    let tasks: Vec<_> = nodes.iter().map(|&i| task_info(graph, i, s)).collect();
    let stages: Vec<ChainStage<'_>> = ops
        .iter()
        .zip(&tasks)
        .map(|(op, task)| ChainStage {
            name: &op.function,
            task,
        })
        .collect();
    let config = instance_config(graph, &ops[0].component, local);
    let position = (s, n.parallelism);
    let later = Stages::new(
        nodes[1..]
            .iter()
            .zip(&ops[1..])
            .map(|(&i, op)| outcomes_of(component, &graph.nodes[i].id, op, s))
            .collect(),
        position,
    );
    let outcomes = outcomes_of(component, &n.id, ops[0], s);
    let mut op: Box<dyn Operator> = if ops[0].kind.is_keyed() {
        let range = key_group_range(s, graph.max_parallelism, n.parallelism);
        let backend = make_backend(local, &n.id, s, range, restore)?;
        let instance = FunctionInstance::open_chain(rt, component, &stages, config, Some(backend))?;
        Box::new(
            WasmKeyed::new(instance, graph.max_parallelism, clock, position, outcomes)
                .with_stages(later),
        )
    } else {
        let instance = FunctionInstance::open_chain(rt, component, &stages, config, None)?;
        Box::new(WasmTransform::new(instance, clock, position, outcomes).with_stages(later))
    };
    restore_operator(op.as_mut(), n, s, restore)?;
    if let Some(plan) = restore {
        for (k, &i) in nodes.iter().enumerate().skip(1) {
            let node = &graph.nodes[i];
            let from = plan.for_operator(&node.id, s, node.parallelism);
            if !from.is_empty() {
                op.restore_stage(k, &from)?;
            }
        }
    }
    Ok(op)
}
