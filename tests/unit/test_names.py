"""Debezium's name adjusters (bridge.convert.names): schema.name.adjustment.mode and
field.name.adjustment.mode, checked against SchemaNameAdjuster and its replacement functions."""

from __future__ import annotations

import pytest

from bridge.convert.names import NameConflict, adjusted, adjuster


@pytest.mark.parametrize("mode, name, schema, field", [
    ("none", "1a-b.c", "1a-b.c", "1a-b.c"),
    ("avro", "p.public.odd-table.Value", "p.public.odd_table.Value", "p_public_odd_table_Value"),
    ("avro", "1st-col", "_1st_col", "_1st_col"),  # a leading digit is kept after its `_`
    ("avro", "_ok9", "_ok9", "_ok9"),
    ("avro", "é\U0001F600", "___", "___"),  # one `_` per UTF-16 unit
    ("avro_unicode", "odd-table.Value", "odd_u002dtable.Value", "odd_u002dtable_u002eValue"),
    ("avro_unicode", "1st_col", "_u0031st_u005fcol", "_u0031st_u005fcol"),  # `_` is replaced too
    ("avro_unicode", "a\tb\u0100", "a_u009b_u100", "a_u009b_u100"),  # padded to 4 only from 1 or 2 digits
    ("avro_unicode", "\U0001F600", "_ud83d_ude00", "_ud83d_ude00"),
    ("avro", "", "", ""),
])
def test_names_are_adjusted_as_debeziums_adjusters_do(mode, name, schema, field):
    assert adjusted(name, mode) == schema
    assert adjusted(name, mode, field=True) == field


def test_two_names_that_become_one_stop_as_debezium_does():
    fields = adjuster("avro", field=True)
    assert fields("conflict-a") == fields("conflict-a") == "conflict_a"
    assert fields("conflict_a") == "conflict_a"  # valid as it is: not a replacement
    with pytest.raises(NameConflict, match=r"'conflict\+a'.*'conflict_a'.*'conflict-a'"):
        fields("conflict+a")
    assert adjuster("avro")("conflict+a") == "conflict_a"  # schema names are another adjuster
    assert adjuster("none")("a-b") == "a-b"
