"""A record as Kafka Connect's transforms see it: topic, key and value with their schemas, headers.

Values are Connect values (dicts for structs, as `bridge.produce.events` builds them); the
headers already on a record are bytes in the header converter's format, and a transform that
adds a header writes it in that format too (`header_bytes`).
"""

from __future__ import annotations

from typing import NamedTuple

from bridge.convert.schema import Schema
from bridge.format.headers import Headers
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
