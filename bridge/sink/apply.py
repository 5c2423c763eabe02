"""Writing a batch of changes into the target in one transaction.

Changes are applied in record order. Consecutive changes of one shape (table, kind, columns) for
distinct keys become one multi-row statement; a repeated key starts a new statement, so the
result is that of applying every change one by one (Debezium's `passthrough`). With
`use.reduction.buffer=true` only the last change per key between two truncates is written, an
update's unchanged-TOAST columns taken from the change it replaces (Debezium's reduction buffer).

A batch whose statements fail is written again record by record, each under a savepoint, so
that only the records the target refuses are set aside (`RecordRefused`), for the dead-letter
topic or to stop the sink.

A run of two rows or more goes through COPY into a staging table and one merge statement
(`statements.staged_statements`): the same statement over the same typed values as the VALUES
form, which a single row keeps (one round trip). A run of creates and snapshot reads (rows the
target does not hold yet, as a rule) is first COPYed straight into its table, under a savepoint:
without a conflicting row that writes what the merge would, for about half of PostgreSQL's work
(no staging table, no conflict checks by the merge); a conflict (a replay, a pre-filled target)
rolls the savepoint back and the run takes the merge, and that table's runs skip the direct COPY
for a while (doubling, up to `DIRECT_BACKOFF_MAX` runs), so a target already holding the rows
does not pay for a failed COPY per run. A row's key is decoded when it joins a run (a
repeated key ends the run), its values when the run is written: straight into COPY's text by a
function generated per layout (`bridge.sink.rowtext`), or as texts for the VALUES form. A
`CreatedRun` (`Readers.read_batch`: creates read straight into COPY's lines with a layout's plan,
on the preparing thread) is such a run already made; one whose plan went stale (a rollback since)
is written as its changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from bridge.sink.records import DELETE, TRUNCATE, UPSERT, Change, CreatedRun, RecordRefused, one_pair_each
from bridge.sink.rowtext import copy_line, copy_line_of, texts
from bridge.sink.settings import SinkConfig
from bridge.sink.statements import Shape, Staged, delete_statement, staged_statements, truncate_statements, write_statement
from bridge.sink.naming import TableName, quote
from bridge.sink.target import TableInfo, Target
from bridge.errors import BridgeError
from bridge.sink.values import DECODE_ERRORS, DecodeOptions, field_decoder, text_decoder, text_kind

# Database errors that say nothing about the records: the batch is retried, never dead-lettered.
TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)
STAGED_ROWS = 2  # runs from this length are copied into a staging table and merged
# direct COPYs tried per transaction, each in a subtransaction: PostgreSQL keeps a backend's first
# 64 subtransactions in shared memory, beyond that other sessions' visibility checks slow down
DIRECT_ATTEMPTS = 16
DIRECT_BACKOFF_MAX = 1024  # runs of a table that skip the direct COPY after failures in a row
_DECODING = (*DECODE_ERRORS, BridgeError)  # what a fast decoding raises on a value it cannot read


def _texts(fast: Callable, decoders: tuple, values: tuple, table: object) -> tuple[str | None, ...]:
    """`values` as text by the generated `fast` function; when it cannot read one, again through
    the checked `decoders`, for the error naming the column (`RecordRefused`: the record's fault)."""
    try:
        return fast(values)
    except _DECODING:
        try:
            return tuple([d(v) for d, v in zip(decoders, values)])
        except BridgeError as exc:
            raise RecordRefused(f"{table}: {exc}", "TASK_PUT", exc) from None


def copy_rows(rows: Iterable[tuple[str | None, ...]]) -> str:
    """Rows of text values in COPY's text format: NULL is \\N; backslash, tab, newline and CR
    escaped (a value holding none of them, the usual case, is taken as it is)."""
    return "".join(map(copy_line_of, rows))


@dataclass(slots=True)
class Applied:
    """What one write did, for the metrics."""

    rows: dict[str, int] = field(default_factory=dict)  # table -> row changes written
    guard_skips: int = 0
    statements: int = 0
    direct: int = 0  # runs COPYed straight into their table
    marked: int = 0  # deletes written with a delete marker


@dataclass(frozen=True, slots=True)
class _Plan:
    """How the changes of one layout (table, kind, columns, schema) become rows: their shape, the
    checked decoders and the generated functions (`rowtext`); made again after the catalog cache
    was dropped."""

    generation: int
    shape: Shape
    key: tuple[Callable, ...]
    values: tuple[Callable, ...]
    key_texts: Callable[[tuple], tuple]
    value_texts: Callable[[tuple], tuple]
    copy_line: Callable[..., str]


class _Once:
    """A file whose first read gives all of the data, the next ones nothing."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data


def copy_in(cur, sql: str, text: str) -> None:
    """COPY `text` in, encoded once as psycopg2 would (the connection's client encoding) and read
    by psycopg2 in one piece: through io.StringIO, which holds a text as 4 bytes a character and
    makes it again on every read, it took a tenth of the writer's CPU."""
    data = text.encode(psycopg2.extensions.encodings[cur.connection.encoding])
    cur.copy_expert(sql, _Once(data), size=len(data) + 1)


def _values(change: Change) -> tuple[str | None, ...]:
    """A change's values as text (the LSN last when guarded), or `RecordRefused` naming the column;
    `change.text` holds its plan (`Writer._row`)."""
    plan = change.text[0]  # type: ignore[index]
    values = _texts(plan.value_texts, plan.values, change.values, change.table)
    return values + (str(change.lsn),) if plan.shape.guarded else values


def _copy_line(change: Change) -> str:
    """A change as a line of COPY's text format (as `copy_rows` makes of its key and values): the
    line made ahead, else made now by its plan's generated function, else (a value it cannot
    read) by the checked decoders, for the message naming the column."""
    plan, key, line = change.text  # type: ignore[misc]
    if line is not None:
        return line
    try:
        return plan.copy_line(key, change.values, change.lsn)
    except _DECODING:
        return copy_line_of(key + _values(change))


class Writer:
    """Applies changes on a cursor; one per worker (it caches the target's catalog)."""

    def __init__(self, config: SinkConfig, options: DecodeOptions) -> None:
        self.config = config
        self.options = options
        self.target = Target(config)
        self._cache: dict[tuple, tuple[Callable, ...]] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._staged_sql: dict[tuple, Staged] = {}  # (shape, its column types) -> its staged statements
        self.markers = config.delete_markers_table if config.delete_markers else None  # bridge.sink.markers
        self._attempts = 0  # direct COPYs tried in this transaction
        self._backoff: dict[TableName, list[int]] = {}  # table -> [runs still to skip, the next skip]

    # -- one change -> one row of text ------------------------------------------------------

    def _decoders(self, info: TableInfo, columns: tuple[str, ...], fields) -> tuple[Callable, ...]:
        """Decoders of `columns` of `info`'s table, from the record's schema fields when it has
        them (the column's type settles what a schema leaves open), else from the column types."""
        ident = (info.name, columns, id(fields))
        decoders = self._cache.get(ident)
        if decoders is None:
            types = info.types
            if fields is not None:
                decoders = tuple(field_decoder(fields[c], self.options, types[c]) for c in columns)
            else:
                decoders = tuple(text_decoder(types[c], self.options) for c in columns)
            self._cache[ident] = decoders
        return decoders

    def _plan(self, cur, change: Change, ident: tuple) -> _Plan:
        info = self.target.table(cur, change)
        guarded = self.target.guarded(change)
        shape = Shape(change.kind, change.table, change.key_columns, change.columns, guarded)
        try:
            key = self._decoders(info, change.key_columns, change.key_fields)
            values = self._decoders(info, change.columns, change.value_fields)
        except BridgeError as exc:  # the record's schema
            raise RecordRefused(f"{change.table}: {exc}", "TASK_PUT", exc) from None
        plan = self._plans[ident] = _Plan(self.target.generation, shape, key, values, texts(key), texts(values),
                                          copy_line(tuple(map(text_kind, key)), values, guarded))
        return plan

    @staticmethod
    def _ident(change: Change) -> tuple:
        return (change.table, change.kind, change.key_columns, change.columns, id(change.key_fields),
                id(change.value_fields), change.lsn is None)

    def _row(self, cur, change: Change) -> tuple:
        """`change.text`: (plan, key as text, COPY line or None), the plan current (made once per
        change layout while the catalog cache holds, the table made able to take it), the line
        when it was made ahead (`pretext`) with that plan."""
        ahead = change.text
        if ahead is not None and ahead[0].generation == self.target.generation:
            return ahead
        ident = change.layout
        if ident is None:
            ident = self._ident(change)
        plan = self._plans.get(ident)
        if plan is None or plan.generation != self.target.generation:
            plan = self._plan(cur, change, ident)
        ahead = change.text = (plan, _texts(plan.key_texts, plan.key, change.key, change.table), None)
        return ahead

    def pretext(self, changes: Iterable[Change]) -> None:
        """Each change's key texts and COPY line made ahead, by the preparing thread while the
        writer has the target, where a plan for its layout (a lane's) is known: the writer takes
        them when that plan is still current (no rollback since), else makes them itself, as it
        does for a value this cannot read (the error is then raised on the writer's thread)."""
        plans, generation = self._plans, self.target.generation
        for change in changes:
            layout = change.layout
            if layout is None:
                continue
            plan = plans.get(layout)
            if plan is None or plan.generation != generation:
                continue
            try:
                key = plan.key_texts(change.key)
                change.text = (plan, key, plan.copy_line(key, change.values, change.lsn))
            except _DECODING:
                continue

    # -- a batch --------------------------------------------------------------------------

    def write(self, cur, changes: list) -> Applied:
        """Every change (or `CreatedRun` of changes), in order, as few statements as their order
        allows. Raises `RecordRefused` (a decode or catalog refusal) or psycopg2's error; the
        caller rolls back."""
        applied = Applied()
        self._attempts = 0
        if self.config.reduction:
            changes = reduced([c for _, c in one_pair_each([(None, c) for c in changes])],
                              self.config.ordering_guard == "lsn")
        self._write(cur, changes, applied)
        return applied

    def current_plan(self, layout: object) -> _Plan | None:
        """The plan of a lane's layout while it is current (none made yet, or made before a
        rollback: None), for `Readers.read_batch` on the preparing thread."""
        plan = self._plans.get(layout)
        return plan if plan is not None and plan.generation == self.target.generation else None

    def _write(self, cur, changes: list, applied: Applied) -> None:
        run: list[Change] = []  # each with its `text` (`_row`)
        shape = None  # the run's
        keys: set[tuple] = set()
        update = self.config.insert_mode == "update"
        for change in changes:
            if change.__class__ is CreatedRun:
                self._flush(cur, run, applied)
                run, keys = [], set()
                if change.plan.generation == self.target.generation and not update:
                    self._flush_created(cur, change, applied)
                else:  # its plan is stale (a rollback since): its changes, one by one
                    self._write(cur, [c for _, c in change.changes()], applied)
                continue
            if change.kind == TRUNCATE:
                self._flush(cur, run, applied)
                run, keys = [], set()
                self.target.table(cur, change)
                lsn = change.lsn if self.target.guarded(change) else None
                for sql, args in truncate_statements(change.table, lsn, self.config.ordering_column,
                                                     self.config.truncates_table, self.markers):
                    cur.execute(sql, args)
                applied.statements += 1
                continue
            plan, key, _ = self._row(cur, change)
            if update and change.kind == UPSERT and not change.columns:
                continue  # nothing to set
            single = update and not change.key_columns
            if run and ((shape is not plan.shape and shape != plan.shape) or key in keys or single):
                self._flush(cur, run, applied)
                run, keys = [], set()
            if not run:
                shape = plan.shape
            run.append(change)
            keys.add(key)
        self._flush(cur, run, applied)

    def write_each(self, cur, pairs: list[tuple[object, Change]]) -> tuple[Applied, list[tuple[object, RecordRefused]]]:
        """Each (record, change) under a savepoint, in order: what was written, and the records
        whose change the target refused (the rest of the transaction stands). Transient errors
        propagate."""
        total = Applied()
        refused = []
        for record, change in pairs:
            cur.execute("SAVEPOINT record")
            try:
                applied = self.write(cur, [change])
            except TRANSIENT:
                raise
            except (RecordRefused, psycopg2.Error) as exc:
                cur.execute("ROLLBACK TO SAVEPOINT record")
                self.target.forget()
                error = exc if isinstance(exc, RecordRefused) else RecordRefused(
                    f"{change.table}: {str(exc).strip()}", "TASK_PUT", exc)
                refused.append((record, error))
                continue
            cur.execute("RELEASE SAVEPOINT record")
            for table, n in applied.rows.items():
                total.rows[table] = total.rows.get(table, 0) + n
            total.guard_skips += applied.guard_skips
            total.statements += applied.statements
            total.direct += applied.direct
            total.marked += applied.marked
        return total, refused

    def _flush(self, cur, run: list[Change], applied: Applied) -> None:
        if not run:
            return
        shape = run[0].text[0].shape  # type: ignore[index]
        info = self.target.table(cur, run[0])
        if len(run) >= STAGED_ROWS:
            self._staged(cur, shape, info, "".join(map(_copy_line, run)), len(run), all([c.created for c in run]),
                         lambda: min(c.lsn for c in run), applied)  # type: ignore[type-var]
            return
        types = info.casts
        mode = self.config.insert_mode
        guard = self.config.ordering_column
        truncates = self.config.truncates_table if self.config.truncate_enabled else None
        if shape.kind == DELETE:
            sql, template = delete_statement(shape, types, guard, self.markers)
        else:
            self._keyed(shape)
            sql, template = write_statement(mode, shape, types, guard, truncates, self.markers)
        rows = [c.text[1] + _values(c) for c in run]  # type: ignore[index]
        psycopg2.extras.execute_values(cur, sql, rows, template=template, page_size=len(run))
        self._count(applied, shape, len(run), cur.rowcount)

    def _flush_created(self, cur, created: CreatedRun, applied: Applied) -> None:
        """A run of creates read straight into COPY's lines: the same statements as `_flush` makes
        of their changes."""
        shape = created.plan.shape
        info = self.target.table(cur, created.change(0))
        self._staged(cur, shape, info, "".join(created.lines), len(created.lines), True,
                     lambda: min(created.lsns), applied)

    def _keyed(self, shape: Shape) -> None:
        if shape.kind != DELETE and self.config.insert_mode == "upsert" and not shape.keys:
            raise RecordRefused(f"cannot upsert into {shape.table} with no key fields (primary.key.mode=none)")

    def _staged(self, cur, shape: Shape, info: TableInfo, text: str, rows: int, created: bool,
                min_lsn: Callable[[], int], applied: Applied) -> None:
        """`rows` rows (`text`, COPY's lines) of one shape: COPYed straight into their table when
        all are creates (`_direct`), else through a staging table and one merge."""
        self._keyed(shape)
        types = info.casts
        truncates = self.config.truncates_table if self.config.truncate_enabled else None
        ident = (shape, tuple(types.get(n) for n in shape.keys + shape.columns))
        staged = self._staged_sql.get(ident)
        if staged is None:
            staged = self._staged_sql[ident] = staged_statements(self.config.insert_mode, shape, types,
                                                                 self.config.ordering_column, truncates, self.markers)
        if staged.direct is not None and info.copyable and created \
                and self._direct(cur, staged.direct, shape, text, truncates, min_lsn):
            applied.direct += 1
            self._count(applied, shape, rows, rows)
            return
        if self.target.stage(cur, staged.table):
            cur.execute(staged.create)
        if self.target.fill(cur, staged.table):  # a second run of this shape in this transaction
            cur.execute(staged.empty)
        copy_in(cur, staged.copy, text)
        cur.execute(staged.merge)
        self._count(applied, shape, rows, cur.rowcount)

    def _count(self, applied: Applied, shape: Shape, rows: int, written: int) -> None:
        applied.statements += 1
        table = str(shape.table)
        applied.rows[table] = applied.rows.get(table, 0) + rows
        if shape.guarded and written >= 0:
            applied.guard_skips += rows - written
        if shape.kind == DELETE and shape.guarded and self.markers:
            applied.marked += rows  # each marked, whether or not the row was there (`markers.mark`)

    def _direct(self, cur, copy: str, shape: Shape, text: str, truncates: str | None,
                min_lsn: Callable[[], int]) -> bool:
        """COPY a run of creates straight into its table, under a savepoint; whether it did (else
        nothing was written). Tried when the table is not backing off and (the guard comparing
        with truncates) the run is newer than the table's last truncate, as the merge would check
        row by row."""
        table = shape.table
        backoff = self._backoff.get(table)
        if backoff is not None and backoff[0] > 0:
            backoff[0] -= 1
            return False
        if self._attempts >= DIRECT_ATTEMPTS:
            return False
        if truncates and shape.guarded:
            cur.execute(f"SELECT lsn FROM {quote(truncates)} WHERE table_name = %s", (str(table),))
            last = cur.fetchone()
            if last is not None and min_lsn() <= last[0]:
                return False
        self._attempts += 1
        cur.execute("SAVEPOINT pgbridge_direct")
        try:
            copy_in(cur, copy, text)
        except TRANSIENT:
            raise
        except psycopg2.Error:  # a row the target holds already (or what the merge will say again)
            cur.execute("ROLLBACK TO SAVEPOINT pgbridge_direct")
            cur.execute("RELEASE SAVEPOINT pgbridge_direct")
            skip = backoff[1] if backoff is not None else 1
            self._backoff[table] = [skip, min(skip * 2, DIRECT_BACKOFF_MAX)]
            return False
        cur.execute("RELEASE SAVEPOINT pgbridge_direct")
        self._backoff.pop(table, None)
        return True


def reduced(changes: list[Change], by_lsn: bool = False) -> list[Change]:
    """The last change per (table, key) between truncates; an update missing unchanged-TOAST
    columns takes them from the row write it replaces. `by_lsn` (the LSN guard): a change older
    than the one it would replace (from another partition, a replay) is dropped, as the guard or a
    delete marker would skip it; kept, it would move the row back or undo a delete."""
    out: list[Change] = []
    pending: dict[tuple, Change] = {}
    for change in changes:
        if change.kind == TRUNCATE:
            out.extend(pending.values())
            pending = {}
            out.append(change)
            continue
        if not change.key_columns:
            out.extend(pending.values())
            pending = {}
            out.append(change)
            continue
        ident = (change.table, change.key_columns, tuple(map(repr, change.key)))
        earlier = pending.pop(ident, None)
        if by_lsn and earlier is not None and change.lsn is not None and earlier.lsn is not None \
                and change.lsn < earlier.lsn:
            pending[ident] = earlier
            continue
        if earlier is not None and earlier.kind == UPSERT and change.kind == UPSERT:
            change = _merged(earlier, change)
        pending[ident] = change
    out.extend(pending.values())
    return out


def _merged(earlier: Change, later: Change) -> Change:
    """`later` with the columns it lacks (unchanged TOAST) taken from `earlier`."""
    missing = [i for i, c in enumerate(earlier.columns) if c not in later.columns]
    if not missing:
        return later
    return Change(later.kind, later.table, later.key_columns, later.key, later.key_fields,
                  later.columns + tuple(earlier.columns[i] for i in missing),
                  later.values + tuple(earlier.values[i] for i in missing), later.value_fields, later.lsn)
