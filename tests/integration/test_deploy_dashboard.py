"""Every metric deploy/grafana/pgbridge.json reads is served by a real `bridge run`'s
/q/metrics, but for those listed in CONDITIONAL, which appear only under conditions."""

from __future__ import annotations

import json
import re

from tests.deploy_files import DASHBOARD, exprs, metric_names
from tests.integration.support import consume, metrics_of, slot_active, wait_until

# metric -> why a streaming bridge may not serve it
CONDITIONAL = {
    "pgbridge_slot_safe_wal_size_bytes": "absent while max_slot_wal_keep_size=-1 (unlimited, as on the test "
                                         "server) or the slot is lost: PostgreSQL reports no safe_wal_size",
}


def test_every_dashboard_metric_is_served_by_a_running_bridge(pg, bridge_factory, kafka_bootstrap, unique_name):
    used = {name for expr in exprs(json.loads(DASHBOARD.read_text())) for name in metric_names(expr)}
    assert set(CONDITIONAL) <= used, "CONDITIONAL names a metric the dashboard does not use"
    table = f"dash_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.wal.poll.ms": "300"}, tables=[table])
    bridge.start()
    # GIVEN a bridge streaming rows, its slot figures polled
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    port = int(wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                          what="the HTTP port in the log")[1])
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 20)")
    consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=20)
    # WHEN /q/metrics is scraped THEN it serves every metric the dashboard reads
    served = wait_until(lambda: (m := {name for name, _ in metrics_of(port)})
                        and "pgbridge_slot_restart_lag_bytes" in m and m, what="the slot metrics")
    assert used - set(CONDITIONAL) - served == set(), bridge.log()
    assert bridge.stop() == 0, bridge.log()
