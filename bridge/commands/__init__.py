"""The `bridge` subcommands, one module each.

A command module defines `HELP` (one line), `add_arguments(parser)` and `main(args) -> int`,
and reads only the configuration sections it needs. Module-level imports stay light so that
`bridge --help` and `bridge check` start fast; a command imports its machinery in `main`.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# name -> module; the order is the order of `bridge --help`
COMMANDS = {
    "run": "bridge.commands.run",
    "check": "bridge.commands.check",
    "slot": "bridge.commands.slot",
    "doctor": "bridge.commands.doctor",
    "sink": "bridge.commands.sink",
    "drill": "bridge.commands.drill",
}


def command(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`-c FILE` and `--bootstrap-servers`, as every command that reads the bridge's file takes them."""
    parser.add_argument("-c", "--config", required=True,
                        help="Debezium Server application.properties, or a Kafka Connect connector JSON")
    parser.add_argument("--bootstrap-servers", help="Kafka brokers (overrides the configuration's)")
