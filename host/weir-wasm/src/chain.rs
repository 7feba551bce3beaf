//! Chained functions of one component in one store, called once per batch
//! for all of them (operator fusion, the WIT `chain` interface): the host
//! crosses into the guest once where it would cross once per function.

use crate::bindings::chain::exports::weir::function::chain as wit_chain;
use crate::bindings::transform::weir::function::types as wit;
use crate::call::Ended;
use crate::component::LoadedComponent;
use crate::error::{CallError, LoadError};
use crate::instance::{
    Bound, Call, FunctionInstance, InstanceConfig, Opening, TaskInfo, arm, wrong_world,
};
use crate::runtime::Runtime;
use weir_state::KeyedStateBackend;

/// One function of a chain.
pub struct ChainStage<'a> {
    /// Its name in the component.
    pub name: &'a str,
    /// The sub-task it serves (its own operator id).
    pub task: &'a TaskInfo,
}

/// Keeps the stage of a chain's error, and gives the function error.
fn unstage<T>(
    ended: Ended<wasmtime::Result<Result<T, wit_chain::StageError>>>,
    failed: &mut Option<usize>,
) -> Ended<wasmtime::Result<Result<T, wit::FunctionError>>> {
    match ended {
        Ended::Returned(Ok(Err(e))) => {
            *failed = Some(e.stage as usize);
            Ended::Returned(Ok(Err(e.error)))
        }
        Ended::Returned(Ok(Ok(v))) => Ended::Returned(Ok(Ok(v))),
        Ended::Returned(Err(e)) => Ended::Returned(Err(e)),
        Ended::TimedOut => Ended::TimedOut,
        Ended::Interrupted => Ended::Interrupted,
    }
}

impl FunctionInstance {
    /// Opens `stages` of `component` as one chain in one store: the first
    /// keyed (then `backend` holds its state) or stateless, the others map,
    /// flat-map or filter functions.
    pub fn open_chain(
        rt: &Runtime,
        component: &LoadedComponent,
        stages: &[ChainStage<'_>],
        config: InstanceConfig,
        backend: Option<Box<dyn KeyedStateBackend>>,
    ) -> Result<FunctionInstance, LoadError> {
        let pre = component
            .chain
            .as_ref()
            .ok_or_else(|| wrong_world(component, "chain", "chained"))?;
        let first = stages.first().map_or("", |s| s.name);
        let log = Self::log(
            stages.first().map_or(&TaskInfo::default(), |s| s.task),
            &config,
        );
        let mut o = Opening::new(rt, component, &config, log)?;
        let b = o.step("instantiating", async |s| pre.instantiate_async(s).await)?;
        let api = b.weir_function_chain().chained_functions();
        let specs: Vec<wit_chain::StageSpec> = stages
            .iter()
            .map(|s| wit_chain::StageSpec {
                name: s.name.to_owned(),
                task: s.task.to_wit(),
            })
            .collect();
        let names: Vec<&str> = stages.iter().map(|s| s.name).collect();
        let what = format!("opening the chain {}", names.join(" → "));
        let r = o.step(&what, async |s| api.call_open(s, &specs).await)?;
        let handle = o.opened(r.map_err(|e| e.error))?;
        if let Some(backend) = backend {
            let declared = o.step("listing states", async |s| api.call_states(s, handle).await)?;
            o.register_states(first, declared, backend)?;
        }
        let mut instance = o.done(Bound::Chain(b, handle));
        instance.stage_watermarks = vec![i64::MIN; stages.len().saturating_sub(1)];
        Ok(instance)
    }

    /// Sets the watermark stage `stage` (1 or later) of a chain sees; the
    /// first stage's comes with each call.
    pub fn set_stage_watermark(&mut self, stage: usize, watermark: i64) {
        if let Some(w) = stage
            .checked_sub(1)
            .and_then(|i| self.stage_watermarks.get_mut(i))
        {
            *w = watermark;
        }
    }

    /// The stage of a chain whose function error ended the last call.
    pub fn failed_stage(&self) -> Option<usize> {
        self.failed_stage
    }

    /// Whether this instance runs a chain of functions.
    pub fn is_chain(&self) -> bool {
        matches!(self.bound, Bound::Chain(..))
    }

    /// Each stage's own (non-keyed) state for a checkpoint; one entry for
    /// an instance that is not a chain.
    pub fn snapshot_stages(&mut self) -> Result<Vec<Option<Vec<u8>>>, CallError> {
        let Bound::Chain(b, h) = &self.bound else {
            return Ok(vec![self.snapshot_state()?]);
        };
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = self.rt.drive(
            b.weir_function_chain()
                .chained_functions()
                .call_snapshot_state(&mut self.store, *h),
            deadline,
            interrupt.as_deref(),
        );
        let ended = unstage(ended, &mut self.failed_stage);
        self.finish(ended)
    }

    /// Gives stage `stage` of a chain (or the function, at stage 0) the
    /// states it takes over.
    pub fn restore_stage(&mut self, stage: usize, states: &[Vec<u8>]) -> Result<(), CallError> {
        let Bound::Chain(b, h) = &self.bound else {
            return self.restore_state(states);
        };
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = self.rt.drive(
            b.weir_function_chain()
                .chained_functions()
                .call_restore_state(&mut self.store, *h, stage as u32, states),
            deadline,
            interrupt.as_deref(),
        );
        let ended = unstage(ended, &mut self.failed_stage);
        self.finish(ended)
    }

    /// A chain's batch or timer call: `ctx` is the first stage's context.
    pub(crate) fn call_chain(
        &mut self,
        input: &[u8],
        ctx: wit::BatchContext,
        call: Call,
    ) -> Result<Vec<u8>, CallError> {
        let Bound::Chain(b, h) = &self.bound else {
            return Err(CallError::Function("not a chain".into()));
        };
        self.failed_stage = None;
        let mut contexts = Vec::with_capacity(self.stage_watermarks.len() + 1);
        contexts.push(ctx);
        contexts.extend(
            self.stage_watermarks
                .iter()
                .map(|&watermark| wit::BatchContext {
                    watermark,
                    processing_time: ctx.processing_time,
                }),
        );
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let api = b.weir_function_chain().chained_functions();
        let store = &mut self.store;
        let ended = match call {
            Call::Timers => self.rt.drive(
                api.call_on_timers(store, *h, &contexts, input),
                deadline,
                interrupt.as_deref(),
            ),
            _ => self.rt.drive(
                api.call_process_batch(store, *h, &contexts, input),
                deadline,
                interrupt.as_deref(),
            ),
        };
        let ended = unstage(ended, &mut self.failed_stage);
        let out = self.finish(ended)?;
        crate::budget::check_output(&self.config.budgets, out.len()).map_err(CallError::Budget)?;
        Ok(out)
    }
}
