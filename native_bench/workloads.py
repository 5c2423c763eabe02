"""The workloads, generated in SQL by the benchmark itself (server-side, so the client is idle).

    W1 bulk      one transaction of N inserts of the typical 8-column row
    W2 oltp      many small transactions: 2 inserts, 2 updates, 1 delete each
    W3 wide      rows with TOASTed text (4 kB of hex, stored out of line) and a 1.7 kB jsonb;
                 inserted in transactions of 500 rows, then half of them updated without
                 touching the TOASTed columns (pgoutput sends them as "unchanged")
    W4 tables    50 tables of the 8-column row; each transaction inserts 5 rows into 5 of them
    W5 outbox    an outbox table (id uuid, aggregatetype, aggregateid, type, payload jsonb): each
                 transaction inserts 5 events of ~300 bytes of JSON, for EventRouter
                 (`native_bench.variants`: pgbridge-2-outbox, debezium-json-outbox)

The typical row is: int8 (primary key), int4, text, numeric(12,2), timestamptz, text, bool, jsonb.
`setup()` (tables, pre-existing rows) runs before the slots are created, so only `run()`'s
changes are in the WAL the systems read. Counts are exact: `expected_records` is what a
Debezium-compatible system writes to Kafka (deletes add a tombstone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from native_bench.services import flush_lsn

ROW_SQL = """{n}, ({n} % 1000)::int4, 'user' || {n} || '@example.com',
    (({n} % 100000) + ({n} % 100) / 100.0)::numeric(12,2),
    timestamptz '2024-05-01 12:00:00+00' + {n} * interval '1 second',
    'a short free-text note about row ' || {n}, {n} % 2 = 0,
    jsonb_build_object('plan', 'pro', 'seats', {n} % 50, 'tags', jsonb_build_array('a', 'b'))"""

ROW_DDL = """(id int8 PRIMARY KEY, qty int4, email text, price numeric(12,2), created_at timestamptz,
    note text, active bool, attrs jsonb)"""


@dataclass
class Counts:
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    txns: int = 0

    @property
    def rows(self) -> int:
        """Change events (one per inserted, updated or deleted row)."""
        return self.inserts + self.updates + self.deletes

    @property
    def expected_records(self) -> int:
        """Kafka records of a Debezium-style system with tombstones.on.delete=true."""
        return self.rows + self.deletes


@dataclass
class WorkloadRun:
    counts: Counts
    seconds: float  # wall time of the SQL that generated the workload
    end_lsn: str  # flushed WAL position after the last commit
    params: dict = field(default_factory=dict)


class Workload:
    name = ""
    title = ""

    def __init__(self, size: dict) -> None:
        self.size = size

    def tables(self) -> list[str]:
        raise NotImplementedError

    def setup(self, conn) -> None:
        raise NotImplementedError

    def run(self, conn) -> WorkloadRun:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def teardown(self, conn) -> None:
        """Drop the workload's tables (the next run recreates them)."""
        with conn.cursor() as cur:
            for t in self.tables():
                cur.execute(f"DROP TABLE IF EXISTS {t}")

    def _execute(self, conn, sql: str, counts: Counts, params: dict) -> WorkloadRun:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
        seconds = time.perf_counter() - started
        return WorkloadRun(counts, seconds, flush_lsn(conn), params)


class Bulk(Workload):
    name, title = "W1", "bulk: one transaction of N inserts"

    def tables(self):
        return ["w1_rows"]

    def describe(self):
        return f"one transaction inserting {self.size['rows']:,} 8-column rows"

    def setup(self, conn):
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS w1_rows")
            cur.execute(f"CREATE TABLE w1_rows {ROW_DDL}")

    def run(self, conn):
        n = self.size["rows"]
        sql = f"INSERT INTO w1_rows SELECT {ROW_SQL.format(n='i')} FROM generate_series(1, {n}) i"
        return self._execute(conn, sql, Counts(inserts=n, txns=1), {"rows": n})


W2_PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE nb_w2(txns int, first int, per_s float8, pool int) LANGUAGE plpgsql AS $$
DECLARE
    t int; n int8; u1 int8; u2 int8; started float8 := extract(epoch FROM clock_timestamp()); wait float8;
BEGIN
    PERFORM setseed(0.42);
    FOR t IN first .. first + txns - 1 LOOP
        IF per_s > 0 THEN  -- paced: transaction t starts at started + (t - first) / per_s
            wait := started + (t - first) / per_s - extract(epoch FROM clock_timestamp());
            IF wait > 0 THEN PERFORM pg_sleep(wait); END IF;
        END IF;
        n := 2 * pool + 2 * t;
        u1 := pool + 1 + floor(random() * pool)::int8;  -- a variable, so the index is used
        u2 := pool + 1 + floor(random() * pool)::int8;
        INSERT INTO w2_rows VALUES ({ROW_SQL.format(n='(n + 1)')}), ({ROW_SQL.format(n='(n + 2)')});
        UPDATE w2_rows SET qty = qty + 1, price = price + 1, note = 'updated in ' || t,
            created_at = clock_timestamp() WHERE id = u1;
        UPDATE w2_rows SET qty = qty + 1, active = NOT active, note = 'updated again in ' || t
            WHERE id = u2;
        DELETE FROM w2_rows WHERE id = t + 1;
        COMMIT;
    END LOOP;
END $$"""


class Oltp(Workload):
    """Rows 1..2P exist before (P = the pool: every transaction of the table's life, warm-up
    included); transaction t inserts rows 2P+2t+1 and 2P+2t+2, updates two random rows of
    P+1..2P (never deleted) and deletes row t+1: exactly 2 I, 2 U, 1 D per transaction."""

    name, title = "W2", "OLTP: many small mixed transactions"

    def tables(self):
        return ["w2_rows"]

    def describe(self):
        return (f"{self.size['txns']:,} transactions of 2 inserts + 2 updates + 1 delete; latency "
                f"phase: {self.size['live_per_s']} transactions/s for {self.size['live_seconds']} s "
                f"(after {self.size['live_warmup_seconds']} s of warm-up) while streaming")

    def setup(self, conn, pool: int | None = None):
        self.pool = pool or self.size["txns"]
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS w2_rows")
            cur.execute(f"CREATE TABLE w2_rows {ROW_DDL}")
            cur.execute(W2_PROCEDURE)
            cur.execute(f"INSERT INTO w2_rows SELECT {ROW_SQL.format(n='i')} FROM generate_series(1, {2 * self.pool}) i")

    def run(self, conn, txns: int | None = None, per_s: float = 0.0, first: int = 0):
        txns = txns or self.size["txns"]
        assert first + txns <= self.pool, "setup(pool=...) must cover every transaction"
        return self._execute(conn, f"CALL nb_w2({txns}, {first}, {per_s}, {self.pool})", self.counts(txns),
                             {"txns": txns, "per_s": per_s})

    @staticmethod
    def counts(txns: int) -> Counts:
        return Counts(inserts=2 * txns, updates=2 * txns, deletes=txns, txns=txns)

    def live_txns(self) -> tuple[int, int]:
        """(warm-up transactions, measured transactions) of the latency phase."""
        rate = self.size["live_per_s"]
        return int(rate * self.size["live_warmup_seconds"]), int(rate * self.size["live_seconds"])


W3_PROCEDURE = """
CREATE OR REPLACE PROCEDURE nb_w3(total int, batch int) LANGUAGE plpgsql AS $$
DECLARE lo int;
BEGIN
    lo := 1;
    WHILE lo <= total LOOP
        INSERT INTO w3_wide
        SELECT i, i % 1000, 'title of wide row ' || i,
            (SELECT string_agg(md5(i::text || '.' || g), '') FROM generate_series(1, 128) g),
            jsonb_build_object('id', i, 'items', (SELECT jsonb_agg(jsonb_build_object(
                'sku', md5(i::text || '-' || g), 'qty', g, 'price', g * 1.25)) FROM generate_series(1, 24) g)),
            ((i % 100000) + 0.25)::numeric(12,2), timestamptz '2024-05-01 12:00:00+00' + i * interval '1 second',
            i % 2 = 0
        FROM generate_series(lo, least(lo + batch - 1, total)) i;
        COMMIT;
        lo := lo + batch;
    END LOOP;
    lo := 1;
    WHILE lo <= total LOOP  -- the TOASTed body and doc stay unchanged
        UPDATE w3_wide SET qty = qty + 1, updated_at = clock_timestamp()
        WHERE id BETWEEN lo AND lo + batch - 1 AND id % 2 = 0;
        COMMIT;
        lo := lo + batch;
    END LOOP;
END $$"""


class Wide(Workload):
    name, title = "W3", "wide rows: TOASTed text and jsonb"
    BATCH = 500

    def tables(self):
        return ["w3_wide"]

    def describe(self):
        return (f"{self.size['rows']:,} rows of ~6 kB (4 kB TOASTed text, 1.7 kB jsonb) in transactions of "
                f"{self.BATCH}, then {self.size['rows'] // 2:,} updates leaving the TOASTed columns unchanged")

    def setup(self, conn):
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS w3_wide")
            cur.execute("""CREATE TABLE w3_wide (id int8 PRIMARY KEY, qty int4, title text, body text,
                           doc jsonb, price numeric(12,2), updated_at timestamptz, flag bool)""")
            cur.execute(W3_PROCEDURE)

    def run(self, conn):
        n = self.size["rows"]
        batches = -(-n // self.BATCH)
        counts = Counts(inserts=n, updates=n // 2, txns=2 * batches)
        return self._execute(conn, f"CALL nb_w3({n}, {self.BATCH})", counts, {"rows": n, "batch": self.BATCH})


W4_PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE nb_w4(txns int, tables int, per_txn int, rows_per int) LANGUAGE plpgsql AS $$
DECLARE t int; k int; tab int; lo int8;
BEGIN
    FOR t IN 0 .. txns - 1 LOOP
        FOR k IN 0 .. per_txn - 1 LOOP
            tab := (t * per_txn + k) % tables;
            lo := (t::int8 * per_txn + k) * rows_per + 1;
            EXECUTE format('INSERT INTO w4_t%s SELECT {ROW_SQL.format(n='i').replace('%', '%%').replace("'", "''")}
                            FROM generate_series($1, $2) i', lpad(tab::text, 2, '0'))
                USING lo, lo + rows_per - 1;
        END LOOP;
        COMMIT;
    END LOOP;
END $$"""


class ManyTables(Workload):
    name, title = "W4", "many tables"
    PER_TXN, ROWS_PER = 5, 5

    def tables(self):
        return [f"w4_t{i:02d}" for i in range(self.size["tables"])]

    def describe(self):
        return (f"{self.size['tables']} tables; {self.size['txns']:,} transactions each inserting "
                f"{self.ROWS_PER} rows into {self.PER_TXN} of them")

    def setup(self, conn):
        with conn.cursor() as cur:
            for t in self.tables():
                cur.execute(f"DROP TABLE IF EXISTS {t}")
                cur.execute(f"CREATE TABLE {t} {ROW_DDL}")
            cur.execute(W4_PROCEDURE)

    def run(self, conn):
        txns, tables = self.size["txns"], self.size["tables"]
        counts = Counts(inserts=txns * self.PER_TXN * self.ROWS_PER, txns=txns)
        return self._execute(conn, f"CALL nb_w4({txns}, {tables}, {self.PER_TXN}, {self.ROWS_PER})", counts,
                             {"txns": txns, "tables": tables})


W5_PROCEDURE = """
CREATE OR REPLACE PROCEDURE nb_w5(txns int, per_txn int) LANGUAGE plpgsql AS $$
DECLARE t int; k int; n int8;
BEGIN
    FOR t IN 0 .. txns - 1 LOOP
        FOR k IN 0 .. per_txn - 1 LOOP
            n := t::int8 * per_txn + k;
            INSERT INTO w5_outbox VALUES (gen_random_uuid(), CASE WHEN n % 4 = 0 THEN 'Customer' ELSE 'Order' END,
                (n % 1000)::text, CASE WHEN n % 3 = 0 THEN 'Created' ELSE 'Updated' END,
                jsonb_build_object('id', n, 'email', 'user' || n || '@example.com', 'total', (n % 100000) / 100.0,
                                   'lines', jsonb_build_array(jsonb_build_object('sku', 'A-' || (n % 97), 'qty', n % 5),
                                                              jsonb_build_object('sku', 'B-' || (n % 89), 'qty', 1)),
                                   'note', 'an event about aggregate ' || (n % 1000), 'paid', n % 2 = 0));
        END LOOP;
        COMMIT;
    END LOOP;
END $$"""


class Outbox(Workload):
    name, title = "W5", "outbox: events in an outbox table"
    PER_TXN = 5
    AGGREGATE_TYPES = ("Customer", "Order")  # EventRouter's topics, by aggregatetype

    def tables(self):
        return ["w5_outbox"]

    def describe(self):
        return (f"{self.size['txns']:,} transactions each inserting {self.PER_TXN} events (~300 bytes of jsonb) "
                "into an outbox table")

    def setup(self, conn):
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS w5_outbox")
            cur.execute("""CREATE TABLE w5_outbox (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL,
                           aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb)""")
            cur.execute(W5_PROCEDURE)

    def run(self, conn):
        txns = self.size["txns"]
        counts = Counts(inserts=txns * self.PER_TXN, txns=txns)
        return self._execute(conn, f"CALL nb_w5({txns}, {self.PER_TXN})", counts, {"txns": txns})


SIZES = {
    "quick": {
        "W1": {"rows": 20_000},
        "W2": {"txns": 2_000, "live_per_s": 100, "live_seconds": 4, "live_warmup_seconds": 1},
        "W3": {"rows": 1_000},
        "W4": {"tables": 50, "txns": 400},
        "W5": {"txns": 2_000},
    },
    "default": {
        "W1": {"rows": 200_000},
        "W2": {"txns": 20_000, "live_per_s": 200, "live_seconds": 15, "live_warmup_seconds": 2},
        "W3": {"rows": 10_000},
        "W4": {"tables": 50, "txns": 4_000},
        "W5": {"txns": 20_000},
    },
}

KINDS = {"W1": Bulk, "W2": Oltp, "W3": Wide, "W4": ManyTables, "W5": Outbox}


def make(name: str, size_name: str) -> Workload:
    return KINDS[name](SIZES[size_name][name])
