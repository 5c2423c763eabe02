"""The Debezium connector options that change how column values are converted.

Names and defaults are Debezium's (`PostgresConnectorConfig`, `CommonConnectorConfig`,
`TemporalPrecisionMode`); the config loader maps `decimal.handling.mode` & co. onto these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

PLACEHOLDER = "__debezium_unavailable_value"  # Debezium's unavailable.value.placeholder
# field name -> (Debezium key, allowed values); the first value is Debezium's default (the sink's
# decoding options name the same modes: bridge.sink.values.options)
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
class ConversionOptions:
    decimal_handling_mode: str = "precise"
    time_precision_mode: str = "adaptive"
    binary_handling_mode: str = "bytes"
    interval_handling_mode: str = "numeric"
    hstore_handling_mode: str = "json"
    money_fraction_digits: int = 2
    unavailable_value_placeholder: str = PLACEHOLDER
    include_unknown_datatypes: bool = False

    def __post_init__(self) -> None:
        for field, (key, allowed) in CHOICES.items():
            value = getattr(self, field)
            if value not in allowed:
                raise ConfigError(f"invalid value {value!r} for {key}; allowed: {', '.join(allowed)}")
        digits = self.money_fraction_digits
        if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
            raise ConfigError(f"invalid value {digits!r} for money.fraction.digits; allowed: an integer >= 0")


def read_conversion(r: PropertyReader) -> ConversionOptions:
    """The options from Debezium's connector keys (`debezium.source.*`)."""
    def choice(field: str) -> str:
        key, allowed = CHOICES[field]
        return r.choice("debezium.source." + key, allowed[0], allowed)

    return ConversionOptions(
        decimal_handling_mode=choice("decimal_handling_mode"),
        time_precision_mode=choice("time_precision_mode"),
        binary_handling_mode=choice("binary_handling_mode"),
        interval_handling_mode=choice("interval_handling_mode"),
        hstore_handling_mode=choice("hstore_handling_mode"),
        money_fraction_digits=r.int("debezium.source.money.fraction.digits", 2, maximum=20),
        unavailable_value_placeholder=r.str("debezium.source.unavailable.value.placeholder", PLACEHOLDER),
        include_unknown_datatypes=r.bool("debezium.source.include.unknown.datatypes", False),
    )
