"""Entry point of a producer process (thin: the work is in `bridge.produce.worker`)."""

from __future__ import annotations

import logging
import sys

from bridge.config import BridgeConfig
from bridge.convert.types import TypeRegistry
from bridge.errors import BridgeError
from bridge.kafka import auth_failures
from bridge.proc.child import start_child
from bridge.produce.exactly_once import ResumePoint, Transactions
from bridge.produce.heartbeat import Heartbeat
from bridge.produce.kafka import KafkaWriter
from bridge.produce.worker import ProducerWorker, run_producer
from bridge.ring import RingHandle, RingReader, LsnCells, LsnCellsHandle
from bridge.source.connection import LazyConnection

log = logging.getLogger("bridge.producer")


def producer_main(index: int, config: BridgeConfig, ring: RingHandle, cells_handle: LsnCellsHandle,
                  parent_pid: int, log_level: str, run_id: str, resume: ResumePoint | None = None,
                  system: str = "") -> None:
    """`resume`/`system`: with exactly once, this producer's committed position and the
    PostgreSQL cluster's system identifier (`bridge.produce.exactly_once`)."""
    start_child(f"producer-{index}", parent_pid, log_level)
    try:
        _run(index, config, ring, cells_handle, run_id, resume, system)
    except BridgeError as exc:
        log.error("%s", exc)
        sys.exit(exc.exit_code)


def _run(index: int, config: BridgeConfig, ring: RingHandle, cells_handle: LsnCellsHandle, run_id: str,
         resume: ResumePoint | None, system: str) -> None:
    cells = LsnCells.attach(cells_handle)
    auth_failures.bind(lambda count, last_us: cells.publish_auth_failures(index, count, last_us))
    reader = RingReader(ring)
    # Catalog queries (enums, domains, extension types) only: opened on first need.
    sql = LazyConnection(config.postgres, config.retry)
    try:
        transactions = None
        if config.exactly_once.enabled:
            kafka = KafkaWriter(config.kafka, config.exactly_once_scope.transactional_id(index), config.topic_creation,
                                refusal_budget_s=config.retry.budget_s())
            kafka.init_transactions()
            transactions = Transactions(kafka, config.exactly_once_scope, index, system)
        else:
            kafka = KafkaWriter(config.kafka, topics=config.topic_creation,
                                skips_refused=config.producer_spec.skips_refused or config.producer_spec.quarantines_refused,
                                refusal_budget_s=config.retry.budget_s())
            resume = None
        worker = ProducerWorker(config.producer_spec, kafka, TypeRegistry(sql), run_id, resume, kafka.record_limit)
        heartbeat = Heartbeat(config.events, worker.side_converters) if index == 0 and config.events.heartbeat_interval_ms else None
        if heartbeat is not None and config.topic_creation is not None:
            kafka.partitions(heartbeat.topic)  # created (topic.creation.*) before the first heartbeat
        run_producer(index, worker, reader, cells, config.pipeline.shutdown_timeout_ms / 1000 * 0.8, heartbeat,
                     transactions)
        log.debug("producer %d done after %d rows", index, worker.rows)
    finally:
        reader.close()
        auth_failures.bind(None)
        cells.close()
        sql.close()
