"""A lost slot: dropped or invalidated after pgbridge streamed from it, and what to do then.

pgbridge keeps its position in the slot. When the slot is gone the position is gone with it,
and a start cannot tell a slot someone dropped from one never created, except by what else
remembers the slot (`stored_position`): the exactly-once markers of this cluster and slot in
the offsets topic, or the incremental snapshot's progress row of this slot in the signal table.
Without either, a missing slot is a first start and `snapshot.mode` decides, as before. A slot
whose WAL PostgreSQL removed (`wal_status=lost`, past `max_slot_wal_keep_size`) is lost
whatever remembers it.

Checked before every pipeline run (the first start and each restart after a failure; a slot
invalidated while streaming ends the stream, and the run after it finds the slot lost):

- `bridge.slot.lost.recovery=fail` (default): stop with `SlotLost` (exit 11), one line saying
  what happened and what to do;
- `resnapshot`: drop the lost slot, create a new one at the current WAL position, clear the
  stored incremental progress of the old slot's history and insert an `execute-snapshot` signal
  for every captured table into the signal table. The signal reaches the decoder through the new
  slot, so the incremental snapshot (Debezium's watermarks) runs while the stream goes on: every
  row's latest state arrives, as an `op: "r"` event or as a newer change. What committed between
  the old position and the new slot is not replayed: intermediate versions of rows, and deletes
  (a row deleted then is simply not read again: no delete event or tombstone for it).
"""

from __future__ import annotations

import datetime
import json
import logging
import re

import psycopg2
import psycopg2.extensions

from bridge.config import BridgeConfig
from bridge.errors import SlotLost
from bridge.lsn import format_lsn
from bridge.produce.exactly_once import load_resume_points
from bridge.snapshot.incremental.progress import dump_progress, load_progress, progress_id, save_progress
from bridge.snapshot.plan import quote_qualified
from bridge.source.connection import connect
from bridge.source.slots import SlotFacts, confirmed_flush_lsn, create_slot, drop_slot, inspect_slot

log = logging.getLogger(__name__)


def check_slot(config: BridgeConfig, system: str) -> bool:
    """Before a pipeline run: a lost slot stops the start, or is recovered as configured. True
    when the slot was created anew here (its history starts now)."""
    sql = connect(config.postgres, config.retry)
    try:
        slot = inspect_slot(sql, config.replication.slot_name)
        if slot is not None and slot.wal_status != "lost":
            return False
        remembered = stored_position(sql, config, system) if slot is None else None
        if slot is None and remembered is None:
            return False  # never streamed, as far as anything remembers: a first start
        what = _what_happened(config.replication.slot_name, slot, remembered)
        if config.replication.lost_recovery == "fail":
            raise SlotLost(f"{what}. Set bridge.slot.lost.recovery=resnapshot to create a new slot and re-read "
                           f"every captured table with an incremental snapshot while streaming (README 'Lost slot "
                           f"recovery'), or {_start_over(config, slot, remembered)} to start as a first start would")
        resnapshot(sql, config, slot, what)
        return True
    finally:
        sql.close()


def stored_position(sql: psycopg2.extensions.connection, config: BridgeConfig, system: str) -> str | None:
    """What remembers that this slot streamed before, in words; None when nothing does."""
    inc, slot_name = config.incremental, config.replication.slot_name
    if inc.signal_table is not None:
        try:
            with sql.cursor() as cur:
                if load_progress(cur, inc.signal_table, progress_id(slot_name)) is not None:
                    return f"its incremental snapshot progress row {progress_id(slot_name)!r} in {inc.signal_table}"
        except psycopg2.Error:
            pass  # no signal table (yet): the decoder reports it
    if config.exactly_once.enabled:
        points = load_resume_points(config.exactly_once_scope, system, slot_is_new=False)
        newest = max((p.lsn for p in points), default=0)
        if newest:
            return (f"its exactly-once positions in {config.exactly_once.offsets_topic} (the newest at "
                    f"{format_lsn(newest)})")
    return None


def _what_happened(name: str, slot: SlotFacts | None, remembered: str | None) -> str:
    if slot is None:
        return f"replication slot {name!r} does not exist, but pgbridge streamed from it before ({remembered} says " \
               "so): it was dropped, and the changes committed since its last confirmed position cannot be read"
    position = format_lsn(slot.confirmed_flush_lsn) if slot.confirmed_flush_lsn else "its position"
    return f"replication slot {name!r} is lost: PostgreSQL removed WAL it still needed (wal_status=lost, " \
           f"max_slot_wal_keep_size), so the changes committed after {position} cannot be read"


def _start_over(config: BridgeConfig, slot: SlotFacts | None, remembered: str | None) -> str:
    name = config.replication.slot_name
    if slot is not None:
        return f"drop it (SELECT pg_drop_replication_slot('{name}'))"
    if remembered is not None and remembered.startswith("its incremental"):
        return f"delete that row (DELETE FROM {config.incremental.signal_table} WHERE id = '{progress_id(name)}')"
    return f"use another bridge.exactly.once.offsets.topic (the markers in {config.exactly_once.offsets_topic} " \
           "name this slot)"


def resnapshot(sql: psycopg2.extensions.connection, config: BridgeConfig, slot: SlotFacts | None,
               what: str) -> None:
    """Create the slot anew and signal an incremental snapshot of every captured table."""
    name, table = config.replication.slot_name, config.incremental.signal_table
    assert table is not None  # the configuration requires it with resnapshot
    if slot is not None:
        drop_slot(sql, name)
    create_slot(sql, name)
    start = confirmed_flush_lsn(sql, name) or 0
    signal_id = f"pgbridge-lost-slot-{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}"
    with sql.cursor() as cur:
        if load_progress(cur, table, progress_id(name)) is not None:
            # the old slot's unfinished snapshot: its queue is replaced by the full one below
            save_progress(cur, table, progress_id(name), dump_progress([], False))
        cur.execute(f"INSERT INTO {quote_qualified(table)} VALUES (%s, %s, %s)",
                    (signal_id, "execute-snapshot", snapshot_request(table)))
    log.warning("%s. bridge.slot.lost.recovery=resnapshot: created slot %s at %s and signalled %r, an incremental "
                "snapshot of every captured table. Lost for good: the changes committed between the old slot's "
                "last confirmed position and %s (a row's intermediate versions, and deletes: a row deleted then "
                "gets no delete event). Arriving: every row's latest state, read in chunks while streaming goes "
                "on", what, name, format_lsn(start), signal_id, format_lsn(start))


def snapshot_request(signal_table: str) -> str:
    """The execute-snapshot signal's data: every published, captured table except the signal
    table (a regular expression, so it fits the signal table's data column however many tables)."""
    return json.dumps({"data-collections": [f"(?!{re.escape(signal_table)}$).*"], "type": "incremental"})
