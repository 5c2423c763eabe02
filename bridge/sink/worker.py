"""One sink worker: a consumer in the connector's group, writing what it reads into the target.

Records are buffered until `batch.size` of them or `bridge.sink.linger.ms` has passed, then
written in one database transaction (`bridge.sink.apply`). With `bridge.sink.offsets=target` that
transaction also stores the next offsets (`bridge.sink.offsets`), and on every assignment the
worker seeks to what the target holds: a kill at any moment loses nothing and applies nothing
twice. Kafka commits follow each database commit (advisory with offsets=target; the resume point
with offsets=kafka, Connect's at-least-once).

Errors: a transient database error (connection lost, serialization failure, deadlock) rolls the
batch back and retries it: `flush.max.retries` times `flush.retry.delay.ms` apart (Debezium's),
then with exponential backoff up to `errors.retry.delay.max.ms` while `errors.retry.timeout`
lasts (Connect's; -1 forever). A record that cannot be read or that the target refuses is, with
`errors.tolerance=all`, sent to the dead-letter topic and skipped; otherwise it stops the sink.
The dead-letter circuit breaker (`bridge.sink.breaker`) stops it too when too many are refused.
With `bridge.sink.quarantine.topic` the schema mismatches among them go to that topic instead
(`bridge.sink.quarantine`); the breaker counts them as it counts dead letters. The dedup window
(`bridge.sink.dedup`), when on, drops the records applied within it before a batch is written.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import psycopg2
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge import failpoints
from bridge.errors import BridgeError, ConnectionFailed, ExitCode
from bridge.kafka import clients
from bridge.kafka.logs import LIBRDKAFKA_LOG
from bridge.kafka.refusals import AUTHORIZATION, Persisting, authorization_hint
from bridge.sink.applier import Applier
from bridge.sink.apply import TRANSIENT, Applied, Writer
from bridge.sink.breaker import Breaker
from bridge.sink.dedup.window import window_for
from bridge.sink.dlq import DeadLetters
from bridge.sink.flow import Flow
from bridge.sink.markers import Pruner, markers_table
from bridge.sink.offsets import OffsetsMoved, OffsetStore
from bridge.sink.quarantine.mismatch import mismatch_reason
from bridge.sink.quarantine.topic import quarantine_producer, reason_headers
from bridge.sink.records import CreatedRun, Readers, RecordRefused, one_pair_each
from bridge.sink.settings import SinkConfig
from bridge.sink.statements import truncates_table
from bridge.sink.stats import Stats
from bridge.sink.target import connect, lock_ddl

log = logging.getLogger(__name__)
# How long a Kafka refusal no retry fixes may go on before a worker stops (bridge.connect.*'s default budget).
_REFUSAL_BUDGET_S = 45.0


class RecordFailed(BridgeError):
    """A record the target refused with errors.tolerance=none: the sink stops, its batch rolled back."""

    exit_code = ExitCode.DELIVERY


@dataclass(slots=True)
class _Retry:
    """The retry budget of one batch."""

    config: SinkConfig
    started: float = 0.0
    attempts: int = 0

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        errors = self.config.errors
        if not self.attempts:
            self.started = time.monotonic()
        self.attempts += 1
        if self.attempts <= errors.flush_max_retries:
            return errors.flush_retry_delay_ms / 1000
        elapsed_ms = (time.monotonic() - self.started) * 1000
        if errors.retry_timeout_ms != -1 and elapsed_ms >= errors.retry_timeout_ms:
            return None
        exponent = self.attempts - errors.flush_max_retries
        delay = min(errors.retry_delay_max_ms, max(errors.flush_retry_delay_ms, 300) * 2 ** min(exponent, 20))
        if errors.retry_timeout_ms != -1:
            delay = min(delay, max(0.0, errors.retry_timeout_ms - elapsed_ms))
        return delay / 1000


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch read as changes, waiting for the writer: the records, the changes they ask for, the
    records refused on the way and the next offset per partition."""

    batch: list
    changes: list
    refused: list
    next_offsets: dict


class SinkWorker:
    def __init__(self, config: SinkConfig, index: int, stats: Stats, stop: threading.Event,
                 report: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.index = index
        self.stats = stats
        self.stop = stop
        self.readers = Readers(config, config.decode.unavailable_value_placeholder, wait=stop.wait)
        self.writer = Writer(config, config.decode)
        self.offsets = OffsetStore(config.offsets_table, config.group) if config.offsets == "target" else None
        self.pruner = (Pruner(config.delete_markers_table, config.delete_markers_retention_ms)
                       if config.delete_markers else None)
        self.dead = DeadLetters(config, index)
        self.quarantine = quarantine_producer(config, index) if config.quarantine.enabled else None
        tolerated = config.errors.tolerance == "all" or self.quarantine is not None
        self.breaker = Breaker(config.breaker) if config.breaker.enabled and tolerated else None
        self.window = window_for(config, stop)
        self.pending: list = []
        self.assigned: set[tuple[str, int]] = set()
        self.conn = None
        self.consumer = None
        self.flow = Flow(config.flow, config.batch_size, config.max_poll_records, index, report)
        self.applier: Applier | None = None
        # runs of creates read straight into COPY's lines (`Readers.read_batch`), when no change
        # needs to be seen on its own
        runs = self.window is None and not config.reduction and config.insert_mode != "update"
        self._plan_of = self.writer.current_plan if runs else None
        self.reseek = False  # the target's offsets moved under this worker: drop what was read, seek
        self.commits: dict[tuple[str, int], int] = {}  # written into the target, not yet committed to Kafka
        self.commits_lock = threading.Lock()

    # -- database ---------------------------------------------------------------------------

    def _connect(self):
        if self.conn is not None and not self.conn.closed:
            return self.conn
        retry = _Retry(self.config)
        while True:
            try:
                conn = connect(self.config.dsn)
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('TimeZone', %s, false)", (self.config.time_zone,))
                    if not self.config.synchronous_commit:  # safe with offsets=target only (settings)
                        cur.execute("SET synchronous_commit = off")
                        log.info("the target session commits with synchronous_commit=off")
                    lock_ddl(cur)
                    if self.offsets is not None:
                        self.offsets.create(cur)
                    if self.config.ordering_guard == "lsn" and self.config.truncate_enabled:
                        cur.execute(truncates_table(self.config.truncates_table))
                    if self.config.delete_markers:
                        for sql in markers_table(self.config.delete_markers_table):
                            cur.execute(sql)
                conn.commit()
                self.conn = conn
                return conn
            except psycopg2.OperationalError as exc:
                delay = retry.next_delay()
                if delay is None or self.stop.is_set():
                    raise ConnectionFailed(f"target database unreachable: {str(exc).strip()}") from None
                log.warning("target database unreachable (%s); retrying in %.1fs", str(exc).strip(), delay)
                time.sleep(delay)

    # -- consumer ---------------------------------------------------------------------------

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        wanted = [(p.topic, p.partition) for p in partitions]
        self.assigned.update(wanted)
        if self.offsets is not None and partitions:
            conn = self._connect()
            with conn.cursor() as cur:
                stored = self.offsets.read(cur, wanted)
            conn.commit()
            for p in partitions:
                if (p.topic, p.partition) in stored:
                    p.offset = stored[(p.topic, p.partition)]
            log.info("assigned %s; resuming at the target's offsets %s", wanted, stored or "(none stored)")
        consumer.incremental_assign(partitions)
        self.flow.assigned(consumer, partitions)

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # what was read for these partitions is written before another worker takes them
        self._drop([(p.topic, p.partition) for p in partitions])
        consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer, partitions: list[TopicPartition]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        if self.applier is not None:
            # the batch waiting is never written for them: its records go back to be read again
            self.pending = self.applier.take_waiting() + self.pending
            self.applier.wait_idle()  # its offsets write fails if another worker took them
        self.pending = [m for m in self.pending if (m.topic(), m.partition()) not in lost]
        self._drop(list(lost))
        consumer.incremental_unassign(partitions)

    def _drop(self, partitions: list[tuple[str, int]]) -> None:
        self.assigned.difference_update(partitions)
        self.flow.revoked(partitions)
        if self.offsets is not None:
            self.offsets.forget(partitions)

    def run(self) -> None:
        config = self.config
        self._connect()
        self.consumer = clients.consumer(config.kafka, config.group, keys="consumer.override.",
                                         **{"error_cb": self._on_kafka_error(), **config.consumer})
        self.applier = Applier(self._prepare, self._apply, f"sink-{self.index}-writer")
        self.consumer.subscribe(list(config.topics) if config.topics else ["^" + config.topics_regex.lstrip("^")],
                                on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        linger = config.linger_ms / 1000
        flow, applier = self.flow, self.applier
        first = 0.0
        try:
            while not self.stop.is_set():
                applier.check()
                if self.reseek and applier.idle:
                    self._reseek()
                buffered = len(self.pending) + applier.in_flight
                ready = len(self.pending) >= flow.batch_size
                if not ready and not flow.room(buffered) and not applier.idle:
                    # the buffer is full of batches the writer has: go on as soon as one is written
                    applier.wait_written(0.1)
                    buffered = len(self.pending) + applier.in_flight
                    flow.regulate(self.consumer, buffered, self.assigned)
                # no room: nothing polled until the writer makes some, or the partitions are paused
                # (`flow`); a full batch waiting for the writer: take only what is at hand
                room = flow.room(buffered)
                messages = self.consumer.consume(max(1, room), 0 if ready else 0.1) if room or flow.paused else None
                if messages:
                    if [m for m in messages if m.error() is not None]:
                        messages = self._records(messages)
                    if messages and not self.pending:
                        first = time.monotonic()
                    self.pending += messages
                if self.pending and not self.reseek and (len(self.pending) >= flow.batch_size
                                                         or time.monotonic() - first >= linger):
                    if ready and not applier.room:
                        applier.wait_room(0.1)
                    if applier.room:
                        applier.check()
                        size = flow.batch_size
                        applier.submit(self.pending[:size])
                        del self.pending[:size]
                        first = time.monotonic()
                if self.commits:
                    self._commit()
                buffered = len(self.pending) + applier.in_flight
                flow.regulate(self.consumer, buffered, self.assigned)
                flow.measure(self.consumer, self.assigned, buffered, applier.oldest() or
                             (self.pending[0] if self.pending else None))
            self.flush()
            applier.check()
        finally:
            try:
                self.consumer.close()  # revokes: flushes what is pending
            finally:
                applier.close()
                if self.conn is not None:
                    self.conn.close()

    def _records(self, messages: list) -> list:
        """The records among what a poll returned; its errors raised (fatal, authorization) or logged."""
        config = self.config
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
                continue
            if error.fatal():
                raise ConnectionFailed(f"Kafka consumer failed: {error.str()}")
            if error.code() in AUTHORIZATION:
                raise ConnectionFailed(
                    f"Kafka at {config.kafka.bootstrap_servers} refused the sink's consumer "
                    f"(group {config.group!r}): {error.str()} ({error.name()}); "
                    f"{authorization_hint(error, config.kafka.settings)}")
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("Kafka consumer: %s", error.str())
        return records

    def _on_kafka_error(self):
        """The consumer's `error_cb`: a refusal no retry fixes (an untrusted certificate, a mechanism
        the broker does not offer) stops the worker once it has lasted the sink's retry budget
        (`bridge.kafka.refusals`); the rest is logged, rate-limited, as librdkafka's own lines are."""
        budget_s = _REFUSAL_BUDGET_S
        persisting = Persisting(budget_s)
        bootstrap = self.config.kafka.bootstrap_servers

        def on_error(err: KafkaError) -> None:
            cause = persisting.see(err)
            if cause is not None:
                raise ConnectionFailed(f"Kafka at {bootstrap} refuses the connection for {budget_s:.0f}s, "
                                       f"no retry fixes it: {cause}")
            LIBRDKAFKA_LOG.log(logging.ERROR, "%s [%s] %s", "ERROR", "consumer", err.str())

        return on_error

    # -- a batch ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything read so far, here and now (a revoke, a stop)."""
        if self.applier is not None:
            self.applier.wait_idle()
            if self.applier.failure is not None:
                return  # the poll loop raises it
        if self.pending and not self.reseek:
            batch, self.pending = self.pending, []
            self._apply(self._prepare(batch))
        self._commit()

    def _prepare(self, batch: list) -> _Prepared:
        """The batch's records read as changes (no database needed: the applier's preparing thread
        does it while the writer has the previous batch with the target). Runs of creates come
        as `CreatedRun`s, their COPY lines made here, unless each change must be seen one by one
        (the dedup window, the reduction buffer) or a create is an update (insert.mode=update)."""
        refused: list = []
        next_offsets: dict[tuple[str, int], int] = {}
        changes = self.readers.read_batch(batch, self._plan_of, next_offsets, refused)
        self.writer.pretext([change for _, change in changes if change.__class__ is not CreatedRun])
        return _Prepared(batch, changes, refused, next_offsets)

    def _apply(self, prepared: _Prepared) -> None:
        """Write a prepared batch and its offsets in one transaction (the writer's thread)."""
        if self.reseek:
            return  # queued behind a batch whose offsets moved: dropped, the poll loop seeks
        batch, changes, refused, next_offsets = prepared.batch, prepared.changes, prepared.refused, prepared.next_offsets
        skipped = 0
        if self.window is not None:
            changes, idents, skipped = self.window.fresh(changes)
        retry = _Retry(self.config)
        while True:
            try:
                applied, refused_now, quarantined = self._transaction(batch, changes, refused, next_offsets)
                break
            except TRANSIENT as exc:
                self._rollback()
                delay = retry.next_delay()
                self.stats.add(self.index, retries=1)
                if delay is None:
                    raise ConnectionFailed(f"target database: {str(exc).strip()} (retries exhausted: "
                                           "flush.max.retries, errors.retry.timeout)") from None
                log.warning("target database: %s; retrying the batch in %.1fs", str(exc).strip(), delay)
                if self.stop.wait(delay):
                    raise ConnectionFailed("stopped while retrying a batch; it was not written") from None
            except OffsetsMoved as exc:
                self._rollback()
                log.warning("%s: dropping what was read and resuming at the target's offsets", exc)
                self.reseek = True
                return
        if self.offsets is not None:
            self.offsets.committed(next_offsets)
        if failpoints.ENABLED:
            failpoints.hit(failpoints.SINK_BEFORE_DEDUP_RECORD)
        if self.window is not None:  # only now: an identity recorded before the commit could skip a lost change
            self.window.applied(changes, idents, refused_now)
        if failpoints.ENABLED:
            failpoints.hit(failpoints.SINK_BEFORE_KAFKA_COMMIT)
        with self.commits_lock:
            self.commits.update(next_offsets)
        self.flow.written(batch)
        self.stats.add(self.index, records=len(batch), rows=sum(applied.rows.values()), batches=1,
                       dead_letters=len(refused_now) - quarantined, guard_skips=applied.guard_skips,
                       quarantined=quarantined, dedup_skipped=skipped, delete_markers=applied.marked)
        if self.pruner is not None and self.pruner.due():
            self._prune()

    def _prune(self) -> None:
        """Drop the delete markers past their retention, in transactions of their own; a failure
        is logged and left to the next time (the markers only wait longer)."""
        try:
            self.stats.add(self.index, markers_pruned=self.pruner.prune(self._connect()))
        except psycopg2.Error as exc:
            self._rollback()
            log.warning("pruning delete markers failed (retried in a minute): %s", str(exc).strip())

    def _commit(self) -> None:
        """The Kafka commit of what the writer committed into the target, on the poll loop's
        thread (librdkafka holds a commit from another thread while a rebalance is served)."""
        with self.commits_lock:
            done, self.commits = self.commits, {}
        commits = [TopicPartition(t, p, o) for (t, p), o in done.items() if (t, p) in self.assigned]
        if not commits:
            return
        try:
            self.consumer.commit(offsets=commits, asynchronous=self.offsets is not None)
        except KafkaException as exc:
            if self.offsets is None:
                raise ConnectionFailed(f"Kafka offset commit failed: {exc}") from None
            log.debug("advisory Kafka commit failed: %s", exc)

    def _rollback(self) -> None:
        self.writer.target.forget()
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
            except TRANSIENT:
                self.conn.close()

    def _reseek(self) -> None:
        self.reseek = False
        self.pending = []
        conn = self._connect()
        with conn.cursor() as cur:
            stored = self.offsets.read(cur, sorted(self.assigned))
        conn.commit()
        for (topic, partition), offset in stored.items():
            self.flow.seek(self.consumer, TopicPartition(topic, partition, offset))

    def _transaction(self, batch: list, changes: list, refused: list,
                     next_offsets: dict) -> tuple[Applied, list, int]:
        """Write the batch and its offsets in one transaction; the records refused on the way are
        dead-lettered or quarantined (acknowledged) before it commits, unless the circuit breaker
        stops the sink. Returns what was written, the refused records, how many were quarantined."""
        conn = self._connect()
        refused = list(refused)
        with conn.cursor() as cur:
            try:
                applied = self.writer.write(cur, [c for _, c in changes])
            except TRANSIENT:
                raise
            except (RecordRefused, psycopg2.Error):
                conn.rollback()
                self.writer.target.forget()
                applied, refused_now = self.writer.write_each(cur, one_pair_each(changes))
                refused += refused_now
            if self.offsets is not None:
                self.offsets.write(cur, next_offsets)
        if self.breaker is not None:
            self.breaker.check(batch, {(m.topic(), m.partition(), m.offset()) for m, _ in refused})
        quarantined = self._dead_letter(refused)
        conn.commit()
        self.writer.target.committed()
        return applied, refused, quarantined

    def _dead_letter(self, refused: list) -> int:
        """Send the refused records away (schema mismatches to the quarantine topic when it is set)
        and wait for their acknowledgement; how many were quarantined."""
        if not refused:
            return 0
        refused.sort(key=lambda pair: (pair[0].topic(), pair[0].partition(), pair[0].offset()))
        errors = self.config.errors
        mismatched, dead = [], refused
        if self.quarantine is not None:
            reasons = [(m, e, mismatch_reason(e)) for m, e in refused]
            mismatched = [(m, e, why) for m, e, why in reasons if why is not None]
            dead = [(m, e) for m, e, why in reasons if why is None]
        if dead and errors.tolerance != "all":
            message, error = dead[0]
            raise RecordFailed(f"record {message.topic()}[{message.partition()}]@{message.offset()} refused: {error} "
                               "(errors.tolerance=none stops the sink; its batch was not written)")
        for message, error, why in mismatched:
            if errors.log_enable:
                log.error("record %s[%d]@%d quarantined (%s): %s", message.topic(), message.partition(),
                          message.offset(), why, error)
            self.quarantine.send(message, error, reason_headers(why))
        for message, error in dead:
            if errors.log_enable:
                log.error("record %s[%d]@%d skipped: %s", message.topic(), message.partition(), message.offset(),
                          error)
            self.dead.send(message, error)
        if mismatched:
            self.quarantine.flush()
        self.dead.flush()
        return len(mismatched)

