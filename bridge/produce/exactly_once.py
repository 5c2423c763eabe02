"""Exactly-once delivery: transactional producers that keep their position inside Kafka.

At least once is the default: after a crash the slot replays from its confirmed position, and
what Kafka had already stored is written again. With `bridge.exactly.once=true` each producer
process writes through its own Kafka transaction (`transactional.id` = `<prefix>-<index>`) and,
in every transaction it commits, also writes a marker record to the compacted offsets topic:

    key    "<host>:<port>/<dbname>/<slot>/<producer index>"
    value  {"lsn": L, "txn": F, "done": K, "producers": N, "routing": "<fingerprint>",
            "system": "<the cluster's system identifier>"}

L is the end LSN of the newest PostgreSQL transaction this producer has entirely in committed
Kafka transactions; F (0 if none) is the commit LSN of a PostgreSQL transaction it had begun
when the Kafka transaction committed (a large one spans several), and K how many of its units
(ring records that become Kafka records: rows, messages, truncates, transaction metadata) were
in it. The marker and the data commit atomically, so consumers reading committed records see
each change once provided the producer skips, after a restart, exactly what its marker says
it committed: whole transactions ending at or before L, and the first K units of F.

That replay is deterministic because a producer receives the same records in the same order
for the same WAL, given the same routing (producer count, salts, partitioner, filters, topic
naming: everything in `bridge.route.spec.RoutingSpec`). The fingerprint is that spec's hash; if
it changed, or the producer count did, the markers cannot be matched record by record: the
replay is then written again as a whole (at least once, so nothing is lost) and a warning says
so. A new slot, or another PostgreSQL cluster (system identifier), starts a new history: its
markers are ignored. An initial snapshot interrupted by a crash is taken again from the start
(its committed part appears twice), as without this mode.

Before reading the markers, every producer's transactional id is initialised once (which
aborts a transaction a crashed process left open), so the committed view is complete.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Mapping

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from bridge import failpoints
from bridge.errors import ConnectionFailed
from bridge.kafka import clients
from bridge.kafka.refusals import AUTHORIZATION, authorization_hint
from bridge.kafka.settings import KafkaConnection
from bridge.produce.kafka import TransactionalOutput
from bridge.produce.settings import ExactlyOnceScope

log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """What one producer has committed (see the module docstring)."""

    lsn: int = 0
    txn: int = 0
    done: int = 0


def marker_value(point: ResumePoint, producers: int, routing: str, system: str) -> bytes:
    return json.dumps({"lsn": point.lsn, "txn": point.txn, "done": point.done, "producers": producers,
                       "routing": routing, "system": system}, separators=(",", ":")).encode()


def choose_resume_points(markers: Mapping[int, dict], producers: int, routing: str, system: str,
                         slot_is_new: bool) -> list[ResumePoint]:
    """Each producer's resume point from the markers found (by producer index)."""
    markers = {i: m for i, m in markers.items() if m.get("system") == system}  # other clusters: other histories
    if slot_is_new or not markers:
        return [ResumePoint() for _ in range(producers)]
    if all(m.get("producers") == producers and m.get("routing") == routing and i < producers
           for i, m in markers.items()):
        return [ResumePoint(int(m["lsn"]), int(m["txn"]), int(m["done"])) if (m := markers.get(i)) else ResumePoint()
                for i in range(producers)]
    log.warning("exactly once: the producer count or the routing changed since the last run, so the records "
                "replayed from the slot cannot be matched with what was committed: they are written again "
                "(at least once) this time")
    return [ResumePoint() for _ in range(producers)]


def load_resume_points(scope: ExactlyOnceScope, system: str, slot_is_new: bool) -> list[ResumePoint]:
    """At start, in the coordinator: fence the producers' transactional ids, then read their
    committed markers."""
    eo, producers, kafka = scope.settings, scope.producers, scope.kafka
    _ensure_offsets_topic(kafka.connection, eo.offsets_topic)
    for index in range(producers):
        # with the settings and the transactional id producer `index` will have (`KafkaWriter`)
        fence = clients.producer(kafka.connection, kafka.producer,
                                 **{"transactional.id": scope.transactional_id(index)})
        try:
            fence.init_transactions(INIT_TIMEOUT_S)  # aborts what a crashed process left open
        except KafkaException as exc:
            err = exc.args[0]
            hint = f"; {authorization_hint(err, kafka.connection.settings)}" if err.code() in AUTHORIZATION else ""
            raise ConnectionFailed(f"exactly once: cannot initialise transactional id "
                                   f"{scope.transactional_id(index)!r}: {err.str()}{hint}") from None
    keys = {scope.marker_key(i): i for i in range(max(producers, 256))}
    markers = {}
    for key, value in _read_compacted(kafka.connection, eo.offsets_topic).items():
        index = keys.get(key)
        if index is not None and value is not None:
            markers[index] = json.loads(value)
    points = choose_resume_points(markers, producers, scope.routing, system, slot_is_new)
    if any(p.lsn or p.txn for p in points):  # a first transaction partly committed has lsn 0
        log.info("exactly once: resuming producers after their committed positions %s",
                 ", ".join(f"{i}: {p.lsn:X}" + (f" (+{p.done} of {p.txn:X})" if p.txn else "")
                           for i, p in enumerate(points)))
    return points


def _ensure_offsets_topic(connection: KafkaConnection, topic: str) -> None:
    admin = clients.admin(connection)
    if topic in admin.list_topics(timeout=30).topics:
        return
    futures = admin.create_topics([NewTopic(topic, 1, -1, config={"cleanup.policy": "compact"})])
    try:
        futures[topic].result(30)
        log.info("exactly once: created offsets topic %s (compacted)", topic)
    except KafkaException as exc:
        if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: created concurrently
            raise ConnectionFailed(f"exactly once: cannot create offsets topic {topic!r}: "
                                   f"{exc.args[0].str()}") from None


def _read_compacted(connection: KafkaConnection, topic: str) -> dict[bytes, bytes | None]:
    """Latest committed value per key of `topic` (every partition, to its end)."""
    consumer = clients.consumer(connection, "pgbridge-offsets-reader",
                                **{"enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in meta.partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p, end in ends.items() if end > 0])
        latest: dict[bytes, bytes | None] = {}
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + INIT_TIMEOUT_S
        while remaining:
            if time.monotonic() > deadline:
                raise ConnectionFailed(f"exactly once: could not read offsets topic {topic!r} to its end within "
                                       f"{INIT_TIMEOUT_S:.0f}s (a transaction of another producer still open?)")
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                latest[msg.key()] = msg.value()
            for p in list(remaining):
                position = consumer.position([TopicPartition(topic, p)])[0].offset
                if position >= ends[p]:
                    remaining.discard(p)
        return latest
    finally:
        consumer.close()


class Transactions:
    """A producer process's Kafka transactions: opened on demand, committed with a marker."""

    def __init__(self, kafka: TransactionalOutput, scope: ExactlyOnceScope, index: int, system: str) -> None:
        self._kafka = kafka
        self._system = system
        self._topic = scope.settings.offsets_topic
        self._key = scope.marker_key(index)
        self._interval_s = scope.settings.commit_interval_ms / 1000
        self._producers = scope.producers
        self._routing = scope.routing
        self.open = False
        self._opened_at = 0.0
        self.commits = 0

    def ensure_open(self) -> None:
        if not self.open:
            self._kafka.begin_transaction()
            self.open = True
            self._opened_at = time.monotonic()

    def due(self, now: float) -> bool:
        return self.open and now - self._opened_at >= self._interval_s

    def commit(self, point: ResumePoint) -> None:
        """Write the marker and commit: the data and the position become visible together."""
        self._kafka.produce(self._topic, self._key, marker_value(point, self._producers, self._routing, self._system),
                            _marker_delivered, 0)
        if failpoints.ENABLED:
            failpoints.hit(failpoints.AFTER_PRODUCE_BEFORE_COMMIT)
        self._kafka.commit_transaction()
        self.open = False
        self.commits += 1


def _marker_delivered(err, msg) -> None:
    if err is not None:  # the commit then fails too, and the process with it
        log.error("exactly once: position marker not delivered: %s", err.str())

