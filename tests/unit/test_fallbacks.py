"""null_fallback: what a NULL in a NOT NULL column without a default becomes.

Expected values are a real Debezium 3.7.0's: the before-images of deletes under REPLICA IDENTITY
DEFAULT, every column NOT NULL without a default, in the modes named (the JSON shown in the
comments; tests/integration/test_live_defaults.py compares them live).
"""

from base64 import b64decode as b64

import pytest
from msgspec import Raw

from bridge.convert.fallbacks import null_fallback, required_converter
from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind
from bridge.convert.values import converter_for

NUMERIC_10_2 = (10 << 16 | 2) + 4


def fallback(type_info: TypeInfo, typmod: int = -1, **options: object) -> object:
    o = ConversionOptions(**options)  # type: ignore[arg-type]
    cv = converter_for(type_info, typmod, o)
    assert cv is not None
    return null_fallback(type_info, typmod, o, cv.schema)


def builtin(name: str) -> TypeInfo:
    return next(t for t in BUILTIN_TYPES.values() if t.name == name)


@pytest.mark.parametrize(
    ("type_name", "typmod", "options", "value"),
    [
        ("int2", -1, {}, 0), ("int4", -1, {}, 0), ("int8", -1, {}, 0), ("oid", -1, {}, 0),
        ("float4", -1, {}, Raw(b"0.0")), ("float8", -1, {}, Raw(b"0.0")),
        ("bool", -1, {}, False), ("bit", 1, {}, False), ("bit", 8, {}, b""), ("varbit", -1, {}, b""),
        ("text", -1, {}, ""), ("varchar", 3, {}, ""), ("bpchar", 7, {}, ""), ("char", -1, {}, ""),
        ("name", -1, {}, ""), ("uuid", -1, {}, ""), ("json", -1, {}, ""), ("jsonb", -1, {}, ""),
        ("xml", -1, {}, ""), ("inet", -1, {}, ""), ("cidr", -1, {}, ""), ("macaddr", -1, {}, ""),
        ("macaddr8", -1, {}, ""), ("tsvector", -1, {}, ""), ("int4range", -1, {}, ""), ("int8range", -1, {}, ""),
        ("bytea", -1, {}, b""), ("bytea", -1, {"binary_handling_mode": "hex"}, ""),
        ("bytea", -1, {"binary_handling_mode": "base64"}, ""),
        # numeric(10,2): "AA==" / 0.0 / "0.00"; numeric: {"scale":0,"value":"AA=="} / 0.0 / "0"
        ("numeric", NUMERIC_10_2, {}, b64("AA==")),
        ("numeric", NUMERIC_10_2, {"decimal_handling_mode": "double"}, Raw(b"0.0")),
        ("numeric", NUMERIC_10_2, {"decimal_handling_mode": "string"}, "0.00"),
        ("numeric", -1, {}, {"scale": 0, "value": b64("AA==")}),
        ("numeric", -1, {"decimal_handling_mode": "double"}, Raw(b"0.0")),
        ("numeric", -1, {"decimal_handling_mode": "string"}, "0"),
        ("money", -1, {}, b64("AA==")), ("money", -1, {"decimal_handling_mode": "string"}, "0.00"),
        ("money", -1, {"decimal_handling_mode": "double"}, Raw(b"0.0")),
        ("date", -1, {}, 0), ("date", -1, {"time_precision_mode": "isostring"}, "1970-01-01Z"),
        ("time", -1, {}, 0), ("time", 3, {"time_precision_mode": "connect"}, 0),
        ("time", -1, {"time_precision_mode": "isostring"}, "00:00:00Z"),
        ("timestamp", -1, {}, 0), ("timestamp", 3, {}, 0),
        ("timestamp", -1, {"time_precision_mode": "isostring"}, "1970-01-01T00:00:00Z"),
        ("timetz", -1, {}, "00:00:00Z"),
        ("timestamptz", -1, {}, "1970-01-01T00:00:00Z"), ("timestamptz", 0, {}, "1970-01-01T00:00:00Z"),
        ("timestamptz", 3, {}, "1970-01-01T00:00:00Z"),
        ("interval", -1, {}, 0), ("interval", -1, {"interval_handling_mode": "string"}, "P0Y0M0DT0H0M0S"),
        ("_int4", -1, {}, []), ("_text", -1, {}, []), ("_date", -1, {}, []),
        ("point", -1, {}, {"x": Raw(b"0.0"), "y": Raw(b"0.0"), "wkb": b64("AQEAAAAAAAAAAAAAAAAAAAAAAAAA"),
                           "srid": None}),
        ("line", -1, {}, {"a": Raw(b"0.0"), "b": Raw(b"1.0"), "c": Raw(b"0.0")}),
        ("lseg", -1, {}, {"wkb": b64("AQIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAAA="), "srid": None,
                          "extensions": {"type": "lseg"}}),
        ("path", -1, {}, {"wkb": b64("AQIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAAA="), "srid": None,
                          "extensions": {"type": "path"}}),
        ("box", -1, {}, {"wkb": b64("AQMAAAABAAAABQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAADw"
                                    "PwAAAAAAAPA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "srid": None,
                         "extensions": {"type": "box"}}),
        ("polygon", -1, {}, {"wkb": b64("AQMAAAABAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADwPwAAAAAAAAAAAAAAAAAAAAAAA"
                                        "AAAAADwPwAAAAAAAAAAAAAAAAAAAAA="), "srid": None,
                             "extensions": {"type": "polygon"}}),
    ],
)  # fmt: skip
def test_fallback_of_each_type_family(type_name, typmod, options, value):
    assert fallback(builtin(type_name), typmod, **options) == value


def test_circle_falls_back_to_the_origin_with_radius_zero():
    # {"center":{"x":0.0,"y":0.0,"wkb":"AQEAAAAAAAAAAAAAAAAAAAAAAAAA","srid":null},"radius":0.0}
    value = fallback(builtin("circle"))
    assert value == {"center": fallback(builtin("point")), "radius": Raw(b"0.0")}


def test_enums_domains_and_extension_types_fall_back_by_their_root():
    mood = TypeInfo(90001, "mood", "public", TypeKind.ENUM, enum_labels=("sad", "ok"))
    price = TypeInfo(90002, "price", "public", TypeKind.DOMAIN, base=builtin("numeric"), typmod=NUMERIC_10_2)
    hstore = TypeInfo(90003, "hstore", "public")
    assert fallback(mood) == ""
    assert fallback(price) == b64("AA==")  # a NOT NULL domain over numeric(10,2)
    assert fallback(hstore) == "{}"
    assert fallback(hstore, hstore_handling_mode="map") == {}


def test_a_required_name_column_yields_its_fallback_where_debezium_reads_no_value():
    # GIVEN a `name` column (Debezium streams it as null) that is NOT NULL
    o = ConversionOptions()
    cv = converter_for(builtin("name"), -1, o)
    assert cv is not None and cv.convert(b"n") is None
    # THEN its values are "" (Debezium: the fallback of a null in a required field)
    assert required_converter(cv, "")(b"n") == ""
    # AND other converters are kept as they are
    text = converter_for(builtin("text"), -1, o)
    assert text is not None and required_converter(text, "") is text.convert
