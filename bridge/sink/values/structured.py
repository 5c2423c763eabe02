"""Arrays, hstore and geometric values: Debezium's encodings -> PostgreSQL input text.

The reverse of bridge/convert/values_structured.py.
- Arrays become an array literal with every element double-quoted (backslash and quote escaped),
  which every element type's input reads, and NULL for null elements. Debezium sends one null
  per sub-array of a multi-dimensional array: those are lost at the source.
- hstore: a JSON object text (hstore.handling.mode=json) or a Connect map (map mode) becomes
  the `"k"=>"v"` literal; PostgreSQL orders the keys itself, so HashMap order does not matter.
- point {x, y, wkb, srid} -> '(x,y)'; line {a, b, c} -> '{a,b,c}'; circle {center, radius} ->
  '<(x,y),r>'; lseg, box, path and polygon arrive as Geometry {wkb, srid, extensions} whose
  extensions name the type (and whether a path is closed) and whose WKB holds the points.
- PostGIS geometry / geography {wkb, srid}: Debezium keeps the whole EWKB (with its SRID), which
  PostGIS reads as hex; a plain WKB with a separate srid gets the SRID put into it.
"""

from __future__ import annotations

import json
import struct
from base64 import b64decode
from collections.abc import Callable

from bridge.sink.values.scalars import floating, string

Decode = Callable[[object], str]
Nullable = Callable[[object], "str | None"]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array(element: Nullable) -> Decode:
    """A JSON array -> '{"e1","e2",NULL}' with `element` decoding each item (None: NULL)."""

    def decode(value: object) -> str:
        if type(value) is not list:
            raise ValueError(f"{value!r} is not an array")
        items = []
        for item in value:
            text = element(item)
            items.append("NULL" if text is None else quoted(text))
        return "{" + ",".join(items) + "}"

    return decode


# --- hstore ------------------------------------------------------------------------------------

def hstore_literal(pairs: dict) -> str:
    return ", ".join(f"{quoted(k)}=>{'NULL' if v is None else quoted(v)}" for k, v in pairs.items())


def hstore_from_json(value: object) -> str:
    """hstore.handling.mode=json: the object's text."""
    pairs = json.loads(string(value))
    if type(pairs) is not dict:
        raise ValueError(f"{value!r} is not a JSON object")
    return hstore_literal(pairs)


def hstore_from_map(value: object) -> str:
    """hstore.handling.mode=map: a Connect map of strings."""
    if type(value) is not dict:
        raise ValueError(f"{value!r} is not a map")
    return hstore_literal(value)


# --- geometry ----------------------------------------------------------------------------------

def _struct(value: object) -> dict:
    if type(value) is not dict:
        raise ValueError(f"{value!r} is not a struct")
    return value


def _pair(x: float | str, y: float | str) -> str:
    return f"({x},{y})"


def point(value: object) -> str:
    v = _struct(value)
    return _pair(floating(v["x"]), floating(v["y"]))


def line(value: object) -> str:
    v = _struct(value)
    return "{" + ",".join(floating(v[k]) for k in ("a", "b", "c")) + "}"


def circle(value: object) -> str:
    v = _struct(value)
    return f"<{point(v['center'])},{floating(v['radius'])}>"


_SRID_FLAG, _Z_FLAG, _M_FLAG = 0x20000000, 0x80000000, 0x40000000


def _wkb_points(wkb: bytes) -> list[str]:
    """The (x,y) of a 2D WKB LineString or the first ring of a Polygon, as '(x,y)' texts."""
    order = "<" if wkb[0] else ">"
    (kind,) = struct.unpack_from(order + "I", wkb, 1)
    pos = 9 if kind & _SRID_FLAG else 5
    kind &= 0xFFFF
    if kind == 3:  # Polygon: the number of rings, then the first ring
        pos += 4
    elif kind != 2:
        raise ValueError(f"WKB geometry type {kind} is not a LineString or Polygon")
    (count,) = struct.unpack_from(order + "I", wkb, pos)
    coords = struct.unpack_from(f"{order}{2 * count}d", wkb, pos + 4)
    return [_pair(repr(coords[i]), repr(coords[i + 1])) for i in range(0, 2 * count, 2)]


def native_geometry(kind: str | None) -> Decode:
    """lseg, box, path or polygon from a Geometry struct; `kind` None: the struct's extensions
    say which (Debezium 3.7 writes them), else the target column's type does."""

    def decode(value: object) -> str:
        v = _struct(value)
        ext = v.get("extensions") or {}
        what = ext.get("type") or kind
        points = _wkb_points(b64decode(string(v["wkb"]), validate=True))
        if what == "lseg":
            return "[" + ",".join(points) + "]"
        if what == "box":
            return f"{points[0]},{points[2]}"
        if what == "polygon":
            return "(" + ",".join(points[:-1]) + ")"
        if what == "path":
            body = ",".join(points)
            return f"({body})" if ext.get("closed") == "true" else f"[{body}]"
        raise ValueError(f"a Geometry without a native type ({what!r}) cannot go into this column")

    return decode


def postgis(value: object) -> str:
    """PostGIS geometry/geography: the (E)WKB as hex, the SRID put in when only the struct has it."""
    v = _struct(value)
    wkb = b64decode(string(v["wkb"]), validate=True)
    srid = v.get("srid")
    order = "<" if wkb[0] else ">"
    (kind,) = struct.unpack_from(order + "I", wkb, 1)
    if srid is not None and not kind & _SRID_FLAG:
        wkb = wkb[:1] + struct.pack(order + "Ii", kind | _SRID_FLAG, srid) + wkb[5:]
    return wkb.hex()


def point_as_postgis(value: object) -> str:
    """A Point struct into a PostGIS column: its WKB."""
    v = _struct(value)
    if v.get("wkb") is None:
        x, y = float(floating(v["x"])), float(floating(v["y"]))
        return struct.pack("<BIdd", 1, 1, x, y).hex()
    return postgis(v)
