"""`bridge sink` against the secured broker and a TLS-only target (issue 14).

A source bridge writes over SASL_SSL (SCRAM-SHA-512 in a Debezium Server `sasl.jaas.config`, a
PEM CA); `bridge sink` reads the topics with the same Java settings as a Connect user gives a sink
connector on a secured cluster: `consumer.override.*` for its consumer, `producer.override.*` and
`admin.override.*` for the dead-letter producer and the admin client that creates the DLQ topic.
The target must equal the source but for one row it refuses, which must land in the DLQ over the
same security. A wrong password must stop the sink at start with exit code 3 and one line naming
the broker and the cause (never the password). The target over TLS (`sslmode=verify-full` in
`connection.url`, pgjdbc's way) must be written; a CA that did not sign it must stop the sink.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import psycopg2
import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.integration.support import (
    BridgeProcess, create_database, drop_database, error_lines, java_scram_settings, rows_as_text, scram_client,
    slot_active, throwaway_ca, wait_until, write_properties, write_sink_config,
)

P = "debezium.sink.kafka.producer."
TABLE = "CREATE TABLE {s}.items (id int PRIMARY KEY, code varchar(8), qty int)"
ROWS = "SELECT id, code, qty FROM {s}.items ORDER BY id"


@pytest.fixture
def secured(tmp_path, pg, pg_dsn, secure_kafka):
    """A source schema streamed by a bridge over SASL_SSL, and a target database holding the same
    table with `code` narrower (varchar(3)): a longer code is refused there."""
    uid = uuid.uuid4().hex[:8]
    schema, prefix, target_db = f"ss{uid}", f"ss{uid}", f"sstarget_{uid}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(TABLE.format(s=schema))
        cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {schema}.items')
    target = create_database(pg, pg_dsn, target_db)
    conn = psycopg2.connect(target)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(TABLE.format(s=schema).replace("varchar(8)", "varchar(3)"))
    conn.close()
    cfg = write_properties(tmp_path / f"{prefix}.properties", pg_dsn, secure_kafka["BRIDGE_KAFKA_SECURE_SASL_SSL"],
                           prefix=prefix, slot=f"{prefix}_slot", publication=f"{prefix}_pub", extra={
                               "debezium.source.publication.autocreate.mode": "disabled",
                               **{P + k: v for k, v in java_scram_settings(secure_kafka).items()}})
    bridge = BridgeProcess(cfg, tmp_path / f"{prefix}.log")
    made = {"schema": schema, "prefix": prefix, "target": target, "bridge": bridge, "sinks": []}
    yield made
    for process in (bridge, *made["sinks"]):
        if process.running():
            process.kill()
    wait_until(lambda: not slot_active(pg, f"{prefix}_slot"), timeout=30, what="the slot to be released")
    with pg.cursor() as cur:
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                    (f"{prefix}_slot",))
        cur.execute(f'DROP PUBLICATION IF EXISTS "{prefix}_pub"')
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    drop_database(pg, target_db)


def _sink(secured, tmp_path, env, target: str, options: dict[str, str], name: str = "sink",
          bootstrap: str | None = None) -> BridgeProcess:
    """`bridge sink` on the source's topics, its Kafka settings as a Connect user writes them
    (`bootstrap`: another listener of the secured broker than SASL_SSL's)."""
    prefix = secured["prefix"]
    config = write_sink_config(tmp_path / f"{prefix}-{name}.json", f"{prefix}-{name}", target,
                               bootstrap or env["BRIDGE_KAFKA_SECURE_SASL_SSL"], {
                                   "topics.regex": rf"{prefix}\..*", "insert.mode": "upsert",
                                   "delete.enabled": "true", "primary.key.mode": "record_key",
                                   "table.name.format": "${source.schema}.${source.table}", **options})
    sink = BridgeProcess(config, tmp_path / f"{prefix}-{name}.log", command="sink", args=("--workers", "1"))
    secured["sinks"].append(sink)
    sink.start()
    return sink


def _overrides(env: dict[str, str], *families: str, **given: str) -> dict[str, str]:
    """The secured broker's Java settings under each of Connect's `<family>.override.` prefixes."""
    settings = {k: v for k, v in java_scram_settings(env, **given).items() if k != "bootstrap.servers"}
    return {f"{family}.override.{k}": v for family in families for k, v in settings.items()}


def _dead_letter(env: dict[str, str], topic: str, timeout: float = 60):
    consumer = Consumer({**scram_client(env), "group.id": f"dlq-{uuid.uuid4().hex[:8]}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                return message
    finally:
        consumer.close()
    return None


def test_sink_reads_and_dead_letters_over_sasl_ssl_with_connect_java_settings(secured, tmp_path, pg, pg_dsn,
                                                                              secure_kafka):
    # GIVEN a bridge streaming over SASL_SSL and a sink with Connect's per-connector overrides
    s, prefix, env = secured["schema"], secured["prefix"], secure_kafka
    secured["bridge"].start()
    wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge to stream")
    dlq = f"{prefix}-dlq"
    sink = _sink(secured, tmp_path, env, secured["target"], {
        **_overrides(env, "consumer", "producer", "admin"),
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true"})
    # WHEN rows stream, one of them too wide for the target
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {s}.items SELECT g, 'c' || g, g FROM generate_series(1, 30) g")
        cur.execute(f"UPDATE {s}.items SET qty = qty * 10 WHERE id % 5 = 0")
        cur.execute(f"DELETE FROM {s}.items WHERE id IN (3, 4)")
        cur.execute(f"INSERT INTO {s}.items VALUES (31, 'too wide', 31)")
    # THEN the target equals the source but for that row, which is in the DLQ
    expected = [row for row in rows_as_text(pg_dsn, ROWS.format(s=s)) if row[0] != "31"]

    def equal() -> bool:
        assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()}"
        return rows_as_text(secured["target"], ROWS.format(s=s)) == expected
    wait_until(equal, timeout=120, interval=1, what="the target to equal the source")
    message = _dead_letter(env, dlq)
    assert message is not None, f"nothing in {dlq}:\n{sink.log()}"
    assert json.loads(message.value())["payload"]["after"] == {"id": 31, "code": "too wide", "qty": 31}
    headers = dict(message.headers())
    assert headers["__connect.errors.topic"].decode() == f"{prefix}.{s}.items"
    assert "value too long" in headers["__connect.errors.exception.message"].decode()
    assert sink.stop() == 0, sink.log()
    log = sink.log() + secured["bridge"].log()
    assert env["BRIDGE_KAFKA_SECURE_PASSWORD"] not in log and "Traceback" not in log
    assert secured["bridge"].stop() == 0


OAUTH = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


@pytest.mark.parametrize("mechanism", ["mtls", "oauthbearer"])
def test_sink_reads_over_mtls_with_java_stores_and_over_oauthbearer(mechanism, secured, tmp_path, pg, pg_dsn,
                                                                    secure_kafka):
    """The sink's consumer with Connect's `consumer.override.ssl.*`: the SSL listener with a JKS
    keystore keytool makes here (its key password not the store's) and the PKCS12 truststore; and
    OAUTHBEARER with Java's unsecured test token, over SASL_SSL. The target equals the source."""
    s, prefix, env = secured["schema"], secured["prefix"], secure_kafka
    certs, storepass, c = env["BRIDGE_KAFKA_SECURE_CERTS"], env["BRIDGE_KAFKA_SECURE_STOREPASS"], "consumer.override."
    if mechanism == "mtls":
        jks = tmp_path / "client.jks"
        subprocess.run(["keytool", "-importkeystore", "-noprompt", "-srckeystore", f"{certs}/client.p12",
                        "-srcstoretype", "PKCS12", "-srcstorepass", storepass, "-destkeystore", str(jks),
                        "-deststoretype", "JKS", "-deststorepass", "jks-store-pw", "-destkeypass", "jks-key-pw"],
                       check=True, capture_output=True, timeout=120)
        bootstrap, options = env["BRIDGE_KAFKA_SECURE_SSL"], {
            c + "security.protocol": "SSL", c + "ssl.keystore.type": "JKS", c + "ssl.keystore.location": str(jks),
            c + "ssl.keystore.password": "jks-store-pw", c + "ssl.key.password": "jks-key-pw",
            c + "ssl.truststore.type": "PKCS12", c + "ssl.truststore.location": f"{certs}/truststore.p12",
            c + "ssl.truststore.password": storepass}
    else:
        bootstrap, options = None, {
            c + "security.protocol": "SASL_SSL", c + "sasl.mechanism": "OAUTHBEARER",
            c + "sasl.jaas.config": f'{OAUTH} required unsecuredLoginStringClaim_sub="pgbridge-svc";',
            c + "ssl.truststore.type": "PEM", c + "ssl.truststore.location": f"{certs}/ca.pem"}
    secured["bridge"].start()
    wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge to stream")
    sink = _sink(secured, tmp_path, env, secured["target"], options, bootstrap=bootstrap)
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {s}.items SELECT g, 'c' || g, g FROM generate_series(1, 10) g")
        cur.execute(f"UPDATE {s}.items SET qty = 0 WHERE id = 2")
        cur.execute(f"DELETE FROM {s}.items WHERE id = 3")
    expected = rows_as_text(pg_dsn, ROWS.format(s=s))

    def equal() -> bool:
        assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()}"
        return rows_as_text(secured["target"], ROWS.format(s=s)) == expected
    wait_until(equal, timeout=120, interval=0.5, what="the target to equal the source")
    assert sink.stop() == 0, sink.log()
    log = sink.log()
    assert "jks-store-pw" not in log and "jks-key-pw" not in log and "Traceback" not in log
    assert secured["bridge"].stop() == 0


@pytest.mark.parametrize("case", ["wrong password", "unknown CA"])
def test_sink_with_bad_kafka_credentials_stops_at_start_in_one_line(case, secured, tmp_path, secure_kafka):
    env = secure_kafka
    given, cause = {
        "wrong password": ({"password": "not-the-password"}, r"SASL authentication error|[Aa]uthentication failed"),
        "unknown CA": ({"ca": str(throwaway_ca(tmp_path))}, r"SSL handshake failed|certificate verify failed"),
    }[case]
    sink = _sink(secured, tmp_path, env, secured["target"], _overrides(env, "consumer", **given))
    assert sink.wait(120) == 3, f"{case}:\n{sink.log()}"
    log = sink.log()
    errors = error_lines(log)
    assert len(errors) == 1, f"{case}:\n{log}"
    assert errors[0].startswith(f"cannot reach Kafka at {env['BRIDGE_KAFKA_SECURE_SASL_SSL']}: "), log
    assert re.search(cause, errors[0]), log
    assert "not-the-password" not in log


@pytest.fixture
def tls_target(tls_pg):
    """A fresh database on the TLS-only cluster; its JDBC URL parts."""
    name = f"sstls_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(tls_pg["BRIDGE_PG_TLS_DSN"])
    admin.autocommit = True
    dsn = create_database(admin, tls_pg["BRIDGE_PG_TLS_DSN"], name)
    yield dsn
    drop_database(admin, name)
    admin.close()


def _tls_url(tls_pg, dsn: str, ca: str) -> str:
    p = psycopg2.extensions.parse_dsn(dsn)
    return (f"jdbc:postgresql://localhost:{tls_pg['BRIDGE_PG_TLS_PORT']}/{p['dbname']}"
            f"?sslmode=verify-full&sslrootcert={ca}")


def test_sink_writes_a_verify_full_tls_target_and_refuses_an_unknown_ca(secured, tmp_path, pg, pg_dsn,
                                                                       secure_kafka, tls_pg, tls_target):
    # GIVEN a target on the TLS-only cluster, reached with pgjdbc's sslmode=verify-full
    s, prefix, env = secured["schema"], secured["prefix"], secure_kafka
    conn = psycopg2.connect(tls_target)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {s}")
        cur.execute(TABLE.format(s=s))
    conn.close()
    secured["bridge"].start()
    wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge to stream")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {s}.items SELECT g, 'c' || g, g FROM generate_series(1, 20) g")
    # WHEN a sink writes it, and another sink names a CA that did not sign the server
    ca = tls_pg["BRIDGE_PG_TLS_CA"]
    options = {**_overrides(env, "consumer"), "flush.max.retries": "1", "flush.retry.delay.ms": "100"}
    sink = _sink(secured, tmp_path, env, tls_target, {**options, "connection.url": _tls_url(tls_pg, tls_target, ca)})
    wrong = _sink(secured, tmp_path, env, tls_target, {
        **options, "connection.url": _tls_url(tls_pg, tls_target, str(throwaway_ca(tmp_path)))}, name="wrong-ca")
    # THEN the first writes every row over TLS; the second stops with one line naming the cause
    expected = rows_as_text(pg_dsn, ROWS.format(s=s))
    wait_until(lambda: rows_as_text(tls_target, ROWS.format(s=s)) == expected, timeout=120, interval=1,
               what="the TLS target to equal the source")
    with psycopg2.connect(tls_target) as check, check.cursor() as cur:
        cur.execute("SELECT bool_and(s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                    "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()")
        encrypted, connections = cur.fetchone()
    assert connections >= 1 and encrypted, "the sink's connection is not encrypted"
    assert wrong.wait(120) == 3, wrong.log()
    errors = error_lines(wrong.log())
    assert len(errors) == 1, wrong.log()
    assert re.match(r'cannot connect to the target database: connection to server at "localhost" .*'
                    r"certificate verify failed", errors[0]), errors
    assert "retrying" not in wrong.log(), "a TLS refusal does not fix itself: no retry"
    assert sink.stop() == 0, sink.log()
    assert secured["bridge"].stop() == 0
