"""Crash loop: kill -9 the decoder, a producer or the coordinator at random moments while
writers run, restart, repeat; then check that every committed change is in Kafka and that
per-key order holds (duplicates only as a replayed suffix). With `exactly_once`, the bridge runs
with `bridge.exactly.once=true`, writers also update many keys per transaction (so Kafka
transactions end inside PostgreSQL ones), and the check is strict: read committed, every change
exactly once.

The suite runs a short loop (tests/integration/test_crash_loop.py). The soak version runs
against the local services for as long as you like:

    eval "$(deploy/local/up)"
    python -m tests.integration.crash_loop --iterations 300 --producers 2 [--exactly-once]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import time
from pathlib import Path

import psycopg2

from tests.integration.support import (BridgeProcess, Writers, check_exactly_once, check_per_key_sequences, child_pids,
                                       consume_until, drop_slot_and_publication, reached_final, slot_active,
                                       wait_until, write_properties)

KEYS = 30


def crash_loop(pg_dsn: str, kafka_bootstrap: str, workdir: Path, name: str, *, iterations: int,
               producers: int, seed: int, exactly_once: bool = False, log=print) -> dict[str, int]:
    """Returns how many times each kind of process was killed."""
    rng = random.Random(seed)
    pg = psycopg2.connect(pg_dsn)
    pg.autocommit = True
    table, slot, publication = f"crash_{name}", f"{name}_slot", f"{name}_pub"
    cfg = write_properties(workdir / f"{name}.properties", pg_dsn, kafka_bootstrap, prefix=name, slot=slot,
                           publication=publication,
                           extra={"bridge.producers": str(producers),
                                  "debezium.source.publication.autocreate.mode": "disabled",
                                  "bridge.exactly.once": str(exactly_once).lower(),
                                  "bridge.exactly.once.offsets.topic": f"{name}_offsets"})
    bridge = BridgeProcess(cfg, workdir / f"{name}.log")
    kills = {"coordinator": 0, "decoder": 0, "producer": 0}
    try:
        with pg.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL, pad text)")
            cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {table}')  # only our table
        # The slot must exist before the first row so that no change predates it.
        bridge.start()
        wait_until(lambda: slot_active(pg, slot), timeout=60, what="the first start")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT g, 1, 'x' FROM generate_series(0, {KEYS - 1}) g")
        # A steady, bounded load: enough to be mid-flight at every kill, small enough that the
        # recovery run catches up quickly even on a loaded 2-core machine.
        writers = Writers(pg_dsn, table, KEYS, threads=3, max_updates=20_000, pause_s=0.002,
                          keys_per_txn=(1, 5) if exactly_once else (1, 1)).start()
        for i in range(iterations):
            if not bridge.running():
                bridge.start()
            time.sleep(rng.uniform(0.2, 2.0))  # sometimes still starting, sometimes streaming
            target = rng.choice(list(kills))
            victim = _victim(bridge, target, rng)
            if victim is None:  # the pipeline's children were not up yet: kill the coordinator
                target, victim = "coordinator", bridge.proc.pid
            os.kill(victim, signal.SIGKILL)
            kills[target] += 1
            code = bridge.proc.wait(90)
            assert code != 0, f"iteration {i}: the bridge exited 0 after its {target} was killed"
            wait_until(lambda: not child_pids(bridge.proc.pid), timeout=30, what="children to exit")
            log(f"iteration {i + 1}/{iterations}: killed {target}, bridge exited {code}")
        writers.stop()
        final = writers.final(pg)

        # Recovery run: everything committed must arrive, in per-key order.
        bridge.start()
        topic = f"{name}.public.{table}"
        seen: list = []

        def reached(ev) -> bool:
            seen[:] = ev
            return reached_final(ev, final)

        try:
            events = consume_until(kafka_bootstrap, topic, reached, timeout=300)
        except AssertionError:
            # Say which keys are short (or doubled) rather than only that the wait timed out.
            (check_exactly_once if exactly_once else check_per_key_sequences)(seen, final)
            raise
        assert bridge.stop() == 0, bridge.log()
        if exactly_once:
            check_exactly_once(events, final)
        else:
            check_per_key_sequences(events, final)
        log(f"{len(events)} records for {sum(final.values())} committed values; kills: {kills}")
        return kills
    finally:
        if bridge.running():
            bridge.kill()
        drop_slot_and_publication(pg, slot, publication)
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        pg.close()


def _victim(bridge: BridgeProcess, target: str, rng: random.Random) -> int | None:
    if target == "coordinator":
        return bridge.proc.pid
    deadline = time.monotonic() + 3.0  # children may still be starting (spawn takes a moment)
    while time.monotonic() < deadline and bridge.running():
        children = child_pids(bridge.proc.pid)
        names = [n for n in children if n.startswith(f"pgb-{target}")]
        if names:
            return children[rng.choice(names)]
        time.sleep(0.05)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--exactly-once", action="store_true")
    args = parser.parse_args()
    dsn, bootstrap = os.environ["BRIDGE_PG_DSN"], os.environ["BRIDGE_KAFKA_BOOTSTRAP"]
    with tempfile.TemporaryDirectory() as tmp:
        crash_loop(dsn, bootstrap, Path(tmp), f"soak_{args.seed}", iterations=args.iterations,
                   producers=args.producers, seed=args.seed, exactly_once=args.exactly_once)
    print(f"soak passed (seed {args.seed})")


if __name__ == "__main__":
    main()
