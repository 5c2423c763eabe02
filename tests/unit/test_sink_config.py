"""`bridge sink`'s configuration: a Debezium JDBC sink connector file read as it is, Debezium's
defaults, every key honoured or refused with one line, connection.url translated to libpq."""

from __future__ import annotations

import json

import pytest

from bridge.errors import ConfigError
from bridge.sink.files import read_sink_file, sink_config
from bridge.sink.jdbc_url import libpq_dsn
from bridge.sink.settings import FieldFilter

BASE = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "srv.public.t",
        "connection.url": "jdbc:postgresql://db.example:5433/target", "connection.username": "writer",
        "connection.password": "s3cret", "bridge.kafka.bootstrap.servers": "127.0.0.1:9092"}


def _config(tmp_path, extra: dict | None = None, *, wrapped: bool = True, workers: int | None = 1, refuse=True):
    settings = {**BASE, **(extra or {})}
    doc = {"name": "orders-sink", "config": settings} if wrapped else {"name": "orders-sink", **settings}
    path = tmp_path / "sink.json"
    path.write_text(json.dumps(doc))
    return sink_config(read_sink_file(path), workers, refuse=refuse)


def test_defaults_are_debeziums(tmp_path):
    config, keys = _config(tmp_path)
    assert (config.insert_mode, config.delete_enabled, config.truncate_enabled, config.pk_mode) == \
        ("insert", False, False, "none")
    assert (config.schema_evolution, config.table_format, config.quote_identifiers, config.batch_size) == \
        ("none", "${topic}", False, 500)
    assert (config.reduction, config.time_zone, config.key_schemas, config.value_schemas) == (False, "UTC", True, True)
    assert config.errors.tolerance == "none" and config.errors.flush_max_retries == 5
    assert config.group == "connect-orders-sink"
    assert config.offsets == "target" and config.ordering_guard == "lsn" and config.synchronous_commit
    assert config.consumer["enable.auto.commit"] == "false"
    assert config.consumer["partition.assignment.strategy"] == "cooperative-sticky"
    assert config.consumer["auto.offset.reset"] == "earliest"
    assert config.consumer["queued.min.messages"] == "1000"  # a pause drops little prefetched data
    assert config.consumer["heartbeat.interval.ms"] == "500"  # rebalances settle in about a second
    assert config.consumer["fetch.queue.backoff.ms"] == "20"  # the small queue is refilled at once
    assert keys.refused == () and len(keys.honoured) == len(BASE) + 1  # + name


def test_flat_json_and_properties_read_the_same(tmp_path):
    flat, _ = _config(tmp_path, wrapped=False)
    props = tmp_path / "sink.properties"
    props.write_text("name=orders-sink\n" + "".join(f"{k}={v}\n" for k, v in BASE.items()))
    from_props, _ = sink_config(read_sink_file(props), 1)
    assert flat == from_props


def test_connection_url_becomes_a_libpq_dsn_and_the_password_is_not_shown(tmp_path):
    config, _ = _config(tmp_path)
    assert config.dsn == "host=db.example port=5433 dbname=target user=writer password=s3cret"
    assert "s3cret" not in repr(config)


def test_jdbc_parameters_are_translated_or_refused():
    dsn = libpq_dsn("jdbc:postgresql://h1:1,[::1]/db?currentSchema=app&sslmode=require&ApplicationName=x", "url")
    assert dsn == ("host=h1,::1 port=1,5432 dbname=db options='-c search_path=app' sslmode=require "
                   "application_name=x")
    with pytest.raises(ConfigError, match="pgjdbc parameter 'prepareThreshold' has no libpq equivalent"):
        libpq_dsn("jdbc:postgresql://h/db?prepareThreshold=0", "url")
    with pytest.raises(ConfigError, match="writes to PostgreSQL only"):
        libpq_dsn("jdbc:mysql://h/db", "url")
    assert libpq_dsn("host=h dbname=d", "url", "u", "p") == "dbname=d host=h user=u password=p"


@pytest.mark.parametrize("extra, message", [
    ({"insert.mode": "upsert"}, "insert.mode=upsert needs primary.key.mode"),
    ({"delete.enabled": "true"}, "delete.enabled=true needs primary.key.mode=record_key or record_value"),
    ({"primary.key.mode": "record_header"}, "record_header is refused"),
    ({"schema.evolution": "validate-only"}, "validate-only is refused"),
    ({"topics.regex": "srv\\..*"}, "are both set"),
    ({"field.include.list": "a", "field.exclude.list": "b"}, "are both set"),
    ({"value.converter": "org.apache.kafka.connect.storage.StringConverter"}, "bridge sink reads JSON"),
    ({"collection.naming.strategy": "com.example.Naming"}, "a Java class bridge sink cannot load"),
    ({"consumer.override.enable.auto.commit": "true"}, "bridge sink requires enable.auto.commit=false"),
    ({"consumer.override.fetch.min.bytes": "lots"}, "consumer.override.fetch.min.bytes is refused: librdkafka says"),
    ({"enable.sces": "true"}, "enable.sces=true is refused"),
    ({"bridge.sink.offsets": "kafka", "bridge.sink.synchronous.commit": "false"},
     "bridge.sink.synchronous.commit=false needs bridge.sink.offsets=target"),
])
def test_unsupported_values_are_refused_naming_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, extra)


def test_unknown_and_unimplemented_keys_are_refused_one_line_each(tmp_path):
    extra = {"hibernate.c3p0.max_size": "3", "transforms": "unwrap", "no.such.key": "1",
             "dialect.sqlserver.identity.insert": "true"}
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, extra)
    lines = str(refused.value).splitlines()
    assert [line.split(" is refused")[0] for line in lines] == ["hibernate.c3p0.max_size", "transforms", "no.such.key"]
    _, keys = _config(tmp_path, extra, refuse=False)
    assert [v.key for v in keys.ignored] == ["dialect.sqlserver.identity.insert"]


def test_deprecated_aliases_and_consumer_overrides(tmp_path):
    config, keys = _config(tmp_path, {"table.name.format": "${source.schema}.${source.table}",
                                      "database.time_zone": "Europe/Paris",
                                      "consumer.override.max.poll.records": "100",
                                      "consumer.override.fetch.min.bytes": "1000",
                                      "value.converter.schemas.enable": "false"})
    assert config.table_format == "${source.schema}.${source.table}" and config.time_zone == "Europe/Paris"
    assert config.max_poll_records == 100 and config.consumer["fetch.min.bytes"] == "1000"
    assert config.value_schemas is False and keys.refused == ()


def test_fetch_settings_pass_through_by_librdkafkas_names(tmp_path):
    config, keys = _config(tmp_path, {"consumer.override.fetch.max.wait.ms": "250",
                                      "consumer.override.fetch.min.bytes": "65536",
                                      "consumer.override.max.poll.records": "2000"})
    assert config.consumer["fetch.wait.max.ms"] == "250" and "fetch.max.wait.ms" not in config.consumer
    assert config.consumer["fetch.min.bytes"] == "65536" and config.max_poll_records == 2000 and keys.refused == ()
    with pytest.raises(ConfigError, match="consumer.override.fetch.max.wait.ms and consumer.override.fetch.wait.max.ms "
                                          "are both set"):
        _config(tmp_path, {"consumer.override.fetch.max.wait.ms": "1", "consumer.override.fetch.wait.max.ms": "2"})
    # what librdkafka cannot express is refused by name
    with pytest.raises(ConfigError, match=r"consumer.override.exclude.internal.topics is refused: librdkafka says"):
        _config(tmp_path, {"consumer.override.exclude.internal.topics": "true"})


def test_flow_keys_and_their_defaults(tmp_path):
    config, _ = _config(tmp_path)
    flow = config.flow
    assert (flow.catchup_batch_size, flow.buffer_max_records, flow.lag_pause_messages, flow.lag_pause_ms) == \
        (5000, 15000, 5000, 120000)
    bigger, _ = _config(tmp_path, {"batch.size": "8000"})
    assert (bigger.flow.catchup_batch_size, bigger.flow.buffer_max_records) == (8000, 24000)
    set_, keys = _config(tmp_path, {"bridge.sink.buffer.max.records": "300", "bridge.sink.catchup.batch.size": "100",
                                    "bridge.sink.lag.pause.messages": "0", "bridge.sink.lag.pause.ms": "1000"})
    assert set_.flow == type(flow)(300, 100, 0, 1000) and keys.refused == ()
    with pytest.raises(ConfigError, match="bridge.sink.buffer.max.records='0' is out of range"):
        _config(tmp_path, {"bridge.sink.buffer.max.records": "0"})


SCRAM = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="{}" password="{}";'


def test_dead_letter_clients_connect_with_connects_producer_and_admin_overrides(tmp_path):
    """Connect's DLQ producer reads `producer.override.*`, its admin client `admin.override.*`;
    each over the consumer's connection (which stands in for the worker's)."""
    security = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                "ssl.truststore.type": "PEM", "ssl.truststore.location": "/etc/kafka/ca.pem"}
    config, keys = _config(tmp_path, {
        **{f"consumer.override.{k}": v for k, v in security.items()},
        "consumer.override.sasl.jaas.config": SCRAM.format("reader", "r-pw"),
        "producer.override.sasl.jaas.config": SCRAM.format("dlq-writer", "w-pw"),
        "admin.override.sasl.jaas.config": SCRAM.format("dlq-admin", "a-pw"),
        "producer.override.key.serializer": "org.apache.kafka.common.serialization.ByteArraySerializer"})
    assert keys.refused == ()
    common = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
              "ssl.ca.location": "/etc/kafka/ca.pem", "bootstrap.servers": "127.0.0.1:9092"}
    for connection, user, password in ((config.kafka, "reader", "r-pw"), (config.dlq_producer, "dlq-writer", "w-pw"),
                                       (config.dlq_admin, "dlq-admin", "a-pw")):
        assert connection.settings == {**common, "sasl.username": user, "sasl.password": password}
    assert "w-pw" not in repr(config) and "a-pw" not in repr(config)
    plain, _ = _config(tmp_path)
    assert plain.dlq_producer is None and plain.dlq_admin is None  # the consumer's connection


def test_dead_letter_overrides_beyond_the_connection_are_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, {"producer.override.acks": "1", "admin.override.ssl.protocol": "TLSv1.2",
                           "producer.override.linger.ms": "5"})
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("producer.override.acks is refused: bridge sink takes only connection and security")
    assert lines[1].startswith("producer.override.linger.ms is refused")
    with pytest.raises(ConfigError, match="admin.override.ssl.protocol is refused: librdkafka says"):
        _config(tmp_path, {"admin.override.ssl.protocol": "TLSv1.2"})


def test_workers_come_from_the_command_line_before_the_file(tmp_path):
    assert _config(tmp_path, {"bridge.sink.workers": "3"}, workers=None)[0].workers == 3
    assert _config(tmp_path, {"bridge.sink.workers": "3"}, workers=5)[0].workers == 5


def test_field_filter_matches_names_or_topic_colon_name_exactly():
    include = FieldFilter(((None, "a"), ("t1", "b")), include=True)
    assert include.keeps("t1", "a") and include.keeps("t1", "b") and not include.keeps("t2", "b")
    exclude = FieldFilter(((None, "a"),), include=False)
    assert not exclude.keeps("t", "a") and exclude.keeps("t", "ab")
    assert FieldFilter().keeps("t", "anything")


def test_the_example_of_debeziums_jdbc_sink_documentation_is_accepted_as_is(tmp_path):
    # documentation/modules/ROOT/pages/connectors/jdbc.adoc, "Example: JDBC connector configuration"
    doc = {"name": "jdbc-connector", "config": {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "tasks.max": "1",
        "connection.url": "jdbc:postgresql://localhost/db", "connection.username": "pguser",
        "connection.password": "pgpassword", "insert.mode": "upsert", "delete.enabled": "true",
        "primary.key.mode": "record_key", "schema.evolution": "basic", "use.time.zone": "UTC", "topics": "orders"}}
    path = tmp_path / "jdbc-connector.json"
    path.write_text(json.dumps(doc))
    config, keys = sink_config(read_sink_file(path, "127.0.0.1:9092"), 1)
    assert keys.refused == () and keys.ignored == ()
    assert config.group == "connect-jdbc-connector" and config.topics == ("orders",)
    assert config.dsn == "host=localhost port=5432 dbname=db user=pguser password=pgpassword"


def test_the_dead_letter_circuit_breaker_keys(tmp_path):
    config, keys = _config(tmp_path, {"bridge.sink.dlq.max.ratio": "0.05", "bridge.sink.dlq.max.consecutive": "20",
                                      "bridge.sink.dlq.window": "500"})
    assert (config.breaker.max_ratio, config.breaker.max_consecutive, config.breaker.window) == (0.05, 20, 500)
    assert not keys.refused
    assert not _config(tmp_path)[0].breaker.enabled
    for bad in ("1", "-0.1", "half"):
        with pytest.raises(ConfigError, match=f"bridge.sink.dlq.max.ratio='{bad}' is invalid"):
            _config(tmp_path, {"bridge.sink.dlq.max.ratio": bad})


def test_asynchronous_commit_goes_with_offsets_in_the_target(tmp_path):
    config, keys = _config(tmp_path, {"bridge.sink.synchronous.commit": "false"})
    assert not config.synchronous_commit and config.offsets == "target" and keys.refused == ()
