"""The PostgreSQL side of the preflight: inspect, then check, then apply.

`inspect_postgres` only reads, `check_postgres` decides from what it read (and plans the
publication's DDL), and only `prepare_postgres` writes, once nothing stands in the way. A
read-only report (a doctor) runs the first two; the start runs all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg2.extensions

from bridge.errors import ReplicationSetupError
from bridge.route.filters import TableFilter
from bridge.source.catalog import (
    SessionFacts,
    TableFacts,
    inspect_session,
    inspect_tables,
)
from bridge.source.checks import (
    Finding,
    Severity,
    check_publication,
    check_replica_identity,
    check_role,
    check_slot,
)
from bridge.source.publication import (
    PublicationChange,
    PublicationFacts,
    apply_publication_change,
    filtered_tables,
    inspect_publication,
    plan_publication,
)
from bridge.source.settings import ReplicationConfig
from bridge.source.slots import SlotFacts, create_slot, inspect_slot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PostgresFacts:
    session: SessionFacts
    publication: PublicationFacts | None
    slot: SlotFacts | None
    tables: tuple[TableFacts, ...]


def inspect_postgres(conn: psycopg2.extensions.connection, cfg: ReplicationConfig) -> PostgresFacts:
    """Everything the checks read; SELECTs only, so it also runs in a read-only transaction."""
    return PostgresFacts(inspect_session(conn), inspect_publication(conn, cfg.publication_name),
                         inspect_slot(conn, cfg.slot_name), inspect_tables(conn))


def check_postgres(facts: PostgresFacts, cfg: ReplicationConfig, filters: TableFilter | None = None,
                   signal_table: str | None = None) -> tuple[list[Finding], PublicationChange | None]:
    """The findings, publication's first (the order a start has always reported them in), and
    the publication DDL the configuration asks for."""
    wanted = filtered_tables(facts.tables, filters, signal_table)
    change = plan_publication(facts.publication, wanted, cfg)
    findings = [
        *check_publication(facts.publication, wanted, cfg),
        *check_slot(facts.slot, facts.session),
        *check_role(facts.session),
        *check_replica_identity(facts.tables, facts.publication, change, filters, cfg.publication_name),
    ]
    return findings, change


def prepare_postgres(conn: psycopg2.extensions.connection, cfg: ReplicationConfig,
                     filters: TableFilter | None = None, signal_table: str | None = None) -> str:
    """Check the publication and the slot and create or change the publication as
    `publication.autocreate.mode` says; the cluster's system identifier. The slot is only
    checked here: the decoder creates it (after an initial snapshot if snapshot.mode asks
    for one)."""
    facts = inspect_postgres(conn, cfg)
    findings, change = check_postgres(facts, cfg, filters, signal_table)
    _report(findings)
    if change is not None:
        apply_publication_change(conn, change)
    return facts.session.system_identifier


def ensure_slot(conn: psycopg2.extensions.connection, cfg: ReplicationConfig) -> None:
    """The decoder, before it streams without an initial snapshot: check an existing slot
    (logical, pgoutput, this database); create it when missing."""
    slot = inspect_slot(conn, cfg.slot_name)
    # The warnings were logged by the preflight; only what stops the stream counts here.
    _raise_first_error(check_slot(slot, inspect_session(conn)))
    if slot is None:
        create_slot(conn, cfg.slot_name)


def _report(findings: list[Finding]) -> None:
    for finding in findings:
        if finding.severity is Severity.WARNING:
            log.warning("%s", finding.message)
    _raise_first_error(findings)


def _raise_first_error(findings: list[Finding]) -> None:
    for finding in findings:
        if finding.severity is Severity.ERROR:
            raise ReplicationSetupError(finding.message)
