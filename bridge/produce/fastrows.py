"""Per-relation readers from a pgoutput TupleData straight to the row's payload and the key record.

The general path decodes a change into a message of raw values (`bridge.pgoutput.protocol`),
converts them column by column into a dict (`TableEvents.row`, `TableEvents.key_payload`) and
has the writer (`bridge.format`) encode that. A reader made here by `compile_reader` does all
three in one pass of straight-line code, one statement group per column, and encodes the key's
values without converting them a second time. Rows and keys are msgspec Structs whose fields
encode as the column names, in the dict's order: the same JSON, encoded in about half the time
of a dict's. The writers' pieces (`encode`, `fix`, `escape`, the key's `template`) are bound by
name, so the reader spells what the general path's writer would.

It covers what a change almost always holds: text values, NULLs and unchanged TOAST. Anything
else — a binary value, another column count, a malformed tuple, a converter that raises
(`NotRepresentable` included) — raises, and the caller hands the change to the general path,
which produces the same bytes or the proper error. A reader has no side effect, so that retry
is always safe.

A boolean's text is compared in place (`bool_value`, without the call).

The code is generated from positions and flags only: column names, converters, NULL
fallbacks, TOAST placeholders and the writers' pieces are bound as constants of the function's
namespace, never written into the source text.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import msgspec

from bridge.convert.values_numeric import bool_value
from bridge.format.converter import Writer

_U16 = struct.Struct(">H").unpack_from
# A column's kind byte and the length after it, in one call. For a NULL or unchanged value
# (one byte) the "length" is the next column's first bytes, unused; at the very end of a
# batch that read fails, and the change takes the general path like any other that raises.
_KIND_LENGTH = struct.Struct(">BI").unpack_from

# (row payload, key record or None, position after the tuple, bit mask of the unchanged-TOAST columns)
Reader = Callable[[bytes, int], tuple[bytes, bytes | None, int, int]]


class Unsupported(Exception):
    """A tuple the fast path leaves to the general one."""


def compile_reader(ncols: int, picks: tuple, key_picks: tuple, row_writer: Writer,
                   key_writer: Writer | None) -> Reader | None:
    """A reader of TupleData with `ncols` columns, emitting `picks` — the (position, name,
    convert, toast value, NULL value) of `TableEvents.picks` — as the row's payload written by
    `row_writer` (the value writer: the row goes into the envelope), and the values of
    `key_picks` (a subset of them, in that order) as the key record of `key_writer`. Each writer
    gives its pieces by name: `encode`, `fix` (applied to what is not plain ASCII or holds
    `escape`) and, for the key, the record `template`.

    `read(buf, pos)` reads the tuple at `buf[pos:]` (its column count first). Bit `i` of the
    returned mask is set when column `i` is unchanged TOAST: the row holds the placeholder, and
    the caller decides whether the general path must fill it in (key columns).

    None when a column's name cannot be a Struct field's encoded name (msgspec refuses `"`, `\\`
    and control characters): such a table's changes all take the general path."""
    try:
        row_type, key_type = _payload_struct("Row", picks), _payload_struct("Key", key_picks)
    except ValueError:
        return None
    ns: dict[str, object] = {"U16": _U16, "KIND_LENGTH": _KIND_LENGTH, "Unsupported": Unsupported, "NCOLS": ncols,
                             "Row": row_type, "Key": key_type,
                             "ENCODE": row_writer.encode, "FIX": row_writer.fix, "ESCAPE": row_writer.escape}
    if key_picks:
        assert key_writer is not None  # a table with key columns has a key writer
        ns.update(KEY_ENCODE=key_writer.encode, KEY_FIX=key_writer.fix, KEY_ESCAPE=key_writer.escape,
                  KEY=key_writer.template)
    emitted = {p[0]: p for p in picks}
    lines = [
        "def read(buf, p):",
        "    if U16(buf, p)[0] != NCOLS:",
        "        raise Unsupported",
        "    p += 2",
        "    u = 0",
    ]
    for i in range(ncols):
        if i not in emitted:  # left out of the events: step over it
            lines += [
                "    k, n = KIND_LENGTH(buf, p)",
                "    if k == 116 or k == 98:",  # 't' text, 'b' binary
                "        p += 5 + n",
                "    elif k == 110 or k == 117:",  # 'n' null, 'u' unchanged TOAST
                "        p += 1",
                "    else:",
                "        raise Unsupported",
            ]
            continue
        _, _, convert, toast, null = emitted[i]
        ns[f"convert{i}"], ns[f"toast{i}"], ns[f"null{i}"] = convert, toast, null
        lines += [
            "    k, n = KIND_LENGTH(buf, p)",
            "    if k == 116:",
            "        s = p + 5",
            "        p = s + n",
            f"        v{i} = buf[s:p] == b't'" if convert is bool_value else f"        v{i} = convert{i}(buf[s:p])",
            "    elif k == 110:",
            f"        v{i} = null{i}",
            "        p += 1",
            "    elif k == 117:",
            f"        v{i} = toast{i}",
            f"        u |= {1 << i}",
            "        p += 1",
            "    else:",
            "        raise Unsupported",
        ]
    # `find`, not `in`: `in` first tries the needle as an int, and fails with a TypeError
    lines += [
        "    r = ENCODE(Row(" + ", ".join(f"v{p[0]}" for p in picks) + "))",
        "    if not r.isascii() or r.find(ESCAPE) >= 0:",
        "        r = FIX(r)",
    ]
    if key_picks:
        lines += [
            "    k = KEY_ENCODE(Key(" + ", ".join(f"v{p[0]}" for p in key_picks) + "))",
            "    if not k.isascii() or k.find(KEY_ESCAPE) >= 0:",
            "        k = KEY_FIX(k)",
            "    return r, KEY % k, p, u" if key_writer.head or key_writer.tail else "    return r, k, p, u",
        ]
    else:
        lines.append("    return r, None, p, u")
    exec(compile("\n".join(lines), "<pgbridge fast row reader>", "exec"), ns)
    return ns["read"]  # type: ignore[return-value]


def _payload_struct(name: str, picks: tuple) -> type[msgspec.Struct]:
    """A Struct of the columns of `picks`, in order, encoding as their names (renamed fields:
    the attribute names are plain `c<position>`)."""
    fields = [(f"c{p[0]}", object) for p in picks]
    return msgspec.defstruct(name, fields, rename={f"c{p[0]}": p[1] for p in picks}, gc=False)


def key_mask(key_picks: tuple) -> int:
    """The bits of `compile_reader`'s TOAST mask that belong to key columns."""
    mask = 0
    for p in key_picks:
        mask |= 1 << p[0]
    return mask
