"""Kafka Connect schemas as Kafka's JsonConverter prints them (`schemas.enable=true`).

A schema is a plain dict whose key order is JsonConverter.asJsonSchema's: `type`, then `items`
(array) / `keys`, `values` (map) / `fields` (struct), then `optional`, `name`, `version`, `doc`,
`parameters`, `default`; a struct field adds `field` last. Type names are JsonConverter's:
int8/16/32/64, float (FLOAT32), double (FLOAT64), boolean, string, bytes, array, map, struct.

Debezium facts (TableSchemaBuilder, SchemaFactory, Envelope, PostgresSourceInfoStructMaker,
SnapshotRecord, TopicNamingStrategy.recordSchemaPrefix = the data topic name):
- Key `<topic>.Key` (required, no version), Value `<topic>.Value` (optional, no version),
  Envelope `<topic>.Envelope` version 2: before, after, source, transaction, op, ts_ms, ts_us, ts_ns.
- Those three names, with `schema.name.adjustment.mode`, and the column's field names, with
  `field.name.adjustment.mode`, are made valid Avro names (`bridge.convert.names`).
- A column's field is optional when the column is nullable (or its logical schema always is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Schema = dict[str, Any]


def connect_schema(
    type_: str,
    *,
    optional: bool = False,
    name: str | None = None,
    version: int | None = None,
    doc: str | None = None,
    parameters: dict[str, str] | None = None,
) -> Schema:
    schema: Schema = {"type": type_, "optional": optional}
    if name is not None:
        schema["name"] = name
    if version is not None:
        schema["version"] = version
    if doc is not None:
        schema["doc"] = doc
    if parameters:
        schema["parameters"] = parameters
    return schema


def as_optional(schema: Schema) -> Schema:
    """A copy marked optional (Connect's `.optional()`); key order is kept."""
    return {**schema, "optional": True}


def array_schema(items: Schema, *, optional: bool = False) -> Schema:
    return {"type": "array", "items": items, "optional": optional}


def map_schema(keys: Schema, values: Schema) -> Schema:
    return {"type": "map", "keys": keys, "values": values, "optional": False}


def struct_schema(
    fields: list[Schema],
    *,
    optional: bool = False,
    name: str | None = None,
    version: int | None = None,
    doc: str | None = None,
) -> Schema:
    schema: Schema = {"type": "struct", "fields": fields}
    schema.update(connect_schema("struct", optional=optional, name=name, version=version, doc=doc))
    return schema


def field_schema(name: str, schema: Schema, *, optional: bool = False, default: Any = None) -> Schema:
    """`schema` as the struct field `name`; `default` is the already converted JSON value."""
    field = {**schema, "optional": schema["optional"] or optional}
    if default is not None:
        field["default"] = default
    field["field"] = name
    return field


# --- the record schemas -------------------------------------------------------------------------

_SNAPSHOT_VALUES = "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"


def source_schema() -> Schema:
    """io.debezium.connector.postgresql.Source (Debezium 3.5+ field list and order)."""
    snapshot = connect_schema(
        "string", optional=True, name="io.debezium.data.Enum", version=1, parameters={"allowed": _SNAPSHOT_VALUES}
    )
    fields = [
        field_schema("version", connect_schema("string")),
        field_schema("connector", connect_schema("string")),
        field_schema("name", connect_schema("string")),
        field_schema("ts_ms", connect_schema("int64")),
        field_schema("snapshot", snapshot, default="false"),
        field_schema("db", connect_schema("string")),
        field_schema("sequence", connect_schema("string", optional=True)),
        field_schema("ts_us", connect_schema("int64", optional=True)),
        field_schema("ts_ns", connect_schema("int64", optional=True)),
        field_schema("schema", connect_schema("string")),
        field_schema("table", connect_schema("string")),
        field_schema("txId", connect_schema("int64", optional=True)),
        field_schema("lsn", connect_schema("int64", optional=True)),
        field_schema("xmin", connect_schema("int64", optional=True)),
        field_schema("origin", connect_schema("string", optional=True)),
        field_schema("origin_lsn", connect_schema("int64", optional=True)),
    ]
    return struct_schema(fields, name="io.debezium.connector.postgresql.Source", version=1)


def transaction_schema() -> Schema:
    """The envelope's `transaction` block (SchemaFactory.transactionBlockSchema)."""
    fields = [
        field_schema("id", connect_schema("string")),
        field_schema("total_order", connect_schema("int64")),
        field_schema("data_collection_order", connect_schema("int64")),
    ]
    return struct_schema(fields, optional=True, name="event.block", version=1)


def key_schema(topic: str, fields: list[Schema], adjust: Callable[[str], str] = str) -> Schema | None:
    """`fields` from `field_schema`, in key column order; None when the table has no key.
    `adjust`: schema.name.adjustment.mode's adjuster (`bridge.convert.names`)."""
    return struct_schema(fields, name=adjust(f"{topic}.Key")) if fields else None


def value_schema(topic: str, fields: list[Schema], adjust: Callable[[str], str] = str) -> Schema:
    """`fields` from `field_schema`, in table column order (skipped columns left out)."""
    return struct_schema(fields, optional=True, name=adjust(f"{topic}.Value"))


def envelope_schema(topic: str, value: Schema, adjust: Callable[[str], str] = str) -> Schema:
    fields = [
        field_schema("before", value),
        field_schema("after", value),
        field_schema("source", source_schema()),
        field_schema("transaction", transaction_schema()),
        field_schema("op", connect_schema("string")),
        field_schema("ts_ms", connect_schema("int64", optional=True)),
        field_schema("ts_us", connect_schema("int64", optional=True)),
        field_schema("ts_ns", connect_schema("int64", optional=True)),
    ]
    return struct_schema(fields, name=adjust(f"{topic}.Envelope"), version=2)


# --- the side streams' schemas (Debezium 3.7: logical decoding messages, transaction metadata, heartbeats)


def message_key_schema() -> Schema:
    return struct_schema([field_schema("prefix", connect_schema("string", optional=True))],
                         name="io.debezium.connector.postgresql.MessageKey", version=1)


def message_value_schema(content_type: str) -> Schema:
    """`content_type`: "bytes" (binary.handling.mode=bytes) or "string" (the other modes)."""
    message = struct_schema(
        [field_schema("prefix", connect_schema("string", optional=True)),
         field_schema("content", connect_schema(content_type, optional=True))],
        name="io.debezium.connector.postgresql.Message", version=1,
    )
    return struct_schema(
        [field_schema("op", connect_schema("string")),
         field_schema("ts_ms", connect_schema("int64", optional=True)),
         field_schema("source", source_schema()),
         field_schema("transaction", transaction_schema()),
         field_schema("message", message)],
        name="io.debezium.connector.postgresql.MessageValue", version=1,
    )


def transaction_key_schema() -> Schema:
    return struct_schema([field_schema("id", connect_schema("string"))],
                         name="io.debezium.connector.common.TransactionMetadataKey", version=1)


def transaction_value_schema() -> Schema:
    collection = struct_schema(
        [field_schema("data_collection", connect_schema("string")),
         field_schema("event_count", connect_schema("int64"))],
        optional=True, name="event.collection", version=1,
    )
    return struct_schema(
        [field_schema("status", connect_schema("string")),
         field_schema("id", connect_schema("string")),
         field_schema("event_count", connect_schema("int64", optional=True)),
         field_schema("data_collections", array_schema(collection, optional=True)),
         field_schema("ts_ms", connect_schema("int64"))],
        name="io.debezium.connector.common.TransactionMetadataValue", version=1,
    )


def heartbeat_key_schema() -> Schema:
    return struct_schema([field_schema("serverName", connect_schema("string"))],
                         name="io.debezium.connector.common.ServerNameKey", version=1)


def heartbeat_value_schema() -> Schema:
    return struct_schema([field_schema("ts_ms", connect_schema("int64"))],
                         name="io.debezium.connector.common.Heartbeat", version=1)
