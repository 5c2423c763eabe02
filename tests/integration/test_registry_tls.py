"""Avro through a schema registry that speaks TLS only (issue 14).

A second Apicurio registry (the jar `deploy/local/registry/up` fetched) serves HTTPS only
(`quarkus.http.insecure-requests=disabled`) with a certificate for `localhost` from a throwaway
CA made here. `bridge run` with Confluent's `schema.registry.ssl.truststore.location` (PEM) must
register its schemas and write records that confluent-kafka's deserializer reads back through
the same TLS registry; a CA that did not sign the registry must stop the start with exit code 3
and one line naming the registry and the cause, nothing produced and the slot not confirmed.

Apicurio's client-certificate check is fixed when it is built (off), so the registry that
requires one is the shared registry behind a TLS front made here (`mtls_registry`): Java
stores as keytool makes them (JKS and PKCS12 truststores and keystores, with passwords) must
reach it.
"""

from __future__ import annotations

import os
import re
import select
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
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


STOREPASS = "registry-Store-7"


def _client_stores(directory: Path, ca: str) -> None:
    """A client certificate from the CA `_server_certificate` made, and the Java stores a Confluent
    user gives: client.p12 / client.jks (key and chain), truststore.p12 / truststore.jks (the CA),
    every password STOREPASS; client.crt / client.key for the test's own client."""
    d = str(directory)
    for command in (
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pgbridge", "-keyout", f"{d}/client.key",
         "-out", f"{d}/client.csr"],
        ["openssl", "x509", "-req", "-in", f"{d}/client.csr", "-CA", ca, "-CAkey", f"{d}/ca.key", "-CAcreateserial",
         "-days", "2", "-out", f"{d}/client.crt"],
        ["openssl", "pkcs12", "-export", "-in", f"{d}/client.crt", "-inkey", f"{d}/client.key", "-certfile", ca,
         "-name", "client", "-passout", f"pass:{STOREPASS}", "-out", f"{d}/client.p12"],
        ["keytool", "-importkeystore", "-noprompt", "-srckeystore", f"{d}/client.p12", "-srcstoretype", "PKCS12",
         "-srcstorepass", STOREPASS, "-destkeystore", f"{d}/client.jks", "-deststoretype", "JKS",
         "-deststorepass", STOREPASS],
        ["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", ca, "-keystore", f"{d}/truststore.p12",
         "-storetype", "PKCS12", "-storepass", STOREPASS],
        ["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", ca, "-keystore", f"{d}/truststore.jks",
         "-storetype", "JKS", "-storepass", STOREPASS],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=120)


class _MutualTlsFront:
    """HTTPS on 127.0.0.1 requiring a client certificate from `ca`, each connection piped to the
    plain HTTP server at `upstream` (host, port). `present` changes the certificate it presents
    and drops the open connections, as a registry restarted with a new certificate does."""

    def __init__(self, cert: str, key: str, ca: str, upstream: tuple[str, int]) -> None:
        self.ca, self.upstream, self.generation = ca, upstream, 0
        self.present(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def present(self, cert: str, key: str) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(cert, key)
        self.context = context
        self.generation += 1  # the connections of the last one close

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        """One connection, on one thread: an SSL socket is not to be read and written at once."""
        generation = self.generation
        try:
            client = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # no certificate, or one the CA did not sign
            return
        upstream = socket.create_connection(self.upstream)
        try:
            while generation == self.generation:
                ready = [client] if client.pending() else select.select([client, upstream], [], [], 0.2)[0]
                for source, target in ((client, upstream), (upstream, client)):
                    if source in ready:
                        data = source.recv(65536)
                        if not data:
                            return
                        target.sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def mtls_registry(schema_registry, tmp_path_factory):
    """(Confluent-API URL over HTTPS, its directory of certificates and stores): the shared
    registry behind a TLS front that requires a client certificate."""
    directory = tmp_path_factory.mktemp("mtls-registry")
    ca, cert, key = _server_certificate(directory)
    _client_stores(directory, ca)
    upstream = urllib.parse.urlsplit(schema_registry)
    front = _MutualTlsFront(cert, key, ca, (upstream.hostname, upstream.port))
    url = f"https://localhost:{front.port}{upstream.path}"
    anonymous = SchemaRegistryClient({"url": url, "ssl.ca.location": ca})
    with pytest.raises(Exception):  # noqa: B017 - whatever the client makes of a closed handshake: refused
        anonymous.get_subjects()
    anonymous.close()
    yield url, directory, front
    front.close()


def _avro(url: str, ca: str) -> dict[str, str]:
    """Confluent's converter options as a Debezium Server file has them, the CA in PEM."""
    return {"debezium.format.key": "avro", "debezium.format.value": "avro",
            "debezium.format.schema.registry.url": url,
            "debezium.format.schema.registry.ssl.truststore.location": ca,
            "debezium.format.schema.registry.ssl.truststore.type": "PEM"}


def _values(bootstrap: str, topic: str, url: str, ca: str, count: int, client_pem: Path | None = None) -> list[dict]:
    """`client_pem`: the directory of client.crt / client.key, for a registry that requires them."""
    tls = {} if client_pem is None else {"ssl.certificate.location": f"{client_pem}/client.crt",
                                         "ssl.key.location": f"{client_pem}/client.key"}
    client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca, **tls})
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



def test_avro_through_a_registry_requiring_a_client_certificate_with_jks_and_pkcs12_stores(
        mtls_registry, pg, kafka_bootstrap, bridge_factory, unique_name, tmp_path):
    """GIVEN the key converter with a JKS truststore and a PKCS12 keystore, the value converter the
    other way round, as a Confluent user writes them
    THEN both register over mutual TLS, and the records read back;
    WHEN the registry then presents a certificate from a CA the bridge does not trust, and a new
    column needs a new schema
    THEN the bridge stops after the connection budget (3 s here) with exit code 3 and one line
    naming the registry and the cause; the slot is not confirmed past the unproduced row."""
    url, directory, front = mtls_registry
    settings = {"debezium.format.key": "avro", "debezium.format.value": "avro",
                "debezium.format.schema.registry.url": url,
                "bridge.connect.attempts": "2", "bridge.connect.backoff.initial.ms": "1000"}
    for side, trust, store in (("key", "JKS", "PKCS12"), ("value", "PKCS12", "JKS")):
        prefix, extension = f"debezium.format.{side}.schema.registry.ssl.", {"JKS": "jks", "PKCS12": "p12"}
        settings.update({prefix + "truststore.location": f"{directory}/truststore.{extension[trust]}",
                         prefix + "truststore.type": trust, prefix + "truststore.password": STOREPASS,
                         prefix + "keystore.location": f"{directory}/client.{extension[store]}",
                         prefix + "keystore.type": store, prefix + "keystore.password": STOREPASS,
                         prefix + "key.password": STOREPASS})
    table = f"rmtls_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    bridge = bridge_factory(unique_name, settings, tables=[table])
    try:
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 3) g")
        topic = f"{unique_name}.public.{table}"
        values = _values(kafka_bootstrap, topic, url, f"{directory}/ca.pem", 3, client_pem=directory)
        assert sorted((v["after"]["id"], v["after"]["note"]) for v in values) == [(i, f"n{i}") for i in range(1, 4)]
        with SchemaRegistryClient({"url": url, "ssl.ca.location": f"{directory}/ca.pem",
                                   "ssl.certificate.location": f"{directory}/client.crt",
                                   "ssl.key.location": f"{directory}/client.key"}) as client:
            subjects = client.get_subjects()
        assert {f"{topic}-key", f"{topic}-value"} <= set(subjects)
        assert "retrying" not in bridge.log(), bridge.log()

        other_ca = throwaway_ca(tmp_path)
        key, csr, cert = (str(tmp_path / n) for n in ("other.key", "other.csr", "other.pem"))
        for command in (["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key,
                         "-out", csr],
                        ["openssl", "x509", "-req", "-in", csr, "-CA", str(other_ca), "-CAkey",
                         str(other_ca.with_suffix(".key")), "-CAcreateserial", "-days", "1", "-out", cert]):
            subprocess.run(command, check=True, capture_output=True, timeout=60)
        front.present(cert, key)
        with pg.cursor() as cur:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN extra int")
            cur.execute(f"INSERT INTO {table} VALUES (4, 'n4', 4)")
        assert bridge.wait(120) == 3, bridge.log()
        log = bridge.log()
        errors = [line.split(" ERROR ", 1)[1].split(": ", 1)[1] for line in log.splitlines()
                  if " ERROR " in line and "exited with code" not in line]
        assert len(errors) == 1, log
        assert re.match(rf"schema registry at {re.escape(url)} \(debezium\.format\.(key|value)\): its certificate "
                        r"has not verified for \ds, no retry fixes it: TLS: .*CERTIFICATE_VERIFY_FAILED", errors[0]), log
        with pg.cursor() as cur:  # the insert is still in the slot: the next start streams it
            cur.execute("SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, 'proto_version', "
                        "'1', 'publication_names', %s) WHERE substr(data, 1, 1) = 'I'",
                        (f"{unique_name}_slot", f"{unique_name}_pub"))
            assert cur.fetchone()[0] == 1, "the slot was confirmed past the row the registry kept from Kafka"
        assert STOREPASS not in log and "Traceback" not in log
    finally:
        if bridge.running():
            bridge.kill()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
