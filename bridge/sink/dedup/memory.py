"""The in-memory dedup window of one worker: an LRU of identities, each kept at most `ttl`."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Iterable


class MemoryWindow:
    def __init__(self, size: int, ttl_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl_ms / 1000
        self.clock = clock
        self._expiry: OrderedDict[bytes, float] = OrderedDict()  # identity -> when it leaves, oldest first

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, identities: list[bytes]) -> list[bool]:
        now = self.clock()
        found = []
        for ident in identities:
            expiry = self._expiry.get(ident)
            if expiry is not None and expiry <= now:
                del self._expiry[ident]
                expiry = None
            found.append(expiry is not None)
        return found

    def record(self, identities: Iterable[bytes]) -> None:
        expiry = self.clock() + self.ttl
        window = self._expiry
        for ident in identities:
            window[ident] = expiry
            window.move_to_end(ident)
        while len(window) > self.size:
            window.popitem(last=False)
