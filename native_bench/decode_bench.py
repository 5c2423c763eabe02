"""Micro benchmark of the pgoutput hot paths: routing-key extraction and full decode.

    python -m native_bench.decode_bench [--rows N] [--json]

Rows are a typical 8-column table (int8 pk, int4, text, numeric(12,2), timestamptz, text,
bool, jsonb) in text format, as pgoutput sends them. Prints rows/s per path (best of 5).
"""

import argparse
import json
import struct
import time

from bridge.pgoutput.messages import Relation, RelationColumn
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.pgoutput.relations import RelationCache
from bridge.route.keys import extract_key

RELATION_ID = 16_390
COLUMNS = (  # (name, type oid, typmod, is_key)
    ("id", 20, -1, True),
    ("qty", 23, -1, False),
    ("email", 25, -1, False),
    ("price", 1700, 786_438, False),
    ("created_at", 1184, -1, False),
    ("note", 25, -1, False),
    ("active", 16, -1, False),
    ("attrs", 3802, -1, False),
)


def _row(i: int) -> list[bytes]:
    return [
        str(1_000_000 + i).encode(),
        str(i % 1000).encode(),
        f"user{i}@example.com".encode(),
        f"{i % 100000}.{i % 100:02d}".encode(),
        b"2024-05-01 12:34:56.789012+00",
        b"a short free-text note about this row",
        b"t",
        b'{"tier": "gold", "tags": [1, 2, 3]}',
    ]


def _tuple(values: list[bytes | None]) -> bytes:
    out = [struct.pack(">H", len(values))]
    for v in values:
        out.append(b"n" if v is None else b"t" + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def _messages(n: int) -> dict[str, list[bytes]]:
    head = struct.pack(">I", RELATION_ID)
    inserts, updates, deletes = [], [], []
    for i in range(n):
        row = _row(i)
        inserts.append(b"I" + head + b"N" + _tuple(row))
        updates.append(b"U" + head + b"N" + _tuple(row))
        deletes.append(b"D" + head + b"K" + _tuple([row[0]] + [None] * 7))
    return {"insert": inserts, "update": updates, "delete": deletes}


def _rate(fn, msgs: list[bytes]) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for m in msgs:
            fn(m)
        best = min(best, time.perf_counter() - t0)
    return len(msgs) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    relation = Relation(
        RELATION_ID, "public", "orders", "d",
        tuple(RelationColumn(k, n, oid, mod) for n, oid, mod, k in COLUMNS),
    )
    cache = RelationCache()
    cache.add(relation)
    decoder = PgOutputDecoder(1)
    results = {}
    for kind, msgs in _messages(args.rows).items():
        results[f"route_{kind}_rows_per_s"] = round(_rate(lambda m: extract_key(m, cache), msgs))
        results[f"decode_{kind}_rows_per_s"] = round(_rate(decoder.decode, msgs))
    if args.json:
        print(json.dumps(results))
    else:
        for name, value in results.items():
            print(f"{name:32} {value:>12,}")


if __name__ == "__main__":
    main()
