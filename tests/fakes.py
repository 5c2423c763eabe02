"""Test doubles shared by the unit tests: a psycopg2 connection and cursor, the producer stage's
Kafka sinks, and confluent-kafka's Producer. Loaded as a pytest plugin by tests/conftest.py, so
asserts here are rewritten like a test's and fixtures put here reach every test."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from bridge.kafka import auth_failures


@pytest.fixture(autouse=True)
def no_kafka_auth_failures_yet(monkeypatch):
    """Kafka authentication failures are counted per process (`bridge.kafka.auth_failures`), and
    make readiness DEGRADED: every test starts from none."""
    monkeypatch.setattr(auth_failures, "_count", 0)
    monkeypatch.setattr(auth_failures, "_last_us", 0)
    monkeypatch.setattr(auth_failures, "_publish", None)


class FakeConnection:
    """A psycopg2 connection. Its cursors answer `execute` from `rows`, keyed by the query's first
    parameter, and write `copy_out(sql)`'s lines for `COPY (...) TO STDOUT`; `queries` lists the
    first parameter of each query executed."""

    def __init__(self, rows: dict | None = None) -> None:
        self.rows = rows or {}
        self.queries: list = []
        self.closed = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def copy_out(self, sql: str) -> Iterable[bytes]:
        """The bytes a `COPY (...) TO STDOUT` of `sql` writes; none here, test doubles override."""
        return ()

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        self.closed = 1


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection, self.row = connection, None

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, params: tuple) -> None:
        self.connection.queries.append(params[0])
        self.row = self.connection.rows.get(params[0])

    def fetchone(self) -> tuple | None:
        return self.row

    def copy_expert(self, sql: str, file) -> None:
        query = sql[len("COPY ("):-len(") TO STDOUT")]
        for line in self.connection.copy_out(query):
            file.write(line)


class PruneTarget:
    """The target connection as the delete markers' pruning (`bridge.sink.markers.Pruner`) sees it:
    each statement deletes the next of `chunks` markers; statements, arguments and commits kept."""

    closed = False

    def __init__(self, chunks: list[int]) -> None:
        self.chunks, self.statements, self.args, self.commits = chunks, [], [], 0

    def cursor(self) -> PruneTarget:
        return self

    def __enter__(self) -> PruneTarget:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def execute(self, sql: str, args: tuple) -> None:
        self.statements.append(sql)
        self.args.append(args)
        self.rowcount = self.chunks.pop(0)

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        pass


class FakeSink:
    """A `KafkaOutput` with one partition per topic: keeps (topic, key, value) as parsed JSON and
    never acknowledges, for tests of what is built rather than what is acked."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict | None, dict | None]] = []

    def produce_call(self, topic, value, key, partition, on_delivery, callback, timestamp, headers) -> None:
        self.produce(topic, key, value, on_delivery, partition, headers)

    def partitions(self, topic: str) -> int:
        return 1

    def produce(self, topic, key, value, on_delivery, partition=-1, headers=None) -> None:
        self.records.append((topic, key and json.loads(key), value and json.loads(value)))

    def poll(self, timeout_s: float = 0) -> int:
        return 0

    def flush(self, timeout_s: float) -> int:
        return 0

    def __len__(self) -> int:
        return 0


class RecordingSink:
    """A `KafkaOutput` with three partitions per topic: keeps (topic, key, value,
    partition, headers) as produced and acknowledges each record at once."""

    def __init__(self) -> None:
        self.records: list[tuple] = []

    def produce_call(self, topic, value, key, partition, on_delivery, callback, timestamp, headers) -> None:
        self.produce(topic, key, value, on_delivery, partition, headers)

    def partitions(self, topic: str) -> int:
        return 3

    def produce(self, topic, key, value, on_delivery, partition=-1, headers=None) -> None:
        self.records.append((topic, key, value, partition, headers))
        on_delivery(None, None)

    def poll(self, timeout_s: float = 0) -> int:
        return 0

    def flush(self, timeout_s: float) -> int:
        return 0

    def __len__(self) -> int:
        return 0


class FakeProducer:
    """confluent-kafka's produce: full twice, then accepting; or refusing."""

    def __init__(self, refuse: bool = False) -> None:
        self.full, self.refuse, self.produced, self.polls = 2, refuse, [], 0

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None, callback=None, timestamp=0,
                headers=None):
        from confluent_kafka import KafkaError, KafkaException
        if self.refuse:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, key, value, partition, headers))
        on_delivery(None, None)

    def poll(self, timeout):
        self.polls += 1
        return 0


class KafkaMessage:
    """A record as confluent-kafka's consumer gives it: the accessors the sink reads."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.fields = (topic, partition, offset, key, value)

    def topic(self) -> str:
        return self.fields[0]

    def partition(self) -> int:
        return self.fields[1]

    def offset(self) -> int:
        return self.fields[2]

    def key(self) -> bytes | None:
        return self.fields[3]

    def value(self) -> bytes | None:
        return self.fields[4]
