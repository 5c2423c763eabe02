"""Everything routing reads, in one frozen value: which producer gets each change, which
changes exist at all, and the topic names that per-topic salts are looked up by.

The decoder's `Router` is built from it, and exactly once's fingerprint is its hash: a
producer's committed position counts ring records, so it can be matched against a replay only
if the records were routed the same way. Hashing the spec itself, rather than a hand-kept list
of settings, keeps the hashed inputs and the inputs routing reads the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

from bridge.route.filters import TableFilter
from bridge.route.settings import EventConfig, PipelineConfig


@dataclass(frozen=True, slots=True)
class RoutingSpec:
    producers: int
    salt: bytes
    salts: Mapping[str, bytes]  # per-topic overrides of `salt`, by the (sanitized) topic name
    partitioner: str  # "mmh3" or "murmur2": which partition a key lands in, hence which producer
    # topic naming: table topics (and so per-topic salts) and the message topic's salt
    topic_prefix: str
    topic_delimiter: str
    skipped_operations: frozenset[str]
    tombstones_on_delete: bool  # a delete's tombstone is a record a position counts
    transaction_metadata: bool
    filters: TableFilter
    signal_table: str | None  # always captured
    # every row of a table to one producer (a transform makes the Kafka key or partition from
    # something else than the table's key: `bridge.transform.chain.changes_routing`); hashed
    # only when set, so the fingerprints of earlier versions' routing stay what they were
    by_table: bool = dataclasses.field(default=False, metadata={"hashed_when_set": True})
    # a table-less outbox (`bridge.outbox.message.prefix`): (message prefix, the JSON member
    # holding the event key); such messages go to a producer by that key; hashed only when set
    outbox: tuple[str, str] | None = dataclasses.field(default=None, metadata={"hashed_when_set": True})

    @classmethod
    def of(cls, pipeline: PipelineConfig, events: EventConfig, filters: TableFilter,
           signal_table: str | None, by_table: bool = False, outbox: tuple[str, str] | None = None) -> RoutingSpec:
        return cls(pipeline.producers, pipeline.salt, dict(pipeline.salts), pipeline.partitioner,
                   events.topic_prefix, events.topic_delimiter, events.skipped_operations,
                   events.tombstones_on_delete, events.provide_transaction_metadata, filters, signal_table, by_table,
                   outbox)

    def fingerprint(self) -> str:
        """A stable digest of every field: the same in every process and every run (no hash
        randomisation: sets and maps are sorted, patterns written as their source and flags)."""
        return hashlib.sha1(repr(_canonical(self)).encode()).hexdigest()[:16]


def _canonical(value: object) -> object:
    if dataclasses.is_dataclass(value):
        return (type(value).__name__,
                tuple((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value)
                      if not (f.metadata.get("hashed_when_set") and getattr(value, f.name) == f.default)))
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(_canonical(v) for v in value))
    if isinstance(value, Mapping):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, re.Pattern):
        return ("re", value.pattern, int(value.flags))
    return value
