"""column_default: pg_attrdef expressions (as pg_get_expr spells them) -> the field's default.

Expected values are what a real Debezium 3.7.0 put into its schemas for the same expressions
(tests/integration/test_live_defaults.py compares them live); "none" means the field has no
default. Bytes are written as `b64(<the base64 Debezium's JSON shows>)`.
"""

from base64 import b64decode as b64

import pytest
from msgspec import Raw

from bridge.convert.defaults import column_default, extract_literal
from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind
from bridge.convert.values import converter_for

NONE = "none"


def numeric(precision: int, scale: int) -> int:
    return (precision << 16 | scale) + 4


def builtin(name: str) -> TypeInfo:
    return next(t for t in BUILTIN_TYPES.values() if t.name == name)


def default(expression: str | None, type_info: TypeInfo | str, typmod: int = -1, **options: object) -> object:
    t = builtin(type_info) if isinstance(type_info, str) else type_info
    o = ConversionOptions(**options)  # type: ignore[arg-type]
    cv = converter_for(t, typmod, o)
    assert cv is not None
    value = column_default(expression, t, typmod, cv, o)
    return NONE if value is None else value


# --- the literal inside an expression (PostgresDefaultValueConverter.extractDefault) ----------


@pytest.mark.parametrize(
    ("expression", "literal"),
    [
        ("42", "42"),
        ("'-1'::integer", "-1"),  # a negative constant is quoted and cast
        ("(-1)", "(-1)"),  # no quote: taken as it is (and then no integer)
        ("'abc'::character varying", "abc"),
        ("'it''s'::text", "it's"),
        ("''::text", ""),
        ("'{}'::jsonb", "{}"),
        ("'2020-01-01'::date", "2020-01-01"),
        ("B'101'::\"bit\"", "101"),
        ("(B'1'::\"bit\" || B'0'::\"bit\")", "1"),  # the first literal
        ("('a'::text || 'b'::text)", "a"),
        ("NULL::text", None),
        ("NULL::character varying", None),
        ("now()", "<generated>"),
        ("nextval('t_id_seq'::regclass)", "<generated>"),
        ("gen_random_uuid()", "<generated>"),
        ("CURRENT_TIMESTAMP", "<generated>"),
        ("CURRENT_TIMESTAMP(3)", "<generated>"),
        ("CURRENT_DATE", "<generated>"),
        ("LOCALTIME", "<generated>"),
        ("upper('x'::text)", "<generated>"),
        ("(now() + '1 day'::interval)", "<generated>"),
        ("make_interval(days => 1)", "<generated>"),
        ("pg_catalog.now()", "<generated>"),
        ("(1 + 1)", "(1 + 1)"),
        ("true", "true"),
    ],
)
def test_the_literal_debezium_reads_out_of_an_expression(expression, literal):
    assert extract_literal(expression, "<generated>") == literal


# --- per type family: the default's Connect value ------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "type_name", "typmod", "options", "value"),
    [
        # integers: plain, quoted negatives, serials (nextval -> 0); no expression evaluation
        ("7", "int2", -1, {}, 7), ("'-7'::smallint", "int2", -1, {}, -7),
        ("42", "int4", -1, {}, 42), ("'-1'::integer", "int4", -1, {}, -1), ("(1 + 1)", "int4", -1, {}, NONE),
        ("(- (1)::smallint)", "int2", -1, {}, NONE), ("'70000'::integer", "int2", -1, {}, NONE),
        ("'9223372036854775807'::bigint", "int8", -1, {}, 9223372036854775807),
        ("'-9223372036854775808'::bigint", "int8", -1, {}, -9223372036854775808),
        ("nextval('t_s_seq'::regclass)", "int4", -1, {}, 0), ("nextval('t_bs_seq'::regclass)", "int8", -1, {}, 0),
        ("NULL::integer", "int4", -1, {}, NONE),
        # floats: Java spelling; NaN and infinities are strings in the JSON
        ("1.5", "float4", -1, {}, Raw(b"1.5")), ("'NaN'::real", "float4", -1, {}, "NaN"),
        ("'-Infinity'::real", "float4", -1, {}, "-Infinity"), ("0.1", "float4", -1, {}, Raw(b"0.1")),
        ("2.25", "float8", -1, {}, Raw(b"2.25")), ("'100000000000000000000'::numeric", "float8", -1, {},
                                                    Raw(b"1.0E20")),
        ("'-0.5'::numeric", "float8", -1, {}, Raw(b"-0.5")), ("3", "float8", -1, {}, Raw(b"3.0")),
        ("'Infinity'::double precision", "float8", -1, {}, "Infinity"),
        # numeric(p,s): the column's scale; more fraction digits than that: none
        ("5", "numeric", numeric(10, 2), {}, b64("AfQ=")), ("5.5", "numeric", numeric(10, 2), {}, b64("AiY=")),
        ("5.500", "numeric", numeric(10, 2), {}, b64("AiY=")), ("'-2.5'::numeric", "numeric", numeric(6, 3), {},
                                                                b64("9jw=")),
        ("3.14159", "numeric", numeric(10, 2), {}, NONE), ("'NaN'::numeric", "numeric", numeric(10, 2), {}, NONE),
        ("12345678901234567890123456789", "numeric", numeric(38, 0), {}, b64("J+QbMka+ybFuOYEV")),
        ("5", "numeric", numeric(10, 2), {"decimal_handling_mode": "double"}, Raw(b"5.0")),
        ("5", "numeric", numeric(10, 2), {"decimal_handling_mode": "string"}, "5.00"),
        ("12345678901234567890123456789", "numeric", numeric(38, 0), {"decimal_handling_mode": "double"},
         Raw(b"1.2345678901234568E28")),
        # numeric without scale: a struct in precise mode, which Connect refuses as a default
        ("1.50", "numeric", -1, {}, NONE),
        ("1.50", "numeric", -1, {"decimal_handling_mode": "string"}, "1.50"),
        ("1.50", "numeric", -1, {"decimal_handling_mode": "double"}, Raw(b"1.5")),
        # bool
        ("true", "bool", -1, {}, True), ("false", "bool", -1, {}, False), ("NULL::boolean", "bool", -1, {}, NONE),
        # text: as written (char(n) unpadded), generated -> ""
        ("'it''s'::text", "text", -1, {}, "it's"), ("''::text", "text", -1, {}, ""),
        ("'abc'::character varying", "varchar", 24, {}, "abc"), ("'ab'::bpchar", "bpchar", 9, {}, "ab"),
        ("('a'::text || 'b'::text)", "text", -1, {}, "a"), ("upper('x'::text)", "text", -1, {}, ""),
        ("NULL::character varying", "text", -1, {}, NONE), ("'line\nnext'::text", "text", -1, {}, "line\nnext"),
        ("'é日🎉'::text", "text", -1, {}, "é日🎉"),
        # json, jsonb, xml: the text; uuid canonical, generated -> the zero UUID
        ("'{\"a\": 1}'::json", "json", -1, {}, '{"a": 1}'), ("'{}'::jsonb", "jsonb", -1, {}, "{}"),
        ("'<a>1</a>'::xml", "xml", -1, {}, "<a>1</a>"),
        ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "uuid", -1, {}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("gen_random_uuid()", "uuid", -1, {}, "00000000-0000-0000-0000-000000000000"),
        # types without a parser: none
        ("'12:00:00+02'::time with time zone", "timetz", -1, {}, NONE), ("12.34", "money", -1, {}, NONE),
        ("'\\x0102'::bytea", "bytea", -1, {}, NONE), ("'{1,2}'::integer[]", "_int4", -1, {}, NONE),
        ("'127.0.0.1'::inet", "inet", -1, {}, NONE), ("'q'::\"char\"", "char", -1, {}, NONE),
        # bits
        ("B'1'::\"bit\"", "bit", 1, {}, True), ("B'0'::\"bit\"", "bit", 1, {}, False),
        ("B'10100000'::\"bit\"", "bit", 8, {}, b64("oA==")), ("B'101'::\"bit\"", "varbit", 16, {}, b64("BQ==")),
        ("(B'1'::\"bit\" || B'0'::\"bit\")", "varbit", -1, {}, b64("AQ==")),
    ],
)  # fmt: skip
def test_default_of_each_type_family(expression, type_name, typmod, options, value):
    assert default(expression, type_name, typmod, **options) == value


@pytest.mark.parametrize(
    ("expression", "type_name", "typmod", "adaptive", "connect", "isostring"),
    [
        ("'2020-02-03'::date", "date", -1, 18295, 18295, "2020-02-03Z"),
        ("CURRENT_DATE", "date", -1, 0, 0, "1970-01-01Z"),
        ("'infinity'::date", "date", -1, 169560311, 169560311, "+999999999-12-31Z"),  # (int) epoch day
        ("'-infinity'::date", "date", -1, -170999002, -170999002, "-999999999-01-01Z"),
        ("'0044-03-15 BC'::date", "date", -1, -735160, -735160, "-0043-03-15Z"),
        ("'10000-01-01'::date", "date", -1, 2932897, 2932897, "+10000-01-01Z"),
        ("'12:34:56.789'::time without time zone", "time", -1, 45296789000, 45296789, "12:34:56.789Z"),
        ("'01:02:03'::time without time zone", "time", 0, 3723000, 3723000, "01:02:03Z"),
        ("LOCALTIME", "time", -1, 0, 0, "00:00:00Z"),
        ("'24:00:00'::time without time zone", "time", -1, 86399999999, 86399999, "23:59:59.999999999Z"),
        ("'24:00:00'::time without time zone", "time", 3, 86399999, 86399999, "23:59:59.999999999Z"),
        ("'12:00:00.5'::time without time zone", "time", 0, 43200500, 43200500, "12:00:00.5Z"),
        ("'2020-01-02 03:04:05.123456'::timestamp without time zone", "timestamp", -1,
         1577934245123456, 1577934245123, "2020-01-02T03:04:05.123456Z"),
        ("now()", "timestamp", -1, 0, 0, "1970-01-01T00:00:00Z"),
        ("'0044-03-15 10:00:00 BC'::timestamp without time zone", "timestamp", -1,
         -63517788000000000, -63517788000000, "-0043-03-15T10:00:00Z"),
        # OffsetDateTime.MAX/MIN: Java's overflowing micros; millisecond fields get none
        ("'infinity'::timestamp without time zone", "timestamp", -1,
         -9223372036853775810, NONE, "+999999999-12-31T23:59:59.999999999Z"),
        ("'-infinity'::timestamp without time zone", "timestamp", -1,
         -9223372036854775808, NONE, "-999999999-01-01T00:00:00Z"),
        ("'infinity'::timestamp without time zone", "timestamp", 3, NONE, NONE,
         "+999999999-12-31T23:59:59.999999999Z"),
        # timestamptz: at UTC with the column's fraction digits; infinities: none
        ("'2020-01-02 01:04:05+00'::timestamp with time zone", "timestamptz", -1,
         "2020-01-02T01:04:05.000000Z", "2020-01-02T01:04:05.000000Z", "2020-01-02T01:04:05.000000Z"),
        ("'2020-01-01 21:34:05+00'::timestamp with time zone", "timestamptz", 0,
         "2020-01-01T21:34:05Z", "2020-01-01T21:34:05Z", "2020-01-01T21:34:05Z"),
        ("CURRENT_TIMESTAMP(3)", "timestamptz", -1,
         "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z"),
        ("'0044-03-15 10:00:00+00 BC'::timestamp with time zone", "timestamptz", -1,
         "-0043-03-15T10:00:00.000000Z", "-0043-03-15T10:00:00.000000Z", "-0043-03-15T10:00:00.000000Z"),
        ("'infinity'::timestamp with time zone", "timestamptz", -1, NONE, NONE, NONE),
        ("'-infinity'::timestamp with time zone", "timestamptz", -1, NONE, NONE, NONE),
    ],
)
def test_temporal_defaults_in_each_time_precision_mode(expression, type_name, typmod, adaptive, connect, isostring):
    for mode, value in (("adaptive", adaptive), ("connect", connect), ("isostring", isostring)):
        assert default(expression, type_name, typmod, time_precision_mode=mode) == value, mode


def test_microseconds_and_nanoseconds_modes():
    assert default("'24:00:00'::time without time zone", "time", 0, time_precision_mode="microseconds") \
        == 86399999999
    assert default("'24:00:00'::time without time zone", "time", -1, time_precision_mode="nanoseconds") \
        == 86399999999999
    assert default("'2020-01-02 03:04:05.123'::timestamp without time zone", "timestamp", 3,
                   time_precision_mode="microseconds") == 1577934245123000


@pytest.mark.parametrize(
    ("expression", "numeric_value", "string_value"),
    [
        ("'1 day 02:00:00'::interval", 93600000000, "P0Y0M1DT2H0M0S"),
        ("'1 year 2 mons -3 days'::interval", 36558000000000, "P1Y2M-3DT0H0M0S"),
        ("'-1 days +02:03:00.5'::interval", -79019500000, "P0Y0M-1DT2H3M0.5S"),
        ("'00:00:01.5'::interval", 1500000, "P0Y0M0DT0H0M1.5S"),
        ("make_interval(days => 1)", 0, "P0Y0M0DT0H0M0S"),
    ],
)
def test_interval_defaults(expression, numeric_value, string_value):
    assert default(expression, "interval") == numeric_value
    assert default(expression, "interval", interval_handling_mode="string") == string_value


MOOD = TypeInfo(90001, "mood", "s", TypeKind.ENUM, enum_labels=("sad", "ok", "it''s"))


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'ok'::s.mood", "ok"),
        ("'ok'::mood", "ok"),
        ("'it''s'::s.mood", "it''s"),  # the quotes stay doubled
        ("(('s'::text || 'ad'::text))::s.mood", NONE),
        ("'ok'::s.other", NONE),
        ("NULL::s.mood", NONE),
    ],
)
def test_enum_defaults_are_literals_of_their_own_type(expression, value):
    assert default(expression, MOOD) == value


def test_domains_have_no_default_and_no_expression_is_no_default():
    price = TypeInfo(90002, "price", "s", TypeKind.DOMAIN, base=builtin("numeric"), typmod=numeric(10, 2))
    assert default("3.5", price) == NONE
    assert default(None, "int4") == NONE
