"""`bridge check -c FILE`: what pgbridge will honour, refuse and ignore of the configuration.

Exits 0 when `bridge run` would accept the file, 2 (a configuration error) when a key is
refused or a value is invalid. Values are never printed: a key can hold a secret.
"""

from __future__ import annotations

import argparse
import logging

from bridge.commands import add_config_arguments
from bridge.errors import ExitCode

HELP = "report what the configuration's keys will do (honoured, refused, ignored) and exit"
log = logging.getLogger("bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def load_and_warn(args: argparse.Namespace, file=None):
    """Every section `bridge run` needs; a refused key stops it, an ignored one is a warning.
    `file`: the configuration file as already read (`bridge.config.ConfigFile`)."""
    from bridge.config import config_from_properties, load_config

    from bridge.logsettings import apply_logging

    if file is None:
        config = load_config(args.config, args.bootstrap_servers)
    else:
        config = config_from_properties(dict(file.props), file.labels, secrets=file.secrets, connect=file.connect)
    apply_logging(config.logging, args.log_level)
    for verdict in config.keys.ignored:
        log.warning("ignoring %s", verdict.line())
    return config


def main(args: argparse.Namespace) -> int:
    from bridge.config import load_config

    keys = load_config(args.config, args.bootstrap_servers, refuse=False).keys
    for title, verdicts in (("honoured", keys.honoured), ("ignored", keys.ignored), ("refused", keys.refused)):
        print(f"{title} ({len(verdicts)}):")
        for verdict in verdicts:
            print(f"  {verdict.line()}")
    if keys.refused:
        print(f"{args.config}: REFUSED ({len(keys.refused)} key(s))")
        return ExitCode.CONFIG
    print(f"{args.config}: OK")
    return ExitCode.OK
