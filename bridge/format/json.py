"""Kafka Connect's JsonConverter as Debezium's records carry it.

With `schemas.enable` a record is `{"schema":<Connect schema>,"payload":<value>}`, else the bare
value. A Connect value is encoded by msgspec in Jackson's spelling (`bridge.format.jackson`):
`bytes` (Connect BYTES: bytea in binary.handling.mode=bytes, Decimal, a VariableScaleDecimal's
value, WKB, Bits) become padded standard base64 strings, as JsonConverter writes them; every
other value (a `msgspec.Raw` double spelled by Java included) is written as it is. A string may
end in a lone high surrogate (a Java String truncated through a character,
`bridge.transform.strings`): msgspec refuses it, Jackson writes it as `\\uD83C`, and so does
`json_bytes`.

The schema is spelled by Jackson too: a field's `default` (a column default) may hold any text.
"""

from __future__ import annotations

import re

import msgspec

from bridge.convert.schema import Schema
from bridge.format.jackson import ESCAPE, jackson_json

_encode = msgspec.json.Encoder().encode
_SURROGATE = re.compile("([\ud800-\udfff])")


def literal(text: bytes) -> bytes:
    """`text` as literal text inside a `%` template."""
    return text.replace(b"%", b"%%")


def json_bytes(value: object) -> bytes:
    """A Connect value's JSON, in Jackson's spelling."""
    try:
        body = _encode(value)
    except UnicodeEncodeError:  # a lone surrogate in a string
        body = _encode(_lone_surrogates(value))
    # `find`, not `in`: `in` first tries the needle as an int and formats a TypeError each time
    return jackson_json(body) if not body.isascii() or body.find(ESCAPE) >= 0 else body


def _lone_surrogates(value: object) -> object:
    """`value` with every string that holds a lone surrogate as its JSON text, the surrogate
    escaped as Jackson writes it."""
    if isinstance(value, str):
        parts = _SURROGATE.split(value)
        if len(parts) == 1:
            return value
        return msgspec.Raw(b'"' + b"".join(b"\\u%04X" % ord(p) if i % 2 else _encode(p)[1:-1]
                                           for i, p in enumerate(parts)) + b'"')
    if isinstance(value, dict):
        return {k: _lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lone_surrogates(v) for v in value]
    return value


class JsonWriter:
    """The JSON of one (topic, key|value): `write(value)` is a whole record.

    What event building's templates take from it: `head` and `tail` go around a payload (the
    schema wrapping, or nothing); `template` is `head %s tail` as a `%` template; the generated
    readers (`bridge.produce.fastrows`) encode with `encode` and respell with `fix` whatever is
    not plain ASCII or holds `escape`, which is what `payload` does."""

    __slots__ = ("topic", "field", "head", "tail", "template")

    templates = True
    encode = staticmethod(_encode)
    fix = staticmethod(jackson_json)
    escape = ESCAPE

    def __init__(self, schema: Schema | None, topic: str, field: str, schemas_enable: bool) -> None:
        self.topic, self.field = topic, field
        if schemas_enable:
            self.head, self.tail = b'{"schema":' + json_bytes(schema) + b',"payload":', b"}"
        else:
            self.head, self.tail = b"", b""
        self.template = literal(self.head) + b"%s" + literal(self.tail)

    payload = staticmethod(json_bytes)  # a Connect value's JSON (None is `null`)

    def write(self, value: object) -> bytes:
        return self.head + self.payload(value) + self.tail


class JsonConverter:
    """`org.apache.kafka.connect.json.JsonConverter` with its `schemas.enable`."""

    __slots__ = ("schemas_enable",)
    null_is_default = True  # replace.null.with.default, true by default

    def __init__(self, schemas_enable: bool = True) -> None:
        self.schemas_enable = schemas_enable

    def prepare(self, schema: Schema | None, topic: str, field: str) -> JsonWriter:
        return JsonWriter(schema, topic, field, self.schemas_enable)
