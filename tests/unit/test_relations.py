"""The relation cache: latest shape per relation id, key columns, unknown ids."""

import pytest

from bridge.errors import ConfigError, ProtocolError
from bridge.pgoutput.messages import Relation, RelationColumn
from bridge.pgoutput.relations import RelationCache, UnknownRelation


def relation(identity="d", keys=(True, False, False), names=("id", "label", "extra")):
    columns = tuple(RelationColumn(k, n, 23, -1) for k, n in zip(keys, names))
    return Relation(16558, "public", "full_items", identity, columns)


def test_key_indexes_come_from_the_key_flags():
    cached = RelationCache().add(relation(keys=(False, True, True)))
    assert cached.key_indexes == (1, 2)
    assert cached.is_key == (False, True, True)
    assert cached.key_end == 3


def test_a_resent_relation_replaces_the_old_shape():
    # GIVEN a cached relation WHEN ALTER TABLE makes the server send a new shape
    cache = RelationCache()
    cache.add(relation(keys=(True, False), names=("id", "label")))
    cache.add(relation())
    # THEN lookups see only the new shape
    assert len(cache) == 1
    assert [c.name for c in cache.lookup(16558).relation.columns] == ["id", "label", "extra"]


def test_no_key_columns():
    cached = RelationCache().add(relation(identity="n", keys=(False, False, False)))
    assert cached.key_indexes == () and cached.key_end == 0


def test_unknown_relation_is_a_protocol_error():
    cache = RelationCache()
    assert cache.get(1) is None
    with pytest.raises(UnknownRelation) as err:
        cache.lookup(42, offset=1, msg_type="I")
    assert isinstance(err.value, ProtocolError)
    assert err.value.relation_id == 42 and err.value.offset == 1 and err.value.msg_type == "I"
    assert "unknown relation id 42" in str(err.value)


def test_key_columns_override_replica_identity_full():
    # REPLICA IDENTITY FULL flags every column; the primary key is passed in instead
    cache = RelationCache(key_columns={("public", "full_items"): ["id"]})
    cached = cache.add(relation(identity="f", keys=(True, True, True)))
    assert cached.key_indexes == (0,)


def test_key_columns_override_naming_a_missing_column():
    cache = RelationCache(key_columns={("public", "full_items"): ["nope"]})
    with pytest.raises(ConfigError, match="nope"):
        cache.add(relation())
