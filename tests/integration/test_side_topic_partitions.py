"""Side topics with several partitions: where `<prefix>.transaction` and `<prefix>.message`
records land when the topics exist with 3 partitions before the bridge starts.

- `bridge.partitioner=mmh3` (the default): every BEGIN/END record is in partition 0, so that
  one partition holds BEGIN then END of every transaction, in commit order; the messages of a
  prefix are all in partition `key_hash(salt, prefix) % 3`, in the order PostgreSQL made them
  visible, and different prefixes spread over partitions.
- `bridge.partitioner=murmur2`: every record of either topic carries Debezium's exact key bytes
  and is in the partition Kafka's Java default partitioner gives them, where Debezium's record
  would be; each partition keeps the records it holds in their original order. BEGIN and END
  of one transaction have different ids (`<xid>:<BEGIN LSN>`, `<xid>:<commit end LSN>`, as in
  Debezium), so they may land in different partitions, as Debezium's do.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bridge.route.partitioner import java_default_partition, key_hash
from tests.integration.support import slot_active, topic_size, wait_until

PARTITIONS = 3
# They spread over partitions with each salt and partitioner used below (preconditions the
# tests assert); with salt "blue" two of them share one.
PREFIXES = ("side-orders", "side-stock", "side-ship")
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "debezium"
TRANSACTIONS = 6


@dataclass(frozen=True)
class Raw:
    """A record as Kafka holds it: the key's exact bytes (what murmur2 hashes), the value parsed."""
    topic: str
    partition: int
    offset: int
    key: bytes
    value: dict

    @property
    def payload(self) -> dict:
        return self.value["payload"]


@dataclass
class Workload:
    xids: list[int] = field(default_factory=list)  # every transaction, in commit order
    events: dict[int, int] = field(default_factory=dict)  # xid -> events its END counts
    messages: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PREFIXES})

    @property
    def expected_transaction_records(self) -> list[tuple[str, int]]:
        return [(status, xid) for xid in self.xids for status in ("BEGIN", "END")]

    @property
    def message_count(self) -> int:
        return sum(len(m) for m in self.messages.values())


@pytest.fixture
def side_topics(kafka_bootstrap, unique_name):
    """(`<prefix>.transaction`, `<prefix>.message`), created with 3 partitions; afterwards every
    topic of the prefix (the table's too) is deleted."""
    topics = (f"{unique_name}.transaction", f"{unique_name}.message")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics]).values():
        future.result(30)
    yield topics
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{unique_name}.")]
    for future in admin.delete_topics(ours).values():
        future.result(30)


def start_bridge(pg, bridge_factory, unique_name: str, extra: dict[str, str]):
    """A bridge with transaction metadata over its own table, capturing only PREFIXES' messages
    (messages reach every slot: others' must not land in these topics)."""
    table = f"side_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    bridge = bridge_factory(unique_name, {
        "bridge.producers": "2",
        "debezium.source.provide.transaction.metadata": "true",
        "debezium.source.message.prefix.include.list": "|".join(f"^{p}$" for p in PREFIXES),
        **extra,
    }, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to start streaming")
    return bridge, table


def run_workload(pg, table: str) -> Workload:
    """Transactions on `table` (every other one also carrying a transactional message),
    non-transactional messages between them, then a transaction of messages only. One session,
    so commit order and visibility order are the order of this code."""
    work = Workload()
    with pg.cursor() as cur:
        def emit(transactional: bool, prefix: str, content: str) -> None:
            cur.execute("SELECT pg_logical_emit_message(%s, %s, %s)", (transactional, prefix, content))
            work.messages[prefix].append(content)  # a transactional one shows at COMMIT, before the next emit

        def begin() -> int:
            cur.execute("BEGIN")
            cur.execute("SELECT txid_current() % 4294967296")  # the 32-bit xid pgoutput sends
            return cur.fetchone()[0]

        for i in range(TRANSACTIONS):
            xid = begin()
            cur.execute(f"INSERT INTO {table} VALUES (%s, 0)", (i,))
            events = 1
            if i % 2 == 0:
                cur.execute(f"UPDATE {table} SET v = 1 WHERE id = %s", (i,))
                emit(True, PREFIXES[i % 3], f"tx-{i}")
                events += 2
            cur.execute("COMMIT")
            work.xids.append(xid)
            work.events[xid] = events
            emit(False, PREFIXES[(i + 1) % 3], f"nontx-{i}")
        xid = begin()
        for prefix in PREFIXES:
            emit(True, prefix, f"alone-{prefix}")
        cur.execute("COMMIT")
        work.xids.append(xid)
        work.events[xid] = len(PREFIXES)
    return work


def read_all(bootstrap: str, topics: tuple[str, ...], count: int, timeout: float = 60.0) -> list[Raw]:
    """Every partition of `topics` from the start until `count` records arrived (fails after
    `timeout`); sorted by (topic, partition, offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"side-{time.monotonic_ns()}",
                         "enable.auto.commit": False})
    out: list[Raw] = []
    try:
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(PARTITIONS)])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                out.append(Raw(msg.topic(), msg.partition(), msg.offset(), msg.key(), json.loads(msg.value())))
    finally:
        consumer.close()
    assert len(out) >= count, f"{topics}: {len(out)} of {count} records after {timeout}s"
    return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))


def run_and_read(pg, bridge_factory, kafka_bootstrap, unique_name, side_topics, extra):
    """Start a bridge, run the workload, read both side topics completely, stop cleanly."""
    bridge, table = start_bridge(pg, bridge_factory, unique_name, extra)
    try:
        work = run_workload(pg, table)
        expected = 2 * len(work.xids) + work.message_count
        records = read_all(kafka_bootstrap, side_topics, expected)
        assert bridge.stop() == 0, bridge.log()
        # nothing beyond the expected records: no duplicate, no foreign message
        assert sum(topic_size(kafka_bootstrap, t) for t in side_topics) == len(records) == expected
    finally:
        if bridge.running():
            bridge.kill()
    tx_topic, msg_topic = side_topics
    return (work, [r for r in records if r.topic == tx_topic], [r for r in records if r.topic == msg_topic])


def transaction_entry(r: Raw) -> tuple[str, int]:
    """(status, xid) of a BEGIN/END record; its id is `<xid>:<lsn>`."""
    return r.payload["status"], int(r.payload["id"].split(":")[0])


def debezium_key(golden: str, topic_suffix: str, payload: dict) -> bytes:
    """The exact key bytes Debezium's JsonConverter writes (compact, its field order) for a
    record of `<prefix><topic_suffix>` with key `payload`, from its captured output."""
    records = (json.loads(line) for line in (GOLDEN / golden).read_text().splitlines())
    key = next(r["key"] for r in records if r["topic"].endswith(topic_suffix))
    return json.dumps({**key, "payload": payload}, separators=(",", ":")).encode()


def content(r: Raw) -> str:
    return base64.b64decode(r.payload["message"]["content"]).decode()


@pytest.mark.parametrize("salt", ["", "blue"])
def test_mmh3_transactions_in_partition_zero_and_each_prefix_in_its_hash_partition(
        pg, side_topics, bridge_factory, kafka_bootstrap, unique_name, salt):
    partition_of = {p: key_hash(salt.encode(), p.encode()) % PARTITIONS for p in PREFIXES}
    assert len(set(partition_of.values())) >= 2, f"precondition: prefixes should spread, got {partition_of}"
    extra = {"bridge.partition.salt": salt} if salt else {}

    # GIVEN 3-partition side topics; WHEN transactions and messages stream through the bridge
    work, tx, msgs = run_and_read(pg, bridge_factory, kafka_bootstrap, unique_name, side_topics, extra)

    # THEN every BEGIN/END record is in partition 0, BEGIN then END of each transaction, in commit order
    assert {r.partition for r in tx} == {0}
    assert [transaction_entry(r) for r in tx] == work.expected_transaction_records
    assert {int(r.payload["id"].split(":")[0]): r.payload["event_count"]
            for r in tx if r.payload["status"] == "END"} == work.events

    # AND each prefix's messages are all in its hash partition, in the order they became visible
    for prefix in PREFIXES:
        mine = [r for r in msgs if r.payload["message"]["prefix"] == prefix]
        assert {r.partition for r in mine} == {partition_of[prefix]}, prefix
        assert [content(r) for r in mine] == work.messages[prefix], prefix


def test_murmur2_side_records_go_where_the_java_default_partitioner_puts_their_keys(
        pg, side_topics, bridge_factory, kafka_bootstrap, unique_name):
    keys = {p: debezium_key("messages.jsonl", ".message", {"prefix": p}) for p in PREFIXES}
    partition_of = {p: java_default_partition(k, PARTITIONS) for p, k in keys.items()}
    assert len(set(partition_of.values())) >= 2, f"precondition: prefixes should spread, got {partition_of}"

    # GIVEN 3-partition side topics; WHEN transactions and messages stream through the bridge
    work, tx, msgs = run_and_read(pg, bridge_factory, kafka_bootstrap, unique_name, side_topics,
                                  {"bridge.partitioner": "murmur2"})

    # THEN every record sits where Kafka's Java producer would put its serialized key
    for r in tx + msgs:
        assert r.partition == java_default_partition(r.key, PARTITIONS), (r.topic, r.key, r.partition)

    # AND every BEGIN/END record arrived once, each partition holding its share in commit order
    expected = work.expected_transaction_records
    assert sorted(transaction_entry(r) for r in tx) == sorted(expected)
    for p in range(PARTITIONS):
        positions = [expected.index(transaction_entry(r)) for r in tx if r.partition == p]
        assert positions == sorted(positions), f"partition {p} out of commit order"

    # AND BEGIN/END keys are Debezium's bytes; one transaction's two ids differ (so may its partitions)
    for r in tx:
        assert r.key == debezium_key("txmeta.jsonl", ".transaction", {"id": r.payload["id"]}), r.key
    ids = {transaction_entry(r): r.payload["id"] for r in tx}
    assert all(ids["BEGIN", xid] != ids["END", xid] for xid in work.xids), ids

    # AND a prefix's messages carry Debezium's key bytes, so they sit in Debezium's partition, in order
    for prefix in PREFIXES:
        mine = [r for r in msgs if r.payload["message"]["prefix"] == prefix]
        assert {r.key for r in mine} == {keys[prefix]}, prefix
        assert {r.partition for r in mine} == {partition_of[prefix]}, prefix
        assert [content(r) for r in mine] == work.messages[prefix], prefix
