"""Transaction metadata of transactions that capture nothing, against a live Debezium 3.7.0.

With `provide.transaction.metadata=true` Debezium writes a BEGIN record for every pgoutput Begin
it receives and an END record for every Commit, whether or not an event of the transaction was
dispatched (PostgresStreamingChangeEventSource.processReplicationMessages ->
TransactionMonitor.transactionStartedEvent/transactionCommittedEvent). PostgreSQL 15's pgoutput
sends a transaction when it holds a change of a published table or a transactional logical
message (messages reach every slot whatever its publication). So a transaction whose only
content Debezium then drops gets a BEGIN and an END with `"event_count":0,"data_collections":[]`:
- a transactional message whose prefix `message.prefix.include.list` leaves out (the filter is
  applied before the transaction monitor counts the message);
- a change of a published table that `table.include.list` leaves out;
- a change whose operation `skipped.operations` leaves out (a TRUNCATE by default, an UPDATE here).
Dropped content also leaves `total_order` / `data_collection_order` of the other events alone.

Both connectors run at once on the same tables with the same options, each with its own slot
and a publication of both tables (one captured, one left out by `table.include.list`: what an
all-tables publication does for every other table, without the whole database's traffic).
A warm-up transaction (one captured row) is read back from both before the cases run, so both
slots see every case. Each case is one transaction; its records (the `transaction` topic in
order, the row and message topics key by key) are compared text for text
(tests/integration/parity.py, only the processing clock, `source.version` and the runId header
ignored). Records of other transactions are left out by txid.

Throughout, another session emits a transactional message of a prefix the filter leaves out
every few hundred milliseconds (as other tests' messages, which reach every slot, do): after
the warm-up both connectors see the same transactions, so the whole `transaction` topic from
the warm-up's END to the last transaction's END must match too. Before the warm-up it need
not: each slot starts at its own point (the connectors' startup lags differ), and transactions
committed before a slot exists never reach it.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass

import psycopg2
import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair
from tests.integration.support import wait_until



@dataclass(frozen=True)
class Case:
    name: str
    statements: tuple[str, ...]  # `{s}` is the schema; `{out}` / `{in}` a transactional message left out / kept
    event_count: int  # what Debezium's END record counts (checked first: the case is what it claims)


_OUT = "SELECT pg_logical_emit_message(true, '{s}-out', 'left out by the prefix filter')"
_IN = "SELECT pg_logical_emit_message(true, '{s}-in', 'kept')"
CASES = (
    Case("filtered_message_only", (_OUT,), 0),
    Case("included_message_only", (_IN,), 1),
    Case("excluded_table_only", ("INSERT INTO {s}.other VALUES (1, 'x')",), 0),
    Case("skipped_truncate_only", ("TRUNCATE {s}.cap",), 0),
    Case("row_filtered_message_row", ("INSERT INTO {s}.cap VALUES (1, 'a')", _OUT,
                                      "INSERT INTO {s}.cap VALUES (2, 'b')"), 2),
    Case("filtered_message_then_row", (_OUT, "INSERT INTO {s}.cap VALUES (3, 'c')"), 1),
    Case("row_included_message_row", ("INSERT INTO {s}.cap VALUES (4, 'd')", _IN,
                                      "INSERT INTO {s}.cap VALUES (5, 'e')"), 3),
    Case("excluded_row_then_captured_row", ("INSERT INTO {s}.other VALUES (2, 'y')",
                                            "INSERT INTO {s}.cap VALUES (6, 'f')"), 1),
    Case("skipped_update_only", ("UPDATE {s}.cap SET v = 'z' WHERE id = 1",), 0),
)
_WARM_ROW = "INSERT INTO {s}.cap VALUES (0, 'warm-up')"
_END_ROW = "INSERT INTO {s}.cap VALUES (999, 'the end')"
_NOISE_EVERY = 0.3  # seconds between two transactions of the other session


def _payload(text: str | None):
    if text is None:
        return None
    doc = json.loads(text)
    return doc.get("payload", doc)


def _txid(r: parity.Record) -> int | None:
    """The transaction a record belongs to: the `<txid>:<lsn>` id of a BEGIN/END record, the
    source block's txId of a row or message (None for tombstones and standalone messages)."""
    value = _payload(r.value)
    if value is None:
        return None
    if r.topic.endswith(".transaction"):
        return int(value["id"].split(":")[0])
    return value["source"]["txId"]


def _ended(records: list[parity.Record], txid: int) -> bool:
    """The END record of `txid` arrived (the last record a transaction gets)."""
    return any(r.topic.endswith(".transaction") and _txid(r) == txid and _payload(r.value)["status"] == "END"
               for r in records)


def _after(records: list[parity.Record], first: int, last: int) -> list[parity.Record]:
    """The `transaction` topic after the END of transaction `first`, up to the END of `last`."""
    out: list[parity.Record] = []
    started = False
    for r in records:
        if not r.topic.endswith(".transaction"):
            continue
        if started:
            out.append(r)
            if _txid(r) == last and _payload(r.value)["status"] == "END":
                return out
        elif _txid(r) == first and _payload(r.value)["status"] == "END":
            started = True
    raise AssertionError(f"no END of {first} then of {last} in {len(records)} records")


class _OtherSession:
    """Another session committing one transaction holding a message of `prefix` every
    _NOISE_EVERY seconds until stopped; `committed` counts them."""

    def __init__(self, dsn: str, prefix: str) -> None:
        self.committed = 0
        self._dsn, self._prefix = dsn, prefix
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = psycopg2.connect(self._dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self._stop.wait(_NOISE_EVERY):
                    cur.execute("SELECT pg_logical_emit_message(true, %s, 'another session')", (self._prefix,))
                    self.committed += 1
        finally:
            conn.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


def _transaction(conn, statements: tuple[str, ...], schema: str) -> int:
    """Run `statements` in one transaction; its xid (as pgoutput and both connectors see it)."""
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement.format(s=schema))
        cur.execute("SELECT txid_current() & 4294967295")
        (txid,) = cur.fetchone()
    conn.commit()
    return txid


@pytest.fixture(scope="module")
def live(pg_dsn, kafka_bootstrap, tmp_path_factory):
    """Both connectors over the cases: (debezium records, bridge records, {case: txid}, runs, dir,
    (warm-up txid, last txid))."""
    tag = f"tb_{uuid.uuid4().hex[:6]}"
    other = _OtherSession(pg_dsn, f"{tag}-other")
    with LivePair(pg_dsn, kafka_bootstrap, tmp_path_factory.mktemp("transaction_boundaries"), tag) as pair:
        dbz, ours, tmp = pair.dbz, pair.ours, pair.tmp
        # GIVEN a captured table and a published one that table.include.list leaves out
        pair.create("CREATE TABLE {s}.cap (id int PRIMARY KEY, v text); "
                    "CREATE TABLE {s}.other (id int PRIMARY KEY, v text)", ["cap", "other"])
        common = {
            "snapshot.mode": "no_data",
            "publication.autocreate.mode": "disabled",
            "table.include.list": f"{tag}\\.cap",
            "provide.transaction.metadata": "true",
            "message.prefix.include.list": f"{tag}-in",
            "skipped.operations": "t,u",
        }
        try:
            # AND another session's transactions of a left-out message, all along
            other.start()
            # AND pgbridge, as a real process, and the real Debezium with the same options
            pair.start(common, {}, common)
            bridge = pair.bridge

            work = psycopg2.connect(pg_dsn)
            try:
                # AND both stream: a warm-up transaction's captured row reached both
                warm = _transaction(work, (_WARM_ROW,), tag)
                parity.consume_together(
                    kafka_bootstrap, dict(prefix=dbz, done=lambda rs: _ended(rs, warm), quiet=0, timeout=90),
                    dict(prefix=ours, done=lambda rs: _ended(rs, warm), quiet=0, timeout=60, alive=bridge.running))
                # WHEN each case runs as one transaction, then (once the other session committed
                # one more) a last captured row
                before = other.committed
                txids = {case.name: _transaction(work, case.statements, tag) for case in CASES}
                wait_until(lambda: other.committed > before + 1, timeout=30, what="the other session")
                end = _transaction(work, (_END_ROW,), tag)
            finally:
                work.close()
                other.stop()

            # THEN both write everything (read back until the last transaction's END arrived)
            got_dbz, got_ours = parity.consume_together(
                kafka_bootstrap, dict(prefix=dbz, done=lambda rs: _ended(rs, end), quiet=3.0, timeout=90),
                dict(prefix=ours, done=lambda rs: _ended(rs, end), quiet=2.0, timeout=60, alive=bridge.running))
            code = bridge.stop()
            assert code == 0, f"pgbridge exited with {code}:\n{bridge.log()}"
            for name, records in (("debezium", got_dbz), ("pgbridge", got_ours)):
                (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in records))
            yield got_dbz, got_ours, txids, parity.Run(dbz, None), parity.Run(ours, None), tmp, (warm, end)
        finally:
            other.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_transaction_records_match_debezium(live, case):
    dbz_records, our_records, txids, dbz_run, our_run, tmp, _ = live
    txid = txids[case.name]
    dbz_case = [r for r in dbz_records if _txid(r) == txid]
    our_case = [r for r in our_records if _txid(r) == txid]
    # GIVEN Debezium wrote a BEGIN and an END counting the case's events
    boundaries = [_payload(r.value) for r in dbz_case if r.topic.endswith(".transaction")]
    assert [(b["status"], b["event_count"]) for b in boundaries] == [("BEGIN", None), ("END", case.event_count)], \
        f"Debezium's transaction records for {case.name}: {boundaries}"
    # THEN pgbridge wrote the same records for that transaction (BEGIN/END, rows, messages)
    problems = parity.compare(dbz_case, dbz_run, our_case, our_run, ignored=parity.LIVE_IGNORED,
                              ordered=frozenset({"transaction"}))
    assert not problems, parity.report(problems) + f"\nDebezium's BEGIN/END: {boundaries}\n(records in {tmp})"


def test_transaction_topic_after_warm_up_matches_debezium(live):
    dbz_records, our_records, txids, dbz_run, our_run, tmp, (warm, end) = live
    # GIVEN Debezium's transaction topic from the warm-up's END to the last transaction's END
    dbz_window, our_window = _after(dbz_records, warm, end), _after(our_records, warm, end)
    # AND the other session's transactions are in it (what the per-case comparison leaves out)
    others = {_txid(r) for r in dbz_window} - {end, *txids.values()}
    assert others, f"no transaction of the other session between the cases (records in {tmp})"
    # THEN pgbridge wrote the same BEGIN/END records there, in the same order
    problems = parity.compare(dbz_window, dbz_run, our_window, our_run, ignored=parity.LIVE_IGNORED,
                              ordered=frozenset({"transaction"}))
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
