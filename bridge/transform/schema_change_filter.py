"""Debezium's SchemaChangeEventFilter (`io.debezium.transforms.SchemaChangeEventFilter`).

Debezium drops the schema change events (value schema `io.debezium.connector.*.SchemaChangeValue`,
those a connector with a schema history topic writes) whose first table change has a type of
`schema.change.event.exclude.list` (CREATE, ALTER, DROP, TRUNCATE, or DATABASE for one without
table changes); every other record passes unchanged. Debezium's PostgreSQL connector writes no
schema change events, so neither does pgbridge: the step passes every record, as it does under
Debezium. Its option is still required and validated as Debezium validates it when it
configures the transform (`check`): present and not blank, each comma-separated entry (trimmed,
trailing empty entries dropped, as Java's `String.split`) one of the type names, in capitals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.properties import PropertyReader
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

SCHEMA_CHANGE_FILTER = "io.debezium.transforms.SchemaChangeEventFilter"
OPTIONS = ("schema.change.event.exclude.list",)
_TYPES = ("CREATE", "ALTER", "DROP", "TRUNCATE", "DATABASE")  # SchemaChangeEvent.SchemaChangeEventType


def java_list(text: str) -> list[str]:
    """Debezium's `Configuration.getList`: `String.split(",")` (trailing empty entries dropped),
    each entry trimmed."""
    parts = text.split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return [p.strip() for p in parts]


def check(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    key = prefix + "." + OPTIONS[0]
    value = step.option(OPTIONS[0], "")
    if not value.strip():
        raise ConfigError(f"{r.label(key)} is missing: SchemaChangeEventFilter requires it (Debezium refuses the "
                          f"transform without it); list some of {', '.join(_TYPES)}")
    for entry in java_list(value):
        if entry not in _TYPES:
            raise ConfigError(f"{r.label(key)}: {entry!r} is not a schema change event type: use "
                              f"{', '.join(_TYPES)}")


def _passes(record: ConnectRecord) -> ConnectRecord:
    return record  # no schema change events from PostgreSQL: see the module docstring


def schema_change_filter(_spec: TransformSpec, _headers: HeaderFormat) -> Callable[[ConnectRecord], ConnectRecord]:
    return _passes
