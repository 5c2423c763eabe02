"""Snapshot configuration: Debezium's `snapshot.*` keys for the initial snapshot, and its
signalling and `incremental.snapshot.*` keys for incremental snapshots."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.route.filters import compile_list

log = logging.getLogger(__name__)

SOURCE = "debezium.source."
OVERRIDES = SOURCE + "snapshot.select.statement.overrides"


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    mode: str  # initial | always | initial_only | no_data | when_needed
    fetch_size: int
    max_threads: int
    include: str | None  # snapshot.include.collection.list
    select_overrides: Mapping[str, str]  # "schema.table" -> SELECT


@dataclass(frozen=True, slots=True)
class IncrementalConfig:
    """Incremental snapshots through the signal table (`bridge.snapshot.incremental`)."""

    signal_table: str | None  # signal.data.collection, "schema.table"; None: no signal table
    chunk_size: int  # incremental.snapshot.chunk.size


def read_snapshot(r: PropertyReader) -> SnapshotConfig:
    raw_mode = (r.raw(SOURCE + "snapshot.mode") or "").lower()
    if raw_mode in ("configuration_based", "custom"):
        raise ConfigError(f"{r.label(SOURCE + 'snapshot.mode')}={raw_mode!r} is not supported by pgbridge: use "
                          "initial, always, initial_only, no_data (never) or when_needed")
    mode = r.choice(SOURCE + "snapshot.mode", "initial",
                    ("initial", "always", "initial_only", "no_data", "never", "when_needed"))
    if mode == "never":  # Debezium's legacy name
        mode = "no_data"
    overrides = {}
    for table in (t.strip() for t in (r.raw(OVERRIDES) or "").split(",")):
        if not table:
            continue
        statement = r.raw(f"{OVERRIDES}.{table}")
        if not statement:  # Debezium warns and reads the whole table
            log.warning("%s names %s but %s is not set; reading the whole table", r.label(OVERRIDES), table,
                        r.label(f"{OVERRIDES}.{table}"))
            continue
        overrides[table] = statement
    include_key = SOURCE + "snapshot.include.collection.list"
    include = r.raw(include_key) or None
    compile_list(r.label(include_key), include)  # checked now rather than when used
    return SnapshotConfig(
        mode=mode,
        fetch_size=r.int(SOURCE + "snapshot.fetch.size", 10240, minimum=1),
        max_threads=r.int(SOURCE + "snapshot.max.threads", 1, minimum=1, maximum=64),
        include=include,
        select_overrides=overrides,
    )


def read_incremental(r: PropertyReader) -> IncrementalConfig:
    """Only the `source` channel (the signal table) and `insert_insert` watermarks exist here."""
    channels = [c.strip() for c in (r.raw(SOURCE + "signal.enabled.channels") or "source").split(",") if c.strip()]
    others = [c for c in channels if c != "source"]
    if others:
        log.warning("%s: channel(s) %s are not supported by pgbridge; only the signal table (source) is read",
                    r.label(SOURCE + "signal.enabled.channels"), ", ".join(others))
    r.choice(SOURCE + "incremental.snapshot.watermarking.strategy", "insert_insert", ("insert_insert",))
    table = r.raw(SOURCE + "signal.data.collection") or None
    if table is not None and len(table.split(".")) != 2:
        raise ConfigError(f"{r.label(SOURCE + 'signal.data.collection')}={table!r} is invalid: "
                          "expected <schema>.<table>")
    return IncrementalConfig(
        signal_table=table if "source" in channels else None,
        chunk_size=r.int(SOURCE + "incremental.snapshot.chunk.size", 1024, minimum=1, maximum=1_000_000),
    )
