"""The sink's dedup window: the LRU's size and time to live, a record's identity, what a batch
skips and records, when the window is on, and its keys."""

from __future__ import annotations

import pytest

from bridge.errors import ConfigError
from bridge.sink.dedup import settings as dedup_settings
from bridge.sink.dedup.memory import MemoryWindow
from bridge.sink.dedup.window import DedupWindow, active, identity, window_for
from bridge.sink.naming import TableName
from bridge.sink.records import UPSERT, Change
from tests.unit.builders import sink_file_config


class _Message:
    def __init__(self, offset: int, key: bytes | None = b'{"id":1}', partition: int = 0, topic: str = "t") -> None:
        self._offset, self._key, self._partition, self._topic = offset, key, partition, topic

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key


def _change(lsn: int | None) -> Change:
    return Change(UPSERT, TableName(None, "t"), lsn=lsn)


class _Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_lru_keeps_at_most_size_entries_dropping_the_least_recently_recorded():
    window = MemoryWindow(size=3, ttl_ms=60_000)
    window.record([b"a", b"b", b"c"])
    window.record([b"a"])  # recorded again: the newest now
    window.record([b"d"])
    assert len(window) == 3
    assert window.seen([b"a", b"b", b"c", b"d"]) == [True, False, True, True]


def test_an_entry_leaves_the_window_after_its_ttl():
    clock = _Clock()
    window = MemoryWindow(size=10, ttl_ms=5_000, clock=clock)
    window.record([b"a"])
    clock.now += 4.9
    window.record([b"b"])
    assert window.seen([b"a", b"b"]) == [True, True]
    clock.now += 0.2
    assert window.seen([b"a", b"b"]) == [False, True]
    assert len(window) == 1  # the expired one is gone, not just hidden


def test_identity_is_topic_key_and_lsn_or_else_partition_and_offset():
    # the same change delivered twice (other offsets) is the same; another key, topic or LSN is not
    assert identity(_Message(1), _change(500)) == identity(_Message(9, partition=2), _change(500))
    assert identity(_Message(1), _change(500)) != identity(_Message(1), _change(501))
    assert identity(_Message(1), _change(500)) != identity(_Message(1, key=b'{"id":2}'), _change(500))
    assert identity(_Message(1), _change(500)) != identity(_Message(1, topic="u"), _change(500))
    # without an LSN only a redelivery (the same coordinates) is the same
    assert identity(_Message(1), _change(None)) == identity(_Message(1), _change(None))
    assert identity(_Message(1), _change(None)) != identity(_Message(2), _change(None))
    assert identity(_Message(1, key=None), _change(None)) != identity(_Message(1, key=b""), _change(7))


def test_a_batch_skips_what_the_window_holds_and_its_own_repeats_and_records_only_what_was_applied():
    window = DedupWindow(MemoryWindow(size=100, ttl_ms=60_000))
    first = [(_Message(o), _change(1000 + o)) for o in range(3)]
    kept, idents, skipped = window.fresh(first)
    assert (kept, skipped) == (first, 0)
    # nothing is recorded before the caller says the batch committed
    assert window.fresh(first)[2] == 0
    window.applied(kept, idents, refused=[(first[1][0], "refused")])
    # redelivered (Kafka) and repeated in the batch (the source): skipped, the refused one is not
    again = [(_Message(o + 10), _change(1000 + o)) for o in range(3)] + [(_Message(20), _change(1000 + 1))]
    kept, idents, skipped = window.fresh(again)
    assert [pair[1].lsn for pair in kept] == [1001] and skipped == 3


def test_the_window_is_on_only_without_the_sinks_own_exactly_once(tmp_path):
    assert not active(sink_file_config(tmp_path))  # LSN guard + offsets in the target: nothing comes twice
    assert window_for(sink_file_config(tmp_path), None) is None
    assert active(sink_file_config(tmp_path, {"bridge.sink.offsets": "kafka"}))
    assert active(sink_file_config(tmp_path, {"bridge.sink.ordering.guard": "none"}))
    assert not active(sink_file_config(tmp_path, {"bridge.sink.offsets": "kafka", "bridge.sink.dedup.size": "0"}))
    window = window_for(sink_file_config(tmp_path, {"bridge.sink.offsets": "kafka", "bridge.sink.dedup.size": "7",
                                           "bridge.sink.dedup.ttl.ms": "2000"}), None)
    assert isinstance(window.store, MemoryWindow) and (window.store.size, window.store.ttl) == (7, 2.0)


def test_the_keys_and_their_defaults(tmp_path):
    config = sink_file_config(tmp_path).dedup
    assert (config.size, config.ttl_ms, config.redis_url, config.redis_retry_ms) == (100_000, 3_600_000, None, 30_000)
    config = sink_file_config(tmp_path, {"bridge.sink.dedup.redis.url": "rediss://:pw@cache.example:6380/2",
                                "bridge.sink.dedup.redis.password": "s3cret"}).dedup
    assert config.redis_address == "cache.example:6380"
    assert "s3cret" not in repr(config) and "pw" not in repr(config)


@pytest.mark.parametrize("extra, message", [
    ({"bridge.sink.dedup.redis.url": "http://cache:6379"}, "bridge.sink.dedup.redis.url is invalid: redis://"),
    ({"bridge.sink.dedup.ttl.ms": "0"}, "bridge.sink.dedup.ttl.ms"),
    ({"bridge.sink.dedup.size": "-1"}, "bridge.sink.dedup.size"),
])
def test_invalid_values_are_refused_naming_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        sink_file_config(tmp_path, extra)


def test_a_redis_url_without_the_client_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_settings.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"needs the Redis client, an optional extra: pip install 'pgbridge\[redis\]'"):
        sink_file_config(tmp_path, {"bridge.sink.dedup.redis.url": "redis://127.0.0.1:6379"})


class _FailingRedis:
    """A Redis client whose pipelines fail `failures` times, then record what they were given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple] = []

    def pipeline(self, transaction: bool):
        client = self

        class Pipe:
            def __init__(self) -> None:
                self.ops: list[tuple] = []

            def exists(self, key):
                self.ops.append(("exists", key))

            def set(self, key, value, nx, px):
                self.ops.append(("set", key, nx, px))

            def execute(self):
                import redis

                if client.failures:
                    client.failures -= 1
                    raise redis.ConnectionError("Connection refused")
                client.calls.extend(self.ops)
                return [0] * len(self.ops)
        return Pipe()


def test_redis_lookups_and_records_are_pipelined_under_the_groups_prefix_and_retried(tmp_path):
    import threading

    from bridge.sink.dedup.redis_store import RedisWindow

    config = sink_file_config(tmp_path, {"bridge.sink.dedup.redis.url": "redis://127.0.0.1:1", "bridge.sink.offsets": "kafka",
                                "bridge.sink.dedup.ttl.ms": "900"})
    window = RedisWindow(config.dedup, config.group, threading.Event())
    window._client = _FailingRedis(failures=1)
    assert window.seen([b"\x01", b"\x02"]) == [False, False]
    window.record([b"\x01"])
    assert window._client.calls == [("exists", b"pgbridge:dedup:connect-orders-sink:01"),
                                    ("exists", b"pgbridge:dedup:connect-orders-sink:02"),
                                    ("set", b"pgbridge:dedup:connect-orders-sink:01", True, 900)]


def test_a_redis_failing_longer_than_the_retry_budget_stops_the_sink(tmp_path):
    import threading

    from bridge.errors import ConnectionFailed, ExitCode
    from bridge.sink.dedup.redis_store import RedisWindow

    config = sink_file_config(tmp_path, {"bridge.sink.dedup.redis.url": "redis://:pw@127.0.0.1:1",
                                "bridge.sink.dedup.redis.retry.ms": "300"})
    window = RedisWindow(config.dedup, config.group, threading.Event())
    window._client = _FailingRedis(failures=100)
    with pytest.raises(ConnectionFailed, match=r"Redis at 127.0.0.1:1 failed to look up the dedup window for 300 ms") \
            as failed:
        window.seen([b"\x01"])
    assert failed.value.exit_code == ExitCode.CONNECTION and "pw" not in str(failed.value)
    assert window._client.failures < 100 - 1  # retried with backoff before giving up
