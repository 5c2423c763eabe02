"""`bridge.sink.dedup.*`: the dedup window's size, time to live, and its Redis."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bridge.errors import ConfigError
from bridge.properties import PropertyReader


@dataclass(frozen=True, slots=True)
class DedupConfig:
    size: int = 100_000  # entries per worker in memory; 0: no window
    ttl_ms: int = 3_600_000
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_password: str | None = field(default=None, repr=False)
    redis_retry_ms: int = 30_000  # how long a failing Redis is retried mid-run before the sink stops

    @property
    def enabled(self) -> bool:
        return self.size > 0

    @property
    def redis_address(self) -> str:
        """host:port of the Redis, for messages (never the password)."""
        parts = urlsplit(self.redis_url or "")
        return f"{parts.hostname}:{parts.port or 6379}"


def read_dedup(r: PropertyReader) -> DedupConfig:
    size = r.int("bridge.sink.dedup.size", 100_000)
    ttl = r.int("bridge.sink.dedup.ttl.ms", 3_600_000, minimum=1)
    url = r.str("bridge.sink.dedup.redis.url", "") or None
    password = r.str("bridge.sink.dedup.redis.password", "") or None
    retry = r.int("bridge.sink.dedup.redis.retry.ms", 30_000)
    if url is not None:
        key = "bridge.sink.dedup.redis.url"
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ConfigError(f"{r.label(key)} is invalid: redis://host:port[/db] or rediss://host:port[/db] "
                              "(the password from bridge.sink.dedup.redis.password)")
        if importlib.util.find_spec("redis") is None:
            raise ConfigError(f"{r.label(key)} needs the Redis client, an optional extra: "
                              "pip install 'pgbridge[redis]'")
    return DedupConfig(size=size, ttl_ms=ttl, redis_url=url, redis_password=password, redis_retry_ms=retry)
