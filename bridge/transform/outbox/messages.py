"""A table-less outbox (beyond Debezium): logical decoding messages as outbox rows.

With `bridge.outbox.message.prefix=<schema>.<table>` and an EventRouter in the chain, a logical
decoding message of that prefix (`pg_logical_emit_message(true, '<schema>.<table>', '<json>')`)
becomes the create event an outbox table `<schema>.<table>` would give for the row the JSON
object spells (topic `<topic.prefix>.<schema>.<table>`, the message's `source` with that schema
and table, Debezium's context headers), which the chain then takes as it takes the table's: the
EventRouter routes it exactly as the row. No table, no INSERT + DELETE, nothing to vacuum.

The JSON contract: one object, its members the outbox columns (EventRouter's `table.field.*`
names: `id`, `aggregatetype`, `aggregateid`, `type`, `payload` by default, plus any
`table.fields.additional.placement` columns), each as the column a Debezium outbox table
has for it:
- the event id (`table.field.event.id`): a UUID is a `uuid NOT NULL` column (its canonical
  lower-case text, schema `io.debezium.data.Uuid`); another string a `text NOT NULL` one;
- the payload (`table.field.event.payload`): any JSON value, as a `jsonb` column (nullable,
  `io.debezium.data.Json`), written as PostgreSQL writes jsonb (keys by length then bytes, the
  last of a duplicate key, `", "` and `": "`), so `table.expand.json.payload` reads it the same;
- any other member: a string `text NOT NULL`, a whole number `integer NOT NULL` (`bigint`
  beyond int32), a fraction `double precision NOT NULL`, a boolean `boolean NOT NULL`, an
  object or array `jsonb`, null a nullable `text`.
A member the object lacks is a column the table lacks (EventRouter fails the event, or leaves
an additional field out with `table.field.additional.missing=ignore`). Content that is not a
JSON object fails the event (`TransformFailed`).
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

from bridge.convert.schema import Schema, connect_schema, envelope_schema, field_schema, key_schema, value_schema
from bridge.format.headers import Headers
from bridge.format.source import source_block
from bridge.transform.kafka.structs import TransformFailed

_UUID = connect_schema("string", name="io.debezium.data.Uuid", version=1)
_JSON = connect_schema("string", optional=True, name="io.debezium.data.Json", version=1)
_TEXT, _NULL_TEXT = connect_schema("string"), connect_schema("string", optional=True)
_INT32, _INT64 = connect_schema("int32"), connect_schema("int64")
_FLOAT64, _BOOLEAN = connect_schema("float64"), connect_schema("boolean")


def jsonb_text(value: object) -> str:
    """`value` (parsed with Decimal numbers) as PostgreSQL prints a jsonb holding it."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        text = format(value, "f")  # numeric's text: no exponent, the scale as written
        return text[1:] if value.is_zero() and text.startswith("-") else text
    return json.dumps(value, ensure_ascii=False)


def _parse(content: bytes | str) -> dict:
    try:
        parsed = json.loads(content, parse_float=Decimal, parse_int=int)
    except ValueError as exc:
        raise TransformFailed(f"outbox message: its content is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise TransformFailed("outbox message: its content is not a JSON object")
    return parsed


def _column(value: object) -> tuple[Schema, object]:
    """The column a member's JSON value stands for, and the value in it."""
    if value is None:
        return _NULL_TEXT, None
    if isinstance(value, bool):
        return _BOOLEAN, value
    if isinstance(value, str):
        return _TEXT, value
    if isinstance(value, int):
        return (_INT32 if -2**31 <= value < 2**31 else _INT64), value
    if isinstance(value, Decimal):
        return _FLOAT64, float(value)
    return _JSON, jsonb_text(value)


class OutboxMessages:
    """Builds the create events of the outbox messages of one prefix, as Connect values."""

    def __init__(self, prefix: str, topic: str, topic_prefix: str, db: str, id_field: str, payload_field: str,
                 headers: Headers) -> None:
        self.prefix, self.topic = prefix, topic
        self._schema, _, self._table = prefix.rpartition(".")
        self._topic_prefix, self._db = topic_prefix, db
        self._id, self._payload = id_field, payload_field
        self._headers = headers
        self._shapes: dict[tuple, tuple[Schema, Schema | None]] = {}  # column schemas -> (envelope, key)

    def event(self, content: bytes | str, txid: int | None, commit_ts_us: int, last_commit: int | None,
              lsn: int) -> tuple[str, tuple[Schema | None, object], tuple[Schema, object], Headers]:
        """(topic, (key schema, key), (envelope schema, envelope), headers) of one message."""
        row, columns = {}, []
        for name, value in _parse(content).items():
            schema, row[name] = self._member(name, value)
            columns.append((name, schema))
        shape = tuple((name, id(schema)) for name, schema in columns)  # the column schemas are constants
        found = self._shapes.get(shape)
        if found is None:
            fields = [field_schema(name, schema) for name, schema in columns]
            found = self._shapes[shape] = (envelope_schema(self.topic, value_schema(self.topic, fields)),
                                           key_schema(self.topic, [f for f in fields if f["field"] == self._id]))
        envelope, key = found
        source = source_block(self._topic_prefix, self._db, self._schema, self._table, "false", commit_ts_us, txid,
                              last_commit, lsn)
        now = time.time_ns()
        value = {"before": None, "after": row, "source": source, "transaction": None, "op": "c",
                 "ts_ms": now // 1_000_000, "ts_us": now // 1000, "ts_ns": now}
        return self.topic, (key, None if key is None else {self._id: row[self._id]}), (envelope, value), \
            list(self._headers)

    def _member(self, name: str, value: object) -> tuple[Schema, object]:
        if name == self._payload:
            return _JSON, None if value is None else jsonb_text(value)
        if name == self._id and isinstance(value, str):
            try:
                return _UUID, str(uuid.UUID(value))
            except ValueError:
                return _TEXT, value
        return _column(value)
