"""Declaring functions: decorators that register each function of a module
under a name, with its kind and codecs."""

from dataclasses import dataclass, field

from . import codecs as _codecs

KINDS = (
    "map",
    "flat-map",
    "filter",
    "reduce",
    "aggregate",
    "keyed-process",
    "process-window",
    "timestamp-assigner",
)


@dataclass
class FunctionSpec:
    """A registered function: what the component's registry lists and how
    an instance is made."""

    name: str
    kind: str
    make: object  # () -> the user's object (a callable or an instance)
    input: object = None
    output: object = None
    acc: object = None
    side_outputs: list = field(default_factory=list)
    #: For window aggregates: the process-window spec rendering the result.
    then: object = None


REGISTRY = {}
"""Every function registered in this component, by name."""


def _name_of(obj, name):
    return name if name is not None else obj.__name__.replace("_", "-")


def _register(spec):
    if spec.kind not in KINDS:
        raise ValueError(f"unknown function kind {spec.kind}")
    if spec.name in REGISTRY:
        raise ValueError(f"two functions are named '{spec.name}'")
    REGISTRY[spec.name] = spec
    return spec


def _factory(obj):
    """Classes get an instance per opened function; plain functions are shared."""
    if isinstance(obj, type):
        return obj
    return lambda: obj


def _decorator(kind, name, **fields):
    def register(obj):
        spec = FunctionSpec(name=_name_of(obj, name), kind=kind, make=_factory(obj), **fields)
        _register(spec)
        obj.__weir_spec__ = spec
        return obj

    return register


def map(name=None, *, input=_codecs.STRING, output=_codecs.STRING):
    """A map function ``f(value, ctx) -> value``, or a class with ``map``
    (and optional ``open(ctx)``). The output keeps the key and timestamp."""
    return _decorator("map", name, input=input, output=output)


def flat_map(name=None, *, input=_codecs.STRING, output=_codecs.STRING, side_outputs=()):
    """A flat-map function ``f(value, ctx, out)`` emitting through ``out``, or
    a class with ``flat_map``."""
    return _decorator("flat-map", name, input=input, output=output, side_outputs=list(side_outputs))


def filter(name=None, *, input=_codecs.STRING):
    """A filter ``f(value, ctx) -> bool``, or a class with ``filter``. Kept
    records pass unchanged."""
    return _decorator("filter", name, input=input, output=input)


def timestamp_assigner(name=None, *, input=_codecs.STRING):
    """``f(value, current) -> int``: a record's event time in ms since the
    epoch (``current`` its ingestion timestamp or None), or a class with
    ``extract_timestamp``."""
    return _decorator("timestamp-assigner", name, input=input)


def reduce(name=None, *, codec=_codecs.STRING):
    """``f(acc, value) -> acc`` combining the values of a key (and of a
    window); the running value is the state ``weir.acc`` under ``codec``."""
    return _decorator("reduce", name, input=codec, output=codec, acc=codec)


def aggregate(name=None, *, input=_codecs.STRING, acc=_codecs.STRING, output=_codecs.STRING):
    """A class with ``create_accumulator()``, ``add(value, acc) -> acc``,
    ``get_result(acc)`` and, for session windows, ``merge(a, b)``."""
    return _decorator("aggregate", name, input=input, acc=acc, output=output)


def keyed_process(name=None, *, input=_codecs.STRING, output=_codecs.STRING, side_outputs=()):
    """A class with ``open(ctx)`` (declare state there),
    ``process_element(value, ctx, out)`` and optionally
    ``on_timer(timestamp, ctx, out)``."""
    return _decorator(
        "keyed-process", name, input=input, output=output, side_outputs=list(side_outputs)
    )


def process_window(name=None, *, input=_codecs.STRING, output=_codecs.STRING, side_outputs=()):
    """A class or function ``process(window, elements, ctx, out)`` called
    when a window fires, with all its elements."""
    return _decorator(
        "process-window", name, input=input, output=output, side_outputs=list(side_outputs)
    )


def window_aggregate(name, incremental, window):
    """Registers ``name``: the aggregate or reduce ``incremental`` folds a
    window's records, and the process-window function ``window`` renders
    its result with the window (Flink's ``aggregate(agg, windowFunction)``).
    Both arguments are decorated functions or classes; windows only."""
    inc, win = incremental.__weir_spec__, window.__weir_spec__
    if inc.kind not in ("reduce", "aggregate") or win.kind != "process-window":
        raise ValueError("window_aggregate takes a reduce or aggregate and a process-window function")
    spec = FunctionSpec(
        name=name,
        kind=inc.kind,
        make=inc.make,
        input=inc.input,
        output=inc.output,
        acc=inc.acc,
        side_outputs=list(win.side_outputs),
        then=win,
    )
    return _register(spec)
