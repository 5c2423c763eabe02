"""Connect schemas as JsonConverter prints them (key order included), per Debezium 3.6.1's
TableSchemaBuilder, SchemaFactory, Envelope and PostgresSourceInfoStructMaker."""

import json

from bridge.convert.schema import (
    connect_schema,
    envelope_schema,
    field_schema,
    key_schema,
    source_schema,
    value_schema,
)

TOPIC = "shop.public.orders"


def test_field_key_order_is_jsonconverters():
    decimal = connect_schema(
        "bytes", name="org.apache.kafka.connect.data.Decimal", version=1, parameters={"scale": "2"}
    )
    field = field_schema("price", decimal, optional=True, default="AA==")
    assert json.dumps(field) == (
        '{"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "version": 1, '
        '"parameters": {"scale": "2"}, "default": "AA==", "field": "price"}'
    )


def test_field_optional_is_column_nullability_or_the_logical_schemas_own():
    assert field_schema("a", connect_schema("int32"))["optional"] is False
    assert field_schema("a", connect_schema("int32"), optional=True)["optional"] is True
    assert field_schema("g", connect_schema("struct", optional=True))["optional"] is True


def test_key_value_envelope_names_and_order():
    id_field = field_schema("id", connect_schema("int64"))
    note = field_schema("note", connect_schema("string"), optional=True)
    key = key_schema(TOPIC, [id_field])
    assert key == {"type": "struct", "fields": [id_field], "optional": False, "name": f"{TOPIC}.Key"}
    assert key_schema(TOPIC, []) is None
    value = value_schema(TOPIC, [id_field, note])
    assert value == {"type": "struct", "fields": [id_field, note], "optional": True, "name": f"{TOPIC}.Value"}
    envelope = envelope_schema(TOPIC, value)
    assert [f["field"] for f in envelope["fields"]] == [
        "before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns",
    ]  # fmt: skip
    assert (envelope["name"], envelope["version"], envelope["optional"]) == (f"{TOPIC}.Envelope", 2, False)
    before, after, _, transaction, op, ts_ms, *_ = envelope["fields"]
    assert before == {**value, "field": "before"} and after == {**value, "field": "after"}
    assert transaction["name"] == "event.block" and transaction["optional"] is True
    assert [f["field"] for f in transaction["fields"]] == ["id", "total_order", "data_collection_order"]
    assert op == {"type": "string", "optional": False, "field": "op"}
    assert ts_ms == {"type": "int64", "optional": True, "field": "ts_ms"}


def test_source_schema():
    source = source_schema()
    assert source["name"] == "io.debezium.connector.postgresql.Source"
    assert (source["version"], source["optional"]) == (1, False)
    fields = {f["field"]: f for f in source["fields"]}
    assert list(fields) == [
        "version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us", "ts_ns",
        "schema", "table", "txId", "lsn", "xmin", "origin", "origin_lsn",
    ]  # fmt: skip
    assert fields["snapshot"] == {
        "type": "string",
        "optional": True,
        "name": "io.debezium.data.Enum",
        "version": 1,
        "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
        "default": "false",
        "field": "snapshot",
    }
    assert fields["lsn"] == {"type": "int64", "optional": True, "field": "lsn"}
    assert fields["db"] == {"type": "string", "optional": False, "field": "db"}
