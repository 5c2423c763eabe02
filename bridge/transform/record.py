"""A record as Kafka Connect's transforms see it: topic, key and value with their schemas, headers.

Values are Connect values (dicts for structs, as `bridge.produce.events` builds them); the
headers already on a record are bytes in the header converter's format, and a transform that
adds a header writes it in that format too (`connect_header`), keeping its Connect schema and
value beside the bytes (`bridge.format.headers.ConnectHeader`) for the transforms that read
headers.
"""

from __future__ import annotations

from typing import NamedTuple

from bridge.convert.schema import Schema
from bridge.format.headers import ConnectHeader, Headers
from bridge.format.json import JsonWriter, json_bytes
from bridge.format.settings import HeaderFormat


class ConnectRecord(NamedTuple):
    topic: str
    key_schema: Schema | None
    key: object
    value_schema: Schema | None
    value: object
    headers: Headers
    partition: int | None = None  # set by a step (PartitionRouting, EventRouter); None: the producer picks


def header_bytes(fmt: HeaderFormat, schema: Schema, value: object) -> bytes | None:
    """A header's bytes as the header converter writes a Connect value: SimpleHeaderConverter
    writes a string as its text, another primitive as Connect's `Values` spells it (JSON's
    spelling for numbers and booleans) and null as a null header; JsonConverter as a record."""
    if fmt.json:
        return JsonWriter(schema, "", "header", fmt.schemas_enable).write(value)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return json_bytes(value)


def connect_header(fmt: HeaderFormat, name: str, schema: Schema, value: object) -> ConnectHeader:
    """A header a transform adds: its bytes (`header_bytes`) with its Connect schema and value."""
    return ConnectHeader(name, header_bytes(fmt, schema, value), schema, value)
