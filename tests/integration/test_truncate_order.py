"""A truncate keeps its place in WAL order in a partition that several producers write.

With `bridge.producers=2` and a table topic of one partition, both producers write that
partition: rows by their key's owner, a truncate by its table's owner. Debezium (one task)
writes them in WAL order, and a consumer applying the topic (Debezium's JDBC sink with
`truncate.enabled`) relies on it: a row before the truncate landing after it survives in the
target, a row after it landing before it is lost. The truncate is a barrier
(`bridge.produce.barrier`): every record of the partition before it in WAL order precedes
it, every record after it follows it. With exactly once too, read committed: each producer
commits its Kafka transaction at a barrier, so none waits inside one on another.
"""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.support import consume_until, slot_active, wait_until

ROUNDS = 6
TRANSACTIONS = 4  # per round, before its truncate
ROWS = 150  # per transaction, each on its own key


@pytest.fixture
def one_partition_topic(kafka_bootstrap, unique_name):
    """The table's topic, created with one partition before the bridge starts; deleted afterwards
    with every other topic of the test."""
    topic = f"{unique_name}.public.trunc_{unique_name}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    yield topic
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(unique_name)]
    for future in admin.delete_topics(ours).values():
        future.result(30)


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at_least_once", "exactly_once"])
def test_each_truncate_is_after_every_earlier_row_and_before_every_later_one(
        pg, bridge_factory, kafka_bootstrap, unique_name, one_partition_topic, exactly_once):
    table = f"trunc_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    mode = {"bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic": f"{unique_name}_offsets"} \
        if exactly_once else {}
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "debezium.source.skipped.operations": "none",
                                          **mode}, tables=[table])
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to start streaming")

        # GIVEN rounds of transactions inserting many keys, each round ended by a TRUNCATE
        with pg.cursor() as cur:
            for r in range(ROUNDS):
                for t in range(TRANSACTIONS):
                    first = (r * TRANSACTIONS + t) * ROWS
                    cur.execute(f"INSERT INTO {table} SELECT g, %s FROM generate_series(%s, %s) g",
                                (r, first, first + ROWS - 1))
                cur.execute(f"TRUNCATE {table}")
        expected = ROUNDS * (TRANSACTIONS * ROWS + 1)

        # WHEN the topic's one partition is read in offset order
        events = consume_until(kafka_bootstrap, one_partition_topic, lambda ev: len(ev) >= expected,
                               what=f"{expected} records",
                               settings={"isolation.level": "read_committed"} if exactly_once else None)
        assert bridge.stop() == 0, bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
    events.sort(key=lambda e: e.offset)
    assert len(events) == expected and {e.partition for e in events} == {0}
    ops = [(e.value["payload"]["op"], e.value["payload"]["source"]["lsn"]) for e in events]
    truncates = [(offset, lsn) for offset, (op, lsn) in enumerate(ops) if op == "t"]
    assert len(truncates) == ROUNDS

    # THEN every row before a truncate in WAL order is before it in the partition, every row after it after it
    for t_offset, t_lsn in truncates:
        early = [o for o, (op, lsn) in enumerate(ops) if op == "c" and lsn < t_lsn and o > t_offset]
        late = [o for o, (op, lsn) in enumerate(ops) if op == "c" and lsn > t_lsn and o < t_offset]
        assert not early, f"truncate at offset {t_offset}: {len(early)} earlier rows after it (first at {early[0]})"
        assert not late, f"truncate at offset {t_offset}: {len(late)} later rows before it (first at {late[0]})"
    # and the truncates themselves in WAL order
    assert [lsn for _, lsn in truncates] == sorted(lsn for _, lsn in truncates)
