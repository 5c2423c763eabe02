"""msgspec types generated per Connect schema, so that msgspec decodes a record straight into
its fields in schema order (no dict per row, the values taken out in one C call).

- `envelope_decoder(names)`: a change event's payload whose `before`/`after` rows have exactly
  the fields `names`, every one present (a row missing one, or holding another, fails
  validation: the caller reads that record the general way and gets the same change).
- `key_decoder(names)`: a record key's payload, `names` taken (absent: None), others ignored;
  with `exact`, exactly those fields (as `envelope_decoder`'s rows).
- `getter(fields)`: a row's values of `fields`, in that order, as a tuple.
Field attributes are named f0, f1... (renamed to the JSON names) so that any name works.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable

import msgspec


class Source(msgspec.Struct, gc=False):
    lsn: Any = None


def _struct(name: str, names: tuple[str, ...], required: bool) -> type:
    fields = [(f"f{i}", Any) if required else (f"f{i}", Any, None) for i in range(len(names))]
    return msgspec.defstruct(name, fields, rename={f"f{i}": n for i, n in enumerate(names)},
                             forbid_unknown_fields=required, gc=False)


def envelope_decoder(names: tuple[str, ...]) -> msgspec.json.Decoder:
    row = _struct("Row", names, True)
    envelope = msgspec.defstruct("Envelope", [("before", row | None, None), ("after", row | None, None),
                                              ("source", Source | None, None), ("op", Any, None)], gc=False)
    return msgspec.json.Decoder(envelope)


def key_decoder(names: tuple[str, ...], exact: bool = False) -> msgspec.json.Decoder:
    """`exact`: the key must have the fields `names` and no other (JSON without schemas, where
    nothing else says the key is like the one the lane was made from)."""
    return msgspec.json.Decoder(_struct("Key", names, exact))


def getter(fields: tuple[int, ...]) -> Callable[[object], tuple]:
    """The values of the fields at positions `fields` of a generated struct, as a tuple."""
    names = [f"f{i}" for i in fields]
    if len(names) >= 2:
        return attrgetter(*names)  # a tuple, in one call
    if names:
        one = attrgetter(names[0])
        return lambda row: (one(row),)
    return lambda row: ()
