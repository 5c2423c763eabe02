"""`bridge` command line: `bridge <command> ...`, the commands in `bridge.commands`.

Expected failures (`BridgeError`: bad config, unreachable servers, missing slot, ...) print one
line naming the problem and exit with the error's code; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bridge import __version__
from bridge.commands import COMMANDS, command
from bridge.errors import BridgeError, ExitCode

log = logging.getLogger("bridge")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description="PostgreSQL logical replication to Kafka, Debezium-compatible")
    parser.add_argument("--version", action="version", version=f"pgbridge {__version__}")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="default: quarkus.log.level of the configuration, else INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = command(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level or "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return command(args.command).main(args)
    except BridgeError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
