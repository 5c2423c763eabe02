"""Consumer offsets kept in the target, in the transaction that writes the rows they cover
(`bridge.sink.offsets=target`): after a crash the worker resumes exactly after the last committed
batch, so no change is applied twice and none is lost.

The table (`bridge.sink.offsets.table`, default `__pgbridge_sink_offsets`) holds the next offset
to read per (group, topic, partition). Each write is a compare-and-set against the offset this
worker read when it was given the partition: a worker that lost a partition in a rebalance it
has not seen yet cannot commit over the new owner's progress (its transaction is rolled back).
"""

from __future__ import annotations

from typing import Iterable

from bridge.errors import BridgeError
from bridge.sink.naming import quote


class OffsetsMoved(BridgeError):
    """Another worker committed a partition this one believed it owned: drop the batch, re-seek."""


class OffsetStore:
    def __init__(self, table: str, group: str) -> None:
        self.table = quote(table)
        self.group = group
        self.known: dict[tuple[str, int], int | None] = {}  # what this worker expects in the table

    def create(self, cur) -> None:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (consumer_group text NOT NULL, topic text NOT NULL, "
                    "kafka_partition integer NOT NULL, next_offset bigint NOT NULL, "
                    "PRIMARY KEY (consumer_group, topic, kafka_partition))")

    def read(self, cur, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The stored next offsets of `partitions` (absent: none stored); remembered for the CAS."""
        wanted = list(partitions)
        if not wanted:
            return {}
        cur.execute(f"SELECT topic, kafka_partition, next_offset FROM {self.table} WHERE consumer_group = %s "
                    "AND (topic, kafka_partition) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
                    (self.group, [t for t, _ in wanted], [p for _, p in wanted]))
        found = {(t, p): o for t, p, o in cur.fetchall()}
        for tp in wanted:
            self.known[tp] = found.get(tp)
        return found

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        for tp in partitions:
            self.known.pop(tp, None)

    def write(self, cur, next_offsets: dict[tuple[str, int], int]) -> None:
        """Store the next offsets in the caller's transaction; `OffsetsMoved` when the table does
        not hold what this worker expects (the caller rolls back). The partitions it has stored
        before are compared and set in one statement."""
        known = []
        for (topic, partition), offset in next_offsets.items():
            expected = self.known.get((topic, partition))
            if expected is None:
                cur.execute(f"INSERT INTO {self.table} VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            (self.group, topic, partition, offset))
                if cur.rowcount != 1:
                    raise OffsetsMoved(f"offsets of {topic}[{partition}] moved under this worker (a rebalance it "
                                       "has not seen yet)")
            else:
                known.append((topic, partition, offset, expected))
        if not known:
            return
        cur.execute(f"UPDATE {self.table} AS o SET next_offset = v.next FROM unnest(%s::text[], %s::int[], "
                    "%s::bigint[], %s::bigint[]) AS v(topic, kafka_partition, next, expected) "
                    "WHERE o.consumer_group = %s AND o.topic = v.topic AND o.kafka_partition = v.kafka_partition "
                    "AND o.next_offset = v.expected",
                    ([k[0] for k in known], [k[1] for k in known], [k[2] for k in known], [k[3] for k in known],
                     self.group))
        if cur.rowcount != len(known):
            moved = ", ".join(f"{t}[{p}]" for t, p, _, _ in known)
            raise OffsetsMoved(f"offsets of {moved} moved under this worker (a rebalance it has not seen yet)")

    def committed(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """After the transaction committed: these are what the table holds now."""
        self.known.update(next_offsets)
