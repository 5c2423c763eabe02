"""The unwrap fast path in Avro: the creates and updates of a table whose chain only unwraps them
(`bridge.produce.unwrapped`), as the Avro converter writes the chain's output.

The unwrapped row is a record of the row's fields, `__deleted` with a rewrite mode, then the
`add.fields` values (`ExtractNewRecordState.row_plan`); its Avro binary is their encodings one
after the other. The row's fields are what the Avro fast path's generated reader writes
(`bridge.produce.avrorows.row_reader`, compiled from the value writer's schema: the bytes of
the envelope's `after` record, without its union tag). The others are encoded once per
transaction (`renew`): `__deleted`, `op`, the `source` and `transaction` fields; but those
holding the event's LSN (`lsn`, `sequence`) and the processing time (`ts_ms`, `ts_us`,
`ts_ns`), per record. The value is `00 <schema id>` and those; the key, its header and the
key record the reader writes.

The writers are the chain's own (`Chain.writer`): the general path writes a schema's first
record, asking the registry for its id, and once both the key's and the value's writer have
theirs (`AvroUnwrapped.resolve`) the fast path writes the next records, under the same
subjects and ids. Anything else returns None: the general path's turn.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.format.avro.binary import Encode, encoder, fits
from bridge.format.converter import KEY, VALUE
from bridge.format.headers import Headers
from bridge.format.settings import HeaderFormat
from bridge.format.source import SourceTemplate
from bridge.produce.avrorows import Reader
from bridge.produce.fastrows import Unsupported
from bridge.produce.unwrapped import CLOCK, LSN_DIGITS, OPS, Unwrapping, row_change
from bridge.route.records import WHOLE
from bridge.transform.unwrap import FieldReference

if TYPE_CHECKING:
    from bridge.convert.schema import Schema
    from bridge.produce.events import TableEvents
    from bridge.transform.chain import Chain

_U32 = struct.Struct(">I").unpack_from
_time_ns = time.time_ns
_UNITS = {"ts_ms": 1_000_000, "ts_us": 1000, "ts_ns": 1}  # the processing time's fields, in ns
_LSN_TEXT = LSN_DIGITS.decode()

# An added field encoded per record, from the event's LSN and the processing time (ns)
Slot = Callable[[int, int], bytes]


class AvroUnwrapped(Unwrapping):
    """One table's creates and updates in Avro. Per transaction, by op, `values` holds the
    encodings after the row's fields up to the first per-record field, then (slot, the
    encodings up to the next one) pairs; `head` and `key_head` are the value's and the key's
    `00 <id>` once the registry gave them (`resolve`)."""

    __slots__ = ("head", "key_head", "_value_writer", "_key_writer", "_added", "_deleted")

    def __init__(self, topic: str, reader: Reader, value_writer, key_writer, deleted: bytes,
                 added: tuple[tuple[object, Encode], ...], fields: tuple, header_refs: tuple,
                 header_format: HeaderFormat, base: Headers, source: SourceTemplate) -> None:
        """Use `of`. `deleted`: `__deleted`'s encoding (empty without); `added`: the added
        fields' (Avro type, encoder), in `fields`' order."""
        super().__init__(topic, reader, fields, header_refs, header_format, base, source)
        self._value_writer, self._key_writer = value_writer, key_writer
        self._deleted, self._added = deleted, added
        self.head: bytes | None = None
        self.key_head = b""

    @classmethod
    def of(cls, t: TableEvents, topic: str, chain: Chain, value_schema: Schema, rewrite: bool, fields: tuple,
           header_refs: tuple, header_format: HeaderFormat, base: Headers) -> AvroUnwrapped | None:
        """The fast path of `t`'s creates and updates, unwrapped to `value_schema` (with
        `__deleted` when `rewrite`, and the added `fields`) in `topic`; None when its records
        are not written this way."""
        try:
            value_writer = chain.writer(topic, VALUE, value_schema)
            key_writer = None if t.key_writer is None else \
                chain.writer(topic, KEY, t.key_writer.schema)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - what a writer refuses, the general path refuses
            return None
        if not getattr(value_writer, "binary", False) or key_writer is not None and not getattr(key_writer, "binary",
                                                                                                  False):
            return None
        node = value_writer.avro  # type: ignore[attr-defined]
        if not isinstance(node, dict) or node.get("type") != "record":
            return None
        names = [p[1] for p in t.picks] + (["__deleted"] if rewrite else []) + [ref.new_name for ref, _, _ in fields]
        if [f["name"] for f in node["fields"]] != names:
            return None
        types = [f["type"] for f in node["fields"]]
        n = len(t.picks)
        encoders = [encoder(kind) for kind in types[n:]]  # primitives: no named type to refer to
        if any(e is None for e in encoders):
            return None
        deleted = b""
        if rewrite:
            if not fits(types[n], "false"):
                return None
            deleted, n = encoders.pop(0)("false"), n + 1  # type: ignore[misc]
        reader = t.avro_reader_for(types[:len(t.picks)], node.get("namespace") or None, key_writer)
        if reader is None:
            return None
        return cls(topic, reader, value_writer, key_writer, deleted, tuple(zip(types[n:], encoders)),  # type: ignore[arg-type]
                   fields, header_refs, header_format, base, t.source)

    def resolve(self) -> bool:
        """Whether the key's and the value's writers have their registry ids (then `head` and
        `key_head` are set): until then the general path writes, and asks the registry."""
        value = self._value_writer.header
        key = b"" if self._key_writer is None else self._key_writer.header
        if value is None or key is None:
            return False
        self.key_head, self.head = key, value
        return True

    def _values(self, block: dict) -> dict[bytes, object] | None:
        out: dict[bytes, object] = {}
        for op in OPS:
            pieces, slots = [self._deleted], []
            for (ref, where, _), (kind, encode) in zip(self._fields, self._added):
                slot = _slot(ref, where, block, encode)
                if slot is not None:
                    slots.append(slot)
                    pieces.append(b"")
                    continue
                value = op if where is None else None if where == "transaction" else block.get(ref.field)
                if not fits(kind, value):
                    return None  # not a value of the field: the general path refuses it
                pieces[-1] += encode(value)
            out[op.encode()] = (pieces[0], tuple(zip(slots, pieces[1:])))
        return out


def _slot(ref: FieldReference, where: str | None, block: dict, encode: Encode) -> Slot | None:
    """The per-record encoding of an added field from the event's LSN or the processing time;
    None for a field known with the transaction (the envelope's `op`, `transaction`'s fields
    without metadata, the other `source` fields)."""
    if where is None and ref.field in CLOCK:
        unit = _UNITS[ref.field]
        return lambda lsn, ns: encode(ns // unit)
    if where == "source" and ref.field == "lsn":
        def lsn_slot(lsn: int, ns: int) -> bytes:
            if lsn >> 63:
                raise Unsupported  # not an Avro long: the general path refuses it
            return encode(lsn)
        return lsn_slot
    if where == "source" and ref.field == "sequence":
        text = block.get("sequence")
        if isinstance(text, str) and _LSN_TEXT in text:
            head, _, tail = text.partition(_LSN_TEXT)
            return lambda lsn, ns: encode(f"{head}{lsn}{tail}")
    return None


def avro_fast_unwrapped(tables: dict, skipped: frozenset) -> Callable:
    """`EventBuilder.fast_unwrapped` for Avro writers: the same contract and tuple reading
    (`row_change`), over `tables`' `unwrapped` (`AvroUnwrapped`)."""

    def fast_unwrapped(buf: bytes, pos: int, end: int, txn, lsn: int, half: int = WHOLE):
        try:
            t = tables.get(_U32(buf, pos + 1)[0])
            u = t.unwrapped
            if u is None or u.head is None and not u.resolve():
                return None  # the first record of a schema: the general path asks the registry
            change = row_change(u.reader, t.key_mask, buf, pos, end, skipped)
            if change is None:
                return None
            op, row, key = change
            if u.txn is not txn:
                u.renew(txn)
            values = u.values
            if values is None:
                return None
            first, slots = values[op]
            ns = _time_ns() if u.timed else 0
            if slots:
                parts = [u.head, row, first]
                for slot, after in slots:
                    parts.append(slot(lsn, ns))
                    parts.append(after)
                value = b"".join(parts)
            else:
                value = u.head + row + first
            headers = u.headers[op] if u.headers else u.record_headers(op, txn, lsn, ns)
        except Exception:  # noqa: BLE001 - the general path raises what applies, or copes
            return None
        return ((u.topic, None if key is None else u.key_head + key, value, headers),)
    return fast_unwrapped
