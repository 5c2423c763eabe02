"""The README's demo: a small shop database streamed into a real Kafka, events printed back.

Starts the local services (deploy/local/up), creates `demo_customers`, runs `bridge run` on
deploy/examples/application.properties, writes a few changes, prints the events read back
from Kafka, stops the bridge with SIGTERM and stops the services it started.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "examples" / "application.properties"
TOPIC = "demo.public.demo_customers"


def main() -> int:
    up = subprocess.run([str(REPO / "deploy/local/up")], capture_output=True, text=True)
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        return 1
    env = dict(re.findall(r"^export (\w+)='([^']*)'$", up.stdout, re.M))
    started = "# started: nothing" not in up.stdout
    try:
        return demo(env["BRIDGE_PG_DSN"], env["BRIDGE_KAFKA_BOOTSTRAP"])
    finally:
        if started:
            subprocess.run([str(REPO / "deploy/local/down")])


def demo(dsn: str, bootstrap: str) -> int:
    fresh_topic(bootstrap)
    pg = psycopg2.connect(dsn)
    pg.autocommit = True
    with pg.cursor() as cur:
        # A fresh start each run: the demo slot, publication and table are recreated.
        cur.execute("SELECT pg_drop_replication_slot('demo') FROM pg_replication_slots WHERE slot_name = 'demo'")
        cur.execute("DROP PUBLICATION IF EXISTS demo_publication")
        cur.execute("DROP TABLE IF EXISTS demo_customers")
        cur.execute("CREATE TABLE demo_customers (id serial PRIMARY KEY, name text NOT NULL, "
                    "email text, balance numeric(12,2), updated_at timestamptz DEFAULT now())")
        # A row from before the bridge starts: it arrives through the initial snapshot (op "r").
        cur.execute("INSERT INTO demo_customers (name, email, balance) VALUES ('Grace', 'grace@example.com', 7.00)")

    print(f"$ bridge run -c {CONFIG.relative_to(REPO)}", flush=True)
    bridge = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "-c", str(CONFIG)], cwd=REPO)
    try:
        wait_for_slot(pg)
        with pg.cursor() as cur:
            cur.execute("INSERT INTO demo_customers (name, email, balance) VALUES "
                        "('Ada', 'ada@example.com', 120.50), ('Linus', 'linus@example.com', 99.99)")
            cur.execute("UPDATE demo_customers SET balance = balance + 10 WHERE name = 'Ada'")
            cur.execute("DELETE FROM demo_customers WHERE name = 'Linus'")
        print_events(bootstrap, expected=6)
    finally:
        bridge.send_signal(signal.SIGTERM)
        code = bridge.wait(60)
    print(f"bridge stopped with exit code {code}")
    return code


def fresh_topic(bootstrap: str) -> None:
    """Delete the demo topic of an earlier run, so only this run's events are printed."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if TOPIC not in admin.list_topics(timeout=10).topics:
        return
    for future in admin.delete_topics([TOPIC]).values():
        future.result(30)
    deadline = time.monotonic() + 30
    while TOPIC in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)


def wait_for_slot(pg, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with pg.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = 'demo'")
            row = cur.fetchone()
            if row and row[0]:
                return
            time.sleep(0.2)
    raise SystemExit("the bridge did not start streaming within 60 s")


def print_events(bootstrap: str, expected: int, timeout: float = 60) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"demo-{time.time_ns()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([TOPIC])
    seen = 0
    deadline = time.monotonic() + timeout
    print(f"\nevents on {TOPIC} (payloads; the Connect schemas are left out):")
    while seen < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen += 1
        key = json.loads(msg.key())["payload"]
        if msg.value() is None:
            print(f"  key={json.dumps(key)}  value=null (tombstone)")
            continue
        p = json.loads(msg.value())["payload"]
        print(f"  key={json.dumps(key)}  op={p['op']}  before={json.dumps(p['before'])}  after={json.dumps(p['after'])}")
    consumer.close()
    if seen < expected:
        raise SystemExit(f"only {seen} of {expected} events arrived within {timeout:.0f} s")
    print()


if __name__ == "__main__":
    sys.exit(main())
