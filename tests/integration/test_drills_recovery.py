"""Recovery drills (issue 16, items 4 and 8), each printing its timings: WAL truncation (the slot
invalidated by `max_slot_wal_keep_size` while the bridge is stopped, then
`bridge.slot.lost.recovery=resnapshot`); a broker whose log volume fills up (a 64 MB tmpfs:
Kafka takes the log directory offline and, its only one, shuts down; the runbook's recovery is
free space, restart the broker); `bridge drill`, the operators' command, against a running
bridge that reaches the drill broker through Toxiproxy; and the steps of the quarantine runbook
and of the consumer lag runbook (deploy/runbooks/schema-quarantine.md, consumer-lag.md), their
Python blocks run as written.

They run on clusters and brokers of their own (a scratch PostgreSQL); the shared Kafka and
PostgreSQL are never stopped or filled.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from bridge.errors import ExitCode
from tests.integration.drills import (KEYS, REPO, delete_topics, fill, http_port, pid_alive, pid_from, run_down,
                                      run_drill, run_up, scratch_postgres)
from tests.prometheus_text import parse
from tests.integration.support import (BridgeProcess, Writers, check_per_key_sequences, confirmed_flush,
                                       consume_until, drop_slot_and_publication, error_lines, reached_final, slot_active,
                                       state_from_events, table_state, wait_until, write_properties)

pytestmark = pytest.mark.integration

WAL_PG_PORT = 19398
# a second drill broker: its own state directory and ports, its partitions on a small volume
DISKFULL_BROKER = {"BRIDGE_KAFKA_DRILL_NAME": "kafka-diskfull", "BRIDGE_KAFKA_DRILL_PORT": "19400",
                   "BRIDGE_KAFKA_DRILL_CONTROLLER_PORT": "19401", "BRIDGE_KAFKA_DRILL_DIRECT_PORT": "19402",
                   "BRIDGE_KAFKA_DRILL_PROXY_PORT": "19403"}
NEW_ROWS = 50  # inserted during the outage: they can only arrive by the snapshot


def wal_status(pg, slot: str) -> str | None:
    with pg.cursor() as cur:
        cur.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
        return row and row[0]


def truncate_wal_under(pg, slot: str, table: str, timeout: float = 60) -> int:
    """Write, switch WAL segments and checkpoint until PostgreSQL invalidates `slot`
    (`wal_status=lost`); the rounds it took."""
    deadline, rounds = time.monotonic() + timeout, 0
    while wal_status(pg, slot) != "lost":
        assert time.monotonic() < deadline, f"slot {slot} still {wal_status(pg, slot)} after {timeout}s"
        with pg.cursor() as cur:
            cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id = %s", (rounds % KEYS,))
            cur.execute("SELECT pg_switch_wal()")
            cur.execute("CHECKPOINT")
        rounds += 1
    return rounds


def check_never_older(events) -> None:
    """Per key, in partition order, `v` never goes back: a snapshot read is never older than a
    change already streamed (the incremental snapshot's watermarks)."""
    seen: dict[int, list[int]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.partition, e.offset)):
        if e.value is not None:
            seen[e.key["payload"]["id"]].append(e.value["payload"]["after"]["v"])
    for key, values in seen.items():
        assert values == sorted(values), f"key {key} went back: {values}"


def test_wal_truncation_then_resnapshot(tmp_path, kafka_bootstrap, unique_name):
    name = f"waltrunc_{unique_name[-6:]}"
    table, signals, slot, publication = f"drill_{name}", f"sig_{name}", f"{name}_slot", f"{name}_pub"
    topic = f"{name}.public.{table}"
    with scratch_postgres(WAL_PG_PORT, {"max_slot_wal_keep_size": "1MB"}) as scratch:
        pg = psycopg2.connect(scratch.dsn)
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
            cur.execute(f"CREATE TABLE {signals} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                        "data varchar(2048))")
            cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {table}, {signals}')
        cfg = write_properties(tmp_path / f"{name}.properties", scratch.dsn, kafka_bootstrap, prefix=name, slot=slot,
                               publication=publication,
                               extra={"bridge.producers": "2",
                                      "debezium.source.publication.autocreate.mode": "disabled",
                                      "debezium.source.signal.data.collection": f"public.{signals}",
                                      "debezium.source.incremental.snapshot.chunk.size": "20"})
        bridge = BridgeProcess(cfg, tmp_path / f"{name}.log")
        try:
            # GIVEN a bridge that streamed every change of the table, then stopped
            bridge.start()
            wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
            with pg.cursor() as cur:
                cur.execute(f"INSERT INTO {table} SELECT g, 1 FROM generate_series(0, {KEYS - 1}) g")
            writers = Writers(scratch.dsn, table, KEYS, threads=2, max_updates=200, pause_s=0.005).start()
            time.sleep(1)
            writers.stop()
            before = writers.final(pg)
            events = consume_until(kafka_bootstrap, topic, lambda ev: reached_final(ev, before), timeout=120,
                                   what="the changes before the outage")
            check_per_key_sequences(events, before)
            assert bridge.stop() == 0, bridge.log()

            # WHEN changes commit while it is stopped, and PostgreSQL removes the WAL the slot needs
            started = time.monotonic()
            with pg.cursor() as cur:
                cur.execute(f"INSERT INTO {table} SELECT g, 1 FROM generate_series({KEYS}, {KEYS + NEW_ROWS - 1}) g")
            rounds = truncate_wal_under(pg, slot, table)
            lost_s = time.monotonic() - started

            # THEN the start stops with exit 11 and one line saying what happened and what to do
            started = time.monotonic()
            bridge.start()
            assert bridge.wait(120) == ExitCode.SLOT_LOST, bridge.log()
            refused_s = time.monotonic() - started
            errors = error_lines(bridge.log())
            assert len(errors) == 1 and "is lost: PostgreSQL removed WAL it still needed (wal_status=lost" in \
                errors[0] and "bridge.slot.lost.recovery=resnapshot" in errors[0], errors
            assert wal_status(pg, slot) == "lost"  # left as it was

            # WHEN it starts with bridge.slot.lost.recovery=resnapshot while writers run
            with open(cfg, "a") as f:
                f.write("bridge.slot.lost.recovery=resnapshot\n")
            started = time.monotonic()
            bridge.start()
            wait_until(lambda: slot_active(pg, slot), timeout=90, interval=0.1, what="the new slot to stream")
            streaming_s = time.monotonic() - started
            writers = Writers(scratch.dsn, table, KEYS, threads=2, max_updates=300, pause_s=0.01).start()
            time.sleep(3)
            writers.stop()
            final = table_state(pg, table)
            # THEN every row's latest state arrives (the outage's rows by the snapshot), the writers' changes stream
            events = consume_until(kafka_bootstrap, topic, lambda ev: state_from_events(ev) == final, timeout=180,
                                   what="every row's latest state")
            converged_s = time.monotonic() - started
            assert wal_status(pg, slot) in ("reserved", "extended")
            outage_rows = {e.key["payload"]["id"] for e in events if e.value is not None
                           and e.value["payload"]["source"]["snapshot"] == "incremental"}
            assert set(range(KEYS, KEYS + NEW_ROWS)) <= outage_rows, "the outage's inserts came from the snapshot"
            check_never_older(events)
            assert "Lost for good" in bridge.log()
            assert bridge.stop() == 0, bridge.log()
            print(f"drill wal-truncation: slot lost after {rounds} WAL switches and checkpoints ({lost_s:.1f}s); "
                  f"start refused with exit 11 in {refused_s:.1f}s; resnapshot: new slot streaming in "
                  f"{streaming_s:.1f}s, every row's latest state in Kafka {converged_s:.1f}s after the start "
                  f"({len(events)} records, {len(final)} rows)")
        finally:
            if bridge.running():
                bridge.kill()
            pg.close()


@pytest.fixture
def staging(tmp_path, pg, pg_dsn, drill_kafka, unique_name):
    """A running bridge that reaches the drill broker through Toxiproxy, its file with a
    bridge.drill.* section as an operator writes it for `bridge drill`."""
    name = f"cmd_{unique_name[-6:]}"
    table, slot, publication = f"drill_{name}", f"{name}_slot", f"{name}_pub"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {table}')
    cfg = write_properties(tmp_path / f"{name}.properties", pg_dsn, drill_kafka["BRIDGE_KAFKA_DRILL_PROXIED"],
                           prefix=name, slot=slot, publication=publication,
                           extra={"bridge.producers": "2", "debezium.source.publication.autocreate.mode": "disabled",
                                  "bridge.drill.toxiproxy.url": drill_kafka["proxy"].api.url,
                                  "bridge.drill.kafka.proxy": drill_kafka["proxy"].name,
                                  "bridge.drill.kafka.bootstrap.servers": drill_kafka["BRIDGE_KAFKA_DRILL_DIRECT"],
                                  "bridge.drill.table": f"public.{table}", "bridge.drill.duration.ms": "10000",
                                  "bridge.drill.timeout.ms": "25000"})
    bridge = BridgeProcess(cfg, tmp_path / f"{name}.log")
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the staging bridge to stream")
        yield bridge
    finally:
        if bridge.running():
            bridge.kill()
        wait_until(lambda: not slot_active(pg, slot), timeout=30, what="the slot to be released")
        drop_slot_and_publication(pg, slot, publication)
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        delete_topics(drill_kafka["BRIDGE_KAFKA_DRILL_DIRECT"], (f"{name}.public.{table}",))


def drill_command(staging: BridgeProcess, tmp_path, *args: str) -> BridgeProcess:
    return BridgeProcess(staging.config_path, tmp_path / f"drill-{args[0]}.log", command="drill", args=args)


def test_bridge_drill_kafka_partition(staging, tmp_path):
    # GIVEN a staging bridge streaming through Toxiproxy
    # WHEN an operator runs the kafka-partition drill against it
    drill = drill_command(staging, tmp_path, "kafka-partition")
    drill.start()
    # THEN the drill cuts the proxy off, heals it, and exits 0: nothing lost, order held, slot caught up
    assert drill.wait(240) == ExitCode.OK, drill.log()
    assert "drill kafka-partition: fault 10." in drill.log()
    assert "nothing lost, per-key order held" in drill.log()
    print(drill.log().strip().splitlines()[-1])
    assert staging.running()  # the bridge rode the partition out


def test_bridge_drill_fails_when_the_bridge_does_not_come_back(staging, tmp_path):
    # GIVEN a staging bridge that nothing restarts
    # WHEN the bridge-kill drill kills it
    drill = drill_command(staging, tmp_path, "bridge-kill", "--pid", str(staging.proc.pid))
    drill.start()
    # THEN the drill sees no change arrive after the kill and fails, saying so
    assert drill.wait(240) == ExitCode.FAILED, drill.log()
    assert error_lines(drill.log()) == [error_lines(drill.log())[0]]
    assert "the bridge did not resume" in drill.log()
    assert staging.wait(10) == -9


@pytest.fixture
def small_disk_broker(local_services):
    """A drill broker whose log.dirs is a 64 MB tmpfs: (its environment, its exports, the volume)."""
    volume = Path(tempfile.mkdtemp(prefix="pgbridge-diskfull-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(volume)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        volume.rmdir()
        pytest.skip(f"this container cannot mount a small volume for the broker: {mounted.stderr.strip()}")
    env = {**DISKFULL_BROKER, "BRIDGE_KAFKA_DRILL_LOG_DIRS": str(volume)}
    try:
        exports, _ = run_up("kafka-drill", env=env)
        yield env, exports, volume
    finally:
        run_down("kafka-drill", env=env)
        subprocess.run(["umount", str(volume)], check=False)
        volume.rmdir()


def test_broker_disk_full(tmp_path, pg, pg_dsn, small_disk_broker, unique_name):
    env, exports, volume = small_disk_broker
    kafka, name = exports["BRIDGE_KAFKA_DRILL_DIRECT"], f"diskfull_{unique_name[-6:]}"
    slot, seen = f"{name}_slot", {}

    def fault() -> None:
        # WHEN the broker's log volume fills up while the writers and the bridge go on
        broker = pid_from(exports["BRIDGE_KAFKA_DRILL_PID"])
        started = time.monotonic()
        fill(volume)
        wait_until(lambda: not pid_alive(broker), timeout=90, what="the broker to stop on its full log directory")
        seen["down_s"] = time.monotonic() - started
        server_log = Path(exports["BRIDGE_KAFKA_DRILL_PID"]).parent / "logs" / "server.log"
        assert "Shutdown broker because all log dirs in" in server_log.read_text(errors="replace")
        # THEN nothing Kafka did not acknowledge is confirmed: the slot stands still while WAL grows
        time.sleep(3)
        confirmed, wal = confirmed_flush(pg, slot), current_wal(pg)
        time.sleep(5)
        assert confirmed_flush(pg, slot) == confirmed and current_wal(pg) > wal
        # the runbook's recovery: free space (here: remove the filler), restart the broker on its data
        (volume / "filler").unlink()
        run_up("kafka-drill", env=env)

    result = run_drill(name, tmp_path, pg_dsn=pg_dsn, bridge_pg_dsn=pg_dsn, bridge_kafka=kafka, check_kafka=kafka,
                       fault=fault)
    assert result.changes > 0
    print(f"drill {name}: the broker shut down {seen['down_s']:.1f}s after its log volume filled")


def current_wal(pg) -> int:
    with pg.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cur.fetchone()[0])


def runbook_python(page: str) -> str:
    """The Python block of deploy/runbooks/<page>, as an operator copies it."""
    text = (REPO / "deploy" / "runbooks" / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, f"{page}: one python block expected"
    return blocks[0]


def test_quarantined_row_is_read_again(pg, bridge_factory, kafka_bootstrap, unique_name):
    table, signals, poison = f"quar_{unique_name}", f"sig_{unique_name}", f"{unique_name}_poison"
    topic, slot = f"{unique_name}.public.{table}", f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, amount numeric(10,2) NOT NULL)")
        cur.execute(f"CREATE TABLE {signals} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                    "data varchar(2048))")
    bridge = bridge_factory(unique_name, {"bridge.poison.topic": poison,
                                          "debezium.source.signal.data.collection": f"public.{signals}"},
                            tables=[table, signals])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to stream")
    # GIVEN a row the precise decimal mapping cannot represent, between two good ones
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 1)")
        cur.execute(f"INSERT INTO {table} VALUES (2, 'NaN')")
        cur.execute(f"INSERT INTO {table} VALUES (3, 3)")
    consume_until(kafka_bootstrap, topic, lambda ev: {e.key["payload"]["id"] for e in ev} == {1, 3}, timeout=60,
                  what="the good rows")
    # WHEN the operator reads the poison topic with the runbook's block (step 2)
    out = subprocess.run([sys.executable, "-", kafka_bootstrap, poison], input=runbook_python("schema-quarantine.md"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    assert f" | convert | public.{table} | " in line and "| ValueNotConverted | " in line and "NaN" in line, line
    # ... reloads with a mapping that represents the value (step 3) and signals a filtered snapshot (step 4)
    assert bridge.stop() == 0, bridge.log()
    with open(bridge.config_path, "a") as f:
        f.write("debezium.source.decimal.handling.mode=string\n")
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the reloaded bridge to stream")
    request = {"data-collections": [f"public.{table}"], "type": "incremental",
               "additional-conditions": [{"data-collection": f"public.{table}", "filter": "amount = 'NaN'"}]}
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {signals} VALUES ('replay-1', 'execute-snapshot', %s)", (json.dumps(request),))
    # THEN the quarantined row arrives with its current state as a snapshot read, and only it
    events = consume_until(kafka_bootstrap, topic, lambda ev: any(e.key["payload"]["id"] == 2 for e in ev),
                           timeout=90, what="the quarantined row")
    (replayed,) = [e.value["payload"] for e in events if e.key["payload"]["id"] == 2]
    assert replayed["op"] == "r" and replayed["source"]["snapshot"] == "incremental"
    assert replayed["after"]["amount"] == "NAN"  # as Debezium writes it in string mode
    time.sleep(2)
    assert sorted(e.key["payload"]["id"] for e in consume_until(kafka_bootstrap, topic, lambda ev: len(ev) >= 3)) == \
        [1, 2, 3]
    assert bridge.stop() == 0, bridge.log()


def producer_records(port: int) -> dict[str, float]:
    """pgbridge_producer_records_total by producer, from the bridge's /q/metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/q/metrics", timeout=10) as response:
        families = parse(response.read().decode())
    return {dict(labels)["producer"]: v for (n, labels), v in families.items() if n == "pgbridge_producer_records_total"}


def test_hot_partition_and_consumer_lag(pg, bridge_factory, kafka_bootstrap, unique_name):
    table, group = f"hot_{unique_name}", f"{unique_name}_consumers"
    topic, slot, hot = f"{unique_name}.public.{table}", f"{unique_name}_slot", 7
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, 4, 1)]).values():
        f.result(30)
    bridge = bridge_factory(unique_name, {"bridge.producers": "2"}, tables=[table])
    bridge.start()
    port = http_port(bridge)
    wait_until(lambda: slot_active(pg, slot), what="the bridge to stream")
    # GIVEN ten keys, one of them updated 300 times
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(0, 9) g")
        for _ in range(300):
            cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id = {hot}")
    consume_until(kafka_bootstrap, topic, lambda ev: len(ev) >= 310, what="every change")
    # THEN its producer's records stand out in the metrics (step 1)
    records = wait_until(lambda: (r := producer_records(port)) and sum(r.values()) >= 310 and r, what="the metrics")
    assert max(records.values()) >= 300 > min(records.values()), records
    # GIVEN a consumer group that read everything, then 100 more changes of the hot key
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    read = 0
    while read < 310:
        read += len([m for m in consumer.consume(500, 1.0) if not m.error()])
    consumer.commit(asynchronous=False)
    consumer.close()
    with pg.cursor() as cur:
        for _ in range(100):
            cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id = {hot}")
    consume_until(kafka_bootstrap, topic, lambda ev: len(ev) >= 410, what="the 100 changes")
    # WHEN the operator runs the runbook's kafka-consumer-groups equivalent (step 2)
    out = subprocess.run([sys.executable, "-", kafka_bootstrap, group, topic], input=runbook_python("consumer-lag.md"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, *rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert header == ["PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "RECORDS"]
    # THEN the hot key's partition holds most records and all the lag
    by_lag = sorted(rows, key=lambda r: int(r[3]))
    assert [int(r[3]) for r in by_lag] == [0, 0, 0, 100], out.stdout
    assert int(by_lag[-1][4]) == max(int(r[4]) for r in rows) >= 400
    assert bridge.stop() == 0, bridge.log()
