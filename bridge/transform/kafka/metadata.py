"""Kafka's SetSchemaMetadata ($Key / $Value) and Filter.

- SetSchemaMetadata (`schema.name`, `schema.version`, `replace.null.with.default`): the
  key/value schema keeps everything but its name and version, which the options replace; a
  record with neither value nor schema passes unchanged, one with a value but no schema fails.
- Filter drops every record (a predicate usually gates it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.convert.schema import Schema
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.structs import SchemaCache, Side, TransformFailed, get, read_bool
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

# JsonConverter's order of a schema's keys
_ORDER = ("type", "items", "keys", "values", "fields", "optional", "name", "version", "doc", "parameters", "default")


class SetSchemaMetadata:
    changes_routing = False  # a key's schema renamed: the same keys group together

    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        options = dict(spec.options)
        self._name = options.get("schema.name")
        version = options.get("schema.version")
        self._version = None if version is None or not version.strip() else int(version)
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._schemas = SchemaCache()

    def _schema(self, schema: Schema) -> Schema:
        changed = dict(schema)
        if self._name is not None:
            changed["name"] = self._name
        if self._version is not None:
            changed["version"] = self._version
        return {k: changed[k] for k in _ORDER if k in changed}

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema, value = side.schema(record), side.value(record)
        if schema is None:
            if value is None:
                return record
            raise TransformFailed("Schema required for [updating schema metadata]")
        updated = self._schemas.get(schema) or self._schemas.put(schema, self._schema(schema))
        if isinstance(value, dict) and schema["type"] == "struct":
            value = {f["field"]: get(value, f, self._defaults) for f in schema["fields"]}
        return side.replace(record, updated, value)  # type: ignore[arg-type]


class Filter:
    changes_routing = False

    def __init__(self, _spec: TransformSpec, _headers: HeaderFormat) -> None:
        pass

    def __call__(self, _record: ConnectRecord) -> None:
        return None
