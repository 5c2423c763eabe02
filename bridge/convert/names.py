"""Debezium's name adjusters (SchemaNameAdjuster): `schema.name.adjustment.mode` for the Connect
schema names of a table (`<topic>.Key`, `.Value`, `.Envelope`, and the names transforms derive
from a topic), `field.name.adjustment.mode` for its field names (the column names).

Walking the name by UTF-16 unit, as Java walks a String:
- `none`: the name as it is.
- `avro`: a unit Avro does not allow becomes `_`. Allowed first: an ASCII letter or `_`; then
  also digits and, in a schema name (a full name), `.`. A leading digit is kept after its `_`
  (`1st` → `_1st`).
- `avro_unicode`: such a unit becomes `_u` + its code in lower-case hex, padded to 4 digits only
  when it has 1 or 2 (`-` → `_u002d`, U+0100 → `_u100`); here `_` itself is not allowed.

Debezium's adjusters of the two Avro modes remember every name they changed (one adjuster per
kind per JVM) and fail the connector when two different names become the same one; the
adjusters here remember theirs for the process and raise `NameConflict` as that.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.errors import ConfigError

MODES = ("none", "avro", "avro_unicode")

Adjuster = Callable[[str], str]


class NameConflict(ConfigError):
    """Two different names became the same valid Avro name (Debezium fails the connector)."""


def _letter(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _units(text: str) -> list[int]:
    raw = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _unicode(unit: int) -> str:
    code = f"{unit:x}"
    return "_u" + ("00" + code if len(code) <= 2 else code)


def adjusted(name: str, mode: str, field: bool = False) -> str:
    """`name` as the adjuster of `mode` writes it; `field`: the field namer (no `.`)."""
    if mode == "none" or not name or name.isascii() and not name[0].isdigit() and (
            name.replace("_", "a").isalnum() if mode == "avro" else name.isalnum()):
        return name  # nothing to replace (the common case, checked at C speed)
    unicode = mode == "avro_unicode"
    out = []
    for i, unit in enumerate(_units(name)):
        c = chr(unit)
        if _letter(c) or (c == "_" and not unicode) or (i and ("0" <= c <= "9" or c == "." and not field)):
            out.append(c)
        elif unicode:
            out.append(_unicode(unit))
        else:
            out.append("_" + c if i == 0 and "0" <= c <= "9" else "_")
    return "".join(out)


def adjuster(mode: str, field: bool = False) -> Adjuster:
    """The process's adjuster of `mode` (one of MODES) for schema names, or field names with
    `field`: it raises `NameConflict` when a name it changes becomes one it made of another."""
    if mode == "none":
        return _same
    return _ADJUSTERS[mode, field]


def _same(name: str) -> str:
    return name


def _remembering(mode: str, field: bool) -> Adjuster:
    originals: dict[str, str] = {}  # replacement → the name it replaced

    def adjust(name: str) -> str:
        new = adjusted(name, mode, field)
        if new != name and originals.setdefault(new, name) != name:
            what = "field" if field else "schema"
            raise NameConflict(f"the {what} name {name!r} is not a valid Avro name and its replacement {new!r} "
                               f"is also the replacement of {originals[new]!r} "
                               f"({what}.name.adjustment.mode={mode}; Debezium stops on this too): rename one")
        return new
    return adjust


_ADJUSTERS = {(mode, field): _remembering(mode, field) for mode in MODES[1:] for field in (False, True)}
