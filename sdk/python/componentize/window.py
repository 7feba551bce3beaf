"""componentize-py finds the window resource here."""

from weir._glue import WindowFunction  # noqa: F401
