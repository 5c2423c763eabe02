"""`bridge check -c FILE`: validate the configuration and exit (0 when `bridge run` would accept it)."""

from __future__ import annotations

import argparse
import logging

from bridge.commands import add_config_arguments
from bridge.errors import ExitCode

HELP = "validate the configuration and exit"
log = logging.getLogger("bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def load_and_warn(args: argparse.Namespace):
    """Every section `bridge run` needs; unknown keys are named in one warning."""
    from bridge.config import load_config

    config = load_config(args.config, args.bootstrap_servers)
    if config.unknown_keys:
        log.warning("ignoring unknown configuration keys: %s", ", ".join(config.unknown_keys))
    return config


def main(args: argparse.Namespace) -> int:
    load_and_warn(args)
    print(f"{args.config}: OK")
    return ExitCode.OK
