"""Where health checks and metrics are served (`bridge.http.*`, or Debezium Server's
Quarkus `quarkus.http.port` / `.host`)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.properties import PropertyReader


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (the log says which)


def read_http(r: PropertyReader) -> HttpConfig:
    enabled = r.bool("bridge.http.enabled", True)
    quarkus_port = r.int("quarkus.http.port", 8080, maximum=65535)
    quarkus_host = r.str("quarkus.http.host", "127.0.0.1")
    return HttpConfig(enabled=enabled, host=r.str("bridge.http.host", quarkus_host),
                      port=r.int("bridge.http.port", quarkus_port, maximum=65535))


@dataclass(frozen=True, slots=True)
class WalGuardConfig:
    """How often the coordinator reads the slot's WAL figures from pg_replication_slots
    (`bridge.wal.poll.ms`), and the WAL the slot may keep before a warning and a DEGRADED
    health (`bridge.wal.warn.bytes`, the restart_lsn lag; 0 = no threshold)."""

    poll_ms: int = 10_000
    warn_bytes: int = 0


def read_wal_guard(r: PropertyReader) -> WalGuardConfig:
    return WalGuardConfig(poll_ms=r.int("bridge.wal.poll.ms", 10_000, minimum=100),
                          warn_bytes=r.int("bridge.wal.warn.bytes", 0, minimum=0))
