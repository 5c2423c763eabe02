"""The decoding failure: a value the sink cannot write into its target column."""

from __future__ import annotations

from bridge.errors import UnsupportedType


class ValueNotDecoded(UnsupportedType):
    """A value whose JSON does not match its schema or target type, or a schema no decoder knows."""
