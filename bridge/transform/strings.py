"""Java's view of a string, as Debezium's column mappers see it: lengths in UTF-16 code units,
and the bytes a salted digest reads.

- Truncation (TruncateColumn) keeps `String.substring(0, n)`: `n` UTF-16 units, so a character
  outside the BMP counts twice and may be cut in half, leaving its high surrogate alone at the
  end of the string (the writers spell it as Java does: `\\uD83C` in JSON, `?` in bytes).
- Hashing (MaskStrings.HashValueConverter) digests the salt's bytes, then the value's bytes:
  V1 the value as `ObjectOutputStream.writeObject` writes a String (stream header, TC_STRING
  with a 2-byte length, or TC_LONGSTRING with an 8-byte one past 65535 bytes, then modified
  UTF-8: CESU-8 surrogates and NUL as C0 80); V2 `String.getBytes()`, the JVM's default charset,
  UTF-8 (the default of Java 18+, and of Java 17 under a UTF-8 locale). The digest is written
  as lower-case hex.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_STREAM_HEADER = b"\xac\xed\x00\x05"  # STREAM_MAGIC, STREAM_VERSION
_TC_STRING, _TC_LONGSTRING = b"t", b"|"


def utf16_length(text: str) -> int:
    """Java's `String.length()`."""
    return len(text) if text.isascii() else len(text) + len(_ASTRAL.findall(text))


def _pair(m: re.Match[str]) -> str:
    cp = ord(m[0]) - 0x10000
    return chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF))


def _utf16_units(text: str) -> str:
    """`text` with every character outside the BMP as its two surrogates."""
    return _ASTRAL.sub(_pair, text)


def truncate_text(text: str, n: int) -> str:
    """Java's `text.substring(0, n)` when `text.length() > n`, else `text`."""
    if len(text) <= n and (text.isascii() or utf16_length(text) <= n):
        return text
    if text.isascii() or utf16_length(text) == len(text):
        return text[:n]
    units = _utf16_units(text)[:n]
    # the pairs joined again; a high surrogate the cut left alone stays as it is
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def java_serialized(text: str) -> bytes:
    """The bytes `new ObjectOutputStream(bos).writeObject(text)` leaves in `bos`."""
    if text.isascii() and "\x00" not in text:
        body = text.encode()
    else:
        body = _utf16_units(text).encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) <= 0xFFFF:
        return _STREAM_HEADER + _TC_STRING + struct.pack(">H", len(body)) + body
    return _STREAM_HEADER + _TC_LONGSTRING + struct.pack(">q", len(body)) + body


def hasher(algorithm: str, salt: bytes, v2: bool, length: int) -> Callable[[object], str | None]:
    """A column's hash mapping: the hex digest of `salt` + the value's bytes (V1 or V2), cut to
    `length` characters when that is positive (the column's declared length); None stays None."""
    serialize = (lambda text: text.encode()) if v2 else java_serialized
    salted = hashlib.new(algorithm, salt)

    def hash_value(value: object) -> str | None:
        if value is None:
            return None
        digest = salted.copy()
        digest.update(serialize(value))  # type: ignore[arg-type]  # a string column's value is a str
        hex_ = digest.hexdigest()
        return hex_[:length] if 0 < length < len(hex_) else hex_

    return hash_value
