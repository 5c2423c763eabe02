"""Signal rows: reading them from the stream and what each asks of the incremental snapshot.

A user inserts a row into `signal.data.collection` (columns id, type, data, read by position):

    INSERT INTO public.dbz_signal VALUES ('ad-hoc-1', 'execute-snapshot',
        '{"data-collections": ["public.orders"], "type": "incremental"}');

Like Debezium: only inserts count; the tables of one signal are snapshotted in the order listed
(each entry is a table name, or a regular expression matched against the published tables); a
signal arriving during a snapshot adds its tables to the queue; `additional-conditions` filter
the rows; `stop-snapshot` (all tables, or the listed ones), `pause-snapshot` and
`resume-snapshot` take effect at the next chunk boundary. The window markers the snapshot writes
itself arrive as signal rows too (`bridge.snapshot.incremental.window`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.pgoutput.messages import Insert
from bridge.snapshot.incremental.tables import SnapshotTable, TableRef

log = logging.getLogger(__name__)

EXECUTE, STOP, PAUSE, RESUME, LOG = "execute-snapshot", "stop-snapshot", "pause-snapshot", "resume-snapshot", "log"
ACTIONS = (EXECUTE, STOP, PAUSE, RESUME, LOG)
WINDOW_OPEN, WINDOW_CLOSE = "snapshot-window-open", "snapshot-window-close"


@dataclass(frozen=True, slots=True)
class SignalRow:
    """A row inserted into the signal table, its columns as text (None when NULL)."""

    id: str | None
    type: str | None
    data: str | None


@dataclass(frozen=True, slots=True)
class Signal:
    """A signal to act on at the decoder loop's next turn: one of ACTIONS, with its JSON data."""

    type: str
    id: str | None  # a Kafka signal may have none
    doc: dict


def signal_row(msg: Insert, signal_table: str) -> SignalRow | None:
    """The Insert of a signal row; None (warned) when the table has not the three columns."""
    if len(msg.new) != 3:
        log.warning("signal table %s has %d columns, not 3 (id, type, data): signal ignored",
                    signal_table, len(msg.new))
        return None
    id_, type_, data = (v.decode("utf-8", "replace") if isinstance(v, bytes) else None for v in msg.new)
    return SignalRow(id_, type_, data)


def parse_signal(row: SignalRow) -> Signal | None:
    """A signal row that asks something of the snapshot; None (warned) for one pgbridge ignores."""
    if row.type not in ACTIONS:
        log.warning("signal %r of type %r is not supported by pgbridge; ignored", row.id, row.type)
        return None
    try:
        doc = json.loads(row.data) if row.data else {}
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        log.warning("signal %r (%s): data %r is not a JSON object; ignored", row.id, row.type, row.data)
        return None
    return Signal(row.type, row.id, doc)


def snapshot_request(signal: Signal) -> tuple[list[str], list] | None:
    """An execute-snapshot's or stop-snapshot's data collections (stop: none means all) and
    additional conditions; None (warned) for one pgbridge does not act on."""
    doc = signal.doc
    kind = str(doc.get("type") or "incremental").lower()
    collections = doc.get("data-collections")
    if collections is not None and (not isinstance(collections, list)
                                    or not all(isinstance(c, str) for c in collections)):
        log.warning("signal %r (%s): data-collections must be a list of strings; ignored", signal.id, signal.type)
        return None
    names = [c.strip() for c in collections or []]
    if kind != "incremental":
        log.warning("signal %r (%s): snapshot type %r is not supported by pgbridge (only incremental); ignored",
                    signal.id, signal.type, kind)
        return None
    if signal.type == STOP:
        return names, []
    if not names:
        log.warning("signal %r: execute-snapshot without data-collections; ignored", signal.id)
        return None
    if doc.get("surrogate-key"):
        log.warning("signal %r: surrogate-key is not supported by pgbridge; the tables' keys are used", signal.id)
    return names, doc.get("additional-conditions") or []


def tables_to_snapshot(signal_id: str | None, names: list[str], conditions: list, published: list[TableRef],
                       queued: set[int], signal_table: str) -> list[SnapshotTable]:
    """The tables an execute-snapshot adds to the queue, in the order it names them: published
    and captured (`published`), not queued already, not the signal table."""
    by_name = {t.qualified: t for t in published}
    chosen: list[TableRef] = []
    for name in names:
        if name in by_name:
            matches = [by_name[name]]
        else:
            try:
                pattern = re.compile(name)
            except re.error:
                pattern = None
            matches = [t for t in published if pattern is not None and pattern.fullmatch(t.qualified)]
        if not matches:
            log.warning("signal %r: %s is not a table of the publication (or not captured); not snapshotted",
                        signal_id, name)
        chosen += [t for t in matches if t not in chosen]
    filters = {}
    for entry in conditions if isinstance(conditions, list) else []:
        if isinstance(entry, dict) and entry.get("data-collection") and entry.get("filter"):
            filters[entry["data-collection"]] = entry["filter"]
    added = []
    for ref in chosen:
        if ref.oid in queued:
            continue
        if ref.qualified == signal_table:
            log.warning("signal %r: the signal table itself is not snapshotted", signal_id)
            continue
        condition = next((f for pattern, f in filters.items()
                          if re.fullmatch(pattern, ref.qualified, re.IGNORECASE)), None)
        added.append(SnapshotTable(ref, condition, signal_id))
    return added


def tables_to_stop(names: list[str], queue: Iterable[SnapshotTable]) -> list[str]:
    """The queued tables a stop-snapshot names, in the order it names them (every one, in queue
    order, when it names none)."""
    queued = [t.ref.qualified for t in queue]
    if not names:
        return queued
    stopped: list[str] = []
    for name in names:
        try:
            pattern = re.compile(name)
        except re.error:
            pattern = re.compile(re.escape(name))
        stopped += [t for t in queued if pattern.fullmatch(t) and t not in stopped]
    return stopped
