"""bridge.sink.rowtext: the functions generated per plan write the same texts as decoding value by
value (`field_decoder`), and the same line as `copy_rows` (COPY's text format), for every kind of decoder, NULLs,
the characters COPY escapes and texts that are not printable; a value a decoder refuses raises
what the decoder raises (the writer then names the column)."""

from __future__ import annotations

import base64

import pytest

from bridge.sink.apply import copy_rows
from bridge.sink.rowtext import copy_line, texts
from bridge.sink.values import DECODE_ERRORS, DecodeOptions, field_decoder, text_kind

D = DecodeOptions()


def named(type_: str, name: str, **params: str) -> dict:
    return {"type": type_, "optional": True, "name": name, "version": 1, **({"parameters": params} if params else {})}


def b64(n: int) -> str:
    return base64.b64encode(n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)).decode()


TRICKY = ["", "plain", "tab\there", "back\\slash", "new\nline", "cr\rhere", "\\N", "é ünïcode", "zero\u200bwidth",
          "line\u2028sep", "nul\x00", "\x7f", "\t\\\n\r"]
# (field, pg type, values): every kind `text_kind` tells apart, with the values a record can hold
FIELDS = [
    ({"type": "int64"}, "bigint", [0, -1, 2**63 - 1, None]),
    ({"type": "int32"}, "integer", [7, None]),
    ({"type": "boolean"}, "boolean", [True, False, None]),
    ({"type": "string"}, "text", [*TRICKY, None]),
    (named("bytes", "org.apache.kafka.connect.data.Decimal", scale="2"), "numeric", [b64(n) for n in (0, 5, -5, 101,
                                                                                    -10**30 - 7)] + [1.5, 3, None]),
    (named("bytes", "org.apache.kafka.connect.data.Decimal", scale="0"), "numeric", [b64(-12), None]),
    (named("bytes", "org.apache.kafka.connect.data.Decimal", scale="-2"), "numeric", [b64(12), None]),
    ({"type": "double"}, "double precision", [1.0e10, "NaN", -0.0, None]),
    (named("struct", "io.debezium.data.VariableScaleDecimal"), "numeric", [{"scale": 3, "value": b64(-1234)}, None]),
    (named("int32", "io.debezium.time.Date"), "date", [0, -800_000, None]),
    (named("int64", "io.debezium.time.MicroTimestamp"), "timestamp", [1_700_000_000_123_456, None]),
    (named("string", "io.debezium.time.ZonedTimestamp"), "timestamptz", ["2024-05-01T12:00:01.000000Z",
                                                                          "-0043-03-15T10:00:00Z", "infinity", None]),
    (named("string", "io.debezium.data.Json"), "jsonb", ['{"a": "tab\\there"}', '{"b": "x\ty"}', None]),
    ({"type": "bytes"}, "bytea", [base64.b64encode(b"\x00\x01\\").decode(), None]),
    ({"type": "array", "items": {"type": "string", "optional": True}}, "text[]", [["a\\b", 'q"', "t\tb", None],
                                                                                   [], None]),
    ({"type": "map", "keys": {"type": "string"}, "values": {"type": "string", "optional": True}}, "hstore",
     [{"k\t": "v\\", "n": None}, None]),
    (named("bytes", "io.debezium.data.Bits", length="5"), "bit(5)", [base64.b64encode(b"\x05").decode(), None]),
]


def _decoders(fields):
    return tuple(field_decoder({**f, "field": f"c{i}"}, D, pg) for i, (f, pg, _) in enumerate(fields))


def test_the_kinds_cover_the_decoders():
    kinds = {text_kind(d) for d in _decoders(FIELDS)}
    assert kinds == {"integer", "boolean", "string", "plain", "any"}


@pytest.mark.parametrize("guarded", [False, True])
def test_a_generated_copy_line_is_copy_rows_of_the_decoded_values(guarded):
    decoders = _decoders(FIELDS)
    key_decoders = _decoders([({"type": "int64"}, "bigint", []), ({"type": "string"}, "text", [])])
    line, key = copy_line(tuple(map(text_kind, key_decoders)), decoders, guarded), texts(key_decoders)
    rows = max(len(values) for _, _, values in FIELDS)
    for r in range(rows):
        values = tuple(values[r % len(values)] for _, _, values in FIELDS)
        raw_key = (r - 3, TRICKY[r % len(TRICKY)])
        key_texts = key(raw_key)
        assert key_texts == tuple(d(v) for d, v in zip(key_decoders, raw_key))
        assert texts(decoders)(values) == tuple(d(v) for d, v in zip(decoders, values))
        decoded = key_texts + tuple(d(v) for d, v in zip(decoders, values)) + ((str(10**12 + r),) if guarded else ())
        assert line(key_texts, values, 10**12 + r) == copy_rows([decoded]), values


def test_nulls_and_an_empty_row():
    assert copy_line((), (), False)((), (), None) == "\n" == copy_rows([()])
    decoders = _decoders(FIELDS)
    assert copy_line(("any",), decoders, False)((None,), (None,) * len(decoders), None) == copy_rows(
        [(None,) * (1 + len(decoders))])


@pytest.mark.parametrize(("field", "pg", "value"), [
    ({"type": "int64"}, "bigint", "7"),
    ({"type": "int64"}, "bigint", True),
    ({"type": "boolean"}, "boolean", 1),
    ({"type": "string"}, "text", 5),
    (named("bytes", "org.apache.kafka.connect.data.Decimal", scale="2"), "numeric", "not base64!"),
    (named("string", "io.debezium.time.ZonedTimestamp"), "timestamptz", 12),
])
def test_a_value_the_decoder_refuses_raises_as_the_decoder_does(field, pg, value):
    decoders = _decoders([(field, pg, [])])
    with pytest.raises(DECODE_ERRORS):
        copy_line((), decoders, False)((), (value,), None)
    with pytest.raises(DECODE_ERRORS):
        texts(decoders)((value,))
