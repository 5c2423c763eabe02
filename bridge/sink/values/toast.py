"""The unchanged-TOAST placeholder (`unavailable.value.placeholder`) in each encoding a source
gives it (bridge/convert/values.py `_toast_value`, Debezium's UnchangedToastedPlaceholder):
- the string itself: text-like, json/jsonb, xml, enum... and a bytea in binary.handling.mode=hex;
- a bytea's BYTES (the placeholder's UTF-8, as base64 in the JSON), and, from other writers, its
  hex or base64-url-safe spelling;
- arrays: [placeholder] (text, varchar, bpchar, json, jsonb), [its base64] (bytea), the
  placeholder's UTF-8 bytes as numbers (int4, int8, date), [its name-based UUID] (uuid);
- hstore: {placeholder: placeholder} (map mode) or that object's JSON text (json mode).
The encodings differ enough from real values that they are recognised by value alone: `field`
is accepted for callers that have it, and a schemaless caller passes None.
"""

from __future__ import annotations

import hashlib
import uuid
from base64 import b64encode, urlsafe_b64encode
from functools import lru_cache

from bridge.convert.values_structured import jackson_string


@lru_cache(maxsize=8)
def _encodings(placeholder: str) -> tuple[frozenset[str], tuple[list, ...], dict]:
    data = placeholder.encode()
    b64 = b64encode(data).decode()
    quoted = jackson_string(placeholder)
    strings = frozenset({placeholder, b64, data.hex(), urlsafe_b64encode(data).decode(), "{" + quoted + ":" + quoted + "}"})
    name_uuid = str(uuid.UUID(bytes=hashlib.md5(data).digest(), version=3))  # UUID.nameUUIDFromBytes
    lists = ([placeholder], [b64], list(data), [name_uuid])
    return strings, lists, {placeholder: placeholder}


def is_unavailable(field: dict | None, value: object, placeholder: str) -> bool:
    """Whether `value` (JSON-decoded) is the placeholder of an unchanged TOASTed column."""
    kind = type(value)
    if kind is str:
        return value in _encodings(placeholder)[0]
    if kind is list:
        return bool(value) and value in _encodings(placeholder)[1]
    if kind is dict:
        return value == _encodings(placeholder)[2]
    return False


def unavailable_at(values: tuple, placeholder: str) -> list[int]:
    """The positions of `values` that hold the placeholder (`is_unavailable` over a row, in one call)."""
    strings, lists, mapping = _encodings(placeholder)
    try:  # a row of scalars (the usual one) in one C call: only a string can equal one of `strings`
        if strings.isdisjoint(values):
            return []
    except TypeError:  # a list or a dict among them (not hashable): each value tested
        pass
    return [i for i, v in enumerate(values) if (type(v) is str and v in strings) or (
        type(v) is list and v and v in lists) or (type(v) is dict and v == mapping)]
