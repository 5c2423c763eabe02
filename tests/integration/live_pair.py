"""pgbridge beside a live Debezium on the same tables and WAL: the set-up the live comparisons
(test_live_*.py) share.

`LivePair(tag)` names both connectors (`<tag>_dbz`, `<tag>_pgb`, each with its slot,
publication and topic prefix); `create` makes the schema and one publication per connector
(`publish` the publications alone, for tables a test made itself), `start` both connectors
with their options and waits for pgbridge to stream, `collect` both sides' records once `ended`
holds, stops pgbridge (exit code 0 asserted) and keeps the records in `<tmp>/debezium.jsonl`
and `pgbridge.jsonl`. Leaving the `with` block stops both and drops their slots, publications,
the schemas and the topics (`<prefix>.*` and `<prefix>-*`, the signal topics).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import psycopg2

from tests.integration import parity
from tests.integration.support import (BridgeProcess, clean_up_pair, slot_active, start_bridge_with,
                                       start_debezium_with, wait_until)


class LivePair:
    def __init__(self, pg_dsn: str, kafka_bootstrap: str, tmp: Path, tag: str,
                 schemas: tuple[str, ...] | None = None) -> None:
        """`schemas`: what the clean-up drops (the schema `tag` unless said)."""
        self.pg_dsn, self.bootstrap, self.tmp, self.tag = pg_dsn, kafka_bootstrap, tmp, tag
        self.schemas = schemas or (tag,)
        self.dbz, self.ours = f"{tag}_dbz", f"{tag}_pgb"
        self.env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
        self.conn = psycopg2.connect(pg_dsn)
        self.conn.autocommit = True
        self.bridge: BridgeProcess | None = None
        self._dbz_started = False
        self._slots = {self.dbz: f"{self.dbz}_pub", f"{self.ours}_slot": f"{self.ours}_pub"}

    def __enter__(self) -> LivePair:
        return self

    def __exit__(self, *_exc: object) -> None:
        clean_up_pair(self.conn, self.env, self.bridge, self.dbz, self._dbz_started, self._slots, self.schemas,
                      self.bootstrap, (f"{self.dbz}.", f"{self.ours}.", f"{self.dbz}-", f"{self.ours}-"))

    @property
    def runs(self) -> tuple[parity.Run, parity.Run]:
        """(Debezium's run, pgbridge's run), for `parity.compare`."""
        return parity.Run(self.dbz, None), parity.Run(self.ours, None)

    def create(self, schema_sql: str, tables: list[str]) -> None:
        """The schema `tag` with `schema_sql` (`{s}` is the schema) and a publication of
        `tables` for each connector."""
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {self.tag}")
            cur.execute(schema_sql.format(s=self.tag))
        self.publish("TABLE " + ", ".join(f"{self.tag}.{t}" for t in tables))

    def publish(self, what: str) -> None:
        """A publication for each connector, `FOR <what>` (`TABLE a.b, a.c`, `TABLES IN SCHEMA a`)."""
        with self.conn.cursor() as cur:
            for publication in self._slots.values():
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR {what}')

    def start(self, options: dict[str, str], transforms: dict[str, str], debezium: dict[str, str],
              converters: dict[str, str] | None = None) -> None:
        """pgbridge (a real process) with the connector `options`, `transforms` (Connect's
        `transforms*` / `predicates*` keys) and `converters` (Connect's converter keys), then
        Debezium with `debezium` (its whole configuration but the connection); returns once
        pgbridge streams."""
        self.bridge = bridge = start_bridge_with(self.tmp, self.pg_dsn, self.bootstrap, self.ours, options,
                                                 transforms=transforms, converters=converters)
        self._dbz_started = True
        start_debezium_with(self.tmp, self.dbz, debezium, self.env)
        wait_until(lambda: slot_active(self.conn, f"{self.ours}_slot") or not bridge.running(), timeout=90,
                   what="pgbridge to stream")
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"

    def run(self, statements: list[str]) -> None:
        with self.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def collect(self, ended: Callable[[list[parity.Record]], bool], quiet: float = 2.0,
                keep: Callable[[parity.Record], bool] | None = None) -> tuple[list[parity.Record], list[parity.Record]]:
        """(Debezium's records, pgbridge's) once `ended` holds for each side, those `keep`
        accepts; pgbridge stopped then."""
        bridge = self.bridge
        assert bridge is not None
        got_dbz, got_ours = parity.consume_together(
            self.bootstrap, dict(prefix=self.dbz, done=ended, quiet=quiet, timeout=120),
            dict(prefix=self.ours, done=ended, quiet=quiet, timeout=90, alive=bridge.running))
        if keep is not None:
            got_dbz, got_ours = [r for r in got_dbz if keep(r)], [r for r in got_ours if keep(r)]
        code = bridge.stop()
        assert code == 0, f"pgbridge exited with {code}:\n{bridge.log()}"
        return got_dbz, got_ours

    def keep_records(self, got_dbz: list[parity.Record], got_ours: list[parity.Record]) -> None:
        """Both sides' records in `<tmp>/debezium.jsonl` and `pgbridge.jsonl`, to read a failure."""
        for name, records in (("debezium", got_dbz), ("pgbridge", got_ours)):
            (self.tmp / f"{name}.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in records))
