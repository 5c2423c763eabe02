"""Record headers as the header converter writes them (`bridge.format.settings.HeaderFormat`).

Debezium puts on every change record and tombstone four context headers, Connect strings with
a required STRING schema, and on a primary-key change the other key first (`__debezium.newkey`
/ `__debezium.oldkey`), a Struct with the table's key schema. Kafka Connect's
SimpleHeaderConverter writes a string as its text and a Struct as its JSON; JsonConverter
writes `{"schema":...,"payload":...}` with `schemas.enable`, else the bare JSON value (a string
in quotes). Checked against a real Debezium Server 3.6.1, whose default header format is
JsonConverter (tests/data/debezium-server/headers.json).

The context headers are the same for the whole run: they are written once. A key header's
frame (the schema wrapping) is written once per table shape; per key change only the key's
JSON goes in.

A header pgbridge writes from a Connect value (the context headers, and those the transforms add:
`bridge.transform.record.connect_header`) is a `ConnectHeader`: the (name, bytes) pair the
producer takes, that also keeps the Connect schema and value, so that a later transform reading
headers (HeaderToValue, the scripting transforms) sees them as Connect's transforms do.
"""

from __future__ import annotations

from bridge.convert.schema import Schema, connect_schema
from bridge.format.json import JsonWriter
from bridge.format.settings import HeaderFormat

Headers = list[tuple[str, bytes]]


class ConnectHeader(tuple):
    """(name, bytes), with the Connect `schema` and `value` the bytes were written from."""

    schema: Schema | None
    value: object

    def __new__(cls, name: str, data: bytes | None, schema: Schema | None, value: object) -> ConnectHeader:
        self = tuple.__new__(cls, (name, data))
        self.schema, self.value = schema, value
        return self

    def __getnewargs__(self) -> tuple:
        return self[0], self[1], self.schema, self.value

_STRING = connect_schema("string")  # ConnectHeaders.addString: a non-null value's schema


def context_headers(fmt: HeaderFormat, topic_prefix: str, run_id: str) -> Headers:
    """Debezium's context headers, in its order: the logical name (topic prefix), the task
    (the connector runs one), the connector type and the run's id."""
    values = (("__debezium.context.connectorLogicalName", topic_prefix), ("__debezium.context.taskId", "0"),
              ("__debezium.context.connectorName", "postgresql"), ("__debezium.context.runId", run_id))
    if not fmt.json:
        return [ConnectHeader(name, text.encode(), _STRING, text) for name, text in values]
    writer = JsonWriter(_STRING, "", "header", fmt.schemas_enable)
    return [ConnectHeader(name, writer.write(text), _STRING, text) for name, text in values]


def key_frame(fmt: HeaderFormat, schema: Schema | None) -> tuple[bytes, bytes]:
    """What goes before and after a key's JSON (`TableEvents.key_payload`) in a key change's
    header: the key schema's wrapping for JsonConverter with `schemas.enable`, else nothing."""
    if not fmt.json or schema is None:
        return b"", b""
    writer = JsonWriter(schema, "", "header", fmt.schemas_enable)
    return writer.head, writer.tail
