"""PostgreSQL TLS failures: refused at once with libpq's words, never retried (issue 14)."""

from __future__ import annotations

import psycopg2
import pytest

from bridge.errors import ConnectionFailed, ExitCode
from bridge.retry import RetryConfig
from bridge.source.connection import retrying

FAILED = 'connection to server at "db.example" (10.0.0.5), port 5432 failed: '


@pytest.mark.parametrize("reason", [
    "SSL error: certificate verify failed",
    'server certificate for "db.example" does not match host name "10.0.0.5"',
    'FATAL:  pg_hba.conf rejects connection for host "10.0.0.9", user "u", database "d", no encryption',
    'root certificate file "/etc/ca.pem" does not exist',
    "server does not support SSL, but SSL was required",
])
def test_a_tls_refusal_is_not_retried(reason):
    calls, sleeps = [], []

    def attempt():
        calls.append(1)
        raise psycopg2.OperationalError(FAILED + reason + "\nEither provide the file, ...\n")

    with pytest.raises(ConnectionFailed) as caught:
        retrying("PostgreSQL at db.example:5432", attempt, RetryConfig(5, 10, 100), sleep=sleeps.append)
    assert (len(calls), sleeps) == (1, [])
    assert str(caught.value) == f"cannot connect to PostgreSQL at db.example:5432: {FAILED}{reason}"
    assert caught.value.exit_code == ExitCode.CONNECTION


def test_a_lost_tls_handshake_is_retried():
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise psycopg2.OperationalError(FAILED + "SSL SYSCALL error: EOF detected")
        return "connected"

    assert retrying("PostgreSQL", attempt, RetryConfig(5, 10, 100), sleep=lambda s: None) == "connected"
