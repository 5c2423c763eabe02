"""Column masking, hashing and truncation (`bridge.transform`): the keys as Debezium reads them,
the value functions against outputs of a real Debezium 3.7.0 (the digests below are what it
wrote for these strings and salts), and the row images and schemas `EventBuilder` writes.
No servers; tests/integration/test_live_masking.py compares with the running Debezium."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties, load_config
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import array_schema, connect_schema, field_schema
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind, TypeRegistry
from bridge.errors import ConfigError
from bridge.format.json import json_bytes
from bridge.format.tostring import StringConverter
from bridge.pgoutput.messages import UNCHANGED_TOAST, Delete, Insert, Relation, RelationColumn, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo
from bridge.transform.columns import column_length, mapper_for
from bridge.transform.settings import HASH, MASK, TRUNCATE, ColumnRule
from bridge.transform.strings import hasher, java_serialized, truncate_text, utf16_length
from tests.fakes import FakeConnection
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, events

SOURCE = "debezium.source."
INT4, TEXT, VARCHAR, BPCHAR, CHAR, BYTEA, NUMERIC, UUID, JSONB, BOOL, TIMESTAMP = (
    23, 25, 1043, 1042, 18, 17, 1700, 2950, 3802, 16, 1114)
MOOD, DTEXT = 16500, 16600  # an enum and a domain over varchar(12)
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)


def read(props: dict[str, str]):
    """The configuration of MINIMAL and the connector keys `props`."""
    return config_from_properties({**MINIMAL, **{SOURCE + k: v for k, v in props.items()}})


def rules(**keys: str):
    """The column rules of the connector keys `keys` (passed as `**{"column.mask...": ...}`)."""
    return read(keys).columns


# --- the keys ------------------------------------------------------------------------------------


def test_each_family_is_read_and_tried_in_debeziums_order():
    # GIVEN keys of every family, hash V2 first in the file
    config = read({"column.mask.hash.v2.MD5.with.salt.pepper": "s.t.h2",
                   "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K": "s.t.h1, s.t.x",
                   "column.mask.with.3.chars": "s.t.m, s.t.x",
                   "column.truncate.to.4.chars": "s.t.tr, s.t.x"})
    # THEN every key is honoured, and the rules go truncate, mask, hash V1, hash V2
    honoured = {v.key for v in config.keys.honoured}
    assert {SOURCE + "column.mask.hash.v2.MD5.with.salt.pepper", SOURCE + "column.mask.with.3.chars",
            SOURCE + "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K", SOURCE + "column.truncate.to.4.chars"} <= honoured
    assert not config.keys.refused
    got = [(r.kind, r.chars, r.algorithm, r.salt, r.v2) for r in config.columns.rules]
    assert got == [(TRUNCATE, 4, "", b"", False), (MASK, 3, "", b"", False),
                   (HASH, 0, "sha256", b"CzQMA0cB5K", False), (HASH, 0, "md5", b"pepper", True)]
    # AND a column two rules list takes the first (truncation before masking)
    assert config.columns.rule_for("s", "t", "x").kind == TRUNCATE


def test_column_names_are_matched_whole_and_case_insensitively_without_the_database():
    r = rules(**{"column.mask.with.3.chars": r"Inventory\.Customers\.e.*l, inventory.orders.a\,b, bridge.s.t.c"})
    assert r.rule_for("inventory", "customers", "email") is not None
    assert r.rule_for("INVENTORY", "CUSTOMERS", "EMAIL") is not None
    assert r.rule_for("inventory", "customers", "email2") is None  # anchored: no substring match
    assert r.rule_for("inventory", "orders", "a,b") is not None  # `\,` is a comma inside the regex
    assert r.rule_for("s", "t", "c") is None  # <database>.<schema>.<table>.<column> never matches


def test_digest_names_are_javas_case_insensitive_with_aliases_and_the_salt_may_hold_dots():
    r = rules(**{"column.mask.hash.sha-512.with.salt.x.y": "s.t.a", "column.mask.hash.SHA1.with.salt.s": "s.t.b",
                 "column.mask.hash.SHA3-256.with.salt.s": "s.t.c", "column.mask.hash.SHA512/224.with.salt.s": "s.t.d"})
    assert [(x.algorithm, x.salt) for x in r.rules] == [("sha512", b"x.y"), ("sha1", b"s"), ("sha3_256", b"s"),
                                                        ("sha512_224", b"s")]


def test_an_empty_column_list_maps_nothing():
    assert not rules(**{"column.mask.with.3.chars": " "})


@pytest.mark.parametrize("key, why", [
    ("column.mask.with.x.chars", "not a column mapping key Debezium knows"),
    ("column.mask.with.3.char", "not a column mapping key Debezium knows"),
    ("column.truncate.to.-1.chars", "not a column mapping key Debezium knows"),
    ("column.mask.hash.hashing.strategy", "column.mask.hash.v2.<algorithm>.with.salt.<salt> (hashing strategy V2)"),
    ("column.mask.hash.SHA-256", "not a column mapping key Debezium knows"),
    ("column.mask.hash.MD2.with.salt.s", "'MD2' is not a digest pgbridge can compute as Java does"),
    ("column.mask.hash.BLAKE2.with.salt.s", "'BLAKE2' is not a digest"),
    ("column.truncate.to.2147483648.chars", "beyond what Debezium reads"),
])
def test_malformed_keys_are_refused_with_one_line_naming_them(key, why):
    with pytest.raises(ConfigError) as err:
        read({key: "s.t.c"})
    message = str(err.value)
    assert message.startswith(SOURCE + key) and why in message and "\n" not in message


def test_a_bad_regular_expression_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"column\.mask\.with\.3\.chars.*not a regular expression"):
        read({"column.mask.with.3.chars": "s.t.(c"})


def test_connect_json_keys_are_named_as_written(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "n", "config": {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector", "database.hostname": "h",
        "database.user": "u", "database.password": "p", "database.dbname": "d", "topic.prefix": "x",
        "column.mask.with.y.chars": "s.t.c"}}))
    with pytest.raises(ConfigError, match=r"^column\.mask\.with\.y\.chars is not"):
        load_config(path, "127.0.0.1:9092")


# --- Java's strings and digests ------------------------------------------------------------------


def test_v1_reads_javas_serialization_of_the_string():
    # what Java 17 wrote: ObjectOutputStream.writeObject of the string, without a flush
    # (magic, version, TC_STRING, length, modified UTF-8)
    assert java_serialized("hello") == bytes.fromhex("aced0005740005") + b"hello"
    assert java_serialized("a\x00é🎉") == bytes.fromhex("aced000574000b61c080c3a9eda0bcedbe89")
    long = java_serialized("x" * 70000)  # past 65535 bytes: TC_LONGSTRING with an 8-byte length
    assert long[:13] == bytes.fromhex("aced00057c0000000000011170") and len(long) == 13 + 70000


@pytest.mark.parametrize("algorithm, salt, v2, length, value, digest", [
    # what Debezium 3.7.0 wrote (tests/integration/test_live_masking.py's table, first run)
    ("sha256", b"CzQMA0cB5K", False, 2**31 - 1, "hello",
     "b4d39ab0d198fb4cac8b2f023da74f670bcaf192dcc79b5d6361b7ae6b2fafdf"),
    ("sha256", b"CzQMA0cB5K", False, 10, "hello wrld", "05b1444a57"),  # varchar(10)
    ("sha256", b"CzQMA0cB5K", False, 1, "q", "2"),  # "char"
    ("sha256", b"CzQMA0cB5K", False, 2**31 - 1, "", "7b061bc77caec9afdc6b986ab6c4de894d58006b32ac0f7ea728404a5cf3a9e5"),
    ("sha512", b"x.y", False, 2**31 - 1, "héllo 🎉",
     "08c20c98591ce966637cf439162bb222f9ee9c278e6009aedf49e2ce64136e1cec0695985474371a38816931eebf84d2b2e594a78a"
     "ce1bc3277cf2ded324c48d"),
    ("md5", b"pepper", True, 2**31 - 1, "hello", "9eb6a420a8ce68a4042e31f4bae0a7f9"),
    ("md5", b"pepper", True, 2**31 - 1, "héllo 🎉", "a0a88d59b3b620798a1532b07a2fbfbf"),
    ("md5", b"pepper", True, 6, "ab    ", "709953"),  # char(6): the padded value, cut to 6
])
def test_hashes_are_debeziums(algorithm, salt, v2, length, value, digest):
    assert hasher(algorithm, salt, v2, length)(value) == digest


def test_a_hash_keeps_null():
    assert hasher("md5", b"", True, 10)(None) is None


@pytest.mark.parametrize("text, n, cut", [
    ("truncate me", 4, "trun"), ("abc", 4, "abc"), ("abcd", 4, "abcd"), ("", 0, ""), ("abc", 0, ""),
    ("ab🎉cd", 4, "ab🎉"), ("🎉🎉🎉", 4, "🎉🎉"), ("🎉", 2, "🎉"), ("é日", 1, "é"),
])
def test_truncation_counts_utf16_units_like_java(text, n, cut):
    assert truncate_text(text, n) == cut


def test_a_cut_through_a_character_keeps_its_high_surrogate_spelled_as_java_does():
    cut = truncate_text("a🎉🎉", 4)
    assert cut == "a🎉\ud83c" and utf16_length("a🎉🎉") == 5
    # Debezium wrote "a\uD83C\uDF89\uD83C" (Jackson); Java's UTF-8 encoder writes '?'
    assert json_bytes({"v": cut, "w": ["\x01\udbff"]}) == b'{"v":"a\\uD83C\\uDF89\\uD83C","w":["\\u0001\\uDBFF"]}'
    assert StringConverter().prepare(connect_schema("string"), "t", "value").write(cut) == "a🎉?".encode()


# --- what a rule does to a column ----------------------------------------------------------------

MASK3 = ColumnRule("k", (), MASK, chars=3)
HASH_V1 = ColumnRule("k", (), HASH, algorithm="sha256", salt=b"CzQMA0cB5K")
TRUNC4 = ColumnRule("k", (), TRUNCATE, chars=4)


def varchar(n: int) -> int:
    return n + 4


def test_column_lengths_are_pgjdbcs():
    mood = TypeInfo(MOOD, "mood", "public", TypeKind.ENUM, enum_labels=("happy", "sad"))
    dtext = TypeInfo(DTEXT, "dtext", "public", TypeKind.DOMAIN, base=BUILTIN_TYPES[VARCHAR], typmod=varchar(12))
    lengths = {(t, mod): column_length(BUILTIN_TYPES[t], mod) for t, mod in [
        (TEXT, -1), (VARCHAR, varchar(10)), (VARCHAR, -1), (BPCHAR, varchar(6)), (CHAR, -1), (INT4, -1), (BOOL, -1),
        (NUMERIC, ((10 << 16) | 2) + 4), (NUMERIC, -1), (TIMESTAMP, -1), (TIMESTAMP, 3), (1184, 0), (1083, -1),
        (1266, -1), (1082, -1), (1007, -1), (1009, -1), (BYTEA, -1), (UUID, -1)]}
    unbounded = 2**31 - 1
    assert lengths == {
        (TEXT, -1): unbounded, (VARCHAR, varchar(10)): 10, (VARCHAR, -1): unbounded, (BPCHAR, varchar(6)): 6,
        (CHAR, -1): 1, (INT4, -1): 10, (BOOL, -1): 1, (NUMERIC, ((10 << 16) | 2) + 4): 10, (NUMERIC, -1): 131089,
        (TIMESTAMP, -1): 29, (TIMESTAMP, 3): 26, (1184, 0): 28, (1083, -1): 15, (1266, -1): 21, (1082, -1): 13,
        (1007, -1): 10, (1009, -1): unbounded, (BYTEA, -1): unbounded, (UUID, -1): unbounded}
    assert column_length(mood, -1) == unbounded and column_length(dtext, -1) == 12


def test_mask_and_hash_mark_every_listed_column_but_map_character_values_only():
    text, int4, uuid = BUILTIN_TYPES[TEXT], BUILTIN_TYPES[INT4], BUILTIN_TYPES[UUID]
    masked = mapper_for(MASK3, text, -1, {"type": "string", "optional": False})
    assert masked.parameters == {"masked": "true"}
    assert [masked.value(v) for v in ("secret", None, "")] == ["***", "***", "***"]  # NULL too
    for rule, t in ((MASK3, int4), (HASH_V1, uuid)):
        other = mapper_for(rule, t, -1, {"type": "string", "optional": False})
        assert other.parameters == {"masked": "true"} and other.value is None
    hashed = mapper_for(HASH_V1, BUILTIN_TYPES[VARCHAR], varchar(10), {"type": "string", "optional": False})
    assert hashed.value("hello wrld") == "05b1444a57"


def test_truncation_applies_where_the_column_may_be_longer_whatever_its_type():
    string, plain_bytes = {"type": "string", "optional": False}, {"type": "bytes", "optional": False}
    decimal = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal"}
    assert mapper_for(TRUNC4, BUILTIN_TYPES[VARCHAR], varchar(3), string) is None  # varchar(3) never exceeds 4
    assert mapper_for(TRUNC4, BUILTIN_TYPES[BOOL], -1, {"type": "boolean", "optional": False}) is None
    text = mapper_for(TRUNC4, BUILTIN_TYPES[TEXT], -1, string)
    assert text.parameters == {"truncateLength": "4"} and text.value("truncate me") == "trun"
    assert text.value(None) is None
    assert mapper_for(TRUNC4, BUILTIN_TYPES[BYTEA], -1, plain_bytes).value(b"\x01\x02\x03\x04\x05") == b"\x01\x02\x03\x04"
    numeric = mapper_for(TRUNC4, BUILTIN_TYPES[NUMERIC], ((10 << 16) | 2) + 4, decimal)
    assert numeric.parameters == {"truncateLength": "4"} and numeric.value is None
    int4 = mapper_for(TRUNC4, BUILTIN_TYPES[INT4], -1, {"type": "int32", "optional": False})
    assert int4.parameters == {"truncateLength": "4"} and int4.value is None


def test_parameters_are_added_after_the_types_own_and_before_the_default():
    enum = connect_schema("string", name="io.debezium.data.Enum", version=1, parameters={"allowed": "happy,sad"})
    mapper = mapper_for(MASK3, TypeInfo(MOOD, "mood", "public", TypeKind.ENUM), -1, enum)
    assert json.dumps(mapper.field(field_schema("mood", enum, default="happy"))) == (
        '{"type": "string", "optional": false, "name": "io.debezium.data.Enum", "version": 1, '
        '"parameters": {"allowed": "happy,sad", "masked": "true"}, "default": "happy", "field": "mood"}')
    array = field_schema("a", array_schema(connect_schema("string", optional=True)), optional=True)
    assert list(mapper.field(array)) == ["type", "items", "optional", "parameters", "field"]


# --- the events ----------------------------------------------------------------------------------

COLUMNS = [("name", TEXT, -1), ("id", INT4, -1), ("secret", TEXT, -1), ("nn", TEXT, -1), ("h", VARCHAR, varchar(10)),
           ("h2", BPCHAR, varchar(6)), ("tr", TEXT, -1), ("b", BYTEA, -1), ("mood", MOOD, -1), ("i", INT4, -1),
           ("plain", TEXT, -1)]
RULES = {"column.mask.with.3.chars": "public.t.name, public.t.secret, public.t.nn, public.t.mood, public.t.i",
         "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K": "public.t.h",
         "column.mask.hash.v2.MD5.with.salt.pepper": "public.t.h2",
         "column.truncate.to.4.chars": "public.t.tr, public.t.b"}
ROW = (b"alice", b"1", b"s3cret", b"nn", b"hello wrld", b"ab    ", b"truncate me", b"\\x0102030405", b"happy", b"42",
       b"plain")
TYPES = {MOOD: ("mood", "public", "e", "E", 0, 0, -1, ["happy", "sad"])}


def builder(key=("name",), not_null=("name", "nn"), **props) -> EventBuilder:
    ev = events()
    columns = rules(**{**RULES, **props})
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(FakeConnection(TYPES)), "db", run_id="run-1",
                     columns=columns)
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(n in key, n, oid, mod) for n, oid, mod in COLUMNS))
    b.relation(rel, TableInfo(tuple(key), frozenset(not_null)), TopicNames.of(ev).table("public", "t"))
    return b


def doc(raw: bytes | None) -> dict:
    return json.loads(raw)


def general(b: EventBuilder, msg, lsn=4096) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, lsn)]


def fast(b: EventBuilder, msg, lsn=4096):
    """`fast_change` of `msg` inside a ring batch (a NULL last column reads past its end)."""
    raw = encode(msg)
    out = b.fast_change(b"\x00" + raw + b"Wnext record", 1, 1 + len(raw), TXN, lsn)
    return None if out is None else [tuple(r) for r in out]


def test_row_images_are_mapped_and_the_key_is_not():
    # GIVEN a table keyed by a masked column
    b = builder()
    # WHEN a row is inserted
    ((_, key, value, _),) = general(b, Insert(1, ROW))
    # THEN the key keeps the real value and schema
    assert doc(key) == {"schema": {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "name"}],
                                   "optional": False, "name": "srv.public.t.Key"}, "payload": {"name": "alice"}}
    # AND the row is masked, hashed and truncated as Debezium does
    after = doc(value)["payload"]["after"]
    assert after == {"name": "***", "id": 1, "secret": "***", "nn": "***", "h": "05b1444a57", "h2": "709953",
                     "tr": "trun", "b": "AQIDBA==", "mood": "***", "i": 42, "plain": "plain"}
    # AND the value schema's fields carry the rules' parameters
    fields = {f["field"]: f.get("parameters") for f in doc(value)["schema"]["fields"][0]["fields"]}
    assert fields == {"name": {"masked": "true"}, "id": None, "secret": {"masked": "true"}, "nn": {"masked": "true"},
                      "h": {"masked": "true"}, "h2": {"masked": "true"}, "tr": {"truncateLength": "4"},
                      "b": {"truncateLength": "4"}, "mood": {"allowed": "happy,sad", "masked": "true"},
                      "i": {"masked": "true"}, "plain": None}


def test_nulls_fallbacks_and_toast_placeholders_are_mapped_too():
    b = builder(key=("id",), not_null=("id", "nn", "h"))
    # a delete under REPLICA IDENTITY DEFAULT: only the key; NOT NULL columns take their fallback
    ((_, _, value, _), _) = general(b, Delete(1, "K", (None, b"1") + (None,) * 9))
    before = doc(value)["payload"]["before"]
    assert before["name"] == "***" and before["secret"] == "***" and before["nn"] == "***"  # masks replace NULL
    assert before["h"] == hasher("sha256", b"CzQMA0cB5K", False, 10)("")  # the fallback "" is hashed
    assert before["h2"] is None and before["tr"] is None and before["b"] is None  # NULL stays NULL
    # an unchanged TOASTed value: its placeholder goes through the rule
    ((_, _, value, _),) = general(b, Update(1, None, None, (b"a", b"1") + (UNCHANGED_TOAST,) * 9))
    after = doc(value)["payload"]["after"]
    assert after["secret"] == "***" and after["tr"] == "__de" and after["plain"] == "__debezium_unavailable_value"
    assert after["h"] == hasher("sha256", b"CzQMA0cB5K", False, 10)("__debezium_unavailable_value")


def test_the_fast_path_writes_the_same_records_and_a_mapped_key_takes_the_general_one(monkeypatch):
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)  # both stamp the clock
    keyed_by_id = builder(key=("id",), not_null=("id",))
    for msg in (Insert(1, ROW), Update(1, None, None, ROW), Delete(1, "K", (None, b"1") + (None,) * 9),
                Insert(1, (None, b"2") + (None,) * 9)):
        got = fast(keyed_by_id, msg)
        assert got is not None and got == general(keyed_by_id, msg)
    # a masked key column: the key needs the real value the row does not hold
    assert fast(builder(), Insert(1, ROW)) is None
    # a key column whose rule changes only its schema keeps the fast path
    keyed_by_i = builder(key=("i",), not_null=("i",))
    assert fast(keyed_by_i, Insert(1, ROW)) == general(keyed_by_i, Insert(1, ROW))


def test_snapshot_rows_are_mapped():
    b = builder(key=("id",), not_null=("id",))
    record = b.snapshot_row(Insert(1, ROW), TXN, 10, "true")
    assert doc(record.value)["payload"]["after"]["secret"] == "***"
    assert doc(record.value)["payload"]["after"]["tr"] == "trun"


def test_tables_without_a_rule_are_untouched():
    b = builder(key=("id",), not_null=("id",), **{"column.mask.with.3.chars": "other.t.secret",
                                                   "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K": "",
                                                   "column.mask.hash.v2.MD5.with.salt.pepper": "",
                                                   "column.truncate.to.4.chars": ""})
    ((_, _, value, _),) = general(b, Insert(1, ROW))
    assert doc(value)["payload"]["after"]["secret"] == "s3cret"
    assert all("parameters" not in f or f["field"] == "mood" for f in doc(value)["schema"]["fields"][0]["fields"])
