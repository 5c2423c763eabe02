"""The format section: which converter writes keys and values.

Debezium Server names a format (`debezium.format.value=json`); a Kafka Connect JSON names a
converter class (`value.converter=org.apache.kafka.connect.json.JsonConverter`), which
`bridge.config.files` files under the same key. Either spelling is read here.
"""

from __future__ import annotations

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

JSON = "json"
# Converter classes by the Debezium Server format name they are.
_CLASSES = {"org.apache.kafka.connect.json.JsonConverter": JSON}
_SUPPORTED = (JSON,)


def read_format(r: PropertyReader, side: str) -> str:
    """`debezium.format.<side>` (side: key, value, header) as a format name."""
    key = f"debezium.format.{side}"
    value = r.raw(key) or JSON
    name = _CLASSES.get(value, value.lower())
    if name not in _SUPPORTED:
        raise ConfigError(f"{r.label(key)}={value!r} is not supported: pgbridge writes "
                          f"{', '.join(_SUPPORTED)} ({', '.join(_CLASSES)})")
    return name
