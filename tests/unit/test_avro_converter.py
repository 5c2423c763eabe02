"""The Avro converter's records, registry behaviour and settings (bridge.format.avro): framing,
subjects, registration, lookup, retries, compatibility levels, and what is refused."""

from __future__ import annotations

import ssl

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, envelope_schema, field_schema, key_schema, value_schema
from bridge.errors import ConfigError, ConnectionFailed, SchemaRegistryFailed
from bridge.format.avro.converter import AvroWriter
from bridge.format.avro.registry import Registry, SchemaIncompatible
from bridge.format.avro.settings import RECORD, TOPIC_RECORD, AvroSpec
from bridge.produce.failures import FailureHandling, Failures
from tests.unit.builders import MINIMAL, pipeline

TOPIC = "p.public.t"
SPEC = AvroSpec(urls=("http://registry:8081",))
VALUE = envelope_schema(TOPIC, value_schema(TOPIC, [field_schema("id", connect_schema("int32")),
                                                    field_schema("r", connect_schema("double"), optional=True)]))
SOURCE = {"version": "3", "connector": "postgresql", "name": "p", "ts_ms": 1, "snapshot": "false", "db": "d",
          "sequence": None, "ts_us": 1, "ts_ns": 1, "schema": "public", "table": "t", "txId": 5, "lsn": 6,
          "xmin": None, "origin": None, "origin_lsn": None}


@pytest.fixture
def client():
    c = SchemaRegistryClient.new_client({"url": "mock://avro-unit"})
    yield c
    c.clear_caches()


def test_records_are_confluent_framed_and_read_back_by_confluents_deserializer(client):
    writer = AvroWriter(VALUE, TOPIC, "value", SPEC, Registry(SPEC, client=client))
    event = {"before": None, "after": {"id": 1, "r": "-Infinity"}, "source": SOURCE, "transaction": None,
             "op": "c", "ts_ms": 1, "ts_us": 2, "ts_ns": 3}
    record = writer.write(event)
    schema_id = client.lookup_schema(f"{TOPIC}-value", _schema(writer)).schema_id
    assert record[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    decoded = AvroDeserializer(client)(record, SerializationContext(TOPIC, MessageField.VALUE))
    assert decoded == {**event, "after": {"id": 1, "r": float("-inf")}}
    assert writer.write(None) is None  # a tombstone stays null


def _schema(writer: AvroWriter):
    from confluent_kafka.schema_registry import Schema
    return Schema(writer.text, "AVRO")


@pytest.mark.parametrize("strategy, subject", [
    ("topic", f"{TOPIC}-key"), (RECORD, f"{TOPIC}.Key"), (TOPIC_RECORD, f"{TOPIC}-{TOPIC}.Key")])
def test_subjects_follow_the_subject_name_strategy(client, strategy, subject):
    spec = AvroSpec(urls=SPEC.urls, strategy=strategy)
    writer = AvroWriter(key_schema(TOPIC, [field_schema("id", connect_schema("int32"))]), TOPIC, "key", spec,
                        Registry(spec, client=client))
    writer.write({"id": 1})
    assert writer.subject == subject and subject in client.get_subjects()


def test_without_auto_registration_a_missing_schema_names_subject_and_fingerprint(client):
    spec = AvroSpec(urls=SPEC.urls, auto_register=False)
    writer = AvroWriter(VALUE, TOPIC, "value", spec, Registry(spec, client=client))
    with pytest.raises(SchemaRegistryFailed, match=rf"subject '{TOPIC}-value' \(fingerprint [0-9a-f]{{16}}\)"):
        writer.write({"before": None, "after": None, "source": SOURCE, "transaction": None, "op": "t",
                      "ts_ms": 1, "ts_us": 1, "ts_ns": 1})
    client.register_schema(f"{TOPIC}-value", _schema(writer))  # registered by someone else: looked up
    assert writer.write({"before": None, "after": None, "source": SOURCE, "transaction": None, "op": "t",
                         "ts_ms": 1, "ts_us": 1, "ts_ns": 1})[:1] == b"\x00"


class _Flaky:
    """A registry client failing `failures` times with `status`, then registering."""

    def __init__(self, status: int, failures: int) -> None:
        self.status, self.failures, self.calls = status, failures, 0

    def register_schema(self, subject, schema):
        self.calls += 1
        if self.calls <= self.failures:
            raise SchemaRegistryError(self.status, self.status * 100, "registry says no")
        return 42

    def get_versions(self, subject):
        return [1, 2]


def test_an_unavailable_registry_is_retried_with_backoff_until_it_answers():
    sleeps: list[float] = []
    spec = AvroSpec(urls=SPEC.urls, backoff_initial_ms=100, backoff_max_ms=300)
    registry = Registry(spec, sleep=sleeps.append, client=_Flaky(503, 4))
    assert registry.id_for("s", '"int"', "x") == 42
    assert sleeps == [0.1, 0.2, 0.3, 0.3]


class _Subjects:
    """A registry client whose `get_subjects` raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_subjects(self):
        raise self.error


def _tls_refusal() -> Exception:
    """What the HTTP client raises for a certificate that does not verify: the TLS error as its cause."""
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as exc:
            raise OSError("connect failed") from exc
    except OSError as exc:
        return exc


@pytest.mark.parametrize("error, shown", [
    (_tls_refusal(), r"TLS: .*CERTIFICATE_VERIFY_FAILED"),
    (SchemaRegistryError(401, 40101, "Unauthorized"), r"HTTP 401 \(error 40101\): Unauthorized"),
])
def test_at_start_a_tls_or_credential_refusal_is_final_and_hides_url_credentials(error, shown):
    spec = AvroSpec(urls=("https://u:pw-Secret@registry:8081",), label="debezium.format.value")
    with pytest.raises(ConnectionFailed, match=r"cannot reach the schema registry at https://registry:8081 "
                                               rf"\(debezium.format.value\): {shown}") as refused:
        Registry(spec, client=_Subjects(error)).check_reachable()
    assert "pw-Secret" not in str(refused.value)


def test_at_start_a_registry_that_does_not_answer_yet_is_left_to_the_retries(caplog):
    Registry(SPEC, client=_Subjects(ConnectionRefusedError(111, "Connection refused"))).check_reachable()
    assert "does not answer yet" in caplog.text


def test_a_producers_key_and_value_converters_share_one_client_made_at_its_start(monkeypatch):
    made = []

    class Client(SchemaRegistryClient):
        def __init__(self, conf):
            made.append(conf)
            super().__init__(conf)
    monkeypatch.setattr("bridge.format.avro.registry.SchemaRegistryClient", Client)
    monkeypatch.setattr("bridge.format.avro.registry._clients", {})
    props = {"debezium.format.key": "avro", "debezium.format.value": "avro",
             "debezium.format.schema.registry.url": "http://registry-share:8081"}
    # WHEN a producer's worker starts: its clients are made, before any record
    pipeline(**props)
    # THEN one client for both converters, with no trust store loaded for a plain-HTTP registry
    assert [conf["url"] for conf in made] == ["http://registry-share:8081"]
    assert made[0]["ssl.ca.location"] is False
    # and a registry over TLS, or with other settings, has its own client that verifies
    tls = Registry(AvroSpec(urls=("https://registry-share:8081",))).client
    assert tls is not Registry(AvroSpec(urls=("http://registry-share:8081",), user_info="u:p")).client
    assert tls._rest_client.verify.verify_mode == ssl.CERT_REQUIRED and "ssl.ca.location" not in made[1]
    assert len(made) == 3


def test_an_incompatible_schema_is_final_and_names_subject_version_and_reason():
    registry = Registry(SPEC, sleep=lambda s: pytest.fail("not retried"), client=_Flaky(409, 1))
    with pytest.raises(SchemaRegistryFailed, match=r"subject 's' as version 3: HTTP 409 .*registry says no"):
        registry.id_for("s", '"int"', "the records of t")


class _Levels:
    def __init__(self, subject_level: str | None, global_level: str = "NONE") -> None:
        self.subject_level, self.global_level, self.set = subject_level, global_level, []

    def get_compatibility(self, subject=None):
        if subject is None:
            return self.global_level
        if self.subject_level is None:
            raise SchemaRegistryError(404, 40408, "no level")
        return self.subject_level

    def set_compatibility(self, subject, level):
        self.set.append((subject, level))

    def register_schema(self, subject, schema):
        return 1


@pytest.mark.parametrize("subject_level, sets", [(None, True), ("NONE", True), ("BACKWARD_TRANSITIVE", False)])
def test_the_compatibility_level_is_set_before_the_first_registration(subject_level, sets):
    levels = _Levels(subject_level)
    registry = Registry(AvroSpec(urls=SPEC.urls, compatibility="BACKWARD_TRANSITIVE"), client=levels)
    registry.id_for("s", '"int"', "x")
    registry.id_for("s", '"int"', "x")
    assert levels.set == ([("s", "BACKWARD_TRANSITIVE")] if sets else [])


def test_a_subject_with_another_level_of_its_own_stops_its_table():
    registry = Registry(AvroSpec(urls=SPEC.urls, compatibility="BACKWARD_TRANSITIVE"), client=_Levels("FULL"))
    with pytest.raises(SchemaRegistryFailed, match="has compatibility FULL"):
        registry.id_for("s", '"int"', "x")


def test_a_registry_failure_stops_the_bridge_whatever_the_event_failure_mode():
    failures = Failures(FailureHandling(processing="warn"), skips_refused=False)
    with pytest.raises(SchemaRegistryFailed):
        failures.event(SchemaRegistryFailed("refused"), "public.t", 1, None)


def _spec(props: dict[str, str], side: str = "value") -> AvroSpec:
    events = config_from_properties({**MINIMAL, **props}).events
    return getattr(events, f"{side}_format").avro


def test_confluents_converter_options_are_read_as_connect_reads_them():
    spec = _spec({"debezium.format.value": "io.confluent.connect.avro.AvroConverter",
                  "debezium.format.value.schema.registry.url": "https://r1:8081,https://r2:8081/",
                  "debezium.format.value.basic.auth.credentials.source": "USER_INFO",
                  "debezium.format.value.basic.auth.user.info": "fred:letmein",
                  "debezium.format.value.auto.register.schemas": "false",
                  "debezium.format.value.value.subject.name.strategy":
                      "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
                  "debezium.format.value.connect.meta.data": "false",
                  "debezium.format.value.enhanced.avro.schema.support": "true",
                  "debezium.format.value.schemas.cache.config": "50",
                  "debezium.format.value.schema.registry.ssl.truststore.location": "/ca.pem",
                  "debezium.format.value.schema.registry.ssl.truststore.type": "PEM",
                  "bridge.registry.compatibility": "backward_transitive"})
    assert spec.urls == ("https://r1:8081", "https://r2:8081") and spec.user_info == "fred:letmein"
    assert (spec.auto_register, spec.strategy, spec.connect_meta, spec.ca_location, spec.compatibility) == (
        False, TOPIC_RECORD, False, "/ca.pem", "BACKWARD_TRANSITIVE")
    assert "letmein" not in repr(spec)


def test_debezium_servers_avro_with_apicurio_in_its_confluent_mode_reaches_the_ccompat_api():
    spec = _spec({"debezium.format.key": "avro", "debezium.format.value": "avro",
                  "debezium.format.apicurio.registry.url": "http://apicurio:8080/apis/registry/v2",
                  "debezium.format.apicurio.registry.auto-register": "true",
                  "debezium.format.apicurio.registry.find-latest": "true",
                  "debezium.format.apicurio.registry.as-confluent": "true",
                  "debezium.format.apicurio.registry.headers.enabled": "false",
                  "debezium.format.apicurio.registry.use-id": "contentId"}, "key")
    assert spec.urls == ("http://apicurio:8080/apis/ccompat/v7",) and spec.auto_register and not spec.use_latest


@pytest.mark.parametrize("props, message", [
    ({"debezium.format.value": "io.apicurio.registry.utils.converter.AvroConverter",
      "debezium.format.value.apicurio.registry.url": "http://a/apis/registry/v2"}, "as-confluent='false'"),
    ({"debezium.format.value": "io.apicurio.registry.utils.converter.AvroConverter",
      "debezium.format.value.apicurio.registry.url": "http://a/apis/registry/v2",
      "debezium.format.value.apicurio.registry.as-confluent": "true"}, "headers.enabled='true'"),
    ({"debezium.format.value": "io.apicurio.registry.utils.converter.AvroConverter",
      "debezium.format.value.apicurio.registry.url": "http://a/apis/registry/v2",
      "debezium.format.value.apicurio.registry.as-confluent": "true",
      "debezium.format.value.apicurio.registry.headers.enabled": "false"}, "use-id='globalId'"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "r:8081"}, "http:// or https://"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.basic.auth.credentials.source": "SASL_INHERIT"}, "not supported"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.basic.auth.credentials.source": "USER_INFO"}, "needs"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.value.subject.name.strategy": "com.example.Mine"}, "not supported"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.schema.registry.ssl.truststore.location": "/t.jks"},
     r"truststore\.location \(/t\.jks\) cannot be read"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.schema.registry.ssl.keystore.location": "/k.jks",
      "debezium.format.value.schema.registry.ssl.keystore.type": "JCEKS"}, "reads PEM, JKS and PKCS12"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "bridge.registry.compatibility": "SOMETIMES"}, "BACKWARD_TRANSITIVE"),
    ({"debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r",
      "debezium.format.value.normalize.schemas": "true"}, "not a setting pgbridge knows"),
])
def test_what_pgbridge_cannot_do_as_debezium_does_is_refused_with_one_line(props, message):
    with pytest.raises(ConfigError, match=message) as err:
        config_from_properties({**MINIMAL, **props})
    assert "\n" not in str(err.value)


class _Refusing:
    """A registry client that refuses every schema as incompatible, counting the requests."""

    def __init__(self) -> None:
        self.calls = 0

    def register_schema(self, subject, schema):
        self.calls += 1
        raise SchemaRegistryError(409, 409, "Schema being registered is incompatible with an earlier schema")

    def get_versions(self, subject):
        return [1]


def test_an_incompatible_schema_is_refused_once_per_writer_with_subject_version_and_reason():
    registry = _Refusing()
    writer = AvroWriter(VALUE, TOPIC, "value", SPEC, Registry(SPEC, client=registry))
    for _ in range(2):
        with pytest.raises(SchemaIncompatible, match="as version 2: HTTP 409") as refused:
            writer.write({"before": None})
    assert (refused.value.subject, refused.value.version) == (f"{TOPIC}-value", "2")
    assert "incompatible" in refused.value.reason and registry.calls == 1  # remembered, not asked again


def test_the_incompatible_topic_is_read_and_checked():
    props = {**MINIMAL, "debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r:1"}
    cfg = config_from_properties({**props, "bridge.registry.incompatible.topic": "quarantine"})
    assert cfg.events.value_format.avro.incompatible_topic == "quarantine"
    with pytest.raises(ConfigError, match="bridge.registry.incompatible.topic='a b' is invalid"):
        config_from_properties({**props, "bridge.registry.incompatible.topic": "a b"})


def test_the_incompatible_topic_is_refused_with_transforms():
    # a chain's records go through the chain's writers, which have no quarantine: refused, not ignored
    props = {**MINIMAL, "debezium.format.value": "avro", "debezium.format.value.schema.registry.url": "http://r:1",
             "bridge.registry.incompatible.topic": "quarantine", "debezium.transforms": "unwrap",
             "debezium.transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState"}
    with pytest.raises(ConfigError, match="bridge.registry.incompatible.topic is refused with transforms"):
        config_from_properties(props)
    del props["bridge.registry.incompatible.topic"]
    assert config_from_properties(props).chain
