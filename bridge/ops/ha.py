"""Active/standby: a PostgreSQL advisory lock decides which of several instances streams.

Every instance with `bridge.ha.mode=lock` opens a dedicated SQL connection and tries the
session-level `pg_try_advisory_lock(key)` every `bridge.ha.poll.ms`, where key is a 64-bit hash
of the cluster's system identifier and the slot name (so instances of other slots or clusters
never contend). The one that gets it runs the pipeline as without HA; the others are standbys:
health says STANDBY (alive, not ready) and nothing else runs.

PostgreSQL releases a session lock when the session ends: a clean stop, a crash (the kernel
closes the socket), or a lost host once the server's TCP keepalives give up (this session sets
them, `SERVER_KEEPALIVES`: about 30 s). The active checks every poll that its session still
holds the lock, from a daemon thread so a hung network cannot stall the event loop; a failed
check, or none answered within `LOST_AFTER_S` (shorter than the server's bound, so the old
active has stopped before PostgreSQL frees the lock), means the lock may be someone else's:
the pipeline's processes are killed at once (nothing more reaches Kafka) and the instance exits
with `HaLockLost` for its supervisor to restart it as a standby.

Two more fences stand behind the lock: the slot streams to one walsender at a time, so a new
active cannot read it while the old one's replication connection lives; and with exactly once
each producer's transactional id is the same on every instance, so the new active's start
(`load_resume_points` initialises every id) fences the old producers' transactions.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable

import psycopg2
import psycopg2.extensions

from bridge.errors import HaLockLost
from bridge.source.settings import HaConfig, PostgresConfig

log = logging.getLogger(__name__)

LOST_AFTER_S = 10.0  # the active stops when no lock check has succeeded for this long
# The lock session's own server-side TCP settings (user-settable GUCs): PostgreSQL ends the
# session of a vanished host, and so frees the lock, after 15 + 3 x 5 s of silence at the least.
SERVER_KEEPALIVES = ("-c tcp_keepalives_idle=15 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
                     "-c tcp_user_timeout=30000 -c idle_session_timeout=0 -c statement_timeout=0")
# The client side, so a check on a dead connection fails rather than waits.
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                     "tcp_user_timeout": 10_000}
APPLICATION_NAME = "pgbridge-ha"

_SYSTEM_SQL = "SELECT system_identifier::text FROM pg_control_system()"
_TRY_SQL = "SELECT pg_try_advisory_lock(%s)"
# A bigint advisory lock shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid 1.
_HELD_SQL = """
SELECT l.pid, a.client_addr::text, a.backend_start
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = %s AND l.objid::bigint = %s
"""


def lock_key(system_identifier: str, slot_name: str) -> int:
    """The advisory lock's key: a signed 64-bit hash of the cluster and the slot."""
    digest = hashlib.blake2b(f"{system_identifier}/{slot_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_parts(key: int) -> tuple[int, int]:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


class LeaderLock:
    """The advisory lock on its own connection: `acquire` as a standby, then `watch` as the
    active. `lost` says why the active must stop (None while it holds the lock)."""

    def __init__(self, pg: PostgresConfig, ha: HaConfig, slot_name: str) -> None:
        self._pg = pg
        self._poll_s = ha.poll_ms / 1000
        self._slot = slot_name
        self._conn: psycopg2.extensions.connection | None = None
        self.key: int | None = None
        self.lost: str | None = None
        self._checked = 0.0  # monotonic time of the last check that found the lock held
        self._stopped = threading.Event()

    # -- standby ---------------------------------------------------------------------------------

    async def acquire(self, wait: Callable[[float], Awaitable[bool]], to_thread) -> bool:
        """Try the lock every poll until it is ours (True), or `wait` reports a stop (False).
        `to_thread` runs a blocking call off the event loop (asyncio.to_thread)."""
        said = None
        while True:
            try:
                holder = await to_thread(self._try)
            except psycopg2.Error as exc:
                self._close()
                holder = f"PostgreSQL is not reachable ({_first_line(exc)})"
            if holder is None:
                log.info("HA: this instance holds lock %d (slot %s): active", self.key, self._slot)
                self._checked = time.monotonic()
                return True
            if holder != said:  # once per holder, not once per poll
                log.info("HA: standby: %s; trying again every %d ms", holder, round(self._poll_s * 1000))
                said = holder
            if await wait(self._poll_s):
                self._close()
                return False

    def _try(self) -> str | None:
        """None when the lock is now ours, else who holds it."""
        conn = self._connection()
        with conn.cursor() as cur:
            if self.key is None:
                cur.execute(_SYSTEM_SQL)
                self.key = lock_key(cur.fetchone()[0], self._slot)
            cur.execute(_TRY_SQL, (self.key,))
            if cur.fetchone()[0]:
                return None
            cur.execute(_HELD_SQL, _lock_parts(self.key))
            row = cur.fetchone()
        if row is None:
            return f"lock {self.key} (slot {self._slot}) was just released"
        pid, client, since = row
        return f"lock {self.key} (slot {self._slot}) is held by server process {pid} of {client or 'a local client'}" \
               f" since {since:%Y-%m-%d %H:%M:%S}" if since else f"lock {self.key} is held by server process {pid}"

    def _connection(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(**{**self._pg.dsn_kwargs(), **CLIENT_KEEPALIVES,
                                             "application_name": APPLICATION_NAME, "options": SERVER_KEEPALIVES})
            self._conn.autocommit = True
        return self._conn

    # -- active ----------------------------------------------------------------------------------

    def start_checks(self, on_lost: Callable[[str], None], call_soon: Callable[..., object]) -> None:
        """Check the lock every poll from a daemon thread; `on_lost(reason)` runs on the event
        loop (through `call_soon`, loop.call_soon_threadsafe) once the lock is in doubt."""
        def loop() -> None:
            while not self._stopped.wait(self._poll_s):
                reason = self._check()
                if reason is not None and not self._stopped.is_set():  # not closed meanwhile
                    self._stopped.set()
                    try:
                        call_soon(self._lose, reason, on_lost)
                    except RuntimeError:  # the event loop has closed: the instance is exiting anyway
                        pass
                    return
        threading.Thread(target=loop, name="pgbridge-ha-lock", daemon=True).start()

    def overdue(self, now: float | None = None) -> bool:
        """Whether no check has confirmed the lock for LOST_AFTER_S (a check hangs)."""
        return (self.lost is None and not self._stopped.is_set()
                and (now or time.monotonic()) - self._checked > LOST_AFTER_S)

    def check_overdue(self, on_lost: Callable[[str], None]) -> None:
        """Called on the event loop: a hung check counts as a lost lock."""
        if self.overdue():
            self._stopped.set()
            self._lose(f"no lock check answered within {LOST_AFTER_S:.0f}s", on_lost)

    def _check(self) -> str | None:
        try:
            with self._conn.cursor() as cur:
                cur.execute(_HELD_SQL + " AND l.pid = pg_backend_pid()", _lock_parts(self.key))
                held = cur.fetchone() is not None
        except psycopg2.Error as exc:
            return f"its connection failed: {_first_line(exc)}"
        if not held:
            return "its session no longer holds it"
        self._checked = time.monotonic()
        return None

    def _lose(self, reason: str, on_lost: Callable[[str], None]) -> None:
        if self.lost is not None:
            return
        self.lost = f"HA: lock {self.key} of slot {self._slot} lost ({reason}); stopped at once so that only one " \
                    "instance streams: restart this instance (it waits as a standby)"
        on_lost(self.lost)

    async def confirm(self, on_lost: Callable[[str], None]) -> None:
        """Check once now (after a pipeline run ended: did it end because the lock went?)."""
        if self.lost is not None or self._stopped.is_set():
            return
        try:
            reason = await asyncio.wait_for(asyncio.to_thread(self._check), LOST_AFTER_S)
        except asyncio.TimeoutError:
            reason = f"no lock check answered within {LOST_AFTER_S:.0f}s"
        if reason is not None:
            self._stopped.set()
            self._lose(reason, on_lost)

    def raise_if_lost(self) -> None:
        if self.lost is not None:
            raise HaLockLost(self.lost)

    def close(self) -> None:
        """Release the lock (closing its session) so a standby takes over at once."""
        self._stopped.set()
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
