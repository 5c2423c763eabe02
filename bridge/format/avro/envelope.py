"""A table's change events in Avro binary, from pieces encoded once: the fast path's envelope.

The envelope record (`before`, `after`, `source`, `transaction`, `op`, `ts_ms`, `ts_us`,
`ts_ns`, in Debezium's order) is a concatenation of its fields' encodings. Per table the
union tags of the row images, the `op` strings and the row record's field schemas are known;
per transaction the `source` block is encoded once, all but its two fields that hold the
event's LSN (`sequence`, a string that ends with it, and `lsn`), which are cut out as slots;
per event only those, the row images, the optional `transaction` block and the processing
time are encoded. `AvroEnvelope.of` returns None for a schema it does not know this way (a
transform's output, an unsupported field type): those events keep the general path.
"""

from __future__ import annotations

from typing import Any

from bridge.format.avro.binary import Encode, encoder, union_tags
from bridge.format.source import FIELDS, SourceTemplate

ENVELOPE_FIELDS = ("before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns")
# The tags the fast path writes as they are (the optional fields' unions, as AvroData writes
# them for Debezium's envelope): a row image's null and record branches, the processing
# time's long branch, each `op`'s string
NULL, IMAGE, LONG = b"\x00", b"\x02", b"\x02"
OPS = {b"c": b"\x02c", b"u": b"\x02u", b"d": b"\x02d"}
# An LSN no event has (LSNs are below 2**64): the source block is encoded with it, and where
# it lands are the event's slots.
_MARK = 18_446_744_073_709_551_557
_MARK_TEXT = str(_MARK)
TABLE_FIELDS = frozenset(name for name, _, how in FIELDS if how == "table")  # known with the table


class AvroEnvelope:
    """The envelope pieces of one table's value writer (see the module docstring)."""

    __slots__ = ("row_fields", "row_space", "txn_id", "pieces", "transaction", "_fields", "_source_template",
                 "_layout")

    def __init__(self, node: dict, source: SourceTemplate) -> None:
        """Use `of`."""
        fields = {f["name"]: f["type"] for f in node["fields"]}
        self._fields = fields
        row = _record_of(fields["before"])
        self.row_fields: list[dict] = row["fields"]
        self.row_space: str | None = row.get("namespace", node.get("namespace"))  # its fields' names' namespace
        self.transaction: Encode = encoder(fields["transaction"])  # type: ignore[assignment]
        self._source_template = source
        self.txn_id: object = None  # the transaction whose source pieces `pieces` holds
        self.pieces: tuple[bytes, bytes, bytes, bytes, bytes] = (b"",) * 5
        self._layout: list | None = None

    @classmethod
    def of(cls, node: Any, source: SourceTemplate) -> AvroEnvelope | None:
        """The pieces of envelopes of schema `node` (a value writer's Avro schema), or None when
        its events are not written this way."""
        if not isinstance(node, dict) or node.get("type") != "record":
            return None
        if tuple(f["name"] for f in node["fields"]) != ENVELOPE_FIELDS:
            return None
        fields = {f["name"]: f["type"] for f in node["fields"]}
        image = fields["before"]
        if union_tags(image) != (NULL, IMAGE):
            return None
        record = _record_of(image)
        if not isinstance(record, dict) or record.get("type") != "record" or fields["after"] != ["null", record["name"]]:
            return None
        if any(encoder(fields[name]) is None for name in ENVELOPE_FIELDS[2:]):
            return None
        if any(union_tags(fields[name]) != (NULL, LONG) for name in ENVELOPE_FIELDS[5:]) \
                or any(encoder(fields["op"])(op.decode()) != tag for op, tag in OPS.items()):  # type: ignore[misc]
            return None
        envelope = cls(node, source)
        try:
            envelope.source_pieces(object(), "false", 0, 1, 1)
        except _NotCut:
            return None
        return envelope

    def source_pieces(self, txn: object, snapshot: str, commit_ts_us: int, txid: int | None,
                      last_commit_lsn: int | None) -> tuple[bytes, ...]:
        """The source block of `txn`'s events cut around its LSN slots, cached for the
        transaction: (the fields before `sequence` and its union tag, `sequence`'s text before
        the LSN, after it, the fields between and `lsn`'s union tag, the fields after `lsn`).
        The table's fields are encoded once (`_layout`), the others per transaction."""
        if self._layout is None:
            self._layout = self._source_layout()
        block = self._source_template.block(snapshot, commit_ts_us, txid, last_commit_lsn, _MARK)
        out, part = [], []
        for step in self._layout:
            if type(step) is bytes:
                part.append(step)
                continue
            name, encode, tag = step
            value = block[name]
            if encode is _TEXT_SLOT:
                head, tail = value.split(_MARK_TEXT)
                out += [b"".join(part) + tag, head.encode(), tail.encode()]
                part = []
            elif encode is _LONG_SLOT:
                out.append(b"".join(part) + tag)
                part = []
            else:
                part.append(encode(value))
        out.append(b"".join(part))
        self.txn_id, self.pieces = txn, tuple(out)  # type: ignore[assignment]
        return self.pieces

    def _source_layout(self) -> list:
        """The source record's fields in order: the table's encoded (bytes), the others as
        (name, encoder, union tag), the LSN's with a slot marker as their encoder."""
        block = self._source_template.block("false", 0, 1, 1, _MARK)
        layout: list = []
        slots = []
        for f in self._fields["source"]["fields"]:
            name, kind = f["name"], f["type"]
            value, tag = block[name], union_tags(kind)
            if isinstance(value, str) and _MARK_TEXT in value:
                layout.append((name, _TEXT_SLOT, tag[1] if tag else b""))
                slots.append("text")
            elif value == _MARK:
                layout.append((name, _LONG_SLOT, tag[1] if tag else b""))
                slots.append("long")
            elif name in TABLE_FIELDS:
                encoded = encoder(kind)(value)  # type: ignore[misc]
                if layout and type(layout[-1]) is bytes:
                    layout[-1] += encoded  # one piece of the table's fields in a row
                else:
                    layout.append(encoded)
            else:
                layout.append((name, encoder(kind), b""))
        if slots != ["text", "long"]:
            raise _NotCut
        return layout


_TEXT_SLOT, _LONG_SLOT = object(), object()  # `_source_layout`'s markers of the LSN's two slots


class _NotCut(Exception):
    """A source block whose LSN is not where the fast path cuts it."""


def _record_of(union: list) -> Any:
    return union[1] if union[0] == "null" else union[0]
