"""Records beside the row changes: logical decoding messages and transaction metadata.

Shapes follow what Debezium 3.7 emits (tests/data/debezium/messages.jsonl, txmeta.jsonl, and a
live Debezium 3.7.0 in tests/integration/test_live_parity.py):
- `<prefix>.message`: key `{"prefix"}`, value `{op:"m", ts_ms, source, transaction, message:
  {prefix, content}}` with `source.schema`/`table` empty; no headers. A non-transactional
  message has `txId` null, `sequence` `[its LSN, its LSN]` (Debezium commits it) and the newest
  transaction's commit time. With transaction metadata on, a transactional message is an event
  of its transaction: it has a `transaction` block and counts in the END record.
- `<prefix>.transaction` (`<prefix><topic.delimiter><topic.transaction>`, `bridge.route.topics`;
  the message topic keeps its "." whatever the delimiter): key `{"id"}`, value `{status, id,
  event_count, data_collections, ts_ms}`; the id is `<txId>:<LSN>` (the BEGIN message's LSN for BEGIN, the commit's end for END) and
  `data_collections` lists tables in java.util.HashMap order, as Debezium's map iterates. Each
  transactional message is a collection of its own there, named like Debezium's
  `...LogicalDecodingMessageMonitor$LogicalDecodingMessageId@<hash>` (Debezium's hash is a Java
  identity hash: the name and its place in the list cannot be reproduced, only the shape).
"""

from __future__ import annotations

import time

import msgspec

from bridge.config import EventConfig
from bridge.convert import values_binary
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import connect_schema, field_schema, source_schema, struct_schema, transaction_schema
from bridge.convert.values_structured import java_hashmap_order
from bridge.pgoutput.messages import LogicalMessage
from bridge.produce.events import Record, source_block
from bridge.route.topics import TopicNames

_encode = msgspec.json.Encoder().encode


def _wrapped(schema: dict | None, payload: dict) -> bytes:
    return _encode(payload if schema is None else {"schema": schema, "payload": payload})


class MessageEvents:
    def __init__(self, events: EventConfig, options: ConversionOptions, db: str) -> None:
        self.topic = TopicNames.of(events).message()
        self._prefix, self._db = events.topic_prefix, db
        self._content = values_binary.encoder(options.binary_handling_mode)
        content_type = "bytes" if options.binary_handling_mode == "bytes" else "string"
        self._key_schema = struct_schema(
            [field_schema("prefix", connect_schema("string", optional=True))],
            name="io.debezium.connector.postgresql.MessageKey", version=1,
        ) if events.key_schemas_enable else None
        message = struct_schema(
            [field_schema("prefix", connect_schema("string", optional=True)),
             field_schema("content", connect_schema(content_type, optional=True))],
            name="io.debezium.connector.postgresql.Message", version=1,
        )
        self._value_schema = struct_schema(
            [field_schema("op", connect_schema("string")),
             field_schema("ts_ms", connect_schema("int64", optional=True)),
             field_schema("source", source_schema()),
             field_schema("transaction", transaction_schema()),
             field_schema("message", message)],
            name="io.debezium.connector.postgresql.MessageValue", version=1,
        ) if events.value_schemas_enable else None

    def record(self, msg: LogicalMessage, txid: int | None, commit_ts_us: int, last_commit: int | None,
               transaction: dict | None = None) -> Record:
        """`transaction`: the envelope's block (transactional messages with transaction metadata
        on: Debezium counts them as events of their transaction)."""
        source = source_block(self._prefix, self._db, commit_ts_us, "", "", txid, msg.lsn, last_commit)
        value = {"op": "m", "ts_ms": time.time_ns() // 1_000_000, "source": source, "transaction": transaction,
                 "message": {"prefix": msg.prefix, "content": self._content(msg.content)}}
        return Record(self.topic, _wrapped(self._key_schema, {"prefix": msg.prefix}),
                      _wrapped(self._value_schema, value))


class TransactionEvents:
    def __init__(self, events: EventConfig) -> None:
        self.topic = TopicNames.of(events).transaction()
        self._key_schema = struct_schema(
            [field_schema("id", connect_schema("string"))],
            name="io.debezium.connector.common.TransactionMetadataKey", version=1,
        ) if events.key_schemas_enable else None
        collection = struct_schema(
            [field_schema("data_collection", connect_schema("string")),
             field_schema("event_count", connect_schema("int64"))],
            optional=True, name="event.collection", version=1,
        )
        self._value_schema = struct_schema(
            [field_schema("status", connect_schema("string")),
             field_schema("id", connect_schema("string")),
             field_schema("event_count", connect_schema("int64", optional=True)),
             {"type": "array", "items": collection, "optional": True, "field": "data_collections"},
             field_schema("ts_ms", connect_schema("int64"))],
            name="io.debezium.connector.common.TransactionMetadataValue", version=1,
        ) if events.value_schemas_enable else None

    def begin(self, txid: int, lsn: int, commit_ts_us: int) -> Record:
        return self._record("BEGIN", f"{txid}:{lsn}", None, None, commit_ts_us)

    def end(self, txid: int, lsn: int, commit_ts_us: int, events: int, per_table: list[tuple[str, int]]) -> Record:
        counts = dict(per_table)
        collections = [{"data_collection": t, "event_count": counts[t]} for t in java_hashmap_order(counts)]
        return self._record("END", f"{txid}:{lsn}", events, collections, commit_ts_us)

    def _record(self, status: str, tx_id: str, count: int | None, collections: list | None, ts_us: int) -> Record:
        value = {"status": status, "id": tx_id, "event_count": count, "data_collections": collections,
                 "ts_ms": ts_us // 1000}
        return Record(self.topic, _wrapped(self._key_schema, {"id": tx_id}), _wrapped(self._value_schema, value))
