//! The process-wide engine, linker, epoch ticker and component cache.

use crate::component::LoadedComponent;
use crate::error::LoadError;
use crate::host_state::HostState;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One per process: shared by every job and sub-task.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    cache: Mutex<HashMap<u128, Arc<LoadedComponent>>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Sets up the engine: Cranelift, epoch interruption, no component-model
    /// concurrency (it slows every synchronous call several times).
    pub fn new() -> Result<Arc<Runtime>, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .parallel_compilation(true);
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        crate::bindings::keyed::weir::function::keyed_state::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("weir-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Engine(format!("cannot start epoch ticker: {e}")))?
        };
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            stop,
            ticker: Some(ticker),
        }))
    }

    /// Loads a component file, compiling it once per distinct content, and
    /// lists its functions.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let hash = xxhash_rust::xxh3::xxh3_128(&bytes);
        if let Some(c) = self.cache.lock().map_err(poisoned)?.get(&hash) {
            return Ok(c.clone());
        }
        let loaded = Arc::new(LoadedComponent::compile(self, path, &bytes)?);
        self.cache
            .lock()
            .map_err(poisoned)?
            .insert(hash, loaded.clone());
        Ok(loaded)
    }
}

fn poisoned<T>(_: T) -> LoadError {
    LoadError::Engine("component cache lock poisoned".into())
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
