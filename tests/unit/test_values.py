"""converter_for: numbers, strings, binary, bits, enums, unknown types, TOAST placeholders.

Expected values are hand-derived from Debezium 3.7 rules (PostgresValueConverter,
JdbcValueConverters), its own test expectations (AbstractRecordsProducerTest) where cited, and
the golden output of a real Debezium 3.7.0 (tests/data/debezium) where noted. Converters return
Connect values: BYTES are `bytes`, written here as `b64(<the base64 Debezium's JSON shows>)`.
"""

from base64 import b64decode as b64

import pytest
from msgspec import Raw

from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind
from bridge.convert.values import (
    ColumnConverter,
    converter_for,
)
from bridge.convert.values_numeric import NotRepresentable
from bridge.errors import ConfigError

DEFAULT = ConversionOptions()


def conv(oid: int, typmod: int = -1, **options: object) -> ColumnConverter:
    c = converter_for(BUILTIN_TYPES[oid], typmod, ConversionOptions(**options))  # type: ignore[arg-type]
    assert c is not None
    return c


def numeric_typmod(precision: int, scale: int) -> int:
    return (precision << 16 | scale) + 4


# --- options ---------------------------------------------------------------------------------


def test_options_defaults_are_debeziums():
    assert DEFAULT.decimal_handling_mode == "precise"
    assert DEFAULT.time_precision_mode == "adaptive"
    assert DEFAULT.binary_handling_mode == "bytes"
    assert DEFAULT.unavailable_value_placeholder == "__debezium_unavailable_value"
    assert DEFAULT.money_fraction_digits == 2 and DEFAULT.include_unknown_datatypes is False


def test_options_error_names_key_value_and_allowed():
    with pytest.raises(ConfigError, match=r"'exact'.*decimal\.handling\.mode.*precise, double, string"):
        ConversionOptions(decimal_handling_mode="exact")
    with pytest.raises(ConfigError, match="money.fraction.digits"):
        ConversionOptions(money_fraction_digits=-1)


# --- integers, floats, bool ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "raw", "value", "type_"),
    [
        (21, b"-32768", -32768, "int16"),
        (23, b"2147483647", 2147483647, "int32"),
        (20, b"-9223372036854775808", -(2**63), "int64"),
        (26, b"4000000000", 4000000000, "int64"),  # oid -> int64 (PostgresValueConverter OID case)
        (16, b"t", True, "boolean"),
        (16, b"f", False, "boolean"),
        (700, b"3.3", Raw(b"3.3"), "float"),  # float4: JsonConverter prints Float.toString -> 3.3
        (701, b"4.44", Raw(b"4.44"), "double"),
        (701, b"-1.5e-300", Raw(b"-1.5E-300"), "double"),
    ],
)
def test_simple_numbers(oid, raw, value, type_):
    c = conv(oid)
    assert c.convert(raw) == value and type(c.convert(raw)) is type(value)
    assert c.schema == {"type": type_, "optional": False}


@pytest.mark.parametrize("oid", [700, 701])
def test_float_specials_are_jacksons_strings(oid):
    # Jackson writes NaN/Infinity doubles as quoted strings
    c = conv(oid)
    assert [c.convert(r) for r in (b"NaN", b"Infinity", b"-Infinity")] == ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize(
    ("oid", "raw", "java"),
    [
        # golden: num.f4 / num.f8 (Jackson = Float/Double.toString of Java 17)
        (700, b"3.4028235e+38", "3.4028235E38"),
        (701, b"1.7976931348623157e+308", "1.7976931348623157E308"),
        (700, b"-0", "-0.0"),
        (701, b"5e-324", "4.9E-324"),
        (700, b"1.1754944e-38", "1.17549435E-38"),  # JDK 17's digit generator is not the shortest
        (701, b"0.1", "0.1"),
        (701, b"0", "0.0"),
        # Double.toString layout: plain for 1e-3 <= |x| < 1e7, else computerized notation
        (701, b"1e+10", "1.0E10"),
        (701, b"0.001", "0.001"),
        (701, b"0.0001", "1.0E-4"),
        (701, b"1234567", "1234567.0"),
        (701, b"12345678", "1.2345678E7"),
        (701, b"-2.5", "-2.5"),
        (701, b"2.82879384806159e+17", "2.82879384806159008E17"),  # JDK-4511638
        (700, b"16777216", "1.6777216E7"),
    ],
)
def test_floats_are_spelled_by_java(oid, raw, java):
    assert conv(oid).convert(raw) == Raw(java.encode())


# --- numeric ---------------------------------------------------------------------------------------


def test_numeric_precise_is_base64_of_unscaled_twos_complement():
    c = conv(1700, numeric_typmod(12, 2))
    assert c.schema == {
        "type": "bytes",
        "optional": False,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "12"},
    }
    assert c.convert(b"1.10") == b64("bg==")  # unscaled 110 = 0x6e
    assert c.convert(b"1.28") == b64("AIA=")  # 128 needs a sign byte: 00 80
    assert c.convert(b"-1.28") == b64("gA==")  # -128 = 0x80
    assert c.convert(b"0.00") == b64("AA==")
    assert c.convert(b"-0.01") == b64("/w==")


@pytest.mark.parametrize("typmod", [numeric_typmod(5, 2), -1])
@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity"])
def test_numeric_precise_special_values_are_not_representable(typmod, raw):
    # Debezium's conversion throws; TableSchemaBuilder logs it and the column is null (golden:
    # num id 4-6). The converter raises, the event builder emits null and a warning.
    with pytest.raises(NotRepresentable, match="decimal.handling.mode"):
        conv(1700, typmod).convert(raw)


def test_numeric_without_typmod_is_variable_scale_decimal():
    c = conv(1700)
    assert c.schema["name"] == "io.debezium.data.VariableScaleDecimal"
    assert c.schema["doc"] == "Variable scaled decimal"
    assert [f["field"] for f in c.schema["fields"]] == ["scale", "value"]
    # trailing zeros stripped (AbstractRecordsProducerTest: 22.2222 -> scale 4), negative scale -> 0
    assert c.convert(b"22.2200") == {"scale": 2, "value": b64("CK4=")}  # 2222
    assert c.convert(b"100") == {"scale": 0, "value": b64("ZA==")}
    assert c.convert(b"0.000") == {"scale": 0, "value": b64("AA==")}


@pytest.mark.parametrize(
    ("typmod", "raw", "string", "double"),
    [
        (numeric_typmod(6, 4), b"22.2200", "22.2200", Raw(b"22.22")),
        (-1, b"22.2222", "22.2222", Raw(b"22.2222")),
        (-1, b"12345678901234567890.123456789", "12345678901234567890.123456789", Raw(b"1.2345678901234567E19")),
        (-1, b"NaN", "NAN", "NaN"),  # SpecialValueDecimal enum name in string mode (sic)
        (-1, b"Infinity", "POSITIVE_INFINITY", "Infinity"),
        (numeric_typmod(6, 4), b"-Infinity", "NEGATIVE_INFINITY", "-Infinity"),
    ],
)
def test_numeric_string_and_double_modes(typmod, raw, string, double):
    s = conv(1700, typmod, decimal_handling_mode="string")
    d = conv(1700, typmod, decimal_handling_mode="double")
    assert s.convert(raw) == string and s.schema == {"type": "string", "optional": False}
    assert d.convert(raw) == double and d.schema == {"type": "double", "optional": False}


def test_money_uses_fraction_digits_as_scale():
    c = conv(790)
    assert c.schema["parameters"] == {"scale": "2"}  # Decimal.builder(moneyFractionDigits), no precision
    assert c.convert(b"$1,234.11") == b64("AeIT")  # 123411 = 01 e2 13
    assert c.convert(b"-$1,234.11") == b64("/h3t")  # -123411 = fe 1d ed
    assert c.convert(b"($1,234.11)") == b64("/h3t")
    assert conv(790, money_fraction_digits=3).convert(b"$1.5") == b64("Bdw=")  # 1500 at scale 3
    assert conv(790, decimal_handling_mode="string").convert(b"$1,234.10") == "1234.10"
    assert conv(790, decimal_handling_mode="double").convert(b"-$0.25") == Raw(b"-0.25")


# --- strings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "raw", "name"),
    [
        (25, "žš".encode(), None),
        (1042, b"cdef      ", None),  # bpchar keeps its padding
        (18, b"x", None),
        (869, b"192.168.2.0/12", None),
        (829, b"08:00:2b:01:02:03", None),
        (3908, b'["2019-03-31 15:30:00",infinity)', None),  # ranges: the text as is
        (114, b'{"bar": "baz"}', "io.debezium.data.Json"),
        (3802, b'{"bar": "baz"}', "io.debezium.data.Json"),
        (142, b"<foo>bar</foo>", "io.debezium.data.Xml"),
        (2950, b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "io.debezium.data.Uuid"),
        (3614, b"'a' 'b'", "io.debezium.data.Tsvector"),
    ],
)
def test_string_types(oid, raw, name):
    c = conv(oid)
    assert c.convert(raw) == raw.decode()
    assert c.schema.get("name") == name and c.schema["type"] == "string"


def test_name_type_has_a_schema_but_null_values():
    # Debezium's value resolver has no case for `name`: null unless include.unknown.datatypes
    assert conv(19).convert(b"pg_class") is None
    assert conv(19, include_unknown_datatypes=True).convert(b"pg_class") == "pg_class"


def test_enum_schema_lists_labels_in_sort_order():
    mood = TypeInfo(16500, "mood", "public", TypeKind.ENUM, enum_labels=("sad", "ok", "happy"))
    c = converter_for(mood, -1, DEFAULT)
    assert c is not None and c.convert(b"ok") == "ok"
    assert c.schema == {
        "type": "string",
        "optional": False,
        "name": "io.debezium.data.Enum",
        "version": 1,
        "parameters": {"allowed": "sad,ok,happy"},
    }


def test_domain_resolves_to_base_and_keeps_domain_typmod():
    domain = TypeInfo(16600, "price", "public", TypeKind.DOMAIN, base=BUILTIN_TYPES[1700], typmod=numeric_typmod(10, 2))
    c = converter_for(domain, -1, DEFAULT)
    assert c is not None and c.schema["parameters"] == {"scale": "2", "connect.decimal.precision": "10"}
    assert c.convert(b"3.30") == b64("AUo=")  # 330


# --- binary ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "schema_type"),
    [
        ("bytes", b64("AQID"), "bytes"),
        ("base64", "AQID", "string"),
        ("base64-url-safe", "AQID", "string"),
        ("hex", "010203", "string"),
    ],
)
def test_bytea_binary_modes(mode, value, schema_type):
    # AbstractRecordsProducerTest.schemaAndValueForBytea*: E'\\001\\002\\003'
    c = conv(17, binary_handling_mode=mode)
    assert c.convert(b"\\x010203") == value
    assert c.convert(b"\\001\\002\\003") == value  # bytea_output=escape
    assert c.schema == {"type": schema_type, "optional": False}


def test_bytea_escape_format_details():
    c = conv(17, binary_handling_mode="hex")
    assert c.convert(b"a\\\\b\\000\\377") == "615c6200ff"
    assert conv(17, binary_handling_mode="base64-url-safe").convert(b"\\xfbff") == "-_8="


@pytest.mark.parametrize(
    ("oid", "typmod", "raw", "value", "length"),
    [
        # AbstractRecordsProducerTest.schemaAndValuesForBinTypes
        (1560, 1, b"0", False, None),
        (1560, 1, b"1", True, None),
        (1562, 1, b"1", True, None),  # varbit(1) -> boolean
        (1560, 2, b"11", b64("Aw=="), "2"),  # [3]
        (1560, 7, b"1000000", b64("QA=="), "7"),  # [64]
        (1560, 2, b"00", b"", "2"),  # [] (not padded to the declared length)
        (1560, 24, b"000000110000001000000001", b64("AQID"), "24"),  # [1, 2, 3]
        (1562, -1, b"101", b64("BQ=="), "2147483647"),  # unbounded varbit: Integer.MAX_VALUE
    ],
)
def test_bits(oid, typmod, raw, value, length):
    c = conv(oid, typmod)
    assert c.convert(raw) == value
    if length is None:
        assert c.schema == {"type": "boolean", "optional": False}
    else:
        assert c.schema["name"] == "io.debezium.data.Bits" and c.schema["parameters"] == {"length": length}


def test_empty_varbit_is_empty_bytes():
    # golden: net id 2, vb B'' -> ""
    assert conv(1562, 16).convert(b"") == b""


def test_bit64_high_bit():
    # bvl: '1' followed by 63 zeros -> [0,0,0,0,0,0,0,-128]
    assert conv(1560, 64).convert(b"1" + b"0" * 63) == b64("AAAAAAAAAIA=")


# --- unknown types --------------------------------------------------------------------------------


def test_unknown_types_are_skipped_by_default():
    assert converter_for(BUILTIN_TYPES[3615], -1, DEFAULT) is None  # tsquery
    assert converter_for(BUILTIN_TYPES[3220], -1, DEFAULT) is None  # pg_lsn


@pytest.mark.parametrize(
    ("mode", "value"),
    # like AbstractRecordsProducerTest.schemaAndValueForUnknownColumn* (circle there, which 3.7 converts)
    [
        ("bytes", b64("J2EnICYgJ2In")),
        ("base64-url-safe", "J2EnICYgJ2In"),
        ("hex", "276127202620276227"),
    ],
)
def test_unknown_types_as_bytes_of_their_text(mode, value):
    c = conv(3615, include_unknown_datatypes=True, binary_handling_mode=mode)
    assert c.convert(b"'a' & 'b'") == value


# --- TOAST placeholders --------------------------------------------------------------------------


def test_placeholders_follow_the_column_type():
    ph = "__debezium_unavailable_value"
    assert conv(25).toast == ph
    assert conv(3802).toast == ph
    assert conv(1700, numeric_typmod(5, 2)).toast == ph  # handleUnknownData: the string
    assert conv(17).toast == b64("X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==")  # its bytes
    assert conv(17, binary_handling_mode="hex").toast == ph
    assert conv(17, binary_handling_mode="base64").toast is None
    assert conv(1009).toast == [ph]
    assert conv(1007).toast == list(ph.encode())
    assert conv(2951).toast == ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]  # nameUUIDFromBytes
    assert conv(25, unavailable_value_placeholder="?").toast == "?"


def test_numeric_arrays_with_special_values_are_not_representable_in_every_mode():
    # golden: arr.an '{1.5,NaN,-2,1e-5}' is null in precise, string and double modes (pgjdbc's
    # new BigDecimal("NaN") fails for the whole array)
    for mode in ("precise", "string", "double"):
        c = conv(1231, decimal_handling_mode=mode)
        with pytest.raises(NotRepresentable):
            c.convert(b"{1.5,NaN,-2,1e-5}")
    assert conv(1231, decimal_handling_mode="string").convert(b"{1.5,-2}") == ["1.5", "-2"]
