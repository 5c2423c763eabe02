"""Refusals no retry fixes, against the secured broker (issue 14, item 7): a SASL mechanism the
broker does not enable, and a user without ACLs (the broker enforces them). `bridge run` and
`bridge sink` each stop with exit code 3 and one line naming the broker and the cause (and, for
the ACL, the principal), without a retry loop; the slot is not confirmed past where it was.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.integration.support import (
    SCRAM, BridgeProcess, confirmed_flush, java_scram_settings, scram_user, slot_active, wait_until,
    write_sink_config,
)

P = "debezium.sink.kafka.producer."
_MECHANISM = r"SASL SCRAM-SHA-256 mechanism handshake failed: .*Unsupported SASL mechanism: broker's supported " \
             r"mechanisms: SCRAM-SHA-512,PLAIN,OAUTHBEARER"


@pytest.fixture(scope="module")
def no_acl_user(secure_kafka) -> tuple[str, str]:
    """A SCRAM user the broker authenticates but lets do nothing."""
    user, password = f"noacl-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    scram_user(secure_kafka, user, password, acls=())
    return user, password


@pytest.fixture(scope="module")
def no_txn_user(secure_kafka) -> tuple[str, str]:
    """A SCRAM user who may use every topic and group and the cluster, but no transactional id."""
    user, password = f"notxn-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    scram_user(secure_kafka, user, password, acls=("topic", "group", "cluster"))
    return user, password


def _causes(log: str) -> list[str]:
    """The bridge's own ERROR lines, from any of its processes, but the coordinator's note that a child
    exited (librdkafka's own lines, `bridge.kafka.librdkafka`, are its diagnostics, not the bridge's)."""
    lines = [line.split(" ERROR ", 1)[1] for line in log.splitlines() if " ERROR " in line]
    return [line.split(": ", 1)[1] for line in lines
            if "exited with code" not in line and not line.startswith("bridge.kafka.librdkafka:")]


def _settings(env, case: str, user: tuple[str, str]) -> dict[str, str]:
    settings = java_scram_settings(env)
    if case == "mechanism":
        settings["sasl.mechanism"] = "SCRAM-SHA-256"
    else:
        settings["sasl.jaas.config"] = f'{SCRAM} required username="{user[0]}" password="{user[1]}";'
    return settings


def _expected(env, case: str, user: str, client: str) -> str:
    broker = re.escape(env["BRIDGE_KAFKA_SECURE_SASL_SSL"])
    if case == "mechanism":
        return rf"cannot reach Kafka at {broker}(: | \(no retry fixes it\): ).*{_MECHANISM}"
    if case == "transactional id":
        return (r"exactly once: cannot initialise transactional id '.*': .*Transactional Id authorization failed.*; "
                rf"principal User:{user} lacks an ACL on the transactional id \(exactly once\)")
    return (rf"Kafka at {broker} refused (access|the sink's consumer).*: .*[Aa]uthorization failed.*; "
            rf"principal User:{user} lacks an ACL on the ({client})")


def test_bridge_run_stops_in_one_line_on_a_refusal_no_retry_fixes(secure_kafka, no_acl_user, no_txn_user,
                                                                   bridge_factory, pg, unique_name):
    """GIVEN a slot a bridge streamed from over SCRAM, and a row written since
    WHEN the bridge starts with a mechanism the broker does not enable, then as a user without ACLs,
    then exactly once as a user without ACLs on transactional ids
    THEN each stops with exit code 3 and one line, within seconds; the slot stays where it was."""
    env = secure_kafka
    table = f"ref_{unique_name}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    try:
        bridge = bridge_factory(unique_name, tables=[table],
                                extra={P + k: v for k, v in java_scram_settings(env).items()})
        bridge.start()
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
        assert bridge.stop() == 0, bridge.log()
        wait_until(lambda: not slot_active(pg, slot), timeout=30, what="the slot to be released")
        position = confirmed_flush(pg, slot)
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1)")
        for case in ("mechanism", "acl", "transactional id"):
            user = no_txn_user if case == "transactional id" else no_acl_user
            exactly_once = {"bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic": f"{unique_name}_offsets"}
            failing = bridge_factory(f"{unique_name}_{case.split()[0]}", extra={
                **{P + k: v for k, v in _settings(env, case, user).items()},
                **(exactly_once if case == "transactional id" else {}),
                "debezium.source.slot.name": slot, "debezium.source.publication.name": f"{unique_name}_pub",
                "debezium.source.topic.prefix": unique_name})
            started = time.monotonic()
            failing.start()
            assert failing.wait(120) == 3, f"{case}:\n{failing.log()}"
            took = time.monotonic() - started
            log = failing.log()
            errors = _causes(log)
            assert len(errors) == 1, f"{case}:\n{log}"
            assert re.search(_expected(env, case, user[0], "topic|cluster|transactional id"), errors[0]), errors[0]
            print(f"{case}: {errors[0]} ({took:.1f}s)")
            assert took < 40, f"{case}: {took:.0f}s, a refusal is not retried for the budget (45 s)"
            assert confirmed_flush(pg, slot) == position, case
            assert user[1] not in log and "Traceback" not in log
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.parametrize("case", ["mechanism", "acl"])
def test_bridge_sink_stops_in_one_line_on_a_refusal_no_retry_fixes(case, secure_kafka, no_acl_user, tmp_path,
                                                                   pg_dsn):
    env = secure_kafka
    name = f"ref{uuid.uuid4().hex[:8]}"
    settings = {k: v for k, v in _settings(env, case, no_acl_user).items() if k != "bootstrap.servers"}
    config = write_sink_config(tmp_path / f"{name}.json", name, pg_dsn, env["BRIDGE_KAFKA_SECURE_SASL_SSL"], {
        "topics": f"{name}.public.items", "insert.mode": "upsert", "primary.key.mode": "record_key",
        **{f"consumer.override.{k}": v for k, v in settings.items()}})
    sink = BridgeProcess(config, tmp_path / f"{name}.log", command="sink", args=("--workers", "1"))
    sink.start()
    try:
        assert sink.wait(120) == 3, sink.log()
        log = sink.log()
        errors = _causes(log)
        assert len(errors) == 1, log
        assert re.search(_expected(env, case, no_acl_user[0], "consumer group|topic"), errors[0]), errors[0]
        assert no_acl_user[1] not in log and "Traceback" not in log
    finally:
        if sink.running():
            sink.kill()
