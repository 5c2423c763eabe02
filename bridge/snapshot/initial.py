"""The initial snapshot, taken by the decoder process through the normal pipeline.

Crash safety comes from the slot's life cycle: the snapshot is read under a TEMPORARY slot
created with an exported snapshot, and only once Kafka has acknowledged every snapshot record
is that slot copied (`pg_copy_logical_replication_slot`) to the permanent `slot.name`, which
then streams from the same consistent point. A crash at any moment before that leaves no
permanent slot (the temporary one dies with its connection), so the next start snapshots
again: a snapshot is never half-recorded as done. After the copy, rows read + changes streamed
= the tables, with no gap and no duplicate.

Snapshot rows become Inserts (`bridge.snapshot.wire`) inside one transaction at the consistent
point and are routed by key like streamed rows; the producers emit them as `op: "r"` events
carrying Debezium's `source.snapshot` markers.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

import psycopg2.extensions
import psycopg2.extras

from bridge import failpoints
from bridge.errors import BridgeError, ExitCode
from bridge.lsn import format_lsn
from bridge.route import records as rec
from bridge.route.dispatcher import Dispatcher
from bridge.route.router import Router
from bridge.snapshot import wire
from bridge.snapshot.initial_report import InitialReport
from bridge.snapshot.parallel import SnapshotReader
from bridge.snapshot.plan import listed_tables, plan_snapshot
from bridge.snapshot.reader import open_snapshot_session
from bridge.snapshot.selection import TableSelection
from bridge.snapshot.settings import SnapshotConfig
from bridge.source.settings import ReplicationConfig
from bridge.source.slots import copy_slot, create_slot_with_snapshot

log = logging.getLogger(__name__)

_MARKER = {name: index for index, name in enumerate(rec.SNAPSHOT_MARKERS)}


class SnapshotFailed(BridgeError):
    exit_code = ExitCode.SNAPSHOT_STOPPED


def needs_snapshot(mode: str, slot_exists: bool) -> bool:
    """Debezium's snapshot modes; without Connect offsets, "no slot yet" means "never streamed"."""
    if mode == "always":
        return True
    return mode in ("initial", "initial_only", "when_needed") and not slot_exists


def take_snapshot(snap: SnapshotConfig, replication: ReplicationConfig, selection: TableSelection,
                  router: Router, dispatcher: Dispatcher,
                  connect_sql: Callable[[], psycopg2.extensions.connection],
                  connect_replication: Callable[[], psycopg2.extras.LogicalReplicationConnection],
                  stop: Callable[[], bool], *, keep_slot: bool = True, report: InitialReport | None = None) -> int:
    """Read every captured table into the rings, wait for Kafka's acks, create the permanent
    slot at the snapshot's consistent point (unless `keep_slot` is false: initial_only), and
    return that point. `report` sends the snapshot's notifications."""
    report = report or InitialReport(None, "")
    slot_name = replication.slot_name
    temp_name = f"{slot_name[:40]}_snapshot_{os.getpid()}"
    repl = connect_replication()
    sessions: list[psycopg2.extensions.connection] = []
    try:
        report.started()
        exported = create_slot_with_snapshot(repl, temp_name, temporary=True)
        point = exported.consistent_point
        sessions = [open_snapshot_session(connect_sql, exported.snapshot_name) for _ in range(snap.max_threads)]
        plans = plan_snapshot(sessions[0], replication.publication_name, selection,
                              max_threads=snap.max_threads)
        report.resolved(listed_tables(sessions[0], replication.publication_name, selection), plans)
        log.info("snapshot of %d table(s) at %s with %d thread(s)", len(plans), format_lsn(point), snap.max_threads)
        started_us = time.time_ns() // 1000
        # Debezium reports its snapshot transaction's id as source.txId
        with sessions[0].cursor() as cur:
            cur.execute("SELECT txid_current()")
            snapshot_xid = cur.fetchone()[0] & 0xFFFFFFFF
        router.snapshot_begin(wire.begin(point, started_us, snapshot_xid), point)
        for plan in plans:
            router.handle(wire.relation(plan.relation), point)
        rows = 0
        with SnapshotReader(sessions, plans, fetch_size=snap.fetch_size, progress=lambda p: log.info("%s", p),
                            table_started=report.table_started, table_done=report.table_done) as reader:
            for batch in reader:
                relid = batch.table.relation.relation_id
                for i, row in enumerate(batch.rows):
                    router.snapshot_row(wire.insert(relid, row), point, _MARKER[batch.marker(i)])
                rows += len(batch.rows)
                dispatcher.write_full()
                if failpoints.ENABLED:
                    failpoints.hit(failpoints.MID_SNAPSHOT)
                if stop():
                    raise SnapshotFailed("stopped during the snapshot; the next start takes it again")
        router.handle(wire.commit(point, started_us), point)
        router.snapshot_done()
        dispatcher.flush(idle_position=point)
        dispatcher.wait_safe(point, stop)
        log.info("snapshot done: %d rows acknowledged by Kafka", rows)
        if keep_slot:
            conn = connect_sql()
            try:
                # snapshot.mode=always: the fresh snapshot supersedes the old position
                copy_slot(conn, temp_name, slot_name, replace=snap.mode == "always")
            finally:
                conn.close()
            log.info("replication slot %s created at the snapshot's consistent point", slot_name)
        report.completed()
        return point
    except BaseException:
        report.aborted()
        raise
    finally:
        for session in sessions:
            session.close()
        repl.close()  # drops the temporary slot
