"""Debezium's CloudEventsConverter with JSON for the event and its data (Debezium 3.7).

Only change events become CloudEvents: a record whose schema is not an Envelope (a key,
a heartbeat, a transaction or logical message record) is written as null, and so is a
tombstone. An event is the JSON (JsonConverter without schemas, Jackson's spelling) of:
- `id` `name:<source.name>;lsn:<lsn>;txId:<txId>;sequence:<sequence>` (null parts as `null`),
  `source` `/debezium/postgresql/<source.name>`, `specversion` `1.0`, `type`
  `io.debezium.connector.postgresql.DataChangeEvent`, `time` the source's `ts_ms` as
  `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC (`Z`), `datacontenttype` `application/json`;
- with `extension.attributes.enable` (default): `iodebeziumop`, then each `source` field as
  `iodebezium<name without non-alphanumerics>` (`iodebeziumtxId`, `iodebeziumoriginlsn`), then the
  `transaction` block's `iodebeziumtxid`, `iodebeziumtxtotalorder`,
  `iodebeziumtxdatacollectionorder` (null without one); INT64 values as strings;
- `data`: the `before` and `after` images as a struct `io.debezium.connector.postgresql.Data`,
  with `json.schemas.enable` (default true) as `{"schema":...,"payload":...}`.
Debezium's converter adds no headers; the record keeps Debezium's own.
"""

from __future__ import annotations

import datetime

from bridge.convert.schema import Schema, struct_schema
from bridge.format.json import JsonWriter, json_bytes

CONNECTOR = "postgresql"
_DATA_SCHEMA = f"io.debezium.connector.{CONNECTOR}.Data"
_TYPE = f"io.debezium.connector.{CONNECTOR}.DataChangeEvent"
_TX_FIELDS = ("id", "total_order", "data_collection_order")
_EPOCH = datetime.datetime(1970, 1, 1)


def extension_name(name: str) -> str:
    """CloudEventsConverter.adjustExtensionName: `iodebezium` and the ASCII letters and digits."""
    return "iodebezium" + "".join(c for c in name if c.isascii() and c.isalnum())


def ce_time(ts_ms: int) -> str:
    """SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSSXXX") in UTC."""
    seconds, ms = divmod(ts_ms, 1000)
    return (_EPOCH + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def _text(value: object) -> str:
    """A part of the id, as Java's string concatenation writes it."""
    return "null" if value is None else str(value)


class CloudEventWriter:
    """The CloudEvents of one table's change events."""

    __slots__ = ("topic", "field", "_source_fields", "_data", "_extensions")

    templates = False

    def __init__(self, envelope: Schema, topic: str, field: str, data_schemas: bool, extensions: bool) -> None:
        self.topic, self.field = topic, field
        fields = {f["field"]: f for f in envelope["fields"]}
        # (field, attribute, INT64?) of the source block, in its schema's order
        self._source_fields = tuple((f["field"], extension_name(f["field"]), f["type"] == "int64")
                                    for f in fields["source"]["fields"])
        self._data = JsonWriter(struct_schema([fields["before"], fields["after"]], name=_DATA_SCHEMA),
                                topic, field, data_schemas)
        self._extensions = extensions

    def write(self, value: dict | None) -> bytes | None:
        if value is None:
            return None
        source = value["source"]
        name = source["name"]
        event: dict[str, object] = {
            "id": f"name:{name};lsn:{_text(source['lsn'])};txId:{_text(source['txId'])};"
                  f"sequence:{_text(source['sequence'])}",
            "source": f"/debezium/{CONNECTOR}/{name}",
            "specversion": "1.0",
            "type": _TYPE,
            "time": ce_time(source["ts_ms"]),
            "datacontenttype": "application/json",
        }
        if self._extensions:
            event["iodebeziumop"] = value["op"]
            for field, attribute, int64 in self._source_fields:
                v = source[field]
                event[attribute] = str(v) if int64 and v is not None else v
            tx = value["transaction"]
            for field in _TX_FIELDS:
                v = None if tx is None else tx[field]
                event[extension_name("tx" + field)] = v if v is None or field == "id" else str(v)
        # the event without `data`, then `data` spliced in as Debezium does (`,"data":...}`)
        head = json_bytes(event)
        return head[:-1] + b',"data":' + self._data.write({"before": value["before"], "after": value["after"]}) + b"}"


class _Null:
    """The writer of records that are not change events: CloudEventsConverter writes null."""

    __slots__ = ("topic", "field")

    templates = False

    def __init__(self, topic: str, field: str) -> None:
        self.topic, self.field = topic, field

    def write(self, value: object) -> None:
        return None


class CloudEventsConverter:
    """`io.debezium.converters.CloudEventsConverter`, JSON serializer and JSON data."""

    __slots__ = ("data_schemas", "extensions")
    null_is_default = True  # the data goes through a JsonConverter (replace.null.with.default)

    def __init__(self, data_schemas: bool = True, extensions: bool = True) -> None:
        self.data_schemas, self.extensions = data_schemas, extensions

    def prepare(self, schema: Schema | None, topic: str, field: str) -> CloudEventWriter | _Null:
        if schema is None or not schema.get("name", "").endswith(".Envelope"):
            return _Null(topic, field)
        return CloudEventWriter(schema, topic, field, self.data_schemas, self.extensions)
