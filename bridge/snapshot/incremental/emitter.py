"""What the incremental snapshot needs of the decoder to emit a chunk: the `Emitter`, and
`RouterEmitter`, the decoder's router and ring batches behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bridge.pgoutput.messages import Relation
from bridge.route import records as rec
from bridge.route.router import Router
from bridge.snapshot import wire
from bridge.snapshot.copytext import Row


class Emitter(Protocol):
    def relation(self, relation_id: int) -> Relation | None:
        """The table's shape as the stream last described it, None before it did."""

    def emit_relation(self, relation: Relation, lsn: int) -> None:
        """Describe a table to the producers, as the stream's Relation message would."""

    def emit_snapshot_row(self, relation_id: int, row: Row, lsn: int) -> None:
        """One row of a chunk, routed by its key as an incremental snapshot row."""

    def flush_full(self) -> None:
        """Write the ring batches that grew large (a long chunk in progress)."""


class RouterEmitter:
    """The decoder's `Router`, and `flush_full` of its `Dispatcher`, as an `Emitter`."""

    def __init__(self, router: Router, flush_full: Callable[[], None]) -> None:
        self._router = router
        self._flush_full = flush_full

    def relation(self, relation_id: int) -> Relation | None:
        cached = self._router.relations.get(relation_id)
        return None if cached is None else cached.relation

    def emit_relation(self, relation: Relation, lsn: int) -> None:
        self._router.handle(wire.relation(relation), lsn)

    def emit_snapshot_row(self, relation_id: int, row: Row, lsn: int) -> None:
        self._router.snapshot_row(wire.insert(relation_id, row), lsn, rec.INCREMENTAL_MARKER)

    def flush_full(self) -> None:
        self._flush_full()
