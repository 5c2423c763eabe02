"""SIGHUP reloads (`bridge.ops.reload`) without servers: what a changed file may change (Kafka
client credentials and certificates), what is refused with one line naming the keys, and how an
accepted reload reaches the running pipeline's graceful stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.errors import ConnectionFailed
from bridge.ops.reload import Reloader, is_client_security
from bridge.proc.coordinator import Child, Coordinator
from bridge.ring import LsnCells
from bridge.status.metrics import PipelineState

P = "debezium.sink.kafka.producer."
BASE = {
    "debezium.source.database.hostname": "db.example",
    "debezium.source.database.user": "u",
    "debezium.source.database.password": "p",
    "debezium.source.database.dbname": "inventory",
    "debezium.source.topic.prefix": "shop",
    P + "bootstrap.servers": "127.0.0.1:9092",
    P + "security.protocol": "SASL_SSL",
    P + "sasl.mechanism": "SCRAM-SHA-512",
    "config.providers": "file",
    "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
}
JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="bridge" password="{}";'


@pytest.fixture
def files(tmp_path):
    """(the configuration file, the secret file its JAAS line reads the password from, the CA file)."""
    secret, ca = tmp_path / "secret.properties", tmp_path / "ca.pem"
    secret.write_text("password=first-Secret-1\n")
    ca.write_text("the first CA\n")
    config = tmp_path / "application.properties"
    write(config, **{P + "sasl.jaas.config": JAAS.format(f"$${{file:{secret}:password}}"),
                     P + "ssl.ca.location": str(ca)})
    return config, secret, ca


def write(path, **props) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in {**BASE, **props}.items()))


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def reloader(config, checked: list | None = None, fails: str | None = None) -> Reloader:
    def check(new_config) -> None:
        if checked is not None:
            checked.append(new_config)
        if fails:
            raise ConnectionFailed(fails)
    return Reloader(str(config), check=check)


def test_the_client_security_set():
    for key in (P + "sasl.jaas.config", P + "sasl.password", P + "ssl.keystore.location", P + "security.protocol",
                P + "sasl.oauthbearer.client.secret", "debezium.source.signal.consumer.sasl.jaas.config"):
        assert is_client_security(key), key
    for key in (P + "bootstrap.servers", P + "linger.ms", "debezium.source.topic.prefix",
                "debezium.source.database.password", "debezium.format.value.schemas.enable", "config.providers"):
        assert not is_client_security(key), key


def test_a_new_password_in_the_secret_file_is_accepted_after_the_check(files, caplog):
    config, secret, _ = files
    checked: list = []
    r = reloader(config, checked)
    secret.write_text("password=second-Secret-2\n")
    with caplog.at_level(logging.INFO, "bridge.reload"):
        new = r.judge()
    assert new is not None and checked == [new]
    assert new.kafka.connection.settings["sasl.password"] == "second-Secret-2"
    assert [rec.getMessage().split(": ", 1)[1] for rec in caplog.records] == [
        f"new Kafka client settings ({P}sasl.jaas.config): draining the pipeline to run it with them"]
    assert "Secret" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, "bridge.reload"):
        assert r.judge() is None  # judged against what it accepted: nothing changed since
    assert caplog.records[0].getMessage().endswith(": nothing changed")


def test_a_certificate_replaced_in_place_is_a_change(files, caplog):
    config, _, ca = files
    r = reloader(config)
    ca.write_text("the second CA\n")
    with caplog.at_level(logging.INFO, "bridge.reload"):
        assert r.judge() is not None
    assert f"({P}ssl.ca.location)" in caplog.text


def test_a_change_outside_client_security_is_refused_naming_every_key(files, caplog):
    config, secret, _ = files
    checked: list = []
    r = reloader(config, checked)
    edit(config, "topic.prefix=shop", "topic.prefix=store")
    with open(config, "a") as f:
        f.write(f"{P}linger.ms=50\n")
    secret.write_text("password=second-Secret-2\n")  # a credential with them changes nothing
    assert r.judge() is None and checked == []
    [line] = [rec for rec in caplog.records if rec.name == "bridge.reload"]
    assert line.levelno == logging.ERROR
    assert (f"refused: it changes {P}linger.ms, debezium.source.topic.prefix; a reload takes only new Kafka "
            "credentials and certificates") in line.getMessage()
    assert line.getMessage().endswith("still running on the previous settings")
    assert "Secret" not in caplog.text


def test_a_file_that_fails_to_validate_or_credentials_that_fail_keep_the_old_settings(files, caplog):
    config, secret, _ = files
    r = reloader(config)
    text = config.read_text()
    config.write_text(text + "debezium.source.no.such.key=1\n")
    assert r.judge() is None
    assert "failed: " in caplog.text and "no.such.key" in caplog.text
    config.write_text(text)
    failing = reloader(config, fails="cannot reach Kafka at 127.0.0.1:9092: SASL authentication error")
    secret.write_text("password=second-Secret-2\n")
    caplog.clear()
    assert failing.judge() is None
    assert caplog.records[-1].getMessage().endswith(
        "refused: with the new settings, cannot reach Kafka at 127.0.0.1:9092: SASL authentication error; "
        "still running on the previous settings")
    assert failing.judge() is None  # not taken as the new baseline: judged again, refused again


def test_an_accepted_reload_drains_the_running_pipeline_or_the_next_one_to_start(files):
    config, secret, _ = files
    r = reloader(config)
    drained: list[str] = []

    async def scenario() -> None:
        r.attach(lambda: drained.append("run 1"))
        r.requested()
        await r._task
        assert drained == ["run 1"] and r.pending is not None
        taken = r.take()
        assert taken is not None and r.take() is None
        r.attach(None)  # between runs: an accepted reload waits for the next run
        secret.write_text("password=third-Secret-3\n")
        r.requested()
        await r._task
        r.attach(lambda: drained.append("run 2"))
        assert drained == ["run 1", "run 2"]

    secret.write_text("password=second-Secret-2\n")
    asyncio.run(scenario())


def test_a_rejected_reload_leaves_the_pipeline_alone(files):
    config, _, _ = files
    r = reloader(config)
    drained: list[str] = []

    async def scenario() -> None:
        r.attach(lambda: drained.append("run 1"))
        edit(config, "topic.prefix=shop", "topic.prefix=store")
        r.requested()
        await r._task

    asyncio.run(scenario())
    assert drained == [] and r.take() is None


def test_the_coordinators_drain_is_a_graceful_stop_that_does_not_stop_the_supervisor():
    class Process:
        exitcode = None
        signals: list[str] = []

        def terminate(self) -> None:
            self.signals.append("SIGTERM")

    with LsnCells.create(1) as cells:
        state = PipelineState("slot", 1)
        decoder = Child("decoder", Process())
        coordinator = Coordinator(decoder, [Child("producer-0", Process())], [], cells, 5.0, state)
        coordinator.drain()
        coordinator.drain()  # once
        assert Process.signals == ["SIGTERM"] and coordinator.stopping and not state.stop_requested
        coordinator.request_stop()  # SIGTERM meanwhile: the supervisor stops after this run
        assert Process.signals == ["SIGTERM"] and state.stop_requested
