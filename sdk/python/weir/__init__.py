"""Weir's Python SDK: stream functions for Weir as WebAssembly components.

Decorate functions (or classes) in your module and build it with
``weir build <dir>``::

    import weir
    from weir import codecs

    @weir.flat_map(output=codecs.U64)
    def tokenize(line, ctx, out):
        for word in line.lower().split():
            out.collect_keyed(word, 1)

    @weir.reduce(codec=codecs.U64)
    def count(a, b):
        return a + b

The contract with the host, and with SDKs in other languages, is
``wit/CONTRACT.md``; ``docs/sdk-python.md`` is the guide.
"""

from . import codecs
from .api import (
    EVENT_TIME,
    PROCESSING_TIME,
    Collector,
    Context,
    ListState,
    MapState,
    OpenContext,
    StateTtl,
    TaskInfo,
    ValueState,
    Window,
)
from .errors import DecodeError, UserError, WeirError
from .registry import (
    aggregate,
    filter,
    flat_map,
    keyed_process,
    map,
    process_window,
    reduce,
    timestamp_assigner,
    window_aggregate,
)

__all__ = [
    "EVENT_TIME",
    "PROCESSING_TIME",
    "Collector",
    "Context",
    "DecodeError",
    "ListState",
    "MapState",
    "OpenContext",
    "StateTtl",
    "TaskInfo",
    "UserError",
    "ValueState",
    "WeirError",
    "Window",
    "aggregate",
    "codecs",
    "filter",
    "flat_map",
    "keyed_process",
    "map",
    "process_window",
    "reduce",
    "timestamp_assigner",
    "window_aggregate",
]
