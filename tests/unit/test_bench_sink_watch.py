"""The sink benchmark's watch: the key of a partition's last record, in either format."""

from __future__ import annotations

import io
import struct

import fastavro  # the avro extra, which the test command installs
import pytest

from native_bench.sink_bench import avro_long_key, key_id

KEY_SCHEMA = fastavro.parse_schema({"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]})


def _avro_key(id_: int, schema_id: int = 7) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, KEY_SCHEMA, {"id": id_})
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


@pytest.mark.parametrize("id_", [0, 1, -1, 63, 64, 1_000_000, 2**40, -(2**63), 2**63 - 1])
def test_an_avro_key_s_id_is_what_fastavro_wrote(id_):
    assert avro_long_key(_avro_key(id_)) == id_
    assert key_id(_avro_key(id_, schema_id=123456), "avro") == id_


def test_a_key_not_in_confluent_s_framing_or_cut_short_is_refused():
    with pytest.raises(ValueError, match="Confluent-framed"):
        avro_long_key(b"\x01\x00\x00\x00\x07\x02")
    with pytest.raises(ValueError, match="truncated"):
        avro_long_key(_avro_key(1_000_000)[:-1])


def test_a_json_key_s_id_is_its_payload_s():
    key = (b'{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],'
           b'"optional":false,"name":"t.public.rows.Key"},"payload":{"id":999000}}')
    assert key_id(key, "json") == 999000
