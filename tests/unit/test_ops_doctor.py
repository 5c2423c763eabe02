"""`bridge doctor`'s checks from hand-made facts: each finding's severity and fix, no server."""

from __future__ import annotations

from dataclasses import replace

from bridge.ops.doctor import kafka_findings, report
from bridge.source.catalog import RoleRights, ServerFacts, SessionFacts, TableFacts
from bridge.source.checks import (
    Finding,
    Severity,
    check_before_images,
    check_clock,
    check_coverage,
    check_rights,
    check_server,
)
from bridge.source.publication import PublicationChange, PublicationFacts
from bridge.source.slots import SlotFacts
from bridge.route.filters import TableFilter

SERVER = ServerFacts("logical", 10, 10, 50 << 30, 60_000, 3, 2, 1000.0, False)
SESSION = SessionFacts("app", "shop", superuser=False, replication=True, system_identifier="7")
SLOT = SlotFacts("s1", "logical", "pgoutput", "shop", False, None, 1, 2, "reserved")
RIGHTS = RoleRights(True, "app", ())


def test_a_well_set_server_has_no_finding():
    assert check_server(SERVER, SLOT) == [] and check_server(SERVER, None) == []


def test_wal_level_and_a_standby_are_errors_naming_the_fix():
    findings = check_server(replace(SERVER, wal_level="replica", in_recovery=True), SLOT)
    assert [f.severity for f in findings] == [Severity.ERROR, Severity.ERROR]
    assert findings[1].fix == "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"


def test_no_free_slot_for_a_new_one_is_an_error_and_no_headroom_a_warning():
    [full] = check_server(replace(SERVER, slots_used=10), None)
    assert full.severity is Severity.ERROR
    assert full.message.startswith("all 10 replication slots are in use (max_replication_slots=10)")
    assert full.fix == "ALTER SYSTEM SET max_replication_slots = 13; then restart PostgreSQL"
    [tight] = check_server(replace(SERVER, slots_used=9), None)
    assert tight.severity is Severity.WARNING and "this bridge leaves none" in tight.message
    # the bridge's own existing slot needs no new one
    assert check_server(replace(SERVER, slots_used=9), SLOT) == []


def test_wal_senders_count_the_bridges_own_walsender_once():
    active = replace(SLOT, active_pid=5)
    assert check_server(replace(SERVER, wal_senders_used=9), active) == []
    [finding] = check_server(replace(SERVER, wal_senders_used=10), SLOT)
    assert finding.severity is Severity.ERROR and "max_wal_senders=10" in finding.message


def test_unlimited_wal_retention_and_no_sender_timeout_are_warnings():
    findings = check_server(replace(SERVER, max_slot_wal_keep_bytes=None, wal_sender_timeout_ms=0), SLOT)
    assert [(f.check, f.severity) for f in findings] == [("wal retention", Severity.WARNING)] * 2
    assert findings[0].fix.startswith("ALTER SYSTEM SET max_slot_wal_keep_size = ")
    assert findings[1].fix == "ALTER SYSTEM SET wal_sender_timeout = '60s'; SELECT pg_reload_conf()"


def test_clock_skew_beyond_a_second_is_a_warning():
    assert check_clock(SERVER, 1000.9) == []
    [finding] = check_clock(SERVER, 1003.5)
    assert finding.message.startswith("this host's clock is +3.5s from PostgreSQL's")


def test_rights_a_publication_change_needs():
    create_all = PublicationChange("p1", "all_tables", all_tables=True)
    [f] = check_rights(SESSION, RIGHTS, create_all, "p1")
    assert f.severity is Severity.ERROR and f.fix == "as a superuser: CREATE PUBLICATION p1 FOR ALL TABLES"
    create = PublicationChange("p1", "filtered", tables=(("public", "a"),))
    [f] = check_rights(SESSION, replace(RIGHTS, can_create_in_database=False), create, "p1")
    assert f.fix == "GRANT CREATE ON DATABASE shop TO app"
    alter = PublicationChange("p1", "filtered", tables=(("public", "a"),), previous=())
    [f] = check_rights(SESSION, replace(RIGHTS, publication_owner="postgres"), alter, "p1")
    assert f.fix == "ALTER PUBLICATION p1 OWNER TO app"
    assert check_rights(replace(SESSION, superuser=True), RoleRights(False, "x", (("public", "a"),)), alter, "p1") == []


def test_unreadable_captured_tables_are_a_warning():
    [f] = check_rights(SESSION, replace(RIGHTS, unreadable=(("public", "a"), ("s", "b"))), None, "p1")
    assert f.severity is Severity.WARNING and f.fix == "GRANT SELECT ON public.a, s.b TO app"


def test_the_publication_against_the_include_list():
    tables = [TableFacts("public", "a", "d", True, False), TableFacts("public", "b", "d", True, False)]
    pub = PublicationFacts("p1", False, (("public", "b"), ("public", "c")))
    filters = TableFilter.from_lists(table_include="public\\.(a|b)")
    missing, extra = check_coverage(tables, pub, None, filters, "p1")
    assert missing.severity is Severity.WARNING and missing.fix == "ALTER PUBLICATION p1 ADD TABLE public.a"
    assert extra.severity is Severity.INFO and extra.fix == "ALTER PUBLICATION p1 DROP TABLE public.c"
    # a change the configuration asks for, or FOR ALL TABLES, makes them agree
    assert check_coverage(tables, pub, PublicationChange("p1", "filtered"), filters, "p1") == []
    assert check_coverage(tables, replace(pub, all_tables=True), None, filters, "p1") == []


def test_tables_whose_events_lack_the_old_row_are_a_note():
    tables = [TableFacts("public", "a", "d", True, False), TableFacts("public", "f", "f", True, False),
              TableFacts("public", "n", "d", False, False)]
    pub = PublicationFacts("p1", True, (("public", "a"), ("public", "f"), ("public", "n")))
    [f] = check_before_images(tables, pub, None)
    assert f.severity is Severity.INFO and ": public.a; ALTER TABLE" in f.message


def test_kafka_unreachable_is_an_error():
    [f] = kafka_findings("Local: Broker transport failure", ("t",), 2, False, "k:9092")
    assert f.severity is Severity.ERROR and f.message.startswith("cannot reach Kafka at k:9092: Local: Broker")


def test_missing_topics_and_few_partitions_are_notes():
    missing, few = kafka_findings({"p.public.a": 1, "p.public.b": 4}, ("p.public.a", "p.public.b", "p.public.c"),
                                  3, False, "k")
    assert missing.message.startswith("1 topic(s) of captured tables do not exist yet: p.public.c;")
    assert "p.public.a (1)" in few.message and "p.public.b" not in few.message
    assert kafka_findings({}, ("t",), 1, True, "k")[0].fix == "nothing: topic.creation.* creates each before its first record"


def test_the_report_prints_the_fix_once_and_counts():
    lines = report([Finding("server", Severity.ERROR, "bad: do X", "do X"), Finding("clock", Severity.INFO, "m", "f")])
    assert lines == ["ERROR   server: bad: do X", "INFO    clock: m", "        fix: f",
                     "doctor: 1 error(s), 0 warning(s), 1 note(s)"]
