"""bytea, bit/varbit and `binary.handling.mode`, as Connect values.

`bytes` mode gives a Connect BYTES value (`bytes`), which JsonConverter writes as standard
base64 with padding; the other modes give strings: `base64` that same base64 (so `bytes` and
`base64` give the same JSON, only the schema differs), `base64-url-safe`
java.util.Base64.getUrlEncoder() (padded), `hex` lower-case hex (HexConverter).
"""

from __future__ import annotations

import re
from base64 import urlsafe_b64encode
from binascii import b2a_base64, unhexlify
from collections.abc import Callable

Convert = Callable[[bytes], object]

_ESCAPE = re.compile(rb"\\(\\|[0-7]{3})")


def bytea_from_text(raw: bytes) -> bytes:
    """byteaout text in either bytea_output format: hex (\\x0102) or escape (\\001\\\\a)."""
    if raw[:2] == b"\\x":
        return unhexlify(raw[2:])
    return _ESCAPE.sub(lambda m: b"\\" if m[1] == b"\\" else bytes((int(m[1], 8),)), raw)


def _b64(data: bytes) -> str:
    return b2a_base64(data, newline=False).decode()


def connect_bytes(mode: str) -> Callable[[bytes], bytes | str]:
    """bytes -> the Connect value of a binary.handling.mode: the bytes, or a string."""
    if mode == "bytes":
        return bytes
    if mode == "hex":
        return lambda data: data.hex()
    if mode == "base64-url-safe":
        return lambda data: urlsafe_b64encode(data).decode()
    return _b64


def bytea_converter(mode: str) -> Convert:
    if mode == "hex":
        # the hex text output already is the answer
        return lambda raw: raw[2:].decode() if raw[:2] == b"\\x" else bytea_from_text(raw).hex()
    if mode == "bytes":
        return bytea_from_text
    encode = connect_bytes(mode)
    return lambda raw: encode(bytea_from_text(raw))


def text_as_binary_converter(mode: str) -> Convert:
    """include.unknown.datatypes: the value's text, as bytes (Debezium's convertBinary(String))."""
    return connect_bytes(mode)


def bit_bool(raw: bytes) -> object:
    """bit(1) / varbit(1) -> boolean (Integer.valueOf(text, 2) != 0)."""
    return raw.strip(b"0") != b""


def bits_value(raw: bytes) -> object:
    """bit(n>1)/varbit -> io.debezium.data.Bits: BitSet.toByteArray() of the bit string read with
    its last character as bit 0, i.e. the number little-endian in as few bytes as it needs
    (b'11' -> [3], b'1000000' -> [64], b'00' -> [] ; the declared length does not pad it).
    """
    n = int(raw, 2) if raw else 0  # varbit '' -> no bytes
    return n.to_bytes((n.bit_length() + 7) // 8, "little")
