"""`bridge sink -c FILE`: apply Debezium change events from Kafka to a PostgreSQL target.

FILE is a Debezium JDBC sink connector configuration (Kafka Connect JSON, wrapped or flat, or a
Connect standalone .properties), accepted as it is (`bridge.sink.settings`).
"""

from __future__ import annotations

import argparse
import logging

HELP = "apply Debezium change events from Kafka to PostgreSQL (a Debezium JDBC sink configuration)"
log = logging.getLogger("bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True,
                        help="Debezium JDBC sink connector configuration: Kafka Connect JSON or .properties")
    parser.add_argument("--bootstrap-servers", help="Kafka brokers (overrides bridge.kafka.bootstrap.servers)")
    parser.add_argument("--workers", type=int, help="consumer processes in the group (default: the CPU count)")


def main(args: argparse.Namespace) -> int:
    from bridge.proc.sink_supervisor import run_sink
    from bridge.sink.files import load_sink_config

    config, keys = load_sink_config(args.config, args.bootstrap_servers, args.workers)
    for verdict in keys.ignored:
        log.warning("ignoring %s", verdict.line())
    return run_sink(config, args.log_level or logging.getLevelName(logging.getLogger().level))
