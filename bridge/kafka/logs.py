"""librdkafka's own log lines through Python logging, one line per broker and kind of problem.

Without a `logger`, librdkafka writes `%3|1700000000.123|FAIL|rdkafka#producer-1| ...` to
stderr itself, once per reconnect attempt: a broker outage floods the log. Every client
pgbridge builds (`bridge.kafka.clients`) gets the one `LibrdkafkaLog` of its process instead;
confluent-kafka calls it from `poll()`/`flush()` as
`log(level, "%s [%s] %s", facility, client name, message)` with a Python level. The first
line of a kind (facility, broker, the message with its numbers blanked) is logged at once;
repeats within `window_s` are counted, and the next one after the window is logged with
that count. Logged through `bridge.kafka.librdkafka`, with the bridge's one formatter.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Callable

WINDOW_S = 30.0
MAX_KINDS = 1000  # kinds remembered; past it the memory starts over (a burst of distinct lines)

_THREAD = re.compile(r"^\[thrd:[^\]]*\]: ")  # "[thrd:127.0.0.1:9092/bootstrap]: "
_BROKER = re.compile(r"^(\S+?:\d+)(?:/\S*)?: ")  # "127.0.0.1:9092/bootstrap: ", "sasl_ssl://h:9093/1: "
_NUMBER = re.compile(r"\d+")


@dataclass(slots=True)
class _Seen:
    since: float  # when its window started: the last time a line of this kind was logged
    repeats: int = 0  # lines of this kind swallowed since


class LibrdkafkaLog:
    """The `logger` of every Kafka client: librdkafka's lines, rate-limited, into Python logging."""

    def __init__(self, target: logging.Logger | None = None, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target or logging.getLogger("bridge.kafka.librdkafka")
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, str, str], _Seen] = {}

    def log(self, level: int, _format: str, facility: str = "", client: str = "", message: str = "",
            *_rest: object) -> None:
        text = _THREAD.sub("", str(message))
        broker = _BROKER.match(text)
        kind = (str(facility), broker[1] if broker else "", _NUMBER.sub("#", text[broker.end():] if broker else text))
        now = self._clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.since < self.window_s:
            seen.repeats += 1
            return
        if len(self._seen) >= MAX_KINDS:
            self._seen.clear()
        self._seen[kind] = _Seen(now)
        if seen is not None and seen.repeats:
            self.target.log(level, "librdkafka %s %s: %s (and %d more like it in the last %.0fs)", client, facility,
                            text, seen.repeats, now - seen.since)
        else:
            self.target.log(level, "librdkafka %s %s: %s", client, facility, text)


# One per process: the limit holds across the process's clients.
LIBRDKAFKA_LOG = LibrdkafkaLog()
