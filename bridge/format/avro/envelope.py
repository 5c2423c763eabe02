"""A table's change events in Avro binary, from pieces encoded once: the fast path's envelope.

The envelope record (`before`, `after`, `source`, `transaction`, `op`, `ts_ms`, `ts_us`,
`ts_ns`, in Debezium's order) is a concatenation of its fields' encodings. Per table the
union tags of the row images, the `op` strings and the row record's field schemas are known;
per transaction the `source` block is encoded once, by code generated for the table
(`_compile_pieces`), all but its two fields that hold the event's LSN (`sequence`, a string
that ends with it, and `lsn`), which are cut out as slots: the block is the transaction's `pre`,
the LSN's digits, its `mid`, the LSN's varint and the table's `after_lsn`;
per event only those slots, the row images, the optional `transaction` block and the processing
time are encoded. `AvroEnvelope.of` returns None for a schema it does not know this way (a
transform's output, an unsupported field type): those events keep the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from bridge.format.avro.binary import FINAL14, LOW14, Encode, encoder, long_bytes, union_tags, varint
from bridge.format.source import FIELDS, INPUTS, NAMES, SEQUENCE_TAIL, SourceTemplate, sequence_head

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
_SEQUENCE = "sequence(last_commit_lsn, lsn)"  # the text that holds the LSN: the one cut here
TABLE_FIELDS = frozenset(name for name, _, how in FIELDS if how == "table")  # known with the table


class AvroEnvelope:
    """The envelope pieces of one table's value writer (see the module docstring)."""

    __slots__ = ("row_fields", "row_space", "txn_id", "digits", "pre", "mid", "after_lsn", "transaction", "_fields",
                 "_pieces")

    def __init__(self, node: dict) -> None:
        """Use `of`."""
        fields = {f["name"]: f["type"] for f in node["fields"]}
        self._fields = fields
        row = _record_of(fields["before"])
        self.row_fields: list[dict] = row["fields"]
        self.row_space: str | None = row.get("namespace", node.get("namespace"))  # its fields' names' namespace
        self.transaction: Encode = encoder(fields["transaction"])  # type: ignore[assignment]
        self.txn_id: object = None  # the transaction whose source pieces `pre` and `mid` are
        self.digits = 0  # and the number of digits of the LSN they are for
        self.pre = self.mid = b""
        self._pieces: Callable[..., tuple[bytes, bytes]] | None = None  # `_compile_pieces`, set by `of`
        self.after_lsn = b""  # the source block's fields after `lsn`: the table's

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
        envelope = cls(node)
        try:
            envelope._pieces, envelope.after_lsn = _compile_pieces(fields["source"], source)
        except _NotCut:
            return None
        return envelope

    def source_pieces(self, txn: object, snapshot: str, commit_ts_us: int, txid: int | None,
                      last_commit_lsn: int | None, digits: int) -> tuple[bytes, bytes]:
        """The source block of `txn`'s events cut around its LSN slots, for LSNs of `digits`
        digits, cached for the transaction (`pre`, `mid`): the fields before `sequence`, its
        union tag, length and text before the LSN; its text after the LSN, the fields between
        and `lsn`'s union tag. The block is `pre`, the LSN's digits, `mid`, the LSN's varint,
        `after_lsn`."""
        self.pre, self.mid = pieces = self._pieces(snapshot, commit_ts_us, txid, last_commit_lsn, digits)  # type: ignore[misc]
        self.txn_id, self.digits = txn, digits
        return pieces


def _compile_pieces(node: dict, template: SourceTemplate) -> tuple[Callable[..., tuple[bytes, bytes]], bytes]:
    """The function of a transaction's inputs (`snapshot, commit_ts_us, txid,
    last_commit_lsn`) and the digits of its events' LSNs that returns `AvroEnvelope.source_pieces`'
    pair, and the fields after `lsn` (the table's: constant): generated code (like
    `bridge.format.source`'s) with the table's fields as constant bytes, a transaction's
    numbers as inline varints (times through a `_Window`), the other fields through their
    encoders, and `sequence`'s text cut where the event's LSN goes (`sequence_head`)."""
    block = template.block("false", 0, 1, 1, _MARK)
    expressions = {name: (value, how) for name, value, how in FIELDS}
    ns: dict[str, object] = {**NAMES, **dict(zip(INPUTS[:4], template.inputs)), "_LB": long_bytes,
                             "_F14": FINAL14, "_LOW14": LOW14, "_SEQUENCE_HEAD": sequence_head}
    pieces: list[list] = [[]]  # each piece's parts: constant bytes, or an expression (str)
    lines, slots = [], []
    for n, f in enumerate(node["fields"]):
        name, kind = f["name"], f["type"]
        value, tags = block[name], union_tags(kind)
        tag = tags[1] if tags else b""
        if isinstance(value, str) and _MARK_TEXT in value:  # the text that holds the LSN: cut in two
            if expressions[name][0] != _SEQUENCE:
                raise _NotCut
            lines.append("    _h = _SEQUENCE_HEAD(last_commit_lsn)")
            # its length: a varint of one byte or two (the text is short; a longer one raises)
            pieces[-1] += [tag, f"_F14[(len(_h) + {len(SEQUENCE_TAIL)} + digits) << 1]", "_h"]
            pieces.append([SEQUENCE_TAIL])
            slots.append("text")
        elif value == _MARK:
            pieces[-1].append(tag)
            pieces.append([])
            slots.append("long")
        elif name in TABLE_FIELDS:
            pieces[-1].append(encoder(kind)(value))  # type: ignore[misc]
        else:
            expression, how = expressions[name]
            branch = kind[1 - kind.index("null")] if tags else kind
            if how == "int" and branch in ("long", "int"):  # a time: its varint near the last one's (`_Window`)
                ns[f"_W{n}"] = _Window()
                lines += [f"    _v{n} = {expression}", f"    _r = _v{n} - _W{n}.base",
                          f"    if 0 <= _r < _W{n}.span:",
                          f"        _s = _W{n}.low + _r + _r",
                          f"        _a{n}, _b{n}, _c{n} = _LOW14[_s & 16383], _LOW14[_s >> 14], _W{n}.high",
                          "    else:",
                          f"        _a{n}, _b{n}, _c{n} = _W{n}.move(_v{n}), b'', b''"]
                pieces[-1] += [tag, f"_a{n}", f"_b{n}", f"_c{n}"]
            elif how == "int?" and branch in ("long", "int"):  # `encoder`'s varint, inline
                ns[f"_N{n}"], ns[f"_T{n}"] = tags or (None, b"")
                lines.append(f"    _v{n} = {expression}")
                pieces[-1].append(f"(_N{n} if _v{n} is None else _T{n} + _LB(_v{n}))" if tags else f"_LB(_v{n})")
            else:  # a word (the snapshot marker) takes a few values: their encodings are kept
                encode = encoder(kind)
                ns[f"_E{n}"] = lru_cache(maxsize=16)(encode) if how == "word" else encode
                pieces[-1].append(f"_E{n}({expression})")
    if slots != ["text", "long"] or any(type(part) is not bytes for part in pieces[-1]):
        raise _NotCut
    out = []
    for parts in pieces[:-1]:
        merged: list = []
        for part in parts:  # constants in a row: one
            if merged and type(part) is bytes and type(merged[-1]) is bytes:
                merged[-1] += part
            else:
                merged.append(part)
        code = [repr(p) if type(p) is bytes else p for p in merged] or ["b''"]
        out.append(code[0] if len(code) == 1 else "b''.join((" + ", ".join(code) + "))")
    source = "\n".join(["def pieces(snapshot, commit_ts_us, txid, last_commit_lsn, digits):", *lines,
                        f"    return ({', '.join(out)})"])
    exec(compile(source, "<pgbridge Avro source pieces>", "exec"), ns)  # noqa: S102 - code made from FIELDS only
    return ns["pieces"], b"".join(pieces[-1])  # type: ignore[return-value]


class _Window:
    """The varints of a number that moves slowly upwards (a commit time) from small numbers:
    those of the values from `base` on whose zigzag differs from `base`'s only in its low 28
    bits (fewer than `span` above it) are the two `LOW14` bytes of those bits (`low`, `base`'s,
    plus twice the distance) and the varint of the bits above them (`high`)."""

    __slots__ = ("base", "span", "low", "high")

    def __init__(self) -> None:
        self.base, self.span, self.low, self.high = 0, 0, 0, b""

    def move(self, value: int) -> bytes:
        """The varint of `value`, from which the window now starts (when its zigzag has bits
        above the low 28; else no window)."""
        z = (value << 1) ^ (value >> 63)
        if value > 0 and z >> 28:
            self.base, self.low, self.high = value, z & _LOW28, varint(z >> 28)
            self.span = (_LOW28 - self.low >> 1) + 1
        else:
            self.span = 0
        return long_bytes(value)


_LOW28 = (1 << 28) - 1


class _NotCut(Exception):
    """A source block whose LSN is not where the fast path cuts it."""


def _record_of(union: list) -> Any:
    return union[1] if union[0] == "null" else union[0]
