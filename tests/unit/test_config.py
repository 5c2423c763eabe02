"""Configuration: Debezium Server names, defaults, and one clear error per bad value."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties, load_config
from bridge.errors import ConfigError
from bridge.properties import parse_properties
from tests.unit.builders import MINIMAL


def with_(**overrides: str) -> dict[str, str]:
    props = dict(MINIMAL)
    props.update({k.replace("__", "."): v for k, v in overrides.items()})
    return props


def test_properties_format_follows_java():
    text = "# comment\n! also\na.b = 1\nc:2\nd 3\ne=x\\\n   y\nf=\\u0041\\tz\ng=\n"
    assert parse_properties(text) == {"a.b": "1", "c": "2", "d": "3", "e": "xy", "f": "A\tz", "g": ""}


def test_properties_bad_unicode_escape_names_line():
    with pytest.raises(ValueError, match=r"app.properties:2: malformed \\u escape"):
        parse_properties("a=1\nb=\\u12\n", "app.properties")


def test_minimal_config_gets_debezium_defaults():
    cfg = config_from_properties(MINIMAL)
    assert cfg.postgres.port == 5432
    assert cfg.postgres.sslmode == "prefer"
    assert cfg.replication.slot_name == "debezium"
    assert cfg.replication.publication_name == "dbz_publication"
    assert cfg.replication.publication_autocreate_mode == "all_tables"
    assert cfg.events.topic_prefix == "shop"
    assert cfg.events.tombstones_on_delete is True
    assert cfg.events.skipped_operations == {"t"}
    assert cfg.events.key_schemas_enable and cfg.events.value_schemas_enable
    assert cfg.conversion.decimal_handling_mode == "precise"
    assert not cfg.keys.refused and not cfg.keys.ignored
    assert cfg.pipeline.producers >= 1
    assert cfg.pipeline.partitioner == "mmh3"
    assert cfg.pipeline.salt == b""


def test_per_topic_salts():
    cfg = config_from_properties(with_(bridge__partition__salt="s1", **{"bridge.partition.salt.shop.public.orders": "s2"}))
    assert cfg.pipeline.salt == b"s1"
    assert cfg.pipeline.salts == {"shop.public.orders": b"s2"}
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_producer_settings_force_durability_and_drop_java_only_keys():
    cfg = config_from_properties(
        with_(
            debezium__sink__kafka__producer__key__serializer="org.apache.kafka.common.serialization.StringSerializer",
            debezium__sink__kafka__producer__linger__ms="5",
        )
    )
    assert cfg.kafka.connection.settings["bootstrap.servers"] == "127.0.0.1:9092"
    assert cfg.kafka.producer.settings["enable.idempotence"] == "true"
    assert cfg.kafka.producer.settings["acks"] == "all"
    assert cfg.kafka.producer.settings["linger.ms"] == "5"
    assert "key.serializer" not in {**cfg.kafka.connection.settings, **cfg.kafka.producer.settings}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("debezium.source.database.port", "abc", r"debezium\.source\.database\.port='abc' is not an integer"),
        ("debezium.source.database.port", "70000", r"database\.port='70000' is out of range: allowed 1\.\.65535"),
        ("debezium.source.tombstones.on.delete", "yes", r"tombstones\.on\.delete='yes' is invalid: allowed values are true, false"),
        ("debezium.source.slot.name", "My-Slot", r"slot\.name='My-Slot' is invalid"),
        ("debezium.source.publication.autocreate.mode", "some", r"allowed values are all_tables, disabled, filtered, no_tables"),
        ("debezium.source.plugin.name", "decoderbufs", r"plugin\.name='decoderbufs' is not supported"),
        ("debezium.sink.type", "kinesis", r"debezium\.sink\.type='kinesis' is invalid"),
        ("debezium.sink.kafka.producer.acks", "1", r"producer\.acks='1' is invalid: pgbridge requires acks=all"),
        ("debezium.source.decimal.handling.mode", "float", r"decimal\.handling\.mode"),
        ("debezium.source.skipped.operations", "x", r"skipped\.operations='x' is invalid"),
        ("bridge.producers", "0", r"bridge\.producers='0' is out of range: allowed 1\.\.256"),
        ("bridge.ring.bytes", "1048577", r"bridge\.ring\.bytes=1048577 is invalid: it must be a multiple of 8"),
        ("bridge.partitioner", "crc", r"bridge\.partitioner='crc' is invalid: allowed values are mmh3, murmur2"),
        ("debezium.source.snapshot.mode", "configuration_based",
         r"snapshot\.mode='configuration_based' is not supported by pgbridge: use initial, always"),
        ("debezium.source.snapshot.include.collection.list", "public\\.(a",
         r"snapshot\.include\.collection\.list='public\\\\.\(a' is invalid: .* is not a regular expression"),
        ("debezium.source.max.queue.size", "lots", r"max\.queue\.size='lots' is not an integer"),
        ("bridge.read.coalesce.ms", "-1", r"bridge\.read\.coalesce\.ms='-1' is out of range: allowed 0\.\.1000"),
        ("debezium.source.field.name.adjustment.mode", "avro2",
         r"field\.name\.adjustment\.mode='avro2' is invalid: allowed values are none, avro, avro_unicode"),
    ],
)
def test_invalid_values_name_key_value_and_allowed(key, value, message):
    props = dict(MINIMAL)
    props[key] = value
    with pytest.raises(ConfigError, match=message):
        config_from_properties(props)


def test_name_adjustment_modes_are_read_case_insensitively():
    cfg = config_from_properties({**MINIMAL, "debezium.source.schema.name.adjustment.mode": "AVRO",
                                  "debezium.source.field.name.adjustment.mode": "avro_unicode"})
    assert (cfg.events.schema_name_adjustment, cfg.events.field_name_adjustment) == ("avro", "avro_unicode")
    assert config_from_properties(MINIMAL).events.field_name_adjustment == "none"


def test_missing_required_key_is_named():
    props = dict(MINIMAL)
    del props["debezium.source.topic.prefix"]
    with pytest.raises(ConfigError, match=r"debezium\.source\.topic\.prefix is required"):
        config_from_properties(props)


def test_unknown_keys_stop_the_start_one_line_each():
    props = with_(debezium__source__no__such__key="1", bridge__typo="x")
    with pytest.raises(ConfigError) as refused:
        config_from_properties(props)
    lines = str(refused.value).splitlines()
    assert [line.split(" is refused: ")[0] for line in lines] == ["debezium.source.no.such.key", "bridge.typo"]
    assert all("not a setting pgbridge knows" in line for line in lines)
    report = config_from_properties(props, refuse=False).keys
    assert [v.key for v in report.refused] == ["debezium.source.no.such.key", "bridge.typo"]
    assert "debezium.source.topic.prefix" in [v.key for v in report.honoured]


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.properties")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)  # a directory


CONNECT_JSON = """{
  "name": "inventory-connector",
  "config": {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "tasks.max": "1",
    "plugin.name": "pgoutput",
    "database.hostname": "db.example",
    "database.port": 5433,
    "database.user": "u",
    "database.password": "p",
    "database.dbname": "inventory",
    "topic.prefix": "shop",
    "tombstones.on.delete": false,
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "producer.override.linger.ms": "7",
    "bridge.producers": "3"
  }
}"""


def test_kafka_connect_json_is_accepted_with_bootstrap_from_the_command_line(tmp_path):
    path = tmp_path / "connector.json"
    path.write_text(CONNECT_JSON)
    cfg = load_config(path, bootstrap_servers="k1:9092,k2:9092")
    assert cfg.postgres.port == 5433 and cfg.postgres.dbname == "inventory"
    assert cfg.events.topic_prefix == "shop"
    assert cfg.events.tombstones_on_delete is False
    assert cfg.events.key_schemas_enable is False and cfg.events.value_schemas_enable is True
    assert cfg.kafka.connection.settings["bootstrap.servers"] == "k1:9092,k2:9092"
    assert cfg.kafka.producer.settings["linger.ms"] == "7"
    assert cfg.pipeline.producers == 3
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_kafka_connect_json_errors_name_the_keys_as_written(tmp_path):
    path = tmp_path / "connector.json"
    path.write_text(CONNECT_JSON.replace('"database.port": 5433', '"database.port": "x"'))
    with pytest.raises(ConfigError, match=r"^database\.port='x' is not an integer"):
        load_config(path, bootstrap_servers="k:9092")
    path.write_text(CONNECT_JSON)
    with pytest.raises(ConfigError, match=r"^bridge\.kafka\.bootstrap\.servers \(or --bootstrap-servers\) is required"):
        load_config(path)
    path.write_text(CONNECT_JSON.replace('"tasks.max": "1"', '"tasks.max": "4"'))
    assert "tasks.max" in [v.key for v in load_config(path, bootstrap_servers="k:9092").keys.honoured]
    path.write_text(CONNECT_JSON.replace('"tasks.max": "1"', '"tasks.max": "0"'))
    with pytest.raises(ConfigError, match=r"^tasks\.max='0' is out of range"):
        load_config(path, bootstrap_servers="k:9092")
    path.write_text(CONNECT_JSON.replace('"plugin.name": "pgoutput"', '"plugin.name": "decoderbufs", "colour": "red"'))
    with pytest.raises(ConfigError, match=r"^plugin\.name='decoderbufs' is not supported"):
        load_config(path, bootstrap_servers="k:9092")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


def test_kafka_connect_json_unknown_keys_are_named_as_written(tmp_path):
    path = tmp_path / "connector.json"
    path.write_text(CONNECT_JSON.replace('"tasks.max": "1"', '"tasks.max": "1", "colour": "red"'))
    with pytest.raises(ConfigError, match=r"^colour is refused: not a setting pgbridge knows"):
        load_config(path, bootstrap_servers="k:9092")


def test_lsn_flush_mode_and_its_legacy_alias():
    assert config_from_properties(MINIMAL).replication.flush_lsn is True
    assert config_from_properties(with_(debezium__source__lsn__flush__mode="manual")).replication.flush_lsn is False
    assert config_from_properties(with_(debezium__source__flush__lsn__source="false")).replication.flush_lsn is False
    with pytest.raises(ConfigError, match=r"lsn\.flush\.mode='sometimes' is invalid: allowed values are connector, "):
        config_from_properties(with_(debezium__source__lsn__flush__mode="sometimes"))


def test_debezium_tuning_keys_without_meaning_here_are_accepted_quietly():
    cfg = config_from_properties(with_(debezium__source__max__batch__size="4096",
                                       debezium__source__offset__storage__file__filename="data/offsets.dat"))
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_http_status_keys_accept_debezium_servers_quarkus_names():
    cfg = config_from_properties({**MINIMAL, "quarkus.http.port": "9999", "quarkus.http.host": "0.0.0.0"})
    assert (cfg.http.enabled, cfg.http.host, cfg.http.port) == (True, "0.0.0.0", 9999)
    assert not cfg.keys.refused and not cfg.keys.ignored
    cfg = config_from_properties({**MINIMAL, "quarkus.http.port": "9999", "bridge.http.port": "0",
                                  "bridge.http.enabled": "false"})
    assert (cfg.http.enabled, cfg.http.host, cfg.http.port) == (False, "127.0.0.1", 0)
    assert config_from_properties(dict(MINIMAL)).http.port == 8080
    with pytest.raises(ConfigError, match=r"quarkus\.http\.port='70000' is out of range: allowed 0\.\.65535"):
        config_from_properties({**MINIMAL, "quarkus.http.port": "70000"})


def test_debezium_spellings_it_accepts():
    cfg = config_from_properties({**MINIMAL, "debezium.source.plugin.name": "PGOUTPUT",
                                  "debezium.source.skipped.operations": "r,t", "debezium.source.max.queue.size": "8192"})
    assert cfg.events.skipped_operations == {"r", "t"}
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_kafka_connect_json_in_every_form_people_post(tmp_path):
    """Wrapped, flat (PUT body), name inside config, numbers and booleans as values."""
    wrapped = json.loads(CONNECT_JSON)
    flat = {"name": "inventory-connector", **wrapped["config"]}
    nameless = dict(wrapped["config"])
    repeated = {"name": "inventory-connector", "config": flat}
    path = tmp_path / "c.json"
    seen = []
    for doc in (wrapped, flat, nameless, repeated):
        path.write_text(json.dumps(doc))
        cfg = load_config(path, bootstrap_servers="k:9092")
        seen.append((cfg.postgres.port, cfg.events.tombstones_on_delete,
                     next((v.key for v in cfg.keys.honoured if v.key == "name"), None)))
    assert seen == [(5433, False, "name"), (5433, False, "name"), (5433, False, None), (5433, False, "name")]
    path.write_text(json.dumps({"name": "a", "config": {**flat, "name": "b"}}))
    with pytest.raises(ConfigError, match=r"\"name\" is 'a' but config\.name is 'b'"):
        load_config(path, bootstrap_servers="k:9092")
    path.write_text(json.dumps({**flat, "database.port": [5432]}))
    with pytest.raises(ConfigError, match=r"database\.port is a JSON list"):
        load_config(path, bootstrap_servers="k:9092")


def test_kafka_connect_standalone_properties_are_read_as_connect_settings(tmp_path):
    path = tmp_path / "connector.properties"
    config = json.loads(CONNECT_JSON)["config"]
    path.write_text("name=inventory-connector\n" + "".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}\n"
                                                         for k, v in config.items()))
    cfg = load_config(path, bootstrap_servers="k:9092")
    assert cfg.postgres.port == 5433 and cfg.events.key_schemas_enable is False
    assert cfg.kafka.producer.settings["linger.ms"] == "7"
    assert not cfg.keys.refused and not cfg.keys.ignored


def test_kafka_settings_librdkafka_cannot_take_are_refused_one_line_each():
    props = with_(**{"debezium.sink.kafka.producer.ssl.enabled.protocols": "TLSv1.2",
                     "debezium.sink.kafka.producer.compression.type": "foo",
                     "debezium.sink.kafka.producer.max.request.size": "1048576",
                     "debezium.sink.kafka.producer.linger.ms": "5"})
    with pytest.raises(ConfigError) as refused:
        config_from_properties(props)
    lines = str(refused.value).splitlines()
    assert [line.split(" is refused: ")[0] for line in lines] == [
        "debezium.sink.kafka.producer.compression.type", "debezium.sink.kafka.producer.ssl.enabled.protocols",
        "debezium.sink.kafka.producer.max.request.size"]
    assert 'No such configuration property: "ssl.enabled.protocols"' in lines[1]
    assert 'No such configuration property: "max.request.size"' in lines[2]


def test_debezium_server_log_keys():
    assert config_from_properties({**MINIMAL, "quarkus.log.level": "warn"}).logging.level == "WARNING"
    assert config_from_properties({**MINIMAL, "quarkus.log.console.json": "false"}).logging.level is None
    with pytest.raises(ConfigError, match=r"^quarkus\.log\.console\.json=true is refused: pgbridge writes plain"):
        config_from_properties({**MINIMAL, "quarkus.log.console.json": "true"})
    with pytest.raises(ConfigError, match=r"^quarkus\.log\.category\.\"io\.debezium\"\.level is refused"):
        config_from_properties({**MINIMAL, 'quarkus.log.category."io.debezium".level': "DEBUG"})


@pytest.mark.parametrize("key, verdict, words", [
    ("debezium.source.schema.history.internal.kafka.topic", "ignored", "keeps none"),
    ("debezium.source.database.history.kafka.topic", "ignored", "removed in Debezium 2.0"),
    ("debezium.source.database.server.name", "ignored", "topic.prefix names the topics"),
    ("debezium.source.heartbeat.topics.prefix", "ignored", "topic.heartbeat.prefix names it"),
    ("debezium.source.include.schema.changes", "ignored", "no schema change events"),
    ("connect.errors.deadletterqueue.topic.name", "ignored", "sink connectors"),
    ("debezium.sink.kafka.something", "ignored", "reads only producer.*"),
    ("log.level", "ignored", "reads only debezium.* and quarkus.*"),
    ("debezium.source.table.whitelist", "refused", "use the *.include.list"),
    ("debezium.source.database.include.list", "refused", "captures no table"),
    ("debezium.source.database.sslfactory", "refused", "database.sslmode=require"),
    ("debezium.source.database.ApplicationName", "refused", "libpq, not pgjdbc"),
    ("debezium.source.driver.loginTimeout", "refused", "libpq, not pgjdbc"),
    ("debezium.source.converters", "refused", "Java classes"),
    ("debezium.source.slot.max.retries", "refused", "bridge.connect.attempts"),
    ("debezium.source.internal.slot.seek.to.known.offset.on.start", "refused", "internal Debezium setting"),
    ('quarkus.log.category."io.debezium".level', "refused", "not a Quarkus application"),
    ("debezium.sink.pubsub.project.id", "refused", "Kafka only"),
    ("debezium.transforms.unwrap.type", "refused", "not a setting pgbridge knows"),  # of no listed alias
    ("debezium.source.no.such.thing", "refused", "not a setting pgbridge knows"),
])
def test_keys_no_section_reads_are_judged_by_debeziums_own_treatment(key, verdict, words):
    from bridge.config.keys import judge

    got, why = judge(key)
    assert got == verdict and words in why


@pytest.mark.parametrize("key, value, honoured", [
    ("snapshot.isolation.mode", "repeatable_read", True), ("snapshot.isolation.mode", "read_committed", False),
    ("snapshot.locking.mode", "none", True), ("snapshot.locking.mode", "shared", False),
    ("topic.naming.strategy", "io.debezium.schema.SchemaTopicNamingStrategy", True),
    ("topic.naming.strategy", "io.debezium.schema.DefaultTopicNamingStrategy", False),
    ("streaming.delay.ms", "0", True), ("streaming.delay.ms", "500", False),
    ("table.ignore.builtin", "false", True), ("max.queue.size", "16384", True),
])
def test_debezium_keys_honoured_at_some_values_only(key, value, honoured):
    props = with_(**{"debezium.source." + key: value})
    if honoured:
        cfg = config_from_properties(props)
        assert "debezium.source." + key in [v.key for v in cfg.keys.honoured]
    else:
        with pytest.raises(ConfigError, match=rf"^debezium\.source\.{key.replace('.', '[.]')}='{value}' is refused: "):
            config_from_properties(props)


def test_postgres_tls_files_and_keepalive_reach_libpq():
    cfg = config_from_properties(with_(debezium__source__database__sslrootcert="/etc/ca.pem",
                                       debezium__source__database__sslcert="/etc/c.pem",
                                       debezium__source__database__tcpKeepAlive="false"))
    kwargs = cfg.postgres.dsn_kwargs()
    assert (kwargs["sslrootcert"], kwargs["sslcert"], kwargs["keepalives"]) == ("/etc/ca.pem", "/etc/c.pem", 0)
    assert "sslkey" not in kwargs and config_from_properties(MINIMAL).postgres.dsn_kwargs()["keepalives"] == 1


def test_debezium_server_format_keys_for_both_converters():
    cfg = config_from_properties(with_(debezium__format__schemas__enable="false",
                                       debezium__format__value__schemas__enable="true"))
    assert (cfg.events.key_schemas_enable, cfg.events.value_schemas_enable) == (False, True)
