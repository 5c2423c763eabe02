"""Routing determinism: same key and salt → same owner and partition; salt moves keys."""

from bridge.route.partitioner import java_default_partition, key_hash, keyless_hash, murmur2


def test_same_key_same_salt_same_hash():
    assert key_hash(b"s", b"\x00key") == key_hash(b"s", b"\x00key")


def test_different_salt_moves_keys():
    keys = [i.to_bytes(4, "big") for i in range(1000)]
    moved = sum(key_hash(b"a", k) % 8 != key_hash(b"b", k) % 8 for k in keys)
    assert moved > 700  # about 7/8 of keys change bucket


def test_keys_spread_over_producers():
    counts = [0] * 4
    for i in range(4000):
        counts[key_hash(b"", i.to_bytes(4, "big")) % 4] += 1
    assert min(counts) > 800


def test_keyless_rows_of_one_transaction_stay_together():
    assert keyless_hash(b"", 1234) == keyless_hash(b"", 1234)
    assert len({keyless_hash(b"", xid) % 4 for xid in range(100)}) == 4


def test_murmur2_matches_kafka():
    # Kafka's UtilsTest.testMurmur2 vectors
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_java_default_partition_is_positive_modulo():
    assert java_default_partition(b"21", 7) == (-973932308 & 0x7FFFFFFF) % 7
