"""Debezium's PartitionRouting (`bridge.transform.partition_routing`): the hashes against values
a real JVM computed with Debezium 3.7.0's MurmurHash3 and Java's hashCode, the partition on
the records `EventBuilder` builds, and that partition reaching the producer."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import TxnContext
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from bridge.transform.partition_routing import java_hash, murmur_hash
from tests.fakes import RecordingSink
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL, chain_builder, txn

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
ROUTING = "io.debezium.transforms.partitions.PartitionRouting"

# (value, Connect type, MurmurHash3.getInstance().hash(v), v.hashCode()) from Debezium 3.7.0 on a JVM
JAVA = [
    ("", "string", 89125410, 0), ("a", "string", -1119243492, 97),
    ("abcdefgh", "string", 935839100, 1259673732), ("abcdefghijklmnop", "string", 123423003, -2093879032),
    ("abcdefghijklmnopq", "string", -1899392497, -485740439),
    ("héllo wörld ünïcode!", "string", -1922885569, 1167891742), ("\U0001F600x", "string", 966414759, 54959989),
    ("\ud800", "string", 2020888563, 55296), (1, "int32", -1931162451, 1), (-1, "int32", 171705313, -1),
    (123456789, "int32", 1798169500, 123456789), (5000000000, "int64", -716149582, 705032705),
    (-5000000000, "int64", 453450037, 705032702), (-1, "int64", 1805505889, 0),
    (True, "boolean", -1891831265, 1231), (False, "boolean", -682375457, 1237),
    (1.5, "double", -1122085266, 1073217536), (-0.0, "double", -797218156, -2147483648),
    (2.5, "float", -1391618071, 1075838976), ("NaN", "double", -1249978784, 2146959360),
]


@pytest.mark.parametrize("value, type_, murmur, java", JAVA)
def test_hashes_match_the_jvm(value, type_, murmur, java):
    assert (murmur_hash(value, type_), java_hash(value, type_)) == (murmur, java)


def routing(fields: str, num: str = "5", function: str | None = None) -> dict[str, str]:
    out = {T: "pr", f"{T}.pr.type": ROUTING, f"{T}.pr.partition.payload.fields": fields,
           f"{T}.pr.partition.topic.num": num}
    if function is not None:
        out[f"{T}.pr.partition.hash.function"] = function
    return out


def change(b, msg, lsn=4096) -> list:
    return b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, lsn)


def expected(values_types, num, hash_) -> int:
    total = 0
    for v, t in values_types:
        total = (total + hash_(v, t)) & 0xFFFFFFFF
    normalized = total & 0x7FFFFFFF
    return (0 if normalized == 0x7FFFFFFF else normalized) % num


@pytest.mark.parametrize("function, hash_", [(None, java_hash), ("murmur", murmur_hash), ("other", java_hash)])
def test_partition_of_the_summed_hashes(function, hash_):
    b = chain_builder(routing("change.v,source.table,change.id,nothing.here", "7", function))
    [r] = change(b, m.Insert(16384, (b"12", b"hello")))
    assert r.partition == expected([("hello", "string"), ("t", "string"), (12, "int32")], 7, hash_)
    # a delete reads `change` from `before`; its tombstone passes unchanged
    delete, tombstone = change(b, m.Delete(16384, "K", (b"12", None)))
    assert delete.partition == expected([("t", "string"), (12, "int32")], 7, hash_)
    assert tombstone.partition is None


def test_no_field_found_leaves_the_record_and_a_null_struct_fails():
    [r] = change(chain_builder(routing("after.nope,op.x")), m.Insert(16384, (b"1", b"a")))
    assert r.partition is None
    with pytest.raises(Exception, match="before is null"):
        change(chain_builder(routing("before.v")), m.Insert(16384, (b"1", b"a")))
    # a top-level field: `op`
    [r] = change(chain_builder(routing("op", "3")), m.Insert(16384, (b"1", b"a")))
    assert r.partition == expected([("c", "string")], 3, java_hash)


def test_the_partition_reaches_the_producer_and_the_table_is_routed_by_table():
    # GIVEN a producer whose chain routes to partitions by `v`
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     **routing("after.v", "3")})
    assert config.routing.by_table
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    sink = RecordingSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    txn(router, 5000, [REL, *(m.Insert(16384, (str(i).encode(), f"v{i % 4}".encode())) for i in range(8))])
    worker.handle_batch(memoryview(bytes(router.builders[0].buffer)))
    # THEN each record goes to the partition PartitionRouting computed
    assert [r[3] for r in sink.records] == [expected([(f"v{i % 4}", "string")], 3, java_hash) for i in range(8)]


@pytest.mark.parametrize("props, message", [
    ({f"{T}.pr.partition.payload.fields": "a,,b"}, "partition.payload.fields is missing or has an empty entry"),
    ({f"{T}.pr.partition.topic.num": "0"}, "partition.topic.num"),
])
def test_invalid_options_are_refused(props, message):
    with pytest.raises(ConfigError, match=message):
        config_from_properties({**MINIMAL, **routing("after.v"), **props})
