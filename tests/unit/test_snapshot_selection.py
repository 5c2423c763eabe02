"""Debezium's table filters and snapshot order (Selectors, Predicates, RegExSplitter,
RelationalSnapshotChangeEventSource), and the select overrides."""

from __future__ import annotations

import logging

import pytest

from bridge.errors import ConfigError
from bridge.route.filters import split_regex_list
from bridge.snapshot.selection import TableSelection

TABLES = [("public", "orders"), ("public", "order_items"), ("inventory", "products"), ("Sales", "Leads"),
          ("inventory", "orders"), ("audit", "log")]


def selected(**props: str) -> list[str]:
    selection = TableSelection.from_properties(props)
    return [f"{s}.{t}" for s, t in selection.order(t for t in TABLES if selection.snapshotted(*t))]


@pytest.mark.parametrize(
    ("value", "items"),
    [
        (None, []),
        ("", []),
        ("a,b", ["a", "b"]),
        (" a , b ,, ", ["a", "b"]),  # trimmed, empty items dropped
        (r"public\.t\,x,other", [r"public\.t,x", "other"]),  # \, is a comma inside an expression
        (r"a{1\,3},b", ["a{1,3}", "b"]),
        (r"x\\,y", [r"x\\", "y"]),  # an escaped backslash does not escape the comma
    ],
)
def test_split_regex_list(value, items):
    assert split_regex_list(value) == items


def test_everything_sorted_by_schema_and_table_without_filters():
    assert selected() == ["Sales.Leads", "audit.log", "inventory.orders", "inventory.products",
                          "public.order_items", "public.orders"]


def test_patterns_match_the_whole_name_case_insensitively():
    assert selected(**{"table.include.list": "public.orders"}) == ["public.orders"]  # not order_items
    assert selected(**{"table.include.list": "PUBLIC.ORDER.*"}) == ["public.order_items", "public.orders"]
    assert selected(**{"table.include.list": "orders"}) == []  # no partial match on the table name
    assert selected(**{"schema.include.list": "sales"}) == ["Sales.Leads"]


def test_include_list_order_decides_the_snapshot_order():
    # GIVEN patterns in a chosen order, one table matched twice
    order = selected(**{"table.include.list": "inventory\\..*,public\\.orders,.*\\.orders"})
    # THEN pattern by pattern, each pattern's tables by name, first place kept
    assert order == ["inventory.orders", "inventory.products", "public.orders"]


def test_exclude_lists():
    assert selected(**{"table.exclude.list": ".*\\.orders,audit\\..*"}) == [
        "Sales.Leads", "inventory.products", "public.order_items"]
    assert selected(**{"schema.exclude.list": "public,inventory"}) == ["Sales.Leads", "audit.log"]


def test_an_include_list_and_its_exclude_list_cannot_both_be_set():
    # Debezium's config validation refuses it ("... is already specified")
    with pytest.raises(ConfigError, match="table.include.list and table.exclude.list cannot both be set"):
        selected(**{"table.include.list": "public\\..*", "table.exclude.list": "public\\.orders"})


def test_schema_and_table_filters_both_apply():
    assert selected(**{"schema.include.list": "public", "table.include.list": ".*\\.orders"}) == ["public.orders"]


def test_snapshot_include_collection_list_restricts_the_captured_tables():
    props = {"table.include.list": "public\\..*", "snapshot.include.collection.list": "public\\.orders,audit\\.log"}
    assert selected(**props) == ["public.orders"]  # audit.log is not captured at all
    selection = TableSelection.from_properties(props)
    assert selection.captured("public", "order_items") and not selection.snapshotted("public", "order_items")


def test_select_overrides():
    selection = TableSelection.from_properties({
        "snapshot.select.statement.overrides": "public.orders, inventory.products",
        "snapshot.select.statement.overrides.public.orders": "SELECT * FROM public.orders WHERE id > 10",
        "snapshot.select.statement.overrides.inventory.products": "SELECT * FROM inventory.products LIMIT 1",
    })
    assert selection.select_overrides == {
        "public.orders": "SELECT * FROM public.orders WHERE id > 10",
        "inventory.products": "SELECT * FROM inventory.products LIMIT 1",
    }


def test_an_override_without_its_statement_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        selection = TableSelection.from_properties({"snapshot.select.statement.overrides": "public.orders"})
    assert selection.select_overrides == {}
    assert "snapshot.select.statement.overrides.public.orders" in caplog.text


def test_an_invalid_expression_names_the_key():
    with pytest.raises(ConfigError, match=r"table\.exclude\.list='public\.\(' is invalid: 'public\.\(' is not a regular"):
        TableSelection.from_properties({"table.exclude.list": "public.("})


def test_the_signal_table_is_listed_but_never_read():
    selection = TableSelection.from_properties({"table.include.list": "public.order.*"})
    selection = TableSelection(selection.filters, selection.snapshot_include, {}, "audit.log")
    assert not selection.snapshotted("audit", "log") and selection.listed("audit", "log")
    assert selection.snapshotted("public", "orders") and not selection.listed("inventory", "orders")
    # Debezium's captured tables: the include list's patterns, then the signal table's
    assert selection.listed_order(t for t in TABLES if selection.listed(*t)) == [
        ("public", "order_items"), ("public", "orders"), ("audit", "log")]
    everything = TableSelection(signal_table="inventory.orders")
    assert everything.listed_order(TABLES)[:3] == [("Sales", "Leads"), ("audit", "log"), ("inventory", "orders")]
    assert not everything.snapshotted("inventory", "orders")
