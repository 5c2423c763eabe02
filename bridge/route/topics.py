"""Topic names, as Debezium 3.x names them for PostgreSQL: the one place that decides them.

Debezium's default `topic.naming.strategy` for PostgreSQL is
`io.debezium.schema.SchemaTopicNamingStrategy` (on `AbstractTopicNamingStrategy`, in
debezium-core, renamed debezium-connector-common in 3.5), and the logical message topic comes
from the PostgreSQL connector's `LogicalDecodingMessageMonitor`. Their rules, reproduced here:

- Table: `<topic.prefix><d><schema><d><table>`, `<d>` = `topic.delimiter` (default "."). Parts
  that are blank (empty, or only characters up to U+0020, what Java's `String.trim()` removes)
  are left out, delimiter included. The joined name is then *sanitized*, as Kafka accepts only
  `[a-zA-Z0-9._-]` in topic names of at most 249 characters:
  - each other character becomes "_", counted in Java `char`s (UTF-16 code units), so "é" is
    "_" but a character beyond U+FFFF such as an emoji is "__";
  - a name longer than 249 characters is cut to its first 249 (two tables may then share a
    topic, as with Debezium);
  - a name that is exactly "." or ".." becomes "_" or "__" (Kafka reserves them).
  A name that needed any of this is logged, once per process, with a warning.
- Transaction metadata: `<topic.prefix><d><topic.transaction>` (default "transaction").
- Heartbeats: `topic.heartbeat.name` when set (Debezium 3.6+), else
  `<topic.heartbeat.prefix><d><topic.prefix>`.
- Logical decoding messages: `<topic.prefix>.message`, always with ".": Debezium appends a
  fixed ".message" and ignores `topic.delimiter` there.
Only table names are sanitized; the others are made of settings Debezium validates at startup
(`topic.prefix`, `topic.delimiter`, `topic.transaction`, `topic.heartbeat.prefix` and
`topic.heartbeat.name` must each match `[a-zA-Z0-9_.-]+`), so they are used as they are.

The Connect schema names of a table (`<topic>.Key`, `<topic>.Value`, `<topic>.Envelope`) start
with its sanitized topic name: Debezium builds them from the same name
(`TopicNamingStrategy.recordSchemaPrefix` defaults to the data topic); `schema.name.adjustment.mode`
(default `none`) then adjusts them, not the topic (`bridge.convert.names`).

Names are computed once per relation (a Relation message), never per row.
"""

from __future__ import annotations

import logging
import re

from bridge.route.settings import EventConfig

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 249  # Kafka's limit (org.apache.kafka.common.internals.Topic)
REPLACEMENT = "_"
_VALID = re.compile(r"[a-zA-Z0-9._\-]*")
_INVALID_CHAR = re.compile(r"[^a-zA-Z0-9._\-]")
_warned: set[str] = set()


def _replace(m: re.Match) -> str:
    # one replacement per UTF-16 code unit, as Debezium walks a Java String char by char
    return REPLACEMENT * 2 if ord(m[0]) > 0xFFFF else REPLACEMENT


def sanitize(name: str) -> str:
    """`name` as a valid Kafka topic name, changed the way Debezium changes it (see above)."""
    if _VALID.fullmatch(name) and len(name) <= MAX_NAME_LENGTH and name != "." and name != "..":
        return name
    fixed = _INVALID_CHAR.sub(_replace, name)
    if len(fixed) > MAX_NAME_LENGTH:
        fixed = fixed[:MAX_NAME_LENGTH]
    elif fixed == ".":
        fixed = REPLACEMENT
    elif fixed == "..":
        fixed = REPLACEMENT * 2
    if name not in _warned:  # each process sees each Relation message, and again after ALTER TABLE
        _warned.add(name)
        log.warning("%r is not a valid Kafka topic name: using %r, as Debezium does", name, fixed)
    return fixed


def _blank(part: str) -> bool:
    return all(c <= " " for c in part)  # also True for ""


class TopicNames:
    """Every topic name of one connector configuration: `topic.prefix`, `topic.delimiter`,
    `topic.transaction`, `topic.heartbeat.prefix` and `topic.heartbeat.name`, with Debezium's
    defaults."""

    __slots__ = ("prefix", "delimiter", "_transaction", "_heartbeat")

    def __init__(self, prefix: str, delimiter: str = ".", transaction: str = "transaction",
                 heartbeat_prefix: str = "__debezium-heartbeat", heartbeat_name: str | None = None) -> None:
        self.prefix = prefix
        self.delimiter = delimiter
        self._transaction = f"{prefix}{delimiter}{transaction}"
        self._heartbeat = heartbeat_name or f"{heartbeat_prefix}{delimiter}{prefix}"

    @classmethod
    def of(cls, events: EventConfig) -> TopicNames:
        return cls(events.topic_prefix, events.topic_delimiter, events.topic_transaction,
                   events.heartbeat_topic_prefix, events.heartbeat_topic_name)

    def table(self, schema: str, table: str) -> str:
        """The data change topic of `schema.table` (also the prefix of its Connect schema names)."""
        return sanitize(self.delimiter.join(p for p in (self.prefix, schema, table) if not _blank(p)))

    def message(self) -> str:
        """Logical decoding messages (`pg_logical_emit_message`): "." whatever the delimiter."""
        return f"{self.prefix}.message"

    def transaction(self) -> str:
        """BEGIN/END records of `provide.transaction.metadata`."""
        return self._transaction

    def heartbeat(self) -> str:
        return self._heartbeat
