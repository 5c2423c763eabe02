"""Avro through a schema registry that speaks TLS only (issue 14).

A second Apicurio registry (the jar `deploy/local/registry/up` fetched) serves HTTPS only
(`quarkus.http.insecure-requests=disabled`) with a certificate for `localhost` from a throwaway
CA made here. `bridge run` with Confluent's `schema.registry.ssl.truststore.location` (PEM) must
register its schemas and write records that confluent-kafka's deserializer reads back through
the same TLS registry; a CA that did not sign the registry must stop the start with exit code 3
and one line naming the registry and the cause, nothing produced and the slot not confirmed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.support import (
    error_lines, slot_active, throwaway_ca, topic_size, wait_until,
)

JAR = "apicurio-registry-app-3.0.9-runner.jar"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_certificate(directory) -> tuple[str, str, str]:
    """(CA, certificate, key) PEM files: a CA and a server certificate it signed for localhost."""
    ca_key, ca, key, csr, cert = (str(directory / n) for n in ("ca.key", "ca.pem", "key.pem", "csr.pem", "cert.pem"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=registry-ca",
         "-keyout", ca_key, "-out", ca],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-extfile", str(ext), "-out", cert],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_registry(schema_registry, tmp_path_factory):
    """(Confluent-API URL over HTTPS, CA file) of an Apicurio registry with TLS only, for this module."""
    cache = Path(os.environ.get("BRIDGE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                             Path.home() / ".cache") / "pgbridge")
    jars = sorted((cache / "registry").glob(f"*/{JAR}"))
    assert jars, f"no {JAR} under {cache}/registry: deploy/local/registry/up fetches it"
    jar = str(jars[0])
    directory = tmp_path_factory.mktemp("tls-registry")
    ca, cert, key = _server_certificate(directory)
    port, plain, management = _free_port(), _free_port(), _free_port()
    log = open(directory / "registry.log", "wb")
    proc = subprocess.Popen([
        "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={plain}", f"-Dquarkus.http.ssl-port={port}",
        f"-Dquarkus.http.ssl.certificate.files={cert}", f"-Dquarkus.http.ssl.certificate.key-files={key}",
        "-Dquarkus.http.insecure-requests=disabled",
        "-Dquarkus.management.host=127.0.0.1", f"-Dquarkus.management.port={management}",
        "-jar", jar], stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    log.close()
    url = f"https://localhost:{port}/apis/ccompat/v7"
    client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca})

    def ready() -> bool:
        assert proc.poll() is None, (directory / "registry.log").read_text(errors="replace")[-4000:]
        try:
            client.get_subjects()
            return True
        except Exception:  # noqa: BLE001 - not listening yet
            return False
    try:
        wait_until(ready, timeout=120, interval=0.5, what="the TLS registry to answer")
        with pytest.raises(ConnectionRefusedError):  # no plain HTTP beside it
            socket.create_connection(("127.0.0.1", plain), timeout=5).close()
    except BaseException:
        proc.kill()
        raise
    yield url, ca
    client.close()
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _avro(url: str, ca: str) -> dict[str, str]:
    """Confluent's converter options as a Debezium Server file has them, the CA in PEM."""
    return {"debezium.format.key": "avro", "debezium.format.value": "avro",
            "debezium.format.schema.registry.url": url,
            "debezium.format.schema.registry.ssl.truststore.location": ca,
            "debezium.format.schema.registry.ssl.truststore.type": "PEM"}


def _values(bootstrap: str, topic: str, url: str, ca: str, count: int) -> list[dict]:
    client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca})
    deserializer = AvroDeserializer(client)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tls-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[dict] = []
    deadline = time.monotonic() + 90
    try:
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.value() is not None:
                values.append(deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
        client.close()
    return values


def test_avro_through_a_tls_registry_with_a_pem_truststore(tls_registry, pg, kafka_bootstrap, bridge_factory,
                                                          unique_name):
    url, ca = tls_registry
    table = f"rtls_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    bridge = bridge_factory(unique_name, _avro(url, ca), tables=[table])
    try:
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 5) g")
        topic = f"{unique_name}.public.{table}"
        values = _values(kafka_bootstrap, topic, url, ca, 5)
        assert sorted((v["after"]["id"], v["after"]["note"]) for v in values) == [(i, f"n{i}") for i in range(1, 6)]
        assert all(v["op"] == "c" for v in values)
        assert bridge.stop() == 0, bridge.log()
        assert "retrying" not in bridge.log(), bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_a_registry_certificate_from_an_unknown_ca_stops_the_start_in_one_line(
        tls_registry, pg, kafka_bootstrap, bridge_factory, unique_name, tmp_path):
    url, _ = tls_registry
    table = f"rtls_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        cur.execute(f"INSERT INTO {table} VALUES (1)")
    bridge = bridge_factory(unique_name, _avro(url, str(throwaway_ca(tmp_path))), tables=[table])
    try:
        bridge.start()
        assert bridge.wait(120) == 3, bridge.log()
        log = bridge.log()
        errors = error_lines(log)
        assert len(errors) == 1, log
        assert re.match(rf"cannot reach the schema registry at {re.escape(url)} \(.*\): TLS: .*"
                        r"CERTIFICATE_VERIFY_FAILED", errors[0]), errors
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (2)")
        # nothing produced and no slot made: the start stopped before streaming
        assert topic_size(kafka_bootstrap, f"{unique_name}.public.{table}") == 0
        with pg.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (f"{unique_name}_slot",))
            assert cur.fetchone()[0] == 0
    finally:
        if bridge.running():
            bridge.kill()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")

