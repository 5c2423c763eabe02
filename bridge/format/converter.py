"""The converter seam: Kafka Connect's key/value converters, confluent's serializer context.

A `Converter` prepares a `Writer` from a Connect schema once per (topic, field) — when a table's
shape is known (each Relation message) or a side stream is set up — never per record. The
writer turns Connect values into record bytes (`write`) and hands event building the pieces
of its templates (`head`, `tail`, `template`, and `encode`/`fix`/`escape` for the generated
readers of `bridge.produce.fastrows`). Keys and values have a converter each, as in Connect
(`key.converter`, `value.converter`), each with its own settings (`schemas.enable`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.convert.schema import Schema
from bridge.format.json import JsonConverter

KEY = "key"
VALUE = "value"


class Writer(Protocol):
    """The bytes of one (topic, key|value) from Connect values (dicts for structs, `bytes` for
    BYTES, `msgspec.Raw` for pre-encoded numbers)."""

    topic: str
    field: str
    head: bytes  # what goes before a payload in a record (`payload`'s bytes)
    tail: bytes  # and after it
    template: bytes  # `head %s tail` as a `%` template
    encode: Callable[[object], bytes]  # a value's bytes before `fix`
    fix: Callable[[bytes], bytes]  # the respelling of `encode`'s bytes that are not ASCII or hold `escape`
    escape: bytes

    def payload(self, value: object) -> bytes:
        """A Connect value's bytes (`encode`, then `fix` when needed)."""
        ...

    def write(self, value: object) -> bytes:
        """The record of a Connect value."""
        ...


class Converter(Protocol):
    def prepare(self, schema: Schema | None, topic: str, field: str) -> Writer:
        """The writer of `field` (KEY or VALUE) of `topic`'s records, whose schema is `schema`."""
        ...


@dataclass(frozen=True, slots=True)
class Converters:
    """The key converter and the value converter."""

    key: Converter
    value: Converter


class ConverterSettings(Protocol):
    """The settings that choose and set up the converters (`EventConfig` holds them)."""

    key_schemas_enable: bool  # debezium.format.key.schemas.enable
    value_schemas_enable: bool  # debezium.format.value.schemas.enable


def converters_for(settings: ConverterSettings) -> Converters:
    """The converters the configuration names: JsonConverter for both, each with its own
    `schemas.enable`."""
    return Converters(JsonConverter(settings.key_schemas_enable), JsonConverter(settings.value_schemas_enable))
