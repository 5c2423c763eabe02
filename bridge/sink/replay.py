"""`bridge sink replay --from-dlq TOPIC`: re-apply dead-lettered records once their cause is fixed.

Each dead letter holds the original record's bytes; Connect's context headers
(`__connect.errors.topic`, `.partition`, `.offset`, written with
`errors.deadletterqueue.context.headers.enable=true`) say where it came from, which names its
target table as the original record would. The records go through the sink's own reading and
writing (`Readers`, `Writer.write_each`: each under a savepoint), a batch per transaction, with
the LSN guard as usual: a replayed change older than what the row holds since is skipped.

The replay reads what the topic holds when it starts, from the consumer group
`connect-<name>-replay`'s offsets (the beginning at first), and then stops. A record that fails
again stays: it is reported, and the group's offset in its partition is committed only up to it
(after the transaction holding the records before it), so the next replay starts there again
(the records after it are re-applied too: an upsert and the guard make that harmless).

With `bridge.sink.delete.markers` on, the replay's deletes leave markers as a worker's do, and it
prunes those past their retention as a worker does (`markers.Pruner`: after its first
transaction, then at most once a minute). It is short-lived and the workers prune the same table,
but it may be what runs while they are stopped (the sink stopped until the fix it replays after),
so it keeps the table bounded on its own. Pruning is as safe here as in a worker: with the
retention at least the topics' own (the dead-letter topic's included), no copy of a change older
than a pruned marker is left to replay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg2
from confluent_kafka import OFFSET_INVALID, TopicPartition

from bridge.errors import BridgeError, ConfigError, ConnectionFailed, ExitCode
from bridge.kafka import clients
from bridge.sink.apply import TRANSIENT, Writer
from bridge.sink.dlq import PREFIX
from bridge.sink.markers import Pruner, markers_table
from bridge.sink.records import Readers, RecordRefused
from bridge.sink.settings import SinkConfig
from bridge.sink.statements import truncates_table
from bridge.sink.target import connect

log = logging.getLogger(__name__)


class ReplayIncomplete(BridgeError):
    """Some dead letters were refused again: they stay in the dead-letter topic."""

    exit_code = ExitCode.DELIVERY


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter record, seen as the original record its headers name."""

    dlq_partition: int
    dlq_offset: int
    original: tuple[str, int, int] | None  # topic, partition, offset
    key: bytes | None
    value: bytes | None

    def where(self) -> str:
        if self.original is None:
            return f"dead letter @{self.dlq_partition}:{self.dlq_offset}"
        topic, partition, offset = self.original
        return f"{topic}[{partition}]@{offset} (dead letter @{self.dlq_partition}:{self.dlq_offset})"


@dataclass(slots=True)
class Outcome:
    replayed: int = 0
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)
    committed: dict[int, int] = field(default_factory=dict)  # DLQ partition -> next offset
    pruned: int = 0  # delete markers pruned past their retention


def dead_letter(message) -> DeadLetter:
    headers = {k: v for k, v in message.headers() or () if k.startswith(PREFIX)}
    try:
        original = (headers[PREFIX + "topic"].decode(), int(headers[PREFIX + "partition"]),
                    int(headers[PREFIX + "offset"]))
    except (KeyError, ValueError, UnicodeDecodeError):
        original = None
    return DeadLetter(message.partition(), message.offset(), original, message.key(), message.value())


class Replay:
    def __init__(self, config: SinkConfig, topic: str) -> None:
        self.config = config
        self.topic = topic
        self.group = f"{config.group}-replay"
        self.readers = Readers(config, config.decode.unavailable_value_placeholder)
        self.writer = Writer(config, config.decode)
        self.outcome = Outcome()
        self.pruner = (Pruner(config.delete_markers_table, config.delete_markers_retention_ms)
                       if config.delete_markers else None)
        self._stuck: set[int] = set()  # DLQ partitions with a record refused again

    def run(self) -> Outcome:
        consumer = clients.consumer(self.config.kafka, self.group, keys="consumer.override.",
                                    **self.config.consumer)
        conn = None
        try:
            ends = self._assign(consumer)
            conn = self._connect()
            while ends:
                messages = consumer.consume(self.config.batch_size, 1.0)
                batch = []
                for message in messages:
                    if message.error() is not None:
                        log.warning("Kafka consumer: %s", message.error().str())
                        continue
                    if message.offset() < ends.get(message.partition(), -1):
                        batch.append(dead_letter(message))
                if batch:
                    self._apply(conn, batch)
                    self._commit(consumer, batch)
                    if self.pruner is not None and self.pruner.due():
                        self._prune(conn)
                for partition, end in list(ends.items()):
                    position = consumer.position([TopicPartition(self.topic, partition)])[0].offset
                    if position >= end:
                        del ends[partition]
        finally:
            consumer.close()
            if conn is not None:
                conn.close()
        return self.outcome

    def _assign(self, consumer) -> dict[int, int]:
        """Assign every partition of the DLQ at the group's offset; their ends as of now."""
        topics = consumer.list_topics(self.topic, timeout=30).topics
        meta = topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise ConfigError(f"--from-dlq {self.topic!r}: no such topic")
        parts = [TopicPartition(self.topic, p) for p in sorted(meta.partitions)]
        start, ends = [], {}
        for tp in consumer.committed(parts, timeout=30):
            low, high = consumer.get_watermark_offsets(tp, timeout=30)
            offset = tp.offset if tp.offset != OFFSET_INVALID else low
            start.append(TopicPartition(self.topic, tp.partition, offset))
            if offset < high:
                ends[tp.partition] = high
        consumer.assign(start)
        log.info("replaying %s from %s (consumer group %s)", self.topic,
                 {tp.partition: tp.offset for tp in start}, self.group)
        return ends

    def _connect(self):
        try:
            conn = connect(self.config.dsn)
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('TimeZone', %s, false)", (self.config.time_zone,))
                if self.config.ordering_guard == "lsn" and self.config.truncate_enabled:
                    cur.execute(truncates_table(self.config.truncates_table))
                if self.config.delete_markers:
                    for sql in markers_table(self.config.delete_markers_table):
                        cur.execute(sql)
            conn.commit()
            return conn
        except psycopg2.OperationalError as exc:
            raise ConnectionFailed(f"target database unreachable: {str(exc).strip()}") from None

    def _apply(self, conn, batch: list[DeadLetter]) -> None:
        """One transaction: every record under a savepoint; the refused ones reported."""
        pairs, failed = [], []
        for letter in batch:
            if letter.original is None:
                failed.append((letter, "no __connect.errors.topic/partition/offset headers (the sink wrote it "
                                       "without errors.deadletterqueue.context.headers.enable=true)"))
                continue
            topic, partition, offset = letter.original
            try:
                change = self.readers.read(topic, partition, offset, letter.key, letter.value)
            except RecordRefused as exc:
                failed.append((letter, str(exc)))
                continue
            if change is not None:
                pairs.append((letter, change))
        try:
            with conn.cursor() as cur:
                applied, refused = self.writer.write_each(cur, pairs)
            conn.commit()
        except TRANSIENT as exc:
            raise ConnectionFailed(f"target database: {str(exc).strip()} (nothing of this batch was committed; "
                                   "run the replay again)") from None
        failed += [(letter, str(error)) for letter, error in refused]
        self.outcome.failed += failed
        self.outcome.replayed += len(batch) - len(failed)
        for letter, why in failed:
            log.error("still refused: %s: %s", letter.where(), why)

    def _prune(self, conn) -> None:
        """Drop the delete markers past their retention; a failure is logged, not the replay's."""
        try:
            self.outcome.pruned += self.pruner.prune(conn)
        except psycopg2.Error as exc:
            log.warning("pruning delete markers failed (retried in a minute): %s", str(exc).strip())
            try:
                conn.rollback()
            except TRANSIENT:  # the connection is gone: the next batch says so
                pass

    def _commit(self, consumer, batch: list[DeadLetter]) -> None:
        """The group's offsets past the records applied, never past one refused again."""
        refused = {(f.dlq_partition, f.dlq_offset) for f, _ in self.outcome.failed}
        offsets = {}
        for letter in sorted(batch, key=lambda d: (d.dlq_partition, d.dlq_offset)):
            partition = letter.dlq_partition
            if partition in self._stuck:
                continue
            if (partition, letter.dlq_offset) in refused:
                self._stuck.add(partition)
                continue
            offsets[partition] = letter.dlq_offset + 1
        if offsets:
            consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()],
                            asynchronous=False)
            self.outcome.committed.update(offsets)


def replay(config: SinkConfig, topic: str) -> int:
    """Run the replay and report it; the exit code (DELIVERY when records were refused again)."""
    outcome = Replay(config, topic).run()
    print(f"replayed {outcome.replayed} dead letter(s) from {topic}; {len(outcome.failed)} refused again")
    if outcome.pruned:
        print(f"pruned {outcome.pruned} delete marker(s) older than bridge.sink.delete.markers.retention.ms="
              f"{config.delete_markers_retention_ms}")
    for letter, why in outcome.failed:
        print(f"  still refused: {letter.where()}: {why}")
    if outcome.failed:
        raise ReplayIncomplete(f"{len(outcome.failed)} dead letter(s) refused again stay in {topic}; the consumer "
                               f"group connect-{config.name}-replay resumes at the first of them")
    return ExitCode.OK
