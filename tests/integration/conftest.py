"""Fixtures of the integration tier: a SQL connection and bridges with their own slot,
publication and topic prefix, dropped afterwards."""

from __future__ import annotations

import psycopg2
import pytest

from tests.integration.support import BridgeProcess, drop_slot_and_publication, write_properties


@pytest.fixture
def pg(pg_dsn):
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def bridge_factory(tmp_path, pg_dsn, kafka_bootstrap, pg):
    """make(prefix, extra=...) → an unstarted BridgeProcess with its own slot and publication."""
    made: list[tuple[BridgeProcess, str, str]] = []

    def make(prefix: str, extra: dict[str, str] | None = None, tables: list[str] | None = None) -> BridgeProcess:
        """`tables`: publish only these (the test's own), so that other work in the shared
        database cannot reach this bridge."""
        slot, publication = f"{prefix}_slot", f"{prefix}_pub"
        if tables:
            with pg.cursor() as cur:
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {", ".join(tables)}')
            extra = {"debezium.source.publication.autocreate.mode": "disabled", **(extra or {})}
        cfg = write_properties(tmp_path / f"{prefix}.properties", pg_dsn, kafka_bootstrap,
                               prefix=prefix, slot=slot, publication=publication, extra=extra)
        bridge = BridgeProcess(cfg, tmp_path / f"{prefix}.log")
        made.append((bridge, slot, publication))
        return bridge

    yield make
    for bridge, slot, publication in made:
        if bridge.running():
            bridge.kill()
        drop_slot_and_publication(pg, slot, publication)
