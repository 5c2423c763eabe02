"""Debezium's ExtractChangedRecordState: headers naming the columns an update changed and the
ones it left alone, as Debezium 3.7 adds them.

- On a change event (tombstones and other records pass) whose `before` and `after` are both
  present (an update under REPLICA IDENTITY FULL), each column of `after` is changed when its
  value differs from `before`'s (Java's `Objects.equals` on the raw values), else unchanged.
  Other events (creates, deletes, updates without `before`) get both lists empty.
- `header.changed.name` / `header.unchanged.name` (unset or blank: no such header) add the
  lists as headers, in place (a delete's tombstone shares them), with the schema
  `array<optional string>`, optional, named like the header.
"""

from __future__ import annotations

from bridge.format.settings import HeaderFormat
from bridge.transform.record import ConnectRecord, connect_header
from bridge.transform.smt_settings import TransformSpec


class ExtractChangedRecordState:
    def __init__(self, spec: TransformSpec, headers: HeaderFormat) -> None:
        options = dict(spec.options)
        self._names = tuple((name, {"type": "array", "items": {"type": "string", "optional": True},
                                    "optional": True, "name": name})
                            for name in (options.get("header.changed.name"), options.get("header.unchanged.name")))
        self._format = headers

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        envelope, schema = record.value, record.value_schema
        if envelope is None or schema is None or not str(schema.get("name", "")).endswith(".Envelope"):
            return record
        before, after = envelope.get("before"), envelope.get("after")  # type: ignore[attr-defined]
        changed: list[str] = []
        unchanged: list[str] = []
        if before is not None and after is not None:
            for column, value in after.items():
                (changed if value != before.get(column) else unchanged).append(column)
        for (name, header_schema), names in zip(self._names, (changed, unchanged)):
            if name is not None and name.strip():
                record.headers.append(connect_header(self._format, name, header_schema, names))
        return record
