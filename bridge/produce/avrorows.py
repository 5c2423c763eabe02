"""The fast path of tables written in Avro: pgoutput TupleData straight to Avro binary.

`bridge.produce.fastrows` does it for JSON; this is the same idea for the Avro converter
(`bridge.format.avro`). A change event's value is `00 <schema id> <envelope>`, and the envelope
is a concatenation of field encodings (`bridge.format.avro.envelope`): what depends on the table
is encoded once per Relation message, the source block once per transaction, and per row only
the columns, the event's LSN and the processing time. `compile_avro` generates, per relation,
straight-line code with one statement group per column that turns the column's pgoutput text
into its Avro encoding — zigzag varints for integers, length-prefixed UTF-8 for text (the bytes
PostgreSQL sent, checked as UTF-8), a union tag where the field is optional — with NULL and
unchanged-TOAST values pre-encoded; other columns go through their converter and an encoder
compiled from their field's schema (`bridge.format.avro.binary`). The key record is encoded
from the same values.

Anything else — a field type that is not compiled, a binary value, a value that raises, a
schema the registry has not yet given an id for (the general path asks it, once) — takes the
general path, which writes the same bytes (tests compare the two over the type matrix) or
raises what applies. A reader has no side effect, so that retry is always safe.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from bridge.convert.values_numeric import bool_value
from bridge.format.avro.binary import FINAL14, LOW14, encoder, fits, long_bytes, records_of, varint
from bridge.format.avro.envelope import IMAGE, LONG, NULL, OPS, AvroEnvelope
from bridge.format.source import SourceTemplate
from bridge.produce.fastrows import Unsupported
from bridge.route.records import WHOLE

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_KIND_LENGTH = struct.Struct(">BI").unpack_from  # as in `bridge.produce.fastrows`
_TEXT = bytes.decode  # the text converter (`bridge.convert.values`): the raw bytes are its UTF-8
_time_ns = time.time_ns

OP_C, OP_U, OP_D = OPS[b"c"], OPS[b"u"], OPS[b"d"]
_MS = 1_000_000  # a millisecond, in ns
_LOW28 = (1 << 28) - 1

# (row's encoding, key's encoding or None, position after the tuple, unchanged-TOAST mask)
Reader = Callable[[bytes, int], tuple[bytes, bytes | None, int, int]]


class AvroTable:
    """A table's Avro fast path: its tuple reader, envelope pieces and writers; once the
    registry gave both schemas their ids (`resolve`), the constant parts of its records: the
    key's header, the value's header with the row images' union tags (`new`: no `before`, then
    `after`'s tag; `old`: `before`'s tag), and per `op` what follows `source`'s `lsn` up to
    `ts_ms` without a `transaction` block (`tails`)."""

    __slots__ = ("reader", "envelope", "value_writer", "key_writer", "key", "new", "old", "tails")

    def __init__(self, reader: Reader, envelope: AvroEnvelope, value_writer, key_writer) -> None:
        self.reader, self.envelope = reader, envelope
        self.value_writer, self.key_writer = value_writer, key_writer
        self.key = self.new = self.old = b""
        self.tails: dict[bytes, bytes] | None = None  # set by `resolve`

    def resolve(self) -> bool:
        """Whether both schemas have their registry ids (then the record parts are set): if not,
        the general path writes the table's first records, and asks the registry."""
        value, key = self.value_writer.header, self.key_writer.header if self.key_writer is not None else b""
        if value is None or key is None:
            return False
        e = self.envelope
        self.key, self.new, self.old = key, value + NULL + IMAGE, value + IMAGE
        self.tails = {op: e.after_lsn + e.transaction(None) + op for op in (OP_C, OP_U, OP_D)}
        return True


def compile_avro(ncols: int, picks: tuple, key_picks: tuple, value_writer, key_writer,
                 source: SourceTemplate) -> AvroTable | None:
    """The fast path of a table whose records `value_writer` and `key_writer` (Avro writers:
    `binary`) write; `picks` and `key_picks` as `TableEvents` has them. None when its events
    are not written this way."""
    envelope = AvroEnvelope.of(value_writer.avro, source)
    if envelope is None or len(envelope.row_fields) != len(picks):
        return None
    reader = row_reader(ncols, picks, key_picks, [f["type"] for f in envelope.row_fields], envelope.row_space,
                        key_writer)
    return None if reader is None else AvroTable(reader, envelope, value_writer, key_writer)


def row_reader(ncols: int, picks: tuple, key_picks: tuple, row_nodes: list, row_space: str | None,
               key_writer) -> Reader | None:
    """The tuple reader writing a row as the fields `row_nodes` (the Avro types of `picks`'
    fields, in namespace `row_space`) and the key record as `key_writer` (an Avro writer)
    writes it; None when not every field is compiled."""
    key_fields: list = []
    key_space = None
    if key_picks:
        node = key_writer.avro if key_writer is not None and getattr(key_writer, "binary", False) else None
        if not isinstance(node, dict) or node.get("type") != "record" or len(node["fields"]) != len(key_picks):
            return None
        key_fields, key_space = [f["type"] for f in node["fields"]], node.get("namespace")
    return _compile_reader(ncols, picks, key_picks, row_nodes, key_fields, (row_space, key_space))


def _constant(node, encode, value, utf8: bool, records: dict, space: str | None) -> bytes | None:
    """The encoding of a value known with the table (NULL's, unchanged TOAST's); None when it
    is not a value of the field (the general path writes or refuses it)."""
    if not fits(node, value, utf8, records, space):
        return None
    try:
        return encode(value)
    except Exception:  # noqa: BLE001 - not this field's value: the general path's turn
        return None


def _compile_reader(ncols: int, picks: tuple, key_picks: tuple, row_nodes: list, key_nodes: list,
                    spaces: tuple[str | None, str | None]) -> Reader | None:
    """The reader of `compile_avro`; `spaces`: the namespaces of the row's and the key's fields."""
    names: tuple[dict, dict] = ({}, {})  # the records defined so far in the row's and the key's schema
    records = (records_of(row_nodes, spaces[0]), records_of(key_nodes, spaces[1]))  # and their schemas
    ns: dict[str, object] = {"U16": _U16, "KIND_LENGTH": _KIND_LENGTH, "Unsupported": Unsupported, "NCOLS": ncols,
                             "LB": long_bytes, "F14": FINAL14}
    emitted = {p[0]: (p, node) for p, node in zip(picks, row_nodes)}
    key_at = {p[0]: node for p, node in zip(key_picks, key_nodes)}
    lines = ["def read(buf, p):", "    if U16(buf, p)[0] != NCOLS:", "        raise Unsupported", "    p += 2",
             "    u = 0"]
    parts: dict[int, list[str]] = {}  # a column's variables, in the row's order
    key_parts: dict[int, list[str]] = {}
    for i in range(ncols):
        if i not in emitted:  # left out of the events: step over it
            lines += ["    k, n = KIND_LENGTH(buf, p)",
                      "    if k == 116 or k == 98:",
                      "        p += 5 + n",
                      "    elif k == 110 or k == 117:",
                      "        p += 1",
                      "    else:",
                      "        raise Unsupported"]
            continue
        (_, _, convert, toast, null), node = emitted[i]
        column = _column(i, convert, toast, null, node, key_at.get(i), ns, parts, key_parts, names, spaces, records)
        if column is None:
            return None
        lines += column
    row = [v for p in picks for v in parts[p[0]]]
    lines.append("    r = b''.join((" + "".join(f"{v}, " for v in row) + "))")
    if key_picks:
        key = [v for p in key_picks for v in key_parts[p[0]]]
        lines.append(f"    return r, {key[0]}, p, u" if len(key) == 1 else
                     "    return r, b''.join((" + "".join(f"{v}, " for v in key) + ")), p, u")
    else:
        lines.append("    return r, None, p, u")
    exec(compile("\n".join(lines), "<pgbridge fast Avro reader>", "exec"), ns)  # noqa: S102 - positions only
    return ns["read"]  # type: ignore[return-value]


def _column(i: int, convert, toast, null, node, key_node, ns: dict, parts: dict, key_parts: dict,
            names: tuple[dict, dict], spaces: tuple[str | None, str | None],
            records: tuple[dict, dict]) -> list[str] | None:
    """The statements that read column `i`: its field's encoding into the variables
    `parts[i]` names (a head and a body, or one value), its key field's into `key_parts[i]`."""
    branch, tag = node, b""
    if isinstance(node, list):  # an optional field: ["null", T] or [T, "null"] (`encoder` checks)
        at = 1 if node[0] == "null" else 0
        branch, tag = node[at], long_bytes(at)
    kind = branch if isinstance(branch, str) else branch.get("type")
    utf8 = convert is _TEXT and kind == "string"
    encode = encoder(node, utf8, names[0], spaces[0])
    key_encode = None if key_node is None else encoder(key_node, utf8, names[1], spaces[1])
    if encode is None or (key_node is not None and key_encode is None):
        return None
    ns.update({f"enc{i}": encode, f"kenc{i}": key_encode, f"convert{i}": convert, f"tag{i}": tag,
               f"heads{i}": tuple(tag + long_bytes(n) for n in range(64))})  # tag and length of what is short
    text = ["    k, n = KIND_LENGTH(buf, p)", "    if k == 116:", "        s = p + 5", "        p = s + n"]
    def length(var: str) -> str:  # tag and length of `var` bytes
        return f"heads{i}[{var}] if {var} < 64 else tag{i} + LB({var})"
    if utf8:  # the bytes PostgreSQL sent are the string's UTF-8 (bytes.decode checks what is not ASCII)
        text += [f"        b{i} = x{i} = buf[s:p]", f"        if not b{i}.isascii():", f"            b{i}.decode()",
                 f"        h{i} = {length('n')}"]
    elif kind in ("string", "bytes"):
        text += [f"        x{i} = convert{i}(buf[s:p])",
                 f"        b{i} = x{i}.encode()" if kind == "string" else
                 f"        b{i} = x{i} if type(x{i}) is bytes else bytes(x{i})",
                 f"        m = len(b{i})", f"        h{i} = {length('m')}"]
    elif convert is int and kind in ("int", "long"):  # a required one is its varint alone (`v<i>`)
        out = f"b{i}" if tag else f"v{i}"
        text += [f"        x{i} = int(buf[s:p])", f"        z = (x{i} << 1) ^ (x{i} >> 63)",
                 f"        {out} = F14[z] if z < 16384 else LB(x{i})"] + ([f"        h{i} = tag{i}"] if tag else [])
    elif convert is bool_value and kind == "boolean":
        ns[f"true{i}"], ns[f"false{i}"] = encode(True), encode(False)
        text += [f"        x{i} = buf[s:p] == b't'", f"        v{i} = true{i} if x{i} else false{i}"]
    else:
        text += [f"        x{i} = convert{i}(buf[s:p])", f"        v{i} = enc{i}(x{i})"]
    two = any(line.startswith(f"        h{i} = ") for line in text)
    parts[i] = [f"h{i}", f"b{i}"] if two else [f"v{i}"]
    same_key = key_node is not None and key_node == node
    if key_node is not None:
        if same_key:
            key_parts[i] = parts[i]
        else:
            key_parts[i] = [f"k{i}"]
            text.append(f"        k{i} = kenc{i}(x{i})")
    out = text
    for letter, code, value, extra in (("n", 110, null, ""), ("u", 117, toast, f"        u |= {1 << i}\n")):
        # NULL and unchanged TOAST: their encodings, once (a value the field cannot hold: the general path)
        raw = value.encode() if utf8 and isinstance(value, str) else value
        v = _constant(node, encode, raw, utf8, records[0], spaces[0])
        k = None if key_node is None else _constant(key_node, key_encode, raw, utf8, records[1], spaces[1])
        out.append(f"    elif k == {code}:")
        if v is None or (key_node is not None and k is None):
            out.append("        raise Unsupported")
            continue
        ns[f"{letter}{i}"], ns[f"k{letter}{i}"] = v, k
        out.append(f"        h{i}, b{i} = {letter}{i}, b''" if two else f"        v{i} = {letter}{i}")
        if key_node is not None and not same_key:
            out.append(f"        k{i} = k{letter}{i}")
        out.append(extra + "        p += 1")
    out += ["    else:", "        raise Unsupported"]
    return out


def avro_fast_change(tables: dict, skipped: frozenset, tombstones: bool, headers) -> Callable:
    """`EventBuilder.fast_change` for Avro writers: the same contract (the records of a change at
    `buf[pos:end]`, or None for the general path), over `tables`' `avro` fast paths.

    The processing time (`ts_ms`, `ts_us`, `ts_ns`, from one clock reading) is encoded within
    the current millisecond from small numbers: the ms's varint, and the bits above the low 14 of
    the µs' zigzag and above the low 28 of the ns' (kept while adding the offset in the ms does
    not carry into them); the rest, and a clock before 1970, from the whole values. The LSN's
    varint keeps its bits above the low 14 likewise."""
    base = -(1 << 62)  # the current ms, in ns: no reading is in it yet
    low_us = low_ns = 0  # the low 14 bits of the ms's µs zigzag, the low 28 of its ns zigzag
    # ts_ms's tag, varint and ts_us's tag; the high bytes of ts_us, then ts_ns's tag; the high bytes of ts_ns
    ms_part = us_high = ns_high = b""
    lsn_high, lsn_bytes = -1, b""

    def fast_change(buf: bytes, pos: int, end: int, txn, lsn: int, half: int = WHOLE):
        nonlocal base, low_us, low_ns, ms_part, us_high, ns_high, lsn_high, lsn_bytes
        try:
            t = tables.get(_U32(buf, pos + 1)[0])
            a = t.avro
            if a is None or a.tails is None and not a.resolve():
                return None  # the first record of a schema: the general path asks the registry
            kind, marker = buf[pos], buf[pos + 5]
            gap = second = b""
            if kind == 0x49:  # 'I' relid 'N' new
                image, key, p, toast = a.reader(buf, pos + 6)
                if p != end or toast or marker != 0x4E or "c" in skipped:
                    return None
                head, op = a.new, OP_C
            elif kind == 0x44:  # 'D' relid ('K' | 'O') old
                image, key, p, toast = a.reader(buf, pos + 6)
                if p != end or toast or (marker != 0x4B and marker != 0x4F) or "d" in skipped:
                    return None
                head, gap, op = a.old, NULL, OP_D
            elif kind == 0x55 and "u" not in skipped:  # 'U' relid [('K' | 'O') old] 'N' new
                head, op = a.new, OP_U
                if marker == 0x4E:  # no old tuple: the key did not change
                    image, key, p, toast = a.reader(buf, pos + 6)
                    if toast & t.key_mask:
                        return None
                else:
                    old, old_key, p, old_toast = a.reader(buf, pos + 6)
                    if buf[p] != 0x4E or old_toast:
                        return None
                    image, key, p, toast = a.reader(buf, p + 1)
                    if toast & t.key_mask or key != old_key:
                        return None  # a key from the old tuple, or a primary-key change
                    if marker == 0x4F:  # REPLICA IDENTITY FULL: before, then after
                        if toast:
                            return None  # filled in from the old row
                        head, image, gap, second = a.old, old, IMAGE, image
                    elif marker != 0x4B:
                        return None
                if p != end:
                    return None
            else:
                return None
            e = a.envelope
            digits = b"%d" % lsn
            if e.txn_id is not txn or e.digits != len(digits):
                e.source_pieces(txn, "false", txn.commit_ts_us, txn.xid, txn.last_commit_lsn, len(digits))
            z = lsn << 1
            if z >> 14 != lsn_high:
                if lsn >> 63:
                    return None  # not an Avro long: the general path refuses it
                lsn_high = z >> 14
                lsn_bytes = varint(lsn_high) if lsn_high else b""
            # the processing time (ts_ms, ts_us, ts_ns)
            ns = _time_ns()
            r = ns - base
            if r >= _MS or r < 0:  # a new ms
                ms = ns // _MS
                base, zu, zn = ms * _MS, ms * 2000, ms * 2 * _MS
                if ms > 0 and zu >> 14 and zn >> 28:
                    low_us, low_ns = zu & 0x3FFF, zn & _LOW28
                    ms_part, us_high, ns_high = LONG + long_bytes(ms) + LONG, varint(zu >> 14) + LONG, varint(zn >> 28)
                else:  # before 1970, or just after: from the whole values (the next reading too)
                    base, low_us, low_ns = -(1 << 62), 1 << 14, 1 << 28
                r = ns - base
            u = low_us + (r // 1000 << 1)
            n = low_ns + (r << 1)
            if u >> 14 or n >> 28:  # carried into the high bits: from the whole values
                t1, t2, t3 = LONG + long_bytes(ns // _MS) + LONG, long_bytes(ns // 1000), LONG
                t4, t5, t6 = long_bytes(ns), b"", b""
            else:
                t1, t2, t3, t4, t5, t6 = ms_part, LOW14[u], us_high, LOW14[n & 0x3FFF], LOW14[n >> 14], ns_high
            value = b"".join((head, image, gap, second, e.pre, digits, e.mid,
                              LOW14[z & 0x3FFF] if lsn_high else FINAL14[z], lsn_bytes,
                              e.after_lsn + e.transaction(txn.block(lsn)) + op if txn.metadata else a.tails[op],
                              t1, t2, t3, t4, t5, t6))
            record = (t.topic, None if key is None else a.key + key, value, headers)
        except Exception:  # noqa: BLE001 - the general path raises what applies, or copes
            return None
        if op is OP_D and tombstones:
            return record, (t.topic, record[1], None, headers)
        return (record,)
    return fast_change
