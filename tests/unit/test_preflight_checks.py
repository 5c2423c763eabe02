"""The preflight's checks and publication plan, from hand-made facts: every finding, no server."""

from __future__ import annotations

import pytest

from bridge.config import ReplicationConfig
from bridge.route.filters import TableFilter
from bridge.source.catalog import SessionFacts, TableFacts
from bridge.source.checks import (
    Severity,
    check_publication,
    check_replica_identity,
    check_role,
    check_slot,
)
from bridge.source.preflight import PostgresFacts, check_postgres
from bridge.source.publication import PublicationChange, PublicationFacts, filtered_tables, plan_publication
from bridge.source.slots import SlotFacts

SESSION = SessionFacts("bridge", "shop", superuser=False, replication=True, system_identifier="7")


def cfg(mode: str = "all_tables") -> ReplicationConfig:
    return ReplicationConfig("s1", "p1", mode, 10_000)


def table(schema: str, name: str, identity: str = "d", pk: bool = True, index: bool = False) -> TableFacts:
    return TableFacts(schema, name, identity, pk, index)


def slot(**changes) -> SlotFacts:
    facts = dict(name="s1", slot_type="logical", plugin="pgoutput", database="shop", temporary=False,
                 active_pid=None, restart_lsn=100, confirmed_flush_lsn=200, wal_status="reserved")
    return SlotFacts(**{**facts, **changes})


PUB = PublicationFacts("p1", all_tables=False, tables=(("public", "a"),))
ALL = PublicationFacts("p1", all_tables=True, tables=(("public", "a"), ("public", "b")))


# -- publication ---------------------------------------------------------------------------

def test_a_missing_publication_with_autocreate_disabled_is_an_error_naming_the_sql():
    [finding] = check_publication(None, (), cfg("disabled"))
    assert finding.severity is Severity.ERROR and finding.check == "publication"
    assert finding.message == ("publication 'p1' does not exist and publication.autocreate.mode=disabled: "
                               "create it, e.g. CREATE PUBLICATION p1 FOR ALL TABLES")
    assert finding.fix == "create it, e.g. CREATE PUBLICATION p1 FOR ALL TABLES"


def test_filtered_mode_refuses_an_all_tables_publication():
    [finding] = check_publication(ALL, (("public", "a"),), cfg("filtered"))
    assert finding.severity is Severity.ERROR
    assert finding.message == ("publication 'p1' is FOR ALL TABLES, but publication.autocreate.mode=filtered needs "
                               "one that lists the captured tables: drop it (pgbridge then creates it) or use "
                               "all_tables/disabled")


@pytest.mark.parametrize("publication", [None, PUB])
def test_filtered_mode_with_no_captured_table_is_an_error(publication):
    [finding] = check_publication(publication, (), cfg("filtered"))
    assert finding.severity is Severity.ERROR
    assert finding.message == ("publication.autocreate.mode=filtered: no table matches the include/exclude lists, "
                               "so publication 'p1' would be empty")


@pytest.mark.parametrize("publication, mode", [(None, "all_tables"), (None, "no_tables"), (PUB, "disabled"),
                                               (ALL, "disabled"), (ALL, "all_tables"), (PUB, "filtered"),
                                               (None, "filtered")])
def test_publications_pgbridge_can_use_or_create_are_no_finding(publication, mode):
    assert check_publication(publication, (("public", "a"),), cfg(mode)) == []


# -- the publication's plan ----------------------------------------------------------------

def test_filtered_tables_are_the_captured_ones_and_the_signal_table_sorted():
    tables = [table("public", "b"), table("public", "a"), table("pg_catalog", "pg_class"), table("other", "c")]
    filters = TableFilter.from_lists(schema_include="public")
    assert filtered_tables(tables, filters, "ops.signals") == (("ops", "signals"), ("public", "a"), ("public", "b"))
    assert filtered_tables(tables, None, None) == (("other", "c"), ("public", "a"), ("public", "b"))
    assert filtered_tables(tables, filters, "public.a") == (("public", "a"), ("public", "b"))


def test_a_missing_publication_is_created_as_the_mode_says():
    wanted = (("public", "a"),)
    assert plan_publication(None, wanted, cfg("all_tables")) == PublicationChange("p1", "all_tables", all_tables=True)
    assert plan_publication(None, wanted, cfg("no_tables")) == PublicationChange("p1", "no_tables")
    assert plan_publication(None, wanted, cfg("filtered")) == PublicationChange("p1", "filtered", tables=wanted)
    assert plan_publication(None, wanted, cfg("disabled")) is None
    assert plan_publication(None, (), cfg("filtered")) is None  # the check says why


def test_a_filtered_publication_follows_the_lists_and_nothing_else_is_changed():
    wanted = (("public", "a"), ("public", "c"))
    assert plan_publication(PUB, wanted, cfg("filtered")) == PublicationChange(
        "p1", "filtered", tables=wanted, previous=(("public", "a"),))
    assert plan_publication(PUB, (("public", "a"),), cfg("filtered")) is None
    assert plan_publication(ALL, wanted, cfg("filtered")) is None
    for mode in ("all_tables", "no_tables", "disabled"):
        assert plan_publication(PUB, wanted, cfg(mode)) is None


# -- slot ----------------------------------------------------------------------------------

def test_a_missing_or_healthy_slot_is_no_finding():
    assert check_slot(None, SESSION) == []
    assert check_slot(slot(), SESSION) == []
    assert check_slot(slot(wal_status="extended"), SESSION) == []


def test_a_slot_of_another_plugin_is_an_error():
    [finding] = check_slot(slot(plugin="test_decoding"), SESSION)
    assert finding.severity is Severity.ERROR and finding.check == "slot"
    assert finding.message == ("replication slot 's1' exists but is a logical slot with plugin 'test_decoding'; "
                               "pgbridge needs a logical slot with plugin 'pgoutput' (drop it or choose another "
                               "slot.name)")
    assert finding.fix == "drop it or choose another slot.name"


def test_a_physical_slot_is_an_error():
    [finding] = check_slot(slot(slot_type="physical", plugin=None, database=None), SESSION)
    assert finding.message.startswith("replication slot 's1' exists but is a physical slot with plugin None; ")


def test_a_slot_of_another_database_is_an_error():
    [finding] = check_slot(slot(database="other"), SESSION)
    assert finding.severity is Severity.ERROR
    assert finding.message == "replication slot 's1' belongs to database 'other', not 'shop'; choose another slot.name"


def test_a_slot_in_use_is_a_warning_naming_the_process():
    [finding] = check_slot(slot(active_pid=4242), SESSION)
    assert finding.severity is Severity.WARNING
    assert "replication slot 's1' is in use by process 4242" in finding.message


@pytest.mark.parametrize("status, needle", [("lost", "wal_status=lost"), ("unreserved", "wal_status=unreserved")])
def test_a_slot_losing_wal_is_a_warning(status, needle):
    [finding] = check_slot(slot(wal_status=status), SESSION)
    assert finding.severity is Severity.WARNING and needle in finding.message and finding.fix in finding.message


# -- role ----------------------------------------------------------------------------------

def test_a_role_without_replication_is_a_warning():
    assert check_role(SESSION) == []
    assert check_role(SessionFacts("root", "shop", True, False, "7")) == []
    [finding] = check_role(SessionFacts("app", "shop", False, False, "7"))
    assert finding.severity is Severity.WARNING and finding.check == "role"
    assert finding.fix == "ALTER ROLE app REPLICATION" and finding.message.startswith("role 'app' has neither")


# -- replica identity ----------------------------------------------------------------------

IDENTITIES = [
    table("public", "pk"),  # default with a primary key
    table("public", "full", "f", pk=False),
    table("public", "index", "i", pk=False, index=True),
    table("public", "nopk", "d", pk=False),
    table("public", "nothing", "n"),
    table("public", "dropped_index", "i", pk=False, index=False),
]


def test_published_captured_tables_without_replica_identity_are_one_warning():
    published = PublicationFacts("p1", False, tuple(sorted((t.schema, t.name) for t in IDENTITIES)))
    [finding] = check_replica_identity(IDENTITIES, published, None, None, "p1")
    assert finding.severity is Severity.WARNING and finding.check == "replica identity"
    assert finding.message.startswith("3 captured table(s) have no replica identity, so PostgreSQL refuses their "
                                      "UPDATE and DELETE while publication 'p1' publishes them: public.nopk, "
                                      "public.nothing, public.dropped_index; ")


def test_replica_identity_is_checked_only_for_captured_tables_the_publication_publishes():
    tables = [table("public", "nopk", pk=False), table("other", "nopk", pk=False), table("pg_catalog", "t", "n")]
    only_public = TableFilter.from_lists(schema_include="public")
    # not published: no finding
    assert check_replica_identity(tables, PUB, None, None, "p1") == []
    assert check_replica_identity(tables, None, None, None, "p1") == []
    # about to be published FOR ALL TABLES: every captured table counts, never the catalogs
    change = PublicationChange("p1", "all_tables", all_tables=True)
    [finding] = check_replica_identity(tables, None, change, only_public, "p1")
    assert "1 captured table(s)" in finding.message and "public.nopk" in finding.message
    [finding] = check_replica_identity(tables, None, change, None, "p1")
    assert "2 captured table(s)" in finding.message and "pg_catalog" not in finding.message
    # a filtered change: its tables, not the publication's current ones
    change = PublicationChange("p1", "filtered", tables=(("other", "nopk"),), previous=(("public", "nopk"),))
    [finding] = check_replica_identity(tables, PublicationFacts("p1", False, (("public", "nopk"),)), change, None, "p1")
    assert ": other.nopk; " in finding.message


def test_a_long_list_of_tables_is_cut_at_ten():
    tables = [table("public", f"t{i:02}", "n") for i in range(13)]
    [finding] = check_replica_identity(tables, ALL, PublicationChange("p1", "all_tables", all_tables=True), None, "p1")
    assert "public.t09 and 3 more; " in finding.message and "t10" not in finding.message


# -- together ------------------------------------------------------------------------------

def test_check_postgres_reports_the_publication_first_and_plans_nothing_it_cannot_do():
    facts = PostgresFacts(SESSION, None, slot(plugin="wal2json"), (table("public", "a"),))
    findings, change = check_postgres(facts, cfg("disabled"))
    assert [f.check for f in findings] == ["publication", "slot"]
    assert change is None


def test_check_postgres_plans_the_filtered_publication_with_the_signal_table():
    facts = PostgresFacts(SESSION, None, None, (table("public", "a"), table("ops", "signals")))
    findings, change = check_postgres(facts, cfg("filtered"), TableFilter.from_lists(table_include="public.a"),
                                      "ops.signals")
    assert findings == []
    assert change == PublicationChange("p1", "filtered", tables=(("ops", "signals"), ("public", "a")))
