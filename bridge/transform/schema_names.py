"""Debezium's schema name adjusters (`schema.name.adjustment.mode`), as transforms apply them
to the schema names they derive from a topic.

- `none`: the name as it is.
- `avro`: every character Avro does not allow in a full name becomes `_` (first character: a
  letter or `_`; then also digits and `.`); a leading digit is kept after its `_`.
- `avro_unicode`: such a character becomes `_u` + its UTF-16 code in hex (at least 4 digits);
  here `_` itself is not allowed (first character: a letter; then also digits and `.`).
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.errors import ConfigError

MODES = ("none", "avro", "avro_unicode")


def _letter(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _avro(name: str) -> str:
    out = []
    for i, unit in enumerate(_utf16(name)):  # a character outside the BMP is two
        c = chr(unit)
        if _letter(c) or c == "_" or (i and (c == "." or "0" <= c <= "9")):
            out.append(c)
        else:
            out.append("_" + c if i == 0 and "0" <= c <= "9" else "_")
    return "".join(out)


def _utf16(text: str) -> list[int]:
    raw = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _avro_unicode(name: str) -> str:
    out = []
    for i, unit in enumerate(_utf16(name)):
        c = chr(unit)
        if _letter(c) or (i and (c == "." or "0" <= c <= "9")):
            out.append(c)
        else:
            code = f"{unit:x}"
            out.append("_u" + ("00" + code if len(code) <= 2 else code))
    return "".join(out)


def adjuster(mode: str, what: str) -> Callable[[str], str]:
    """The adjuster of `mode` (case-insensitive); `what` names the key in the error."""
    mode = mode.strip().lower()
    if mode == "none":
        return lambda name: name
    if mode == "avro":
        return _avro
    if mode == "avro_unicode":
        return _avro_unicode
    raise ConfigError(f"{what}={mode} is invalid: use one of {', '.join(MODES)}")
