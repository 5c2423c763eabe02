"""What the dedup window does to a batch: skip the records applied within it, and afterwards
record the ones the batch applied.

A record's identity is its topic, its key bytes and its source LSN (`source.lsn`: a change
delivered twice, by Kafka's redelivery or by the source, carries the same one), or else its
partition and offset (redelivery only). An identity is recorded only after the target
transaction that applied the record has committed: one recorded before a crash would skip a
change that was never applied, a loss; one not yet recorded when the sink dies costs at most a
duplicate, which is what the sink without a window would do anyway.

The window is on when `bridge.sink.dedup.size` > 0 and the sink has no exactly-once guard of its
own: `bridge.sink.ordering.guard=none` or `bridge.sink.offsets=kafka`. With the LSN guard and
offsets in the target (the default) nothing is delivered twice to the target and the window is off.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from bridge.sink.dedup.memory import MemoryWindow
from bridge.sink.records import Change
from bridge.sink.settings import SinkConfig

log = logging.getLogger(__name__)


def active(config: SinkConfig) -> bool:
    return config.dedup.enabled and (config.ordering_guard == "none" or config.offsets == "kafka")


def identity(message, change: Change) -> bytes:
    key = message.key() or b""
    h = hashlib.blake2b(message.topic().encode(), digest_size=16)
    h.update(len(key).to_bytes(4, "big"))
    h.update(key)
    if change.lsn is not None:
        h.update(b"L%d" % change.lsn)
    else:
        h.update(b"O%d:%d" % (message.partition(), message.offset()))
    return h.digest()


class DedupWindow:
    def __init__(self, store) -> None:
        self.store = store  # MemoryWindow or RedisWindow: seen(identities), record(identities)

    def fresh(self, pairs: list[tuple[object, Change]]) -> tuple[list, list[bytes], int]:
        """The (record, change) pairs not seen within the window nor earlier in the batch, their
        identities, and how many were skipped."""
        idents = [identity(m, c) for m, c in pairs]
        seen = self.store.seen(idents) if idents else []
        kept, kept_ids, batch = [], [], set()
        for pair, ident, hit in zip(pairs, idents, seen):
            if hit or ident in batch:
                continue
            batch.add(ident)
            kept.append(pair)
            kept_ids.append(ident)
        return kept, kept_ids, len(pairs) - len(kept)

    def applied(self, pairs: list, idents: list[bytes], refused: list) -> None:
        """After the commit: record the pairs the batch applied (all but the `refused` records)."""
        if refused:
            out = {id(m) for m, _ in refused}
            idents = [i for (m, _), i in zip(pairs, idents) if id(m) not in out]
        self.store.record(idents)


def window_for(config: SinkConfig, stop: threading.Event) -> DedupWindow | None:
    """The worker's window, None when it is off."""
    if not active(config):
        if config.dedup.redis_url:
            log.warning("bridge.sink.dedup.redis.url is not used: with bridge.sink.ordering.guard=lsn and "
                        "bridge.sink.offsets=target no record reaches the target twice")
        return None
    if config.dedup.redis_url:
        from bridge.sink.dedup.redis_store import RedisWindow

        return DedupWindow(RedisWindow(config.dedup, config.group, stop))
    return DedupWindow(MemoryWindow(config.dedup.size, config.dedup.ttl_ms))
