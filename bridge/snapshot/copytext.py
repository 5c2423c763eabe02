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
from collections.abc import Callable

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
    if field.count(b"\\") == 2 * field.count(b"\\\\"):
        # Only escaped backslashes (every bytea in hex output, JSON with escapes): pairing them
        # left to right is what the escape scan does, so a plain replace is exact.
        return field.replace(b"\\\\", b"\\")
    return _ESCAPE.sub(_replace, field)


class RowBatcher:
    """The file object `cursor.copy_expert` writes to: psycopg2 calls `write` once per row (one
    CopyData message), so rows are parsed as they arrive and handed to `emit` in lists of
    `batch_rows`; `emit` may block, which pauses the COPY (backpressure, bounded memory).

    `write` is the snapshot's hot loop, hence everything inlined."""

    __slots__ = ("_rows", "_batch_rows", "_emit", "_ncols", "rows_total")

    def __init__(self, ncols: int, batch_rows: int, emit: Callable[[list[Row]], None]) -> None:
        self._rows: list[Row] = []
        self._batch_rows = batch_rows
        self._emit = emit
        self._ncols = ncols
        self.rows_total = 0

    def write(self, line: bytes) -> None:
        fields = line.split(b"\t")
        fields[-1] = fields[-1][:-1]  # the newline
        rows = self._rows
        rows.append(tuple(map(unescape, fields)) if b"\\" in line else tuple(fields))
        if len(rows) == self._batch_rows:
            self._flush()

    def close(self) -> None:
        """Emit the last, partial batch."""
        if self._rows:
            self._flush()

    def _flush(self) -> None:
        rows = self._rows
        if self._ncols == 0:  # a row without columns is an empty line, not one empty field
            rows = [()] * len(rows)
        self._rows = []
        self.rows_total += len(rows)
        self._emit(rows)
