"""Failure drills: break something between a running bridge and its servers while writers
update a table, heal it, and check that nothing was lost, per-key order held and the slot
caught up. `bridge drill SCENARIO -c FILE` runs them against a staging setup
(`bridge.config.drill`); the integration tier's drills (tests/integration/drills.py) run the
same `rehearse` around a bridge of their own.

The writers increment `v` of random rows of a table (id int PRIMARY KEY, v int NOT NULL); the
drill first resets every row to 0, so each key's events from there on must read 0, 1, 2, ... up
to the committed value, a restart's replay going back and climbing again (at least once). The
events are read as the JSON converter writes them (with or without schemas).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Mapping

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.errors import BridgeError
from bridge.kafka import clients
from bridge.kafka.settings import KafkaConnection
from bridge.source.slots import inspect_slot


class DrillFailed(BridgeError):
    """A drill found a lost change, a key out of order, or a pipeline that did not resume."""


# -- Toxiproxy ------------------------------------------------------------------------------------


class Toxiproxy:
    """A client of Toxiproxy's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: dict | None = None) -> dict | None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            if method == "DELETE" and exc.code == 404:
                return None
            raise DrillFailed(f"Toxiproxy {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
        except OSError as exc:
            raise DrillFailed(f"Toxiproxy at {self.url}: {exc}") from None
        return json.loads(text) if text.strip() else None

    def proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        """A fresh, enabled proxy `name` from `listen` to `upstream` (one left over is replaced)."""
        self.call("DELETE", f"/proxies/{name}")
        self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return Proxy(self, name)

    def existing(self, name: str) -> Proxy:
        """Proxy `name`, which must exist (a staging setup's)."""
        self.call("GET", f"/proxies/{name}")
        return Proxy(self, name)


@dataclass(frozen=True)
class Proxy:
    api: Toxiproxy
    name: str

    def enabled(self, on: bool) -> None:
        """Off: its connections are closed and new ones refused (a partition); on: healed."""
        self.api.call("POST", f"/proxies/{self.name}", {"enabled": on})

    def latency(self, ms: int) -> None:
        """`ms` of latency each way (a toxic on both streams)."""
        for stream in ("upstream", "downstream"):
            self.api.call("POST", f"/proxies/{self.name}/toxics",
                          {"name": f"latency_{stream}", "type": "latency", "stream": stream,
                           "attributes": {"latency": ms, "jitter": 0}})

    def clear(self) -> None:
        for stream in ("upstream", "downstream"):
            self.api.call("DELETE", f"/proxies/{self.name}/toxics/latency_{stream}")

    def delete(self) -> None:
        self.api.call("DELETE", f"/proxies/{self.name}")


def held(seconds: float, start: Callable[[], None], end: Callable[[], None]) -> Callable[[], None]:
    """A fault: `start()`, `seconds` later `end()` (also when interrupted)."""
    def fault() -> None:
        start()
        try:
            time.sleep(seconds)
        finally:
            end()
    return fault


# -- what a drill writes and reads ----------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """The drill's side of the setup: where it writes (around any proxy of the bridge's), the
    topic of its table, and where it reads that (Kafka client settings)."""

    pg: Mapping[str, object]  # psycopg2.connect keyword arguments
    table: str  # schema.table, in the bridge's publication
    keys: int
    kafka: Mapping[str, str]  # librdkafka settings, bootstrap.servers included
    topic: str
    slot: str
    publication: str


class Writers:
    """Threads that increment `v` of random rows of `table` until stopped (each thread stops by
    itself after `max_updates` transactions); per transaction, a number of distinct keys drawn
    from `keys_per_txn` (one row per transaction by default). `connect` opens a connection."""

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], table: str, keys: int, *,
                 threads: int = 2, pause_s: float = 0.01, max_updates: int = 3000,
                 keys_per_txn: tuple[int, int] = (1, 1)) -> None:
        self.connect, self.table, self.keys = connect, table, keys
        self.pause_s, self.max_updates, self.keys_per_txn = pause_s, max_updates, keys_per_txn
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self.errors: list[BaseException] = []

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        try:
            conn = self.connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                for _ in range(self.max_updates):  # bounded: the loop stops itself
                    if self._stop.is_set():
                        break
                    n = rng.randint(*self.keys_per_txn)
                    if n == 1:
                        cur.execute(f"UPDATE {self.table} SET v = v + 1 WHERE id = %s", (rng.randrange(self.keys),))
                    else:
                        try:
                            cur.execute(f"UPDATE {self.table} SET v = v + 1 WHERE id = ANY(%s)",
                                        (rng.sample(range(self.keys), n),))
                        except psycopg2.errors.DeadlockDetected:
                            pass  # rolled back whole: nothing changed (writers lock keys in any order)
                    if self.pause_s:
                        time.sleep(self.pause_s)
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.errors.append(exc)

    def start(self) -> Writers:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(120)
        if self.errors:
            raise DrillFailed(f"a writer failed: {self.errors[0]!r}")


def _writers(stage: Stage) -> Writers:
    return Writers(lambda: psycopg2.connect(**stage.pg), stage.table, stage.keys)


@dataclass(frozen=True)
class DrillResult:
    """What a drill measured, from the moment its fault was healed: when the topic grew again
    (`resumed_s`, the takeover), when every committed change was in Kafka (`caught_up_s`) and
    when the slot was confirmed past the last write (`slot_s`). `restarts`: the bridge's
    pipeline restarts, when the caller can count them (its log), else -1."""

    name: str
    fault_s: float
    resumed_s: float
    caught_up_s: float
    slot_s: float
    records: int
    changes: int
    restarts: int = -1

    def line(self) -> str:
        restarts = "" if self.restarts < 0 else f"; pipeline restarts {self.restarts}"
        return (f"drill {self.name}: fault {self.fault_s:.1f}s; after the heal: resumed {self.resumed_s:.1f}s, "
                f"caught up {self.caught_up_s:.1f}s, slot caught up {self.slot_s:.1f}s{restarts}; "
                f"{self.records} records for {self.changes} committed changes; nothing lost, per-key order held")


def rehearse(name: str, stage: Stage, fault: Callable[[], None], *, quiesce: bool = False,
             timeout: float = 120, log: Callable[[str], None] = print) -> DrillResult:
    """Reset the rows, run the writers, `fault()` (returns once healed), then wait for the topic
    to grow, for every committed change and for the slot; check what arrived. `quiesce`: the
    writers pause during the fault (a PostgreSQL restart would end their sessions)."""
    pg = _connect(stage)
    try:
        _check_table(pg, stage)
        start = _end_offsets(stage)
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {stage.table} SELECT g, 0 FROM generate_series(0, %s) g "
                        "ON CONFLICT (id) DO UPDATE SET v = 0", (stage.keys - 1,))
        writers = _writers(stage).start()
        time.sleep(3)
        if quiesce:
            writers.stop()
        began = time.monotonic()
        try:
            fault()
        finally:
            healed = time.monotonic()
            if not quiesce:
                writers.stop()
        log(f"drill {name}: fault healed after {healed - began:.1f}s")
    finally:
        pg.close()
    size_at_heal = _first(lambda: _size_or_none(stage), timeout, f"Kafka to answer after the heal ({stage.topic})")
    writers = _writers(stage).start()
    try:
        _wait(lambda: (_size_or_none(stage) or 0) > size_at_heal, timeout,
              f"the topic {stage.topic} to grow after the heal: the bridge did not resume")
        resumed = time.monotonic() - healed
        time.sleep(2)
    finally:
        writers.stop()
    pg = _connect(stage)
    try:
        with pg.cursor() as cur:
            cur.execute(f"SELECT id, v FROM {stage.table} WHERE id < %s", (stage.keys,))
            final = dict(cur.fetchall())
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            end_lsn = int(cur.fetchone()[0])
        values, records = _read_until_final(stage, start, final, timeout)
        caught_up = time.monotonic() - healed
        _wait(lambda: _confirmed(pg, stage.slot) >= end_lsn, timeout, f"slot {stage.slot} to be confirmed past the "
              "last write")
        slot_s = time.monotonic() - healed
    finally:
        pg.close()
    problems = per_key_problems(values, final)
    if problems:
        raise DrillFailed(f"drill {name}: " + "; ".join(problems[:5]))
    result = DrillResult(name, healed - began, resumed, caught_up, slot_s, records, sum(final.values()))
    log(result.line())
    return result


def per_key_problems(values: Mapping[int, list[int]], final: Mapping[int, int]) -> list[str]:
    """What is wrong with each key's `v` in topic order: from 0, up by one, a replay restarting
    lower, every value up to the committed one present. Empty: nothing lost, order held."""
    problems = [f"key {k}: no event" for k in sorted(set(final) - set(values))]
    for key, seq in sorted(values.items()):
        if key not in final:
            continue
        back = next((f"{a} then {b}" for a, b in zip(seq, seq[1:]) if b > a + 1), None)
        if back:
            problems.append(f"key {key}: {back} (a change skipped or out of order)")
        missing = sorted(set(range(final[key] + 1)) - set(seq))
        if seq[0] != 0 or missing:
            problems.append(f"key {key}: missing {missing[:10]} of 0..{final[key]}")
    return problems


# -- PostgreSQL and Kafka -------------------------------------------------------------------------


def _connect(stage: Stage) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(**stage.pg)
    conn.autocommit = True
    return conn


def _check_table(pg: psycopg2.extensions.connection, stage: Stage) -> None:
    schema, table = stage.table.split(".")
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {stage.table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute("SELECT 1 FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s AND tablename = %s",
                    (stage.publication, schema, table))
        if cur.fetchone() is None:
            raise DrillFailed(f"{stage.table} is not in publication {stage.publication}: the bridge would not "
                              f"stream the drill's writes (ALTER PUBLICATION \"{stage.publication}\" ADD TABLE "
                              f"{stage.table})")


def _confirmed(pg: psycopg2.extensions.connection, slot: str) -> int:
    facts = inspect_slot(pg, slot)
    if facts is None:
        raise DrillFailed(f"slot {slot} does not exist")
    return int(facts.confirmed_flush_lsn or 0)


def _consumer(stage: Stage):
    return clients.consumer(KafkaConnection(stage.kafka), f"pgbridge-drill-{time.monotonic_ns()}",
                            **{"enable.auto.commit": False, "auto.offset.reset": "earliest"})


def _end_offsets(stage: Stage) -> dict[int, int]:
    """{partition: high watermark} of the topic ({} before it exists)."""
    consumer = _consumer(stage)
    try:
        meta = consumer.list_topics(stage.topic, timeout=10).topics.get(stage.topic)
        if meta is None or meta.error is not None:
            return {}
        return {p: consumer.get_watermark_offsets(TopicPartition(stage.topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


def _size_or_none(stage: Stage) -> int | None:
    """Records in the topic, None while Kafka does not answer."""
    try:
        return sum(_end_offsets(stage).values())
    except KafkaException:
        return None


def _read_until_final(stage: Stage, start: Mapping[int, int], final: Mapping[int, int],
                      timeout: float) -> tuple[dict[int, list[int]], int]:
    """Each key's `v` in topic order from the `start` offsets, read until every key reached its
    committed value; and the number of records read."""
    values: dict[int, list[int]] = defaultdict(list)
    partition_of: dict[int, int] = {}
    best: dict[int, int] = {}
    records = 0
    consumer = _consumer(stage)
    try:
        assigned = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not assigned:
                try:
                    meta = consumer.list_topics(stage.topic, timeout=10).topics.get(stage.topic)
                except KafkaException:
                    meta = None  # Kafka not answering yet: asked again
                if meta is None or meta.error is not None or not meta.partitions:
                    time.sleep(0.5)
                    continue
                consumer.assign([TopicPartition(stage.topic, p, start.get(p, 0)) for p in meta.partitions])
                assigned = True
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF or msg.error().retriable():
                        continue
                    raise DrillFailed(f"reading {stage.topic}: {msg.error()}")
                records += 1
                key, v = _key_and_v(msg.key(), msg.value())
                if key is None:
                    continue
                if partition_of.setdefault(key, msg.partition()) != msg.partition():
                    raise DrillFailed(f"key {key} in two partitions of {stage.topic}: per-key order is lost")
                values[key].append(v)
                best[key] = max(best.get(key, -1), v)
            if all(best.get(k, -1) >= v for k, v in final.items()):
                return values, records
    finally:
        consumer.close()
    behind = sorted(k for k, v in final.items() if best.get(k, -1) < v)
    raise DrillFailed(f"{stage.topic}: after {timeout:.0f}s, {len(behind)} keys still short of their committed "
                      f"value (keys {behind[:10]}): changes are missing")


def _key_and_v(key: bytes | None, value: bytes | None) -> tuple[int | None, int]:
    """The row id and `v` of a change event (None for a tombstone)."""
    if value is None:
        return None, 0
    try:
        k, envelope = json.loads(key), json.loads(value)
    except (TypeError, ValueError):
        raise DrillFailed("the drill reads JSON events (org.apache.kafka.connect.json.JsonConverter)") from None
    k = k.get("payload", k) if isinstance(k, dict) and "schema" in k else k
    payload = envelope.get("payload", envelope) if "schema" in envelope else envelope
    after = payload.get("after")
    return (None, 0) if after is None else (int(k["id"]), int(after["v"]))


def _first(value: Callable[[], int | None], timeout: float, what: str) -> int:
    """The first value that is not None."""
    deadline = time.monotonic() + timeout
    while (found := value()) is None:
        if time.monotonic() > deadline:
            raise DrillFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
    return found


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    _first(lambda: True if predicate() else None, timeout, what)
