"""Opening PostgreSQL connections with retry and backoff, and one clear error at the end."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from bridge.convert.values import REPLICATION_SESSION_OPTIONS
from bridge.errors import ConnectionFailed, ReplicationSetupError
from bridge.retry import RetryConfig
from bridge.source.settings import PostgresConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


def retrying(what: str, attempt: Callable[[], T], retry: RetryConfig, *, sleep=time.sleep) -> T:
    """Call `attempt` until it succeeds; between failures wait with exponential backoff.

    Only connection-level failures (`psycopg2.OperationalError` not caused by authentication
    or TLS) are retried: a wrong password, a missing database, a certificate that does not
    verify or a server that refuses an unencrypted connection will not fix itself.
    """
    backoff = retry.initial_backoff_ms / 1000
    for number in range(1, retry.attempts + 1):
        try:
            return attempt()
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if permanent_failure(reason):
                raise ConnectionFailed(f"cannot connect to {what}: {reason}") from None
            if number == retry.attempts:
                raise ConnectionFailed(
                    f"cannot connect to {what} after {retry.attempts} attempts: {reason}"
                ) from None
            log.warning("cannot connect to %s (attempt %d/%d): %s; retrying in %.1fs",
                        what, number, retry.attempts, reason, backoff)
            sleep(backoff)
            backoff = min(backoff * 2, retry.max_backoff_ms / 1000)
    raise AssertionError("unreachable")


def permanent_failure(reason: str) -> bool:
    """Whether libpq's `reason` is one a retry cannot fix (credentials, TLS, a missing database)."""
    return any(
        marker in reason
        for marker in ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                       "permission denied", "pg_hba.conf rejects", "certificate verify failed",
                       "does not match host name", "server does not support SSL", "certificate file")
    )


# What broke a connection, from the SQLSTATE or libpq's own message (psycopg2 often says only
# "error with status PGRES_COPY_BOTH and no message from the libpq" while libpq knows the cause).
_CAUSES_BY_CODE = {
    "57P01": "terminated by an administrator (SQLSTATE 57P01: pg_terminate_backend, or the server shutting down)",
    "57P02": "the server is restarting after another process crashed (SQLSTATE 57P02)",
    "57P03": "the server is not accepting connections (SQLSTATE 57P03: starting up or shutting down)",
}
_CAUSES_BY_TEXT = (
    # the server's message without its SQLSTATE (psycopg2's COPY_BOTH error carries no pgcode;
    # libpq's text still holds the FATAL, often followed by "server closed the connection")
    ("terminating connection due to administrator command", _CAUSES_BY_CODE["57P01"]),
    ("replication timeout", "the server's wal_sender_timeout ended it (no status update from pgbridge in time)"),
    ("server closed the connection", "the server closed the connection (a server crash or restart, or a proxy "
                                     "or firewall dropping it)"),
    ("timed out", "the connection timed out: the server or the network stopped answering (TCP keepalive or "
                  "bridge.source.keepalive.user.timeout.ms)"),
    ("reset by peer", "the connection was reset (the network or the server's host)"),
    ("EOF detected", "the server closed the connection (a server crash or restart, or a proxy or firewall "
                     "dropping it)"),
    ("no connection to the server", "the connection was already closed"),
)


def connection_loss(exc: psycopg2.Error, conn: psycopg2.extensions.connection | None) -> str:
    """Why `conn` broke, as `<cause>: <what the server or libpq said>`."""
    detail = str(exc).strip()
    libpq = ""
    if conn is not None:
        try:
            libpq = conn.info.error_message or ""
        except psycopg2.Error:  # the connection object itself is gone
            pass
    said = " ".join(line.strip() for line in (libpq.strip() or detail).splitlines()[:2])
    said = said.removeprefix("FATAL:").strip() or type(exc).__name__
    cause = _CAUSES_BY_CODE.get(getattr(exc, "pgcode", None) or "")
    if cause is None:
        cause = next((why for marker, why in _CAUSES_BY_TEXT if marker in f"{libpq} {detail}"), None)
    return f"{cause}: {said}" if cause else said


def describe(pg: PostgresConfig) -> str:
    return f"PostgreSQL at {pg.hostname}:{pg.port} (database {pg.dbname!r}, user {pg.user!r})"


def connect(pg: PostgresConfig, retry: RetryConfig) -> psycopg2.extensions.connection:
    """A normal SQL connection (catalog queries, slot and publication management)."""
    conn = retrying(describe(pg), lambda: psycopg2.connect(**pg.dsn_kwargs()), retry)
    conn.autocommit = True
    return conn


def connect_replication(pg: PostgresConfig, retry: RetryConfig) -> psycopg2.extras.LogicalReplicationConnection:
    """A logical replication (walsender) connection."""

    def attempt():
        try:
            return psycopg2.connect(
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                options=REPLICATION_SESSION_OPTIONS,
                **pg.dsn_kwargs(),
            )
        except psycopg2.OperationalError as exc:
            # (a pg_hba.conf that refuses an unencrypted connection is not about replication)
            if ("replication" in str(exc) and ("pg_hba.conf" in str(exc) or "permission" in str(exc))
                    and "no encryption" not in str(exc)):
                raise ReplicationSetupError(
                    f"{describe(pg)} refused a replication connection: {str(exc).strip()}. "
                    "The user needs the REPLICATION attribute and a `replication` line in pg_hba.conf."
                ) from None
            raise

    return retrying(describe(pg) + " (replication)", attempt, retry)


class LazyConnection:
    """A normal connection opened on first `cursor()`: processes that rarely need the catalog
    do not hold a connection they never use."""

    def __init__(self, pg: PostgresConfig, retry: RetryConfig) -> None:
        self._pg = pg
        self._retry = retry
        self._conn: psycopg2.extensions.connection | None = None

    def cursor(self):
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._pg, self._retry)
        return self._conn.cursor()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
