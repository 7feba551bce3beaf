"""componentize-py finds the transform resource here."""

from weir._glue import TransformFunction  # noqa: F401
