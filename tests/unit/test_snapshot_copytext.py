"""COPY text format parsing: every escape, NULL vs empty, batching, and a round trip against an
encoder written from PostgreSQL's CopyAttributeOutText (copyto.c)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.snapshot.copytext import RowBatcher, unescape


def copy_out_text(value: bytes | None) -> bytes:
    """What COPY TO (text format) writes for one value: CopyAttributeOutText."""
    if value is None:
        return b"\\N"
    table = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v", 0x0C: b"\\f", 0x0D: b"\\r", 0x5C: b"\\\\"}
    return b"".join(table.get(byte, bytes((byte,))) for byte in value)


def read(lines: list[bytes], ncols: int, batch_rows: int = 100) -> list[list[tuple]]:
    batches: list[list[tuple]] = []
    sink = RowBatcher(ncols, batch_rows, batches.append)
    for line in lines:
        sink.write(line)
    sink.close()
    return batches


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b"plain", b"plain"),
        (b"", b""),  # the empty string is not NULL
        (b"\\N", None),
        (b"\\\\N", b"\\N"),  # the text "\N" is not NULL either
        (b"a\\tb\\nc\\rd\\be\\ff\\vg", b"a\tb\nc\rd\be\ff\vg"),
        (b"back\\\\slash", b"back\\slash"),
        (b"\\\\x0102ff", b"\\x0102ff"),  # bytea hex output
        (b"\\\\\\\\", b"\\\\"),
        (b"\\\\n", b"\\n"),  # escaped backslash, then a plain n
        (b"\\\\\\n", b"\\\n"),  # escaped backslash, then a newline
        (b"\\101\\60\\0", b"A0\x00"),  # octal, 1 to 3 digits
        (b"\\1011", b"A1"),  # at most 3 octal digits
        (b"\\777", b"\xff"),  # PostgreSQL keeps the low 8 bits
        (b"\\x41\\x4a\\x4", b"AJ\x04"),  # hex, 1 or 2 digits
        (b"\\x4142", b"A42"),  # two hex digits at most
        (b"\\xg", b"xg"),  # \x without a hex digit is a plain x
        (b"\\q\\.\\\"", b'q."'),  # any other escaped character is itself
        ("žš ☃ \\t €".encode(), "žš ☃ \t €".encode()),  # non-ASCII bytes pass through
    ],
)
def test_unescape(field, value):
    assert unescape(field) == value


def test_rows_split_on_unescaped_tabs_only():
    # GIVEN a row whose values contain tabs, newlines and backslashes, a NULL and an empty string
    line = b"1\tone\\ttab\\nnewline\t\\N\t\t\\\\\tend\n"
    # WHEN parsed THEN escaped separators stay inside their value
    assert read([line], 6) == [[(b"1", b"one\ttab\nnewline", None, b"", b"\\", b"end")]]


def test_batches_are_cut_at_batch_rows_and_the_rest_is_flushed_on_close():
    lines = [f"{i}\tv{i}\n".encode() for i in range(7)]
    batches = read(lines, 2, batch_rows=3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert batches[2] == [(b"6", b"v6")]


def test_rows_total_counts_every_emitted_row():
    sink = RowBatcher(1, 2, lambda rows: None)
    for line in (b"a\n", b"b\n", b"c\n"):
        sink.write(line)
    sink.close()
    assert sink.rows_total == 3


def test_a_row_without_columns_is_an_empty_tuple():
    assert read([b"\n", b"\n"], 0) == [[(), ()]]


def test_a_single_null_or_empty_column():
    assert read([b"\\N\n", b"\n"], 1) == [[(None,), (b"",)]]


def test_nothing_is_emitted_for_no_rows():
    assert read([], 3) == []


values = st.one_of(st.none(), st.binary(max_size=30), st.text(max_size=10).map(str.encode))


@given(st.lists(st.lists(values, min_size=1, max_size=6), min_size=1, max_size=20).filter(
    lambda rows: len({len(r) for r in rows}) == 1))
def test_round_trip_of_what_copy_writes(rows):
    # GIVEN rows of arbitrary bytes (NUL aside, which text values cannot hold) as COPY writes them
    rows = [[None if v is None else v.replace(b"\0", b"") for v in row] for row in rows]
    lines = [b"\t".join(copy_out_text(v) for v in row) + b"\n" for row in rows]
    # THEN parsing gives the values back
    assert [list(r) for batch in read(lines, len(rows[0]), batch_rows=7) for r in batch] == rows
