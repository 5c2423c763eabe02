"""The relation cache: the latest Relation message per relation id, with its key columns.

pgoutput sends a Relation message before the first change of a relation on a connection
and again whenever its shape changes (ALTER TABLE), so the newest one always describes the
rows that follow. A change naming a relation id never described on this connection means
the stream (or our bookkeeping) is broken: `lookup` raises `UnknownRelation`, a
`ProtocolError`, rather than guessing.

Key columns come from the Relation's key flags, which mark the replica identity: the
primary key (REPLICA IDENTITY DEFAULT) or the chosen unique index (USING INDEX). Under
REPLICA IDENTITY FULL the server flags every column, which would make a row's routing key
change on every update and break per-key order; Debezium keys such tables by their primary
key (or `message.key.columns`), so the caller passes those columns as `key_columns`.
"""

from collections.abc import Mapping, Sequence

import msgspec

from bridge.errors import ConfigError, ProtocolError
from bridge.pgoutput.messages import Relation


class UnknownRelation(ProtocolError):
    """A change names a relation id that no Relation message described on this connection."""

    def __init__(self, relation_id: int, *, offset: int, msg_type: str | None) -> None:
        super().__init__(
            f"unknown relation id {relation_id}: no Relation message for it on this connection",
            offset=offset,
            msg_type=msg_type,
        )
        self.relation_id = relation_id


class CachedRelation(msgspec.Struct, frozen=True, gc=False):
    relation: Relation
    key_indexes: tuple[int, ...]  # positions of the key columns in a tuple, ascending
    is_key: tuple[bool, ...]  # per column, for the routing fast path
    key_end: int  # columns to read to have seen every key column (last key index + 1)


class RelationCache:
    """Relation id → `CachedRelation`; `add` replaces any earlier shape of the relation."""

    __slots__ = ("_by_id", "_key_columns")

    def __init__(self, key_columns: Mapping[tuple[str, str], Sequence[str]] | None = None) -> None:
        """`key_columns` maps (namespace, table) to the column names that form the key,
        overriding the Relation's key flags (see the module docstring)."""
        self._by_id: dict[int, CachedRelation] = {}
        self._key_columns = dict(key_columns or {})

    def add(self, relation: Relation, key_columns: Sequence[str] | None = None) -> CachedRelation:
        """Cache `relation`; `key_columns` (e.g. the primary key read from the catalog) wins
        over the constructor's mapping, which wins over the Relation's key flags."""
        names = key_columns if key_columns is not None else self._key_columns.get((relation.namespace, relation.name))
        if names is None:
            is_key = tuple(c.is_key for c in relation.columns)
        else:
            known = {c.name for c in relation.columns}
            missing = [n for n in names if n not in known]
            if missing:
                raise ConfigError(
                    f"key columns {missing} not in {relation.namespace}.{relation.name}"
                    f" (columns: {sorted(known)})"
                )
            is_key = tuple(c.name in names for c in relation.columns)
        key_indexes = tuple(i for i, k in enumerate(is_key) if k)
        key_end = key_indexes[-1] + 1 if key_indexes else 0
        cached = CachedRelation(relation, key_indexes, is_key, key_end)
        self._by_id[relation.relation_id] = cached
        return cached

    def get(self, relation_id: int) -> CachedRelation | None:
        return self._by_id.get(relation_id)

    def lookup(
        self, relation_id: int, *, offset: int = 0, msg_type: str | None = None
    ) -> CachedRelation:
        """Like `get`, but an unknown id raises `UnknownRelation` at `offset`/`msg_type`."""
        cached = self._by_id.get(relation_id)
        if cached is None:
            raise UnknownRelation(relation_id, offset=offset, msg_type=msg_type)
        return cached

    def __len__(self) -> int:
        return len(self._by_id)
