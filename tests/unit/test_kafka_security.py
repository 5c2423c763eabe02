"""Java client security settings (Debezium's `sasl.jaas.config`, `ssl.truststore.*`, ...) become
librdkafka's, or are refused by name without ever printing a secret."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.kafka.jaas import parse_jaas
from bridge.kafka.java_security import translate_java_security
from tests.unit.builders import MINIMAL

SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
P = "debezium.sink.kafka.producer."


def translate(**settings: str) -> dict[str, str]:
    return translate_java_security({k.replace("_", "."): v for k, v in settings.items()}, lambda name: P + name)


@pytest.mark.parametrize("line, options", [
    (f'{SCRAM} required username="alice" password="s3cret";', {"username": "alice", "password": "s3cret"}),
    (f"{PLAIN} required password='a b;c=d' username=bob ;", {"password": "a b;c=d", "username": "bob"}),
    (f'{SCRAM}  REQUIRED\n  username="a\\"b"\n  password="x\\\\y\\tz\\101";', {"username": 'a"b', "password": "x\\y\tzA"}),
    (f'{SCRAM} required /* a comment */ username="u" // to the end of the line\n password="p";',
     {"username": "u", "password": "p"}),
    (f'{SCRAM} optional username="u" password="p" username="v";', {"username": "v", "password": "p"}),
    (f"{PLAIN} required;", {}),
])
def test_jaas_lines_are_read_as_java_reads_them(line, options):
    [module] = parse_jaas(line)
    assert module.options == options and module.name in (SCRAM, PLAIN)


@pytest.mark.parametrize("line, words", [
    ("", "no login module given"),
    (f'{SCRAM} username="u" password="p";', "needs a control flag"),
    (f'{SCRAM} required username="u" password="p"', "not terminated by a semicolon"),
    (f'{SCRAM} required username= ;', "no value given for 'username' of"),
    (f'{SCRAM} required username="u" password=never shown;', "no value given for an option of"),
    (f'{SCRAM} required username="u" password="never-shown;', "a quoted value is not closed"),
])
def test_malformed_jaas_lines_are_refused_without_their_text(line, words):
    with pytest.raises(ConfigError, match=words) as refused:
        parse_jaas(line)
    assert "never-shown" not in str(refused.value)


def test_two_login_modules_are_read_and_refused_for_a_client():
    assert len(parse_jaas(f'{SCRAM} required; {PLAIN} required;')) == 2
    with pytest.raises(ConfigError, match=r"names 2 login modules; a Kafka client takes exactly one"):
        translate(sasl_jaas_config=f'{SCRAM} required username="u" password="p"; {PLAIN} required;')


def test_scram_over_sasl_ssl_with_a_pem_truststore_becomes_librdkafka_settings():
    out = translate(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                    sasl_jaas_config=f'{SCRAM} required username="alice" password="p w";',
                    ssl_truststore_location="/etc/ca.pem", ssl_truststore_type="PEM",
                    ssl_endpoint_identification_algorithm="")
    assert out == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                   "sasl.username": "alice", "sasl.password": "p w", "ssl.ca.location": "/etc/ca.pem",
                   "ssl.endpoint.identification.algorithm": "none"}


def test_inline_pem_certificates_and_keys_become_librdkafka_pem_settings():
    out = translate(ssl_truststore_type="PEM", ssl_truststore_certificates="-----BEGIN CERTIFICATE-----...",
                    ssl_keystore_type="PEM", ssl_keystore_key="-----BEGIN PRIVATE KEY-----...",
                    ssl_keystore_certificate_chain="-----BEGIN CERTIFICATE-----chain")
    assert out == {"ssl.ca.pem": "-----BEGIN CERTIFICATE-----...", "ssl.key.pem": "-----BEGIN PRIVATE KEY-----...",
                   "ssl.certificate.pem": "-----BEGIN CERTIFICATE-----chain"}


def test_keystores_pkcs12_kept_pem_split(tmp_path):
    p12 = tmp_path / "client.p12"
    p12.write_bytes(b"\x30\x82\x0a\x00rest")
    for kind in ("PKCS12", None):  # the Java default type, JKS, reads a PKCS12 file too
        given = {"ssl_keystore_location": str(p12), "ssl_keystore_password": "kp", "ssl_key_password": "kk"}
        out = translate(**given, **({"ssl_keystore_type": kind} if kind else {}))
        assert out == {"ssl.keystore.location": str(p12), "ssl.keystore.password": "kp", "ssl.key.password": "kk"}
    out = translate(ssl_keystore_type="PEM", ssl_keystore_location="/k/client.pem", ssl_key_password="kk")
    assert out == {"ssl.certificate.location": "/k/client.pem", "ssl.key.location": "/k/client.pem",
                   "ssl.key.password": "kk"}
    with pytest.raises(ConfigError, match=r"ssl\.keystore\.password cannot be given for a PEM keystore"):
        translate(ssl_keystore_type="PEM", ssl_keystore_location="/k/c.pem", ssl_keystore_password="x")


@pytest.mark.parametrize("settings, words", [
    ({"sasl_jaas_config": "com.example.Custom required;"},
     r"reads PlainLoginModule, ScramLoginModule, OAuthBearerLoginModule and AWS MSK IAM's IAMLoginModule only"),
    ({"sasl_jaas_config": "com.sun.security.auth.module.Krb5LoginModule required;"}, r"Kerberos is not supported"),
    ({"sasl_client_callback_handler_class": "com.example.Handler"}, r"a Java class pgbridge cannot load"),
    ({"sasl_login_callback_handler_class": "com.example.Handler", "sasl_jaas_config": f'{SCRAM} required;'},
     r"sasl\.login\.callback\.handler\.class='com\.example\.Handler' is refused: it is read with "
     r"org\.apache\.kafka\.common\.security\.oauthbearer\.OAuthBearerLoginModule"),
    ({"sasl_jaas_config": f'{SCRAM} required username="u" password="never-shown" tokenauth=true;'},
     r"tokenauth=true \(delegation tokens\), which librdkafka does not support"),
    ({"sasl_jaas_config": f'{SCRAM} required password="never-shown";'}, r"has no username=\.\.\. option"),
    ({"sasl_jaas_config": f'{SCRAM} required username="u" password="never-shown";', "sasl_password": "x"},
     r"sasl\.jaas\.config and .*sasl\.password both give the SASL password: keep one"),
    ({"ssl_truststore_location": "/ca.pem", "ssl_truststore_type": "PEM", "ssl_ca_location": "/other.pem"},
     r"both give the CA certificates"),
    ({"ssl_endpoint_identification_algorithm": "ldap"}, r"only https .* and an empty value"),
])
def test_what_librdkafka_cannot_do_is_refused_in_one_line(settings, words):
    with pytest.raises(ConfigError, match=words) as refused:
        translate(**settings)
    assert "never-shown" not in str(refused.value) and "\n" not in str(refused.value)


def test_every_kafka_client_gets_the_translation_and_the_password_stays_hidden():
    jaas = f'{PLAIN} required username="svc" password="the-password";'
    cfg = config_from_properties({
        **MINIMAL, P + "security.protocol": "SASL_SSL", P + "sasl.mechanism": "PLAIN", P + "sasl.jaas.config": jaas,
        P + "ssl.endpoint.identification.algorithm": "HTTPS",
        "debezium.source.signal.enabled.channels": "source,kafka",
        "debezium.source.signal.data.collection": "public.signals",
        "debezium.source.signal.kafka.bootstrap.servers": "k:9092",
        "debezium.source.signal.consumer.security.protocol": "SASL_SSL",
        "debezium.source.signal.consumer.sasl.mechanism": "SCRAM-SHA-256",
        "debezium.source.signal.consumer.sasl.jaas.config": jaas.replace(PLAIN, SCRAM),
    })
    connection = cfg.kafka.connection.settings
    assert (connection["sasl.username"], connection["sasl.password"]) == ("svc", "the-password")
    assert connection["ssl.endpoint.identification.algorithm"] == "https" and "sasl.jaas.config" not in connection
    assert "the-password" not in repr(cfg.kafka.connection)
    signal = cfg.incremental.kafka.connection.settings
    assert (signal["sasl.username"], signal["sasl.password"], signal["sasl.mechanism"]) == (
        "svc", "the-password", "SCRAM-SHA-256")


def test_a_secret_librdkafka_refuses_is_not_repeated():
    with pytest.raises(ConfigError) as refused:
        config_from_properties({**MINIMAL, P + "ssl.key.pem": "not-a-key", P + "ssl.protocol": "TLSv1.3"})
    assert "not-a-key" not in str(refused.value)
