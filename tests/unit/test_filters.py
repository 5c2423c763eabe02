"""Debezium's table filters: case-insensitive whole-name regexes, include xor exclude."""

import pytest

from bridge.errors import ConfigError
from bridge.route.filters import TableFilter, split_regex_list


def test_regex_lists_split_like_debeziums_regex_splitter():
    # only an escaped comma stays inside an expression, as in Debezium
    assert split_regex_list("a, b{1\\,3} ,,c") == ["a", "b{1,3}", "c"]
    assert split_regex_list("x{1,3}") == ["x{1", "3}"]


def test_table_include_list_is_a_case_insensitive_full_match():
    f = TableFilter.from_lists(table_include="public.orders,inventory\\.item.*")
    assert f.captures("public", "orders") and f.captures("PUBLIC", "Orders")
    assert not f.captures("public", "orders_archive")  # whole name, not a prefix
    assert f.captures("inventory", "items") and not f.captures("other", "items")


def test_exclude_lists_and_schema_lists():
    f = TableFilter.from_lists(schema_exclude="audit", table_exclude="public\\.tmp_.*")
    assert f.captures("public", "orders")
    assert not f.captures("audit", "log") and not f.captures("public", "tmp_1")
    g = TableFilter.from_lists(schema_include="sales")
    assert g.captures("sales", "x") and not g.captures("public", "x")


def test_system_schemas_are_never_captured():
    assert not TableFilter().captures("pg_catalog", "pg_class")
    assert not TableFilter().captures("information_schema", "tables")


def test_include_and_exclude_together_is_an_error():
    with pytest.raises(ConfigError, match="table.include.list and table.exclude.list cannot both be set"):
        TableFilter.from_lists(table_include="a", table_exclude="b")


def test_bad_regex_names_the_key():
    with pytest.raises(ConfigError, match=r"table\.include\.list='public\.\(' is invalid"):
        TableFilter.from_lists(table_include="public.(")


def test_message_key_columns():
    f = TableFilter.from_lists(key_columns="public.orders:customer_id,id; (.*).events:seq")
    assert f.key_override("public", "orders") == ("customer_id", "id")
    assert f.key_override("audit", "events") == ("seq",)
    assert f.key_override("public", "other") is None
    with pytest.raises(ConfigError, match="message.key.columns"):
        TableFilter.from_lists(key_columns="public.orders")


def test_column_lists_match_schema_table_column():
    f = TableFilter.from_lists(column_exclude="public\\.users\\.(password|ssn)")
    assert not f.captures_column("public", "users", "password")
    assert f.captures_column("public", "users", "email")
    g = TableFilter.from_lists(column_include="public\\.users\\.(id|email)")
    assert g.captures_column("public", "users", "id") and not g.captures_column("public", "users", "ssn")
