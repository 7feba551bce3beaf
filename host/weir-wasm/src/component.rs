//! A compiled component and the functions it offers.

use crate::bindings::{keyed, transform, window};
use crate::error::LoadError;
use crate::host_state::HostState;
use crate::runtime::Runtime;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};
use weir_core::spec::FunctionKind;

/// One function a component offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FunctionKind,
}

/// A compiled, linked component ready to instantiate.
pub struct LoadedComponent {
    pub(crate) path: String,
    pub(crate) transform: Option<transform::TransformFunctionPre<HostState>>,
    pub(crate) keyed: Option<keyed::KeyedProcessFunctionPre<HostState>>,
    pub(crate) window: Option<window::WindowFunctionPre<HostState>>,
    functions: Vec<FunctionInfo>,
}

impl LoadedComponent {
    pub(crate) fn compile(
        rt: &Runtime,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<Self, LoadError> {
        let path = path.display().to_string();
        let component = Component::new(&rt.engine, bytes).map_err(|e| LoadError::Invalid {
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        let pre: InstancePre<HostState> =
            rt.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::WrongWorld {
                    path: path.clone(),
                    message: format!("it needs an import Weir does not grant: {e:#}"),
                })?;
        let transform = transform::TransformFunctionPre::new(pre.clone()).ok();
        let keyed = keyed::KeyedProcessFunctionPre::new(pre.clone()).ok();
        let window = window::WindowFunctionPre::new(pre).ok();
        let mut loaded = LoadedComponent {
            path: path.clone(),
            transform,
            keyed,
            window,
            functions: Vec::new(),
        };
        loaded.functions = loaded.list_functions(rt)?;
        Ok(loaded)
    }

    fn list_functions(&self, rt: &Runtime) -> Result<Vec<FunctionInfo>, LoadError> {
        let guest = |message: String| LoadError::Guest {
            path: self.path.clone(),
            message,
        };
        let data = HostState::new(64 << 20, None).map_err(|(_, m)| LoadError::Engine(m))?;
        let mut store = Store::new(&rt.engine, data);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(500);
        let infos = if let Some(pre) = &self.transform {
            let b = pre
                .instantiate(&mut store)
                .map_err(|e| guest(format!("cannot instantiate: {e:#}")))?;
            b.weir_function_registry()
                .call_functions(&mut store)
                .map_err(|e| guest(format!("listing functions trapped: {e:#}")))?
                .into_iter()
                .map(|f| (f.name, kind(f.kind)))
                .collect::<Vec<_>>()
        } else if let Some(pre) = &self.keyed {
            let b = pre
                .instantiate(&mut store)
                .map_err(|e| guest(format!("cannot instantiate: {e:#}")))?;
            b.weir_function_registry()
                .call_functions(&mut store)
                .map_err(|e| guest(format!("listing functions trapped: {e:#}")))?
                .into_iter()
                .map(|f| (f.name, kind(f.kind)))
                .collect()
        } else if let Some(pre) = &self.window {
            let b = pre
                .instantiate(&mut store)
                .map_err(|e| guest(format!("cannot instantiate: {e:#}")))?;
            b.weir_function_registry()
                .call_functions(&mut store)
                .map_err(|e| guest(format!("listing functions trapped: {e:#}")))?
                .into_iter()
                .map(|f| (f.name, kind(f.kind)))
                .collect()
        } else {
            return Err(LoadError::WrongWorld {
                path: self.path.clone(),
                message: "it exports none of weir:function/transform@0.1.0, keyed@0.1.0 or window@0.1.0 (with weir:function/registry@0.1.0); build it against the WIT package in wit/ with the Weir SDK".into(),
            });
        };
        Ok(infos
            .into_iter()
            .map(|(name, kind)| FunctionInfo { name, kind })
            .collect())
    }

    /// The functions the component offers.
    pub fn functions(&self) -> &[FunctionInfo] {
        &self.functions
    }

    /// The component's path, for messages.
    pub fn path(&self) -> &str {
        &self.path
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
