"""The progress line `bridge sink` prints while it catches up: records behind, rate, ETA.

Once a second while records are behind (every worker's lag and buffer), and once more when it
has caught up. On a terminal (stderr a TTY) the line is rewritten in place; with `--progress`
and no terminal each update is a plain line (logs, CI); neither: nothing.
"""

from __future__ import annotations

from collections import deque
from typing import TextIO

WINDOW_S = 5.0  # the rate is the records written over the last seconds


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:d}:{rest % 60:02d}"


def progress_line(behind: int, rate: float) -> str:
    """`12,345 records behind, 4,321 records/s, ETA 0:03` (`caught up, ...` at 0)."""
    if behind <= 0:
        return f"caught up, {rate:,.0f} records/s"
    return f"{behind:,} records behind, {rate:,.0f} records/s, ETA {eta(behind / rate if rate > 0 else None)}"


class Progress:
    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.samples: deque[tuple[float, int]] = deque()
        self.was_behind = False

    def rate(self, now: float, written: int) -> float:
        self.samples.append((now, written))
        while len(self.samples) > 2 and now - self.samples[0][0] > WINDOW_S:
            self.samples.popleft()
        then, before = self.samples[0]
        return (written - before) / (now - then) if now > then else 0.0

    def update(self, now: float, behind: int, written: int) -> None:
        """Once a second: `behind` records, `written` records so far (all workers)."""
        rate = self.rate(now, written)
        if behind <= 0 and not self.was_behind:
            return
        self.was_behind = behind > 0
        text = "bridge sink: " + progress_line(behind, rate)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K" + ("" if behind > 0 else "\n"))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.was_behind:
            self.stream.write("\n")
            self.stream.flush()
