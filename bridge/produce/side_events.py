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

from bridge.convert import values_binary
from bridge.convert.options import ConversionOptions
from bridge.pgoutput.messages import LogicalMessage
from bridge.route.settings import EventConfig
from bridge.convert.schema import (
    message_key_schema,
    message_value_schema,
    transaction_key_schema,
    transaction_value_schema,
)
from bridge.convert.values_structured import java_hashmap_order
from bridge.format.converter import KEY, VALUE, Converters, converters_for
from bridge.format.source import source_block
from bridge.produce.events import Record
from bridge.route.topics import TopicNames


class MessageEvents:
    """`converters`: by default the ones `events` names."""

    def __init__(self, events: EventConfig, options: ConversionOptions, db: str,
                 converters: Converters | None = None) -> None:
        converters = converters or converters_for(events)
        self.topic = TopicNames.of(events).message()
        self._prefix, self._db = events.topic_prefix, db
        # a Connect value: bytes in binary.handling.mode=bytes, else the mode's string
        self._content = values_binary.connect_bytes(options.binary_handling_mode)
        content_type = "bytes" if options.binary_handling_mode == "bytes" else "string"
        self._key = converters.key.prepare(message_key_schema(), self.topic, KEY)
        self._value = converters.value.prepare(message_value_schema(content_type), self.topic, VALUE)

    def record(self, msg: LogicalMessage, txid: int | None, commit_ts_us: int, last_commit: int | None,
               transaction: dict | None = None) -> Record:
        """`transaction`: the envelope's block (transactional messages with transaction metadata
        on: Debezium counts them as events of their transaction)."""
        source = source_block(self._prefix, self._db, "", "", "false", commit_ts_us, txid, last_commit, msg.lsn)
        value = {"op": "m", "ts_ms": time.time_ns() // 1_000_000, "source": source, "transaction": transaction,
                 "message": {"prefix": msg.prefix, "content": self._content(msg.content)}}
        return Record(self.topic, self._key.write({"prefix": msg.prefix}), self._value.write(value))


class TransactionEvents:
    """`converters`: by default the ones `events` names."""

    def __init__(self, events: EventConfig, converters: Converters | None = None) -> None:
        converters = converters or converters_for(events)
        self.topic = TopicNames.of(events).transaction()
        self._key = converters.key.prepare(transaction_key_schema(), self.topic, KEY)
        self._value = converters.value.prepare(transaction_value_schema(), self.topic, VALUE)

    def begin(self, txid: int, lsn: int, commit_ts_us: int) -> Record:
        return self._record("BEGIN", f"{txid}:{lsn}", None, None, commit_ts_us)

    def end(self, txid: int, lsn: int, commit_ts_us: int, events: int, per_table: list[tuple[str, int]]) -> Record:
        counts = dict(per_table)
        collections = [{"data_collection": t, "event_count": counts[t]} for t in java_hashmap_order(counts)]
        return self._record("END", f"{txid}:{lsn}", events, collections, commit_ts_us)

    def _record(self, status: str, tx_id: str, count: int | None, collections: list | None, ts_us: int) -> Record:
        value = {"status": status, "id": tx_id, "event_count": count, "data_collections": collections,
                 "ts_ms": ts_us // 1000}
        return Record(self.topic, self._key.write({"id": tx_id}), self._value.write(value))
