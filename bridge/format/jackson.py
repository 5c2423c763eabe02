"""Jackson's spelling of JSON, which Kafka's JsonConverter (hence Debezium) writes.

Jackson writes characters outside the BMP as escaped surrogate pairs (`\\uD83C\\uDF89`) while
other non-ASCII stays raw UTF-8, and uses upper-case hex in `\\u00XX` escapes; msgspec writes raw
UTF-8 and lower-case hex. `jackson_json` respells msgspec's bytes; callers skip it, after a cheap
check, when the bytes are plain ASCII without an `ESCAPE`.
"""

from __future__ import annotations

import re

# the substring of every escape that Jackson spells differently (a control character's)
ESCAPE = b"\\u00"

_ASTRAL = re.compile(rb"[\xf0-\xf4][\x80-\xbf]{3}")
_BELOW_F0 = bytes(range(0xF0))
_ESCAPES = re.compile(rb"\\(\\|u00[01][0-9a-f])")


def _surrogates(m: re.Match) -> bytes:
    cp = ord(m[0].decode()) - 0x10000
    return b"\\u%04X\\u%04X" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF))


def _upper_hex(m: re.Match) -> bytes:
    return m[0] if m[1] == b"\\" else m[0].upper().replace(b"\\U", b"\\u")


def jackson_json(body: bytes) -> bytes:
    """msgspec's JSON bytes as Jackson writes them: characters above U+FFFF as `\\uD83C\\uDF89`,
    control characters as `\\u001F` (upper-case hex). Costs two scans when there is nothing
    to change (callers check `isascii()` and `ESCAPE` first)."""
    if not body.isascii() and body.translate(None, _BELOW_F0):  # UTF-8 lead bytes of U+10000..
        body = _ASTRAL.sub(_surrogates, body)
    if body.find(ESCAPE) >= 0:
        body = _ESCAPES.sub(_upper_hex, body)
    return body

