"""componentize-py finds the keyed resource here."""

from weir._glue import KeyedFunction  # noqa: F401
