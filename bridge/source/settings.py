"""The source's configuration: which PostgreSQL, which slot and publication, how the slot is
confirmed. Debezium's connector keys (`debezium.source.*`, or unprefixed in a Connect JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

SOURCE = "debezium.source."
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"
_TLS_FILES = ("sslcert", "sslkey", "sslrootcert", "sslpassword")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True, slots=True)
class KeepaliveConfig:
    """TCP keepalives on every PostgreSQL connection (`bridge.source.keepalive.*`), so a silent
    network partition or a vanished server host ends the connection within a bounded time
    (about idle + interval * count seconds; user.timeout.ms bounds data left unacknowledged)
    instead of the kernel's two hours, and pgbridge reconnects."""

    idle_s: int = 30
    interval_s: int = 10
    count: int = 3
    user_timeout_ms: int = 60_000  # 0: the kernel's retransmission timeout (about 15 minutes)

    def libpq(self) -> dict[str, int]:
        return {"keepalives_idle": self.idle_s, "keepalives_interval": self.interval_s,
                "keepalives_count": self.count, "tcp_user_timeout": self.user_timeout_ms}


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    hostname: str
    port: int
    user: str
    password: str = field(repr=False)  # a repr ends up in logs and tracebacks
    dbname: str
    sslmode: str
    connect_timeout_s: int
    # database.sslcert / sslkey / sslrootcert / sslpassword: libpq takes pgjdbc's names as they are
    tls_files: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    keepalives: bool = True  # database.tcpKeepAlive
    keepalive: KeepaliveConfig = field(default_factory=KeepaliveConfig)

    def dsn_kwargs(self) -> dict[str, object]:
        return {
            **dict(self.tls_files),
            "keepalives": 1 if self.keepalives else 0,
            **(self.keepalive.libpq() if self.keepalives else {}),
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout_s,
            "application_name": "pgbridge",
        }


@dataclass(frozen=True, slots=True)
class ReplicationConfig:
    slot_name: str
    publication_name: str
    publication_autocreate_mode: str
    status_update_interval_ms: int
    slot_drop_on_stop: bool = False
    flush_lsn: bool = True  # lsn.flush.mode=manual: never confirm (an external process does)
    # After the decoder has drained the stream it waits this long before reading again, so the
    # next read finds a batch (`bridge.read.coalesce.ms`; 0 = wake for every arrival).
    read_coalesce_ms: int = 2
    # bridge.slot.lost.recovery: a slot dropped or invalidated after streaming stops the start
    # (fail), or is created anew and every table re-read by an incremental snapshot (resnapshot)
    lost_recovery: str = "fail"


@dataclass(frozen=True, slots=True)
class HaConfig:
    """Active/standby (`bridge.ha.*`, `bridge.ops.ha`): off, or one PostgreSQL advisory lock per
    cluster and slot decides which of several instances streams."""

    lock: bool = False  # bridge.ha.mode=lock
    poll_ms: int = 1000  # how often a standby tries the lock and the active checks it holds it


def check_connector(r: PropertyReader) -> None:
    """`connector.class` and `plugin.name` name what pgbridge is, or the file is not for it."""
    connector = r.str(SOURCE + "connector.class", POSTGRES_CONNECTOR)
    if connector != POSTGRES_CONNECTOR:
        raise ConfigError(f"{r.label(SOURCE + 'connector.class')}={connector!r} is invalid: "
                          f"pgbridge is {POSTGRES_CONNECTOR}")
    plugin = r.str(SOURCE + "plugin.name", "pgoutput")
    if plugin.lower() != "pgoutput":  # Debezium compares case-insensitively
        raise ConfigError(
            f"{r.label(SOURCE + 'plugin.name')}={plugin!r} is not supported: pgbridge reads the built-in "
            "pgoutput plugin only (decoderbufs needs a server extension pgbridge does not use)"
        )


def read_postgres(r: PropertyReader) -> PostgresConfig:
    return PostgresConfig(
        hostname=r.str(SOURCE + "database.hostname"),
        port=r.int(SOURCE + "database.port", 5432, minimum=1, maximum=65535),
        user=r.str(SOURCE + "database.user"),
        password=r.raw(SOURCE + "database.password") or "",
        dbname=r.str(SOURCE + "database.dbname"),
        sslmode=r.choice(SOURCE + "database.sslmode", "prefer", SSL_MODES),
        connect_timeout_s=max(1, r.int(SOURCE + "database.connect.timeout.ms", 10_000, minimum=1) // 1000),
        tls_files=tuple((name, value) for name in _TLS_FILES
                        if (value := r.raw(SOURCE + "database." + name))),
        keepalives=r.bool(SOURCE + "database.tcpKeepAlive", True),
        keepalive=KeepaliveConfig(
            idle_s=r.int("bridge.source.keepalive.idle.s", 30, minimum=1, maximum=86_400),
            interval_s=r.int("bridge.source.keepalive.interval.s", 10, minimum=1, maximum=3_600),
            count=r.int("bridge.source.keepalive.count", 3, minimum=1, maximum=100),
            user_timeout_ms=r.int("bridge.source.keepalive.user.timeout.ms", 60_000, minimum=0,
                                  maximum=2**31 - 1)),
    )


def read_replication(r: PropertyReader) -> ReplicationConfig:
    return ReplicationConfig(
        slot_name=_slot_name(r.str(SOURCE + "slot.name", "debezium"), r.label(SOURCE + "slot.name")),
        publication_name=r.str(SOURCE + "publication.name", "dbz_publication"),
        publication_autocreate_mode=r.choice(
            SOURCE + "publication.autocreate.mode",
            "all_tables",
            ("all_tables", "disabled", "filtered", "no_tables"),
        ),
        status_update_interval_ms=r.int(SOURCE + "status.update.interval.ms", 10_000, minimum=1),
        slot_drop_on_stop=r.bool(SOURCE + "slot.drop.on.stop", False),
        flush_lsn=_flush_lsn(r),
        read_coalesce_ms=r.int("bridge.read.coalesce.ms", 2, minimum=0, maximum=1000),
        lost_recovery=r.choice("bridge.slot.lost.recovery", "fail", ("fail", "resnapshot")),
    )


def read_ha(r: PropertyReader) -> HaConfig:
    return HaConfig(lock=r.choice("bridge.ha.mode", "off", ("off", "lock")) == "lock",
                    poll_ms=r.int("bridge.ha.poll.ms", 1000, minimum=10, maximum=60_000))


def _flush_lsn(r: PropertyReader) -> bool:
    """`lsn.flush.mode` (connector | connector_and_driver | manual), or the legacy boolean
    `flush.lsn.source` (false = manual)."""
    legacy = r.raw(SOURCE + "flush.lsn.source")
    mode = r.choice(SOURCE + "lsn.flush.mode", "connector", ("connector", "connector_and_driver", "manual"))
    if legacy is not None and r.raw(SOURCE + "lsn.flush.mode") is None:
        return r.bool(SOURCE + "flush.lsn.source", True)
    return mode != "manual"


def _slot_name(name: str, label: str) -> str:
    # PostgreSQL's rule for slot names (ReplicationSlotValidateName).
    if not name or len(name) > 63 or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in name):
        raise ConfigError(
            f"{label}={name!r} is invalid: allowed are 1-63 characters of "
            "lower-case letters, digits and underscores"
        )
    return name
