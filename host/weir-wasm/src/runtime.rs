//! The process-wide engine, linker, epoch ticker and component cache.

use crate::cache::{CacheConfig, DiskCache};
use crate::component::{LoadedComponent, Origin};
use crate::error::LoadError;
use crate::host_state::HostState;
use crate::instance::InstanceConfig;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One per process: shared by every job and sub-task.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    cache: Mutex<HashMap<u128, Arc<LoadedComponent>>>,
    disk: Option<DiskCache>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Sets up the engine (see [`Runtime::with_cache`]) with the
    /// compiled-component cache the environment names
    /// ([`CacheConfig::from_env`]).
    pub fn new() -> Result<Arc<Runtime>, LoadError> {
        Self::with_cache(CacheConfig::from_env())
    }

    /// Sets up the engine: Cranelift, epoch interruption, no component-model
    /// concurrency (it slows every synchronous call several times), and
    /// compiled components cached in `cache` when given.
    pub fn with_cache(cache: Option<CacheConfig>) -> Result<Arc<Runtime>, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .parallel_compilation(true);
        // `WEIR_GUEST_PERFMAP=1` names guest functions for `perf` (in
        // /tmp/perf-<pid>.map), to profile guest code.
        if std::env::var_os("WEIR_GUEST_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
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
        let disk = cache.map(|c| DiskCache::new(c, &engine));
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            disk,
            stop,
            ticker: Some(ticker),
        }))
    }

    /// Loads a component file, compiling it once per distinct content, and
    /// lists its functions (in an instance with the limits of `config`).
    pub fn load(
        &self,
        path: &Path,
        config: &InstanceConfig,
    ) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let hash = xxhash_rust::xxh3::xxh3_128(&bytes);
        if let Some(c) = self.cache.lock().map_err(poisoned)?.get(&hash) {
            return Ok(c.clone());
        }
        let started = Instant::now();
        let cached = self.disk.as_ref().and_then(|d| d.get(&self.engine, hash));
        let origin = if cached.is_some() {
            Origin::Cache
        } else {
            Origin::Compiled
        };
        let component = match cached {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, &bytes).map_err(|e| LoadError::Invalid {
                    path: path.display().to_string(),
                    message: format!("{e:#}"),
                })?;
                if let Some(d) = &self.disk {
                    d.put(hash, &c);
                }
                c
            }
        };
        let loaded = Arc::new(LoadedComponent::link(
            self,
            path,
            component,
            config,
            (origin, started.elapsed()),
        )?);
        tracing::debug!(
            "loaded {} ({:?}) in {} ms",
            path.display(),
            origin,
            started.elapsed().as_millis()
        );
        self.cache
            .lock()
            .map_err(poisoned)?
            .insert(hash, loaded.clone());
        Ok(loaded)
    }

    /// The directory of the compiled-component cache, if there is one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskCache::dir)
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
