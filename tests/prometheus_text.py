"""Reading Prometheus's text exposition format, for the tests of `/q/metrics`."""

from __future__ import annotations


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """{(name, sorted labels): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = tuple(sorted(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p))
        out[(name, tuple((k, v.strip('"')) for k, v in pairs))] = float(value)
    return out
