"""The router's extension points, fixed when the decoder is built (`bridge.route.router.Router`).

Each is optional and costs nothing per message when unset: the router binds what it needs
once, at construction.
- `drop(kind, payload, lsn)`: True for a message already delivered, left out before routing
  (a cut-over from Debezium: `bridge.cutover.offsets.ResumeFilter`).
- `watched`: relation id → `RowWatcher`, seeing each change of that table before it is
  routed. A live view: its owner (the incremental snapshot) adds and removes tables as it goes.
- `on_relation(msg)`: every Relation message of a captured table, after the router took it.
- `on_truncate(payload)`: every Truncate message, before it is routed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bridge.pgoutput.messages import Relation


class RowWatcher(Protocol):
    def __call__(self, kind: str, relid: int, key: bytes, old_key: bytes | None, payload: bytes, lsn: int,
                 xid: int) -> None:
        """A change of a watched table: its kind ('I', 'U', 'D'), routing key (and the old key
        of a key change), the pgoutput message, its LSN and its transaction's xid."""


@dataclass(frozen=True, slots=True)
class RouterHooks:
    drop: Callable[[int, bytes, int], bool] | None = None
    watched: Mapping[int, RowWatcher] = field(default_factory=dict)
    on_relation: Callable[[Relation], None] | None = None
    on_truncate: Callable[[bytes], None] | None = None
