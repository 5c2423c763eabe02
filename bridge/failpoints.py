"""Named fault points: the places where a test or a drill makes a process crash (or pause) on
purpose, instead of killing it at a random moment and hoping to land there.

They are armed only by the environment, read once when this module is imported:

    PGBRIDGE_FAILPOINTS=before_confirm:kill,mid_snapshot:sleep:500

Actions: `kill` (SIGKILL to the process that reaches the point, as a crash would) and
`sleep:<ms>`. A point is two lines at its place, `if failpoints.ENABLED:` then
`failpoints.hit(failpoints.NAME)`, so a run without the variable pays a global lookup and a false
test there, and none of the points is on a per-row path.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from bridge.errors import ConfigError

log = logging.getLogger(__name__)

ENV = "PGBRIDGE_FAILPOINTS"

# The decoder is about to hand PostgreSQL a new flush LSN: Kafka has acknowledged everything
# before it, the slot does not know yet.
BEFORE_CONFIRM = "before_confirm"
# Exactly once: a producer's records and its position marker are produced, its Kafka
# transaction is not committed.
AFTER_PRODUCE_BEFORE_COMMIT = "after_produce_before_commit"
# The initial snapshot has routed a batch of rows, and is not finished (no permanent slot yet).
MID_SNAPSHOT = "mid_snapshot"

# A sink worker's batch is committed in the target; the dedup window has not recorded it yet.
SINK_BEFORE_DEDUP_RECORD = "sink_before_dedup_record"
# A sink worker's batch is committed in the target and recorded in the dedup window; its Kafka
# offsets are not committed yet.
SINK_BEFORE_KAFKA_COMMIT = "sink_before_kafka_commit"

NAMES = frozenset({BEFORE_CONFIRM, AFTER_PRODUCE_BEFORE_COMMIT, MID_SNAPSHOT, SINK_BEFORE_DEDUP_RECORD,
                   SINK_BEFORE_KAFKA_COMMIT})


def parse(text: str) -> dict[str, float | None]:
    """{point: seconds to sleep, or None to kill} of a PGBRIDGE_FAILPOINTS value."""
    armed: dict[str, float | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, action = item.partition(":")
        if name not in NAMES:
            raise ConfigError(f"{ENV}: unknown fault point {name!r} (known: {', '.join(sorted(NAMES))})")
        if action == "kill":
            armed[name] = None
            continue
        kind, _, ms = action.partition(":")
        if kind != "sleep" or not ms.isdigit():
            raise ConfigError(f"{ENV}: {item!r} has no valid action (kill, or sleep:<ms>)")
        armed[name] = int(ms) / 1000
    return armed


ARMED = parse(os.environ.get(ENV, ""))
ENABLED = bool(ARMED)


def hit(name: str) -> None:
    """Reached `name`: do what PGBRIDGE_FAILPOINTS says for it, if anything."""
    if name not in ARMED:
        return
    sleep_s = ARMED[name]
    if sleep_s is None:
        log.warning("fault point %s: killing process %d", name, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        log.warning("fault point %s: sleeping %.3fs", name, sleep_s)
        time.sleep(sleep_s)
