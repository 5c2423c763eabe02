"""`bridge doctor -c FILE`: check PostgreSQL and Kafka against the configuration, read-only.

Prints every finding (severity, what it means, the SQL or setting that fixes it) and exits 0
when none is an error, 2 when one is: what `bridge run` would stop on, or fail on later.
"""

from __future__ import annotations

import argparse

from bridge.commands import add_config_arguments
from bridge.errors import ExitCode

HELP = "check PostgreSQL and Kafka for what would stop or hurt the bridge, with the fix for each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from bridge.commands.check import load_and_warn
    from bridge.kafka import clients
    from bridge.ops.doctor import examine, report
    from bridge.source.checks import Severity
    from bridge.source.connection import connect

    config = load_and_warn(args)
    conn = connect(config.postgres, config.retry)
    try:
        findings = examine(config, conn, clients.admin(config.kafka.connection))
    finally:
        conn.close()
    print("\n".join(report(findings)))
    return ExitCode.CONFIG if any(f.severity is Severity.ERROR for f in findings) else ExitCode.OK
