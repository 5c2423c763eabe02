"""native_bench.instructions without valgrind: callgrind's output read, the arithmetic, the streams."""

import pytest

from bridge.pgoutput.messages import Begin, Commit, Delete, Insert, Relation, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from native_bench import instructions, stages

HEADER = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 42
cmd:  python -P instructions.py --child producer 10 k
part: {part}

desc: Trigger: --dump-before=getrusage

positions: line
events: Ir
"""
# Part 1 names the objects; part 2 refers to them by number only, as callgrind compresses
# names across the dumps of one run. A cost after `calls=` is the call's inclusive cost:
# librdkafka's share takes its calls into libc, not those within itself or back into the
# binding (a delivery report, Python's work).
PART_1 = HEADER.format(part=1) + """
ob=(1) /usr/lib/libpython3.11.so
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
10 700
cob=(2) /venv/confluent_kafka.libs/librdkafka-0cb94173.so.1
cfn=(2) rd_kafka_producev
calls=1 0
11 250
ob=(2)
fl=(2)
fn=(2)
0 250

summary: 950
totals: 950
"""
PART_2 = HEADER.format(part=2) + """
ob=(1)
fl=(1)
fn=(1)
10 1000
+2 500
cob=(2)
cfn=(2)
calls=3 0
* 390
ob=(2)
fl=(2)
fn=(2)
0 200
cob=(3) /usr/lib/libc.so.6
cfn=(3) memcpy
calls=2 0
0 100
cfn=(4) rd_kafka_msg_new
calls=2 0
0 30
cob=(4) /venv/confluent_kafka/cimpl.cpython-311-x86_64-linux-gnu.so
cfn=(5) dr_msg_cb
calls=2 0
0 60
fn=(4)
0 30
ob=(3)
fn=(3)
0 100
ob=(4)
fn=(5)
0 20
ob=(1)
fn=(1)
0 40

totals: 1890
"""
PART_3 = HEADER.format(part=3) + "\nob=(1)\nfn=(1)\n10 40\n\ntotals: 40\n"


def _write(tmp_path, parts):
    paths = []
    for i, text in enumerate(parts):
        path = tmp_path / f"callgrind.out.{i}"
        path.write_text(text)
        paths.append(path)
    return paths


def test_the_region_is_the_second_dump_with_librdkafkas_share(tmp_path):
    # the files come in any order (the last dump has no suffix): they are read in part order
    parts = instructions.read_parts(_write(tmp_path, [PART_3, PART_2, PART_1]))
    # part 2: librdkafka's own 200 + 30, and its 100 in memcpy; not the 60 of the callback
    assert [(p.number, p.total, p.librdkafka) for p in parts] == [(1, 950, 250), (2, 1890, 330), (3, 40, 0)]
    assert instructions.region(parts).total == 1890


def test_a_marker_called_elsewhere_is_an_error(tmp_path):
    parts = instructions.read_parts(_write(tmp_path, [PART_1, PART_2]))
    with pytest.raises(RuntimeError, match="expected 3 callgrind dumps"):
        instructions.region(parts)


def test_per_row_is_the_difference_of_two_runs():
    small = instructions.Part(2, 1_000_000 + 10_000 * 90, 10_000 * 20)
    large = instructions.Part(2, 1_000_000 + 30_000 * 90, 30_000 * 20 + 7)
    figures = instructions.per_row((10_000, small), (30_000, large))
    assert figures["instructions_per_row"] == 90  # the fixed million cancels
    assert figures["librdkafka_per_row"] == pytest.approx(20.00035)
    assert figures["outside_librdkafka_per_row"] == pytest.approx(90 - 20.00035)


def test_the_streams_have_the_workloads_shape():
    decoder = PgOutputDecoder(1)
    w1 = [type(decoder.decode(p)) for p, _ in instructions.stream("W1", 4)]
    assert w1 == [Relation, Begin, Insert, Insert, Insert, Insert, Commit]
    w2 = [decoder.decode(p) for p, _ in instructions.stream("W2", 10)]
    assert [type(m) for m in w2[1:8]] == [Begin, Insert, Insert, Update, Update, Delete, Commit]
    assert w2[6].old_kind == "K" and w2[6].old[1:] == (None,) * 7
    assert len(w2) == 1 + 2 * 7
    lsns = [lsn for _, lsn in instructions.stream("W2", 10)]
    assert lsns == sorted(lsns)
    with pytest.raises(ValueError):
        instructions.stream("W2", 7)


def test_the_measured_loop_routes_every_change_of_both_streams():
    for workload in ("W1", "W2"):
        messages = instructions.stream(workload, 50)
        router = stages.decoder_router()
        changes = sum(len(p) for p, _ in messages if p[:1] in b"IUD")
        assert instructions.route(router, messages) > changes
        assert not router.in_txn


def test_compare_gives_the_change_of_every_figure():
    def tree(path, per_row, runs):
        return {"tree": path, "commit": "abc", "rows": [10_000, 30_000], "measures": {"decoder-W1": {
            "instructions_per_row": per_row, "instructions_per_message": per_row,
            "runs": [{"instructions_per_row": r, "instructions_per_message": r} for r in runs]}}}
    base, head = tree("/base", 10_000, [10_000]), tree("/head", 10_150, [10_100, 10_150, 10_200])
    assert instructions.compare(base, head)["ratio"]["decoder-W1"]["instructions_per_row"] == 1.015
    text = instructions.table(head, base)
    assert "| decoder W1, per row | 10,000 | 10,150 (10,100–10,200) | +1.50% |" in text
    assert "producer" not in text
