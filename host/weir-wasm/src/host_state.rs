//! What a store holds: the guest's WASI context (empty unless granted),
//! its memory limiter, its standard streams, the call's deadline and
//! budgets, and for keyed functions the state they may reach.

use crate::bindings::keyed::weir::function::keyed_state;
use crate::budget::Usage;
use crate::guest_io::GuestLog;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use wasmtime::{ResourceLimiter, format_err};
use wasmtime_wasi::{FsPerms, ResourceTable, WasiCtx, WasiCtxView, WasiView};
use weir_core::graph::{Budgets, Grants};
use weir_state::{KeyedStateBackend, StateId, StateKind};

/// Per-store data.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// The guest's standard output and error, forwarded after each call.
    pub(crate) log: GuestLog,
    pub(crate) keyed: Option<KeyedScope>,
    /// Set by the embedder to interrupt guest calls (the job is stopping).
    pub(crate) interrupt: Option<Arc<AtomicBool>>,
    /// When the current call must have returned.
    pub(crate) deadline: Instant,
    /// Whether the last call was interrupted through `interrupt`.
    pub(crate) interrupted: bool,
    /// Limits on what the host does for the guest per call.
    pub(crate) budgets: Budgets,
    /// What the current call used of them.
    pub(crate) usage: Usage,
}

impl HostState {
    /// A store's data. Without grants the guest can compute, read clocks
    /// and random numbers, and print (into `log`), nothing else: no
    /// directories, environment, arguments or sockets. Grants add the
    /// named environment variables and directories (never sockets).
    /// Fails when a granted directory cannot be opened (its path and the
    /// cause).
    pub(crate) fn new(
        memory_limit: u64,
        grants: Option<&Grants>,
        log: GuestLog,
        budgets: Budgets,
    ) -> Result<Self, (String, String)> {
        let mut b = WasiCtx::builder();
        b.stdout(log.stdout.clone())
            .stderr(log.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(g) = grants {
            b.envs(&g.env);
            for d in &g.dirs {
                let perms = if d.writable {
                    FsPerms::ReadWrite
                } else {
                    FsPerms::ReadOnly
                };
                b.preopened_dir(&d.host, &d.guest, perms)
                    .map_err(|e| (d.host.display().to_string(), format!("{e:#}")))?;
            }
        }
        let wasi = b.build();
        Ok(HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
                exceeded: false,
                memory_bytes: 0,
            },
            log,
            keyed: None,
            interrupt: None,
            deadline: Instant::now(),
            interrupted: false,
            budgets,
            usage: Usage::default(),
        })
    }

    /// Counts state bytes a host call writes.
    fn charge(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let budgets = self.budgets;
        self.usage
            .charge_state(&budgets, bytes)
            .map_err(wasmtime::Error::new)
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
    /// The size of the guest's linear memory now, bytes.
    pub(crate) memory_bytes: usize,
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
        self.memory_bytes = self.memory_bytes.max(desired);
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
    /// Expiry of its entries, if any.
    pub ttl: Option<weir_state::Ttl>,
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
    /// Processing time of the current call (for state TTL).
    pub now: i64,
}

impl KeyedScope {
    /// A scope over `backend` with no batch yet.
    pub fn new(backend: Box<dyn KeyedStateBackend>) -> Self {
        KeyedScope {
            backend,
            bindings: Vec::new(),
            slots: Vec::new(),
            keys: Vec::new(),
            now: 0,
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

/// What a host call reaches: the backend, the backend state, the key group
/// and key, the state's TTL and the current processing time.
struct Access<'a> {
    b: &'a mut dyn KeyedStateBackend,
    id: StateId,
    kg: u16,
    key: &'a [u8],
    ttl: Option<weir_state::Ttl>,
    now: i64,
}

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
        Ok(Access {
            id: binding.id,
            ttl: binding.ttl,
            b: scope.backend.as_mut(),
            kg,
            key: &scope.keys[start as usize..end as usize],
            now: scope.now,
        })
    }
}

fn state_err(e: weir_state::StateError) -> wasmtime::Error {
    format_err!("state backend: {e}")
}

impl keyed_state::Host for HostState {
    fn list_get(&mut self, state: u32, slot: u32) -> wasmtime::Result<Vec<Vec<u8>>> {
        let a = self.access(state, slot, StateKind::List)?;
        let all = a.b.list_get(a.kg, a.id, a.key).map_err(state_err)?;
        let Some(ttl) = a.ttl else {
            return Ok(all);
        };
        let n = all.len();
        let live: Vec<Vec<u8>> = all
            .iter()
            .filter_map(|e| weir_state::ttl::live(e, &ttl, a.now).map(<[u8]>::to_vec))
            .collect();
        if live.len() < n || ttl.refresh_on_read {
            // Drop expired elements (and refresh the others when reads
            // count).
            let kept = all
                .into_iter()
                .filter(|e| weir_state::ttl::live(e, &ttl, a.now).is_some())
                .map(|e| {
                    if ttl.refresh_on_read {
                        weir_state::ttl::stamped(a.now, &e[8..])
                    } else {
                        e
                    }
                })
                .collect();
            a.b.list_update(a.kg, a.id, a.key, kept)
                .map_err(state_err)?;
        }
        Ok(live)
    }

    fn list_add(&mut self, state: u32, slot: u32, value: Vec<u8>) -> wasmtime::Result<()> {
        self.charge(value.len())?;
        let a = self.access(state, slot, StateKind::List)?;
        match a.ttl {
            Some(_) => {
                a.b.list_add(a.kg, a.id, a.key, &weir_state::ttl::stamped(a.now, &value))
            }
            None => a.b.list_add(a.kg, a.id, a.key, &value),
        }
        .map_err(state_err)
    }

    fn list_update(&mut self, state: u32, slot: u32, values: Vec<Vec<u8>>) -> wasmtime::Result<()> {
        self.charge(values.iter().map(Vec::len).sum())?;
        let a = self.access(state, slot, StateKind::List)?;
        let values = match a.ttl {
            Some(_) => values
                .iter()
                .map(|v| weir_state::ttl::stamped(a.now, v))
                .collect(),
            None => values,
        };
        a.b.list_update(a.kg, a.id, a.key, values)
            .map_err(state_err)
    }

    fn list_clear(&mut self, state: u32, slot: u32) -> wasmtime::Result<()> {
        let a = self.access(state, slot, StateKind::List)?;
        a.b.clear(a.kg, a.id, a.key).map_err(state_err)
    }

    fn map_get(
        &mut self,
        state: u32,
        slot: u32,
        key: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        let a = self.access(state, slot, StateKind::Map)?;
        let v = a.b.map_get(a.kg, a.id, a.key, &key).map_err(state_err)?;
        let (Some(ttl), Some(stored)) = (a.ttl, &v) else {
            return Ok(v);
        };
        match weir_state::ttl::live(stored, &ttl, a.now) {
            Some(value) => {
                let value = value.to_vec();
                if ttl.refresh_on_read {
                    a.b.map_put(
                        a.kg,
                        a.id,
                        a.key,
                        &key,
                        &weir_state::ttl::stamped(a.now, &value),
                    )
                    .map_err(state_err)?;
                }
                Ok(Some(value))
            }
            None => {
                a.b.map_remove(a.kg, a.id, a.key, &key).map_err(state_err)?;
                Ok(None)
            }
        }
    }

    fn map_put(
        &mut self,
        state: u32,
        slot: u32,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.charge(key.len() + value.len())?;
        let a = self.access(state, slot, StateKind::Map)?;
        match a.ttl {
            Some(_) => a.b.map_put(
                a.kg,
                a.id,
                a.key,
                &key,
                &weir_state::ttl::stamped(a.now, &value),
            ),
            None => a.b.map_put(a.kg, a.id, a.key, &key, &value),
        }
        .map_err(state_err)
    }

    fn map_remove(&mut self, state: u32, slot: u32, key: Vec<u8>) -> wasmtime::Result<()> {
        let a = self.access(state, slot, StateKind::Map)?;
        a.b.map_remove(a.kg, a.id, a.key, &key).map_err(state_err)
    }

    fn map_entries(&mut self, state: u32, slot: u32) -> wasmtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let a = self.access(state, slot, StateKind::Map)?;
        let all = a.b.map_entries(a.kg, a.id, a.key).map_err(state_err)?;
        let Some(ttl) = a.ttl else {
            return Ok(all);
        };
        let mut live = Vec::with_capacity(all.len());
        for (k, stored) in all {
            match weir_state::ttl::live(&stored, &ttl, a.now) {
                Some(v) => {
                    let v = v.to_vec();
                    if ttl.refresh_on_read {
                        a.b.map_put(a.kg, a.id, a.key, &k, &weir_state::ttl::stamped(a.now, &v))
                            .map_err(state_err)?;
                    }
                    live.push((k, v));
                }
                None => a.b.map_remove(a.kg, a.id, a.key, &k).map_err(state_err)?,
            }
        }
        Ok(live)
    }

    fn map_clear(&mut self, state: u32, slot: u32) -> wasmtime::Result<()> {
        let a = self.access(state, slot, StateKind::Map)?;
        a.b.clear(a.kg, a.id, a.key).map_err(state_err)
    }
}
