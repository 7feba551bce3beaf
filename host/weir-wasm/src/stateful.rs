//! Stateful Functions in-process: one store holding a component of the
//! `stateful-functions` world for one sub-task of a functions stage. The
//! host keeps state and messages; each `invoke` runs batches for many
//! addresses at once under the call deadline.

use crate::bindings::stateful as bindings;
use crate::call::CallRuntime;
use crate::component::LoadedComponent;
use crate::error::{CallError, LoadError};
use crate::host_state::HostState;
use crate::instance::{
    CallStats, FunctionInstance, InstanceConfig, Opening, TaskInfo, arm, settle, trapped,
    wrong_world,
};
use crate::runtime::Runtime;
use std::time::Instant;
use wasmtime::Store;

/// The types of the `weir:function/stateful` interface.
pub use bindings::exports::weir::function::stateful as wit;

/// An opened stateful-functions component.
pub struct StatefulInstance {
    store: Store<HostState>,
    bound: bindings::StatefulFunctions,
    config: InstanceConfig,
    function_types: Vec<String>,
    poisoned: bool,
    stats: CallStats,
    /// Runs the calls (declared last: dropped after the store).
    rt: CallRuntime,
}

impl StatefulInstance {
    /// Instantiates `component` for one sub-task and asks it which function
    /// types it serves.
    pub fn open(
        rt: &Runtime,
        component: &LoadedComponent,
        task: &TaskInfo,
        config: InstanceConfig,
    ) -> Result<StatefulInstance, LoadError> {
        let pre = component
            .stateful
            .as_ref()
            .ok_or_else(|| wrong_world(component, "stateful", "stateful"))?;
        let log = FunctionInstance::log(task, &config);
        let mut o = Opening::new(rt, component, &config, log)?;
        let bound = o.step("instantiating", async |s| pre.instantiate_async(s).await)?;
        let function_types = o.step("listing function types", async |s| {
            bound.weir_function_stateful().call_function_types(s).await
        })?;
        if function_types.is_empty() {
            return Err(o.guest("it serves no function type".into()));
        }
        let Opening { store, rt, .. } = o;
        Ok(StatefulInstance {
            store,
            bound,
            config,
            function_types,
            poisoned: false,
            stats: CallStats::default(),
            rt,
        })
    }

    /// The function types it serves, `namespace/name`.
    pub fn function_types(&self) -> &[String] {
        &self.function_types
    }

    /// Whether a call trapped: the store cannot be called again.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs `batches`; one result per batch, in order. A trap poisons the
    /// instance (open a new one: the host holds all the state).
    pub fn invoke(&mut self, batches: &[wit::Batch]) -> Result<Vec<wit::BatchResult>, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let started = Instant::now();
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = self.rt.drive(
            self.bound
                .weir_function_stateful()
                .call_invoke(&mut self.store, batches),
            deadline,
            interrupt.as_deref(),
        );
        let result = match settle(&self.store, &self.config, ended) {
            Ok(r) if r.len() == batches.len() => Ok(r),
            Ok(r) => Err(CallError::Function(format!(
                "invoke returned {} results for {} batches",
                r.len(),
                batches.len()
            ))),
            Err(cause) => Err(trapped(cause, &mut self.poisoned, &mut self.stats)),
        };
        self.store.data_mut().log.forward();
        self.stats.calls += 1;
        self.stats.busy += started.elapsed();
        result
    }

    /// What the calls so far took, and the guest's memory now.
    pub fn stats(&self) -> CallStats {
        CallStats {
            memory_bytes: self.store.data().limiter.memory_bytes as u64,
            ..self.stats
        }
    }
}
