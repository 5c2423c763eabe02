"""The sink benchmark's record formats: what `bridge run` writes the topic with, and the converter
keys both sinks read it with (`native_bench.sink_bench --format`)."""

from __future__ import annotations

import json

from bridge.config import config_from_properties
from bridge.sink.files import read_sink_file, sink_config
from native_bench.sink_bench import (APICURIO, jdbc_sink_arguments, median_run, sink_converters, source_formats,
                                     summary)
from tests.unit.builders import MINIMAL

CCOMPAT = "http://127.0.0.1:18081/apis/ccompat/v7"


def test_json_changes_nothing_in_either_sink_nor_in_the_source():
    assert source_formats("json", None) == {}
    assert sink_converters("json", None) == {}
    assert jdbc_sink_arguments({}) == []


def test_avro_source_keys_are_the_parity_tests_and_make_bridge_run_write_avro_through_the_registry():
    keys = source_formats("avro", CCOMPAT)
    assert keys == {"debezium.format.key": "avro", "debezium.format.key.schema.registry.url": CCOMPAT,
                    "debezium.format.value": "avro", "debezium.format.value.schema.registry.url": CCOMPAT}
    events = config_from_properties({**MINIMAL, **keys}).events
    assert events.key_format.avro.urls == (CCOMPAT,)
    assert events.value_format.avro.urls == (CCOMPAT,)


def test_avro_sink_converters_are_apicurios_confluent_mode_on_the_same_registry_and_bridge_sink_reads_them(
        tmp_path):
    converters = sink_converters("avro", CCOMPAT)
    for side in ("key", "value"):
        assert converters[f"{side}.converter"] == APICURIO
        assert converters[f"{side}.converter.apicurio.registry.url"] == "http://127.0.0.1:18081/apis/registry/v2"
        assert converters[f"{side}.converter.apicurio.registry.as-confluent"] == "true"
        assert converters[f"{side}.converter.apicurio.registry.use-id"] == "contentId"
    path = tmp_path / "sink.json"
    path.write_text(json.dumps({"name": "bench", "config": {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "sb.public.sb_rows",
        "connection.url": "jdbc:postgresql://127.0.0.1:5432/target", "bridge.kafka.bootstrap.servers": "127.0.0.1:9092",
        **converters}}))
    config, keys = sink_config(read_sink_file(path), 1)
    assert keys.refused == ()
    # bridge sink reads the ids of the registry's Confluent API, where pgbridge registered them
    assert config.key_avro.urls == (CCOMPAT,) and config.value_avro.urls == (CCOMPAT,)


def test_the_jdbc_sink_gets_the_same_converters_as_worker_keys_with_the_converters_plugin():
    converters = sink_converters("avro", CCOMPAT)
    args = jdbc_sink_arguments(converters)
    assert args[0] == "plugins=avro"
    assert args[1:] == [f"worker.{k}={v}" for k, v in converters.items()]


def test_the_summary_names_the_format():
    results = {"rows": 1000, "partitions": 2, "date": "20261207T131000Z", "systems": {}}
    assert "(Avro, schema registry, compression lz4)" in summary({**results, "format": "avro"}).splitlines()[0]
    assert "(JSON with schemas, compression none)" in summary(
        {**results, "format": "json", "compression": "none"}).splitlines()[0]


def test_a_systems_figures_are_its_median_runs_and_the_summary_lists_every_run():
    runs = [{"rows_per_s": r, "cpu_us_per_row": c, "pg_cpu_us_per_row": 2.0, "seconds": 1.0}
            for r, c in ((120, 9.0), (100, 11.0), (140, 8.0), (130, 8.5))]
    # the lower middle run of four by rows/s, its own CPU figure with it
    median = median_run(runs)
    assert (median["rows_per_s"], median["cpu_us_per_row"]) == (120, 9.0)
    assert median["runs_rows_per_s"] == [120, 100, 140, 130]
    assert median_run(runs[:3])["rows_per_s"] == 120 and "runs_rows_per_s" not in median_run(runs[:1])
    # a failed run is the system's figure: no median hides it
    assert median_run([runs[0], {"error": "boom"}]) == {"error": "boom"}
    text = summary({"rows": 1000, "partitions": 2, "date": "d", "systems": {"bridge-2": median}})
    assert "| bridge-2 | 120 (median of 120, 100, 140, 130) | 9.0 |" in text
