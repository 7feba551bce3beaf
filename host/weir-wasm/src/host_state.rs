//! What a store holds: the guest's (empty) WASI context, its memory limiter,
//! captured output, and for keyed functions the state they may reach.

use crate::bindings::keyed::weir::function::keyed_state;
use wasmtime::{ResourceLimiter, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};
use weir_state::{KeyedStateBackend, StateId, StateKind};

/// Per-store data.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) keyed: Option<KeyedScope>,
}

impl HostState {
    pub(crate) fn new(memory_limit: u64) -> Self {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        // No preopened directories, environment, arguments or sockets:
        // the guest can compute, read clocks and random numbers, and print
        // into a bounded buffer. Nothing else.
        let wasi = WasiCtx::builder()
            .stdout(MemoryOutputPipe::new(4 * 1024))
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
                exceeded: false,
            },
            stderr,
            keyed: None,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a guest's memories and tables.
pub(crate) struct Limiter {
    memory_limit: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.exceeded = true;
            return Err(format_err!(
                "memory limit of {} bytes exceeded",
                self.memory_limit
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// How a declared state id of a function maps to the backend.
#[derive(Debug, Clone, Copy)]
pub struct StateBinding {
    /// Backend state id.
    pub id: StateId,
    /// Its kind.
    pub kind: StateKind,
}

/// The keyed state a keyed function reaches during one batch call: the
/// backend, its declared states, and the keys of the batch by slot.
pub struct KeyedScope {
    /// The sub-task's state backend.
    pub backend: Box<dyn KeyedStateBackend>,
    /// Declared state ids of the function, in declaration order.
    pub bindings: Vec<StateBinding>,
    /// Key group and key range (into `keys`) of each slot of the batch.
    pub slots: Vec<(u16, u32, u32)>,
    /// The batch's keys, concatenated.
    pub keys: Vec<u8>,
}

impl KeyedScope {
    /// A scope over `backend` with no batch yet.
    pub fn new(backend: Box<dyn KeyedStateBackend>) -> Self {
        KeyedScope {
            backend,
            bindings: Vec::new(),
            slots: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Forgets the previous batch's keys.
    pub fn clear_slots(&mut self) {
        self.slots.clear();
        self.keys.clear();
    }

    /// Adds a key as the next slot.
    pub fn push_slot(&mut self, kg: u16, key: &[u8]) {
        let start = self.keys.len() as u32;
        self.keys.extend_from_slice(key);
        self.slots.push((kg, start, self.keys.len() as u32));
    }
}

type Access<'a> = (&'a mut dyn KeyedStateBackend, StateId, u16, &'a [u8]);

impl HostState {
    fn access(&mut self, state: u32, slot: u32, kind: StateKind) -> wasmtime::Result<Access<'_>> {
        let scope = self
            .keyed
            .as_mut()
            .ok_or_else(|| format_err!("keyed state used outside a keyed function"))?;
        let binding = scope
            .bindings
            .get(state as usize)
            .ok_or_else(|| format_err!("state id {state} was never declared"))?;
        if binding.kind != kind {
            return Err(format_err!(
                "state id {state} is a {:?} state, used as {kind:?}",
                binding.kind
            ));
        }
        let &(kg, start, end) = scope
            .slots
            .get(slot as usize)
            .ok_or_else(|| format_err!("key slot {slot} is not part of the current batch"))?;
        let id = binding.id;
        Ok((
            scope.backend.as_mut(),
            id,
            kg,
            &scope.keys[start as usize..end as usize],
        ))
    }
}

fn state_err(e: weir_state::StateError) -> wasmtime::Error {
    format_err!("state backend: {e}")
}

impl keyed_state::Host for HostState {
    fn list_get(&mut self, state: u32, slot: u32) -> wasmtime::Result<Vec<Vec<u8>>> {
        let (b, id, kg, key) = self.access(state, slot, StateKind::List)?;
        b.list_get(kg, id, key).map_err(state_err)
    }

    fn list_add(&mut self, state: u32, slot: u32, value: Vec<u8>) -> wasmtime::Result<()> {
        let (b, id, kg, key) = self.access(state, slot, StateKind::List)?;
        b.list_add(kg, id, key, &value).map_err(state_err)
    }

    fn list_update(&mut self, state: u32, slot: u32, values: Vec<Vec<u8>>) -> wasmtime::Result<()> {
        let (b, id, kg, key) = self.access(state, slot, StateKind::List)?;
        b.list_update(kg, id, key, values).map_err(state_err)
    }

    fn list_clear(&mut self, state: u32, slot: u32) -> wasmtime::Result<()> {
        let (b, id, kg, key) = self.access(state, slot, StateKind::List)?;
        b.clear(kg, id, key).map_err(state_err)
    }

    fn map_get(
        &mut self,
        state: u32,
        slot: u32,
        key: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        let (b, id, kg, k) = self.access(state, slot, StateKind::Map)?;
        b.map_get(kg, id, k, &key).map_err(state_err)
    }

    fn map_put(
        &mut self,
        state: u32,
        slot: u32,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        let (b, id, kg, k) = self.access(state, slot, StateKind::Map)?;
        b.map_put(kg, id, k, &key, &value).map_err(state_err)
    }

    fn map_remove(&mut self, state: u32, slot: u32, key: Vec<u8>) -> wasmtime::Result<()> {
        let (b, id, kg, k) = self.access(state, slot, StateKind::Map)?;
        b.map_remove(kg, id, k, &key).map_err(state_err)
    }

    fn map_entries(&mut self, state: u32, slot: u32) -> wasmtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (b, id, kg, k) = self.access(state, slot, StateKind::Map)?;
        b.map_entries(kg, id, k).map_err(state_err)
    }

    fn map_clear(&mut self, state: u32, slot: u32) -> wasmtime::Result<()> {
        let (b, id, kg, k) = self.access(state, slot, StateKind::Map)?;
        b.clear(kg, id, k).map_err(state_err)
    }
}
