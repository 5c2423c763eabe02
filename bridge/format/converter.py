"""The converter seam: Kafka Connect's key/value converters, confluent's serializer context.

A `Converter` prepares a `RecordWriter` from a Connect schema once per (topic, field) — when a
table's shape is known (each Relation message) or a side stream is set up — never per record.
The writer turns Connect values into record bytes (`write`). A JSON writer (`templates` true) is
a `Writer`: it also hands event building the pieces of its templates (`head`, `tail`,
`template`, and `encode`/`fix`/`escape` for the generated readers of `bridge.produce.fastrows`),
the fast path; other writers take whole Connect values on the general path. Keys and values
have a converter each, as in Connect (`key.converter`, `value.converter`), each with its own
settings (`bridge.format.settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.convert.schema import Schema
from bridge.format.cloudevents import CloudEventsConverter
from bridge.format.json import JsonConverter
from bridge.errors import ConfigError
from bridge.format.settings import AVRO, CLOUDEVENTS, STRING, ConverterSpec
from bridge.format.tostring import StringConverter

KEY = "key"
VALUE = "value"


class RecordWriter(Protocol):
    """The bytes of one (topic, key|value) from Connect values (dicts for structs, `bytes` for
    BYTES, `msgspec.Raw` for pre-encoded numbers)."""

    topic: str
    field: str
    templates: bool  # a `Writer`: the events may be made from its templates

    def write(self, value: object) -> bytes | None:
        """The record of a Connect value (None: a null record)."""
        ...


class Writer(RecordWriter, Protocol):
    """A writer whose record is `head` + the value's `payload` + `tail` (JSON)."""

    head: bytes  # what goes before a payload in a record (`payload`'s bytes)
    tail: bytes  # and after it
    template: bytes  # `head %s tail` as a `%` template
    encode: Callable[[object], bytes]  # a value's bytes before `fix`
    fix: Callable[[bytes], bytes]  # the respelling of `encode`'s bytes that are not ASCII or hold `escape`
    escape: bytes

    def payload(self, value: object) -> bytes:
        """A Connect value's bytes (`encode`, then `fix` when needed)."""
        ...


class Converter(Protocol):
    # JsonConverter's replace.null.with.default (on by default): a null in a field that has a
    # default is written as the default; StringConverter prints the Struct's null as it is
    null_is_default: bool

    def prepare(self, schema: Schema | None, topic: str, field: str) -> RecordWriter:
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
    key_format: ConverterSpec  # debezium.format.key and its options
    value_format: ConverterSpec


def converters_for(settings: ConverterSettings) -> Converters:
    """The converters the configuration names, each with its own options."""
    return Converters(_converter(settings.key_format, settings.key_schemas_enable),
                      _converter(settings.value_format, settings.value_schemas_enable))


def _converter(spec: ConverterSpec, schemas_enable: bool) -> Converter:
    if spec.kind == STRING:
        return StringConverter(spec.encoding)
    if spec.kind == CLOUDEVENTS:
        return CloudEventsConverter(spec.data_schemas_enable, spec.extension_attributes)
    if spec.kind == AVRO:
        try:  # the `avro` extra: confluent-kafka's registry client and fastavro
            from bridge.format.avro.converter import AvroConverter
        except ImportError as exc:
            raise ConfigError(f"{spec.avro.label} names an Avro converter, which needs the avro extra "  # type: ignore[union-attr]
                              f"(pip install 'pgbridge[avro]'): {exc}") from None
        return AvroConverter(spec.avro)  # type: ignore[arg-type]
    return JsonConverter(schemas_enable)
