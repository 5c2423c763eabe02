"""The Avro converter: Connect values → `00 <schema id, 4 bytes big-endian> <Avro binary>`.

A writer is prepared once per (topic, key|value, Connect schema): the Avro schema is built and
parsed then (`bridge.format.avro.schema`), with the adapter its values need
(`bridge.format.avro.values`). The registry is asked for the schema's id when the first record
is written (as Confluent's serializer does), then never again for that writer. The subject
follows the converter's subject name strategy: `<topic>-key|value` (TopicNameStrategy), the
record's full name (RecordNameStrategy) or `<topic>-<record full name>`
(TopicRecordNameStrategy). A null value (a tombstone) stays a null record.
"""

from __future__ import annotations

import io
import json
import struct

from fastavro import parse_schema, schemaless_writer

from bridge.convert.schema import Schema
from bridge.format.avro.registry import Registry, SchemaIncompatible
from bridge.format.avro.schema import avro_schema, record_name, schema_text
from bridge.format.avro.settings import RECORD, TOPIC, AvroSpec
from bridge.format.avro.values import adapter

_HEADER = struct.Struct(">bI")


class AvroWriter:
    """The Avro records of one (topic, key|value)."""

    __slots__ = ("topic", "field", "schema", "avro", "text", "subject", "header", "_parsed", "_adapt", "_registry",
                 "_refused")

    templates = False
    binary = True  # its records may be made by `bridge.produce.avrorows` (from `avro` and `header`)

    def __init__(self, schema: Schema | None, topic: str, field: str, spec: AvroSpec, registry: Registry) -> None:
        self.topic, self.field, self.schema = topic, field, schema
        if schema is None:
            raise ValueError(f"{topic}: a record {field} without a schema")  # Debezium's records all have one
        avro = self.avro = avro_schema(schema, meta=spec.connect_meta, where=f"{field} of topic {topic!r}")
        self.text = schema_text(avro)
        self.subject = _subject(spec, topic, field, schema)
        self._parsed = parse_schema(json.loads(self.text))
        adapt = adapter(schema)
        if isinstance(avro, list):  # an optional struct at the top: its union branch, named
            name, inner = record_name(schema), adapt
            adapt = (lambda v: (name, v)) if inner is None else (lambda v: (name, inner(v)))
        self._adapt = adapt
        self._registry = registry
        self.header: bytes | None = None  # `00 <schema id>`, once the registry has given the id
        self._refused: SchemaIncompatible | None = None  # the registry's answer for good (until the next Relation)

    def write(self, value: object) -> bytes | None:
        if value is None:
            return None
        header = self.header or self._resolve()
        out = io.BytesIO()
        out.write(header)
        schemaless_writer(out, self._parsed, value if self._adapt is None else self._adapt(value))
        return out.getvalue()

    def _resolve(self) -> bytes:
        if self._refused is not None:
            raise self._refused
        what = f"the record {self.field}s of topic {self.topic!r}"
        try:
            schema_id = self._registry.id_for(self.subject, self.text, what)
        except SchemaIncompatible as exc:
            self._refused = exc
            raise
        self.header = _HEADER.pack(0, schema_id)
        return self.header


def _subject(spec: AvroSpec, topic: str, field: str, schema: Schema) -> str:
    if spec.strategy == TOPIC:
        return f"{topic}-{field}"
    name = record_name(schema)
    if name is None:  # Confluent's strategies need a record here
        raise ValueError(f"{topic}: the {field} schema is not a record")
    return name if spec.strategy == RECORD else f"{topic}-{name}"


class AvroConverter:
    """Confluent's `io.confluent.connect.avro.AvroConverter` (and Apicurio's, as-confluent)."""

    __slots__ = ("spec", "registry")
    null_is_default = True  # AvroData writes a null field's default (Struct.get)
    binary = True  # its tables take the fast path of `bridge.produce.avrorows` (`EventBuilder`)

    def __init__(self, spec: AvroSpec) -> None:
        self.spec = spec
        self.registry = Registry(spec)

    def prepare(self, schema: Schema | None, topic: str, field: str) -> AvroWriter:
        return AvroWriter(schema, topic, field, self.spec, self.registry)
