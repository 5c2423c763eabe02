"""Delete markers (`bridge.sink.markers`): the statements that record, consult and drop them, the
setting's default and refusals, and when a worker prunes."""

from __future__ import annotations

import json
import threading

import pytest

from bridge.errors import ConfigError
from bridge.sink.apply import Applied, reduced
from bridge.sink.markers import PRUNE_EVERY_S, Pruner, key_text, markers_table
from bridge.sink.naming import TableName
from bridge.sink.records import DELETE, UPSERT, Change
from bridge.sink.statements import Shape, delete_statement, staged_statements, truncate_statements, write_statement
from bridge.sink.stats import COUNTERS, SinkState, Stats
from bridge.sink.worker import SinkWorker
from bridge.status.http import respond
from tests.fakes import PruneTarget
from tests.unit.builders import sink_file_config

GUARD = "__pgbridge_lsn"
TYPES = {"id": "bigint", "at": "timestamp with time zone", "v": "text"}
TABLE = TableName("s", "it's")


def _shape(kind: int, guarded: bool = True) -> Shape:
    return Shape(kind, TABLE, ("id", "at"), ("v",) if kind == UPSERT else (), guarded)


def test_the_key_is_one_row_of_typed_values_with_timestamptz_at_utc():
    assert key_text(("id", "at"), TYPES, "v") == """ROW(v."id", (v."at" AT TIME ZONE 'UTC'))::text"""


@pytest.mark.parametrize("mode", ["upsert", "insert"])
def test_a_row_write_skips_keys_deleted_at_or_after_it_in_both_forms(mode):
    single, _ = write_statement(mode, _shape(UPSERT), TYPES, GUARD, None, "marks")
    merge = staged_statements(mode, _shape(UPSERT), TYPES, GUARD, None, "marks").merge
    check = ("""NOT EXISTS (SELECT 1 FROM "marks" AS m WHERE m.table_name = 's.it''s' AND m.key = ROW(v."id", """
             """(v."at" AT TIME ZONE 'UTC'))::text AND m.lsn >= v."__pgbridge_lsn")""")
    for sql in (single, merge):
        assert f" WHERE {check}" in sql, sql
    assert single.count("%s") == 1  # execute_values' one VALUES list


def test_the_marker_check_follows_the_truncate_check():
    sql, _ = write_statement("upsert", _shape(UPSERT), TYPES, GUARD, "truncs", "marks")
    assert ('''> coalesce((SELECT lsn FROM "truncs" WHERE table_name = 's.it''s'), -1) AND NOT EXISTS (SELECT 1 FROM '''
            '"marks"') in sql


@pytest.mark.parametrize("markers, guarded", [(None, True), ("marks", False)])
def test_without_markers_or_without_the_guard_the_statements_are_unchanged(markers, guarded):
    assert write_statement("upsert", _shape(UPSERT, guarded), TYPES, GUARD, None, markers) == \
        write_statement("upsert", _shape(UPSERT, guarded), TYPES, GUARD, None)
    assert delete_statement(_shape(DELETE, guarded), TYPES, GUARD, markers) == \
        delete_statement(_shape(DELETE, guarded), TYPES, GUARD)
    assert staged_statements("upsert", _shape(DELETE, guarded), TYPES, GUARD, None, markers) == \
        staged_statements("upsert", _shape(DELETE, guarded), TYPES, GUARD, None)
    assert "marks" not in write_statement("update", _shape(UPSERT), TYPES, GUARD, None, "marks")[0]


def test_a_delete_raises_its_marker_in_the_statement_that_deletes():
    single, template = delete_statement(_shape(DELETE), TYPES, GUARD, "marks")
    assert single.startswith('WITH v ("id", "at", "__pgbridge_lsn") AS (VALUES %s), marked AS (INSERT INTO "marks" AS m '
                             "(table_name, key, lsn) SELECT 's.it''s', ROW(")
    assert single.count("%s") == 1 and template == "(%s::bigint, %s::timestamp with time zone, %s::bigint)"
    assert ("ON CONFLICT (table_name, key) DO UPDATE SET lsn = EXCLUDED.lsn, marked_at = now() "
            "WHERE m.lsn < EXCLUDED.lsn) DELETE FROM \"s\".\"it's\" AS t USING v WHERE") in single
    merge = staged_statements("upsert", _shape(DELETE), TYPES, GUARD, None, "marks").merge
    assert merge.startswith('WITH marked AS (INSERT INTO "marks"') and " DELETE FROM " in merge
    assert merge.count("pg_temp.") == 2  # the staged rows, read by both


def test_a_truncate_drops_the_tables_older_markers():
    statements = truncate_statements(TABLE, 50, GUARD, "truncs", "marks")
    assert statements[-1] == ('DELETE FROM "marks" WHERE table_name = %s AND lsn < %s', ("s.it's", 50))
    assert truncate_statements(TABLE, 50, GUARD, "truncs") == statements[:-1]
    assert truncate_statements(TABLE, None, GUARD, "truncs", "marks") == [('TRUNCATE TABLE "s"."it\'s"', ())]


def test_the_marker_table_is_keyed_by_table_and_key_and_indexed_for_pruning():
    create, index = markers_table("__pgbridge_sink_deletes")
    assert "PRIMARY KEY (table_name, key)" in create and create.startswith('CREATE TABLE IF NOT EXISTS "__pgbridge')
    assert index.endswith('ON "__pgbridge_sink_deletes" (marked_at)')


def test_a_worker_prunes_at_most_once_a_minute_a_chunk_per_transaction():
    now = [100.0]
    pruner = Pruner("marks", 5000, clock=lambda: now[0])
    assert pruner.due()
    conn = PruneTarget([10_000, 10_000, 3])
    assert pruner.prune(conn) == 20_003 and conn.commits == 3 and conn.args[0] == (5000, 5000)
    now[0] += PRUNE_EVERY_S - 1
    assert not pruner.due()
    now[0] += 1
    assert pruner.due()


class _Record:
    """A Kafka record of `srv.public.t` as the worker reads it (JSON without schemas)."""

    def __init__(self, offset: int, op: str) -> None:
        self._offset, self.op = offset, op

    def topic(self) -> str:
        return "srv.public.t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return json.dumps({"id": self._offset}).encode()

    def value(self) -> bytes:
        row = {"id": self._offset}
        return json.dumps({"before": row if self.op == "d" else None, "after": None if self.op == "d" else row,
                           "op": self.op, "source": {"lsn": 100 + self._offset}}).encode()

    def timestamp(self) -> tuple[int, int]:
        return 1, self._offset


def test_a_worker_counts_its_marked_deletes_and_the_markers_it_prunes_in_the_metrics(tmp_path):
    # GIVEN a worker with delete markers (on by default with offsets in Kafka)
    config = sink_file_config(tmp_path, {"value.converter.schemas.enable": "false",
                                         "key.converter.schemas.enable": "false", **DELETES,
                                         "bridge.sink.offsets": "kafka", "bridge.sink.dedup.size": "0"})
    assert config.delete_markers
    stats = Stats(1, [0] * len(COUNTERS))
    worker = SinkWorker(config, 0, stats, threading.Event())
    now = [0.0]
    worker.pruner = Pruner("marks", 1000, clock=lambda: now[0])
    worker.conn = PruneTarget([4, 3])
    batch = [_Record(1, "c"), _Record(2, "d"), _Record(3, "d"), _Record(4, "d")]
    # the writer counts the deletes it wrote with a marker (tests/integration/test_sink_apply.py)
    marked = iter([2, 1, 0])
    worker._transaction = lambda batch, changes, before, offsets: (Applied(marked=next(marked)), before, 0)
    # WHEN it writes batches in which the writer marked 2, 1 and 0 deletes, the last a minute later
    worker._apply(worker._prepare(batch))
    worker._apply(worker._prepare([_Record(5, "d")]))
    now[0] += PRUNE_EVERY_S
    worker._apply(worker._prepare([_Record(6, "c")]))
    # THEN three deletes were marked, and the first batch and the one a minute later each pruned
    assert stats.get(0, "delete_markers") == 3 and stats.get(0, "markers_pruned") == 7
    text = respond(SinkState(stats, [lambda: True], phase="streaming"), "GET", "/q/metrics")[2].decode()
    assert 'pgbridge_sink_delete_markers_total{worker="0"} 3' in text
    assert 'pgbridge_sink_delete_markers_pruned_total{worker="0"} 7' in text


DELETES = {"delete.enabled": "true", "primary.key.mode": "record_key"}


@pytest.mark.parametrize("extra, on", [
    ({}, False),  # one topic, offsets in the target: applied once and in order
    ({"bridge.sink.offsets": "kafka"}, True),  # redeliveries
    ({"topics": "a,b"}, True),  # two topics, one table
    ({"topics": "", "topics.regex": "srv\\..*"}, True),
    ({"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq"}, True),  # dead letters replayed
    ({"errors.deadletterqueue.topic.name": "dlq"}, False),  # tolerance none: nothing is dead-lettered
    ({"bridge.sink.quarantine.topic": "q"}, True),
    ({"bridge.sink.offsets": "kafka", "bridge.sink.ordering.guard": "none"}, False),
    ({"bridge.sink.delete.markers": "true"}, True),
    ({"bridge.sink.offsets": "kafka", "bridge.sink.delete.markers": "false"}, False),
])
def test_markers_are_on_by_default_where_an_older_change_can_follow_its_delete(tmp_path, extra, on):
    config = sink_file_config(tmp_path, {**DELETES, **extra})
    assert config.delete_markers is on
    assert (config.delete_markers_table, config.delete_markers_retention_ms) == ("__pgbridge_sink_deletes", 604_800_000)


def test_without_deletes_there_is_nothing_to_mark(tmp_path):
    config = sink_file_config(tmp_path, {"bridge.sink.offsets": "kafka", "bridge.sink.delete.markers": "true"})
    assert not config.delete_markers


def test_markers_without_the_guard_are_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^bridge\.sink\.delete\.markers=true needs bridge\.sink\.ordering\.guard=lsn"):
        sink_file_config(tmp_path, {**DELETES, "bridge.sink.ordering.guard": "none",
                                    "bridge.sink.delete.markers": "true"})


def test_the_table_and_the_retention_are_read(tmp_path):
    config = sink_file_config(tmp_path, {**DELETES, "bridge.sink.delete.markers": "true",
                                         "bridge.sink.delete.markers.table": "marks",
                                         "bridge.sink.delete.markers.retention.ms": "60000"})
    assert (config.delete_markers_table, config.delete_markers_retention_ms) == ("marks", 60000)


def _change(kind: int, lsn: int, v: str | None = None) -> Change:
    return Change(kind, TABLE, ("id",), (1,), None, ("v",) if v else (), (v,) if v else (), None, lsn)


@pytest.mark.parametrize("late", [_change(UPSERT, 10, "old"), _change(DELETE, 10)])
def test_with_the_guard_the_reduction_drops_a_change_older_than_the_one_it_would_replace(late):
    # a delete at 20 (or an insert at 20) read before an older change of its key: the older one is dropped,
    # as the delete's marker (or the guard) would skip it, instead of undoing the delete (or the insert)
    for newer in (_change(DELETE, 20), _change(UPSERT, 20, "new")):
        assert reduced([newer, late], by_lsn=True) == [newer]
        assert reduced([newer, late]) == [late]  # without the guard: the last read stands, as before
        assert reduced([late, newer], by_lsn=True) == [newer]
