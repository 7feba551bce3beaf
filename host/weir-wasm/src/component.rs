//! A compiled component and the functions it offers.

use crate::bindings::{chain, keyed, stateful, transform, window};
use crate::error::LoadError;
use crate::host_state::HostState;
use crate::instance::InstanceConfig;
use crate::runtime::Runtime;
use wasmtime::component::{Component, InstancePre};
use weir_core::spec::FunctionKind;

/// One function a component offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FunctionKind,
    /// The side outputs it declares.
    pub side_outputs: Vec<String>,
}

impl FunctionInfo {
    pub(crate) fn from_wit(f: transform::weir::function::types::FunctionInfo) -> Self {
        FunctionInfo {
            name: f.name,
            kind: kind(f.kind),
            side_outputs: f.side_outputs,
        }
    }
}

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now.
    Compiled,
    /// Read from the compiled-component cache on disk.
    Cache,
}

/// A compiled, linked component ready to instantiate.
pub struct LoadedComponent {
    pub(crate) path: String,
    origin: Origin,
    load_time: std::time::Duration,
    pub(crate) transform: Option<transform::TransformFunctionPre<HostState>>,
    pub(crate) keyed: Option<keyed::KeyedProcessFunctionPre<HostState>>,
    pub(crate) window: Option<window::WindowFunctionPre<HostState>>,
    pub(crate) chain: Option<chain::ChainFunctionPre<HostState>>,
    pub(crate) stateful: Option<stateful::StatefulFunctionsPre<HostState>>,
    functions: Vec<FunctionInfo>,
}

impl LoadedComponent {
    /// Links a compiled component and lists its functions.
    pub(crate) fn link(
        rt: &Runtime,
        path: &std::path::Path,
        component: Component,
        config: &InstanceConfig,
        (origin, load_time): (Origin, std::time::Duration),
    ) -> Result<Self, LoadError> {
        let path = path.display().to_string();
        let pre: InstancePre<HostState> =
            rt.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::WrongWorld {
                    path: path.clone(),
                    message: format!("it needs an import Weir does not grant: {e:#}"),
                })?;
        let transform = transform::TransformFunctionPre::new(pre.clone()).ok();
        let keyed = keyed::KeyedProcessFunctionPre::new(pre.clone()).ok();
        let window = window::WindowFunctionPre::new(pre.clone()).ok();
        let chain = chain::ChainFunctionPre::new(pre.clone()).ok();
        let stateful = stateful::StatefulFunctionsPre::new(pre).ok();
        let mut loaded = LoadedComponent {
            path: path.clone(),
            origin,
            load_time,
            transform,
            keyed,
            window,
            chain,
            stateful,
            functions: Vec::new(),
        };
        loaded.functions = crate::instance::list_functions(rt, &loaded, config)?;
        Ok(loaded)
    }

    /// Whether it exports Stateful Functions (`weir:function/stateful`).
    pub fn is_stateful(&self) -> bool {
        self.stateful.is_some()
    }

    /// Whether it runs chained functions in one call
    /// (`weir:function/chain`, which the Rust SDK exports).
    pub fn can_chain(&self) -> bool {
        self.chain.is_some()
    }

    /// The functions the component offers.
    pub fn functions(&self) -> &[FunctionInfo] {
        &self.functions
    }

    /// Where its machine code came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// How long reading and compiling (or loading from the cache) took.
    pub fn load_time(&self) -> std::time::Duration {
        self.load_time
    }

    /// The component's path, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The function called `name`, if the component has it.
    pub fn function(&self, name: &str) -> Option<&FunctionInfo> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// Checks that `name` exists with `kind`, with a message naming what
    /// the component has otherwise.
    pub fn check_function(&self, name: &str, kind: FunctionKind) -> Result<(), String> {
        match self.functions.iter().find(|f| f.name == name) {
            Some(f) if f.kind == kind => Ok(()),
            Some(f) => Err(format!(
                "function '{name}' of {} is a {}, but the job uses it as a {}",
                self.path,
                f.kind.name(),
                kind.name()
            )),
            None => Err(format!(
                "{} has no function '{name}'; it has: {}",
                self.path,
                self.functions
                    .iter()
                    .map(|f| format!("{} ({})", f.name, f.kind.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

fn kind(k: transform::weir::function::types::FunctionKind) -> FunctionKind {
    use transform::weir::function::types::FunctionKind as K;
    match k {
        K::Map => FunctionKind::Map,
        K::FlatMap => FunctionKind::FlatMap,
        K::Filter => FunctionKind::Filter,
        K::Reduce => FunctionKind::Reduce,
        K::Aggregate => FunctionKind::Aggregate,
        K::KeyedProcess => FunctionKind::KeyedProcess,
        K::ProcessWindow => FunctionKind::ProcessWindow,
        K::TimestampAssigner => FunctionKind::TimestampAssigner,
    }
}
