"""Golden-output parity: pgbridge's records against those of a real Debezium, text for text.

The golden files (tests/data/debezium, see its README) hold every record a real Debezium wrote
for our SQL. This module replays that SQL for pgbridge and compares the two record streams:

- **exact text**: every JSON text is parsed by a small tokenizer that keeps each scalar's own
  spelling (`3.4028235E38`, `"\\uD83C\\uDF89"`), then printed one scalar a line in document
  order. Comparing those lines checks field order, float and string spelling, schemas and
  values at once, and gives a readable unified diff per record.
- **ignored** (`GOLDEN_IGNORED`: they differ from run to run, or name the run): envelope `ts_ms/ts_us/ts_ns`,
  source `version`, `ts_ms/ts_us/ts_ns`, `txId`, `lsn`, `sequence`, transaction ids, the
  `__debezium.context.runId` header value, and the topic prefix and schema name (topics,
  schema names, `source.name`, `source.schema`, the `connectorLogicalName` header). Columns the
  SQL fills with non-deterministic values (`now()`) can be ignored by name (`volatile`).
- **grouping**: records are compared topic by topic and, within a topic, key by key in order
  (per-key order is what Kafka promises across partitions).

The same comparison serves the live proof (tests/integration/test_live_parity.py), where a real
Debezium and pgbridge read the same WAL at once: `Run(prefix, None)` keeps the schemas (and
compares the side topics `message` and `transaction`), `LIVE_IGNORED` leaves only the clock,
`source.version` and the runId header out, and `Allowed` entries mask documented differences.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "debezium"
GOLDEN_SCHEMA = "golden"  # the schema the golden SQL creates its tables in

IGNORED = "<ignored>"


@dataclass(frozen=True)
class Ignored:
    """The fields left out of a comparison (compared as equal whatever their values)."""

    envelope: frozenset[str]  # of the payload (also the BEGIN/END records' `ts_ms`)
    source: frozenset[str]
    transaction: frozenset[str]  # of the envelope's `transaction` block
    headers: frozenset[str]
    txrecord: frozenset[str] = frozenset()  # of the BEGIN/END records of `<prefix>.transaction`


# Golden files against a live pgbridge: a different run on a different WAL, so everything that
# names a position or a moment differs.
GOLDEN_IGNORED = Ignored(
    envelope=frozenset({"ts_ms", "ts_us", "ts_ns"}),
    source=frozenset({"version", "ts_ms", "ts_us", "ts_ns", "txId", "lsn", "sequence"}),
    transaction=frozenset({"id"}),
    headers=frozenset({"__debezium.context.runId"}),
    txrecord=frozenset({"id", "ts_ms"}),
)
# Two connectors reading the same WAL at once (tests/integration/test_live_parity.py): positions,
# transaction ids and commit times must be equal; only the processing clock and the version differ.
LIVE_IGNORED = Ignored(
    envelope=frozenset({"ts_ms", "ts_us", "ts_ns"}),
    source=frozenset({"version"}),
    transaction=frozenset(),
    headers=frozenset({"__debezium.context.runId"}),
)


# --- the golden passes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenPass:
    name: str
    prefix: str  # the topic prefix Debezium ran with
    properties: dict[str, str]  # connector properties of the run
    sql: tuple[str, ...]  # files, in order: the schema, then the workload

    @property
    def schemas_enable(self) -> bool:
        return self.properties.get("schemas.enable", "true") == "true"

    def bridge_properties(self, schema: str) -> dict[str, str]:
        """The same options for pgbridge, under their Debezium Server names. The publication is
        made by the test (FOR TABLE of the pass's tables), so its autocreate mode is left out."""
        out: dict[str, str] = {}
        for key, value in self.properties.items():
            if key == "schemas.enable":
                out["debezium.format.key.schemas.enable"] = value
                out["debezium.format.value.schemas.enable"] = value
            elif key == "publication.autocreate.mode":
                continue
            elif key == "schema.include.list":
                out["debezium.source.schema.include.list"] = schema if value == GOLDEN_SCHEMA else value
            else:
                out[f"debezium.source.{key}"] = value
        return out

    def records(self) -> list[Record]:
        return load_golden(self.name)


def golden_pass(name: str) -> GoldenPass:
    manifest = json.loads((GOLDEN_DIR / "manifest.json").read_text())["passes"][name]
    return GoldenPass(name, manifest["topic.prefix"], dict(manifest["properties"]), tuple(manifest["sql"]))


def golden_sql(file: str, schema: str) -> list[str]:
    """The statements of a golden SQL file with schema `golden` renamed to `schema`, split the
    way the capture ran them (`psql -f`: each `;`-ended group of lines is one statement)."""
    text = re.sub(rf"\b{GOLDEN_SCHEMA}\b", schema, (GOLDEN_DIR / file).read_text())
    statements, current = [], []
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    assert not current, f"{file}: unterminated statement {current!r}"
    return statements


def golden_tables(schema: str) -> list[str]:
    """Qualified names of the tables schema.sql creates."""
    text = (GOLDEN_DIR / "schema.sql").read_text()
    return [f"{schema}.{t}" for t in re.findall(rf"CREATE TABLE {GOLDEN_SCHEMA}\.(\w+)", text)]


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    topic: str
    key: str | None  # the exact JSON text
    value: str | None
    headers: tuple[tuple[str, str], ...] = field(default=())
    partition: int | None = None  # as consumed (consume_prefix); the comparisons leave it out


def load_golden(name: str) -> list[Record]:
    """`<pass>.jsonl` as Records; `key_raw`/`value_raw` hold Java's exact text where it differs
    from Python's compact dump (which otherwise equals it: non-ASCII is written raw)."""
    out = []
    for line in (GOLDEN_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out.append(Record(r["topic"], _golden_text(r, "key"), _golden_text(r, "value"),
                          tuple((h, v) for h, v in r["headers"] or ())))
    return out


def _golden_text(r: dict, what: str) -> str | None:
    if f"{what}_raw" in r:
        return r[f"{what}_raw"]
    if r[what] is None:
        return None
    return json.dumps(r[what], separators=(",", ":"), ensure_ascii=False)


def consume_records(bootstrap: str, counts: dict[str, int], *, timeout: float = 60.0,
                    grace: float = 1.0, alive=lambda: True, idle_when_dead: float = 6.0) -> list[Record]:
    """Read `counts`' topics from the beginning until each has its count, then `grace` seconds
    more so that extra records show up too (raw text, headers as text). Gives up early when
    `alive()` turns false (the writer is gone) and nothing arrived for `idle_when_dead` seconds.

    Partitions are assigned explicitly as their topics appear (no group subscription: a
    rebalance without committed offsets would restart from the beginning and duplicate)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"parity-{os.getpid()}-{time.monotonic_ns()}",
        "enable.auto.commit": False,
    })
    got: dict[str, int] = defaultdict(int)
    records: list[Record] = []
    assigned: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        done_at = None
        last_seen = time.monotonic()
        while time.monotonic() < (deadline if done_at is None else min(deadline, done_at + grace)):
            if len(assigned) < len(counts):
                topics = consumer.list_topics(timeout=5).topics
                new = [TopicPartition(t, p, OFFSET_BEGINNING)
                       for t in counts if t not in assigned and t in topics and topics[t].error is None
                       for p in topics[t].partitions]
                if new:
                    consumer.incremental_assign(new)
                    assigned.update(tp.topic for tp in new)
            batch = consumer.consume(1000, 0.2)
            if batch:
                last_seen = time.monotonic()
            elif done_at is None and time.monotonic() - last_seen > idle_when_dead and not alive():
                break
            for msg in batch:
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                key, value = msg.key(), msg.value()
                records.append(Record(
                    msg.topic(),
                    None if key is None else key.decode(),
                    None if value is None else value.decode(),
                    tuple((h, v.decode() if v is not None else None) for h, v in msg.headers() or ()),
                ))
                got[msg.topic()] += 1
            if done_at is None and all(got[t] >= n for t, n in counts.items()):
                done_at = time.monotonic()
    finally:
        consumer.close()
    return records


def consume_prefix(bootstrap: str, prefix: str, done, *, quiet: float = 2.0, timeout: float = 90.0,
                   alive=lambda: True, together: _Together | None = None) -> list[Record]:
    """Every record of the topics `<prefix>.*`, read from the beginning (partitions assigned as
    topics appear), until `done(records)` holds and nothing new arrived for `quiet` seconds.
    Fails after `timeout`, or when `alive()` turns false while `done` does not hold.
    `together`: read on until the other reads of `consume_together` are complete too."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"parity-{os.getpid()}-{time.monotonic_ns()}",
        "enable.auto.commit": False,
    })
    records: list[Record] = []
    assigned: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        last_seen = time.monotonic()
        next_listing = 0.0
        while True:
            now = time.monotonic()
            if now >= next_listing:
                topics = consumer.list_topics(timeout=5).topics
                new = [TopicPartition(t, p, OFFSET_BEGINNING)
                       for t, meta in topics.items()
                       if t.startswith(prefix + ".") and t not in assigned and meta.error is None
                       for p in meta.partitions]
                if new:
                    consumer.incremental_assign(new)
                    assigned.update(tp.topic for tp in new)
                    last_seen = now
                next_listing = now + 1.0
            batch = consumer.consume(1000, 0.2)
            for msg in batch:
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                key, value = msg.key(), msg.value()
                records.append(Record(
                    msg.topic(),
                    None if key is None else key.decode(),
                    None if value is None else value.decode(),
                    tuple((h, v.decode() if v is not None else None) for h, v in msg.headers() or ()),
                    msg.partition(),
                ))
                last_seen = time.monotonic()
            finished = done(records)
            complete = finished and time.monotonic() - last_seen >= quiet
            if together is None and complete or together is not None and together.all_complete(prefix, complete):
                return records
            if time.monotonic() > deadline and not complete:
                raise AssertionError(f"topics {prefix}.*: not complete after {timeout}s "
                                     f"({len(records)} records from {sorted(assigned)})")
            if not finished and not alive() and time.monotonic() - last_seen > 5:
                raise AssertionError(f"topics {prefix}.*: the writer stopped after {len(records)} records")
    finally:
        consumer.close()


class _Together:
    """The reads of one `consume_together`: whether each is complete now, and whether one failed."""

    def __init__(self, prefixes: list[str]) -> None:
        self._complete = dict.fromkeys(prefixes, False)
        self._lock = threading.Lock()
        self.failed = False

    def all_complete(self, prefix: str, complete: bool) -> bool:
        """Note `prefix`'s state; true when every read is complete (or another read failed)."""
        with self._lock:
            self._complete[prefix] = complete
            return self.failed or all(self._complete.values())


def consume_together(bootstrap: str, *reads: dict) -> list[list[Record]]:
    """`consume_prefix(bootstrap, **read)` for each of `reads` (prefix, done, quiet, timeout,
    alive) at once, each in its own thread, so that their quiet periods overlap instead of adding
    up. Each read ends only when its own condition holds and every other read's holds too: no
    read stops sooner than it would alone. The records of each read, in order; the first failure
    is raised."""
    prefixes = [read["prefix"] for read in reads]
    assert len(set(prefixes)) == len(prefixes), f"one read per prefix: {prefixes}"
    together = _Together(prefixes)

    def one(read: dict) -> list[Record]:
        try:
            return consume_prefix(bootstrap, **read, together=together)
        except BaseException:
            together.failed = True
            raise

    with ThreadPoolExecutor(len(reads)) as pool:
        futures = [pool.submit(one, read) for read in reads]
        for future in futures:
            if future.exception() is not None:
                raise future.exception()
        return [future.result() for future in futures]


def topics_with_prefix(bootstrap: str, prefix: str) -> set[str]:
    """The topics whose names start with `prefix.` (to catch topics Debezium never wrote)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"parity-{os.getpid()}"})
    try:
        return {t for t in consumer.list_topics(timeout=10).topics if t.startswith(prefix + ".")}
    finally:
        consumer.close()


# --- a JSON reader that keeps each token's spelling ---------------------------------------------

_TOKEN = re.compile(r'\s*(?:([{}\[\]:,])|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null))',
                    re.DOTALL)


class Obj(list):
    """A JSON object as its (name, value) pairs, in document order."""


def parse_raw(text: str):
    """JSON text -> Obj / list / str (the scalar's exact source text, quotes included)."""
    pos = 0

    def token():
        nonlocal pos
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"bad JSON at {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        return m.group(1) or m.group(2) or m.group(3)

    def value(tok):
        if tok == "{":
            obj = Obj()
            tok = token()
            while tok != "}":
                name = json.loads(tok)
                assert token() == ":"
                obj.append((name, value(token())))
                tok = token()
                if tok == ",":
                    tok = token()
            return obj
        if tok == "[":
            arr = []
            tok = token()
            while tok != "]":
                arr.append(value(tok))
                tok = token()
                if tok == ",":
                    tok = token()
            return arr
        return tok

    result = value(token())
    if text[pos:].strip():
        raise ValueError(f"trailing text at {pos}")
    return result


def _get(obj, name):
    if isinstance(obj, Obj):
        for k, v in obj:
            if k == name:
                return v
    return None


def _mask(obj, names: frozenset[str]) -> None:
    if isinstance(obj, Obj):
        for i, (k, _) in enumerate(obj):
            if k in names:
                obj[i] = (k, IGNORED)


def _lines(node, path: str, out: list[str]) -> None:
    if isinstance(node, Obj):
        out.append(f"{path} {{}}" if not node else f"{path} {{")
        for k, v in node:
            _lines(v, f"{path}.{k}", out)
    elif isinstance(node, list):
        out.append(f"{path} []" if not node else f"{path} [")
        for i, v in enumerate(node):
            _lines(v, f"{path}[{i}]", out)
    else:
        out.append(f"{path} = {node}")


# --- normalisation and comparison -------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What names one run: its topic prefix and the schema its tables live in. With `schema`
    None the tables keep their schema (two runs on the same database): topics are compared by
    what follows `<prefix>.`, side topics (`message`, `transaction`) included."""

    prefix: str
    schema: str | None
    volatile: frozenset[str] = frozenset()  # column names whose values are not deterministic

    def topic_suffix(self, topic: str) -> str | None:
        head = f"{self.prefix}.{self.schema}." if self.schema is not None else f"{self.prefix}."
        return topic[len(head):] if topic.startswith(head) else None

    def topic_label(self, suffix: str) -> str:
        return f"<prefix>.<schema>.{suffix}" if self.schema is not None else f"<prefix>.{suffix}"

    def scalar(self, token: str) -> str:
        """A scalar's text with this run's names replaced by placeholders."""
        if token.startswith('"'):
            if self.schema is not None:
                token = token.replace(f'"{self.prefix}.{self.schema}.', '"<prefix>.<schema>.')
            elif token.startswith(f'"{self.prefix}.'):
                token = '"<prefix>.' + token[len(self.prefix) + 2:]
            if token == f'"{self.prefix}"':
                return '"<prefix>"'
        return token


def _rename(node, run: Run):
    if isinstance(node, Obj):
        return Obj((k, _rename(v, run)) for k, v in node)
    if isinstance(node, list):
        return [_rename(v, run) for v in node]
    return run.scalar(node)


MESSAGE_COLLECTION = re.compile(r'"io\.debezium\.connector\.postgresql\.LogicalDecodingMessageMonitor'
                                r'\$LogicalDecodingMessageId@[0-9a-f]+"')


def _message_collections(payload: Obj) -> None:
    """Debezium counts each transactional logical message in an END record's `data_collections`
    as a collection of its own, named by a Java object's identity hash and placed by it in the
    HashMap's order: neither can be reproduced. Such entries get one name and go last (the
    tables keep their order)."""
    collections = _get(payload, "data_collections")
    if not isinstance(collections, list):
        return

    def is_message(entry) -> bool:
        return isinstance(_get(entry, "data_collection"), str) and bool(
            MESSAGE_COLLECTION.fullmatch(_get(entry, "data_collection")))

    messages = [Obj((k, '"<logical message>"' if k == "data_collection" else v) for k, v in e)
                for e in collections if is_message(e)]
    collections[:] = [e for e in collections if not is_message(e)] + messages


def normalise_value(text: str | None, run: Run, ignored: Ignored = GOLDEN_IGNORED) -> list[str]:
    """The value's lines with the run-specific parts masked."""
    if text is None:
        return ["value = <tombstone>"]
    doc = _rename(parse_raw(text), run)
    payload = _get(doc, "payload") if _get(doc, "schema") is not None else doc
    if isinstance(payload, Obj):
        if _get(payload, "status") is not None and _get(payload, "op") is None:
            _mask(payload, ignored.txrecord)  # a BEGIN/END record of <prefix>.transaction
            _message_collections(payload)
        else:
            _mask(payload, ignored.envelope)
        source = _get(payload, "source")
        _mask(source, ignored.source)
        if isinstance(source, Obj) and run.schema is not None:
            source[:] = [(k, '"<schema>"' if k == "schema" and v == f'"{run.schema}"' else v) for k, v in source]
        _mask(_get(payload, "transaction"), ignored.transaction)
        for image in ("before", "after"):
            _mask(_get(payload, image), run.volatile)
    out: list[str] = []
    _lines(doc, "value", out)
    return out


def normalise_key(text: str | None, run: Run) -> list[str]:
    if text is None:
        return ["key = null"]
    out: list[str] = []
    _lines(_rename(parse_raw(text), run), "key", out)
    return out


def normalise_headers(headers, run: Run, ignored: Ignored = GOLDEN_IGNORED) -> list[str]:
    out = []
    for name, value in headers:
        if name in ignored.headers:
            value = IGNORED
        elif name == "__debezium.context.connectorLogicalName" and value == run.prefix:
            value = "<prefix>"
        out.append(f"header {name} = {value}")
    return out


def record_lines(r: Record, run: Run, ignored: Ignored = GOLDEN_IGNORED) -> list[str]:
    return normalise_headers(r.headers, run, ignored) + normalise_key(r.key, run) + normalise_value(r.value, run, ignored)


def _compact(node) -> str:
    if isinstance(node, Obj):
        return "{" + ",".join(f'"{k}":{_compact(v)}' for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_compact(v) for v in node) + "]"
    return node


def key_id(r: Record, run: Run) -> str:
    """The key's payload, normalised: records of one key are compared in order."""
    if r.key is None:
        return "null"
    doc = parse_raw(r.key)
    payload = _get(doc, "payload") if _get(doc, "schema") is not None else doc
    return _compact(_rename(payload, run))


@dataclass(frozen=True)
class Allowed:
    """A documented difference between Debezium and pgbridge, with the reason.

    In records on topics whose suffix (what follows `<prefix>.`) fully matches `topic`, and
    whose Debezium record has a line matching `when` (a regex searched in the normalised lines,
    e.g. `value.payload.op = "r"`), the lines whose path fully matches `path` are compared as
    equal. `compare` counts in `seen[entry]` how many records really differed there, so a test
    can assert that each documented difference is still real."""

    topic: str
    path: str
    reason: str
    when: str = ""


def _split(line: str) -> tuple[str, str]:
    path, _, rest = line.partition(" ")
    return path, rest


def _apply_allowed(topic: str, a: list[str], b: list[str], allowed, seen) -> tuple[list[str], list[str]]:
    for entry in allowed:
        if not re.fullmatch(entry.topic, topic):
            continue
        if entry.when and not any(re.search(entry.when, line) for line in a):
            continue
        path = re.compile(entry.path)
        hit = [i for i, line in enumerate(a) if path.fullmatch(_split(line)[0])]
        hit_b = [i for i, line in enumerate(b) if path.fullmatch(_split(line)[0])]
        if not hit and not hit_b:
            continue
        if [a[i] for i in hit] != [b[i] for i in hit_b]:
            seen[entry] = seen.get(entry, 0) + 1
        masked = f"= <allowed: {entry.reason}>"
        a = [f"{_split(line)[0]} {masked}" if i in hit else line for i, line in enumerate(a)]
        b = [f"{_split(line)[0]} {masked}" if i in hit_b else line for i, line in enumerate(b)]
    return a, b


def compare(golden: list[Record], golden_run: Run, ours: list[Record], our_run: Run, *,
            ignored: Ignored = GOLDEN_IGNORED, allowed: tuple[Allowed, ...] = (),
            ordered: frozenset[str] = frozenset(), seen: dict | None = None) -> list[str]:
    """Readable differences (an empty list when the streams match). `golden` is Debezium's
    output. Topics (suffixes) in `ordered` are compared as one sequence instead of key by key
    (single-partition topics whose keys differ per record, such as `transaction`)."""
    problems: list[str] = []
    seen = {} if seen is None else seen

    def grouped(records: list[Record], run: Run) -> dict[str, dict[str, list[Record]]]:
        out: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
        for r in records:
            suffix = run.topic_suffix(r.topic)
            if suffix is None:
                problems.append(f"record on an unexpected topic {r.topic}")
                continue
            out[suffix]["(in order)" if suffix in ordered else key_id(r, run)].append(r)
        return out

    want, got = grouped(golden, golden_run), grouped(ours, our_run)
    for topic in sorted(set(want) | set(got)):
        label = golden_run.topic_label(topic)
        if topic not in got:
            problems.append(f"topic {label}: missing ({sum(map(len, want[topic].values()))} records)")
            continue
        if topic not in want:
            problems.append(f"topic {label}: not in Debezium's output "
                            f"({sum(map(len, got[topic].values()))} records)")
            continue
        for key in list(want[topic]) + [k for k in got[topic] if k not in want[topic]]:
            w, g = want[topic].get(key, []), got[topic].get(key, [])
            where = f"{label} key {key}"
            if len(w) != len(g):
                problems.append(f"{where}: {len(g)} records, Debezium wrote {len(w)}")
            for i, (wr, gr) in enumerate(zip(w, g)):
                a, b = record_lines(wr, golden_run, ignored), record_lines(gr, our_run, ignored)
                if allowed:
                    a, b = _apply_allowed(topic, a, b, allowed, seen)
                if a != b:
                    diff = difflib.unified_diff(a, b, "debezium", "pgbridge", n=2, lineterm="")
                    problems.append(f"{where}, record {i}:\n" + "\n".join(diff))
    return problems


def report(problems: list[str], limit: int = 60) -> str:
    shown = problems[:limit]
    more = f"\n... and {len(problems) - limit} more differences" if len(problems) > limit else ""
    return f"{len(problems)} differences with Debezium:\n" + "\n\n".join(shown) + more


def run_sql(conn, statements: list[str]) -> None:
    """Each statement in its own transaction (autocommit), as `psql -f` runs a file."""
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


# --- records of any converter: text compared with named masks ------------------------------------


@dataclass(frozen=True)
class Mask:
    """A documented difference in a record's text (key or value): every match of `pattern` is
    replaced by `<why>` on both sides. `compare_text` counts the records whose text it changed,
    per side, so a test can assert that each mask was really needed."""

    pattern: str
    why: str


def _masked(text: str | None, prefix: str, masks: tuple[Mask, ...], hits: dict | None) -> str:
    if text is None:
        return "<null>"
    text = text.replace(prefix, "<prefix>")
    for mask in masks:
        text, n = re.subn(mask.pattern, f"<{mask.why}>", text)
        if n and hits is not None:
            hits[mask] = hits.get(mask, 0) + 1
    return text


def _text_lines(label: str, text: str) -> list[str]:
    """A record's text as lines for a readable diff: JSON one scalar a line, else at commas."""
    if text.startswith("{") and not text.startswith("{<"):
        try:
            out: list[str] = []
            _lines(parse_raw(text), label, out)
            return out
        except ValueError:
            pass
    return [f"{label} {part}" for part in re.split(r"(?<=,)", text)]


def compare_text(debezium: list[Record], dbz_prefix: str, ours: list[Record], our_prefix: str, *,
                 masks: tuple[Mask, ...] = (), ignored_headers: frozenset[str] = frozenset({"__debezium.context.runId"}),
                 hits: dict | None = None) -> list[str]:
    """Readable differences between two streams written by any converter (StringConverter,
    CloudEvents ...), text for text: topics by what follows the prefix, records key by key
    (the key's masked text) in order, records without a key in any order (Kafka orders records
    by key), each record's headers, key and value. The prefix is
    replaced by `<prefix>` everywhere; `masks` hide the documented differences. `hits` (when
    given) counts, per side (`(mask, "debezium")` / `(mask, "pgbridge")`), the records a mask changed."""
    problems: list[str] = []
    hits = {} if hits is None else hits

    def grouped(records: list[Record], prefix: str, side: str) -> dict[str, dict[str, list[list[str]]]]:
        side_hits: dict = {}
        out: dict[str, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
        for r in records:
            if not r.topic.startswith(prefix + "."):
                problems.append(f"record on an unexpected topic {r.topic}")
                continue
            key = _masked(r.key, prefix, masks, side_hits)
            value = _masked(r.value, prefix, masks, side_hits)
            headers = [f"header {name} = " + ("<ignored>" if name in ignored_headers else _masked(v, prefix, (), None))
                       for name, v in r.headers]
            out[r.topic[len(prefix) + 1:]][key].append(headers + _text_lines("key", key) + _text_lines("value", value))
        for mask, n in side_hits.items():
            hits[(mask, side)] = hits.get((mask, side), 0) + n
        return out

    want, got = grouped(debezium, dbz_prefix, "debezium"), grouped(ours, our_prefix, "pgbridge")
    for topic in sorted(set(want) | set(got)):
        if topic not in got or topic not in want:
            problems.append(f"topic <prefix>.{topic}: only in {'Debezium' if topic in want else 'pgbridge'}'s output")
            continue
        for key in list(want[topic]) + [k for k in got[topic] if k not in want[topic]]:
            w, g = want[topic].get(key, []), got[topic].get(key, [])
            where = f"<prefix>.{topic} key {key}"
            if len(w) != len(g):
                problems.append(f"{where}: {len(g)} records, Debezium wrote {len(w)}")
            if key == "<null>":  # records without a key have no order (partitions, producers): as sets
                w, g = sorted(w), sorted(g)
            for i, (a, b) in enumerate(zip(w, g)):
                if a != b:
                    diff = difflib.unified_diff(a, b, "debezium", "pgbridge", n=2, lineterm="")
                    problems.append(f"{where}, record {i}:\n" + "\n".join(diff))
    return problems
