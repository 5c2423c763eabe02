"""Debezium's schema name adjusters (`schema.name.adjustment.mode`), as transforms apply them
to the schema names they derive from a topic: the connector's (`bridge.convert.names`), as
Debezium's transforms share its adjusters.
"""

from __future__ import annotations

from bridge.convert.names import MODES, Adjuster, adjuster as _adjuster
from bridge.errors import ConfigError


def adjuster(mode: str, what: str) -> Adjuster:
    """The adjuster of `mode` (case-insensitive); `what` names the key in the error."""
    mode = mode.strip().lower()
    if mode not in MODES:
        raise ConfigError(f"{what}={mode} is invalid: use one of {', '.join(MODES)}")
    return _adjuster(mode)
