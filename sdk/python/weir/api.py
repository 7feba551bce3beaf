"""What a function sees: its task, the record's context, a collector for
outputs and handles on keyed state."""

from dataclasses import dataclass, field

from . import wire
from .errors import UserError


@dataclass
class TaskInfo:
    """The sub-task a function instance runs in."""

    job_name: str = ""
    operator_id: str = ""
    subtask_index: int = 0
    parallelism: int = 1
    max_parallelism: int = 128
    parameters: dict = field(default_factory=dict)

    def parameter(self, name, default=None):
        """The value of a job parameter (from the job file or the command line)."""
        return self.parameters.get(name, default)


@dataclass(frozen=True)
class Window:
    """A window ``[start, end)`` in ms (Flink's ``TimeWindow``)."""

    start: int
    end: int

    @property
    def max_timestamp(self):
        """The window's last millisecond: the timestamp of its results."""
        return self.end - 1


@dataclass(frozen=True)
class StateTtl:
    """Processing-time expiry of a state's entries."""

    millis: int
    refresh_on_read: bool = False


class Scope:
    """The current key group of a keyed call: its slot, value states (by
    state id), which of them changed, and timer operations."""

    __slots__ = ("slot", "values", "dirty", "timers", "active", "host")

    def __init__(self, host):
        self.slot = 0
        self.values = []
        self.dirty = []
        self.timers = []
        self.active = False
        self.host = host

    def check(self):
        if not self.active:
            raise UserError("keyed state and timers are only reachable while a key is processed")


class ValueState:
    """One value per key (Flink's ``ValueState``)."""

    def __init__(self, scope, state_id, codec):
        self._scope, self._id, self._codec = scope, state_id, codec

    def get(self, default=None):
        """The current key's value, or ``default`` when it has none."""
        self._scope.check()
        raw = self._scope.values[self._id]
        return default if raw is None else self._codec.decode(raw)

    def set(self, value):
        """Sets the current key's value."""
        self._scope.check()
        self._scope.values[self._id] = self._codec.encode(value)
        self._scope.dirty[self._id] = True

    def clear(self):
        """Removes the current key's value."""
        self._scope.check()
        self._scope.values[self._id] = None
        self._scope.dirty[self._id] = True


class ListState:
    """A list per key, kept by the host and read on demand."""

    def __init__(self, scope, state_id, codec):
        self._scope, self._id, self._codec = scope, state_id, codec

    def get(self):
        """All elements for the current key."""
        s = self._scope
        s.check()
        return [self._codec.decode(v) for v in s.host.list_get(self._id, s.slot)]

    def add(self, value):
        """Appends one element."""
        s = self._scope
        s.check()
        s.host.list_add(self._id, s.slot, self._codec.encode(value))

    def update(self, values):
        """Replaces all elements."""
        s = self._scope
        s.check()
        s.host.list_update(self._id, s.slot, [self._codec.encode(v) for v in values])

    def clear(self):
        """Removes all elements."""
        s = self._scope
        s.check()
        s.host.list_clear(self._id, s.slot)


class MapState:
    """A map per key, kept by the host; entries are ordered by key bytes."""

    def __init__(self, scope, state_id, key_codec, value_codec):
        self._scope, self._id = scope, state_id
        self._kc, self._vc = key_codec, value_codec

    def get(self, key, default=None):
        s = self._scope
        s.check()
        raw = s.host.map_get(self._id, s.slot, self._kc.encode(key))
        return default if raw is None else self._vc.decode(raw)

    def contains(self, key):
        s = self._scope
        s.check()
        return s.host.map_get(self._id, s.slot, self._kc.encode(key)) is not None

    def put(self, key, value):
        s = self._scope
        s.check()
        s.host.map_put(self._id, s.slot, self._kc.encode(key), self._vc.encode(value))

    def remove(self, key):
        s = self._scope
        s.check()
        s.host.map_remove(self._id, s.slot, self._kc.encode(key))

    def items(self):
        """All ``(key, value)`` pairs of the current key, ordered by key bytes."""
        s = self._scope
        s.check()
        return [(self._kc.decode(k), self._vc.decode(v)) for k, v in s.host.map_entries(self._id, s.slot)]

    def clear(self):
        s = self._scope
        s.check()
        s.host.map_clear(self._id, s.slot)


@dataclass
class Declared:
    """A keyed state a function declared in ``open``."""

    name: str
    kind: str  # "value" | "list" | "map"
    codec: str
    ttl: StateTtl = None


class OpenContext:
    """Given to ``open``: the task, and for keyed functions state declarations."""

    def __init__(self, task, scope=None, declared=None):
        self.task = task
        self._scope = scope
        self._declared = declared

    def parameter(self, name, default=None):
        """The value of a job parameter."""
        return self.task.parameter(name, default)

    def _declare(self, name, kind, codec_name, ttl):
        if self._declared is None:
            raise UserError(f"state '{name}': only keyed functions have keyed state")
        for i, d in enumerate(self._declared):
            if d.name == name:
                if d.kind != kind or d.codec != codec_name:
                    raise UserError(f"state '{name}' is declared twice with different kinds or codecs")
                return i
        self._declared.append(Declared(name, kind, codec_name, ttl))
        return len(self._declared) - 1

    def value_state(self, name, codec, ttl=None):
        """Declares a value state scoped to the current key."""
        return ValueState(self._scope, self._declare(name, "value", codec.name, ttl), codec)

    def list_state(self, name, codec, ttl=None):
        """Declares a list state scoped to the current key."""
        return ListState(self._scope, self._declare(name, "list", codec.name, ttl), codec)

    def map_state(self, name, key_codec, value_codec, ttl=None):
        """Declares a map state scoped to the current key."""
        codec = f"{key_codec.name}->{value_codec.name}"
        return MapState(self._scope, self._declare(name, "map", codec, ttl), key_codec, value_codec)


EVENT_TIME = "event-time"
PROCESSING_TIME = "processing-time"


class Context:
    """Facts about the record (or timer) being processed, and the timer
    service of keyed process functions."""

    __slots__ = ("task", "key", "_ts", "watermark", "processing_time", "time_domain", "_scope")

    def __init__(self, task, watermark, processing_time, scope=None):
        self.task = task
        self.watermark = watermark
        self.processing_time = processing_time
        self._scope = scope
        self.key = b""
        self._ts = wire.NO_TIMESTAMP
        self.time_domain = None

    @property
    def key_str(self):
        """The key as text (UTF-8), or None when it is not."""
        try:
            return self.key.decode()
        except UnicodeDecodeError:
            return None

    @property
    def timestamp(self):
        """The record's event time in ms, or None."""
        return None if self._ts == wire.NO_TIMESTAMP else self._ts

    def parameter(self, name, default=None):
        return self.task.parameter(name, default)

    def _timer(self, op, domain, time):
        s = self._scope
        if s is None:
            raise UserError("only keyed process functions have timers")
        s.check()
        if not isinstance(time, int) or not -(1 << 63) <= time < (1 << 63):
            raise UserError(f"a timer's time must be an i64 of ms, not {time!r}")
        s.timers.append((op, domain, time))

    def register_event_time_timer(self, time):
        """``on_timer`` runs once the watermark reaches ``time``; one per (key, time)."""
        self._timer(wire.TIMER_REGISTER, wire.EVENT_TIME, time)

    def register_processing_time_timer(self, time):
        """``on_timer`` runs once the host's clock reaches ``time``."""
        self._timer(wire.TIMER_REGISTER, wire.PROCESSING_TIME, time)

    def delete_event_time_timer(self, time):
        self._timer(wire.TIMER_DELETE, wire.EVENT_TIME, time)

    def delete_processing_time_timer(self, time):
        self._timer(wire.TIMER_DELETE, wire.PROCESSING_TIME, time)


def key_bytes(key):
    """A key as bytes: str keys are their UTF-8."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise UserError(f"a key is str or bytes, not {type(key).__name__}")


class Collector:
    """Where a function puts its output. Records keep the input's key and
    timestamp unless a method says otherwise."""

    __slots__ = ("_w", "_buf", "_codec", "_enc", "_side", "key", "ts")

    def __init__(self, writer, codec, side_outputs):
        self._w = writer
        self._buf = writer.buf
        self._codec = codec
        self._enc = codec.encode
        self._side = side_outputs
        self.key = b""
        self.ts = wire.NO_TIMESTAMP

    def collect(self, value):
        """Emits a record to the main output."""
        v = self._enc(value)
        key = self.key
        buf = self._buf
        buf += _MAIN_HEAD(wire.MAIN, self.ts, len(key))
        buf += key
        buf += _LEN(len(v))
        buf += v

    def collect_keyed(self, key, value):
        """Emits a record with a new key (what a downstream ``key-by`` uses)."""
        if type(key) is not bytes:
            key = key_bytes(key)
        v = self._enc(value)
        buf = self._buf
        buf += _MAIN_HEAD(wire.MAIN, self.ts, len(key))
        buf += key
        buf += _LEN(len(v))
        buf += v

    def collect_with_timestamp(self, ts, value):
        """Emits a record with a new event timestamp (ms)."""
        self._w.main(ts, self.key, self._enc(value))

    def side_output(self, output, value, codec=None):
        """Emits to a side output the function declared; ``codec`` defaults to
        the main output's."""
        if output not in self._side:
            raise UserError(f"side output '{output}' is not declared by this function")
        self._w.side(output, self.ts, self.key, (codec or self._codec).encode(value))


_MAIN_HEAD = wire._MAIN_HEAD.pack
_LEN = wire._U32.pack
