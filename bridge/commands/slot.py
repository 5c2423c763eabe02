"""`bridge slot status|create|drop|advance|recreate -c FILE`: inspect and repair the bridge's
replication slot (`slot.name` of the configuration).

`status` only reads (a table, or `--json`). The others print what they will do and what it
costs first; `drop`, `advance` and `recreate` then ask, or need `--yes` when no one can answer
(no terminal). They refuse to act on a slot a process is streaming from.
"""

from __future__ import annotations

import argparse
import json
import sys

from bridge.commands import add_config_arguments
from bridge.errors import ConfigError, ExitCode

HELP = "show the replication slot's lag and WAL status, or create, drop, advance or recreate it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="the slot, its positions and lag, the publication's tables")
    status.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    create = actions.add_parser("create", help="create the slot at the current WAL position")
    create.add_argument("--at-current", action="store_true",
                        help="create it although snapshot.mode would take an initial snapshot for a missing slot")
    actions.add_parser("drop", help="drop the slot (frees its WAL; changes until the next start are not streamed)")
    advance = actions.add_parser("advance", help="move the slot forward, skipping the changes in between")
    advance.add_argument("--to", required=True, metavar="LSN", help="target LSN, as 16/B374D848 or a number")
    recreate = actions.add_parser("recreate", help="disaster recovery: replace the slot by a new one")
    recreate.add_argument("--from", dest="known_good", required=True, metavar="LSN",
                          help="the last position known to be in Kafka (pgbridge_confirmed_lsn, a Debezium offset)")
    for sub in (status, create, *(actions.choices[name] for name in ("drop", "advance", "recreate"))):
        add_config_arguments(sub)
    for sub in (actions.choices["drop"], advance, recreate):
        sub.add_argument("--yes", action="store_true", help="do it without asking")


def main(args: argparse.Namespace) -> int:
    # Only the sections a slot tool needs (PostgreSQL, the slot, retries, the snapshot mode): it
    # also serves a file `bridge run` would refuse for an unrelated key.
    from bridge.config import read_config_file
    from bridge.logsettings import apply_logging, read_logging
    from bridge.ops import slot_tools
    from bridge.retry import read_retry
    from bridge.snapshot.initial import needs_snapshot
    from bridge.snapshot.settings import read_snapshot
    from bridge.source.connection import connect
    from bridge.source.settings import read_postgres, read_replication

    r = read_config_file(args.config, args.bootstrap_servers).reader()
    apply_logging(read_logging(r), args.log_level)
    rep = read_replication(r)
    conn = connect(read_postgres(r), read_retry(r))
    try:
        status = slot_tools.read_status(conn, rep.slot_name, rep.publication_name)
        if args.action == "status":
            print(json.dumps(status.as_json(), indent=2) if args.json else "\n".join(status.lines()))
            return ExitCode.OK
        if args.action == "create":
            mode = read_snapshot(r).mode
            plan = slot_tools.plan_create(status, mode, needs_snapshot(mode, False), args.at_current)
        elif args.action == "drop":
            plan = slot_tools.plan_drop(status)
        elif args.action == "advance":
            plan = slot_tools.plan_advance(status, slot_tools.parse_lsn_argument(args.to))
        else:
            plan = slot_tools.plan_recreate(status, slot_tools.parse_lsn_argument(args.known_good))
        for line in plan.lines():
            print(line)
        if plan.destructive:
            confirm(args.yes, plan.action)
        slot_tools.carry_out(conn, plan, print)
        return ExitCode.OK
    finally:
        conn.close()


def confirm(yes: bool, action: str, *, stdin=None, ask=input) -> None:
    """Go on with `--yes`, or when a terminal user answers y; otherwise stop (exit 2)."""
    stdin = stdin or sys.stdin
    if yes:
        return
    if not stdin.isatty():
        raise ConfigError(f"bridge slot {action}: not done; no terminal to ask, pass --yes to do it")
    if ask("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
        raise ConfigError(f"bridge slot {action}: not done (not confirmed)")
