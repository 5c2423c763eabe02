"""Values with inner structure: arrays, hstore, point, PostGIS geometry/geography.

Debezium facts (PostgresValueConverter, pgjdbc PgArray/HStoreConverter/PGpoint, io.debezium.data.*):
- An array is converted element by element; a multi-dimensional array yields one null per
  sub-array (the element converter cannot handle the nested java array and Debezium's
  handleUnknownData returns null for the optional element).
- hstore comes from pgjdbc's HStoreConverter.fromString, a java.util.HashMap: the JSON object
  (json mode) and the Connect map (map mode) list keys in HashMap iteration order, not in the
  order PostgreSQL printed them; `java_hashmap_order` reproduces that order. The json mode
  string is written by Jackson (compact, its own escapes).
- point -> io.debezium.data.geometry.Point {x, y, wkb (little-endian WKB point), srid null}.
- Debezium 3.7 (3.6 dropped them): line -> io.debezium.data.geometry.Line {a, b, c};
  lseg / path -> Geometry (version 2) {wkb LineString, srid null, extensions {"type": "lseg" |
  "path", "closed" (path only): "true"/"false"}}; box / polygon -> Geometry with a one-ring
  WKB Polygon (box: (x1,y1),(x1,y2),(x2,y2),(x2,y1),(x1,y1); polygon: its points and the first
  again), extensions {"type": "box" | "polygon"}; circle -> io.debezium.data.geometry.Circle
  {center: Point, radius}. Doubles are spelled by Java (values_float).
- PostGIS text output is hex EWKB; Debezium keeps all of it as `wkb` and only reads the SRID.
Values are Connect values: a `wkb` is `bytes` (the JSON writer spells it as base64).
"""

from __future__ import annotations

import re
import struct
from binascii import unhexlify
from collections.abc import Callable, Iterable

from bridge.convert.values_float import raw_double

Convert = Callable[[bytes], object]


# --- arrays ------------------------------------------------------------------------------------


def parse_array(text: str, delim: str = ",") -> list[object]:
    """array_out text -> nested lists of element texts (bytes) or None for NULL.

    Handles quoting, backslash escapes, NULL, nested dimensions and a leading '[1:3]=' bounds
    decoration. `delim` is the element type's typdelim (';' for box, ',' otherwise).
    """
    if text[0] == "[":
        text = text[text.index("=") + 1 :]
    stack: list[list[object]] = []
    result: list[object] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            new: list[object] = []
            if stack:
                stack[-1].append(new)
            else:
                result = new
            stack.append(new)
            i += 1
        elif ch == "}":
            stack.pop()
            i += 1
        elif ch == delim or ch.isspace():
            i += 1
        elif ch == '"':
            buf = []
            i += 1
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                buf.append(text[i])
                i += 1
            stack[-1].append("".join(buf).encode())
            i += 1
        else:
            j = i
            while text[j] != delim and text[j] != "}":
                j += 1
            token = text[i:j].strip()
            stack[-1].append(None if token.upper() == "NULL" else token.encode())
            i = j
    return result


def array_converter(element: Convert) -> Convert:
    def convert(raw: bytes) -> object:
        return [element(item) if isinstance(item, bytes) else None for item in parse_array(raw.decode())]

    return convert


# --- hstore ------------------------------------------------------------------------------------


def parse_hstore(text: str) -> list[tuple[str, str | None]]:
    """hstore_out text ('"k"=>"v", "n"=>NULL') -> pairs in printed order (HStoreConverter rules)."""
    pairs: list[tuple[str, str | None]] = []
    pos, n = 0, len(text)
    while pos < n:
        start = text.find('"', pos)
        if start < 0:
            break
        key, pos = _quoted(text, start)
        pos += 2  # past '=>' (the closing quote was consumed by _quoted)
        if text[pos] == "N":
            value, pos = None, pos + 4
        else:
            value, pos = _quoted(text, pos)
        pairs.append((key, value))
    return pairs


def _quoted(text: str, start: int) -> tuple[str, int]:
    """Read the "..." starting at `start`; returns the unescaped text and the index after it."""
    buf = []
    i = start + 1
    while text[i] != '"':
        if text[i] == "\\":
            i += 1
        buf.append(text[i])
        i += 1
    return "".join(buf), i + 1


def _java_string_hash(s: str) -> int:
    """java.lang.String.hashCode over UTF-16 code units, as an unsigned 32-bit value."""
    data = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def java_hashmap_order(keys: Iterable[str]) -> list[str]:
    """Iteration order of a java.util.HashMap filled with `keys` (distinct) in this order.

    Bucket = spread(hashCode) & (capacity - 1); the table starts at 16 and doubles whenever
    size exceeds 0.75 * capacity; a bucket keeps insertion order (resizes split it stably).
    Tree bins (8+ keys colliding in one bucket) are not modelled.
    """
    keys = list(keys)
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2
    mask = capacity - 1

    def bucket(k: str) -> int:
        h = _java_string_hash(k)
        return (h ^ (h >> 16)) & mask

    return sorted(keys, key=bucket)  # sorted() is stable: insertion order within a bucket


_JACKSON_ESCAPES = {i: f"\\u{i:04X}" for i in range(32)} | {
    8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\",
}


def jackson_string(s: str) -> str:
    return '"' + s.translate(_JACKSON_ESCAPES) + '"'


def hstore_map(raw: bytes) -> dict[str, str | None]:
    pairs = dict(parse_hstore(raw.decode()))
    return {k: pairs[k] for k in java_hashmap_order(pairs)}


def hstore_json(raw: bytes) -> str:
    pairs = hstore_map(raw)
    body = ",".join(
        f"{jackson_string(k)}:{'null' if v is None else jackson_string(v)}" for k, v in pairs.items()
    )
    return "{" + body + "}"


# --- geometry ----------------------------------------------------------------------------------

_WKB_POINT = struct.Struct("<BIdd")


def point_value(raw: bytes) -> object:
    """'(1.5,-2)' -> Point struct; wkb is Point.buildWKBPoint: byte 1, then LE type 1, x, y."""
    x_text, y_text = raw.strip(b"()").split(b",")
    return _point(float(x_text), float(y_text))


def _point(x: float, y: float) -> dict:
    return {"x": raw_double(x), "y": raw_double(y), "wkb": _WKB_POINT.pack(1, 1, x, y), "srid": None}


_NUMBER = re.compile(rb"[^()\[\]<>{},\s]+")
_WKB_LINESTRING = struct.Struct("<BII")  # byte order 1 (LE), type 2, number of points
_WKB_POLYGON = struct.Struct("<BIII")  # byte order 1 (LE), type 3, 1 ring, number of points


def _coordinates(raw: bytes) -> list[float]:
    return [float(n) for n in _NUMBER.findall(raw)]


def _pairs(raw: bytes) -> list[tuple[float, float]]:
    c = _coordinates(raw)
    return list(zip(c[0::2], c[1::2]))


def _packed(points: list[tuple[float, float]]) -> bytes:
    return struct.pack(f"<{2 * len(points)}d", *(v for p in points for v in p))


def _geometry(wkb: bytes, extensions: dict[str, str]) -> dict:
    return {"wkb": wkb, "srid": None, "extensions": extensions}


def line_value(raw: bytes) -> object:
    """'{1,-1,0}' -> Line {a, b, c} (Ax + By + C = 0)."""
    a, b, c = _coordinates(raw)
    return {"a": raw_double(a), "b": raw_double(b), "c": raw_double(c)}


def lseg_value(raw: bytes) -> object:
    """'[(0,0),(1,1)]' -> Geometry: a two-point LineString."""
    points = _pairs(raw)
    return _geometry(_WKB_LINESTRING.pack(1, 2, len(points)) + _packed(points), {"type": "lseg"})


def path_value(raw: bytes) -> object:
    """'[(0,0),(1,1)]' (open) or '((0,0),(1,1))' (closed) -> Geometry: a LineString."""
    points = _pairs(raw)
    closed = "true" if raw[:1] == b"(" else "false"
    return _geometry(_WKB_LINESTRING.pack(1, 2, len(points)) + _packed(points), {"type": "path", "closed": closed})


def box_value(raw: bytes) -> object:
    """'(1,1),(0,0)' -> Geometry: a Polygon walking the corners from (x1,y1)."""
    (x1, y1), (x2, y2) = _pairs(raw)
    ring = [(x1, y1), (x1, y2), (x2, y2), (x2, y1), (x1, y1)]
    return _geometry(_WKB_POLYGON.pack(1, 3, 1, 5) + _packed(ring), {"type": "box"})


def polygon_value(raw: bytes) -> object:
    """'((0,0),(1,1),(2,0))' -> Geometry: a Polygon whose ring repeats the first point."""
    ring = _pairs(raw)
    ring.append(ring[0])
    return _geometry(_WKB_POLYGON.pack(1, 3, 1, len(ring)) + _packed(ring), {"type": "polygon"})


def circle_value(raw: bytes) -> object:
    """'<(1,2),3>' -> Circle {center: Point, radius}."""
    x, y, r = _coordinates(raw)
    return {"center": _point(x, y), "radius": raw_double(r)}


_EWKB_SRID_FLAG = 0x20000000


def postgis_value(raw: bytes) -> object:
    """Hex EWKB -> {wkb, srid} (PostgisGeometry.fromHexEwkb)."""
    ewkb = unhexlify(raw)
    order = "<" if ewkb[0] else ">"
    (geom_type,) = struct.unpack_from(order + "I", ewkb, 1)
    srid = struct.unpack_from(order + "i", ewkb, 5)[0] if geom_type & _EWKB_SRID_FLAG else None
    return {"wkb": ewkb, "srid": srid}
