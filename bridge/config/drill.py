"""`bridge.drill.*`: the staging setup `bridge drill SCENARIO -c FILE` rehearses a failure on
(`bridge.ops.drill`). `bridge run` reads the section too, so a misspelt drill key is refused at
start like any other, and the same file serves the bridge and its drills.

The bridge reaches Kafka and PostgreSQL through Toxiproxy proxies (its own bootstrap servers and
database host name are the proxies' listen addresses); the drill cuts or slows those proxies,
and writes and reads around them (`database.*` and `kafka.bootstrap.servers` here: the direct
addresses, defaulting to the bridge's own).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

PREFIX = "bridge.drill."


@dataclass(frozen=True, slots=True)
class DrillConfig:
    toxiproxy_url: str | None = None  # Toxiproxy's HTTP API
    kafka_proxy: str | None = None  # the proxy between the bridge and Kafka
    postgres_proxy: str | None = None  # the proxy between the bridge and PostgreSQL
    kafka_bootstrap: str | None = None  # the drill's reads of Kafka (None: the bridge's brokers)
    pg_host: str | None = None  # the drill's writes (None: the bridge's database host and port)
    pg_port: int | None = None
    table: str = "public.pgbridge_drill"  # written by the drill: (id int PRIMARY KEY, v int NOT NULL)
    topic: str | None = None  # None: <topic.prefix>.<schema>.<table>
    duration_ms: int = 15_000  # how long a fault lasts
    latency_ms: int = 300  # the latency scenarios' delay, each way
    keys: int = 20  # rows the writers update
    timeout_ms: int = 120_000  # how long the bridge may take to resume, catch up and confirm the slot


def read_drill(r: PropertyReader) -> DrillConfig:
    table = r.str(PREFIX + "table", "public.pgbridge_drill")
    if table.count(".") != 1 or not all(table.split(".")):
        raise ConfigError(f"{r.label(PREFIX + 'table')}={table!r} is invalid: name it schema.table")
    port = r.int(PREFIX + "database.port", 0, minimum=0, maximum=65535)
    return DrillConfig(toxiproxy_url=r.str(PREFIX + "toxiproxy.url", "") or None,
                       kafka_proxy=r.str(PREFIX + "kafka.proxy", "") or None,
                       postgres_proxy=r.str(PREFIX + "postgres.proxy", "") or None,
                       kafka_bootstrap=r.str(PREFIX + "kafka.bootstrap.servers", "") or None,
                       pg_host=r.str(PREFIX + "database.hostname", "") or None, pg_port=port or None,
                       table=table, topic=r.str(PREFIX + "topic", "") or None,
                       duration_ms=r.int(PREFIX + "duration.ms", 15_000, minimum=1000),
                       latency_ms=r.int(PREFIX + "latency.ms", 300, minimum=1),
                       keys=r.int(PREFIX + "keys", 20, minimum=1, maximum=100_000),
                       timeout_ms=r.int(PREFIX + "timeout.ms", 120_000, minimum=1000))
