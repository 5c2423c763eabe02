"""The dedup window in Redis (`bridge.sink.dedup.redis.url`): one key per identity,
`<prefix><hex identity>`, the prefix naming the consumer group, so the window survives restarts
and every worker of the group shares it. A batch costs two pipelined round trips: EXISTS for
each record before it is applied, `SET key 1 NX PX ttl` for each applied one after the commit.

A Redis that fails mid-run is retried with backoff for `bridge.sink.dedup.redis.retry.ms`, then
the sink stops (exit 3): before the write nothing was applied; after it the batch is committed in
the target and its Kafka offsets are not, so a restart applies it again (a duplicate, never a loss).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

from bridge.errors import ConnectionFailed
from bridge.sink.dedup.settings import DedupConfig

log = logging.getLogger(__name__)


def client(config: DedupConfig):
    """A Redis client (the optional extra, checked when the configuration was read)."""
    import redis

    return redis.Redis.from_url(config.redis_url, password=config.redis_password, socket_timeout=5,
                                socket_connect_timeout=5)


def ping(config: DedupConfig) -> None:
    """At start: one clear error when Redis does not answer or refuses the login."""
    import redis

    try:
        client(config).ping()
    except redis.RedisError as exc:
        raise ConnectionFailed(f"cannot reach Redis at {config.redis_address} (bridge.sink.dedup.redis.url): "
                               f"{exc}") from None


class RedisWindow:
    def __init__(self, config: DedupConfig, group: str, stop: threading.Event) -> None:
        self.config = config
        self.prefix = f"pgbridge:dedup:{group}:".encode()
        self.stop = stop
        self._client = client(config)

    def seen(self, identities: list[bytes]) -> list[bool]:
        keys = [self.prefix + i.hex().encode() for i in identities]

        def check(pipe):
            for key in keys:
                pipe.exists(key)
        return [bool(n) for n in self._pipelined(check, "look up")]

    def record(self, identities: Iterable[bytes]) -> None:
        keys = [self.prefix + i.hex().encode() for i in identities]
        ttl = self.config.ttl_ms

        def remember(pipe):
            for key in keys:
                pipe.set(key, b"1", nx=True, px=ttl)
        if keys:
            self._pipelined(remember, "record")

    def _pipelined(self, fill: Callable, what: str) -> list:
        import redis

        started = time.monotonic()
        delay = 0.2
        while True:
            try:
                pipe = self._client.pipeline(transaction=False)
                fill(pipe)
                return pipe.execute()
            except redis.RedisError as exc:
                spent = (time.monotonic() - started) * 1000
                if spent >= self.config.redis_retry_ms or self.stop.is_set():
                    raise ConnectionFailed(
                        f"Redis at {self.config.redis_address} failed to {what} the dedup window for "
                        f"{self.config.redis_retry_ms} ms (bridge.sink.dedup.redis.retry.ms): {exc}; stopping "
                        "(the records not yet committed are read again after a restart)") from None
                log.warning("Redis at %s: %s; retrying in %.1fs", self.config.redis_address, exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
