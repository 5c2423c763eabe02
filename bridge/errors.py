"""The one error hierarchy of pgbridge.

Every error a user can cause or meet in operation (bad config, unreachable server, bad
protocol bytes, missing slot) is a `BridgeError`; the CLI prints its message and exits
non-zero without a traceback. Anything else is a bug and keeps its traceback.
"""


class BridgeError(Exception):
    """Base of every expected pgbridge error."""

    exit_code = 1


class ConfigError(BridgeError):
    """A configuration file or key is missing, unreadable or has an invalid value."""

    exit_code = 2


class ConnectionFailed(BridgeError):
    """A server (PostgreSQL or Kafka) could not be reached after retrying."""

    exit_code = 3


class ReplicationSetupError(BridgeError):
    """Slot or publication missing, wrong plugin, or insufficient privileges."""

    exit_code = 4


class ProtocolError(BridgeError):
    """Malformed, truncated or over-long pgoutput bytes.

    `offset` is the byte offset inside the message where decoding failed and `msg_type`
    the one-letter pgoutput message type (or None when the type byte itself is missing).
    """

    exit_code = 5

    def __init__(self, reason: str, *, offset: int, msg_type: str | None) -> None:
        self.reason = reason
        self.offset = offset
        self.msg_type = msg_type
        super().__init__(f"pgoutput message {msg_type or '?'!r} at offset {offset}: {reason}")


class UnsupportedType(BridgeError):
    """A column type pgbridge cannot convert (and `include.unknown.datatypes` is false)."""

    exit_code = 6


class DeliveryError(BridgeError):
    """Kafka permanently refused a record; the slot is not acknowledged past it."""

    exit_code = 7
