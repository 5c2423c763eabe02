"""Capture real pgoutput bytes from a PostgreSQL 15 server into tests/data/pgoutput/.

Run by hand against a THROWAWAY cluster (it drops and creates tables, slots, a
publication and a replication origin), e.g.:

    initdb -D /tmp/pgdec/data -U postgres --auth=trust -E UTF8
    # postgresql.conf: port=55401, listen_addresses='127.0.0.1', wal_level=logical,
    #   max_wal_senders=10, max_replication_slots=10, logical_decoding_work_mem=64kB
    #   (so big transactions stream), max_prepared_transactions=10 (two-phase)
    pg_ctl -D /tmp/pgdec/data start
    python tests/data/capture_pgoutput.py \\
        "host=127.0.0.1 port=55401 user=postgres dbname=postgres" [scenario ...]

With scenario names, only those are (re)captured and the manifest keeps the others.

Each scenario gets its own slot, runs its writes, ends them with a non-transactional
logical message with prefix `capture-end`, then reads the slot with
LogicalReplicationConnection (decode=False) until that message arrives. Every raw message
goes to `<scenario>.jsonl` (one `{"type", "data_start", "hex"}` per line, in stream order);
runs of more than two consecutive Inserts are cut to two to keep the files small.
`manifest.json` records each scenario's protocol version, options and purpose. The unit
tests pin exact field values from these files, so re-capturing means updating them.
"""

import json
import select
import sys
from pathlib import Path

import psycopg2
import psycopg2.extras

OUT = Path(__file__).parent / "pgoutput"
PUBLICATION = "pgdec_pub"
END_PREFIX = b"capture-end"

SETUP = """
DROP PUBLICATION IF EXISTS pgdec_pub;
DROP TABLE IF EXISTS items, full_items, toasty, big, toast_key CASCADE;
DROP TYPE IF EXISTS mood;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE items (
    id int8 PRIMARY KEY, qty int4, name text, price numeric(12,2),
    created timestamptz, note text, active bool, attrs jsonb, feeling mood
);
CREATE TABLE full_items (id int4 PRIMARY KEY, label text);
ALTER TABLE full_items REPLICA IDENTITY FULL;
CREATE TABLE toasty (id int4 PRIMARY KEY, counter int4, blob text);
ALTER TABLE toasty ALTER COLUMN blob SET STORAGE EXTERNAL;
CREATE TABLE big (id int4 PRIMARY KEY, payload text);
CREATE TABLE toast_key (k text PRIMARY KEY, v int4);
ALTER TABLE toast_key ALTER COLUMN k SET STORAGE EXTERNAL;
CREATE PUBLICATION pgdec_pub FOR TABLE items, full_items, toasty, big, toast_key;
SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = 'pgdec_origin';
SELECT pg_replication_origin_create('pgdec_origin');
"""

# Writes per scenario; each string runs in its own autocommit session.
V1_WRITES = [
    """INSERT INTO items VALUES (1, 10, 'widget', 12.50, '2024-05-01 12:34:56.789+00',
        NULL, true, '{"a": [1, 2]}', 'happy')""",
    "UPDATE items SET qty = 11 WHERE id = 1",
    "UPDATE items SET id = 2 WHERE id = 1",
    "DELETE FROM items WHERE id = 2",
    "INSERT INTO full_items VALUES (1, 'one')",
    "UPDATE full_items SET label = 'uno' WHERE id = 1",
    "DELETE FROM full_items WHERE id = 1",
    "INSERT INTO toasty VALUES (1, 0, repeat('x', 3000))",
    "UPDATE toasty SET counter = 1 WHERE id = 1",
    "BEGIN; INSERT INTO items (id, name) VALUES (3, ''); "
    "SELECT pg_logical_emit_message(true, 'pgdec', 'in-txn'); COMMIT",
    "SELECT pg_logical_emit_message(false, 'pgdec', '\\x00ff'::bytea)",
    "TRUNCATE items, full_items",
    "TRUNCATE toasty RESTART IDENTITY CASCADE",
    "ALTER TABLE full_items ADD COLUMN extra int4; INSERT INTO full_items VALUES (2, 'two', 7)",
    # Origin: the writer session marks its transaction as replayed from 'pgdec_origin'.
    "SELECT pg_replication_origin_session_setup('pgdec_origin'); BEGIN; "
    "SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-02 03:04:05+00'); "
    "INSERT INTO full_items VALUES (3, 'from-origin', NULL); COMMIT; "
    "SELECT pg_replication_origin_session_reset()",
]
# A primary key value stored out of line: the UPDATE's new tuple says 'u' for it, and the
# server adds the old key ('K') with the value.
TOAST_KEY_WRITES = [
    "INSERT INTO toast_key VALUES (repeat('k', 2500), 1)",
    "UPDATE toast_key SET v = 2",
]
BINARY_WRITES = [
    """INSERT INTO items VALUES (10, -5, 'bin', 1.25, '2000-01-01 00:00:00+00',
        NULL, false, '{}', 'sad')""",
]
# Rows of ~200 bytes: a few hundred exceed logical_decoding_work_mem = 64kB and stream.
_BIG_ROWS = "INSERT INTO big SELECT g, repeat('p', 200) FROM generate_series({}, {}) g"
V2_WRITES = [
    "BEGIN; " + _BIG_ROWS.format(1, 1000)
    + "; SELECT pg_logical_emit_message(true, 'pgdec', 'streamed'); TRUNCATE full_items; COMMIT",
    "BEGIN; " + _BIG_ROWS.format(2001, 3000) + "; ROLLBACK",
    "BEGIN; " + _BIG_ROWS.format(3001, 4000) + "; SAVEPOINT s1; "
    + _BIG_ROWS.format(4001, 5000) + "; ROLLBACK TO SAVEPOINT s1; COMMIT",
]
V3_WRITES = [
    "BEGIN; INSERT INTO full_items VALUES (100, 'prepared', NULL); PREPARE TRANSACTION 'pgdec-g1'",
    "COMMIT PREPARED 'pgdec-g1'",
    "BEGIN; INSERT INTO full_items VALUES (101, 'rolled back', NULL); "
    "PREPARE TRANSACTION 'pgdec-g2'",
    "ROLLBACK PREPARED 'pgdec-g2'",
    "BEGIN; " + _BIG_ROWS.format(6001, 7000) + "; PREPARE TRANSACTION 'pgdec-g3'",
    "COMMIT PREPARED 'pgdec-g3'",
]

SCENARIOS = [
    # name, proto_version, extra START_REPLICATION options, two_phase slot, writes, purpose
    ("v1", 1, {}, False, V1_WRITES,
     "begin/commit, relation, type (enum), insert, update N/K/O, delete K/O, unchanged TOAST,"
     " transactional and non-transactional message, truncate with options,"
     " relation re-sent after ALTER TABLE, origin"),
    ("v1_toast_key", 1, {}, False, TOAST_KEY_WRITES,
     "update of a row whose primary key is TOASTed: 'K' old key, 'u' key in the new tuple"),
    ("v1_binary", 1, {"binary": "true"}, False, BINARY_WRITES,
     "binary ('b') tuple columns"),
    ("v2_stream", 2, {"streaming": "on"}, False, V2_WRITES,
     "stream start/stop/commit, streamed relation/insert/message/truncate with xid,"
     " stream abort of a whole transaction and of a subtransaction"),
    ("v3_two_phase", 3, {"streaming": "on", "two_phase": "on"}, True, V3_WRITES,
     "begin prepare/prepare/commit prepared/rollback prepared, stream prepare"),
]


def _run(dsn: str, sql: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _capture(dsn: str, name: str, proto: int, options: dict, two_phase: bool, writes: list) -> list:
    slot = f"pgdec_{name}"
    _run(dsn, f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
              f" WHERE slot_name = '{slot}'")
    _run(dsn, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput',"
              f" false, {two_phase})")
    for sql in writes:
        _run(dsn, sql)
    _run(dsn, f"SELECT pg_logical_emit_message(false, '{END_PREFIX.decode()}', '')")

    conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cur.start_replication(
        slot_name=slot, decode=False,
        options={"proto_version": str(proto), "publication_names": PUBLICATION,
                 "messages": "true", **options},
    )
    records = []
    while True:
        msg = cur.read_message()
        if msg is None:
            select.select([cur], [], [], 5)
            continue
        payload = bytes(msg.payload)
        if _is_end(payload):
            break
        records.append(
            {"type": chr(payload[0]), "data_start": msg.data_start, "hex": payload.hex()}
        )
    conn.close()
    _run(dsn, f"SELECT pg_drop_replication_slot('{slot}')")
    return _thin_inserts(records)


def _is_end(payload: bytes) -> bool:
    # Non-transactional message: 'M', flags, lsn(8), prefix\0 — never streamed, no xid.
    return payload[:1] == b"M" and payload[10:10 + len(END_PREFIX) + 1] == END_PREFIX + b"\0"


def _thin_inserts(records: list) -> list:
    kept = []
    for rec in records:
        if rec["type"] == "I" and len(kept) >= 2 and kept[-1]["type"] == kept[-2]["type"] == "I":
            continue
        kept.append(rec)
    return kept


def _rollback_leftovers(dsn: str) -> None:
    """A prepared transaction left by an interrupted run would block SETUP's DROP TABLE."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'pgdec-%'")
        for (gid,) in cur.fetchall():
            cur.execute(f"ROLLBACK PREPARED '{gid}'")
    conn.close()


def main(dsn: str, only: list[str]) -> None:
    dsn = f"{dsn} options='-c TimeZone=UTC'"
    _rollback_leftovers(dsn)
    _run(dsn, SETUP)
    OUT.mkdir(exist_ok=True)
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if only and manifest_path.exists() else {}
    for name, proto, options, two_phase, writes, purpose in SCENARIOS:
        if only and name not in only:
            continue
        records = _capture(dsn, name, proto, options, two_phase, writes)
        with open(OUT / f"{name}.jsonl", "w") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
        manifest[name] = {"file": f"{name}.jsonl", "proto_version": proto,
                          "options": options, "two_phase_slot": two_phase,
                          "server": "PostgreSQL 15", "purpose": purpose,
                          "messages": len(records)}
        print(f"{name}: {len(records)} messages: {''.join(r['type'] for r in records)}")
    order = [scenario[0] for scenario in SCENARIOS]
    manifest = dict(sorted(manifest.items(), key=lambda item: order.index(item[0])))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
