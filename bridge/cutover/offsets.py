"""Cut-over from Debezium: read its stored offset and resume the same slot where it stopped.

Kafka Connect stores a source offset under a JSON key and a JSON value
(`reference/debezium-format.md`, Offsets):

    key   ["<connector name>",{"server":"<topic.prefix>"}]
    value {"lsn_proc":668563784,"lsn_events_processed":1,"messageType":"UPDATE",
           "lsn_commit":668563336,"lsn":668563784,"txId":172914,"ts_usec":1795499427173114}

either in a standalone worker's `offset.storage.file.filename` (a Java-serialized
`HashMap<byte[], byte[]>`, `bridge.cutover.java_serialization`) or in a distributed worker's
`offset.storage.topic` (one Kafka record per commit; the newest record of a key wins, a null
value deletes it).

How Debezium resumes from that offset (debezium-connector-postgres 3.7,
`PostgresStreamingChangeEventSource.execute`, `connection/WalPositionLocator`,
`PostgresReplicationConnection.startStreaming`), and what `ResumeFilter` reproduces:

- START_REPLICATION at `lsn_proc` (`lsn` when absent). PostgreSQL then sends every transaction
  whose commit record starts at or after max(that LSN, the slot's confirmed_flush_lsn), in commit
  order, whole. The slot may be far behind: Debezium confirms to it only after Connect commits
  offsets (and not at all with `lsn.flush.mode=manual`).
- `WalPositionLocator.resumeFromLsn` reads that stream once without emitting and finds where it
  stopped: transactions whose Commit (XLogData LSN = end of the commit record) is at or before
  `lsn_commit` were emitted; in the next transaction it looks for the change at `lsn_proc` and
  resumes after it (after the first `lsn_events_processed` changes at that LSN when > 1); if that
  change is not found, it resumes at the transaction's Begin. It then reconnects at `lsn_proc`
  and drops every data message until the resume position (`skipMessage`; Begin, Commit and
  Relation always pass).
- With no `lsn_proc` (an offset written by a finished snapshot) nothing is searched or dropped.

So, per transaction: skip it if it committed before `lsn_commit` (its commit record starts
below it); in the transaction `txId` of an offset taken at a change, skip its changes up to and
including `lsn_proc`; emit everything else. Nothing Debezium emitted is emitted again, and
nothing it did not emit is skipped. One deliberate difference: Debezium 3.7 with
`lsn_events_processed` = 1 drops every further change at that same LSN (a COPY / multi-insert
shares one LSN); pgbridge skips exactly the counted ones (all of them only for an offset without
the count, as older Debezium versions wrote).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from bridge.cutover.java_serialization import read_byte_map
from bridge.errors import ConfigError
from bridge.kafka import clients
from bridge.kafka.settings import KafkaConnection
from bridge.lsn import format_lsn
from bridge.pgoutput import wire

log = logging.getLogger(__name__)

FILE_KEY = "bridge.cutover.offsets.file"
TOPIC_KEY = "bridge.cutover.offsets.topic"
NAME_KEY = "bridge.cutover.connector.name"
_ROW_TYPES = frozenset({"INSERT", "UPDATE", "DELETE", "TRUNCATE"})


class OffsetsError(ConfigError):
    """Debezium's stored offset cannot be read, is missing, or cannot be resumed from."""


@dataclass(frozen=True, slots=True)
class CutoverConfig:
    """Where Debezium's offset is (`offsets_file` or `offsets_topic`) and whose it is."""

    connector_name: str
    server: str  # topic.prefix, Debezium's "server" in the offset key
    offsets_file: str | None = None
    offsets_topic: str | None = None

    @property
    def source(self) -> str:
        return f"offsets file {self.offsets_file}" if self.offsets_file else f"offsets topic {self.offsets_topic}"


def cutover_from_properties(get: Callable[[str], str | None]) -> CutoverConfig | None:
    """The `bridge.cutover.*` keys, or None when no cut-over is asked for. The connector name
    defaults to the Kafka Connect JSON's "name" (`bridge.connector.name`), else the topic prefix."""
    def value(key: str) -> str | None:
        text = (get(key) or "").strip()
        return text or None

    file, topic, name = value(FILE_KEY), value(TOPIC_KEY), value(NAME_KEY)
    if file and topic:
        raise ConfigError(f"{FILE_KEY} and {TOPIC_KEY} are both set: Debezium's offset is read from one of them")
    if not file and not topic:
        if name:
            raise ConfigError(f"{NAME_KEY}={name!r} is set but neither {FILE_KEY} nor {TOPIC_KEY} says where "
                              "Debezium's offsets are")
        return None
    mode = value("debezium.source.snapshot.mode")
    if mode in ("always", "initial_only"):
        raise ConfigError(f"debezium.source.snapshot.mode={mode} contradicts the cut-over ({FILE_KEY or TOPIC_KEY}): "
                          "it resumes Debezium's stream without a snapshot (use no_data, initial or when_needed)")
    server = value("debezium.source.topic.prefix")
    if not server:
        raise ConfigError(f"debezium.source.topic.prefix is required for the cut-over ({FILE_KEY or TOPIC_KEY})")
    return CutoverConfig(name or value("bridge.connector.name") or server, server, file, topic)


# -- the stored offset --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DebeziumOffset:
    """The fields of a Debezium PostgreSQL source offset that say where streaming stopped."""

    lsn: int | None
    lsn_proc: int | None  # last completely processed: the LSN of the last event emitted
    lsn_commit: int | None  # the Commit (end of commit record) of the last transaction emitted whole
    tx_id: int | None  # the transaction of `lsn_proc`
    message_type: str | None  # INSERT, UPDATE, DELETE, TRUNCATE, MESSAGE, BEGIN, COMMIT
    events_processed: int | None  # events emitted at `lsn_proc` (Debezium >= 3.5)

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> DebeziumOffset:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OffsetsError(f"{where}: the offset is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise OffsetsError(f"{where}: the offset is not a JSON object: {raw[:200]!r}")

        def number(key: str) -> int | None:
            value = doc.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise OffsetsError(f"{where}: offset field {key}={value!r} is not a non-negative integer")
            return value

        if doc.get("snapshot") not in (None, False, "false") and not (
                doc.get("last_snapshot_record") is True or doc.get("snapshot_completed") is True):
            raise OffsetsError(f"{where}: Debezium stopped inside its snapshot ({raw[:200]!r}); let it finish "
                               "the snapshot before switching, or start pgbridge with a snapshot instead")
        offset = cls(number("lsn"), number("lsn_proc"), number("lsn_commit"), number("txId"),
                     doc.get("messageType"), number("lsn_events_processed"))
        if offset.start_lsn is None:
            raise OffsetsError(f"{where}: the offset has neither lsn_proc nor lsn: {raw[:200]!r}")
        if any(k.startswith("incremental_snapshot") for k in doc):
            log.warning("%s: Debezium's offset holds an unfinished incremental snapshot; pgbridge does not "
                        "continue it (send a new execute-snapshot signal)", where)
        return offset

    @property
    def start_lsn(self) -> int | None:
        """Where Debezium would START_REPLICATION."""
        return self.lsn_proc if self.lsn_proc is not None else self.lsn

    @property
    def committed(self) -> int:
        """Transactions whose commit record starts below this were emitted whole. Debezium reads
        a missing `lsn_commit` as `lsn_proc` (`PostgresOffsetContext.Loader.load`)."""
        value = self.lsn_commit if self.lsn_commit is not None else self.lsn_proc
        return value or 0

    def describe(self) -> str:
        def lsn(v: int | None) -> str:
            return "-" if v is None else format_lsn(v)
        return (f"lsn_proc={lsn(self.lsn_proc)} lsn_commit={lsn(self.lsn_commit)} lsn={lsn(self.lsn)} "
                f"txId={self.tx_id} messageType={self.message_type} lsn_events_processed={self.events_processed}")


def select_offset(entries: Iterable[tuple[bytes | None, bytes | None]], cfg: CutoverConfig) -> DebeziumOffset:
    """The offset stored for `["<connector name>",{"server":"<prefix>"}]`; later entries win and a
    null value deletes. Errors name what is there instead."""
    wanted = [cfg.connector_name, {"server": cfg.server}]
    found: bytes | None = None
    seen: dict[str, bool] = {}  # key text -> has a live value
    for key, value in entries:
        text = key.decode("utf-8", "replace") if key is not None else "null"
        seen[text] = value is not None
        try:
            matches = key is not None and json.loads(key) == wanted
        except json.JSONDecodeError:
            matches = False
        if matches:
            found = value
    if found is None:
        want = json.dumps(wanted, separators=(",", ":"))
        others = ", ".join(k + ("" if live else " (deleted)") for k, live in seen.items()) or "nothing"
        deleted = " (its latest value is null: the offset was deleted)" if want in seen else ""
        raise OffsetsError(f"{cfg.source} has no offset for {want}{deleted}; it holds: {others}. "
                           f"Set {NAME_KEY} to the Debezium connector's name (and topic.prefix to its prefix)")
    return DebeziumOffset.from_json(found, f"{cfg.source}, key {json.dumps(wanted, separators=(',', ':'))}")


def read_offsets_file(path: str | os.PathLike[str]) -> list[tuple[bytes | None, bytes | None]]:
    """The entries of a Kafka Connect standalone offsets file (`FileOffsetBackingStore`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OffsetsError(f"cannot read Debezium's offsets file {str(path)!r}: {exc.strerror or exc}") from None
    return read_byte_map(data, f"offsets file {path}")


def read_offsets_topic(kafka: KafkaConnection, topic: str, timeout_s: float = 30.0
                       ) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of a Kafka Connect offsets topic, partition by partition, in offset order (a
    key always lives in one partition, so its last record is its newest)."""
    consumer = clients.consumer(kafka, f"pgbridge-cutover-{os.getpid()}",
                                **{"enable.auto.commit": False, "enable.partition.eof": False})
    deadline = time.monotonic() + timeout_s
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise OffsetsError(f"cannot read offsets topic {topic!r}: {exc}") from None
        info = meta.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise OffsetsError(f"offsets topic {topic!r} does not exist on {kafka.bootstrap_servers}"
                               + (f" ({info.error.str()})" if info is not None and info.error else ""))
        ends: dict[int, int] = {}
        for p in info.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        entries: dict[int, list[tuple[bytes | None, bytes | None]]] = {p: [] for p in ends}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        while ends:
            if time.monotonic() > deadline:
                raise OffsetsError(f"reading offsets topic {topic!r} took longer than {timeout_s:.0f}s")
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    raise OffsetsError(f"reading offsets topic {topic!r}: {msg.error()}")
                entries[msg.partition()].append((msg.key(), msg.value()))
            # The position, not the last record's offset: an exactly-once Connect worker's commit
            # markers take offsets a consumer never sees.
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
        return [e for p in sorted(entries) for e in entries[p]]
    finally:
        consumer.close()


def load_offset(cfg: CutoverConfig, kafka: KafkaConnection) -> DebeziumOffset:
    """Debezium's offset from the file or topic `cfg` names (`kafka`: where the topic is)."""
    entries = read_offsets_file(cfg.offsets_file) if cfg.offsets_file else read_offsets_topic(kafka, cfg.offsets_topic)
    return select_offset(entries, cfg)


def resume_filter(cfg: CutoverConfig, kafka: KafkaConnection, slot_confirmed: int) -> ResumeFilter:
    """The filter that resumes where Debezium stopped; `slot_confirmed` only explains in the log."""
    offset = load_offset(cfg, kafka)
    log.info("cut-over from Debezium connector %s (%s): %s; slot confirmed up to %s", cfg.connector_name,
             cfg.source, offset.describe(), format_lsn(slot_confirmed))
    if slot_confirmed > offset.committed:
        # After pgbridge has confirmed past Debezium's offset the filter has nothing left to drop:
        # the server no longer sends those transactions.
        log.info("cut-over: the slot is already past Debezium's last commit %s", format_lsn(offset.committed))
    return ResumeFilter(offset)


# -- skipping what Debezium already emitted ---------------------------------------------------------

_BEGIN = wire.BEGIN_FIELDS  # final_lsn (start of the commit record), commit time, xid
_INSERT, _UPDATE, _DELETE, _TRUNCATE, _MESSAGE = wire.INSERT, wire.UPDATE, wire.DELETE, wire.TRUNCATE, wire.MESSAGE


class ResumeFilter:
    """Decides, per pgoutput message, whether Debezium already emitted it (see the module doc).

    Called by the router with every message before routing it: `filter(kind, payload, lsn)`
    is True for a message to drop. Begin, Commit and Relation are never dropped (the router
    keeps its transaction and schema state, and a skipped transaction still moves the slot). After
    the first transaction Debezium had not finished, it answers False for good.
    """

    def __init__(self, offset: DebeziumOffset) -> None:
        self.offset = offset
        self.start_lsn = offset.start_lsn or 0  # START_REPLICATION here, as Debezium does
        self._committed = offset.committed
        # An offset taken inside a transaction: its changes up to lsn_proc were emitted. (A
        # non-transactional message is its own unit: lsn_commit = lsn_proc, nothing is partial.)
        inside = offset.message_type in _ROW_TYPES or (
            offset.message_type == "MESSAGE" and offset.lsn_commit != offset.lsn_proc)
        self._partial_xid = offset.tx_id if inside else None
        self._last = offset.lsn_proc or 0
        self._rows_at_last = offset.events_processed if offset.message_type in _ROW_TYPES else 0
        self.done = offset.lsn_proc is None  # as Debezium: without lsn_proc nothing is searched
        self._mode = 0  # inside a transaction: 0 emit, 1 drop all, 2 drop up to lsn_proc
        self._seen_at_last = 0
        self.skipped_transactions = 0
        self.skipped_events = 0

    def __call__(self, kind: int, payload: bytes, lsn: int) -> bool:
        if self.done:
            return False
        if kind == 0x42:  # 'B'
            self._begin(payload)
            return False
        if kind == 0x43:  # 'C'
            if self._mode == 1:
                self.skipped_transactions += 1
            else:
                self._finish()
            self._mode = 0
            return False
        if kind in (_INSERT, _UPDATE, _DELETE, _TRUNCATE):
            drop = self._mode == 1 or (self._mode == 2 and self._row_emitted(kind, lsn))
        elif kind == _MESSAGE:
            if payload[1] & 1:  # transactional: part of its transaction
                drop = self._mode == 1 or (self._mode == 2 and lsn <= self._last)
            else:  # its own unit at its own (end) LSN, in stream order with the commits
                drop = lsn <= self._committed
        else:
            return False
        self.skipped_events += drop
        return drop

    def _begin(self, payload: bytes) -> None:
        final_lsn, _, xid = _BEGIN.unpack_from(payload, 1)
        if final_lsn < self._committed:
            self._mode = 1
        elif self._partial_xid is not None and xid == self._partial_xid:
            self._mode = 2
        else:
            if self._partial_xid is not None:
                # Debezium would not find lsn_proc here either and replays this transaction whole.
                log.warning("cut-over: the first transaction after Debezium's offset is xid %d, not txId %d of "
                            "the offset; emitting it whole", xid, self._partial_xid)
            self._mode = 0

    def _row_emitted(self, kind: int, lsn: int) -> bool:
        if lsn < self._last:
            return True
        if lsn > self._last:
            return False
        if kind == _TRUNCATE or self._rows_at_last is None:
            return True  # no count (older Debezium): everything at lsn_proc, as it skips them
        self._seen_at_last += 1
        return self._seen_at_last <= self._rows_at_last

    def _finish(self) -> None:
        self.done = True
        log.info("cut-over: skipped %d transaction(s) and %d event(s) Debezium had already emitted; "
                 "emitting from here on", self.skipped_transactions, self.skipped_events)
