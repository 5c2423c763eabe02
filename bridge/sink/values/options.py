"""How the source encoded the values a sink decodes: the source connector's options.

A record with schemas (`schemas.enable=true`) says most of it in its Connect schema; schemaless
JSON does not, so the sink must be told the source's `decimal.handling.mode` & co. The keys are
bridge-only (`bridge.sink.<Debezium source key>`), their defaults Debezium's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

PREFIX = "bridge.sink."
PLACEHOLDER = "__debezium_unavailable_value"  # Debezium's unavailable.value.placeholder
# field name -> (the Debezium source key, its allowed values); the first value is Debezium's default
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "decimal_handling_mode": ("decimal.handling.mode", ("precise", "double", "string")),
    "time_precision_mode": (
        "time.precision.mode",
        ("adaptive", "adaptive_time_microseconds", "connect", "isostring", "microseconds", "nanoseconds"),
    ),
    "binary_handling_mode": ("binary.handling.mode", ("bytes", "base64", "base64-url-safe", "hex")),
    "interval_handling_mode": ("interval.handling.mode", ("numeric", "string")),
    "hstore_handling_mode": ("hstore.handling.mode", ("json", "map")),
}


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    decimal_handling_mode: str = "precise"
    time_precision_mode: str = "adaptive"
    binary_handling_mode: str = "bytes"
    interval_handling_mode: str = "numeric"
    hstore_handling_mode: str = "json"
    money_fraction_digits: int = 2  # the scale of MONEY in precise mode, schemaless only
    unavailable_value_placeholder: str = PLACEHOLDER

    def __post_init__(self) -> None:
        for name, (key, allowed) in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"invalid value {getattr(self, name)!r} for {PREFIX}{key}; "
                                  f"allowed: {', '.join(allowed)}")

    @classmethod
    def from_reader(cls, r: PropertyReader) -> DecodeOptions:
        """The options from `bridge.sink.decimal.handling.mode` & co. (Debezium's defaults)."""
        chosen = {name: r.choice(PREFIX + key, allowed[0], allowed) for name, (key, allowed) in CHOICES.items()}
        return cls(**chosen,
                   money_fraction_digits=r.int(PREFIX + "money.fraction.digits", 2, maximum=20),
                   unavailable_value_placeholder=r.str(PREFIX + "unavailable.value.placeholder", PLACEHOLDER))

