"""The schema registry's TLS: its truststore and keystore as Confluent's clients take them, JKS
and PKCS12 (`schema.registry.ssl.*`), read into PEM at start and handed to the registry client
through files only the process's user may read, gone once the client has read them; and a
registry certificate that stops verifying mid-run, retried for the connection budget only."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError, SchemaRegistryFailed
from bridge.format.avro import registry
from bridge.format.avro.registry import Registry, RegistryRefusesTls
from bridge.format.avro.settings import AvroSpec
from tests.unit.builders import MINIMAL

STORES = Path(__file__).resolve().parents[1] / "data" / "keystores"
V = "debezium.format.value."
SSL = V + "schema.registry.ssl."
CA = (STORES / "ca.pem").read_text()


def _spec(**ssl: str):
    props = {**MINIMAL, "debezium.format.value": "avro", V + "schema.registry.url": "https://r:8081",
             **{SSL + k.replace("_", "."): v for k, v in ssl.items()}}
    return config_from_properties(props).events.value_format.avro


@pytest.mark.parametrize("store, kind", [("truststore.jks", "JKS"), ("truststore.p12", "PKCS12"),
                                         ("truststore.p12", "")])  # Java reads either under either name
def test_a_java_truststore_becomes_the_ca_in_pem(store, kind):
    spec = _spec(truststore_location=str(STORES / store), truststore_password="trust-pw",
                 **({"truststore_type": kind} if kind else {}))
    assert spec.ca_pem == CA and spec.ca_location is None


def test_a_jks_keystore_becomes_the_key_and_chain_in_pem():
    spec = _spec(keystore_location=str(STORES / "client.jks"), keystore_password="store-pw", key_password="key-pw")
    assert spec.key_pem == (STORES / "client.key").read_text()
    assert spec.cert_pem == (STORES / "client.pem").read_text() + CA
    assert "store-pw" not in repr(spec) and "PRIVATE KEY" not in repr(spec)


def test_a_pkcs12_keystore_becomes_the_key_and_chain_in_pem(tmp_path):
    p12 = tmp_path / "client.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(STORES / "client.pem"), "-inkey",
                    str(STORES / "client.key"), "-certfile", str(STORES / "ca.pem"), "-passout", "pass:p12-pw",
                    "-out", str(p12)], check=True, capture_output=True, timeout=60)
    spec = _spec(keystore_location=str(p12), keystore_type="PKCS12", keystore_password="p12-pw")
    assert "BEGIN PRIVATE KEY" in spec.key_pem
    assert spec.cert_pem == (STORES / "client.pem").read_text() + CA


@pytest.mark.parametrize("ssl, message", [
    ({"truststore_location": str(STORES / "truststore.jks"), "truststore_password": "wrong-Secret"},
     r"truststore\.location \(.*truststore\.jks\) cannot be opened: the password is wrong"),
    ({"keystore_location": str(STORES / "client.jks"), "keystore_password": "store-pw", "key_password": "bad-Secret"},
     r"keystore\.location \(.*client\.jks\) "),
    ({"keystore_location": str(STORES / "truststore.jks"), "keystore_password": "trust-pw"}, "holds no private key"),
    ({"truststore_location": str(STORES / "secret.jceks"), "truststore_password": "x"}, "JCEKS"),
])
def test_a_store_that_cannot_be_read_is_refused_naming_the_key_never_the_password(ssl, message):
    with pytest.raises(ConfigError, match=message) as err:
        _spec(**ssl)
    assert "Secret" not in str(err.value) and "\n" not in str(err.value)


def test_the_registry_client_gets_private_pem_files_removed_once_it_read_them(monkeypatch):
    spec = _spec(truststore_location=str(STORES / "truststore.jks"), truststore_password="trust-pw",
                 keystore_location=str(STORES / "client.jks"), keystore_password="store-pw", key_password="key-pw")
    seen = {}

    def client(conf):
        for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
            path = conf[key]
            seen[key] = (path, stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
                         Path(path).read_text())
        return object()

    monkeypatch.setattr(registry, "SchemaRegistryClient", client)
    Registry(spec).client
    assert {key: mode for key, (_, mode, _, _) in seen.items()} == dict.fromkeys(seen, 0o600)
    assert all(directory == 0o700 for _, _, directory, _ in seen.values())
    assert seen["ssl.ca.location"][3] == CA and seen["ssl.key.location"][3] == spec.key_pem
    assert not any(os.path.exists(path) for path, *_ in seen.values())


class _Unverified:
    """A registry client whose certificate stops verifying after `good` calls (its certificate
    changed to one from an unknown CA), and verifies again after `bad` more."""

    def __init__(self, good: int, bad: int) -> None:
        self.calls, self.good, self.bad = 0, good, bad

    def register_schema(self, subject, schema):
        self.calls += 1
        if self.good < self.calls <= self.good + self.bad:
            try:
                raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
            except ssl.SSLError as exc:
                raise OSError("connect failed") from exc
        return 7


def _clocked(spec, client) -> tuple[Registry, list[float]]:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
    return Registry(spec, sleep=sleep, client=client, clock=lambda: now[0]), now


def test_a_registry_certificate_that_stops_verifying_mid_run_stops_the_bridge_after_the_budget():
    spec = AvroSpec(urls=("https://u:pw-Secret@registry:8081",), backoff_initial_ms=1000, backoff_max_ms=4000,
                    tls_budget_s=10, label="debezium.format.value")
    registry, now = _clocked(spec, _Unverified(good=1, bad=1000))
    assert registry.id_for("s", '"int"', "x") == 7
    with pytest.raises(RegistryRefusesTls, match=r"^schema registry at https://registry:8081 \(debezium\.format\.value\): "
                                                 r"its certificate has not verified for 1\ds, no retry fixes it: TLS: "
                                                 r".*CERTIFICATE_VERIFY_FAILED") as refused:
        registry.id_for("s", '"long"', "x")
    assert 10 <= now[0] < 20 and refused.value.exit_code == 3 and "pw-Secret" not in str(refused.value)
    assert isinstance(refused.value, SchemaRegistryFailed)  # no event failure mode skips its records


def test_a_certificate_that_verifies_again_within_the_budget_goes_on():
    spec = AvroSpec(urls=("https://registry:8081",), backoff_initial_ms=1000, backoff_max_ms=4000, tls_budget_s=10)
    registry, now = _clocked(spec, _Unverified(good=0, bad=3))
    assert registry.id_for("s", '"int"', "x") == 7 and now[0] == 7.0


def test_the_budget_is_the_connection_retry_budget():
    assert _spec().tls_budget_s == 45.5
    props = {**MINIMAL, "debezium.format.value": "avro", V + "schema.registry.url": "https://r:8081",
             "bridge.connect.attempts": "2", "bridge.connect.backoff.initial.ms": "1000"}
    assert config_from_properties(props).events.value_format.avro.tls_budget_s == 3.0
