"""`bridge` command line: `bridge run -c application.properties`.

Expected failures (`BridgeError`: bad config, unreachable servers, missing slot, ...) print one
line naming the problem and exit with the error's code; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bridge import __version__
from bridge.errors import BridgeError

log = logging.getLogger("bridge")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description="PostgreSQL logical replication to Kafka, Debezium-compatible")
    parser.add_argument("--version", action="version", version=f"pgbridge {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "stream changes from PostgreSQL into Kafka until stopped"),
                       ("check", "validate the configuration and exit")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("-c", "--config", required=True,
                         help="Debezium Server application.properties, or a Kafka Connect connector JSON")
        cmd.add_argument("--bootstrap-servers", help="Kafka brokers (overrides the configuration's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _dispatch(args)
    except BridgeError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from bridge.config import load_config

    config = load_config(args.config, args.bootstrap_servers)
    if config.unknown_keys:
        log.warning("ignoring unknown configuration keys: %s", ", ".join(config.unknown_keys))
    if args.command == "check":
        print(f"{args.config}: OK")
        return 0

    from bridge.wiring import run

    return run(config)


if __name__ == "__main__":
    sys.exit(main())
