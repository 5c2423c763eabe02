"""Debezium's `source` block (io.debezium.connector.postgresql.Source), written once.

`FIELDS` is the block in Debezium 3.7's field order: each field's value as an expression over
the block's inputs (`INPUTS`), and how a table's template writes it. Both forms are compiled
from it, so their fields and order cannot disagree:
- `source_block(...)`: the dict (side events encode it through their writer);
- `SourceTemplate`: the JSON of one table's blocks. Fields known with the table are written
  when the table's shape is known; `txn` writes the others once per transaction, and leaves
  the event's LSN (in `sequence` and `lsn`) as `%d` slots.

Both are generated code (like `bridge.produce.fastrows`): a transaction's part of the block is
one function call and one `%`, since small transactions make it once per few rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import msgspec

from bridge import __version__
from bridge.format.jackson import ESCAPE, jackson_json
from bridge.format.json import json_bytes, literal

SOURCE_VERSION = f"{__version__}-pgbridge"
_encode = msgspec.json.Encoder().encode

# the block's inputs: the connector's logical name (topic.prefix), the database, the table; then
# per transaction the snapshot marker ("false" when streaming), the commit time, the xid, the
# previous transaction's commit position (`sequence`'s anchor); then the event's LSN
INPUTS = ("prefix", "db", "schema", "table", "snapshot", "commit_ts_us", "txid", "last_commit_lsn", "lsn")

# (field, its value, how a table's template writes it: "table" known with the table; known per
# transaction, "int" a number, "int?" a number or None, "word" one of a few strings, "json" any
# value; "lsn" the event's LSN)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("version", "VERSION", "table"),
    ("connector", "'postgresql'", "table"),
    ("name", "prefix", "table"),
    ("ts_ms", "commit_ts_us // 1000", "int"),
    ("snapshot", "snapshot", "word"),
    ("db", "db", "table"),
    ("sequence", "sequence(last_commit_lsn, lsn)", "json"),
    ("ts_us", "commit_ts_us", "int"),
    ("ts_ns", "commit_ts_us * 1000", "int"),
    ("schema", "schema", "table"),
    ("table", "table", "table"),
    ("txId", "txid", "int?"),
    ("lsn", "lsn", "lsn"),
    ("xmin", "None", "table"),
    ("origin", "None", "table"),
    ("origin_lsn", "None", "table"),
)


def _sequence(last_commit_lsn: int | None, lsn: int) -> str:
    """`["<last commit LSN>","<LSN>"]`, the first null when there is none (JSON of numbers' strings)."""
    return f'[null,"{lsn}"]' if last_commit_lsn is None else f'["{last_commit_lsn}","{lsn}"]'


def sequence_head(last_commit_lsn: int | None) -> bytes:
    """`_sequence`'s text before the event's LSN (`SEQUENCE_TAIL` follows it), in UTF-8."""
    return b'[null,"' if last_commit_lsn is None else b'["%d","' % last_commit_lsn


SEQUENCE_TAIL = b'"]'


# An LSN no event has (LSNs are unsigned) for the event's while a transaction's values are
# written: its digits become the `%d` slot. Nothing else in those values (numbers >= 0, null,
# the snapshot marker) holds them.
_LSN_MARK = -(2**63)
_LSN_DIGITS = b"%d" % _LSN_MARK


def _txn_json(value: object) -> bytes:
    """`value`'s JSON for a template's slot (`json_bytes` and `literal`, inlined)."""
    body = _encode(value)
    if not body.isascii() or body.find(ESCAPE) >= 0:
        body = jackson_json(body)
    return body.replace(b"%", b"%%").replace(_LSN_DIGITS, b"%d")


# the names `FIELDS`' expressions use besides `INPUTS` (what code compiled from them needs)
NAMES: dict[str, object] = {"VERSION": SOURCE_VERSION, "sequence": _sequence}


def _compile(name: str, expression: str) -> Callable:
    ns: dict[str, object] = {**NAMES, "J": _txn_json, "W": lru_cache(maxsize=32)(_txn_json)}
    source = f"def {name}({', '.join(INPUTS)}):\n    return {expression}"
    exec(compile(source, f"<pgbridge {name}>", "exec"), ns)  # noqa: S102 - code made from FIELDS only
    return ns[name]  # type: ignore[return-value]


# source_block(prefix, db, schema, table, snapshot, commit_ts_us, txid, last_commit_lsn, lsn) -> dict
source_block: Callable[..., dict] = _compile(
    "source_block", "{" + ", ".join(f"{field!r}: {value}" for field, value, _ in FIELDS) + "}")
# the values of a table's template's slots for one transaction (with the event's LSN marked)
_SLOT_VALUES = {"int": "{}", "int?": 'b"null" if {0} is None else b"%d" % {0}', "word": "W({})", "json": "J({})"}
_txn_values: Callable[..., tuple] = _compile("txn_values", "(" + "".join(
    f"{_SLOT_VALUES[how].format(value)}, " for _, value, how in FIELDS if how in _SLOT_VALUES) + ")")


class SourceTemplate:
    """One table's source blocks. `template` is made for two rounds of `%`: a transaction's
    values, then an event's LSN."""

    __slots__ = ("template", "inputs")

    def __init__(self, prefix: str, db: str, schema: str, table: str) -> None:
        self.inputs = (prefix, db, schema, table)  # the table's `INPUTS`
        known = source_block(prefix, db, schema, table, "", 0, None, None, _LSN_MARK)
        pieces = []
        for field, _, how in FIELDS:
            if how == "table":  # escaped for both rounds
                piece = literal(literal(json_bytes(known[field])))
            else:
                piece = b"%%d" if how == "lsn" else b"%d" if how == "int" else b"%s"
            pieces.append(b'"%s":%s' % (field.encode(), piece))
        self.template = b"{" + b",".join(pieces) + b"}"

    def block(self, snapshot: str, commit_ts_us: int, txid: int | None, last_commit_lsn: int | None,
              lsn: int) -> dict:
        """One event's block as a Connect value (for writers without templates)."""
        return source_block(*self.inputs, snapshot, commit_ts_us, txid, last_commit_lsn, lsn)

    def txn(self, snapshot: str, commit_ts_us: int, txid: int | None, last_commit_lsn: int | None) -> bytes:
        """The block of the transaction's events, as a `%` template whose `%d` slots (one per
        use) take the event's LSN."""
        return self.template % _txn_values(*self.inputs, snapshot, commit_ts_us, txid, last_commit_lsn, _LSN_MARK)
