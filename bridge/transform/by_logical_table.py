"""Debezium's ByLogicalTableRouter (and ToLogicalTopicRouter, its 3.x name): the change events
of several physical tables onto one logical topic, as Debezium 3.7 applies it.

- A topic `topic.regex` matches whole becomes its `Matcher.replaceFirst(topic.replacement)`;
  a topic it does not match, or one it renames to "", passes unchanged.
- A non-null key gets the schema `<new topic>.Key` (the old one's fields, optional flag,
  version, doc, parameters) and, with `key.enforce.uniqueness` (default true), one more field
  `key.field.name` (a required string; ByLogicalTableRouter's default
  `__dbz__physicalTableIdentifier`, ToLogicalTopicRouter's `__dbz__sourceIdentifier`) holding
  the old topic, or what `key.field.regex` (matching it whole) / `key.field.replacement` make
  of it.
- A change event's envelope is renamed `<new topic>.Envelope` and its `before` / `after`
  schema `<new topic>.Value` (copied from `before`'s); the values stay as they are. A
  tombstone or a record that is not a change event (heartbeat, transaction metadata, logical
  message) keeps its value, and its key is rewritten all the same.
- The names go through `schema.name.adjustment.mode` (default `none`).
- `logical.table.cache.size` (`logical.destination.cache.size`) only sizes Debezium's caches:
  the schemas here are built once per table schema and kept.

Routing: the Kafka key is the old key plus, with uniqueness, the physical table, so one Kafka
key still comes from one source key and the decoder's routing by that key keeps its order.
"""

from __future__ import annotations

import re

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord
from bridge.transform.router import python_replacement
from bridge.transform.schema_names import adjuster
from bridge.transform.smt_settings import TransformSpec

_BASICS = ("version", "doc", "parameters")


def _renamed(schema: Schema, name: str, fields: list[Schema] | None) -> Schema:
    """Debezium's copySchemaExcludingName + a new name: a struct with `fields`, the old one's
    optional flag, version, doc and parameters, in JsonConverter's order."""
    out: Schema = {"type": "struct", "fields": fields, "optional": schema["optional"], "name": name}
    out.update((k, schema[k]) for k in _BASICS if k in schema)
    return out


class JavaReplace:
    """`if (matcher.matches()) matcher.replaceFirst(replacement)`: None when the regex does
    not match the whole text."""

    def __init__(self, alias: str, what: str, regex: str, replacement: str) -> None:
        try:
            self._regex = re.compile(regex)
            self._template = python_replacement(replacement)
        except (re.error, ValueError) as exc:
            raise ConfigError(f"transform {alias!r}: {what}: {exc}") from None

    def __call__(self, text: str) -> str | None:
        if self._regex.fullmatch(text) is None:
            return None
        return self._regex.sub(self._template, text, count=1)


class ByLogicalTableRouter:
    changes_routing = False  # see the module docstring
    default_key_field = "__dbz__physicalTableIdentifier"

    def __init__(self, spec: TransformSpec, _headers: object = None) -> None:
        self._topic = JavaReplace(spec.alias, "topic.regex", spec.option("topic.regex", ""),
                                  spec.option("topic.replacement", ""))
        self._unique = spec.option("key.enforce.uniqueness", "true").strip().lower() == "true"
        self._key_field = spec.option("key.field.name", self.default_key_field)
        regex = spec.option("key.field.regex", "").strip()
        self._key_regex = JavaReplace(spec.alias, "key.field.regex", regex, spec.option("key.field.replacement", "")) \
            if regex else None
        self._adjust = adjuster(spec.option("schema.name.adjustment.mode", "none"),
                                f"transform {spec.alias!r}: schema.name.adjustment.mode")
        self._topics: dict[str, str | None] = {}
        self._identifiers: dict[str, str] = {}
        # id(old schema) -> (old schema, kept alive so its id stays its own; new schema)
        self._keys: dict[int, tuple[Schema, Schema]] = {}
        self._envelopes: dict[int, tuple[Schema, Schema]] = {}

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        old = record.topic
        if old in self._topics:
            topic = self._topics[old]
        else:
            topic = self._topics[old] = self._topic(old)
        if not topic:  # no match, or renamed to "": unchanged
            return record
        key_schema, key = record.key_schema, record.key
        if key is not None:
            key_schema = self._key_schema(key_schema, topic)  # type: ignore[arg-type]  # a struct's
            key = {**key, self._key_field: self._identifier(old)} if self._unique else key
        value_schema = record.value_schema
        if record.value is not None and value_schema is not None and \
                str(value_schema.get("name", "")).endswith(".Envelope"):
            value_schema = self._envelope(value_schema, topic)
        return ConnectRecord(topic, key_schema, key, value_schema, record.value, list(record.headers))

    def _identifier(self, topic: str) -> str:
        found = self._identifiers.get(topic)
        if found is None:
            found = (self._key_regex(topic) if self._key_regex is not None else None) or topic
            self._identifiers[topic] = found
        return found

    def _key_schema(self, old: Schema, topic: str) -> Schema:
        found = self._keys.get(id(old))
        if found is None or found[0] is not old:
            fields = list(old["fields"])
            if self._unique:
                fields.append({"type": "string", "optional": False, "field": self._key_field})
            found = self._keys[id(old)] = (old, _renamed(old, self._adjust(topic + ".Key"), fields))
        return found[1]

    def _envelope(self, old: Schema, topic: str) -> Schema:
        found = self._envelopes.get(id(old))
        if found is None or found[0] is not old:
            fields = {f["field"]: f for f in old["fields"]}
            image = fields.get("before") or fields.get("after")
            row = None if image is None else \
                _renamed(image, self._adjust(topic + ".Value"), image["fields"])
            new_fields = [{**row, "field": f["field"]} if row is not None and f["field"] in ("before", "after") else f
                          for f in old["fields"]]
            found = self._envelopes[id(old)] = (old, _renamed(old, self._adjust(topic + ".Envelope"), new_fields))
        return found[1]


class ToLogicalTopicRouter(ByLogicalTableRouter):
    default_key_field = "__dbz__sourceIdentifier"

