"""`bridge sink -c FILE`: apply Debezium change events from Kafka to a PostgreSQL target.

FILE is a Debezium JDBC sink connector configuration (Kafka Connect JSON, wrapped or flat, or a
Connect standalone .properties), accepted as it is (`bridge.sink.settings`).

`bridge sink replay --from-dlq TOPIC -c FILE` re-applies the records dead-lettered into TOPIC
(`bridge.sink.replay`) and stops.
"""

from __future__ import annotations

import argparse
import logging

from bridge.errors import ConfigError

HELP = "apply Debezium change events from Kafka to PostgreSQL (a Debezium JDBC sink configuration)"
log = logging.getLogger("bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("replay",),
                        help="replay: re-apply the dead letters of --from-dlq TOPIC, then stop")
    parser.add_argument("--from-dlq", metavar="TOPIC", help="with replay: the dead-letter topic to re-apply")
    parser.add_argument("-c", "--config", required=True,
                        help="Debezium JDBC sink connector configuration: Kafka Connect JSON or .properties")
    parser.add_argument("--bootstrap-servers", help="Kafka brokers (overrides bridge.kafka.bootstrap.servers)")
    parser.add_argument("--workers", type=int, help="consumer processes in the group (default: the CPU count)")
    parser.add_argument("--progress", action="store_true",
                        help="print records behind, rate and ETA once a second while catching up (plain lines "
                             "when stderr is not a terminal; on a terminal the line is shown anyway)")


def main(args: argparse.Namespace) -> int:
    from bridge.proc.sink_supervisor import run_sink
    from bridge.sink.files import load_sink_config
    from bridge.sink.preflight import check

    if (args.action == "replay") != bool(args.from_dlq):
        raise ConfigError("bridge sink replay takes --from-dlq TOPIC, and --from-dlq only goes with replay")
    config, keys = load_sink_config(args.config, args.bootstrap_servers, args.workers)
    for verdict in keys.ignored:
        log.warning("ignoring %s", verdict.line())
    check(config)
    if args.action == "replay":
        from bridge.sink.replay import replay

        return replay(config, args.from_dlq)
    return run_sink(config, args.log_level or logging.getLevelName(logging.getLogger().level), args.progress)
