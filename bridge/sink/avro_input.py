"""Confluent-framed Avro records read as JsonConverter's: `bridge sink` with `key.converter` /
`value.converter` = Confluent's AvroConverter (or Apicurio's in its Confluent-compatible mode).

A record is `00 <schema id, 4 bytes big-endian> <Avro binary>`. The writer's schema is asked of
the registry once per schema id and compiled then (`_Compiled`) into:
- its Connect schema, read as AvroData.toConnectSchema reads it (`connect.name`,
  `connect.version`, `connect.parameters`, `connect.type` int8/int16, the decimal, date,
  time-millis and timestamp-millis logical types, `["null", T]` as an optional T, arrays of
  `io.confluent.connect.avro.MapEntry` records as maps), spelled as JsonConverter's schema JSON,
  so that the sink's plans and value decoders (`bridge.sink.values`) take it as a JSON record's;
- the reader of the Avro binary (fastavro), logical types left as the int, long or bytes they
  are written as (the Connect schema says what they mean, as in JSON);
- the adapter that spells a value as JsonConverter's payload: bytes and decimals as base64,
  FLOAT32 as its shortest decimal, maps with keys other than required strings as [key, value]
  pairs; None when nothing needs it.

The registry: a schema id it does not know (404), or an answer no retry changes, refuses the
record at the converter stage (dead-lettered with errors.tolerance=all, else the sink stops); a
registry that cannot be reached, times out or answers 5xx/408/429 is retried while
errors.retry.timeout lasts (-1: forever), 300 ms apart and doubling up to
errors.retry.delay.max.ms, then the record is refused the same way.
"""

from __future__ import annotations

import io
import json
import struct
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader

from bridge.errors import ConnectionFailed
from bridge.format.avro.registry import Registry, reason, retriable
from bridge.format.avro.settings import AvroSpec
from bridge.sink.records import RecordRefused
from bridge.sink.settings import Errors

Adapt = Callable[[Any], Any]
_PRIMITIVES = {"boolean": "boolean", "int": "int32", "long": "int64", "float": "float", "double": "double",
               "string": "string", "bytes": "bytes", "fixed": "bytes"}
_LOGICAL = {("int", "date"): "org.apache.kafka.connect.data.Date",
            ("int", "time-millis"): "org.apache.kafka.connect.data.Time",
            ("long", "timestamp-millis"): "org.apache.kafka.connect.data.Timestamp"}
DECIMAL = "org.apache.kafka.connect.data.Decimal"
MAP_ENTRY = "io.confluent.connect.avro.MapEntry"
_RETRY_MIN_MS = 300
_F32 = struct.Struct(">f")
_INF = float("inf")


class SchemaNotRead(Exception):
    """An Avro schema the sink cannot read as a Connect schema."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    connect: dict  # the Connect schema, in JsonConverter's spelling
    parsed: Any  # fastavro's parsed writer schema
    adapt: Adapt | None


def _b64(value: bytes) -> str:
    return b64encode(value).decode()


def _float32(value: float) -> float:
    """A FLOAT32 as the shortest decimal that reads back to the same 4-byte float, as JsonConverter's
    payload spells it (Java's spelling, which reads back to it too); fastavro widens 3.3f to
    3.299999952316284."""
    if value != value or value in (_INF, -_INF):
        return value
    packed = _F32.pack(value)
    for digits in range(6, 10):
        shorter = float(f"{value:.{digits}g}")
        if _F32.pack(shorter) == packed:
            return shorter
    return value


class AvroInput:
    """One side's Avro records (`stage`: KEY_CONVERTER or VALUE_CONVERTER, Connect's names)."""

    def __init__(self, spec: AvroSpec, errors: Errors, stage: str, wait: Callable[[float], bool] = time.sleep,
                 registry: Registry | None = None) -> None:
        """`wait(seconds)`: sleeps between attempts; true when the sink is stopping."""
        self.spec, self.errors, self.stage = spec, errors, stage
        self.registry = registry or Registry(spec)
        self._wait = wait
        self._compiled: dict[bytes, _Compiled] = {}

    def read(self, data: bytes) -> tuple[bytes, dict, Any]:
        """(the record's 5-byte header, its Connect schema, its value as JsonConverter's payload)."""
        header = data[:5]
        compiled = self._compiled.get(header)
        if compiled is None:
            if len(data) < 5 or data[0] != 0:
                raise RecordRefused("not a Confluent-framed Avro record (no magic byte 0 and schema id)", self.stage)
            compiled = self._compiled[header] = self._compile(int.from_bytes(header[1:], "big"))
        try:
            value = schemaless_reader(_after_header(data), compiled.parsed, None)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
            raise RecordRefused(f"the Avro record does not match its schema: {exc!r}", self.stage, exc) from None
        if value is not None and compiled.adapt is not None:
            value = compiled.adapt(value)
        return header, compiled.connect, value

    def _compile(self, schema_id: int) -> _Compiled:
        text = self._schema_text(schema_id)
        try:
            avro = json.loads(text)
            connect, adapt = _Reader().convert(avro, None)
            parsed = parse_schema(_without_logical_types(avro))
        except (SchemaNotRead, ValueError, TypeError, KeyError) as exc:
            raise RecordRefused(f"the Avro schema {schema_id} cannot be read: {exc}", self.stage, exc) from None
        return _Compiled(connect, parsed, adapt)

    def _schema_text(self, schema_id: int) -> str:
        errors = self.errors
        started, attempt = time.monotonic(), 0
        while True:
            try:
                schema = self.registry.client.get_schema(schema_id)
                break
            except Exception as exc:  # noqa: BLE001 - retried when retriable, else the record is refused
                why = reason(exc)
                elapsed_ms = (time.monotonic() - started) * 1000
                if not retriable(exc) or (errors.retry_timeout_ms != -1 and elapsed_ms >= errors.retry_timeout_ms):
                    raise RecordRefused(f"schema registry: no schema {schema_id}: {why}", self.stage, exc) from None
                delay = min(_RETRY_MIN_MS * 2 ** min(attempt, 20), errors.retry_delay_max_ms)
                if errors.retry_timeout_ms != -1:
                    delay = min(delay, errors.retry_timeout_ms - elapsed_ms)
                attempt += 1
                if self._wait(max(delay, 0) / 1000):
                    raise ConnectionFailed(f"stopped while waiting for the schema registry ({why})") from None
        if (schema.schema_type or "AVRO") != "AVRO":
            raise RecordRefused(f"schema {schema_id} is a {schema.schema_type} schema, not Avro", self.stage)
        return schema.schema_str


def _after_header(data: bytes) -> io.BytesIO:
    out = io.BytesIO(data)
    out.seek(5)
    return out


def _without_logical_types(node: Any) -> Any:
    """The schema with no `logicalType`: fastavro then reads the underlying int, long or bytes."""
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


class _Reader:
    """AvroData.toConnectSchema over one schema, with the adapter of its values."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}  # full name -> its definition (references resolve to it)
        self.done: dict[str, tuple[dict, Adapt | None]] = {}

    def convert(self, node: Any, space: str | None) -> tuple[dict, Adapt | None]:
        if isinstance(node, list):
            return self._union(node, space)
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return self._primitive({"type": node})
            return self._reference(node, space)
        kind = node.get("type")
        if isinstance(kind, (list, dict)):
            return self.convert(kind, space)
        if kind == "record":
            return self._record(node, space)
        if kind == "enum":
            full = self._define(node, space)
            params = {"io.confluent.connect.avro.Enum": full,
                      **{f"io.confluent.connect.avro.Enum.{s}": s for s in node["symbols"]}}
            return self._props({"type": "string", "optional": False, "name": full, "parameters": params},
                               node), None
        if kind == "fixed":
            self._define(node, space)
        if kind == "array":
            return self._array(node, space)
        if kind == "map":
            values, adapt = self.convert(node["values"], space)
            schema = self._props({"type": "map", "keys": {"type": "string", "optional": False}, "values": values,
                                  "optional": False}, node)
            if adapt is None:
                return schema, None
            return schema, lambda v: {k: None if x is None else adapt(x) for k, x in v.items()}
        if kind in _PRIMITIVES:
            return self._primitive(node)
        if isinstance(kind, str):
            return self._reference(kind, space)
        raise SchemaNotRead(f"an Avro type Connect has no schema for: {kind!r}")

    def _primitive(self, node: dict) -> tuple[dict, Adapt | None]:
        kind, logical = node["type"], node.get("logicalType")
        schema: dict[str, Any] = {"type": _PRIMITIVES[kind], "optional": False}
        connect_type = node.get("connect.type")
        if kind == "int" and connect_type in ("int8", "int16") and logical is None:
            schema["type"] = connect_type
        if kind in ("bytes", "fixed") and logical == "decimal":
            if not isinstance(node.get("scale", 0), int):
                raise SchemaNotRead("a decimal's scale must be a number")
            schema["name"] = DECIMAL
            schema["parameters"] = {"scale": str(node.get("scale", 0)),
                                    "connect.decimal.precision": str(node.get("precision", 64))}
        elif (kind, logical) in _LOGICAL:
            schema["name"] = _LOGICAL[(kind, logical)]
        return self._props(schema, node), _b64 if kind in ("bytes", "fixed") else _float32 if kind == "float" else None

    def _props(self, schema: dict, node: dict) -> dict:
        """The Connect properties AvroData reads: doc, version, parameters, default, name."""
        doc = node.get("doc") or node.get("connect.doc")
        if isinstance(doc, str):
            schema["doc"] = doc
        if isinstance(node.get("connect.version"), int):
            schema["version"] = node["connect.version"]
        params = node.get("connect.parameters")
        if isinstance(params, dict):
            schema["parameters"] = {**schema.get("parameters", {}), **params}
        if node.get("connect.default") is not None:
            schema["default"] = node["connect.default"]
        if isinstance(node.get("connect.name"), str):
            schema["name"] = node["connect.name"]
        return schema

    def _union(self, members: list, space: str | None) -> tuple[dict, Adapt | None]:
        others = [m for m in members if m != "null"]
        if len(members) != 2 or len(others) != 1:
            raise SchemaNotRead("an Avro union other than [null, T]: bridge sink reads Debezium's schemas, "
                                "which have none")
        schema, adapt = self.convert(others[0], space)
        return {**schema, "optional": True}, adapt

    def _array(self, node: dict, space: str | None) -> tuple[dict, Adapt | None]:
        items = node["items"]
        entry, full = self._resolve(items, space)
        if isinstance(entry, dict) and entry.get("type") == "record" and (
                full == MAP_ENTRY or entry.get("connect.internal.type") == "MapEntry"):
            return self._map_entries(node, entry, full)
        item_schema, item = self.convert(items, space)
        schema = self._props({"type": "array", "items": item_schema, "optional": False}, node)
        if item is None:
            return schema, None
        return schema, lambda v: [None if x is None else item(x) for x in v]

    def _map_entries(self, node: dict, entry: dict, full: str) -> tuple[dict, Adapt | None]:
        """A map whose keys are not required strings: an array of {key, value} records in Avro,
        of [key, value] pairs in JsonConverter's payload."""
        self.named.setdefault(full, entry)
        fields = {f["name"]: f for f in entry["fields"]}
        inner = full.rpartition(".")[0] or None
        keys, key_adapt = self.convert(fields["key"]["type"], inner)
        values, value_adapt = self.convert(fields["value"]["type"], inner)
        schema = self._props({"type": "map", "keys": keys, "values": values, "optional": False}, node)
        ka, va = key_adapt or _same, value_adapt or _same
        return schema, lambda v: [[None if e["key"] is None else ka(e["key"]),
                                   None if e["value"] is None else va(e["value"])] for e in v]

    def _record(self, node: dict, space: str | None) -> tuple[dict, Adapt | None]:
        full = self._define(node, space)
        if full in self.done:
            return self.done[full]
        inner = full.rpartition(".")[0] or None
        fields, steps = [], []
        for f in node["fields"]:
            schema, adapt = self.convert(f["type"], inner)
            if not schema["optional"] and f.get("default") is not None and "default" not in schema:
                schema = {**schema, "default": f["default"]}
            fields.append({**schema, "field": f["name"]})
            if adapt is not None:
                steps.append((f["name"], adapt))
        schema = self._props({"type": "struct", "fields": fields, "optional": False}, node)
        if "name" not in schema and full != "io.confluent.connect.avro.ConnectDefault":
            schema["name"] = full
        adapt = _struct(tuple(steps)) if steps else None
        self.done[full] = (schema, adapt)
        return schema, adapt

    # -- names ------------------------------------------------------------------------------

    def _full_name(self, node: dict, space: str | None) -> str:
        name = node["name"]
        if "." in name:
            return name
        namespace = node.get("namespace", space)
        return f"{namespace}.{name}" if namespace else name

    def _define(self, node: dict, space: str | None) -> str:
        full = self._full_name(node, space)
        self.named.setdefault(full, node)
        return full

    def _resolve(self, node: Any, space: str | None) -> tuple[Any, str | None]:
        """A type and its full name (None for an unnamed one), references looked up."""
        if isinstance(node, dict) and "name" in node:
            return node, self._full_name(node, space)
        if isinstance(node, str) and node not in _PRIMITIVES:
            for candidate in (node if "." in node or not space else f"{space}.{node}", node):
                if candidate in self.named:
                    return self.named[candidate], candidate
        return node, None

    def _reference(self, name: str, space: str | None) -> tuple[dict, Adapt | None]:
        full = name if "." in name or not space else f"{space}.{name}"
        for candidate in (full, name):
            if candidate in self.done:
                return self.done[candidate]
            if candidate in self.named:
                definition = self.named[candidate]
                return self.convert(definition, candidate.rpartition(".")[0] or None)
        raise SchemaNotRead(f"the Avro type {name!r} is not defined before its use")


def _struct(steps: tuple[tuple[str, Adapt], ...]) -> Adapt:
    def struct(value: dict) -> dict:
        for name, adapt in steps:  # fastavro's dict is the record's own: changed in place
            v = value.get(name)
            if v is not None:
                value[name] = adapt(v)
        return value
    return struct


def _same(value: Any) -> Any:
    return value
