//! What a function can know about where and when it runs.

use crate::{ListState, MapState, StateTtl, ValueState, state::Declared};

/// The sub-task a function instance runs in.
#[derive(Debug, Clone, Default)]
pub struct TaskInfo {
    /// Name of the job.
    pub job_name: String,
    /// Id of the operator in the job file.
    pub operator_id: String,
    /// Index of this parallel instance, from 0.
    pub subtask_index: u32,
    /// Number of parallel instances of the operator.
    pub parallelism: u32,
    /// Number of key groups of the job.
    pub max_parallelism: u32,
    /// Job parameters.
    pub parameters: Vec<(String, String)>,
}

impl TaskInfo {
    /// The value of a job parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Given to `open`: the task, and (for keyed functions) state declarations.
pub struct OpenContext<'a> {
    pub(crate) task: &'a TaskInfo,
    pub(crate) states: Option<&'a mut Vec<Declared>>,
}

impl<'a> OpenContext<'a> {
    /// The sub-task this instance runs in.
    pub fn task(&self) -> &TaskInfo {
        self.task
    }

    /// The value of a job parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.task.parameter(name)
    }

    fn declare(
        &mut self,
        name: &str,
        kind: crate::state::Kind,
        codec: String,
        ttl: Option<StateTtl>,
    ) -> u32 {
        match self.states.as_deref_mut() {
            Some(states) => {
                if let Some(i) = states.iter().position(|d| d.name == name) {
                    return i as u32;
                }
                states.push(Declared {
                    name: name.to_owned(),
                    kind,
                    codec,
                    ttl,
                });
                (states.len() - 1) as u32
            }
            // Stateless kinds have no keyed state; the handle's first use
            // reports it.
            None => u32::MAX,
        }
    }

    /// Declares a value state scoped to the current key.
    pub fn value_state<T: crate::Data>(&mut self, name: &str) -> ValueState<T> {
        ValueState::new(self.declare(name, crate::state::Kind::Value, T::codec(), None))
    }

    /// Declares a value state whose entries expire.
    pub fn value_state_with_ttl<T: crate::Data>(
        &mut self,
        name: &str,
        ttl: StateTtl,
    ) -> ValueState<T> {
        ValueState::new(self.declare(name, crate::state::Kind::Value, T::codec(), Some(ttl)))
    }

    /// Declares a list state scoped to the current key.
    pub fn list_state<T: crate::Data>(&mut self, name: &str) -> ListState<T> {
        ListState::new(self.declare(name, crate::state::Kind::List, T::codec(), None))
    }

    /// Declares a list state whose elements expire one by one.
    pub fn list_state_with_ttl<T: crate::Data>(
        &mut self,
        name: &str,
        ttl: StateTtl,
    ) -> ListState<T> {
        ListState::new(self.declare(name, crate::state::Kind::List, T::codec(), Some(ttl)))
    }

    /// Declares a map state scoped to the current key.
    pub fn map_state<K: crate::Data, V: crate::Data>(&mut self, name: &str) -> MapState<K, V> {
        let codec = format!("{}->{}", K::codec(), V::codec());
        MapState::new(self.declare(name, crate::state::Kind::Map, codec, None))
    }

    /// Declares a map state whose entries expire one by one.
    pub fn map_state_with_ttl<K: crate::Data, V: crate::Data>(
        &mut self,
        name: &str,
        ttl: StateTtl,
    ) -> MapState<K, V> {
        let codec = format!("{}->{}", K::codec(), V::codec());
        MapState::new(self.declare(name, crate::state::Kind::Map, codec, Some(ttl)))
    }
}

/// The time domain of a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDomain {
    /// Fires when the watermark passes the timer's time.
    EventTime,
    /// Fires when the processing-time clock passes the timer's time.
    ProcessingTime,
}

/// Facts about the record (or timer) being processed, and the timer service
/// of keyed process functions.
pub struct Context<'a> {
    pub(crate) task: &'a TaskInfo,
    pub(crate) key: &'a [u8],
    pub(crate) timestamp: i64,
    pub(crate) watermark: i64,
    pub(crate) processing_time: i64,
    pub(crate) domain: Option<TimeDomain>,
}

impl Context<'_> {
    /// The record's key bytes (the current key in keyed functions).
    pub fn key(&self) -> &[u8] {
        self.key
    }

    /// The key as text, when it is UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(self.key).ok()
    }

    /// The record's event timestamp in ms, if it has one.
    pub fn timestamp(&self) -> Option<i64> {
        (self.timestamp != weir_wire::NO_TIMESTAMP).then_some(self.timestamp)
    }

    /// The operator's current watermark in ms (`i64::MIN` before the first).
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Processing time in ms since the epoch, as the host's clock says.
    pub fn processing_time(&self) -> i64 {
        self.processing_time
    }

    /// The sub-task this instance runs in.
    pub fn task(&self) -> &TaskInfo {
        self.task
    }

    /// In `on_timer`: the domain of the firing timer.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.domain
    }

    /// Registers an event-time timer for the current key: `on_timer` runs
    /// once the watermark reaches `time`. One timer per (key, time).
    /// Keyed process functions only.
    pub fn register_event_time_timer(&self, time: i64) -> crate::Result<()> {
        crate::state::timer_op(
            weir_wire::tag::TIMER_REGISTER,
            weir_wire::domain::EVENT_TIME,
            time,
        )
    }

    /// Registers a processing-time timer for the current key: `on_timer`
    /// runs once the host's clock reaches `time`.
    pub fn register_processing_time_timer(&self, time: i64) -> crate::Result<()> {
        crate::state::timer_op(
            weir_wire::tag::TIMER_REGISTER,
            weir_wire::domain::PROCESSING_TIME,
            time,
        )
    }

    /// Deletes the current key's event-time timer at `time`, if any.
    pub fn delete_event_time_timer(&self, time: i64) -> crate::Result<()> {
        crate::state::timer_op(
            weir_wire::tag::TIMER_DELETE,
            weir_wire::domain::EVENT_TIME,
            time,
        )
    }

    /// Deletes the current key's processing-time timer at `time`, if any.
    pub fn delete_processing_time_timer(&self, time: i64) -> crate::Result<()> {
        crate::state::timer_op(
            weir_wire::tag::TIMER_DELETE,
            weir_wire::domain::PROCESSING_TIME,
            time,
        )
    }
}
