"""The one error hierarchy of pgbridge, and every exit code it uses.

Every error a user can cause or meet in operation (bad config, unreachable server, bad
protocol bytes, missing slot) is a `BridgeError`; the CLI prints its message and exits
non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""

import enum


class ExitCode(enum.IntEnum):
    """Every exit status of `bridge` and of its processes (the README has the same table).

    A child process exits with its error's code and the coordinator exits with the first
    failed child's, so a code means the same wherever the failure happened."""

    OK = 0  # stopped cleanly, or snapshot.mode=initial_only finished
    FAILED = 1  # a process was killed or did not stop in time; an error without its own code
    CONFIG = 2
    CONNECTION = 3
    REPLICATION_SETUP = 4
    PROTOCOL = 5
    UNSUPPORTED_TYPE = 6  # a column type, or a value (event.processing.failure.handling.mode=fail)
    DELIVERY = 7
    OVERSIZE_RECORD = 8  # one change does not fit into a ring
    SNAPSHOT_STOPPED = 9  # stopped during the initial snapshot: the next start takes it again
    SCHEMA_REGISTRY = 10  # the schema registry refused a schema (Avro)
    INTERRUPTED = 130  # Ctrl-C before the pipeline ran (the shell's 128 + SIGINT)


class BridgeError(Exception):
    """Base of every expected pgbridge error."""

    exit_code = ExitCode.FAILED


class ConfigError(BridgeError):
    """A configuration file or key is missing, unreadable or has an invalid value."""

    exit_code = ExitCode.CONFIG


class ConnectionFailed(BridgeError):
    """A server (PostgreSQL or Kafka) could not be reached after retrying."""

    exit_code = ExitCode.CONNECTION


class ReplicationSetupError(BridgeError):
    """Slot or publication missing, wrong plugin, or insufficient privileges."""

    exit_code = ExitCode.REPLICATION_SETUP


class ProtocolError(BridgeError):
    """Malformed, truncated or over-long pgoutput bytes.

    `offset` is the byte offset inside the message where decoding failed and `msg_type`
    the one-letter pgoutput message type (or None when the type byte itself is missing).
    """

    exit_code = ExitCode.PROTOCOL

    def __init__(self, reason: str, *, offset: int, msg_type: str | None) -> None:
        self.reason = reason
        self.offset = offset
        self.msg_type = msg_type
        super().__init__(f"pgoutput message {msg_type or '?'!r} at offset {offset}: {reason}")


class UnsupportedType(BridgeError):
    """A column type pgbridge cannot convert (and `include.unknown.datatypes` is false)."""

    exit_code = ExitCode.UNSUPPORTED_TYPE


class ValueNotConverted(UnsupportedType):
    """A column value Debezium cannot convert either (numeric NaN with decimal.handling.mode=precise)
    where the event cannot do without it: a key column, a NOT NULL one without a default, or
    event.converting.failure.handling.mode=fail (`bridge.produce.failures`)."""


class DeliveryError(BridgeError):
    """Kafka permanently refused a record; the slot is not acknowledged past it."""

    exit_code = ExitCode.DELIVERY


class SchemaRegistryFailed(BridgeError):
    """The schema registry refused a schema for good (incompatible, invalid, missing with
    auto.register.schemas=false, not authorised): the records it was for are not produced."""

    exit_code = ExitCode.SCHEMA_REGISTRY
