"""The fast path of a table whose chain only unwraps (ExtractNewRecordState) and renames topics.

With a transform chain, events are built as Connect values and run through the chain
(`bridge.transform.chain`). For the commonest chain — ExtractNewRecordState, optionally
RegexRouter, gated by predicates that the table alone decides (`Chain.unwrap_only`) — a create
or update becomes the `after` row, `__deleted` ("false") with a rewrite mode, and the
`add.fields` values, under the unwrapped row's schema, in a topic fixed per table. That is the
row payload the generated reader (`bridge.produce.fastrows`) writes, its closing brace replaced
by the added fields, so such a change is written straight from pgoutput's TupleData
(`EventBuilder.fast_unwrapped`), as the table's change events are without a chain.

`Unwrapped` is made once per table shape; `renew` writes the value's `%` template once per
transaction, per op (`c`, `u`): everything but the row payload (`%(r)s`), the event's LSN
(`%(l)d`, in `lsn` and `sequence`) and the processing time (`%(m)s`, `%(u)s`, `%(n)s`: the
envelope's `ts_ms`, `ts_us`, `ts_ns`) is known then. Headers added from values known per
transaction are written then too; from the others (`lsn`, the processing time...) per record,
as the step writes them. Deletes, truncates, key changes and the other chains take the
general path; an added `transaction` field with transaction metadata on too. `Unwrapping`
holds what does not depend on the value's format; the Avro values are
`bridge.produce.avro_unwrapped`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.format.converter import Writer
from bridge.format.headers import Headers
from bridge.format.json import json_bytes, literal
from bridge.format.settings import HeaderFormat
from bridge.format.source import SourceTemplate
from bridge.produce.fastrows import Reader
from bridge.transform.record import connect_header
from bridge.transform.unwrap import FieldReference

if TYPE_CHECKING:
    from bridge.produce.events import TxnContext

OPS = ("c", "u")  # what the fast paths write: creates and updates
# an LSN no event has (LSNs are unsigned), for the event's while the per-transaction values are
# written: its digits become the `%(l)d` slot in the fields that hold the LSN
_LSN_MARK = -(2**63)
LSN_DIGITS = b"%d" % _LSN_MARK
PER_EVENT = {"lsn", "sequence"}  # source fields holding the event's LSN
CLOCK = {"ts_ms": b"%(m)s", "ts_us": b"%(u)s", "ts_ns": b"%(n)s"}  # the envelope's processing time



def row_change(reader, key_mask: int, buf: bytes, pos: int, end: int, skipped: frozenset) -> tuple | None:
    """(op, row, key) of the pgoutput Insert or Update at `buf[pos:end]`, its tuples read by
    `reader` (the JSON or the Avro fast path's: (row, key, position after, unchanged-TOAST mask)),
    or None for what the unwrap fast paths leave to the general path: deletes and other messages,
    skipped operations, unchanged TOAST in an insert or in the key, a primary-key change, a
    REPLICA IDENTITY FULL update with unchanged TOAST (filled in from the old row).

        Insert: 'I' relid:Int32 'N' TupleData
        Update: 'U' relid:Int32 [('K' | 'O') TupleData] 'N' TupleData
    """
    kind, marker = buf[pos], buf[pos + 5]
    if kind == 0x49:  # 'I'
        row, key, p, toast = reader(buf, pos + 6)
        if p != end or toast or marker != 0x4E or "c" in skipped:
            return None
        return b"c", row, key
    if kind != 0x55 or "u" in skipped:  # not 'U'
        return None
    if marker == 0x4E:  # no old tuple: the key did not change
        row, key, p, toast = reader(buf, pos + 6)
        if toast & key_mask:
            return None
    else:
        _, old_key, p, old_toast = reader(buf, pos + 6)
        if buf[p] != 0x4E or old_toast:
            return None
        row, key, p, toast = reader(buf, p + 1)
        if toast & key_mask or key != old_key:
            return None  # a key from the old tuple, or a primary-key change
        if marker == 0x4F and toast or marker != 0x4F and marker != 0x4B:
            return None
    return (b"u", row, key) if p == end else None

class Unwrapping:
    """What the unwrap fast paths of one table share, whatever writes the values: `topic`, the
    `reader` of its rows, and per transaction (`renew`) the pieces of the values by op
    (`values`: the subclass's `_values`) and the headers."""

    __slots__ = ("topic", "reader", "timed", "txn", "values", "headers", "_fields", "_header_refs", "_header_format",
                 "_base", "_source", "_dynamic")

    def __init__(self, topic: str, reader: object, fields: tuple, header_refs: tuple, header_format: HeaderFormat,
                 base: Headers, source: SourceTemplate) -> None:
        """`fields`, `header_refs`: from `ExtractNewRecordState.row_plan`; `base`: the headers of
        every change event."""
        self.topic, self.reader = topic, reader
        self._fields, self._header_refs, self._header_format = fields, header_refs, header_format
        self._base, self._source = base, source
        # a header from the event's LSN or the processing time is written per record
        self._dynamic = any(where is None and ref.field in CLOCK or where == "source" and ref.field in PER_EVENT
                            or where == "transaction" for ref, where, _ in header_refs)
        # the processing time is read per record (`EventBuilder.fast_unwrapped`)
        self.timed = self._dynamic or any(where is None and ref.field in CLOCK for ref, where, _ in fields)
        self.txn: TxnContext | None = None
        self.values: dict[bytes, object] | None = None
        self.headers: dict[bytes, Headers] = {}

    @staticmethod
    def supports(fields: tuple, header_refs: tuple, row_names: list[str], rewrite: bool) -> bool:
        """Whether the added fields and headers can be written here: fields of `source` and
        `transaction`, of the envelope only op and the processing time (the others are structs;
        a column of `after` or `before` takes the general path), and no added field whose
        name is already the row's or `__deleted` (the step's dict merge would replace it in place)."""
        names = [*row_names, *(["__deleted"] if rewrite else []), *(ref.new_name for ref, _, _ in fields)]
        if len(set(names)) != len(names):
            return False
        return all(where in ("source", "transaction") or where is None and (ref.field == "op" or ref.field in CLOCK)
                   for ref, where, _ in (*fields, *header_refs))

    def renew(self, txn: TxnContext) -> None:
        """The value pieces and headers of the transaction `txn`; `values` None when its
        creates and updates take the general path."""
        self.txn, self.values = txn, None  # (what raises here leaves the transaction to the general path)
        block = self._source.block("false", txn.commit_ts_us, txn.xid, txn.last_commit_lsn, _LSN_MARK)
        if txn.metadata and any(where == "transaction" for _, where, _ in self._fields):
            return
        headers = {} if self._dynamic else {
            op.encode(): [*self._base, *(connect_header(self._header_format, ref.new_name, schema,
                                                        ref.value(where, {"op": op, "source": block, "transaction": None}))
                                         for ref, where, schema in self._header_refs)]
            for op in OPS}
        self.values = self._values(block)
        self.headers = headers

    def _values(self, block: dict) -> dict[bytes, object] | None:
        """The values' pieces of a transaction whose source block (its event LSN the mark) is
        `block`, by op."""
        raise NotImplementedError

    def record_headers(self, op: bytes, txn: TxnContext, lsn: int, ns: int) -> Headers:
        """The headers of one record, with added ones from the event's LSN or processing time."""
        envelope = {"op": op.decode(), "ts_ms": ns // 1_000_000, "ts_us": ns // 1000, "ts_ns": ns,
                    "source": self._source.block("false", txn.commit_ts_us, txn.xid, txn.last_commit_lsn, lsn),
                    "transaction": txn.block(lsn)}
        return [*self._base, *(connect_header(self._header_format, ref.new_name, schema, ref.value(where, envelope))
                               for ref, where, schema in self._header_refs)]


class Unwrapped(Unwrapping):
    """The JSON values of one table's creates and updates: per transaction, by op, a `%`
    template (see the module docstring)."""

    __slots__ = ("_head", "_tail", "_deleted")

    def __init__(self, topic: str, reader: Reader, value_writer: Writer, rewrite: bool, fields: tuple,
                 header_refs: tuple, header_format: HeaderFormat, base: Headers, source: SourceTemplate) -> None:
        """`value_writer`: the unwrapped row's writer; `rewrite`: from `ExtractNewRecordState.row_plan`."""
        super().__init__(topic, reader, fields, header_refs, header_format, base, source)
        self._head, self._tail = literal(value_writer.head), literal(value_writer.tail)
        self._deleted = b',"__deleted":"false"' if rewrite else b""

    def _values(self, block: dict) -> dict[bytes, object]:
        formats = {}
        for op in OPS:
            pieces = [self._head, b"%(r)s", self._deleted]
            for ref, where, _ in self._fields:
                pieces += (b",", literal(json_bytes(ref.new_name)), b":", self._field_json(ref, where, op, block))
            pieces += (b"}", self._tail)
            formats[op.encode()] = b"".join(pieces)
        return formats

    @staticmethod
    def _field_json(ref: FieldReference, where: str | None, op: str, block: dict) -> bytes:
        """An added field's value in the template."""
        if where is None:
            return b'"%s"' % op.encode() if ref.field == "op" else CLOCK[ref.field]
        if where == "transaction":
            return b"null"  # no transaction metadata: the envelope's `transaction` is null
        value = literal(json_bytes(block.get(ref.field)))
        return value.replace(LSN_DIGITS, b"%(l)d") if ref.field in PER_EVENT else value
