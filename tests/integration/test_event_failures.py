"""A row Debezium cannot convert, streamed with each event.processing.failure.handling.mode,
against the real servers, and beside the real Debezium.

The input is real: numeric 'NaN' in a NOT NULL numeric(10,2) column. With
decimal.handling.mode=precise (the default) Debezium cannot represent it: its converter fails,
the column stays null, and Connect refuses the null in a required field when the envelope is
built ("Invalid value: null used for required field"). Three one-row transactions: row 1 has NaN
in the nullable column (its column is null, with a warning: no failure), row 2 in the NOT NULL
one (the event fails), row 3 is plain.
- fail (default): the connector stops at row 2; the slot never moves past it.
- warn: row 2 is skipped with a warning; rows 1 and 3 are delivered; the slot moves past all.
- skip: the same without the warning.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.integration.support import (DEBEZIUM_STOP, confirmed_flush, consume_until, slot_active,
                                       start_debezium_with, topic_size, wait_until)

MODE = "debezium.source.event.processing.failure.handling.mode"
ROWS = ("(1, 1.5, 'NaN')", "(2, 'NaN', 2.5)", "(3, 3, 3)")


def create_table(pg, table: str) -> None:
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n numeric(10,2) NOT NULL, m numeric(10,2))")


def insert_rows(pg, table: str) -> int:
    """The three rows, one transaction each; returns the WAL position before row 2."""
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES {ROWS[0]}")
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        before_row_2 = int(cur.fetchone()[0])
        for row in ROWS[1:]:
            cur.execute(f"INSERT INTO {table} VALUES {row}")
    return before_row_2


def ids(events) -> list[int]:
    return [e.key["payload"]["id"] for e in events if e.value is not None]


@pytest.mark.parametrize("mode", ["fail", "warn", "skip"])
def test_a_row_that_cannot_be_converted_in_each_mode(pg, bridge_factory, kafka_bootstrap, unique_name, mode):
    table, slot = f"ef_{unique_name}", f"{unique_name}_slot"
    topic = f"{unique_name}.public.{table}"
    create_table(pg, table)
    bridge = bridge_factory(unique_name, {"bridge.producers": "1", MODE: mode}, tables=[table])
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
        # WHEN the rows stream
        before_row_2 = insert_rows(pg, table)
        if mode == "fail":
            # THEN the bridge stops at row 2 with one error naming table, LSN, column and why
            assert bridge.wait(60) == 6, bridge.log()
            log = bridge.log()
            assert f"cannot build the change event of public.{table} at LSN " in log, log
            assert ": column n: the special value NaN cannot be represented with decimal.handling.mode=precise" in log
            assert "event.processing.failure.handling.mode=fail stops here" in log
            # AND the slot never moved past row 2; nothing after row 1 reached Kafka (row 1 itself
            # only if it was delivered before the stop: the slot gives it again on restart)
            assert confirmed_flush(pg, slot) <= before_row_2
            assert topic_size(kafka_bootstrap, topic) <= 1
            return
        # THEN rows 1 and 3 are delivered, row 2 is skipped
        events = consume_until(kafka_bootstrap, topic, lambda ev: 3 in ids(ev), timeout=60, what="row 3")
        assert ids(events) == [1, 3]
        assert events[0].value["payload"]["after"]["m"] is None  # a nullable column: null, the event kept
        row_3_lsn = events[-1].value["payload"]["source"]["lsn"]
        assert bridge.stop() == 0, bridge.log()
        # AND the slot moved past the skipped row (and row 3): it was skipped on purpose
        assert confirmed_flush(pg, slot) > row_3_lsn
        skipped = [line for line in bridge.log().splitlines() if "skipped the change event" in line]
        if mode == "warn":  # one warning, naming table and column, without the row's values
            (line,) = skipped
            assert "WARNING producer-0" in line and f"of public.{table} at LSN " in line and "column n:" in line
            assert "2.5" not in line
        else:
            assert skipped == []
    finally:
        if bridge.running():
            bridge.kill()


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_debezium_fails_or_skips_the_same_row(pg, pg_dsn, bridge_factory, kafka_bootstrap, unique_name, tmp_path,
                                               mode):
    # GIVEN the real Debezium on Kafka Connect and pgbridge on the same table, the same mode
    table = f"ef_{unique_name}"
    dbz, ours = f"{unique_name}_dbz", f"{unique_name}_pgb"
    create_table(pg, table)
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    with pg.cursor() as cur:
        cur.execute(f'CREATE PUBLICATION "{dbz}_pub" FOR TABLE {table}')
    bridge = bridge_factory(ours, {"bridge.producers": "1", MODE: mode}, tables=[table])
    try:
        start_debezium_with(tmp_path, dbz, {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                                            "event.processing.failure.handling.mode": mode}, env)
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{ours}_slot"), timeout=60, what="the bridge to stream")
        # WHEN the rows stream through both
        before_row_2 = insert_rows(pg, table)
        if mode == "fail":
            # THEN both stop at row 2 (Debezium's task fails and lets its slot go) and neither slot
            # moves past it; neither delivers row 3
            assert bridge.wait(60) == 6, bridge.log()
            wait_until(lambda: not slot_active(pg, dbz), timeout=60, what="Debezium's task to fail")
            for slot in (dbz, f"{ours}_slot"):
                assert confirmed_flush(pg, slot) <= before_row_2, slot
            for prefix in (dbz, ours):  # row 1 at most, if sent before the failure
                assert topic_size(kafka_bootstrap, f"{prefix}.public.{table}") <= 1, prefix
            return
        # THEN both deliver rows 1 and 3 alike, and skip row 2
        got = {prefix: consume_until(kafka_bootstrap, f"{prefix}.public.{table}", lambda ev: 3 in ids(ev),
                                     timeout=90, what="row 3")
               for prefix in (dbz, ours)}
        for prefix, events in got.items():
            assert ids(events) == [1, 3], prefix
        for theirs, mine in zip(got[dbz], got[ours]):
            assert json.dumps(mine.key) == json.dumps(theirs.key).replace(dbz, ours)
            assert json.dumps(mine.value["schema"]) == json.dumps(theirs.value["schema"]).replace(dbz, ours)
            assert mine.value["payload"]["after"] == theirs.value["payload"]["after"]
            assert mine.value["payload"]["source"]["lsn"] == theirs.value["payload"]["source"]["lsn"]
        assert bridge.stop() == 0, bridge.log()
        # AND both slots move past the skipped row (Debezium confirms the LSN of the last event it committed)
        row_3_lsn = got[ours][-1].value["payload"]["source"]["lsn"]
        wait_until(lambda: confirmed_flush(pg, dbz) >= row_3_lsn, timeout=120, what="Debezium to confirm row 3")
        assert confirmed_flush(pg, f"{ours}_slot") > row_3_lsn
    finally:
        if bridge.running():
            bridge.kill()
        subprocess.run([str(DEBEZIUM_STOP), dbz, "--purge"], env=env, capture_output=True, timeout=120, check=False)
        with pg.cursor() as cur:
            wait_until(lambda: not slot_active(pg, dbz), timeout=30, what="Debezium's slot to be released")
            cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                        (dbz,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{dbz}_pub"')


# --- a record Kafka refuses: Kafka Connect's errors.tolerance ------------------------------------

BIG = 30_000  # characters of a text value: over the producer's message.max.bytes below


@pytest.mark.parametrize("tolerance", ["none", "all"])
def test_a_record_kafka_refuses_stops_the_bridge_or_is_skipped_with_errors_tolerance_all(
        pg, bridge_factory, kafka_bootstrap, unique_name, tolerance):
    table, slot = f"ef_{unique_name}", f"{unique_name}_slot"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    # GIVEN a producer that refuses records over 20000 bytes
    bridge = bridge_factory(unique_name, {"bridge.producers": "1", "connect.errors.tolerance": tolerance,
                                          "debezium.sink.kafka.producer.message.max.bytes": "20000"}, tables=[table])
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
        # WHEN a small row, a row too large for Kafka and a small row stream, one transaction each
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'small')")
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            before_row_2 = int(cur.fetchone()[0])
            cur.execute(f"INSERT INTO {table} VALUES (2, repeat('x', {BIG}))")
            cur.execute(f"INSERT INTO {table} VALUES (3, 'small')")
        if tolerance == "none":
            # THEN the bridge stops naming the record's topic, and the slot stays before row 2
            assert bridge.wait(60) == 7, bridge.log()
            assert "Kafka producer refused a record of " in bridge.log() and topic in bridge.log()
            assert confirmed_flush(pg, slot) <= before_row_2
            return
        # THEN with errors.tolerance=all row 2 is skipped with an error line, rows 1 and 3 delivered
        events = consume_until(kafka_bootstrap, topic, lambda ev: 3 in ids(ev), timeout=60, what="row 3")
        assert ids(events) == [1, 3]
        row_3_lsn = events[-1].value["payload"]["source"]["lsn"]
        assert bridge.stop() == 0, bridge.log()
        (line,) = [x for x in bridge.log().splitlines() if "not delivered" in x]
        assert "ERROR producer-0" in line and f"record for {topic} [0] not delivered: " in line, line
        assert "skipped (errors.tolerance=all)" in line and "xxxx" not in line
        # AND the slot moved past it, as Connect commits the offset of a record it skipped
        assert confirmed_flush(pg, slot) > row_3_lsn
    finally:
        if bridge.running():
            bridge.kill()


def test_debezium_on_kafka_connect_skips_the_same_refused_record(pg, pg_dsn, bridge_factory, kafka_bootstrap,
                                                                  unique_name, tmp_path):
    # GIVEN errors.tolerance=all on Kafka Connect (its producer refusing requests over 20000
    # bytes, through a producer override) and on pgbridge (message.max.bytes=20000)
    table = f"ef_{unique_name}"
    dbz, ours = f"{unique_name}_dbz", f"{unique_name}_pgb"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        cur.execute(f'CREATE PUBLICATION "{dbz}_pub" FOR TABLE {table}')
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    bridge = bridge_factory(ours, {"bridge.producers": "1", "connect.errors.tolerance": "all",
                                   "debezium.sink.kafka.producer.message.max.bytes": "20000"}, tables=[table])
    try:
        start_debezium_with(tmp_path, dbz, {
            "snapshot.mode": "no_data", "publication.autocreate.mode": "disabled", "errors.tolerance": "all",
            "producer.override.max.request.size": "20000", "worker.connector.client.config.override.policy": "All",
        }, env)
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{ours}_slot"), timeout=60, what="the bridge to stream")
        # WHEN a small row, a row too large for Kafka and a small row stream
        with pg.cursor() as cur:
            for row in ("(1, 'small')", f"(2, repeat('x', {BIG}))", "(3, 'small')"):
                cur.execute(f"INSERT INTO {table} VALUES {row}")
        # THEN both skip row 2 and deliver rows 1 and 3, and both slots move past row 3
        for prefix in (dbz, ours):
            events = consume_until(kafka_bootstrap, f"{prefix}.public.{table}", lambda ev: 3 in ids(ev), timeout=90,
                                   what="row 3")
            assert ids(events) == [1, 3], prefix
        row_3_lsn = events[-1].value["payload"]["source"]["lsn"]
        assert bridge.stop() == 0, bridge.log()
        assert confirmed_flush(pg, f"{ours}_slot") > row_3_lsn
        wait_until(lambda: confirmed_flush(pg, dbz) >= row_3_lsn, timeout=120, what="Debezium to confirm row 3")
    finally:
        if bridge.running():
            bridge.kill()
        subprocess.run([str(DEBEZIUM_STOP), dbz, "--purge"], env=env, capture_output=True, timeout=120, check=False)
        with pg.cursor() as cur:
            wait_until(lambda: not slot_active(pg, dbz), timeout=30, what="Debezium's slot to be released")
            cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                        (dbz,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{dbz}_pub"')
