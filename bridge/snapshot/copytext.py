"""COPY text format -> the values pgoutput sends.

In `COPY ... TO STDOUT` (text format, the default) every row is one line: fields separated by a
tab, ended by a newline, SQL NULL written as `\\N`, and each value is its type output function's
text with backslash, tab, newline, carriage return, backspace, form feed and vertical tab
written as `\\\\ \\t \\n \\r \\b \\f \\v`. That output text is exactly what pgoutput puts in a
TupleData 't' column, so undoing the escapes yields the same bytes.

COPY TO never writes the other escapes COPY FROM accepts, `\\ooo` (1-3 octal digits) and
`\\xhh` (1-2 hex digits), and "backslash + any other character = that character"; they are
decoded anyway so the parser is the exact inverse of the format, not of one server's habits.
"""

from __future__ import annotations

import re

Row = tuple[bytes | None, ...]

_NULL = b"\\N"
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_LETTERS = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _replace(match: re.Match[bytes]) -> bytes:
    octal, hexa, char = match.groups()
    if octal is not None:
        return bytes((int(octal, 8) & 0xFF,))  # like PostgreSQL, \777 keeps the low 8 bits
    if hexa is not None:
        return bytes((int(hexa, 16),))
    return _LETTERS.get(char, char)


def unescape(field: bytes) -> bytes | None:
    """One field of a COPY text line (no tab, no newline) -> its value, None for `\\N`."""
    if field == _NULL:
        return None
    if b"\\" not in field:
        return field
    return _ESCAPE.sub(_replace, field)


def parse_line(line: bytes, ncols: int) -> Row:
    """One COPY text line (with or without its newline) of a row with `ncols` columns."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if ncols == 0:  # a row without columns is an empty line, not one empty field
        return ()
    fields = line.split(b"\t")
    if b"\\" not in line:  # the common case: no NULL and nothing escaped
        return tuple(fields)
    return tuple(map(unescape, fields))
