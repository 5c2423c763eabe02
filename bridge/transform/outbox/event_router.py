"""Debezium's outbox EventRouter (`io.debezium.transforms.outbox.EventRouter`), as Debezium 3.7
applies it to the change events of an outbox table.

- A tombstone is dropped; a record that is not a change event passes unchanged. A delete is
  dropped; an update is dropped too, after `table.op.invalid.behavior` (`warn` (default) or
  `error`: logged; `fatal`: the event fails). A create or a snapshot read becomes the event:
- topic: the `route.by.field` column (default `aggregatetype`) through a RegexRouter of
  `route.topic.regex` (default `(?<routedByValue>.*)`) and `route.topic.replacement` (default
  `outbox.event.${routedByValue}`);
- key: the `table.field.event.key` column (default `aggregateid`) with its column's schema;
- headers: the record's own, then `id` (the `table.field.event.id` column, default `id`),
  then each `table.fields.additional.placement` entry placed as `header` (`column:header[:alias]`);
- partition: the int32 column of an entry placed as `partition`;
- value: when some entry is placed as `envelope`, a struct `<row schema's namespace>.<routed
  value>.Value` of `payload` (the `table.field.event.payload` column, default `payload`) and
  the envelope entries (their column schemas), with the version from the
  `table.field.event.schema.version` column when that is set; otherwise the payload alone with
  its column's schema. Debezium caches the struct schema by the payload's schema (by the
  version, with a version column): a later event whose payload schema is equal takes the
  first one's schema, name included, and so does pgbridge.
- `table.expand.json.payload`: a JSON string payload becomes a struct (`json_payload`).
- `route.tombstone.on.empty.payload`: a null or blank payload gives a tombstone.
- An additional column the table lacks fails the event (`table.field.additional.missing=error`,
  the default) or is left out (`ignore`).
- `table.field.event.type` and the tracing options (without OpenTelemetry, as Debezium's
  plugin ships) add nothing to the records. `table.field.event.timestamp` (the Kafka record's
  timestamp from a column) is refused: pgbridge's records carry their produce time.

Routing: the Kafka key is a column of the row, not its primary key; one aggregate's events
come from many rows, so a table with this step is routed by table (`changes_routing`).
"""

from __future__ import annotations

import json
import logging
import re

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.by_logical_table import JavaReplace
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.outbox.json_payload import JsonPayloads
from bridge.transform.record import ConnectRecord, connect_header
from bridge.transform.smt_settings import TransformSpec

log = logging.getLogger(__name__)

HEADER, ENVELOPE, PARTITION = "header", "envelope", "partition"
_JAVA_BLANK = "".join(map(chr, range(33)))  # what Java's String.trim() removes


class OutboxError(TransformFailed):
    """Debezium's EventRouter fails the event here (and its task, unless errors.tolerance=all)."""


def java_regex(pattern: str) -> str:
    """A Java regex's named groups `(?<name>` in Python's spelling `(?P<name>`."""
    return re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern)


def additional_fields(alias: str, raw: str) -> tuple[tuple[str, str, str], ...]:
    """`table.fields.additional.placement`: (column, placement, alias) of each entry."""
    out = []
    for entry in raw.split(",") if raw.strip() else ():
        parts = entry.split(":")
        if len(parts) not in (2, 3) or parts[1].strip().lower() not in (HEADER, ENVELOPE, PARTITION):
            raise ConfigError(f"transform {alias!r} (EventRouter): table.fields.additional.placement entry "
                              f"{entry!r}: use column:header|envelope|partition[:alias]")
        column = parts[0].strip()
        out.append((column, parts[1].strip().lower(), parts[2].strip() if len(parts) == 3 else column))
    return tuple(out)


def _field_schema(field: Schema) -> Schema:
    return {k: v for k, v in field.items() if k != "field"}


class EventRouter:
    changes_routing = True  # see the module docstring

    def __init__(self, spec: TransformSpec, headers: HeaderFormat) -> None:
        opt = spec.option
        self._alias = spec.alias
        self._id = opt("table.field.event.id", "id")
        self._key = opt("table.field.event.key", "aggregateid")
        self._payload = opt("table.field.event.payload", "payload")
        self._version = opt("table.field.event.schema.version", "") or None
        self._route_by = opt("route.by.field", "aggregatetype")
        self._invalid = opt("table.op.invalid.behavior", "warn").strip().lower()
        self._tombstone_on_empty = opt("route.tombstone.on.empty.payload", "false").strip().lower() == "true"
        self._extra = additional_fields(spec.alias, opt("table.fields.additional.placement", ""))
        self._ignore_missing = opt("table.field.additional.missing", "error").strip().lower() == "ignore"
        self._only_headers = not any(placement == ENVELOPE for _, placement, _ in self._extra)
        self._expand = JsonPayloads(
            opt("table.json.payload.null.behavior", "ignore").strip().lower() == "optional_bytes",
            opt("table.json.payload.empty.array.behavior", "ignore").strip().lower() == "optional_string",
        ) if opt("table.expand.json.payload", "false").strip().lower() == "true" else None
        self._topic = JavaReplace(spec.alias, "route.topic.regex",
                                  java_regex(opt("route.topic.regex", "(?<routedByValue>.*)")),
                                  opt("route.topic.replacement", "outbox.event.${routedByValue}"))
        self._headers = headers
        self._topics: dict[str, str] = {}
        # id(envelope schema) -> (it, the row's schema, its columns' schemas by name): once per table
        self._rows: dict[int, tuple[Schema, Schema, dict[str, Schema]]] = {}
        self._schema_keys: dict[int, tuple[Schema, str]] = {}  # id(payload schema) -> (it, its JSON)
        self._value_schemas: dict[object, Schema] = {}  # Debezium's payload schema (or version) cache

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        envelope = record.value
        if envelope is None:
            return None  # a tombstone
        schema = record.value_schema
        if schema is None or not str(schema.get("name", "")).endswith(".Envelope"):
            return record
        op = envelope["op"]
        if op == "d":
            return None
        if op == "u":
            if self._invalid == "fatal":
                raise OutboxError(f"transform {self._alias!r} (EventRouter): unexpected update of the outbox "
                                  f"table on {record.topic} (table.op.invalid.behavior=fatal)")
            (log.error if self._invalid == "error" else log.warning)(
                "transform %r (EventRouter): unexpected update on %s ignored", self._alias, record.topic)
            return None
        row = envelope["after"]
        if row is None:
            raise OutboxError(f"transform {self._alias!r} (EventRouter): a {op!r} event on {record.topic} has no "
                              "row to read the outbox event from")
        row_schema, fields = self._row(schema)
        payload_field = self._column(fields, self._payload, "payload")
        id_field = self._column(fields, self._id, "event-id")
        payload, payload_schema = row.get(self._payload), payload_field
        if self._expand is not None and isinstance(payload, str):
            expanded = self._expand.expand(self._payload, payload)
            if expanded is not None:
                payload_schema, payload = expanded
        routed = row.get(self._route_by)
        if self._route_by not in fields or not isinstance(routed, str):
            raise OutboxError(f"transform {self._alias!r} (EventRouter): route.by.field {self._route_by!r} is "
                              f"not a non-null string column of the outbox table ({record.topic})")
        headers = record.headers
        headers.append(connect_header(self._headers, "id", id_field, row.get(self._id)))
        value_schema = None if self._only_headers else self._value_schema(payload_schema, row_schema, fields, row,
                                                                          routed)
        value: dict | None = None if value_schema is None else {"payload": payload}
        partition = None
        for column, placement, alias in self._extra:
            field = fields.get(column)
            if field is None:
                if self._ignore_missing:
                    continue
                raise OutboxError(f"transform {self._alias!r} (EventRouter): unable to find field {column} in "
                                  f"event ({record.topic})")
            if placement == ENVELOPE:
                value[alias] = row.get(column)  # type: ignore[index]
            elif placement == HEADER:
                headers.append(connect_header(self._headers, alias, field, row.get(column)))
            else:
                partition = row.get(column)
        if (payload is None or (isinstance(payload, str) and not payload.strip(_JAVA_BLANK))) and \
                self._tombstone_on_empty:
            out_schema, out = None, None
        elif self._only_headers:
            out_schema, out = payload_schema, payload
        else:
            out_schema, out = value_schema, value
        key_field = fields.get(self._key)
        if key_field is None:
            raise OutboxError(f"transform {self._alias!r} (EventRouter): {self._key} is not a field of the outbox "
                              f"table ({record.topic})")
        topic = self._topics.get(routed)
        if topic is None:
            renamed = self._topic(routed)
            topic = self._topics[routed] = routed if renamed is None else renamed
        return ConnectRecord(topic, key_field, row.get(self._key), out_schema, out, list(headers),
                             partition)

    def _row(self, envelope: Schema) -> tuple[Schema, dict[str, Schema]]:
        """The row's schema and its columns' schemas (without their names) by name."""
        found = self._rows.get(id(envelope))
        if found is None or found[0] is not envelope:
            after = next(f for f in envelope["fields"] if f["field"] == "after")
            found = self._rows[id(envelope)] = (envelope, after, {f["field"]: _field_schema(f) for f in after["fields"]})
        return found[1], found[2]

    def _column(self, fields: dict[str, Schema], name: str, what: str) -> Schema:
        field = fields.get(name)
        if field is None:
            raise OutboxError(f"transform {self._alias!r} (EventRouter): unable to find {what} field {name} in event")
        return field

    def _schema_key(self, payload: Schema) -> str:
        """Debezium caches the value schema by the payload's schema (its equality): the schema's
        JSON, computed once per schema object (the payload schemas are interned)."""
        found = self._schema_keys.get(id(payload))
        if found is None or found[0] is not payload:
            found = self._schema_keys[id(payload)] = (payload, json.dumps(payload))
        return found[1]

    def _value_schema(self, payload: Schema, row: Schema, fields: dict[str, Schema], values: dict,
                      routed: str) -> Schema:
        version = values.get(self._version) if self._version is not None else None
        cache_key = ("version", version) if self._version is not None else self._schema_key(payload)
        found = self._value_schemas.get(cache_key)
        if found is None:
            name = str(row.get("name") or "")
            dot = name.rfind(".")
            name = f"{name[:dot + 1]}{routed}.{name[dot + 1:]}" if dot >= 0 else f"{routed}.{name}" if name else routed
            struct_fields = [{**payload, "field": "payload"}]
            for column, placement, alias in self._extra:
                if placement == ENVELOPE and column in fields:
                    struct_fields.append({**fields[column], "field": alias})
            found = {"type": "struct", "fields": struct_fields, "optional": False, "name": name}
            if version is not None:
                found["version"] = version
            self._value_schemas[cache_key] = found
        return found
