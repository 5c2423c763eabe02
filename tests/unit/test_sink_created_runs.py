"""Runs of creates read straight into COPY's lines (`Readers.read_batch`, `CreatedRun`): the same
changes, lines and next offsets as records read one by one; a run only with the writer's plan of
its layout, never holding a key twice, and given back one change at a time."""

from __future__ import annotations

import json

from bridge.sink.apply import Writer, _copy_line
from bridge.sink.naming import TableName
from bridge.sink.records import CreatedRun, Readers, one_pair_each
from bridge.sink.target import TableInfo
from bridge.sink.values import DecodeOptions
from tests.fakes import KafkaMessage
from tests.unit.sink_topic import KEY_SCHEMA, PLACEHOLDER, SOURCE, TOPIC, VALUE_SCHEMA, sink_config

OTHER = "srv.Inventory.Other"
TYPES = {"id": "bigint", "note": "text", "qty": "integer", "__pgbridge_lsn": "bigint"}


def _record(op: str, id_: int, note="n", qty=1, lsn=1234, topic=TOPIC, partition=0, offset=0, key_id=None):
    row = {"id": id_, "Note": note, "qty": qty}
    payload = {"before": row if op == "d" else None, "after": None if op == "d" else row,
               "source": {**SOURCE, "lsn": lsn}, "op": op, "ts_ms": 1}
    key = {"schema": KEY_SCHEMA, "payload": {"id": id_ if key_id is None else key_id}}
    compact = {"separators": (",", ":")}
    return KafkaMessage(topic, partition, offset, json.dumps(key, **compact).encode(),
                   json.dumps({"schema": VALUE_SCHEMA, "payload": payload}, **compact).encode())


def _writer(config) -> Writer:
    writer = Writer(config, DecodeOptions())
    for topic in (TOPIC, OTHER):
        name = TableName(None, topic.replace(".", "_").lower())
        writer.target._tables[name] = TableInfo(name, TYPES, TYPES)
    return writer


def _batch() -> list[KafkaMessage]:
    """Creates and reads of two partitions, then what ends a run: an update, a create holding the
    placeholder, a delete, another topic, a key twice, an LSN that is not a number."""
    records = [_record("r", n, partition=n % 2) for n in range(1, 7)]
    records += [_record("u", 1), _record("c", 7), _record("c", 8, note=PLACEHOLDER), _record("c", 9),
                _record("d", 2), _record("c", 10, topic=OTHER), _record("c", 11), _record("c", 12),
                _record("c", 11, note="again"), _record("c", 13), _record("c", 14, lsn="5"), _record("r", 15),
                _record("r", 16), _record("c", 20), _record("c", 21), _record("c", 20, note="again"), _record("c", 22)]
    offsets: dict[int, int] = {}
    for record in records:  # each partition's offsets in order
        topic, partition, _, key, value = record.fields
        offsets[partition] = offsets.get(partition, 99) + 1
        record.fields = (topic, partition, offsets[partition], key, value)
    return records


def _one_by_one(config, batch):
    reader = Readers(config, PLACEHOLDER)
    pairs = [(m, reader.read(m.topic(), m.partition(), m.offset(), m.key(), m.value())) for m in batch]
    return [(m, c) for m, c in pairs if c is not None]


def _read_batch(config, writer, batch):
    reader = Readers(config, PLACEHOLDER)
    # the writer's plans: made for the lane's layout by writing one change of it (as the first batch does)
    first = reader.read(TOPIC, 0, 1, *_record("c", 99).fields[3:])
    first = reader.read(TOPIC, 0, 2, *_record("c", 98).fields[3:])
    writer._row(None, first)
    next_offsets, refused = {}, []
    out = reader.read_batch(batch, writer.current_plan, next_offsets, refused)
    return out, next_offsets, refused


def test_a_batch_read_with_runs_gives_the_changes_and_lines_of_its_records_read_one_by_one():
    config = sink_config(topics=(TOPIC, OTHER))
    writer, batch = _writer(config), _batch()
    out, next_offsets, refused = _read_batch(config, writer, batch)
    runs = [c for _, c in out if isinstance(c, CreatedRun)]
    # runs of creates and reads were made (across partitions), none holding a key twice
    assert [len(r.records) for r in runs] and all(len(r.records) >= 2 for r in runs)
    assert all(len(set(r.texts)) == len(r.texts) for r in runs)
    assert sum(len(r.records) for r in runs) >= 8
    # given back one by one: the same records, the same changes, in the same order
    pairs = one_pair_each(out)
    expected = _one_by_one(config, batch)
    assert [m for m, _ in pairs] == [m for m, _ in expected]
    assert [c for _, c in pairs] == [c for _, c in expected]
    # each run's lines are the lines the writer makes of those changes
    for run in runs:
        for (_, change), line in zip(run.changes(), run.lines):
            assert _copy_line(change) == line
            writer._row(None, change)  # the plan is current: the change keeps the line made ahead
            assert change.text[2] is line
    # each partition's next offset: after its last record; nothing refused
    assert next_offsets == {(TOPIC, 0): 1 + max(m.offset() for m in batch if m.topic() == TOPIC and m.partition() == 0),
                            (TOPIC, 1): 1 + max(m.offset() for m in batch if m.topic() == TOPIC and m.partition() == 1),
                            (OTHER, 0): 1 + max(m.offset() for m in batch if m.topic() == OTHER)}
    assert refused == []


def test_no_run_without_the_writers_plan_nor_for_records_the_lane_leaves_to_the_general_way():
    config = sink_config(topics=(TOPIC, OTHER))
    batch = _batch()
    reader = Readers(config, PLACEHOLDER)
    out = reader.read_batch(batch, None, {}, [])  # no plan_of: the dedup window, the reduction buffer
    assert not any(isinstance(c, CreatedRun) for _, c in out)
    assert [c for _, c in out] == [c for _, c in _one_by_one(config, batch)]
    # a plan that is not current (a rollback since): no run either
    writer = _writer(config)
    out, _, _ = _read_batch(config, writer, batch[:4])
    assert any(isinstance(c, CreatedRun) for _, c in out)
    writer.target.forget()
    writer.target._tables.update(_writer(config).target._tables)
    reader = Readers(config, PLACEHOLDER)
    reader.read(TOPIC, 0, 1, *_record("c", 99).fields[3:])
    reader.read(TOPIC, 0, 2, *_record("c", 98).fields[3:])
    assert not any(isinstance(c, CreatedRun) for _, c in reader.read_batch(batch[:4], writer.current_plan, {}, []))


def test_a_record_the_batch_cannot_read_is_refused_alone_and_its_neighbours_read():
    config = sink_config()
    writer = _writer(config)
    batch = [_record("r", n, offset=n) for n in (1, 2, 4, 5)]
    batch.insert(2, KafkaMessage(TOPIC, 0, 3, b'{"id":1}', b"not json"))
    out, next_offsets, refused = _read_batch(config, writer, batch)
    assert [m for m, _ in refused] == [batch[2]] and refused[0][1].stage == "VALUE_CONVERTER"
    assert [m for m, _ in one_pair_each(out)] == [batch[0], batch[1], batch[3], batch[4]]
    assert [isinstance(c, CreatedRun) for _, c in out] == [True, True]
    assert next_offsets == {(TOPIC, 0): 6}
