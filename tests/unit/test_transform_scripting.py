"""Debezium's scripting transforms, Filter and ContentBasedRouter (`bridge.transform.scripting`):
JVM languages refused at start, `language=python` expressions over the record."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.format.headers import ConnectHeader
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_chain, transform_props, transformed

FILTER, ROUTER = "io.debezium.transforms.Filter", "io.debezium.transforms.ContentBasedRouter"
ROW = struct_schema([field_schema("id", connect_schema("int32")),
                     field_schema("region", connect_schema("string", optional=True))], name="srv.public.t.Value",
                    optional=True)
VALUE = struct_schema([field_schema("before", ROW), field_schema("after", ROW),
                       field_schema("op", connect_schema("string"))], name="srv.public.t.Envelope")
KEY = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Key")


def record(op: str = "c", region: str | None = "eu", topic: str = "srv.public.t") -> ConnectRecord:
    after = None if op == "d" else {"id": 1, "region": region}
    return ConnectRecord(topic, KEY, {"id": 1}, VALUE, {"before": None, "after": after, "op": op},
                         [ConnectHeader("src", b"pg", connect_schema("string"), "pg"), ("raw", b"\x01")])


def step(cls: str, **options: str) -> dict[str, str]:
    return transform_props(("s", cls, {"language": "python", **options}))


def test_filter_keeps_a_record_its_condition_holds_for_and_drops_the_others():
    props = step(FILTER, condition="value['op'] in ('c', 'u') and keySchema['name'].endswith('.Key')")
    assert transformed(props, record("c"))[2]["payload"]["op"] == "c"
    assert transformed(props, record("d")) is None


def test_content_based_router_renames_the_topic_none_keeps_it():
    props = step(ROUTER, **{"topic.expression": "None if value['after'] is None else "
                                                "topic + '.' + (value['after']['region'] or 'none')"})
    assert transformed(props, record(region="eu"))[0] == "srv.public.t.eu"
    assert transformed(props, record(region=None))[0] == "srv.public.t.none"
    assert transformed(props, record("d"))[0] == "srv.public.t"


def test_headers_are_connect_values_where_pgbridge_keeps_them_else_bytes():
    props = step(ROUTER, **{"topic.expression": "headers['src'].value + '.' + str(header['raw'].value) + "
                                                "str(headers['raw'].schema) + headers['src'].schema['type']"})
    assert transformed(props, record())[0] == "pg.b'\\x01'Nonestring"


def test_comprehensions_see_the_record():
    props = step(FILTER, condition="any(v == 'eu' for v in value['after'].values())")
    assert transformed(props, record()) is not None


@pytest.mark.parametrize("mode, kept, evaluated", [("keep", True, False), ("drop", False, False),
                                                   ("evaluate", False, True), (None, True, False)])
def test_null_handling_mode_decides_for_tombstones(mode, kept, evaluated):
    options = {"condition": "value is None and topic.endswith('.t')"}
    if mode is not None:
        options["null.handling.mode"] = mode
    tombstone = record()._replace(value_schema=None, value=None)
    out = transformed(step(FILTER, **options), tombstone)
    assert (out is not None) == (kept or evaluated)


def test_topic_regex_limits_the_step_to_matching_topics():
    props = step(FILTER, condition="False", **{"topic.regex": r"srv\.public\.t"})
    assert transformed(props, record()) is None
    assert transformed(props, record(topic="srv.public.t2")) is not None  # not matched whole: passes


@pytest.mark.parametrize("cls, expression, words", [
    (FILTER, "value['nope']", "the expression failed on a record of srv.public.t: KeyError"),
    (FILTER, "None", "gave None"), (FILTER, "1", "gave 1"),
    (ROUTER, "42", "gave 42 for a record of srv.public.t, not a string"),
])
def test_a_failing_expression_fails_the_record(cls, expression, words):
    name = "condition" if cls == FILTER else "topic.expression"
    with pytest.raises(TransformFailed, match=words):
        transformed(step(cls, **{name: expression}), record())


def test_with_errors_tolerance_all_a_failing_record_is_skipped():
    from bridge.format.converter import converters_for
    from bridge.transform.chain import compile_chain
    from tests.unit.builders import events
    spec = config_from_properties({**MINIMAL, **step(FILTER, condition="value['nope']")}).chain
    ev = events()
    assert compile_chain(spec, converters_for(ev), ev.header_format, tolerate=True).run(record()) is None
    assert transform_chain(step(FILTER, condition="True")).run(record()) is not None


@pytest.mark.parametrize("cls, options, words", [
    (FILTER, {"language": "jsr223.groovy", "condition": "value.op == 'u'"},
     "transform 's' (io.debezium.transforms.Filter): debezium.transforms.s.language=jsr223.groovy runs on the JVM, "
     "which pgbridge has not: use language=python (pgbridge) or keep Debezium"),
    (ROUTER, {"language": "jsr223.graal.js", "topic.expression": "'x'"},
     "(io.debezium.transforms.ContentBasedRouter): debezium.transforms.s.language=jsr223.graal.js runs on the JVM"),
    (ROUTER, {"language": "wasm.chicory", "topic.expression": "x"}, "wasm.chicory runs on the JVM"),
    (FILTER, {"language": "groovy", "condition": "x"}, "is not a language Debezium knows"),
    (FILTER, {"condition": "x"}, "debezium.transforms.s.language is missing"),
    (FILTER, {"language": "python"}, "debezium.transforms.s.condition is missing"),
    (ROUTER, {"language": "python", "topic.expression": "topic +"}, "topic.expression is not a Python expression"),
    (FILTER, {"language": "python", "condition": "x = 1"}, "condition is not a Python expression"),
    (FILTER, {"language": "python", "condition": "True", "null.handling.mode": "skip"},
     "null.handling.mode=skip is invalid"),
    (FILTER, {"language": "python", "condition": "True", "topic.regex": "("}, "topic.regex is not a valid"),
    (FILTER, {"language": "python", "expression": "True"}, "expression is not an option pgbridge honours"),
])
def test_what_pgbridge_cannot_run_is_refused_at_start_naming_transform_and_class(cls, options, words):
    with pytest.raises(ConfigError) as err:
        config_from_properties({**MINIMAL, **transform_props(("s", cls, options))})
    assert words in str(err.value)


def test_python_options_are_honoured():
    cfg = config_from_properties({**MINIMAL, **step(ROUTER, **{"topic.expression": "topic",
                                                               "null.handling.mode": "drop"})})
    honoured = {v.key for v in cfg.keys.honoured}
    assert {"debezium.transforms.s.language", "debezium.transforms.s.topic.expression",
            "debezium.transforms.s.null.handling.mode"} <= honoured
