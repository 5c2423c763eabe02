"""Debezium's TimezoneConverter (`bridge.transform.timezone`): conversions around DST changes,
the include / exclude rules and their refusals. tests/integration/test_live_transforms_debezium.py
compares it with the running Debezium."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord
from bridge.transform.smt_settings import TransformSpec
from bridge.transform.timezone import TimezoneConverter
from tests.unit.builders import MINIMAL

MICRO = {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "version": 1}
ZONED = {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "version": 1}
ROW = {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": "id"}, {**MICRO, "field": "ts"},
                                    {**ZONED, "field": "tz"}], "optional": True, "name": "srv.public.t.Value"}
SOURCE = {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "table"},
                                       {"type": "int64", "optional": False, "field": "ts_ms"}],
          "optional": False, "name": "io.debezium.connector.postgresql.Source"}
ENVELOPE = {"type": "struct", "fields": [{**ROW, "field": "before"}, {**ROW, "field": "after"},
                                         {**SOURCE, "field": "source"}], "optional": False,
            "name": "srv.public.t.Envelope"}
ROW_VALUE = {"id": 1, "ts": 1711848600000000, "tz": "2024-03-31T01:30:00Z"}  # 2024-03-31 01:30 UTC


def convert(topic: str = "srv.public.t", **options: str) -> dict:
    step = TimezoneConverter(TransformSpec("tz", "io.debezium.transforms.TimezoneConverter",
                                           tuple({"converted.timezone": "Europe/Berlin", **options}.items())))
    envelope = {"before": None, "after": dict(ROW_VALUE), "source": {"table": "t", "ts_ms": 1711848600000}}
    return step(ConnectRecord(topic, None, None, ENVELOPE, envelope, [])).value  # type: ignore[return-value]


def test_all_time_fields_of_every_event_by_default():
    after = convert()["after"]
    # 01:30 read as Berlin local time (+01:00 then) is 00:30 UTC; the zoned value takes +01:00
    assert after == {"id": 1, "ts": 1711848600000000 - 3600 * 10**6, "tz": "2024-03-31T02:30:00+01:00"}


def test_offsets_and_gaps_and_overlaps():
    step = TimezoneConverter(TransformSpec("tz", "x", (("converted.timezone", "-03:30"),)))
    assert step._shift("io.debezium.time.ZonedTimestamp", "2024-01-01T00:00:00.5Z") == "2023-12-31T20:30:00.5-03:30"
    berlin = TimezoneConverter(TransformSpec("tz", "x", (("converted.timezone", "Europe/Berlin"),)))
    # 02:30 on 2024-03-31 does not exist in Berlin (the offset before the gap: +01:00); on
    # 2024-10-27 it exists twice (the earlier offset: +02:00)
    assert berlin._shift("io.debezium.time.Timestamp", 1711852200000) == 1711852200000 - 3600_000
    assert berlin._shift("io.debezium.time.Timestamp", 1729996200000) == 1729996200000 - 7200_000


def test_include_and_exclude_rules():
    assert convert(**{"include.list": "source:other"})["after"] == ROW_VALUE
    assert convert(**{"include.list": "source:t:after.tz"})["after"]["ts"] == ROW_VALUE["ts"]
    assert convert(**{"include.list": "topic:srv.public.t:ts"})["after"]["tz"] == ROW_VALUE["tz"]
    assert convert(**{"exclude.list": "srv.public.t:tz"})["after"]["tz"] == ROW_VALUE["tz"]
    assert convert(**{"exclude.list": "srv.public.t:tz"})["after"]["ts"] != ROW_VALUE["ts"]
    assert convert(**{"exclude.list": "topic:srv.public.t"})["after"] == ROW_VALUE  # matched, no field: left alone
    # a source epoch field only when a rule names it, shifted the other way
    got = convert(**{"include.list": "source:t:source.ts_ms"})
    # (01:30 UTC on 2024-03-31 is after the change: +02:00)
    assert got["source"]["ts_ms"] == 1711848600000 + 7200_000 and got["after"] == ROW_VALUE


@pytest.mark.parametrize("options, message", [
    ({}, "converted.timezone is missing"),
    ({"converted.timezone": "Mars/Olympus"}, "neither a geographic time zone"),
    ({"converted.timezone": "UTC", "include.list": "source:a", "exclude.list": "source:b"}, "both set"),
    ({"converted.timezone": "UTC", "include.list": "a:b:c:d:e"}, "invalid include.list format"),
])
def test_invalid_options_are_refused(options, message):
    from bridge.format.converter import converters_for
    from bridge.transform.chain import compile_chain
    from tests.unit.builders import events
    t = "debezium.transforms"
    props = {**MINIMAL, t: "tz", f"{t}.tz.type": "io.debezium.transforms.TimezoneConverter",
             **{f"{t}.tz.{k}": v for k, v in options.items()}}
    ev = events()
    with pytest.raises(ConfigError, match=message):
        compile_chain(config_from_properties(props).chain, converters_for(ev), ev.header_format)
