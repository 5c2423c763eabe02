"""Events whose schema the registry refuses, quarantined (`bridge.registry.incompatible.topic`).

Without the key a registry refusal stops the bridge (`bridge.format.avro.registry`): nothing of
the table is produced or confirmed past the change that brought the new schema. With it, while
the registry refuses a table's schema (409 incompatible, 422 invalid: `SchemaIncompatible`;
the Avro writer keeps the answer until the next Relation message of the table), each of the
table's events goes to that topic instead, unconverted: the records JsonConverter would write
(schemas on), key and value, tombstones too. They are produced as part of the change's
transaction, so the slot moves past the change once Kafka holds them, and the pipeline goes on.

Headers add to the event's own: `pgbridge.registry.subject`, `pgbridge.registry.version` (the
version the schema would have been), `pgbridge.registry.reason` (the registry's answer) and
`pgbridge.registry.topic` (where the event was going). `count` is
pgbridge_registry_incompatible_events_total.
"""

from __future__ import annotations

import dataclasses

from bridge.format.avro.registry import SchemaIncompatible
from bridge.format.settings import ConverterSpec
from bridge.pgoutput.messages import Delete, Insert, Relation, Update
from bridge.produce.events import EventBuilder, Record, TxnContext
from bridge.produce.settings import ProducerSpec
from bridge.source.catalog import TableInfo


class IncompatibleEvents:
    """One producer's quarantine of the events whose schema the registry refuses: a JSON event
    builder beside the Avro one, told of every relation."""

    def __init__(self, topic: str, spec: ProducerSpec, types, run_id: str) -> None:
        self.topic = topic
        json = ConverterSpec()  # JsonConverter, schemas on
        events = dataclasses.replace(spec.events, key_format=json, value_format=json, key_schemas_enable=True,
                                     value_schemas_enable=True)
        self._builder = EventBuilder(events, spec.conversion, types, spec.dbname, run_id, None, spec.columns,
                                     spec.failures.converting)
        self.count = 0  # events quarantined (pgbridge_registry_incompatible_events_total)

    def relation(self, msg: Relation, info: TableInfo, topic: str) -> None:
        self._builder.relation(msg, info, topic)

    def records(self, exc: SchemaIncompatible, msg: Insert | Update | Delete, txn: TxnContext, lsn: int,
                half: int, snapshot: str | None = None) -> list[Record]:
        """The quarantine records of the change `msg` (of a snapshot with its `snapshot` marker)."""
        if snapshot is None:
            built = self._builder.change(msg, txn, lsn, half)
        else:
            built = [self._builder.snapshot_row(msg, txn, lsn, snapshot)]
        self.count += 1
        out = []
        for r in built:
            headers = [*(r.headers or ()), ("pgbridge.registry.subject", exc.subject.encode()),
                       ("pgbridge.registry.version", exc.version.encode()),
                       ("pgbridge.registry.reason", exc.reason.encode()), ("pgbridge.registry.topic", r.topic.encode())]
            out.append(Record(self.topic, r.key, r.value, headers))
        return out
