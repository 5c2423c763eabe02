"""Micro benchmark of value conversion: pgoutput text -> Debezium JSON-ready values.

    python -m native_bench.convert_bench [--rows N] [--json]

Rows are the typical 8-column table (int8, int4, text, numeric(12,2), timestamptz, text, bool,
jsonb) as pgoutput sends them; each row's 8 values go through their column's converter (JSON
encoding is not included). Prints rows/s (best of 5), default conversion options.
"""

import argparse
import json
import time

from bridge.convert.options import ConversionOptions
from bridge.convert.types import BUILTIN_TYPES
from bridge.convert.values import converter_for

COLUMNS = ((20, -1), (23, -1), (25, -1), (1700, (12 << 16 | 2) + 4), (1184, -1), (25, -1), (16, -1), (3802, -1))


def _row(i: int) -> list[bytes]:
    return [
        str(1_000_000 + i).encode(),
        str(i % 1000).encode(),
        f"user{i}@example.com".encode(),
        f"{i % 100000}.{i % 100:02d}".encode(),
        f"2024-05-01 12:34:{i % 60:02d}.{i % 1000000:06d}+00".encode(),
        b"a short free-text note about this row",
        b"t" if i % 2 else b"f",
        b'{"plan": "pro", "seats": 5, "tags": ["a", "b"]}',
    ]


def run(rows: int) -> float:
    options = ConversionOptions()
    converters = [converter_for(BUILTIN_TYPES[oid], typmod, options) for oid, typmod in COLUMNS]
    converts = [c.convert for c in converters if c is not None]
    data = [_row(i) for i in range(rows)]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for row in data:
            [conv(raw) for conv, raw in zip(converts, row)]
        best = min(best, time.perf_counter() - start)
    return rows / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    args = parser.parse_args()
    rate = run(args.rows)
    if args.json:
        print(json.dumps({"bench": "convert", "rows": args.rows, "rows_per_s": round(rate)}))
    else:
        print(f"convert 8-column rows: {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
