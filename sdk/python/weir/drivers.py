"""Batch drivers: run registered functions over the host's batch buffers.

Pure Python with no component bindings, so tests drive them directly; the
component glue (``weir._glue``) adapts them to the WIT exports. A
``CallError`` fails the whole call; a function's error on one record
becomes a record-failed entry and the batch goes on (``wit/CONTRACT.md``).
"""

import struct

from . import wire
from .api import Collector, Context, OpenContext, Scope, TaskInfo, Window
from .errors import DecodeError, describe
from .registry import REGISTRY

ACC = "weir.acc"
_TAG_TS = struct.Struct("<Bq").pack
_LEN = wire._U32.pack
_DOMAINS = {wire.EVENT_TIME: "event-time", wire.PROCESSING_TIME: "processing-time"}


class CallError(Exception):
    """A failure of a whole call: ``kind`` is ``user``, ``decode`` or
    ``unknown-function``."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _whole(e, where=""):
    kind, message = describe(e)
    return CallError(kind, f"{where}{message}")


def _find(name, interface):
    spec = REGISTRY.get(name)
    if spec is None:
        have = ", ".join(f"{s.name} ({s.kind})" for s in REGISTRY.values())
        raise CallError("unknown-function", f"no function named '{name}'; this component has: {have}")
    serves = {
        "transform": ("map", "flat-map", "filter", "timestamp-assigner"),
        "keyed": ("reduce", "aggregate", "keyed-process"),
        "window": ("reduce", "aggregate", "process-window"),
    }[interface]
    if spec.kind not in serves or (interface == "keyed" and spec.then is not None):
        raise CallError("unknown-function", f"'{name}' is a {spec.kind} function, not one the {interface} interface runs")
    return spec


def _method(obj, name):
    """The user's method ``name``, or the object itself when it is a plain function."""
    m = getattr(obj, name, None)
    return m if m is not None else obj


def _open(obj, ctx):
    opener = getattr(obj, "open", None)
    if opener is not None:
        try:
            opener(ctx)
        except Exception as e:
            raise _whole(e, "open: ") from None


class _Base:
    def __init__(self, spec, task):
        self.spec = spec
        self.task = task if task is not None else TaskInfo()

    def snapshot_state(self):
        snap = getattr(self.obj, "snapshot_state", None)
        try:
            return None if snap is None else snap()
        except Exception as e:
            raise _whole(e, "snapshot_state: ") from None

    def restore_state(self, states):
        restore = getattr(self.obj, "restore_state", None)
        if restore is not None:
            try:
                restore(list(states))
            except Exception as e:
                raise _whole(e, "restore_state: ") from None


class TransformDriver(_Base):
    """An opened map, flat-map, filter or timestamp assigner."""

    def __init__(self, name, task=None):
        super().__init__(_find(name, "transform"), task)
        self.obj = self.spec.make()
        _open(self.obj, OpenContext(self.task))
        kind = self.spec.kind
        self._fn = _method(self.obj, {"map": "map", "flat-map": "flat_map", "filter": "filter",
                                      "timestamp-assigner": "extract_timestamp"}[kind])
        self._run = {"map": self._map, "flat-map": self._flat_map, "filter": self._filter,
                     "timestamp-assigner": self._timestamps}[kind]

    def process_batch(self, watermark, processing_time, data):
        w = wire.Writer()
        ctx = Context(self.task, watermark, processing_time)
        try:
            self._run(data, w, ctx)
        except CallError:
            raise
        except DecodeError as e:
            raise CallError("decode", str(e)) from None
        return w.getvalue()

    def _map(self, data, w, ctx):
        fn, dec, enc = self._fn, self.spec.input.decode, self.spec.output.encode
        for i, (ts, key, value) in enumerate(wire.records(data)):
            ctx.key, ctx._ts = key, ts
            try:
                result = enc(fn(dec(value), ctx))
            except Exception as e:
                w.failed(0, i, *describe(e))
                continue
            w.main(ts, key, result)

    def _flat_map(self, data, w, ctx):
        fn, dec = self._fn, self.spec.input.decode
        out = Collector(w, self.spec.output, self.spec.side_outputs)
        for i, (ts, key, value) in enumerate(wire.records(data)):
            ctx.key, ctx._ts = key, ts
            out.key, out.ts = key, ts
            mark = len(w.buf)
            try:
                fn(dec(value), ctx, out)
            except Exception as e:
                w.truncate(mark)
                w.failed(0, i, *describe(e))

    def _filter(self, data, w, ctx):
        fn, dec = self._fn, self.spec.input.decode
        for i, (ts, key, value) in enumerate(wire.records(data)):
            ctx.key, ctx._ts = key, ts
            try:
                keep = fn(dec(value), ctx)
            except Exception as e:
                w.failed(0, i, *describe(e))
                continue
            if keep:
                w.main(ts, key, value)

    def _timestamps(self, data, w, ctx):
        fn, dec = self._fn, self.spec.input.decode
        for i, (ts, _key, value) in enumerate(wire.records(data)):
            try:
                t = fn(dec(value), None if ts == wire.NO_TIMESTAMP else ts)
                w.timestamp(t)
            except Exception as e:
                raise _whole(e, f"record {i} of the batch: ") from None


class KeyedDriver(_Base):
    """An opened reduce, aggregate or keyed process function. ``host`` gives
    list and map state (the ``keyed-state`` import)."""

    def __init__(self, name, task=None, host=None):
        super().__init__(_find(name, "keyed"), task)
        self.scope = Scope(host)
        self.declared = []
        ctx = OpenContext(self.task, self.scope, self.declared)
        kind = self.spec.kind
        if kind in ("reduce", "aggregate"):
            ctx.value_state(ACC, self.spec.acc)
        self.obj = self.spec.make()
        _open(self.obj, ctx)
        self.value_ids = [i for i, d in enumerate(self.declared) if d.kind == "value"]
        self._group = {"reduce": self._reduce, "aggregate": self._aggregate,
                       "keyed-process": self._process}[kind]

    def states(self):
        """The declared states, in id order."""
        return list(self.declared)

    def process_batch(self, watermark, processing_time, data):
        return self._run(watermark, processing_time, data, self._group)

    def on_timers(self, watermark, processing_time, data):
        if self.spec.kind != "keyed-process":
            raise CallError("user", "this kind of function has no timers")
        return self._run(watermark, processing_time, data, self._fire)

    def _run(self, watermark, processing_time, data, step):
        w = wire.Writer()
        ctx = Context(self.task, watermark, processing_time, self.scope)
        s = self.scope
        n_states = len(self.declared)
        try:
            for slot, key, states, reader, n in wire.key_groups(data, len(self.value_ids)):
                s.slot, s.values, s.dirty, s.timers = slot, [None] * n_states, [False] * n_states, []
                for vid, raw in zip(self.value_ids, states):
                    s.values[vid] = raw
                s.active = True
                ctx.key = key
                try:
                    step(slot, key, reader, n, w, ctx)
                except CallError as e:
                    raise CallError(e.kind, f"key '{key.decode(errors='replace')}': {e.message}") from None
                finally:
                    s.active = False
                for sid in range(n_states):
                    if s.dirty[sid]:
                        raw = s.values[sid]
                        if raw is None:
                            w.value_clear(slot, sid)
                        else:
                            w.value_set(slot, sid, raw)
                for op, domain, time in s.timers:
                    w.timer(op, slot, domain, time)
        except DecodeError as e:
            raise CallError("decode", str(e)) from None
        return w.getvalue()

    def _read_acc(self):
        raw = self.scope.values[0]
        if raw is None:
            return None
        try:
            return self.spec.acc.decode(raw)
        except DecodeError as e:
            raise CallError("decode", f"the stored accumulator: {e}") from None

    def _reduce(self, slot, key, reader, n, w, ctx):
        fn, codec = _method(self.obj, "reduce"), self.spec.acc
        decode, encode, next_record = codec.decode, codec.encode, reader.ts_value
        buf = w.buf
        # Every output has this key: its frame head is the same but for ts.
        key_part = wire._U32.pack(len(key)) + key
        acc = self._read_acc()
        encoded = None
        for i in range(n):
            ts, raw = next_record()
            try:
                value = decode(raw)
                nxt = value if acc is None else fn(acc, value)
                out = encode(nxt)
            except Exception as e:
                w.failed(slot, i, *describe(e))
                # The function may have changed the accumulator in place.
                acc = decode(encoded) if encoded is not None else self._read_acc()
                continue
            buf += _TAG_TS(wire.MAIN, ts)
            buf += key_part
            buf += _LEN(len(out))
            buf += out
            acc, encoded = nxt, out
        if encoded is not None:
            self.scope.values[0] = encoded
            self.scope.dirty[0] = True

    def _fresh_acc(self):
        acc = self._read_acc()
        if acc is None:
            try:
                acc = self.obj.create_accumulator()
            except Exception as e:
                raise _whole(e, "create_accumulator: ") from None
        return acc

    def _aggregate(self, slot, key, reader, n, w, ctx):
        agg, spec = self.obj, self.spec
        acc = self._fresh_acc()
        encoded = None
        for i in range(n):
            ts, raw = reader.ts_value()
            mark = len(w.buf)
            try:
                nxt = agg.add(spec.input.decode(raw), acc)
                w.main(ts, key, spec.output.encode(agg.get_result(nxt)))
                stored = spec.acc.encode(nxt)
            except Exception as e:
                w.truncate(mark)
                w.failed(slot, i, *describe(e))
                acc = spec.acc.decode(encoded) if encoded is not None else self._fresh_acc()
                continue
            acc, encoded = nxt, stored
        if encoded is not None:
            self.scope.values[0] = encoded
            self.scope.dirty[0] = True

    def _process(self, slot, key, reader, n, w, ctx):
        fn, dec = self.obj.process_element, self.spec.input.decode
        out = Collector(w, self.spec.output, self.spec.side_outputs)
        out.key = key
        ctx.time_domain = None
        for i in range(n):
            ts, raw = reader.ts_value()
            ctx._ts = out.ts = ts
            mark = len(w.buf)
            try:
                fn(dec(raw), ctx, out)
            except Exception as e:
                # Its outputs go; state it changed before failing stays.
                w.truncate(mark)
                w.failed(slot, i, *describe(e))

    def _fire(self, slot, key, reader, n, w, ctx):
        on_timer = getattr(self.obj, "on_timer", None)
        out = Collector(w, self.spec.output, self.spec.side_outputs)
        out.key = key
        for i in range(n):
            time, domain = reader.ts_value()
            if len(domain) != 1 or domain[0] not in _DOMAINS:
                raise CallError("decode", "unknown timer domain")
            if on_timer is None:
                continue
            ctx._ts = out.ts = time
            ctx.time_domain = _DOMAINS[domain[0]]
            mark = len(w.buf)
            try:
                on_timer(time, ctx, out)
            except Exception as e:
                w.truncate(mark)
                w.failed(slot, i, *describe(e))


class WindowDriver(_Base):
    """An opened window function: reduce, aggregate (optionally rendered by
    a process-window function) or process-window."""

    def __init__(self, name, task=None):
        super().__init__(_find(name, "window"), task)
        ctx = OpenContext(self.task)
        self.obj = self.spec.make()
        _open(self.obj, ctx)
        self.renderer = None
        if self.spec.then is not None:
            self.renderer = self.spec.then.make()
            _open(self.renderer, ctx)

    def accumulate(self, watermark, processing_time, data):
        return self._run(watermark, processing_time, data, "accumulate")

    def merge(self, watermark, processing_time, data):
        return self._run(watermark, processing_time, data, "merge")

    def emit(self, watermark, processing_time, data):
        return self._run(watermark, processing_time, data, "emit")

    def _run(self, watermark, processing_time, data, step):
        w = wire.Writer()
        ctx = Context(self.task, watermark, processing_time)
        try:
            for slot, key, start, end, acc, reader, n in wire.window_groups(data):
                try:
                    if step == "emit":
                        self._emit(key, Window(start, end), acc, reader, n, w, ctx)
                    else:
                        w.value_set(slot, 0, self._fold(acc, reader, n, step == "merge"))
                except (CallError, DecodeError):
                    raise
                except Exception as e:
                    raise _whole(e) from None
        except DecodeError as e:
            raise CallError("decode", str(e)) from None
        except CallError as e:
            raise CallError(e.kind, f"window [{start}, {end}) of key '{key.decode(errors='replace')}': {e.message}") from None
        return w.getvalue()

    def _fold(self, acc_raw, reader, n, merging):
        spec, obj = self.spec, self.obj
        if spec.kind == "process-window":
            raise CallError("user", "a process-window function keeps its elements on the host; it cannot fold them")
        if spec.kind == "reduce":
            fn = _method(obj, "reduce")
            acc = None if acc_raw is None else spec.acc.decode(acc_raw)
            for _ in range(n):
                value = spec.acc.decode(reader.ts_value()[1])
                acc = value if acc is None else fn(acc, value)
            return b"" if acc is None else spec.acc.encode(acc)
        acc = obj.create_accumulator() if acc_raw is None else spec.acc.decode(acc_raw)
        for _ in range(n):
            raw = reader.ts_value()[1]
            acc = obj.merge(acc, spec.acc.decode(raw)) if merging else obj.add(spec.input.decode(raw), acc)
        return spec.acc.encode(acc)

    def _emit(self, key, window, acc_raw, reader, n, w, ctx):
        spec = self.spec
        ts = window.max_timestamp
        ctx.key, ctx._ts = key, ts
        if spec.kind == "process-window":
            elements = [spec.input.decode(reader.ts_value()[1]) for _ in range(n)]
            self._render(spec, self.obj, window, elements, w, ctx)
            return
        for _ in range(n):
            reader.ts_value()
        if acc_raw is None:
            return
        if spec.kind == "reduce":
            result_raw = bytes(acc_raw)
            result = spec.acc.decode(acc_raw) if self.renderer else None
        else:
            result = self.obj.get_result(spec.acc.decode(acc_raw))
            result_raw = None if self.renderer else spec.output.encode(result)
        if self.renderer is None:
            w.main(ts, key, result_raw)
        else:
            self._render(spec.then, self.renderer, window, [result], w, ctx)

    @staticmethod
    def _render(spec, obj, window, elements, w, ctx):
        out = Collector(w, spec.output, spec.side_outputs)
        out.key, out.ts = ctx.key, window.max_timestamp
        _method(obj, "process")(window, elements, ctx, out)
