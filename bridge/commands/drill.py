"""`bridge drill SCENARIO -c FILE`: rehearse a failure against a running staging bridge of that
configuration (`bridge.ops.drill`), its `bridge.drill.*` section naming the Toxiproxy proxies
the bridge goes through. Prints the timings; exit 0 only when nothing was lost, per-key order
held and the slot caught up.

Scenarios: kafka-partition, kafka-latency (the bridge's Kafka proxy cut off or slowed down for
bridge.drill.duration.ms), pg-partition, pg-latency (the same between the bridge and
PostgreSQL), bridge-kill (kill -9 of the bridge process `--pid`; its supervisor, systemd,
restarts it).
"""

from __future__ import annotations

import argparse

from bridge.commands import add_config_arguments
from bridge.errors import ConfigError, ExitCode

HELP = "rehearse a failure (network partition or latency, bridge killed) against a staging bridge"
SCENARIOS = ("kafka-partition", "kafka-latency", "pg-partition", "pg-latency", "bridge-kill")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", choices=SCENARIOS)
    add_config_arguments(parser)
    parser.add_argument("--pid", type=int, help="bridge-kill: the pid of the running `bridge run` to kill -9")


def main(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    import signal

    from bridge.config import load_config
    from bridge.logsettings import apply_logging
    from bridge.ops.drill import Stage, Toxiproxy, held, rehearse

    config = load_config(args.config, args.bootstrap_servers)
    apply_logging(config.logging, args.log_level)
    drill, pg = config.drill, config.postgres
    pg = dataclasses.replace(pg, hostname=drill.pg_host or pg.hostname, port=drill.pg_port or pg.port)
    kafka = dict(config.kafka.connection.settings)  # the bridge's security settings too
    if drill.kafka_bootstrap:
        kafka["bootstrap.servers"] = drill.kafka_bootstrap
    stage = Stage(pg={**pg.dsn_kwargs(), "application_name": "pgbridge-drill"}, table=drill.table, keys=drill.keys,
                  kafka=kafka, topic=drill.topic or f"{config.events.topic_prefix}.{drill.table}",
                  slot=config.replication.slot_name, publication=config.replication.publication_name)
    seconds = drill.duration_ms / 1000
    if args.scenario == "bridge-kill":
        if args.pid is None:
            raise ConfigError("bridge drill bridge-kill: pass --pid, the pid of the running bridge")
        pid = args.pid
        fault = lambda: os.kill(pid, signal.SIGKILL)  # noqa: E731 - healed by the supervisor's restart
    else:
        side, kind = args.scenario.split("-")
        key, name = (("kafka.proxy", drill.kafka_proxy) if side == "kafka" else ("postgres.proxy", drill.postgres_proxy))
        if drill.toxiproxy_url is None or name is None:
            raise ConfigError(f"bridge drill {args.scenario}: set bridge.drill.toxiproxy.url and bridge.drill.{key} "
                              f"in {args.config} (the Toxiproxy proxy the bridge reaches {side} through)")
        proxy = Toxiproxy(drill.toxiproxy_url).existing(name)
        fault = (held(seconds, lambda: proxy.enabled(False), lambda: proxy.enabled(True)) if kind == "partition"
                 else held(seconds, lambda: proxy.latency(drill.latency_ms), proxy.clear))
    rehearse(args.scenario, stage, fault, timeout=drill.timeout_ms / 1000)
    return ExitCode.OK
