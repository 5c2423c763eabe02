"""Java key and trust stores (JKS, PKCS12) become librdkafka's in-memory PEM settings, read from
stores keytool made (tests/data/keystores), or are refused in one line without a password."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.kafka.java_security import translate_java_security
from bridge.kafka.keystores import read_jks

STORES = Path(__file__).resolve().parents[1] / "data" / "keystores"
P = "debezium.sink.kafka.producer."
CA = (STORES / "ca.pem").read_text()


def translate(**settings: str) -> dict[str, str]:
    return translate_java_security({k.replace("_", "."): v for k, v in settings.items()}, lambda name: P + name)


def test_a_jks_keystore_becomes_the_key_and_chain_in_memory():
    out = translate(security_protocol="SSL", ssl_keystore_location=str(STORES / "client.jks"),
                    ssl_keystore_password="store-pw", ssl_key_password="key-pw")
    assert out["ssl.key.pem"] == (STORES / "client.key").read_text()
    assert out["ssl.certificate.pem"] == (STORES / "client.pem").read_text() + CA
    assert set(out) == {"security.protocol", "ssl.key.pem", "ssl.certificate.pem"}


@pytest.mark.parametrize("kind", [None, "JKS", "PKCS12"])
@pytest.mark.parametrize("store", ["truststore.jks", "truststore.p12"])
def test_jks_and_pkcs12_truststores_become_the_ca_in_memory(store, kind):
    # Java reads either format under either type name; JKS is its default type.
    out = translate(ssl_truststore_location=str(STORES / store), ssl_truststore_password="trust-pw",
                    **({"ssl_truststore_type": kind} if kind else {}))
    assert out == {"ssl.ca.pem": CA}


def test_a_jks_truststore_without_a_password_is_read_unchecked_as_java_does():
    assert translate(ssl_truststore_location=str(STORES / "truststore.jks")) == {"ssl.ca.pem": CA}


@pytest.mark.parametrize("settings, words", [
    ({"ssl_truststore_location": "truststore.jks", "ssl_truststore_password": "never-shown"},
     r"ssl\.truststore\.location \(.*truststore\.jks\) cannot be opened: the password is wrong or the file is "
     r"damaged"),
    ({"ssl_truststore_location": "truststore.p12", "ssl_truststore_password": "never-shown"},
     r"cannot be opened: the password is wrong or the file is not PKCS12"),
    ({"ssl_keystore_location": "client.jks", "ssl_keystore_password": "never-shown"},
     r"ssl\.keystore\.location \(.*client\.jks\) cannot be opened: the password is wrong"),
    ({"ssl_keystore_location": "client.jks", "ssl_keystore_password": "store-pw", "ssl_key_password": "never-shown"},
     r"holds a private key that its password does not open"),
    ({"ssl_keystore_location": "client.jks", "ssl_keystore_password": "store-pw"},  # key-pw differs from it
     r"holds a private key that its password does not open"),
    ({"ssl_keystore_location": "truststore.jks", "ssl_keystore_password": "trust-pw"}, r"holds no private key"),
    ({"ssl_keystore_location": "secret.jceks", "ssl_keystore_password": "never-shown"},
     r"is a JCEKS store .* convert it with `keytool -importkeystore -deststoretype PKCS12`"),
    ({"ssl_truststore_location": "secret.jceks"}, r"ssl\.truststore\.location \(.*\) is a JCEKS store"),
    ({"ssl_truststore_location": "missing.jks"}, r"ssl\.truststore\.location \(.*missing\.jks\) cannot be read: "
                                                 r"No such file"),
    ({"ssl_truststore_location": "truststore.jks", "ssl_truststore_type": "BKS"},
     r"ssl\.truststore\.type='BKS' is refused: PEM, JKS and PKCS12 truststores are read"),
    ({"ssl_truststore_certificates": "x", "ssl_truststore_type": "JKS"},
     r"ssl\.truststore\.certificates is read only with .*ssl\.truststore\.type=PEM"),
    ({"ssl_truststore_location": "truststore.jks", "ssl_ca_location": "/etc/ca.pem"},
     r"both give the CA certificates: keep one"),
])
def test_a_store_that_cannot_be_used_is_refused_in_one_line(settings, words):
    given = {k: str(STORES / v) if k.endswith("location") and k != "ssl_ca_location" else v
             for k, v in settings.items()}
    with pytest.raises(ConfigError, match=words) as refused:
        translate(**given)
    assert "never-shown" not in str(refused.value) and "\n" not in str(refused.value)


def test_a_pkcs12_truststore_without_the_extra_names_it(monkeypatch):
    real_import = builtins.__import__

    def no_cryptography(name, *args, **kwargs):
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cryptography)
    with pytest.raises(ConfigError, match=r"is a PKCS12 truststore, which needs the pgbridge\[pkcs12\] extra: "
                                          r"pip install 'pgbridge\[pkcs12\]'"):
        translate(ssl_truststore_location=str(STORES / "truststore.p12"), ssl_truststore_password="trust-pw")


@pytest.mark.parametrize("damage", [lambda b: b[:100], lambda b: b[:-21] + bytes(21), lambda b: b"\xfe\xed\xfe\xed"])
def test_a_damaged_jks_file_is_refused_not_misread(damage):
    data = damage((STORES / "client.jks").read_bytes())
    with pytest.raises(ConfigError, match=r"truncated or damaged|integrity check failed|damaged private key|"
                                          r"does not open"):
        read_jks(data, "store-pw", "key-pw")
