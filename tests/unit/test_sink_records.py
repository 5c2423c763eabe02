"""The Debezium envelope read as changes for the target (`bridge.sink.records`), target names
(`bridge.sink.naming`), the statements (`bridge.sink.statements`), reduction and the retry budget."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bridge.sink.apply import Writer, _copy_line, _values, copy_rows, reduced
from bridge.sink.naming import Naming, TableName
from bridge.sink.records import DELETE, TRUNCATE, UPSERT, Readers, RecordRefused
from bridge.sink.settings import Errors, FieldFilter, SinkConfig
from bridge.sink.target import TableInfo
from bridge.sink.values import DecodeOptions
from bridge.sink.statements import Shape, delete_statement, staged_statements, truncate_statements, write_statement
from bridge.sink.worker import _Retry
from tests.unit.sink_topic import KEY_SCHEMA, PLACEHOLDER, ROW, SOURCE, TOPIC, VALUE_SCHEMA, sink_config

def _key(id_: int, schemas: bool = True) -> bytes:
    return json.dumps({"schema": KEY_SCHEMA, "payload": {"id": id_}} if schemas else {"id": id_}).encode()


def _value(op: str, before=None, after=None, schemas: bool = True) -> bytes:
    payload = {"before": before, "after": after, "source": SOURCE, "op": op, "ts_ms": 1}
    return json.dumps({"schema": VALUE_SCHEMA, "payload": payload} if schemas else payload).encode()


def _read(config: SinkConfig, key, value):
    return Readers(config, PLACEHOLDER).read(TOPIC, 0, 7, key, value)


def test_a_create_is_a_row_write_keyed_by_the_record_key():
    change = _read(sink_config(), _key(1), _value("c", after={"id": 1, "Note": "x", "qty": 3}))
    assert change.kind == UPSERT and change.table == TableName(None, "srv_inventory_orders")
    assert (change.key_columns, change.key, change.columns, change.values) == (("id",), (1,), ("note", "qty"),
                                                                                ("x", 3))
    assert change.lsn == 1234 and change.field("note")["type"] == "string"


def test_an_update_leaves_unchanged_toast_columns_out():
    change = _read(sink_config(), _key(1), _value("u", after={"id": 1, "Note": PLACEHOLDER, "qty": 4}))
    assert change.columns == ("qty",) and change.values == (4,)


def test_a_snapshot_read_keeps_every_column():
    change = _read(sink_config(), _key(1), _value("r", after={"id": 1, "Note": PLACEHOLDER, "qty": 4}))
    assert change.columns == ("note", "qty")


def test_deletes_tombstones_and_truncates_follow_the_settings():
    before = {"id": 1, "Note": None, "qty": None}
    assert _read(sink_config(), _key(1), _value("d", before=before)).kind == DELETE
    assert _read(sink_config(delete_enabled=False, pk_mode="record_value"), _key(1), _value("d", before=before)) is None
    tombstone = _read(sink_config(), _key(1), None)
    assert tombstone.kind == DELETE and tombstone.key == (1,)
    assert _read(sink_config(pk_mode="record_value"), _key(1), None) is None  # Debezium skips it too
    truncate = _read(sink_config(), None, _value("t"))
    assert truncate.kind == TRUNCATE and truncate.lsn == 1234
    assert _read(sink_config(truncate_enabled=False), None, _value("t")) is None
    assert _read(sink_config(), None, _value("m")) is None


def test_heartbeats_and_transaction_metadata_are_skipped():
    heartbeat = json.dumps({"schema": {"type": "struct", "name": "io.debezium.connector.common.Heartbeat",
                                       "fields": [{"field": "ts_ms", "type": "int64"}]},
                            "payload": {"ts_ms": 1}}).encode()
    assert _read(sink_config(), _key(1), heartbeat) is None
    assert _read(sink_config(value_schemas=False), _key(1), b'{"ts_ms": 1}') is None


def test_schemaless_json_reads_the_same_change_without_fields():
    config = sink_config(key_schemas=False, value_schemas=False)
    change = _read(config, _key(1, False), _value("c", after={"id": 1, "Note": "x", "qty": 3}, schemas=False))
    assert (change.key_columns, change.columns, change.values) == (("id",), ("note", "qty"), ("x", 3))
    assert change.key_fields is None and change.value_fields is None


def test_an_unwrapped_row_is_a_row_write():
    row = json.dumps({"schema": ROW, "payload": {"id": 2, "Note": "n", "qty": None}}).encode()
    change = _read(sink_config(), _key(2), row)
    assert change.kind == UPSERT and change.columns == ("note", "qty") and change.lsn is None


def test_primary_key_modes():
    after = {"id": 1, "Note": "x", "qty": 3}
    by_value = _read(sink_config(pk_mode="record_value", pk_fields=("id", "qty")), None, _value("c", after=after))
    assert (by_value.key_columns, by_value.key, by_value.columns) == (("id", "qty"), (1, 3), ("note",))
    kafka = _read(sink_config(pk_mode="kafka", delete_enabled=False), None, _value("c", after=after))
    assert kafka.key_columns == ("__connect_topic", "__connect_partition", "__connect_offset")
    assert kafka.key == (TOPIC, 0, 7)
    none = _read(sink_config(pk_mode="none", insert_mode="insert", delete_enabled=False), _key(1), _value("c", after=after))
    assert none.key_columns == () and none.columns == ("id", "note", "qty")
    primitive = json.dumps({"schema": {"type": "int64", "optional": False}, "payload": 1}).encode()
    with pytest.raises(RecordRefused, match="needs primary.key.fields to name exactly one column"):
        _read(sink_config(), primitive, _value("c", after=after))
    assert _read(sink_config(pk_fields=("id",)), primitive, _value("c", after=after)).key == (1,)


def test_field_filters_and_quoted_identifiers():
    from bridge.sink.settings import FieldFilter

    after = {"id": 1, "Note": "x", "qty": 3}
    config = sink_config(fields=FieldFilter(((TOPIC, "qty"),), include=False), quote_identifiers=True)
    change = _read(config, _key(1), _value("c", after=after))
    assert change.columns == ("Note",) and change.table == TableName(None, "srv_Inventory_Orders")


def test_a_value_that_is_not_json_is_refused_at_the_converter_stage():
    with pytest.raises(RecordRefused) as refused:
        _read(sink_config(), _key(1), b"{not json")
    assert refused.value.stage == "VALUE_CONVERTER"


def test_table_names_from_the_format():
    naming = Naming("${source.schema}.${source.table}", False)
    assert naming.table("t", SOURCE) == TableName("inventory", "orders")
    assert naming.table("t", None) is None
    assert Naming("archive.${topic}", True).table("a.b.c", None) == TableName("archive", "a_b_c")
    assert Naming('"my.schema".t', True).table("x", None) == TableName("my.schema", "t")
    assert TableName("s", 'we"ird').sql() == '"s"."we""ird"'


def test_statements_are_multi_row_and_guarded_by_lsn():
    shape = Shape(UPSERT, TableName("s", "t"), ("id",), ("v",), True)
    types = {"id": "bigint", "v": "text"}
    sql, template = write_statement("upsert", shape, types, "__lsn", "__tr")
    assert template == "(%s::bigint, %s::text, %s::bigint)"
    assert sql == ('INSERT INTO "s"."t" AS t ("id", "v", "__lsn") SELECT * FROM (VALUES %s) AS v("id", "v", "__lsn") '
                   'WHERE v."__lsn" > coalesce((SELECT lsn FROM "__tr" WHERE table_name = \'s.t\'), -1) '
                   'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v", "__lsn" = EXCLUDED."__lsn" '
                   'WHERE t."__lsn" IS NULL OR t."__lsn" < EXCLUDED."__lsn"')
    plain = replace(shape, guarded=False)
    assert write_statement("insert", plain, types, "__lsn", "__tr")[0] == 'INSERT INTO "s"."t" AS t ("id", "v") VALUES %s'
    assert write_statement("upsert", shape, types, "__lsn", None)[0].startswith(
        'INSERT INTO "s"."t" AS t ("id", "v", "__lsn") VALUES %s ON CONFLICT')
    assert write_statement("update", plain, types, "__lsn", "__tr")[0] == (
        'UPDATE "s"."t" AS t SET "v" = v."v" FROM (VALUES %s) AS v("id", "v") WHERE t."id" = v."id"')
    keys_only = replace(plain, columns=())
    assert write_statement("upsert", keys_only, types, "__lsn", "__tr")[0].endswith('ON CONFLICT ("id") DO NOTHING')
    assert delete_statement(replace(shape, kind=DELETE, columns=()), types, "__lsn") == (
        'DELETE FROM "s"."t" AS t USING (VALUES %s) AS v("id", "__lsn") WHERE t."id" = v."id" AND '
        '(t."__lsn" IS NULL OR t."__lsn" < v."__lsn")', "(%s::bigint, %s::bigint)")
    assert truncate_statements(TableName(None, "t"), None, "__lsn", "__tr") == [('TRUNCATE TABLE "t"', ())]
    guarded = truncate_statements(TableName(None, "t"), 9, "__lsn", "__tr")
    assert guarded[0] == ('DELETE FROM "t" WHERE "__lsn" IS NULL OR "__lsn" < %s', (9,))


def test_staged_statements_merge_what_copy_put_in_a_typed_staging_table():
    shape = Shape(UPSERT, TableName("s", "t"), ("id",), ("v",), True)
    types = {"id": "bigint", "v": "text"}
    staged = staged_statements("upsert", shape, types, "__lsn", "__tr")
    stage = staged.table
    assert stage.startswith('"__pgbridge_stage_')
    assert staged.create == (f'CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ("id" bigint, "v" text, "__lsn" bigint) '
                             "ON COMMIT DELETE ROWS")
    assert (staged.copy, staged.empty) == (f"COPY pg_temp.{stage} FROM STDIN", f"TRUNCATE pg_temp.{stage}")
    assert staged.merge == (f'INSERT INTO "s"."t" AS t ("id", "v", "__lsn") SELECT * FROM pg_temp.{stage} AS v '
                            'WHERE v."__lsn" > coalesce((SELECT lsn FROM "__tr" WHERE table_name = \'s.t\'), -1) '
                            'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v", "__lsn" = EXCLUDED."__lsn" '
                            'WHERE t."__lsn" IS NULL OR t."__lsn" < EXCLUDED."__lsn"')
    plain = replace(shape, guarded=False)
    insert = staged_statements("insert", plain, types, "__lsn", None)
    assert insert.merge == f'INSERT INTO "s"."t" AS t ("id", "v") SELECT "id", "v" FROM pg_temp.{insert.table} AS v'
    assert staged_statements("update", plain, types, "__lsn", None).merge.endswith(
        'AS v WHERE t."id" = v."id"')
    delete = staged_statements("upsert", replace(shape, kind=DELETE, columns=()), types, "__lsn", None)
    assert delete.merge == (f'DELETE FROM "s"."t" AS t USING pg_temp.{delete.table} AS v WHERE t."id" = v."id" AND '
                            '(t."__lsn" IS NULL OR t."__lsn" < v."__lsn")')
    # another shape or other column types: another staging table
    assert delete.table != stage
    assert staged_statements("upsert", shape, {"id": "bigint", "v": "jsonb"}, "__lsn", "__tr").table != stage


def test_a_staging_table_is_emptied_before_a_second_use_in_one_transaction():
    target = Writer(sink_config(), DecodeOptions()).target

    class Cursor:
        class connection:  # noqa: N801 - psycopg2's attribute names
            class info:  # noqa: N801
                backend_pid = 7

    cur = Cursor()
    assert target.stage(cur, "s1") and not target.stage(cur, "s1")  # made once per session
    assert not target.fill(cur, "s1") and target.fill(cur, "s1")  # the second fill empties it first
    target.committed()
    assert not target.fill(cur, "s1")
    target.forget()  # a rollback: made again (its creation may be undone), empty
    assert target.stage(cur, "s1") and not target.fill(cur, "s1")


def test_copy_rows_escape_what_copy_reads_specially():
    assert copy_rows([("1", None, "plain 1.5"), ("a\\b\tc\nd\re", "\\N", "")]) == (
        "1\t\\N\tplain 1.5\n" "a\\\\b\\tc\\nd\\re\t\\\\N\t\n")


def test_reduction_keeps_the_last_change_per_key_and_carries_unchanged_toast():
    reader = Readers(sink_config(), PLACEHOLDER)
    first = reader.read(TOPIC, 0, 1, _key(1), _value("c", after={"id": 1, "Note": "big", "qty": 1}))
    second = reader.read(TOPIC, 0, 2, _key(1), _value("u", after={"id": 1, "Note": PLACEHOLDER, "qty": 2}))
    other = reader.read(TOPIC, 0, 3, _key(2), _value("c", after={"id": 2, "Note": "o", "qty": 5}))
    gone = reader.read(TOPIC, 0, 4, _key(2), _value("d", before={"id": 2, "Note": None, "qty": None}))
    out = reduced([first, second, other, gone])
    assert [(c.kind, c.key) for c in out] == [(UPSERT, (1,)), (DELETE, (2,))]
    assert dict(zip(out[0].columns, out[0].values)) == {"qty": 2, "note": "big"}


def test_the_retry_budget_is_debeziums_retries_then_connects_timeout():
    retry = _Retry(sink_config(errors=Errors(flush_max_retries=2, flush_retry_delay_ms=100, retry_timeout_ms=0)))
    assert [retry.next_delay(), retry.next_delay(), retry.next_delay()] == [0.1, 0.1, None]
    forever = _Retry(sink_config(errors=Errors(flush_max_retries=0, retry_timeout_ms=-1, retry_delay_max_ms=5000)))
    delays = [forever.next_delay() for _ in range(8)]
    assert delays[0] < delays[1] and delays[-1] == 5.0


def test_rows_are_decoded_to_text_and_a_value_that_cannot_be_is_refused_naming_its_column():
    writer = Writer(sink_config(), DecodeOptions())
    types = {"id": "bigint", "note": "text", "qty": "integer", "__pgbridge_lsn": "bigint"}
    writer.target._tables[TableName(None, "srv_inventory_orders")] = TableInfo(
        TableName(None, "srv_inventory_orders"), types, types)
    read = Readers(sink_config(), PLACEHOLDER)
    good = read.read(TOPIC, 0, 1, _key(1), _value("c", after={"id": 1, "Note": None, "qty": 3}))
    plan, key, line = writer._row(None, good)
    assert (key, _values(good), plan.shape.guarded, line) == (("1",), (None, "3", "1234"), True, None)
    # the layout's plan is reused, the same shape for the next row
    assert writer._row(None, read.read(TOPIC, 0, 2, _key(2), _value("c", after={"id": 2, "Note": "n", "qty": 4}))
                       )[0].shape is plan.shape
    assert _copy_line(good) == "1\t\\N\t3\t1234\n" == copy_rows([key + _values(good)])
    # a value is decoded when its run is written: as text, or straight into COPY's text
    bad = read.read(TOPIC, 0, 3, _key(3), _value("c", after={"id": 3, "Note": "n", "qty": "many"}))
    writer._row(None, bad)
    with pytest.raises(RecordRefused, match="srv_inventory_orders: qty: cannot decode 'many'"):
        _values(bad)
    with pytest.raises(RecordRefused, match="srv_inventory_orders: qty: cannot decode 'many'"):
        _copy_line(bad)
    # a key, when the change joins a run
    bad_key = read.read(TOPIC, 0, 4, json.dumps({"schema": KEY_SCHEMA, "payload": {"id": "x"}}).encode(),
                        _value("c", after={"id": 4, "Note": "n", "qty": 4}))
    with pytest.raises(RecordRefused, match="srv_inventory_orders: id: cannot decode 'x'"):
        writer._row(None, bad_key)


def test_a_value_with_the_last_schema_is_read_from_its_payload_alone_and_the_same():
    reader = Readers(sink_config(), PLACEHOLDER)

    def compact(after, tail: str = "") -> bytes:
        payload = {"before": None, "after": after, "source": SOURCE, "op": "c", "ts_ms": 1}
        text = json.dumps({"schema": VALUE_SCHEMA, "payload": payload}, separators=(",", ":"))
        return (text[:-1] + tail + "}").encode()

    first = reader.read(TOPIC, 0, 1, _key(1), compact({"id": 1, "Note": "a", "qty": 1}))
    assert reader._last_value[0].startswith(b'{"schema":{') and reader._last_value[0].endswith(b',"payload":')
    second = reader.read(TOPIC, 0, 2, _key(2), compact({"id": 2, "Note": "b", "qty": 2}))
    assert (second.columns, second.values, second.lsn) == (first.columns, ("b", 2), 1234)
    assert reader._same_schema(compact({"id": 2, "Note": "b", "qty": 2}))[1] is not None
    # another member after the payload: read in full, the same change
    extra = compact({"id": 3, "Note": "c", "qty": 3}, ',"extra":1')
    assert reader._same_schema(extra) == (None, None)
    assert reader.read(TOPIC, 0, 3, _key(3), extra).values == ("c", 3)
    # a broken payload after the same schema is refused as before
    broken = compact({"id": 4}).replace(b'"after":{"id":4}', b'"after":{"id":4')
    with pytest.raises(RecordRefused) as refused:
        reader.read(TOPIC, 0, 4, _key(4), broken)
    assert refused.value.stage == "VALUE_CONVERTER"


@pytest.mark.parametrize("op, before, after, source", [
    ("c", None, {"id": 1, "Note": "a", "qty": 1}, SOURCE),
    ("r", None, {"id": 1, "Note": PLACEHOLDER, "qty": 1}, SOURCE),
    ("u", {"id": 1, "Note": "a", "qty": 1}, {"id": 1, "Note": PLACEHOLDER, "qty": 2}, SOURCE),
    ("d", {"id": 1, "Note": "a", "qty": 1}, None, SOURCE),
    ("t", None, None, SOURCE),
    ("m", None, None, SOURCE),
    ("c", None, {"id": 1, "Note": "a", "qty": 1}, None),
    ("c", None, {"id": 1, "Note": "a", "qty": 1}, "not a block"),
])
def test_an_envelope_read_from_its_payload_alone_is_the_same_change(op, before, after, source):
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 1}
    value = json.dumps({"schema": VALUE_SCHEMA, "payload": payload}, separators=(",", ":")).encode()
    reader = Readers(sink_config(), PLACEHOLDER)
    assert reader._same_schema(value) == (None, None)
    general = reader.read(TOPIC, 0, 1, _key(1), value)  # in full: the schema is new
    fast, plan = reader._same_schema(value)
    assert plan is not None and isinstance(fast, dict) == (source == "not a block")  # else the typed envelope
    assert reader.read(TOPIC, 0, 1, _key(1), value) == general


def _compact(op: str, before=None, after=None, source=SOURCE, **extra) -> bytes:
    """A value as JsonConverter writes it (no spaces): the form a lane reads."""
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 1, **extra}
    return json.dumps({"schema": VALUE_SCHEMA, "payload": payload}, separators=(",", ":")).encode()


def _compact_key(id_, schema: dict = KEY_SCHEMA) -> bytes:
    return json.dumps({"schema": schema, "payload": {"id": id_}}, separators=(",", ":")).encode()


ROW_1 = {"id": 1, "Note": "a", "qty": 1}


@pytest.mark.parametrize("config", [
    sink_config(), sink_config(pk_mode="none", insert_mode="insert"), sink_config(pk_mode="kafka"),
    sink_config(fields=FieldFilter(((None, "qty"),), include=False)), sink_config(delete_enabled=False),
    sink_config(quote_identifiers=True)])
@pytest.mark.parametrize("key, value", [
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2})),
    (_compact_key(2), _compact("r", after={"id": 2, "Note": PLACEHOLDER, "qty": 2})),
    (_compact_key(2), _compact("u", before=ROW_1, after={"id": 2, "Note": PLACEHOLDER, "qty": 2})),
    (_compact_key(2), _compact("u", after={"id": 2, "Note": None, "qty": [PLACEHOLDER]})),
    (_compact_key(2), _compact("d", before={"id": 2, "Note": None, "qty": None})),
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2}, source={"lsn": "5"})),
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2}, source=None)),
])
def test_a_record_read_through_its_lane_is_the_change_the_general_way_makes(config, key, value):
    reader = Readers(config, PLACEHOLDER)
    reader.read(TOPIC, 0, 1, _compact_key(1), _compact("c", after=ROW_1))  # the general way: it opens the lane
    through = reader.read(TOPIC, 0, 2, key, value)
    general = Readers(config, PLACEHOLDER).read(TOPIC, 0, 2, key, value)
    assert through == general
    if general is not None:  # read through the lane: its layout, unless TOAST columns were left out
        toast_left_out = through.kind == UPSERT and len(through.columns) < len(reader._lane.columns)
        assert (through.layout is None) == toast_left_out
        assert through.layout is reader.read(TOPIC, 0, 3, key, value).layout


WIDER_KEY = {**KEY_SCHEMA, "fields": [*KEY_SCHEMA["fields"], {"field": "v", "type": "int32", "optional": True}]}
INT32_KEY = {**KEY_SCHEMA, "fields": [{"field": "id", "type": "int32", "optional": False}]}  # as long as int64's


@pytest.mark.parametrize("key, value", [
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b"})),  # a field missing
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2, "more": 1})),  # another field
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2, "qty": 3})),  # noqa: F601 - twice
    (_compact_key(2), _compact("c", after=None)),
    (_compact_key(2), _compact("c", after=[1, 2])),
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2}, source="not a block")),
    (_compact_key(2), _compact("t")),
    (_compact_key(2), _compact("m")),
    (_compact_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2})[:-1] + b',"x":1}'),
    (_compact_key(2, WIDER_KEY), _compact("c", after={"id": 2, "Note": "b", "qty": 2})),  # another key schema
    (_compact_key(2, INT32_KEY), _compact("c", after={"id": 2, "Note": "b", "qty": 2})),
    (_key(2), _compact("c", after={"id": 2, "Note": "b", "qty": 2})),  # a key with spaces
    (_compact_key("2"), _compact("c", after={"id": 2, "Note": "b", "qty": 2})),
    (b'{"schema":' + json.dumps(KEY_SCHEMA, separators=(",", ":")).encode() + b',"payload":7}',
     _compact("c", after={"id": 2, "Note": "b", "qty": 2})),
    (None, _compact("c", after={"id": 2, "Note": "b", "qty": 2})),
    (_compact_key(2), None),
])
def test_a_record_that_does_not_fit_the_lane_is_read_the_general_way(key, value):
    reader = Readers(sink_config(), PLACEHOLDER)
    reader.read(TOPIC, 0, 1, _compact_key(1), _compact("c", after=ROW_1))
    assert reader._lane is not None

    def outcome(r: Readers):
        try:
            return r.read(TOPIC, 0, 2, key, value)
        except RecordRefused as exc:
            return str(exc), exc.stage

    assert outcome(reader) == outcome(Readers(sink_config(), PLACEHOLDER))


PLAIN = {"value_schemas": False, "key_schemas": False}


def _plain(op: str, before=None, after=None, source=SOURCE, **extra) -> bytes:
    """A value as JsonConverter writes it without schemas."""
    payload = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 1, **extra}
    return json.dumps(payload, separators=(",", ":")).encode()


def _as_written(change):
    """What a change writes: its key and row as column -> value (a lane keeps the field order of
    the record it was made from; the general way, each record's own)."""
    if change is None:
        return None
    return (change.kind, change.table, dict(zip(change.key_columns, change.key)),
            dict(zip(change.columns, change.values)), change.lsn, change.created)


@pytest.mark.parametrize("config", [
    sink_config(**PLAIN), sink_config(**PLAIN, pk_mode="none", insert_mode="insert"), sink_config(**PLAIN, pk_mode="kafka"),
    sink_config(**PLAIN, fields=FieldFilter(((None, "qty"),), include=False)), sink_config(**PLAIN, delete_enabled=False),
    sink_config(**PLAIN, quote_identifiers=True)])
@pytest.mark.parametrize("key, value", [
    (b'{"id":2}', _plain("c", after={"id": 2, "Note": "b", "qty": 2})),
    (b'{"id":2}', _plain("r", after={"id": 2, "Note": PLACEHOLDER, "qty": 2})),
    (b'{"id":2}', _plain("u", before=ROW_1, after={"id": 2, "Note": PLACEHOLDER, "qty": 2})),
    (b'{"id":2}', _plain("u", after={"id": 2, "Note": None, "qty": [PLACEHOLDER]})),
    (b'{"id":2}', _plain("d", before={"id": 2, "Note": None, "qty": None})),
    (b'{"id":2}', _plain("c", after={"id": 2, "Note": "b", "qty": 2}, source={"lsn": "5"})),
    (b'{"id":2}', _plain("c", after={"id": 2, "Note": "b", "qty": 2}, source=None)),
    (b'{"id": 2}', _plain("c", after={"qty": 2, "id": 2, "Note": "b"})),  # spaces, the fields in another order
])
def test_a_record_without_schemas_read_through_its_lane_is_the_change_the_general_way_makes(config, key, value):
    reader = Readers(config, PLACEHOLDER)
    reader.read(TOPIC, 0, 1, b'{"id":1}', _plain("c", after=ROW_1))  # the general way: it opens the lane
    assert reader._lane is not None and reader._lane.whole
    through = reader.read(TOPIC, 0, 2, key, value)
    general = Readers(config, PLACEHOLDER).read(TOPIC, 0, 2, key, value)
    assert _as_written(through) == _as_written(general)
    if general is not None:  # read through the lane: its layout, unless TOAST columns were left out
        toast_left_out = through.kind == UPSERT and len(through.columns) < len(reader._lane.columns)
        assert (through.layout is None) == toast_left_out


@pytest.mark.parametrize("key, value", [
    (b'{"id":2}', _plain("c", after={"id": 2, "Note": "b"})),  # a field missing
    (b'{"id":2}', _plain("c", after={"id": 2, "Note": "b", "qty": 2, "more": 1})),  # another field
    (b'{"id":2,"v":1}', _plain("c", after={"id": 2, "Note": "b", "qty": 2})),  # a key of another field more
    (b'{"v":2}', _plain("c", after={"id": 2, "Note": "b", "qty": 2})),  # a key of another field
    (b'7', _plain("c", after={"id": 2, "Note": "b", "qty": 2})),
    (None, _plain("c", after={"id": 2, "Note": "b", "qty": 2})),
    (b'{"id":2}', _plain("c", after=None)),
    (b'{"id":2}', _plain("c", after=[1, 2])),
    (b'{"id":2}', _plain("t")),
    (b'{"id":2}', _plain("m")),
    (b'{"id":2}', b'{"id":2,"Note":"b","qty":2}'),  # an unwrapped row (ExtractNewRecordState)
    (b'{"id":2}', b'{"ts_ms":5}'),  # a heartbeat
    (b'{"id":2}', b'null'),
    (b'{"id":2}', None),
])
def test_a_record_without_schemas_that_does_not_fit_the_lane_is_read_the_general_way(key, value):
    reader = Readers(sink_config(**PLAIN), PLACEHOLDER)
    reader.read(TOPIC, 0, 1, b'{"id":1}', _plain("c", after=ROW_1))
    assert reader._lane is not None

    def outcome(r: Readers):
        try:
            return _as_written(r.read(TOPIC, 0, 2, key, value))
        except RecordRefused as exc:
            return str(exc), exc.stage

    assert outcome(reader) == outcome(Readers(sink_config(**PLAIN), PLACEHOLDER))


def test_no_lane_without_schemas_for_keys_with_schemas_nor_keys_short_of_the_record_s_fields():
    row = _plain("c", after=ROW_1)
    for config, key in ((sink_config(value_schemas=False), _compact_key(1)),
                        (sink_config(**PLAIN, pk_fields=("id",)), b'{"id":1,"v":2}')):
        reader = Readers(config, PLACEHOLDER)
        for offset in range(2):
            assert reader.read(TOPIC, 0, offset, key, row).layout is None
        assert reader._lane is None


def test_a_lane_is_per_topic_and_the_general_way_is_taken_without_one():
    other = "srv.Inventory.Other"
    config = sink_config(topics=(TOPIC, other))
    reader = Readers(config, PLACEHOLDER)
    first = reader.read(TOPIC, 0, 1, _compact_key(1), _compact("c", after=ROW_1))
    assert first.layout is None and reader._lane.topic == TOPIC
    elsewhere = reader.read(other, 0, 1, _compact_key(1), _compact("c", after=ROW_1))
    assert elsewhere.table == TableName(None, "srv_inventory_other") and reader._lane.topic == other
    # back on the first topic: its lane is kept, and read through
    assert reader.read(TOPIC, 0, 2, _compact_key(1), _compact("c", after=ROW_1)).layout is None
    assert reader.read(TOPIC, 0, 3, _compact_key(1), _compact("c", after=ROW_1)).layout is not None
    # no lane for values read without schemas but keys with, by record_value keys or for source-named tables
    for no_lane in (sink_config(value_schemas=False), sink_config(pk_mode="record_value"),
                    sink_config(table_format="${source.schema}_${source.table}"), sink_config(key_schemas=False)):
        reader = Readers(no_lane, PLACEHOLDER)
        for offset in range(2):
            value = _compact("c", after=ROW_1) if no_lane.value_schemas else json.dumps(
                {"before": None, "after": ROW_1, "source": SOURCE, "op": "c"}).encode()
            key = _compact_key(1) if no_lane.key_schemas else b'{"id":1}'
            assert reader.read(TOPIC, 0, offset, key, value).layout is None
        assert reader._lane is None
