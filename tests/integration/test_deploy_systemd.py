"""deploy/systemd/pgbridge@.service on a real bridge: its ExecStart command line (the instance's
config replaced by the test's) streams; the signal ExecReload sends re-reads the file and, with
nothing changed, keeps streaming without a restart; the unit's KillSignal stops it cleanly (exit 0,
every row acknowledged and confirmed to the slot), and the start Restart=always then makes resumes
with nothing written twice."""

from __future__ import annotations

import os
import signal

from tests.deploy_files import SYSTEMD, read_unit, reload_signal, unit_command
from tests.integration.support import confirmed_flush, consume, slot_active, topic_size, wait_until


def test_reload_keeps_streaming_and_stop_is_clean_and_the_restart_resumes(pg, bridge_factory, kafka_bootstrap, unique_name):
    unit = read_unit(SYSTEMD / "pgbridge@.service")
    command, *rest = unit_command(unit)[1:]
    at = rest.index("-c")
    table, slot = f"unit_{unique_name}", f"{unique_name}_slot"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "2"}, tables=[table])
    bridge.command, bridge.args = command, tuple(rest[:at] + rest[at + 2:])  # the unit's, but -c
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 200)")
    consume(kafka_bootstrap, topic, count=200)
    # WHEN systemctl reload sends ExecReload's signal to the main process
    os.kill(bridge.proc.pid, reload_signal(unit))
    # THEN the file is read again and, nothing having changed, the pipeline streams on unrestarted
    wait_until(lambda: "nothing changed" in bridge.log(), what="the reload to be judged")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (201)")
    events = consume(kafka_bootstrap, topic, count=201)
    assert bridge.running() and "restart" not in bridge.log()
    # (the last row's own position: the server's current one also counts other sessions' WAL)
    written = max(int(e.value["payload"]["source"]["lsn"]) for e in events)
    # WHEN systemctl stop sends the unit's KillSignal
    os.kill(bridge.proc.pid, getattr(signal, read_unit(SYSTEMD / "pgbridge@.service")["Service"]["KillSignal"][-1]))
    # THEN it stops cleanly with the slot confirmed past every row
    assert bridge.wait(90) == 0, bridge.log()
    assert "stopped cleanly" in bridge.log()
    assert confirmed_flush(pg, slot) > written
    # AND the start that Restart=always makes resumes there: nothing is written twice
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to stream again")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (202)")
    consume(kafka_bootstrap, topic, count=202)
    assert topic_size(kafka_bootstrap, topic) == 202
    assert bridge.stop() == 0, bridge.log()
