"""Delete markers (`bridge.sink.delete.markers`): a delete is remembered after its row is gone,
so that an older insert or update of that key arriving later cannot bring the row back.

The LSN guard compares a change with the LSN the row holds; a delete removes the row and its LSN
with it, so without a marker a replayed older `c`/`r`/`u` (offsets in Kafka redelivered after a
crash, a dead letter replayed, a second topic or a resized topic feeding the same table) would
re-create a row the source deleted.

One table (`bridge.sink.delete.markers.table`, default `__pgbridge_sink_deletes`, beside the
offsets and truncates tables) holds (table_name, key, lsn, marked_at), primary key (table_name,
key): one DDL at start and one pruning statement for every target table, where a per-table mirror
of the key columns would need DDL per table and a catalog search to prune. The key is
`ROW(k1, ...)::text` of the key values as the statements have them, typed by the target columns'
casts: a type's text output is canonical for its value (equal keys give equal text, ROW's quoting
keeps distinct keys distinct), except timestamptz, whose text follows the session's TimeZone:
it is taken at UTC. (Other output settings, DateStyle, IntervalStyle, extra_float_digits,
bytea_output, are the database's and the same for every session of the sink.)

- A guarded delete upserts its marker in the statement that deletes (a data-modifying WITH): the
  highest delete LSN per key. It is written whether the row was there or not (a delete can arrive
  before the insert it follows, from another partition) and when the row is newer (harmless).
- An insert or upsert skips the rows whose key has a marker at an LSN at least its own (NOT EXISTS
  against the primary key; counted as guard skips). A newer write passes and leaves the marker to
  pruning: clearing it would cost every upsert a second probe and a write, and a marker older than
  the row changes nothing (the row's own LSN guards it). `insert.mode=update` finds no row to
  update and needs no marker.
- A truncate drops the table's markers older than it (the truncates table stands for them).
- Pruned by wall clock: markers older than `bridge.sink.delete.markers.retention.ms` (default 7
  days, Kafka's default `retention.ms`: under it no older copy of a change is left in the source
  topics or the dead-letter topic to replay) are deleted by each worker at most once a minute, in
  chunks of their own transactions; SKIP LOCKED lets workers prune side by side. `bridge sink
  replay` prunes the same way while it runs. The table holds about deletes/s x retention rows:
  with a shorter topic retention, a shorter one suits too.
- Counted in `/q/metrics`: `pgbridge_sink_delete_markers_total` the deletes applied with a marker
  (counted by the writer, `apply.Applied.marked`: each left or raised its key's marker, or found a
  newer one) and
  `pgbridge_sink_delete_markers_pruned_total` the markers pruned; their difference is about the
  table's growth.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from bridge.sink.naming import quote

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 60.0
PRUNE_CHUNK = 10_000


def markers_table(table: str) -> list[str]:
    """The marker table and the index pruning reads."""
    t = quote(table)
    return [f"CREATE TABLE IF NOT EXISTS {t} (table_name text NOT NULL, key text NOT NULL, lsn bigint NOT NULL, "
            "marked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, key))",
            f"CREATE INDEX IF NOT EXISTS {quote(table[:53] + '_marked_at')} ON {t} (marked_at)"]


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_text(keys: tuple[str, ...], types: dict[str, str], v: str) -> str:
    """The marker key of the row `v`: its key columns as one ROW's text."""
    parts = [f"({v}.{quote(k)} AT TIME ZONE 'UTC')" if types.get(k) == "timestamp with time zone"
             else f"{v}.{quote(k)}" for k in keys]
    return f"ROW({', '.join(parts)})::text"


def unmarked(markers: str, table: str, keys: tuple[str, ...], types: dict[str, str], lsn: str) -> str:
    """The condition that the row `v` was not deleted at or after its own LSN `lsn`."""
    return (f"NOT EXISTS (SELECT 1 FROM {quote(markers)} AS m WHERE m.table_name = {literal(table)} "
            f"AND m.key = {key_text(keys, types, 'v')} AND m.lsn >= {lsn})")


def mark(markers: str, table: str, keys: tuple[str, ...], types: dict[str, str], lsn: str, rows: str) -> str:
    """A WITH item recording the deletes in `rows` (`v`): each key's marker at the highest LSN."""
    m = quote(markers)
    return (f"marked AS (INSERT INTO {m} AS m (table_name, key, lsn) SELECT {literal(table)}, "
            f"{key_text(keys, types, 'v')}, {lsn} FROM {rows} ON CONFLICT (table_name, key) DO UPDATE "
            "SET lsn = EXCLUDED.lsn, marked_at = now() WHERE m.lsn < EXCLUDED.lsn)")


def truncated(markers: str, table: str, lsn: int) -> tuple[str, tuple]:
    """A truncate at `lsn` stands for the table's older markers."""
    return f"DELETE FROM {quote(markers)} WHERE table_name = %s AND lsn < %s", (table, lsn)


def prune_statement(markers: str) -> str:
    """One chunk of markers past the retention (`%s`: milliseconds); a marker raised meanwhile
    (a newer delete of its key) is re-checked by the DELETE and stays."""
    m = quote(markers)
    return (f"DELETE FROM {m} AS m USING (SELECT table_name, key FROM {m} WHERE marked_at < now() - %s * "
            f"interval '1 millisecond' LIMIT {PRUNE_CHUNK} FOR UPDATE SKIP LOCKED) AS old "
            f"WHERE m.table_name = old.table_name AND m.key = old.key AND m.marked_at < now() - %s * "
            "interval '1 millisecond'")


class Pruner:
    """When a worker prunes: at most once every `PRUNE_EVERY_S`, the first time after its first batch."""

    def __init__(self, markers: str, retention_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.statement = prune_statement(markers)
        self.retention_ms = retention_ms
        self.clock = clock
        self.next = 0.0

    def due(self) -> bool:
        return self.clock() >= self.next

    def prune(self, conn) -> int:
        """Delete the markers past the retention, a chunk per transaction; how many."""
        self.next = self.clock() + PRUNE_EVERY_S
        total = 0
        while True:
            with conn.cursor() as cur:
                cur.execute(self.statement, (self.retention_ms, self.retention_ms))
                n = cur.rowcount
            conn.commit()
            total += n
            if n < PRUNE_CHUNK:
                break
        if total:
            log.info("pruned %d delete marker(s) older than %d ms", total, self.retention_ms)
        return total
