"""pgbridge over a secured broker with a Debezium user's Java client settings (issue 14).

The broker is the project's own `deploy/local/kafka-secure/up` (KRaft, SASL_SSL with SCRAM-SHA-512
users made at format time, a throwaway CA: the `secure_kafka` fixture). The bridge reads
`sasl.jaas.config=...ScramLoginModule required ...;` and `ssl.truststore.location` +
`ssl.truststore.type=PEM`, as a Debezium Server file has them; rows must arrive. A wrong password
and a CA that did not sign the broker must each stop the start with exit code 3 and one line
naming the broker and the cause, and leave the slot where it was.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer

from tests.integration.support import (
    REPO, SCRAM, Writers, check_exactly_once, check_per_key_sequences, child_pids, confirmed_flush,
    consume_until, error_lines, get_json, java_scram_settings, metrics_of, reached_final, scram_user,
    slot_active, throwaway_ca, wait_until,
)

P = "debezium.sink.kafka.producer."


def java_client_settings(env: dict[str, str], *, password: str | None = None, ca: str | None = None) -> dict:
    """What a Debezium Server user writes for SCRAM over SASL_SSL, with a PEM CA."""
    return {
        **{P + key: value for key, value in java_scram_settings(env, password=password, ca=ca).items()},
        # Failures are to surface within seconds, not after the default retry budget.
        "bridge.connect.attempts": "2", "bridge.connect.backoff.initial.ms": "1000",
    }


def read_topic(env: dict[str, str], topic: str, count: int, timeout: float = 60,
               extra: dict[str, str] | None = None) -> list[bytes]:
    consumer = Consumer({**(extra or {}),
        "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SASL_SSL"], "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": env["BRIDGE_KAFKA_SECURE_USER"],
        "sasl.password": env["BRIDGE_KAFKA_SECURE_PASSWORD"],
        "ssl.ca.location": f'{env["BRIDGE_KAFKA_SECURE_CERTS"]}/ca.pem',
        "group.id": f"reader-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    keys: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(keys) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and msg.value() is not None:
                keys.append(msg.key())
    finally:
        consumer.close()
    return keys


def test_scram_over_sasl_ssl_with_java_settings_streams_and_bad_credentials_fail_clearly(
        secure_kafka, bridge_factory, pg, unique_name, tmp_path):
    table = f"sec_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    try:
        bridge = bridge_factory(unique_name, extra=java_client_settings(secure_kafka), tables=[table])
        slot = f"{unique_name}_slot"
        bridge.start()
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, 20) g")
        topic = f"{unique_name}.public.{table}"
        assert len(read_topic(secure_kafka, topic, 20)) == 20, bridge.log()
        assert bridge.stop() == 0, bridge.log()
        wait_until(lambda: not slot_active(pg, slot), timeout=30, what="the slot to be released")
        position = confirmed_flush(pg, slot)

        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (21, 'while the credentials were wrong')")
        cases = {
            "wrong password": (java_client_settings(secure_kafka, password="not-the-password"),
                               r"SASL authentication error|[Aa]uthentication failed"),
            "unknown CA": (java_client_settings(secure_kafka, ca=str(throwaway_ca(tmp_path))),
                           r"SSL handshake failed|certificate verify failed"),
        }
        for case, (settings, cause) in cases.items():
            failing = bridge_factory(f"{unique_name}_{case.split()[0]}", extra={
                **settings, "debezium.source.slot.name": slot,
                "debezium.source.publication.name": f"{unique_name}_pub",
                "debezium.source.topic.prefix": unique_name})
            failing.start()
            assert failing.wait(120) == 3, f"{case}:\n{failing.log()}"
            log = failing.log()
            errors = error_lines(log)
            assert len(errors) == 1, f"{case}:\n{log}"
            assert errors[0].startswith(f"cannot reach Kafka at {secure_kafka['BRIDGE_KAFKA_SECURE_SASL_SSL']} ")
            assert re.search(cause, errors[0]), f"{case}:\n{log}"
            assert "not-the-password" not in log
            assert confirmed_flush(pg, slot) == position, case

        bridge.start()  # the right settings again: the row written meanwhile arrives
        assert len(read_topic(secure_kafka, topic, 21)) == 21, bridge.log()
        assert bridge.stop() == 0
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")



@pytest.mark.parametrize("mechanism", ["plain", "mtls", "mtls_jks"])
def test_plain_and_client_certificates_with_java_settings_stream(mechanism, secure_kafka, bridge_factory, pg,
                                                                 unique_name, tmp_path):
    """PLAIN over SASL_SSL with a single-quoted JAAS line; SSL with a PKCS12 client keystore (the
    SSL listener requires a client certificate), under Java's default keystore type; SSL with a
    JKS keystore keytool makes here (its key password not the store's) and the PKCS12 truststore."""
    env, certs = secure_kafka, secure_kafka["BRIDGE_KAFKA_SECURE_CERTS"]
    storepass = env["BRIDGE_KAFKA_SECURE_STOREPASS"]
    if mechanism == "plain":
        settings = {
            P + "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SASL_SSL"], P + "security.protocol": "SASL_SSL",
            P + "sasl.mechanism": "PLAIN",
            P + "sasl.jaas.config": ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                                     f"password='{env['BRIDGE_KAFKA_SECURE_PASSWORD']}' "
                                     f"username='{env['BRIDGE_KAFKA_SECURE_USER']}';"),
        }
    elif mechanism == "mtls":
        settings = {
            P + "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SSL"], P + "security.protocol": "SSL",
            P + "ssl.keystore.location": f"{certs}/client.p12",
            P + "ssl.keystore.password": storepass,
        }
    else:
        jks = tmp_path / "client.jks"
        subprocess.run(["keytool", "-importkeystore", "-noprompt", "-srckeystore", f"{certs}/client.p12",
                        "-srcstoretype", "PKCS12", "-srcstorepass", storepass, "-destkeystore", str(jks),
                        "-deststoretype", "JKS", "-deststorepass", "jks-store-pw", "-destkeypass", "jks-key-pw"],
                       check=True, capture_output=True, timeout=120)
        settings = {
            P + "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SSL"], P + "security.protocol": "SSL",
            P + "ssl.keystore.type": "JKS", P + "ssl.keystore.location": str(jks),
            P + "ssl.keystore.password": "jks-store-pw", P + "ssl.key.password": "jks-key-pw",
            P + "ssl.truststore.type": "PKCS12", P + "ssl.truststore.location": f"{certs}/truststore.p12",
            P + "ssl.truststore.password": storepass,
        }
    settings.setdefault(P + "ssl.truststore.location", f"{certs}/ca.pem")
    settings.setdefault(P + "ssl.truststore.type", "PEM")
    settings[P + "ssl.endpoint.identification.algorithm"] = "https"
    table = f"sec_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        bridge = bridge_factory(unique_name, extra=settings, tables=[table])
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 5)")
        assert len(read_topic(env, f"{unique_name}.public.{table}", 5)) == 5, bridge.log()
        assert bridge.stop() == 0, bridge.log()
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


OAUTH = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


class TokenEndpoint:
    """An OIDC token endpoint on 127.0.0.1 for the client-credentials flow: it checks the client's
    id and secret (HTTP basic) and hands out unsigned JWTs, which the test broker's unsecured
    validator accepts. `grants` records each request's form."""

    def __init__(self, client_id: str, secret: str) -> None:
        self.grants: list[dict[str, list[str]]] = []
        expected = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                endpoint.grants.append(form)
                now = int(time.time())
                claims = {"sub": client_id, "iat": now, "exp": now + 3600, "scope": form.get("scope", [""])[0]}
                body = json.dumps({"access_token": unsigned_jwt(claims), "token_type": "bearer",
                                   "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f'{part({"alg": "none"})}.{part(claims)}.'


@pytest.mark.parametrize("flow", ["oidc", "unsecured"])
def test_oauthbearer_with_java_settings_streams(flow, secure_kafka, bridge_factory, pg, unique_name):
    """OAUTHBEARER as a Debezium user writes it: OAuthBearerLoginModule with the OIDC login
    handler and a token endpoint (librdkafka fetches the token: the endpoint must see the
    client credentials and the scope), and Java's unsecured test tokens."""
    env = secure_kafka
    settings = {P + "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SASL_SSL"], P + "security.protocol": "SASL_SSL",
                P + "sasl.mechanism": "OAUTHBEARER", P + "ssl.truststore.type": "PEM",
                P + "ssl.truststore.location": f'{env["BRIDGE_KAFKA_SECURE_CERTS"]}/ca.pem'}
    endpoint = TokenEndpoint("pgbridge-svc", "oidc-client-secret") if flow == "oidc" else None
    if endpoint is not None:
        settings.update({
            P + "sasl.jaas.config": f'{OAUTH} required clientId="pgbridge-svc" clientSecret="oidc-client-secret" '
                                    'scope="kafka.write";',
            P + "sasl.login.callback.handler.class":
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
            P + "sasl.oauthbearer.token.endpoint.url": endpoint.url,
        })
    else:
        settings[P + "sasl.jaas.config"] = f'{OAUTH} required unsecuredLoginStringClaim_sub="pgbridge-svc";'
    table = f"sec_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        bridge = bridge_factory(unique_name, extra=settings, tables=[table])
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 5)")
        assert len(read_topic(env, f"{unique_name}.public.{table}", 5)) == 5, bridge.log()
        assert bridge.stop() == 0, bridge.log()
        if endpoint is not None:
            assert endpoint.grants, "librdkafka fetched no token"
            assert all(g["grant_type"] == ["client_credentials"] and g["scope"] == ["kafka.write"]
                       for g in endpoint.grants), endpoint.grants
        assert "oidc-client-secret" not in bridge.log()
    finally:
        if endpoint is not None:
            endpoint.close()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_exactly_once_over_sasl_ssl_its_admin_and_offsets_reader_authenticate(secure_kafka, bridge_factory, pg,
                                                                              unique_name):
    """Every client pgbridge opens gets the translated settings, not only the data producers:
    exactly once adds an admin client (the offsets topic), a consumer that reads that topic back
    at start, and transactional producers. Across a restart, every row is in Kafka once."""
    env = secure_kafka
    offsets = f"{unique_name}_offsets"
    settings = {**java_client_settings(env), "bridge.exactly.once": "true",
                "bridge.exactly.once.offsets.topic": offsets, "bridge.exactly.once.commit.interval.ms": "50"}
    table = f"sec_{unique_name}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        bridge = bridge_factory(unique_name, extra=settings, tables=[table])
        topic = f"{unique_name}.public.{table}"
        for first, last in ((1, 10), (11, 20)):
            bridge.start()
            wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
            with pg.cursor() as cur:
                cur.execute(f"INSERT INTO {table} SELECT generate_series({first}, {last})")
            keys = read_topic(env, topic, last, extra={"isolation.level": "read_committed"})
            assert len(keys) == last and len(set(keys)) == last, bridge.log()
            assert bridge.stop() == 0, bridge.log()
            wait_until(lambda: not slot_active(pg, slot), timeout=30, what="the slot to be released")
        assert read_topic(env, offsets, 1), "the offsets topic was not written over SASL_SSL"
        assert "Traceback" not in bridge.log()
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_no_output_of_a_secured_run_carries_a_secret(secure_kafka, bridge_factory, pg, unique_name, tmp_path):
    """The SCRAM password (in a JAAS line) and the JKS stores' passwords of a streaming run at DEBUG:
    never in its log (stdout and stderr), `bridge check`'s report, /q/metrics, /q/health or a
    process's title and command line."""
    env, certs = secure_kafka, secure_kafka["BRIDGE_KAFKA_SECURE_CERTS"]
    trust = tmp_path / "truststore.jks"
    subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", f"{certs}/ca.pem",
                    "-keystore", str(trust), "-storetype", "JKS", "-storepass", "trust-store-Secret-6"],
                   check=True, capture_output=True, timeout=120)
    secrets = [env["BRIDGE_KAFKA_SECURE_PASSWORD"], "trust-store-Secret-6"]
    settings = {**java_client_settings(env), P + "ssl.truststore.location": str(trust),
                P + "ssl.truststore.type": "JKS", P + "ssl.truststore.password": "trust-store-Secret-6",
                "quarkus.log.level": "DEBUG"}
    table = f"sec_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        bridge = bridge_factory(unique_name, extra=settings, tables=[table])
        check = subprocess.run([sys.executable, "-m", "bridge.cli", "check", "-c", str(bridge.config_path)],
                               cwd=REPO, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        outputs = {"bridge check": check.stdout + check.stderr}
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 5)")
        assert len(read_topic(env, f"{unique_name}.public.{table}", 5)) == 5, bridge.log()
        port = int(wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                              what="the HTTP port in the log")[1])
        for path in ("/q/metrics", "/q/health"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                outputs[path] = response.read().decode()
        for name, pid in {"bridge": bridge.proc.pid, **child_pids(bridge.proc.pid)}.items():
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                outputs[f"{name} command line"] = f.read().decode(errors="replace")
        assert bridge.stop() == 0, bridge.log()
        outputs["log"] = bridge.log_path.read_text(errors="replace")
        assert "DEBUG" in outputs["log"]
        for name, text in outputs.items():
            for secret in secrets:
                assert secret not in text, f"{name} shows a secret"
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def _logged(bridge, pattern: str, after: int = 0, timeout: float = 120) -> re.Match:
    """The first match of `pattern` in the bridge's log past character `after`."""
    return wait_until(lambda: re.search(pattern, bridge.log_path.read_text(errors="replace")[after:]),
                      timeout=timeout, what=f"{pattern!r} in the log")


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_sighup_rotates_the_scram_password_under_load_and_refuses_output_changes(
        mode, secure_kafka, bridge_factory, pg, pg_dsn, unique_name, tmp_path):
    """GIVEN a bridge streaming under load over SCRAM with its password from a FileConfigProvider
    WHEN the broker gets a new password for its user, a wrong one is put in the secret file and SIGHUP
    THEN the reload is refused (the new settings do not authenticate), counted as an authentication
    failure, readiness DEGRADED, streaming goes on;
    WHEN the right password is put there and SIGHUP
    THEN the pipeline drains and runs again with it, the slot resumes: nothing lost, per-key order
    (exactly once: nothing twice); a later SIGHUP with another topic.prefix is refused in one line
    naming the key and streaming goes on under the old prefix."""
    env = secure_kafka
    user, old, new = f"rot-{unique_name}", f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    scram_user(env, user, old)
    secret = tmp_path / "kafka-secret.properties"
    secret.write_text(f"password={old}\n")
    settings = {
        **java_client_settings(env),
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        P + "sasl.jaas.config": f'{SCRAM} required username="{user}" password="$${{file:{secret}:password}}";',
        "bridge.producers": "2",
    }
    if mode == "exactly_once":
        settings.update({"bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic": f"{unique_name}_offsets",
                         "bridge.exactly.once.commit.interval.ms": "50"})
    table = f"rot_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(0, 49) g")
    writers = None
    try:
        bridge = bridge_factory(unique_name, extra=settings, tables=[table])
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=90, what="the bridge to stream")
        port = int(_logged(bridge, r"health and metrics on http://127\.0\.0\.1:(\d+)/")[1])
        wait_until(lambda: get_json(port, "/q/health")[0] == 200, timeout=60, what="readiness")
        writers = Writers(pg_dsn, table, keys=50, threads=3, max_updates=1_000_000, pause_s=0.002).start()
        time.sleep(2)

        scram_user(env, user, new)  # the running clients' connections stay authenticated
        secret.write_text("password=not-the-password\n")
        mark = len(bridge.log_path.read_text(errors="replace"))
        bridge.proc.send_signal(signal.SIGHUP)
        _logged(bridge, r"reload of .* refused: with the new settings, cannot reach Kafka .*"
                        r"(SASL authentication error|[Aa]uthentication failed)", mark)
        assert metrics_of(port)[("pgbridge_kafka_auth_failures_total", ())] >= 1
        code, health = get_json(port, "/q/health")
        assert code == 200 and health["status"] == "DEGRADED", health
        assert health["checks"][0]["data"]["kafka_auth"] == "DEGRADED"

        secret.write_text(f"password={new}\n")
        mark = len(bridge.log_path.read_text(errors="replace"))
        hup = time.monotonic()
        bridge.proc.send_signal(signal.SIGHUP)
        down = wait_until(lambda: get_json(port, "/q/health")[0] == 503 and time.monotonic(), timeout=120,
                          interval=0.02, what="the drain")
        wait_until(lambda: get_json(port, "/q/health")[0] == 200, timeout=120, interval=0.02,
                   what="the pipeline to run again")
        up = time.monotonic()
        print(f"{mode}: reload accepted and drain started {down - hup:.2f}s after SIGHUP; "
              f"not ready for {up - down:.2f}s")
        log = bridge.log_path.read_text(errors="replace")[mark:]
        assert re.search(r"reload of .*: new Kafka client settings \(debezium\.sink\.kafka\.producer\.sasl\.jaas"
                         r"\.config\): draining", log), log
        time.sleep(2)  # streaming on the new password

        config = bridge.config_path.read_text()
        bridge.config_path.write_text(config.replace(f"topic.prefix={unique_name}\n",
                                                     f"topic.prefix={unique_name}_other\n"))
        mark = len(bridge.log_path.read_text(errors="replace"))
        bridge.proc.send_signal(signal.SIGHUP)
        _logged(bridge, r"reload of .* refused: it changes debezium\.source\.topic\.prefix; ", mark)
        time.sleep(2)  # still streaming, under the old prefix
        writers.stop()
        final = writers.final(pg)
        writers = None
        assert bridge.running() and get_json(port, "/q/health")[0] == 200

        topic = f"{unique_name}.public.{table}"
        consumer = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                    "sasl.username": user, "sasl.password": new,
                    "ssl.ca.location": f'{env["BRIDGE_KAFKA_SECURE_CERTS"]}/ca.pem',
                    "isolation.level": "read_committed"}
        events = consume_until(env["BRIDGE_KAFKA_SECURE_SASL_SSL"], topic, lambda ev: reached_final(ev, final),
                               timeout=180, what="every final value", settings=consumer)
        if mode == "exactly_once":
            check_exactly_once(events, final)
        else:
            check_per_key_sequences(events, final)
        assert bridge.stop() == 0, bridge.log()
        full = bridge.log_path.read_text(errors="replace")
        assert "Traceback" not in full
        for password in (old, new, "not-the-password"):
            assert password not in full
    finally:
        if writers is not None:
            writers.stop()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
