"""The WIT exports of a Python component (componentize-py bindings): adapts
the drivers to the generated ``wit_world`` types. Imported only inside a
component build, where ``wit_world`` exists."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import keyed as keyed_exports
from wit_world.exports import transform as transform_exports
from wit_world.exports import window as window_exports
from wit_world.imports import keyed_state
from wit_world.imports import types

from . import drivers
from .api import TaskInfo
from .registry import REGISTRY

_KINDS = {
    "map": types.FunctionKind.MAP,
    "flat-map": types.FunctionKind.FLAT_MAP,
    "filter": types.FunctionKind.FILTER,
    "reduce": types.FunctionKind.REDUCE,
    "aggregate": types.FunctionKind.AGGREGATE,
    "keyed-process": types.FunctionKind.KEYED_PROCESS,
    "process-window": types.FunctionKind.PROCESS_WINDOW,
    "timestamp-assigner": types.FunctionKind.TIMESTAMP_ASSIGNER,
}
_STATE_KINDS = {"value": types.StateKind.VALUE, "list": types.StateKind.LIST, "map": types.StateKind.MAP}


def _err(e):
    if e.kind == "decode":
        return Err(types.FunctionError_Decode(e.message))
    if e.kind == "unknown-function":
        return Err(types.FunctionError_UnknownFunction(e.message))
    return Err(types.FunctionError_User(e.message))


def _task(t):
    return TaskInfo(
        job_name=t.job_name,
        operator_id=t.operator_id,
        subtask_index=t.subtask_index,
        parallelism=t.parallelism,
        max_parallelism=t.max_parallelism,
        parameters=dict(t.parameters),
    )


def _guard(call):
    try:
        return call()
    except drivers.CallError as e:
        raise _err(e) from None
    except Exception as e:  # a bug in the SDK or the function: fail the call, not the instance
        raise _err(drivers.CallError("user", f"{type(e).__name__}: {e}")) from None


class Registry(exports.Registry):
    def functions(self):
        return [
            types.FunctionInfo(name=s.name, kind=_KINDS[s.kind], side_outputs=list(s.side_outputs))
            for s in REGISTRY.values()
        ]


class Transform(exports.Transform):
    pass


class Keyed(exports.Keyed):
    pass


class Window(exports.Window):
    pass


class TransformFunction(transform_exports.TransformFunction):
    def __init__(self, driver):
        self.d = driver

    @classmethod
    def open(cls, name, task):
        return cls(_guard(lambda: drivers.TransformDriver(name, _task(task))))

    def process_batch(self, ctx, input):
        return _guard(lambda: self.d.process_batch(ctx.watermark, ctx.processing_time, input))

    def snapshot_state(self):
        return _guard(self.d.snapshot_state)

    def restore_state(self, states):
        return _guard(lambda: self.d.restore_state(states))


class KeyedFunction(keyed_exports.KeyedFunction):
    def __init__(self, driver):
        self.d = driver

    @classmethod
    def open(cls, name, task):
        return cls(_guard(lambda: drivers.KeyedDriver(name, _task(task), keyed_state)))

    def states(self):
        return [
            types.StateDescriptor(
                name=d.name,
                kind=_STATE_KINDS[d.kind],
                codec=d.codec,
                ttl=None
                if d.ttl is None
                else types.StateTtl(millis=d.ttl.millis, refresh_on_read=d.ttl.refresh_on_read),
            )
            for d in self.d.states()
        ]

    def process_batch(self, ctx, input):
        return _guard(lambda: self.d.process_batch(ctx.watermark, ctx.processing_time, input))

    def on_timers(self, ctx, input):
        return _guard(lambda: self.d.on_timers(ctx.watermark, ctx.processing_time, input))

    def snapshot_state(self):
        return _guard(self.d.snapshot_state)

    def restore_state(self, states):
        return _guard(lambda: self.d.restore_state(states))


class WindowFunction(window_exports.WindowFunction):
    def __init__(self, driver):
        self.d = driver

    @classmethod
    def open(cls, name, task):
        return cls(_guard(lambda: drivers.WindowDriver(name, _task(task))))

    def accumulate(self, ctx, input):
        return _guard(lambda: self.d.accumulate(ctx.watermark, ctx.processing_time, input))

    def merge(self, ctx, input):
        return _guard(lambda: self.d.merge(ctx.watermark, ctx.processing_time, input))

    def emit(self, ctx, input):
        return _guard(lambda: self.d.emit(ctx.watermark, ctx.processing_time, input))
