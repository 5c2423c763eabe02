"""The format section: which converter writes keys, values and headers, with its options.

Debezium Server names a format (`debezium.format.value=json`); a Kafka Connect JSON names a
converter class (`value.converter=org.apache.kafka.connect.json.JsonConverter`), which
`bridge.config.files` files under the same key, its options (`value.converter.<opt>`) under
`debezium.format.value.<opt>` (Debezium Server also hands both converters `debezium.format.<opt>`;
the side's own key wins). Either spelling is read here, each option as the converter reads it;
what pgbridge cannot write as Debezium does is refused with one line.

Converters (Kafka Connect 4.x, Debezium 3.7):
- JsonConverter (`json`, `jsonbytearray`: the same bytes): `schemas.enable`.
- StringConverter (`simplestring`): `converter.encoding`.
- CloudEventsConverter (`cloudevents`): `serializer.type`, `data.serializer.type` (json only),
  `json.schemas.enable`, `extension.attributes.enable`, `metadata.source`, ...
- Confluent's AvroConverter (`avro`; Apicurio's in its Confluent-compatible mode): the
  registry and subject options of `bridge.format.avro.settings`.
- Debezium's ByteArrayConverter / BinaryDataConverter (`binary`): a Struct goes to the
  converter `delegate.converter.type` names, with the options under that key's own prefix;
  without a delegate Connect fails on the first record. Kafka's ByteArrayConverter and
  ByteBufferConverter take BYTES values only, and every Debezium record value is a Struct.
Headers (`debezium.format.header`, Connect's `header.converter`) have their own converter,
whose default follows the file's form: Debezium Server's is `json` (JsonConverter, which it
hands `debezium.format.header.*` and the shared `debezium.format.*`), a Kafka Connect worker's
is SimpleHeaderConverter. Either form may name either, as for keys and values.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.format.avro.settings import APICURIO, CONFLUENT, AvroSpec, read_avro
from bridge.properties import PropertyReader

FORMAT = "debezium.format."
JSON, STRING, CLOUDEVENTS, AVRO = "json", "simplestring", "cloudevents", "avro"
_BINARY = "binary"  # Debezium's byte array converters: a delegate writes every Struct

# Converter classes by the Debezium Server format name they are.
_CLASSES = {
    "org.apache.kafka.connect.json.JsonConverter": JSON,
    "org.apache.kafka.connect.storage.StringConverter": STRING,
    "io.debezium.converters.CloudEventsConverter": CLOUDEVENTS,
    "io.debezium.converters.BinaryDataConverter": _BINARY,
    "io.debezium.converters.ByteArrayConverter": _BINARY,
    CONFLUENT: AVRO,
    APICURIO: AVRO,
}
_NAMES = {JSON: JSON, "jsonbytearray": JSON, STRING: STRING, CLOUDEVENTS: CLOUDEVENTS, _BINARY: _BINARY, AVRO: AVRO}
_BYTES_ONLY = ("org.apache.kafka.connect.converters.ByteArrayConverter",
               "org.apache.kafka.connect.converters.ByteBufferConverter")
_SIMPLE_HEADERS = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
_JSON_CLASS = "org.apache.kafka.connect.json.JsonConverter"
# Debezium Server's header format names (matched as it matches them: exactly)
_HEADER_NAMES = ("json", "jsonbytearray")

# Java charset names (and the aliases people write) -> Python codecs that encode the same bytes;
# both replace what a charset cannot hold with '?'.
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "iso-8859-1": "latin-1", "iso8859_1": "latin-1",
             "latin1": "latin-1", "us-ascii": "ascii", "ascii": "ascii", "utf-16be": "utf-16-be",
             "utf-16le": "utf-16-le"}
_ADJUSTMENT_MODES = ("avro", "avro_unicode", "none")
# CloudEventsConverter's metadata sources: where each attribute comes from.
_METADATA_DEFAULT = "value,id:generate,type:generate,traceparent:header,dataSchemaName:generate"
_METADATA_FIELDS = ("id", "type", "traceparent", "dataSchemaName")


@dataclass(frozen=True, slots=True)
class ConverterSpec:
    """One side's converter and the options that shape its bytes."""

    kind: str = JSON  # JSON, STRING, CLOUDEVENTS or AVRO
    schemas_enable: bool = True  # JsonConverter's `schemas.enable`
    encoding: str = "utf-8"  # StringConverter's `converter.encoding`, as a Python codec
    data_schemas_enable: bool = True  # CloudEvents: `json.schemas.enable` (the `data` attribute's schema)
    extension_attributes: bool = True  # CloudEvents: `extension.attributes.enable`
    avro: AvroSpec | None = None  # Avro: the registry and subject options


class _Options:
    """One converter's options: `<key>.<option>`; at the top level Debezium Server also hands
    both converters `debezium.format.<option>`, which the side's own key overrides."""

    def __init__(self, r: PropertyReader, key: str, common: bool) -> None:
        self.r, self.prefix, self.common = r, key + ".", common

    def key(self, option: str) -> str:
        """The key that gives `option` (the side's own when it is set)."""
        own = self.prefix + option
        if self.common and self.r.raw(FORMAT + option) is not None and self.r.raw(own) is None:
            return FORMAT + option
        return own

    def raw(self, option: str) -> str | None:
        return self.r.raw(self.key(option))

    def bool(self, option: str, default: bool) -> bool:
        return self.r.bool(self.key(option), default)


@dataclass(frozen=True, slots=True)
class HeaderFormat:
    """How record headers are written: as SimpleHeaderConverter does (`json` false), or as
    JsonConverter does with its `schemas.enable`."""

    json: bool = False
    schemas_enable: bool = True


def read_format(r: PropertyReader, side: str) -> ConverterSpec:
    """`debezium.format.<side>` (side: key, value) and its options."""
    return _read_converter(r, FORMAT + side, side, top=True)


def read_header_format(r: PropertyReader, connect: bool = False) -> HeaderFormat:
    """`debezium.format.header` (Connect's `header.converter`) and its `schemas.enable`; its
    default is Kafka Connect's SimpleHeaderConverter in a Connect file (`connect`), else
    Debezium Server's `json`."""
    key = FORMAT + "header"
    value = r.raw(key) or (_SIMPLE_HEADERS if connect else JSON)
    # handed to either converter (SimpleHeaderConverter ignores it), the header's own key first
    schemas_enable = _Options(r, key, common=True).bool("schemas.enable", True)
    if value == _SIMPLE_HEADERS:
        return HeaderFormat()
    if value == _JSON_CLASS or value in _HEADER_NAMES:
        return HeaderFormat(json=True, schemas_enable=schemas_enable)
    why = ("Debezium Server's Kafka sink sends only text or bytes headers" if value in ("connect", "clientprovided")
           else "pgbridge writes headers as Debezium Server's json (jsonbytearray: the same bytes), "
                f"{_JSON_CLASS} or {_SIMPLE_HEADERS}")
    raise ConfigError(f"{r.shown(key, value)} is not supported: {why}; use json or {_SIMPLE_HEADERS}")


def _read_converter(r: PropertyReader, key: str, side: str, top: bool) -> ConverterSpec:
    value = r.raw(key) or JSON
    name = _CLASSES.get(value) or (_NAMES.get(value.lower()) if top else None)
    if name is None:
        if not top and value.lower() in _NAMES:  # Debezium instantiates a delegate by class name
            raise ConfigError(f"{r.shown(key, value)} is invalid: it names a converter class, e.g. "
                              "org.apache.kafka.connect.json.JsonConverter")
        raise ConfigError(f"{r.shown(key, value)} is not supported: {_unsupported(value)}")
    options = _Options(r, key, top)
    # every converter is handed `schemas.enable`; only JsonConverter reads it (Connect passes it on)
    schemas_enable = options.bool("schemas.enable", True)
    if name == _BINARY:
        inner = key + ".delegate.converter.type"
        if not r.raw(inner):
            raise ConfigError(f"{r.shown(key, value)} needs {r.label(inner)}: Debezium's record {side}s are "
                              "Structs, which this converter hands to its delegate (without one Connect fails on "
                              "the first record); name JsonConverter there, or use JsonConverter directly")
        return _read_converter(r, inner, side, top=False)
    if name == STRING:
        return ConverterSpec(STRING, schemas_enable, encoding=_encoding(options))
    if name == CLOUDEVENTS:
        return _read_cloudevents(options, schemas_enable)
    if name == AVRO:
        return ConverterSpec(AVRO, schemas_enable, avro=read_avro(r, key, value, options.key))
    return ConverterSpec(JSON, schemas_enable)


def _unsupported(value: str) -> str:
    if value in _BYTES_ONLY:
        return ("it takes BYTES values only, and Debezium's records are Structs (Connect's task fails on the first "
                "record; outbox payloads need the EventRouter transform, not implemented yet: issue #12); use "
                "io.debezium.converters.BinaryDataConverter with delegate.converter.type, or JsonConverter")
    names = sorted({*_NAMES, *_CLASSES} - {_BINARY})
    return f"pgbridge writes {', '.join(names)}"


def _encoding(options: _Options) -> str:
    key = options.key("converter.encoding")
    value = options.r.raw(key) or "UTF-8"
    codec = _CHARSETS.get(value.lower())
    if codec is None:
        raise ConfigError(f"{options.r.shown(key, value)} is not supported: pgbridge encodes UTF-8, UTF-16BE, "
                          "UTF-16LE, ISO-8859-1 and US-ASCII")
    return codec


def _read_cloudevents(options: _Options, schemas_enable: bool) -> ConverterSpec:
    r = options.r
    for option in ("serializer.type", "data.serializer.type"):
        key = options.key(option)
        value = r.raw(key) or "json"
        if value.lower() != "json":
            why = ("Avro is not implemented yet (a later issue)" if value.lower() == "avro"
                   else "Debezium knows json and avro")
            raise ConfigError(f"{r.shown(key, value)} is not supported: {why}; pgbridge writes CloudEvents as "
                              "JSON (json)")
    key = options.key("opentelemetry.tracing.attributes.enable")
    if r.bool(key, False):
        raise ConfigError(f"{r.label(key)}=true is not supported: the traceparent attribute comes from a header "
                          "that Debezium's tracing transform adds (transforms are not implemented yet: issue #12)")
    # the CloudEvents schema's name and its registry name: JSON does not write them
    r.choice(options.key("schema.name.adjustment.mode"), "avro", _ADJUSTMENT_MODES)
    options.raw("schema.cloudevents.name")
    header_schema_name = options.bool("schema.data.name.source.header.enable", False)
    _metadata_source(r, options.key("metadata.source"), header_schema_name)
    r.int(options.key("json.schemas.cache.size"), 1000)  # a cache size: no effect on the bytes
    return ConverterSpec(CLOUDEVENTS, schemas_enable,
                         data_schemas_enable=options.bool("json.schemas.enable", True),
                         extension_attributes=options.bool("extension.attributes.enable", True))


def _metadata_source(r: PropertyReader, key: str, header_schema_name: bool) -> None:
    """`metadata.source`: a global source, then `<field>:header|generate` overrides. pgbridge
    writes what the default gives: attributes from the record value, id and type generated.
    Header sources read headers that only transforms add; an id or type from the value is
    null, which Connect refuses in a required field."""
    text = r.raw(key) or _METADATA_DEFAULT
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or parts[0].lower() not in ("value", "header"):
        raise ConfigError(f"{r.shown(key, text)} is invalid: it starts with the global source, value or header")
    sources = dict.fromkeys(_METADATA_FIELDS, parts[0].lower())
    for part in parts[1:]:
        field, _, source = part.partition(":")
        if field not in _METADATA_FIELDS or source.strip().lower() not in ("header", "generate"):
            raise ConfigError(f"{r.shown(key, text)} is invalid: {part!r} is not <field>:header|generate with "
                              f"a field among {', '.join(_METADATA_FIELDS)}")
        sources[field] = source.strip().lower()
    # a header traceparent is read only with the tracing attributes on (refused before), a header
    # data schema name only with schema.data.name.source.header.enable
    sources.pop("traceparent")
    if not header_schema_name:
        sources.pop("dataSchemaName")
    if parts[0].lower() == "header" or sources.get("dataSchemaName") == "header" \
            or sources["id"] != "generate" or sources["type"] != "generate":
        raise ConfigError(f"{r.shown(key, text)} is not supported: pgbridge takes the attributes from the record "
                          "value and generates id and type (header sources read headers that only transforms add, "
                          f"not implemented yet: issue #12); use the default {_METADATA_DEFAULT!r}")
