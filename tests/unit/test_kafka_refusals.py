"""Kafka errors no retry fixes (`bridge.kafka.refusals`): which ones, for how long mid-run, and the
producer stopping on them with one line naming the broker, the cause and the principal."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from bridge.errors import ConnectionFailed
from bridge.kafka.refusals import Persisting, authorization_hint, principal, refusal
from bridge.kafka.settings import KafkaSettings
from bridge.produce.kafka import KafkaWriter
from bridge.retry import RetryConfig

UNKNOWN_CA = ("ssl://b:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify "
              "failed: broker certificate could not be verified (after 5ms in state SSL_HANDSHAKE)")
NO_MECHANISM = ("sasl_ssl://b:9093/bootstrap: SASL SCRAM-SHA-256 mechanism handshake failed: Broker: Unsupported "
                "SASL mechanism: broker's supported mechanisms: SCRAM-SHA-512,PLAIN,OAUTHBEARER")


@pytest.mark.parametrize("code, text, permanent", [
    (KafkaError._SSL, UNKNOWN_CA, True),
    (KafkaError._SSL, "ssl://b:9093/1: certificate has expired", True),
    (KafkaError._SSL, "ssl://b:9093/1: SSL connection closed by peer", False),  # a broker going away
    (KafkaError._AUTHENTICATION, NO_MECHANISM, True),
    (KafkaError._AUTHENTICATION, "SASL authentication error: Authentication failed during authentication "
                                 "due to invalid credentials with SASL mechanism SCRAM-SHA-512", False),  # rotation
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed", True),
    (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "Broker: Transactional Id authorization failed", True),
    (KafkaError._TRANSPORT, "b:9092/1: Connect to ipv4#b:9092 failed: Connection refused", False),
    (KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down", False),
])
def test_which_errors_no_retry_fixes(code, text, permanent):
    cause = refusal(KafkaError(code, text))
    assert (cause is not None) is permanent
    if permanent:
        assert text in cause


def test_a_refusal_stops_only_once_it_lasted_the_budget_and_a_pause_starts_the_count_again():
    now = [0.0]
    persisting = Persisting(45.0, clock=lambda: now[0])
    tls = KafkaError(KafkaError._SSL, UNKNOWN_CA)
    assert persisting.see(tls) is None
    now[0] = 20.0
    assert persisting.see(KafkaError(KafkaError._TRANSPORT, "Connection refused")) is None  # not counted
    assert persisting.see(tls) is None
    now[0] = 40.0
    assert persisting.see(tls) is None
    now[0] = 45.0
    assert persisting.see(tls) == UNKNOWN_CA
    now[0] = 200.0  # the broker took the client meanwhile: a new refusal starts from zero
    assert persisting.see(tls) is None
    now[0] = 230.0
    assert persisting.see(tls) is None


@pytest.mark.parametrize("settings, who", [
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bob"}, "principal User:bob"),
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}, "the principal of its OAUTHBEARER login"),
    ({"security.protocol": "SSL", "ssl.certificate.location": "/c.pem"}, "the principal of its client certificate"),
    ({"security.protocol": "PLAINTEXT"}, "principal User:ANONYMOUS"),
])
def test_the_principal_an_authorization_failure_names(settings, who):
    assert principal(settings) == who


def _writer(**settings: str) -> KafkaWriter:
    return KafkaWriter(KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1", **settings}), refusal_budget_s=0)


def test_the_producer_stops_at_once_on_a_missing_acl_naming_broker_cause_and_principal():
    writer = _writer(**{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                        "sasl.username": "bob", "sasl.password": "pw"})
    err = KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED, "Broker: Cluster authorization failed")
    with pytest.raises(ConnectionFailed) as raised:
        writer._on_error(err)
    assert str(raised.value) == (
        "Kafka at 127.0.0.1:1 refused access: Broker: Cluster authorization failed (CLUSTER_AUTHORIZATION_FAILED); "
        "principal User:bob lacks an ACL on the cluster (IdempotentWrite; Create to create topics)")
    assert "lacks an ACL on the topic" in authorization_hint(
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), {"sasl.username": "x"})


def test_the_producer_stops_on_an_untrusted_certificate_once_the_budget_is_spent():
    writer = _writer()
    with pytest.raises(ConnectionFailed, match=r"^Kafka at 127\.0\.0\.1:1 refuses the connection for 0s, no retry "
                                               r"fixes it: .*certificate verify failed"):
        writer._on_error(KafkaError(KafkaError._SSL, UNKNOWN_CA))
    KafkaWriter(KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1"}))._on_error(
        KafkaError(KafkaError._SSL, UNKNOWN_CA))  # the default budget: not yet


def test_the_retry_budget_adds_up_the_backoffs():
    assert RetryConfig(8, 500, 10_000).budget_s() == 45.5
    assert RetryConfig(2, 1000, 10_000).budget_s() == 3.0


def test_exactly_once_without_transactional_id_acls_stops_naming_what_to_grant():
    writer = _writer(**{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "eo",
                        "sasl.password": "pw"})

    def init_transactions(_timeout):
        raise KafkaException(KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                        "Broker: Transactional Id authorization failed"))
    with pytest.raises(ConnectionFailed, match=r"^Kafka at 127\.0\.0\.1:1 refused access to initialise transactions: "
                                               r".*\(TRANSACTIONAL_ID_AUTHORIZATION_FAILED\); principal User:eo lacks "
                                               r"an ACL on the transactional id \(exactly once\)$"):
        writer._transactional("initialise transactions", init_transactions, 1.0)
