"""TypeRegistry: built-ins without queries, other OIDs read once from pg_type."""

import pytest

from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind, TypeRegistry
from bridge.convert.values import converter_for
from tests.fakes import FakeConnection


# (typname, nspname, typtype, typcategory, typelem, typbasetype, typtypmod, enum labels)
ROWS = {
    16500: ("mood", "public", "e", "E", 0, 0, -1, ["sad", "ok", "happy"]),
    16501: ("_mood", "public", "b", "A", 16500, 0, -1, []),
    16600: ("price", "public", "d", "N", 0, 1700, 655366, []),
    16601: ("cheap", "public", "d", "N", 0, 16600, -1, []),
    16700: ("hstore", "public", "b", "U", 0, 0, -1, []),
}


def test_builtins_need_no_connection():
    registry = TypeRegistry()
    assert registry.get(23) is BUILTIN_TYPES[23]
    assert registry.get(1014).element is BUILTIN_TYPES[1042]
    assert registry.get(3904).kind is TypeKind.RANGE
    with pytest.raises(LookupError):
        registry.get(16500)


def test_user_types_are_queried_once_and_resolved():
    conn = FakeConnection(ROWS)
    registry = TypeRegistry(conn)
    moods = registry.get(16501)
    assert moods.kind is TypeKind.ARRAY and moods.element is not None
    assert moods.element.enum_labels == ("sad", "ok", "happy")
    assert registry.get(16500) is moods.element
    assert conn.queries == [16501, 16500]
    assert registry.get(16700) == TypeInfo(16700, "hstore", "public")


def test_domains_resolve_to_their_root_and_keep_the_nearest_typmod():
    registry = TypeRegistry(FakeConnection(ROWS))
    cheap = registry.get(16601)
    assert cheap.root is BUILTIN_TYPES[1700]
    assert cheap.effective_typmod(-1) == 655366  # from the `price` domain below it
    assert cheap.effective_typmod(393222) == 393222  # the column's own typmod wins
    assert BUILTIN_TYPES[1700].effective_typmod(-1) == -1


def test_invalidate_rereads_user_types_only():
    conn = FakeConnection(ROWS)
    registry = TypeRegistry(conn)
    registry.get(16500)
    registry.invalidate(16500)
    registry.invalidate(23)
    registry.get(16500)
    registry.get(23)
    assert conn.queries == [16500, 16500]


def test_a_dropped_type_becomes_an_unknown_type():
    registry = TypeRegistry(FakeConnection(ROWS))
    vanished = registry.get(99999)
    assert vanished.name == "oid_99999" and vanished.kind is TypeKind.BASE
    assert converter_for(vanished, -1, ConversionOptions()) is None  # skipped like Debezium's unknown types
