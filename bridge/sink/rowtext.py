"""A change's values as PostgreSQL text, by functions generated once per plan (per layout of
changes): Python runs one function per row instead of a loop over its values.

- `texts(decoders)`: JSON values -> a tuple of texts (None for NULL): a key, or the values of a
  row written with VALUES.
- `copy_line(key_kinds, decoders, guarded)`: (key texts, the row's JSON values, LSN) -> the row
  as a line of COPY's text format, the same as `copy_line_of` makes of the decoded values: NULL
  is \\N; backslash, tab, newline and CR escaped (`values.text_kind` tells which values can hold
  none of them); with `guarded` the LSN is the last column.
Both use the unchecked decoders (`values.unchecked`): on an error (`values.DECODE_ERRORS`) the
caller decodes the row again with the checked ones, for the message naming the column.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from bridge.sink.values import text_kind, unchecked

NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]").search
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line_of(values: Iterable[str | None]) -> str:
    """Text values (None: NULL) as a line of COPY's text format."""
    special, escapes = _SPECIAL, _ESCAPES
    return "\t".join([(NULL if v is None else v.translate(escapes) if special(v) else v) for v in values]) + "\n"


def _escaped(t: str) -> str:
    """The expression of the text named `t` escaped: a printable text without a backslash holds
    nothing to escape (tab, newline and CR are not printable), two C calls cheaper than a regex
    search; any other text goes through `translate`, which escapes exactly the four characters."""
    return f"({t} if {t}.isprintable() and BACKSLASH not in {t} else {t}.translate(ESC))"


def _text(kind: str, v: str, d: str) -> str:
    """The expression of the text of value `v` decoded by `d`: NULL, or the escaped text."""
    if kind == "integer":
        return f"(NULL if {v} is None else {v} if {v}.__class__ is int else {d}({v}))"
    if kind == "boolean":
        return f"(NULL if {v} is None else '1' if {v} is True else '0' if {v} is False else {d}({v}))"
    if kind == "string":
        return f"(NULL if {v} is None else {_escaped(v)} if {v}.__class__ is str else {d}({v}))"
    if kind == "plain":
        return f"(NULL if {v} is None else {d}({v}))"
    # the walrus in the condition, evaluated first: the decoder runs once
    return f"(NULL if {v} is None else (t if (t := {d}({v})).isprintable() and BACKSLASH not in t else t.translate(ESC)))"


def _compile(source: str, name: str, namespace: dict) -> Callable:
    namespace = {"NULL": NULL, "ESC": _ESCAPES, "BACKSLASH": "\\", **namespace}
    exec(compile(source, f"<sink {name}>", "exec"), namespace)  # noqa: S102 - code made here, from names only
    return namespace[name]


def _unpack(names: list[str], tuple_name: str) -> str:
    return f"    {', '.join(names)}, = {tuple_name}\n" if names else ""


def texts(decoders: tuple[Callable, ...]) -> Callable[[tuple], tuple]:
    names = [f"v{i}" for i in range(len(decoders))]
    exprs = []
    for i, (name, decoder) in enumerate(zip(names, decoders)):
        if text_kind(decoder) == "integer":
            exprs.append(f"(None if {name} is None else str({name}) if {name}.__class__ is int else d{i}({name}))")
        else:
            exprs.append(f"(None if {name} is None else d{i}({name}))")
    source = f"def texts(values):\n{_unpack(names, 'values')}    return ({''.join(e + ', ' for e in exprs)})\n"
    return _compile(source, "texts", {f"d{i}": unchecked(d) for i, d in enumerate(decoders)})


def copy_line(key_kinds: tuple[str, ...], decoders: tuple[Callable, ...], guarded: bool) -> Callable[..., str]:
    """`key_kinds`: the `text_kind` of each key column's decoder (the key arrives as text)."""
    keys = [f"k{i}" for i in range(len(key_kinds))]
    values = [f"v{i}" for i in range(len(decoders))]
    fields = [f"(NULL if {k} is None else {k})" if kind in ("integer", "boolean", "plain")
              else f"(NULL if {k} is None else {_escaped(k)})"
              for k, kind in zip(keys, key_kinds)]
    fields += [_text(text_kind(d), v, f"d{i}") for i, (v, d) in enumerate(zip(values, decoders))]
    if guarded:
        fields.append("lsn")
    line = "\\t".join("{" + f + "}" for f in fields)
    source = (f"def copy_line(key, values, lsn):\n{_unpack(keys, 'key')}{_unpack(values, 'values')}"
              f"    return f\"{line}\\n\"\n")
    return _compile(source, "copy_line", {f"d{i}": unchecked(d) for i, d in enumerate(decoders)})
