"""`bridge run -c FILE`: stream changes from PostgreSQL into Kafka until stopped; SIGHUP reloads
the file's Kafka credentials and certificates (`bridge.ops.reload`)."""

from __future__ import annotations

import argparse

from bridge.commands import add_config_arguments

HELP = "stream changes from PostgreSQL into Kafka until stopped"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from bridge.commands.check import load_and_warn
    from bridge.ops.reload import Reloader
    from bridge.wiring import run

    reloader = Reloader(args.config, args.bootstrap_servers)
    return run(load_and_warn(args, reloader.file), reloader)
