"""Arrays, hstore, point and PostGIS values (rules cited in bridge/convert/values_structured.py;
expected values from Debezium's AbstractRecordsProducerTest where noted). Converters return
Connect values: BYTES are `bytes`, written here as `b64(<the base64 Debezium's JSON shows>)`."""

from base64 import b64decode as b64

import msgspec
import pytest
from msgspec import Raw

from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind
from bridge.convert.values import ColumnConverter, converter_for
from bridge.convert.values_structured import (
    java_hashmap_order,
    parse_array,
    parse_hstore,
)


def conv(type_info: TypeInfo | int, typmod: int = -1, **options: object) -> ColumnConverter:
    t = BUILTIN_TYPES[type_info] if isinstance(type_info, int) else type_info
    c = converter_for(t, typmod, ConversionOptions(**options))  # type: ignore[arg-type]
    assert c is not None
    return c


HSTORE = TypeInfo(16700, "hstore", "public")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("{}", []),
        ("{1,2,3}", [b"1", b"2", b"3"]),
        ('{"a b","c\\"d","e\\\\f",NULL,"NULL",""}', [b"a b", b'c"d', b"e\\f", None, b"NULL", b""]),
        ("{{1,2},{3,NULL}}", [[b"1", b"2"], [b"3", None]]),
        ("[0:1]={7,8}", [b"7", b"8"]),
        ('{"(1,2),(0,0)";"(3,3),(1,1)"}', [b"(1,2),(0,0)", b"(3,3),(1,1)"]),
    ],
)
def test_parse_array(text, parsed):
    delim = ";" if ";" in text else ","
    assert parse_array(text, delim) == parsed


def test_arrays_convert_each_element():
    # AbstractRecordsProducerTest.schemasAndValuesForArrayTypes
    assert conv(1007).convert(b"{1,2,NULL}") == [1, 2, None]
    assert conv(1007).schema == {"type": "array", "items": {"type": "int32", "optional": True}, "optional": False}
    assert conv(1014).convert(b'{"cone      ","ctwo      "}') == ["cone      ", "ctwo      "]
    assert conv(1182).convert(b"{2016-11-04,2016-11-05}") == [17109, 17110]
    numeric = conv(1231, (10 << 16 | 2) + 4)
    assert numeric.convert(b"{1.20,3.40}") == [b64("eA=="), b64("AVQ=")]  # 120, 340
    assert numeric.schema["items"]["parameters"] == {"scale": "2", "connect.decimal.precision": "10"}
    assert conv(1231).convert(b"{1.1,2.22}") == [{"scale": 1, "value": b64("Cw==")},
                                                  {"scale": 2, "value": b64("AN4=")}]
    assert conv(1185).convert(b'{"2020-04-01 11:51:02+00"}') == ["2020-04-01T11:51:02.000000Z"]
    assert conv(3807).convert(b'{"{\\"bar\\": \\"baz\\"}"}') == ['{"bar": "baz"}']
    assert conv(1001).convert(b'{"\\\\x000102","\\\\x030405"}') == [b64("AAEC"), b64("AwQF")]
    assert conv(1001, binary_handling_mode="hex").convert(b'{"\\\\x000102"}') == ["000102"]


def test_multidimensional_arrays_give_one_null_per_sub_array():
    assert conv(1007).convert(b"{{1,2},{3,4}}") == [None, None]


def test_time_array_elements_lose_sub_millisecond_digits():
    # PgArray hands java.sql.Time (ms) to Debezium
    assert conv(1183).convert(b"{00:01:02.123456}") == [62_123_000]
    assert conv(1270).convert(b'{"13:51:30.123789+02"}') == ["11:51:30.123Z"]


def test_unsupported_and_unknown_arrays():
    options = ConversionOptions(include_unknown_datatypes=True)
    for oid in (791, 1187, 143, 1017, 1561):  # money[], interval[], xml[], point[], bit[]
        assert converter_for(BUILTIN_TYPES[oid], -1, options) is None
    circle_array = TypeInfo(719, "_circle", kind=TypeKind.ARRAY, element=TypeInfo(718, "circle"))
    assert converter_for(circle_array, -1, ConversionOptions()) is None
    assert conv(circle_array, include_unknown_datatypes=True).convert(b'{"<(0,0),1>"}') == [b64("PCgwLDApLDE+")]


def test_enum_and_domain_arrays():
    mood = TypeInfo(16500, "mood", "public", TypeKind.ENUM, enum_labels=("sad", "happy"))
    moods = TypeInfo(16501, "_mood", "public", TypeKind.ARRAY, element=mood)
    c = conv(moods)
    assert c.convert(b"{sad,happy}") == ["sad", "happy"]
    assert c.schema["items"]["parameters"] == {"allowed": "sad,happy"}
    assert c.schema["items"]["optional"] is False  # golden: arr.amood items are required
    domain = TypeInfo(16600, "posint", "public", TypeKind.DOMAIN, base=BUILTIN_TYPES[23])
    domains = TypeInfo(16601, "_posint", "public", TypeKind.ARRAY, element=domain)
    assert converter_for(domains, -1, ConversionOptions()) is None  # no JDBC type for the element
    assert conv(domains, include_unknown_datatypes=True).convert(b"{1}") == [b64("MQ==")]


def test_parse_hstore():
    text = '"a"=>"1", "b \\"q\\""=>NULL, "c"=>"x\\\\y"'
    assert parse_hstore(text) == [("a", "1"), ('b "q"', None), ("c", "x\\y")]
    assert parse_hstore("") == []


def test_java_hashmap_order():
    # checked against java.util.HashMap on JDK 17
    assert java_hashmap_order(["key4", "key5"]) == ["key5", "key4"]
    assert java_hashmap_order([f"k{i * 7}é" for i in range(40)])[:5] == ["k203é", "k126é", "k259é", "k217é", "k49é"]


def test_hstore_json_and_map_modes():
    # AbstractRecordsProducerTest.schemaAndValueFieldForJsonEncodedHStoreType*
    json_mode = conv(HSTORE)
    assert json_mode.schema["name"] == "io.debezium.data.Json"
    assert json_mode.convert(b'"key4"=>"val4", "key5"=>NULL') == '{"key5":null,"key4":"val4"}'
    assert json_mode.convert(b'"key_#1"=>"val 1", "key 2"=>" ##123 78"') == '{"key_#1":"val 1","key 2":" ##123 78"}'
    assert json_mode.convert(b'"t"=>"a\\"b\\\\c\nd\x01"') == '{"t":"a\\"b\\\\c\\nd\\u0001"}'
    map_mode = conv(HSTORE, hstore_handling_mode="map")
    assert map_mode.convert(b'"key1"=>"val1", "key2"=>NULL') == {"key1": "val1", "key2": None}
    assert map_mode.schema == {
        "type": "map",
        "keys": {"type": "string", "optional": False},
        "values": {"type": "string", "optional": True},
        "optional": False,
    }
    assert conv(HSTORE).toast == '{"__debezium_unavailable_value":"__debezium_unavailable_value"}'


def test_point():
    c = conv(600)
    # Point.createValue(schema, 1, 1): WKB 01 01000000 <1.0 LE> <1.0 LE>
    wkb = b64("AQEAAAAAAAAAAADwPwAAAAAAAPA/")
    assert c.convert(b"(1,1)") == {"x": Raw(b"1.0"), "y": Raw(b"1.0"), "wkb": wkb, "srid": None}
    assert [f["field"] for f in c.schema["fields"]] == ["x", "y", "wkb", "srid"]
    assert c.schema["doc"] == "Geometry (POINT)" and c.schema["fields"][0]["type"] == "double"


def test_postgis_keeps_whole_ewkb_and_reads_srid():
    geometry = conv(TypeInfo(17000, "geometry", "public"))
    # 'SRID=3187;POINT(174.9479 -36.7208)' (AbstractRecordsProducerTest.schemaAndValuesForPostgisTypes)
    value = geometry.convert(b"0101000020730C00001C7C613255DE6540787AA52C435C42C0")
    assert value == {"wkb": b64("AQEAACBzDAAAHHxhMlXeZUB4eqUsQ1xCwA=="), "srid": 3187}
    assert geometry.schema["optional"] is True and geometry.schema["name"] == "io.debezium.data.geometry.Geometry"
    geography = conv(TypeInfo(17001, "geography", "public"))
    assert geography.convert(b"010700000000000000") == {"wkb": b64("AQcAAAAAAAAA"), "srid": None}
    assert geography.schema["optional"] is False


def test_extension_string_types():
    assert conv(TypeInfo(17100, "citext", "public")).convert(b"MiXed") == "MiXed"
    ltree = conv(TypeInfo(17200, "ltree", "public"))
    assert ltree.schema["name"] == "io.debezium.data.Ltree" and ltree.convert(b"Top.Science") == "Top.Science"


# --- geometric types (Debezium 3.7; values and schemas from the golden capture, rng_geo) ------


def _json(value) -> str:
    return msgspec.json.encode(value).decode()


@pytest.mark.parametrize(
    ("oid", "raw", "json"),
    [
        (628, b"{1,-1,0}", '{"a":1.0,"b":-1.0,"c":0.0}'),
        (628, b"{0,1,-2.5}", '{"a":0.0,"b":1.0,"c":-2.5}'),
        (601, b"[(0,0),(1,1)]", ('{"wkb":"AQIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8=","srid":null,'
                                 '"extensions":{"type":"lseg"}}')),
        (603, b"(1,1),(0,0)", ('{"wkb":"AQMAAAABAAAABQAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAADwPwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
                               'AAAAAAAAAAAAAAAA8D8AAAAAAADwPwAAAAAAAPA/","srid":null,"extensions":{"type":"box"}}')),
        (602, b"[(0,0),(1,1),(2,0)]", ('{"wkb":"AQIAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAAA",'
                                       '"srid":null,"extensions":{"type":"path","closed":"false"}}')),
        (602, b"((0,0),(1,1))", ('{"wkb":"AQIAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8=","srid":null,'
                                 '"extensions":{"type":"path","closed":"true"}}')),
        (604, b"((0,0),(1,1),(2,0))", ('{"wkb":"AQMAAAABAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADwPwAAAAAAAPA/AAAAAAAAAEAA'
                                       'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","srid":null,"extensions":{"type":"polygon"}}')),
        (718, b"<(1,2),3>", '{"center":{"x":1.0,"y":2.0,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null},"radius":3.0}'),
    ],
)
def test_geometric_values(oid, raw, json):
    assert _json(conv(oid).convert(raw)) == json


def test_geometric_schemas():
    line, lseg, circle = conv(628).schema, conv(601).schema, conv(718).schema
    assert (line["name"], line["version"], line["doc"]) == ("io.debezium.data.geometry.Line", 1, "Geometry (LINE)")
    assert [(f["field"], f["type"], f["optional"]) for f in line["fields"]] == [
        ("a", "double", False), ("b", "double", False), ("c", "double", False)]
    assert (lseg["name"], lseg["version"], lseg["doc"]) == ("io.debezium.data.geometry.Geometry", 2, "Geometry")
    assert lseg["fields"][2] == {"type": "map", "keys": {"type": "string", "optional": False},
                                 "values": {"type": "string", "optional": False}, "optional": True,
                                 "field": "extensions"}
    assert conv(603).schema == conv(602).schema == conv(604).schema == lseg
    assert circle["name"] == "io.debezium.data.geometry.Circle" and circle["doc"] == "Geometry (CIRCLE)"
    assert [f["field"] for f in circle["fields"]] == ["center", "radius"]
    assert circle["fields"][0]["name"] == "io.debezium.data.geometry.Point"
