"""How figures are taken: process CPU and memory, slot activity, Kafka progress, latency.

- CPU: user+system seconds of every process of a system (a process and all its descendants,
  read from /proc), sampled when the system starts reading its slot and when
  the last record is readable, so start-up (JVM, Python imports) is not counted.
- Peak RSS: the largest sum of RSS over the system's processes, sampled every 50 ms (shared
  pages, e.g. the rings, count once per process that maps them).
- Readable in Kafka: the sum of the high watermarks of the system's topics (acks=all on one
  broker: what a consumer can read), polled every ~20 ms.
- Latency: a consumer assigned to every partition reads each record as soon as it is
  readable; latency = the time it reads the record - the event's source.ts_ms (the commit
  timestamp PostgreSQL recorded). Both clocks are this machine's.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from native_bench.services import Kafka


_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 = index 0)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def cpu_of(pid: int | None) -> float | None:
    """User + system CPU seconds of one process (not its children)."""
    fields = _stat(pid) if pid else None
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                tree.setdefault(int(fields[1]), []).append(int(entry))  # ppid
    return tree


class ProcessTree:
    """The processes of one system: roots (by pid) and all their descendants (from /proc)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = list(roots)
        self._dead_cpu = 0.0  # CPU of processes seen earlier that have exited since
        self._last_cpu: dict[int, float] = {}

    def pids(self) -> list[int]:
        tree = _children()
        out, todo = [], [p for p in self.roots if os.path.exists(f"/proc/{p}")]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(tree.get(pid, ()))
        return out

    def processes(self) -> list[int]:
        return self.pids()

    def cpu_seconds(self) -> float:
        """CPU of the tree, including processes seen earlier that have exited since."""
        alive = {}
        for pid in self.pids():
            cpu = cpu_of(pid)
            if cpu is not None:
                alive[pid] = cpu
        for pid, cpu in self._last_cpu.items():
            if pid not in alive:
                self._dead_cpu += cpu
        self._last_cpu = alive
        return self._dead_cpu + sum(alive.values())

    def rss_bytes(self) -> int:
        return sum(rss_of(pid) for pid in self.pids())


class Sampler:
    """Background sampling of a tree's RSS (peak) and CPU (latest), every `interval_s`."""

    def __init__(self, tree: ProcessTree, interval_s: float = 0.05) -> None:
        self.tree = tree
        self.interval_s = interval_s
        self.peak_rss = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.tree.rss_bytes())
        self.cpu = self.tree.cpu_seconds()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


def wait_slot_active(conn, slot: str, timeout_s: float, alive=lambda: True) -> tuple[float, int]:
    """Poll until a walsender holds `slot`; returns (wall time, walsender pid)."""
    deadline = time.monotonic() + timeout_s
    with conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s AND active", (slot,))
            row = cur.fetchone()
            if row:
                return time.time(), row[0]
            if not alive():
                raise RuntimeError(f"the system exited before it started reading slot {slot}")
            time.sleep(0.005)
    raise TimeoutError(f"slot {slot} not active within {timeout_s:.0f}s")


@dataclass
class Progress:
    first_readable: float | None = None  # wall time the first record was readable
    done: float | None = None  # wall time all expected records were readable
    seen: int = 0
    stalled: bool = False  # nothing new became readable for a while


def wait_readable(kafka: Kafka, topics: list[str], partitions: int, expected: int, timeout_s: float,
                  alive=lambda: True, interval_s: float = 0.02, stall_s: float = 60.0) -> Progress:
    """Poll the topics' end offsets until `expected` records are readable; give up after
    `timeout_s`, when the system exits, or when nothing new was readable for `stall_s`."""
    progress = Progress()
    deadline = time.monotonic() + timeout_s
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        n = kafka.end_offsets(topics, partitions)
        now = time.time()
        if n and progress.first_readable is None:
            progress.first_readable = now
        if n != progress.seen:
            last_change = time.monotonic()
        progress.seen = n
        if n >= expected:
            progress.done = now
            return progress
        if not alive():
            break
        if time.monotonic() - last_change > stall_s:
            progress.stalled = True
            break
        time.sleep(interval_s)
    return progress


class _Source(msgspec.Struct):
    ts_ms: int


class _Envelope(msgspec.Struct):
    source: _Source | None = None


class _Wrapped(msgspec.Struct):
    payload: _Envelope | None = None


_decode_plain = msgspec.json.Decoder(_Envelope).decode
_decode_wrapped = msgspec.json.Decoder(_Wrapped).decode


def _commit_ms(value: bytes) -> int | None:
    if value[:10].lstrip().startswith(b'{"schema"') or b'"payload"' in value[:64]:
        env = _decode_wrapped(value).payload
    else:
        env = _decode_plain(value)
        if env.source is None:  # a wrapped value whose "schema" came later in the object
            env = _decode_wrapped(value).payload
    return env.source.ts_ms if env is not None and env.source is not None else None


@dataclass
class LatencyConsumer:
    """Reads every record of the topics from the beginning, in a thread, noting
    (read time - commit time) for each change event."""

    bootstrap: str
    topics: list[str]
    partitions: int
    latencies_ms: list[float] = field(default_factory=list)
    records: int = 0
    since_ms: float = float("inf")  # only commits from then on count (set after the warm-up)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: str | None = None

    def start(self) -> None:
        self._consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"native-bench-latency-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
            "fetch.min.bytes": 1,
            "enable.partition.eof": False,
        })
        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                               for t in self.topics for p in range(self.partitions)])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        consumer = self._consumer
        try:
            while not self._stop.is_set():
                # poll() returns as soon as one record is there (consume(n, t) would wait for
                # n records or t seconds); then take whatever else is already fetched.
                first = consumer.poll(0.1)
                if first is None:
                    continue
                now_ms = time.time() * 1000
                for msg in [first, *consumer.consume(1000, 0)]:
                    if msg.error():
                        continue
                    self.records += 1
                    value = msg.value()
                    if value:
                        ts = _commit_ms(value)
                        if ts is not None and ts >= self.since_ms:
                            self.latencies_ms.append(now_ms - ts)
        except Exception as exc:  # noqa: BLE001 - reported, never hidden
            self.error = repr(exc)
        finally:
            consumer.close()

    def wait_for(self, records: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.records < records and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        return self.records >= records

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def percentiles(values: list[float], points=(50, 95, 99)) -> dict[str, float] | None:
    if not values:
        return None
    data = sorted(values)
    out = {}
    for p in points:
        k = min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))
        out[f"p{p}"] = round(data[k], 1)
    out["max"] = round(data[-1], 1)
    out["mean"] = round(sum(data) / len(data), 1)
    return out


def payload_sample(bootstrap: str, topics: list[str], partitions: int, limit: int | None = None,
                   timeout_s: float = 120.0) -> dict | None:
    """Average key, value and header bytes per record over up to `limit` records (all of the
    topics' by default), and the sum of the key and value bytes read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"native-bench-size-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)]
    consumer.assign(tps)
    n = key = value = headers = tombstones = 0
    eof: set = set()
    deadline = time.monotonic() + timeout_s
    try:
        while (limit is None or n < limit) and len(eof) < len(tps) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        eof.add((msg.topic(), msg.partition()))
                    continue
                n += 1
                key += len(msg.key() or b"")
                v = msg.value()
                if v is None:
                    tombstones += 1
                value += len(v or b"")
                headers += sum(len(k) + len(h or b"") for k, h in (msg.headers() or []))
    finally:
        consumer.close()
    if not n:
        return None
    return {"records": n, "key_bytes": round(key / n, 1), "value_bytes": round(value / n, 1),
            "header_bytes": round(headers / n, 1), "tombstones": tombstones, "key_value_bytes": key + value}
