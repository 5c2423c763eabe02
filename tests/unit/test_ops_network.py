"""Network faults, no server: librdkafka's log lines rate-limited into Python logging, the
cause of a broken PostgreSQL connection named, TCP keepalives on every connection."""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.errors
import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.kafka import clients
from bridge.kafka.logs import LIBRDKAFKA_LOG, LibrdkafkaLog
from bridge.source.connection import connection_loss

REFUSED = ("[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection "
           "refused (after {}ms in state CONNECT)")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(caplog):
    clock = Clock()
    log = LibrdkafkaLog(logging.getLogger("test.librdkafka"), window_s=30, clock=clock)
    caplog.set_level(logging.DEBUG, logger="test.librdkafka")
    return log, clock, caplog


def lines(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_the_first_line_of_a_kind_is_logged_at_its_level_without_the_thread_prefix(limited):
    log, _, caplog = limited
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(0))
    assert lines(caplog) == [(logging.ERROR, "librdkafka rdkafka#producer-1 FAIL: 127.0.0.1:1/bootstrap: Connect to "
                                             "ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state "
                                             "CONNECT)")]


def test_repeats_within_the_window_are_counted_then_summarised_once(limited):
    log, clock, caplog = limited
    for i in range(200):  # a reconnect every 50 ms for 10 s, numbers changing
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(i))
        clock.now += 0.05
    assert len(caplog.records) == 1
    clock.now = 131.0
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(3))
    assert len(caplog.records) == 2
    assert caplog.records[1].getMessage().endswith("(after 3ms in state CONNECT) (and 199 more like it in the "
                                                   "last 31s)")
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", REFUSED.format(3))
    assert len(caplog.records) == 2  # a new window started with the summary


def test_each_broker_and_each_kind_has_its_own_limit(limited):
    log, _, caplog = limited
    other_broker = REFUSED.replace("127.0.0.1:1", "10.0.0.2:9092")
    for message in (REFUSED.format(0), other_broker.format(0), REFUSED.format(1)):
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", message)
    log.log(logging.WARNING, "%s [%s] %s", "REQTMOUT", "rdkafka#producer-1",
            "127.0.0.1:1/1: Timed out 1 in-flight request(s)")
    log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1",
            "127.0.0.1:1/bootstrap: SASL authentication error: Authentication failed")
    assert len(caplog.records) == 4


def test_every_client_is_built_with_the_process_wide_logger(monkeypatch):
    built = []
    monkeypatch.setattr(clients, "AdminClient", lambda conf: built.append(conf))
    config = config_from_properties({"debezium.sink.kafka.producer.bootstrap.servers": "k:9092",
                                     "debezium.source.database.hostname": "h", "debezium.source.database.user": "u",
                                     "debezium.source.database.dbname": "d", "debezium.source.topic.prefix": "p"})
    clients.admin(config.kafka.connection)
    assert built[0]["logger"] is LIBRDKAFKA_LOG


class _Conn:
    class info:
        error_message = ("server closed the connection unexpectedly\n\tThis probably means the server terminated "
                         "abnormally\n\tbefore or while processing the request.\n")


def test_a_silent_libpq_error_is_named_from_libpqs_own_message():
    exc = psycopg2.DatabaseError("error with status PGRES_COPY_BOTH and no message from the libpq")
    assert connection_loss(exc, _Conn()) == (
        "the server closed the connection (a server crash or restart, or a proxy or firewall dropping it): server "
        "closed the connection unexpectedly This probably means the server terminated abnormally")


def test_a_terminated_backend_is_named_by_its_sqlstate():
    class AdminShutdown(psycopg2.errors.AdminShutdown):
        pgcode = "57P01"  # what the server's ErrorResponse sets (read-only on psycopg2's own)

    class Conn:
        class info:
            error_message = "FATAL:  terminating connection due to administrator command\n"

    assert connection_loss(AdminShutdown("terminating connection due to administrator command\n"), Conn()) == (
        "terminated by an administrator (SQLSTATE 57P01: pg_terminate_backend, or the server shutting down): "
        "terminating connection due to administrator command")


def test_a_terminated_backend_is_named_from_libpqs_message_when_psycopg2_gives_no_sqlstate():
    class Conn:
        class info:
            error_message = ("FATAL:  terminating connection due to administrator command\nserver closed the "
                             "connection unexpectedly\n")

    exc = psycopg2.DatabaseError("error with status PGRES_COPY_BOTH and no message from the libpq")
    assert connection_loss(exc, Conn()) == (
        "terminated by an administrator (SQLSTATE 57P01: pg_terminate_backend, or the server shutting down): "
        "terminating connection due to administrator command server closed the connection unexpectedly")


def test_a_timeout_and_an_unknown_cause():
    assert connection_loss(psycopg2.OperationalError("could not receive data from server: Connection timed out"),
                           None).startswith("the connection timed out: ")
    assert connection_loss(psycopg2.OperationalError("something new"), None) == "something new"


BASE = {"debezium.sink.kafka.producer.bootstrap.servers": "k:9092", "debezium.source.database.hostname": "h",
        "debezium.source.database.user": "u", "debezium.source.database.dbname": "d",
        "debezium.source.topic.prefix": "p"}


def test_keepalives_are_on_by_default_with_bounded_detection():
    kwargs = config_from_properties(BASE).postgres.dsn_kwargs()
    assert {k: kwargs[k] for k in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                   "tcp_user_timeout")} == {"keepalives": 1, "keepalives_idle": 30,
                                                            "keepalives_interval": 10, "keepalives_count": 3,
                                                            "tcp_user_timeout": 60_000}


def test_keepalive_keys_and_tcp_keep_alive_false():
    config = config_from_properties({**BASE, "bridge.source.keepalive.idle.s": "5",
                                     "bridge.source.keepalive.interval.s": "2", "bridge.source.keepalive.count": "4",
                                     "bridge.source.keepalive.user.timeout.ms": "0"})
    kwargs = config.postgres.dsn_kwargs()
    assert (kwargs["keepalives_idle"], kwargs["keepalives_interval"], kwargs["keepalives_count"],
            kwargs["tcp_user_timeout"]) == (5, 2, 4, 0)
    off = config_from_properties({**BASE, "debezium.source.database.tcpKeepAlive": "false"}).postgres.dsn_kwargs()
    assert off["keepalives"] == 0 and "keepalives_idle" not in off
    with pytest.raises(ConfigError, match="bridge.source.keepalive.idle.s"):
        config_from_properties({**BASE, "bridge.source.keepalive.idle.s": "0"})
