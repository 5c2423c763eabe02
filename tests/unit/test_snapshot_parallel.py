"""The parallel reader's ordering, markers, memory bound and errors, over fake sessions whose
COPY writes canned rows (the real thing is in tests/integration/test_snapshot_reader.py)."""

from __future__ import annotations

import random
import threading
import time

import psycopg2
import pytest

from bridge.errors import ConnectionFailed
from bridge.pgoutput.messages import Relation, RelationColumn
from bridge.snapshot.parallel import SnapshotBatch, SnapshotProgress, SnapshotReader
from bridge.snapshot.plan import TablePlan
from tests.fakes import FakeConnection


class FakeSession(FakeConnection):
    """A snapshot session: `rows` holds the row count of each (table, chunk)."""

    def __init__(self, rows: dict[tuple[str, int], int], *, fail_at=None, jitter=False) -> None:
        super().__init__(rows)
        self.fail_at, self.jitter = fail_at, jitter

    def copy_out(self, sql: str):
        # the query is "<table>:<chunk>": rows "<table> <chunk> <n>"
        table, chunk = sql.split(":")
        for n in range(self.rows[(table, int(chunk))]):
            if self.fail_at == (table, int(chunk), n):
                raise psycopg2.OperationalError("server closed the connection unexpectedly")
            if self.jitter:
                time.sleep(random.random() / 20000)
            yield f"{table}\t{chunk}\t{n}\n".encode()


def plan(name: str, chunks: int, estimate: int | None = 100) -> TablePlan:
    columns = tuple(RelationColumn(False, c, 25, -1) for c in ("table", "chunk", "n"))
    return TablePlan(Relation(1, "public", name, "d", columns), estimate,
                     tuple(f"{name}:{c}" for c in range(chunks)))


def read_all(tables, rows, threads, **kwargs) -> list[SnapshotBatch]:
    sessions = [FakeSession(rows, jitter=threads > 1) for _ in range(threads)]
    with SnapshotReader(sessions, tables, **kwargs) as reader:
        batches = list(reader)
    assert all(s.closed for s in sessions)
    return batches


def markers(batches: list[SnapshotBatch]) -> list[tuple[str, str]]:
    return [(b.table.relation.name, b.marker(i)) for b in batches for i in range(len(b.rows))]


TABLES = [plan("a", 3), plan("b", 1), plan("c", 4)]
ROWS = {("a", 0): 5, ("a", 1): 0, ("a", 2): 7, ("b", 0): 0, ("c", 0): 3, ("c", 1): 9, ("c", 2): 1, ("c", 3): 4}


@pytest.mark.parametrize("threads", [1, 2, 4, 7])
def test_tables_are_contiguous_in_plan_order_with_every_row_once(threads):
    batches = read_all(TABLES, ROWS, threads, fetch_size=2, max_buffered=1)
    # THEN each table's batches come together, tables in plan order (b is empty)
    names = [b.table.relation.name for b in batches]
    assert names == sorted(names) and set(names) == {"a", "c"}
    # AND every row arrives exactly once
    got = sorted(row for b in batches for row in b.rows)
    want = sorted((t.encode(), str(c).encode(), str(n).encode())
                  for (t, c), count in ROWS.items() for n in range(count))
    assert got == want


@pytest.mark.parametrize("threads", [1, 3])
def test_markers_follow_debezium(threads):
    marks = markers(read_all(TABLES, ROWS, threads, fetch_size=4))
    assert marks[0] == ("a", "first")
    assert marks[11] == ("a", "last_in_data_collection")
    assert marks[12] == ("c", "first_in_data_collection")
    assert marks[-1] == ("c", "last")
    assert {m for _, m in marks[1:11] + marks[13:-1]} == {"true"}
    assert len(marks) == 12 + 17


def test_no_first_marker_when_the_first_table_is_empty_like_debezium():
    marks = markers(read_all([plan("b", 1), plan("c", 1)], {("b", 0): 0, ("c", 0): 3}, 1))
    assert marks == [("c", "first_in_data_collection"), ("c", "true"), ("c", "last")]


def test_the_last_row_is_last_even_when_the_last_tables_are_empty():
    marks = markers(read_all([plan("a", 1), plan("b", 1)], {("a", 0): 2, ("b", 0): 0}, 2))
    assert marks == [("a", "first"), ("a", "last")]


def test_a_single_row_snapshot_is_last():
    assert markers(read_all([plan("a", 1)], {("a", 0): 1}, 1)) == [("a", "last")]


def test_an_empty_snapshot_yields_nothing():
    assert read_all([plan("a", 2)], {("a", 0): 0, ("a", 1): 0}, 2) == []


def test_memory_stays_bounded_while_the_consumer_is_slow():
    # GIVEN 4 workers far ahead of a consumer that keeps every batch it was given
    tables = [plan(name, 5) for name in "abcdef"]
    rows = {(name, c): 50 for name in "abcdef" for c in range(5)}
    sessions = [FakeSession(rows) for _ in range(4)]
    reader = SnapshotReader(sessions, tables, fetch_size=10, max_buffered=3)
    peak = 0
    with reader:
        for _ in reader:
            time.sleep(0.001)
            peak = max(peak, sum(len(b) for b in reader._buffers))
    # THEN at most the allowance of the current table and of the others wait in memory
    assert peak <= 2 * 3


def test_a_worker_error_reaches_the_consumer_and_stops_the_rest():
    tables = [plan("a", 4)]
    rows = {("a", c): 100 for c in range(4)}
    sessions = [FakeSession(rows, fail_at=("a", 2, 10)) for _ in range(2)]
    with pytest.raises(ConnectionFailed, match=r"snapshot of public\.a: connection lost"), \
            SnapshotReader(sessions, tables, fetch_size=5) as reader:
        for _ in reader:
            pass
    assert all(s.closed for s in sessions)
    assert not [t for t in threading.enumerate() if t.name.startswith("snapshot-")]


def test_closing_early_stops_the_workers():
    tables = [plan("a", 8)]
    sessions = [FakeSession({("a", c): 1000 for c in range(8)}) for _ in range(3)]
    reader = SnapshotReader(sessions, tables, fetch_size=10, max_buffered=1)
    for _ in reader:
        break
    reader.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("snapshot-")]


def test_progress_reports():
    reports: list[SnapshotProgress] = []
    read_all([plan("a", 1, estimate=40), plan("b", 1, estimate=60)], {("a", 0): 30, ("b", 0): 50}, 1,
             progress=reports.append, progress_interval_s=0)
    final = reports[-1]
    assert (final.rows, final.estimated_rows, final.tables_done, final.tables) == (80, 100, 2, 2)
    assert final.percent == 80.0
    assert "80 of ~100 rows (80.0%), 2/2 tables" in str(final)


def test_progress_arithmetic():
    progress = SnapshotProgress(rows=250, estimated_rows=1000, tables_done=1, tables=4, elapsed_s=5.0)
    assert (progress.rows_per_s, progress.percent, progress.eta_s) == (50.0, 25.0, 15.0)
    unknown = SnapshotProgress(rows=250, estimated_rows=None, tables_done=1, tables=4, elapsed_s=5.0)
    assert unknown.percent is None and unknown.eta_s is None
    assert str(unknown) == "snapshot: 250 rows, 1/4 tables, 50 rows/s"


@pytest.mark.parametrize("threads", [1, 3])
def test_each_table_is_announced_as_emission_reaches_it_and_passes_its_last_row(threads):
    seen = []
    batches = read_all(TABLES, ROWS, threads, fetch_size=4,
                       table_started=lambda p: seen.append(("start", p.relation.name)),
                       table_done=lambda p, rows: seen.append(("done", p.relation.name, rows)))
    # every table, the empty one too, in plan order, with its row count
    assert seen == [("start", "a"), ("done", "a", 12), ("start", "b"), ("done", "b", 0), ("start", "c"),
                    ("done", "c", 17)]
    assert sum(len(b.rows) for b in batches) == 29
