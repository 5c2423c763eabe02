"""The workers' counters, in shared memory the supervisor reads for `/q/metrics` (a worker only
adds to its own slots: no lock, no cost on the data path beyond an add per batch), and their
flow gauges (lag, buffer, catch-up: `bridge.sink.flow`), which each worker reports once a second."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field

from bridge.status.metrics import Family

# name -> (metric, help)
COUNTERS = {
    "records": ("pgbridge_sink_records_total", "Kafka records consumed and committed"),
    "rows": ("pgbridge_sink_rows_total", "row changes written into the target"),
    "batches": ("pgbridge_sink_batches_total", "database transactions committed"),
    "dead_letters": ("pgbridge_sink_dead_letters_total", "records refused and skipped (dead-letter topic)"),
    "retries": ("pgbridge_sink_retries_total", "batches retried after a transient database error"),
    "guard_skips": ("pgbridge_sink_guard_skips_total", "changes the LSN guard skipped as older than the row"),
    "quarantined": ("pgbridge_sink_quarantined_total", "records refused for a schema mismatch (quarantine topic)"),
    "dedup_skipped": ("pgbridge_sink_dedup_skipped_total", "records skipped as applied within the dedup window"),
    "delete_markers": ("pgbridge_sink_delete_markers_total",
                       "deletes applied with a delete marker (bridge.sink.delete.markers)"),
    "markers_pruned": ("pgbridge_sink_delete_markers_pruned_total",
                       "delete markers pruned past bridge.sink.delete.markers.retention.ms"),
}
_INDEX = {name: i for i, name in enumerate(COUNTERS)}
# a worker's report key -> (metric, help)
GAUGES = {
    "lag_ms": ("pgbridge_sink_lag_ms", "age of the oldest record read and not yet written (Kafka timestamp), "
               "else while records wait unread of the last one written"),
    "buffered": ("pgbridge_sink_buffered_records", "records read and not yet committed into the target"),
    "buffered_max": ("pgbridge_sink_buffered_records_max", "the most records buffered at once since the start "
                     "(bound: bridge.sink.buffer.max.records)"),
    "catchup": ("pgbridge_sink_catchup", "1 in catch-up mode (large batches: lag past bridge.sink.lag.pause.*)"),
    "paused": ("pgbridge_sink_paused", "1 while the worker's partitions are paused (buffer full)"),
}


class Stats:
    def __init__(self, workers: int, cells=None) -> None:
        self.workers = workers
        self.cells = cells if cells is not None else multiprocessing.get_context("spawn").Array(
            "q", workers * len(COUNTERS), lock=False)

    def add(self, worker: int, **counts: int) -> None:
        base = worker * len(COUNTERS)
        for name, n in counts.items():
            self.cells[base + _INDEX[name]] += n

    def get(self, worker: int, name: str) -> int:
        return self.cells[worker * len(COUNTERS) + _INDEX[name]]


@dataclass(slots=True)
class SinkState:
    """What `/q/health` and `/q/metrics` read (the shape `bridge.status.http` serves)."""

    stats: Stats
    alive: list = field(default_factory=list)  # per worker: callable -> bool
    phase: str = "starting"  # starting | streaming | stopping | failed | stopped
    started: float = field(default_factory=time.time)
    reports: dict = field(default_factory=dict)  # worker -> its last flow report

    def behind(self) -> int:
        """Records the sink has still to write: every worker's lag and buffer."""
        return sum(report["behind"] for report in self.reports.values())

    def healthy(self) -> tuple[bool, dict[str, str]]:
        workers = {f"sink-{i}": "UP" if alive() else "DOWN" for i, alive in enumerate(self.alive)}
        up = self.phase == "streaming" and bool(workers) and all(v == "UP" for v in workers.values())
        return up, {"phase": self.phase, **workers}

    def degraded(self) -> dict[str, str]:
        """The sink has no degraded state of its own yet: ready is UP."""
        return {}

    def families(self) -> list[Family]:
        ready, _ = self.healthy()
        fams = [Family("pgbridge_sink_up", "gauge", "1 when every sink worker runs").add(int(ready)),
                Family("pgbridge_start_time_seconds", "gauge", "when this process started (Unix time)").add(
                    round(self.started, 3))]
        for name, (metric, text) in COUNTERS.items():
            family = Family(metric, "counter", text)
            for worker in range(self.stats.workers):
                family.add(self.stats.get(worker, name), worker=str(worker))
            fams.append(family)
        lag = Family("pgbridge_sink_lag_messages", "gauge", "high watermark minus the consumer's position")
        for worker in sorted(self.reports):
            for topic, partition, n in self.reports[worker]["lag"]:
                lag.add(n, topic=topic, partition=str(partition))
        fams.append(lag)
        for key, (metric, text) in GAUGES.items():
            family = Family(metric, "gauge", text)
            for worker in sorted(self.reports):
                family.add(self.reports[worker][key], worker=str(worker))
            fams.append(family)
        return fams
