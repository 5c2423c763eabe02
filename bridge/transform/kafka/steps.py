"""Each Kafka transform class and the step it compiles to (`bridge.transform.chain` adds them
to its table). TimestampRouter has none: it is refused at start (`names`)."""

from __future__ import annotations

from bridge.transform.kafka.cast import Cast
from bridge.transform.kafka.extract import ExtractField, HoistField, ValueToKey
from bridge.transform.kafka.fields import InsertField, MaskField, ReplaceField
from bridge.transform.kafka.flatten import Flatten
from bridge.transform.kafka.headers import DropHeaders, HeaderFrom, InsertHeader
from bridge.transform.kafka.metadata import Filter, SetSchemaMetadata
from bridge.transform.kafka.names import DROP_HEADERS, FILTER, INSERT_HEADER, K, VALUE_TO_KEY
from bridge.transform.kafka.timestamps import TimestampConverter

_SIDED = {"HeaderFrom": HeaderFrom, "InsertField": InsertField, "ReplaceField": ReplaceField, "MaskField": MaskField,
          "ExtractField": ExtractField, "HoistField": HoistField, "Cast": Cast, "TimestampConverter": TimestampConverter,
          "Flatten": Flatten, "SetSchemaMetadata": SetSchemaMetadata}
STEPS = {
    INSERT_HEADER: InsertHeader, DROP_HEADERS: DropHeaders, FILTER: Filter, VALUE_TO_KEY: ValueToKey,
    **{f"{K}{name}${side}": step for name, step in _SIDED.items() for side in ("Key", "Value")},
}
