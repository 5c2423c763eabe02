"""What the running pipeline reports: Prometheus metrics and a health verdict.

Everything is read in the coordinator from the shared cells the processes already keep
(`bridge.ring.cells`), the rings' fill and the children's exit codes, so serving a
scrape costs the data path nothing. LSNs are reported as plain numbers (bytes of WAL), so
`pgbridge_source_lag_bytes` is a subtraction a dashboard could also do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from bridge.ring import RingOwner, LsnCells


class ChildView(Protocol):
    role: str

    @property
    def alive(self) -> bool: ...


@dataclass(slots=True)
class Family:
    """One metric: its samples as (labels, value)."""

    name: str
    kind: str  # "gauge" | "counter"
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(families: list[Family]) -> str:
    """Prometheus text exposition format 0.0.4."""
    out = []
    for f in families:
        out.append(f"# HELP {f.name} {f.help}")
        out.append(f"# TYPE {f.name} {f.kind}")
        for labels, value in f.samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(int(value))
            out.append(f"{f.name}{{{text}}} {number}" if text else f"{f.name} {number}")
    return "\n".join(out) + "\n"


@dataclass(slots=True)
class PipelineState:
    """The pipeline as the supervisor sees it; `cells`/`rings`/`children` are those of the
    current run (None between runs)."""

    slot: str
    producers: int
    started: float = field(default_factory=time.time)
    phase: str = "starting"  # (standby) | starting | streaming | stopping | failing | restarting | failed | stopped
    restarts: int = 0
    stop_requested: bool = False  # SIGTERM/SIGINT: no restart after this
    cells: LsnCells | None = None
    rings: list[RingOwner] = field(default_factory=list)
    children: list[ChildView] = field(default_factory=list)

    def healthy(self) -> tuple[bool, dict[str, str]]:
        """Ready: every process of the current run alive, the decoder past its start-up."""
        processes = {c.role: "UP" if c.alive else "DOWN" for c in self.children}
        if processes.get("decoder") == "UP" and self.cells is not None and not self.cells.decoder_running:
            processes["decoder"] = "STARTING"
        up = self.phase == "streaming" and bool(processes) and all(v == "UP" for v in processes.values())
        return up, {"phase": self.phase, **processes}

    def families(self, now_us: int | None = None) -> list[Family]:
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        ready, _ = self.healthy()
        fams = [
            Family("pgbridge_up", "gauge", "1 when every process of the pipeline is running and streaming").add(
                int(ready)),
            Family("pgbridge_start_time_seconds", "gauge", "when this pgbridge process started (Unix time)").add(
                round(self.started, 3)),
            Family("pgbridge_pipeline_restarts_total", "counter",
                   "pipeline restarts by bridge.restart.policy=on-failure").add(self.restarts),
            Family("pgbridge_process_up", "gauge", "1 while the process runs",
                   [({"role": c.role}, int(c.alive)) for c in self.children]),
        ]
        cells = self.cells
        if cells is None:
            return fams
        safe, dispatched = cells.safe_lsn, cells.dispatched
        wal_end, messages = cells.decoder_stats()
        fams += [
            Family("pgbridge_source_wal_end_lsn", "gauge",
                   "newest WAL position the server reported on the replication stream").add(wal_end),
            Family("pgbridge_dispatched_lsn", "gauge",
                   "everything the stream sent before this LSN is in the producers' rings").add(dispatched),
            Family("pgbridge_confirmed_lsn", "gauge",
                   "safe LSN: acknowledged by Kafka, confirmed to the slot").add(safe),
            Family("pgbridge_source_lag_bytes", "gauge",
                   "WAL bytes between the server's position and what Kafka acknowledged").add(
                max(0, wal_end - safe) if safe else 0),
            Family("pgbridge_decoder_messages_total", "counter", "pgoutput messages read").add(messages),
        ]
        rows = Family("pgbridge_producer_rows_total", "counter", "row changes converted and produced")
        records = Family("pgbridge_producer_records_total", "counter", "Kafka records produced (tombstones too)")
        acked = Family("pgbridge_producer_acked_lsn", "gauge",
                       "end LSN of the newest transaction this producer has fully acknowledged")
        behind = Family("pgbridge_producer_milliseconds_behind_source", "gauge",
                        "now minus the commit time of the newest fully acknowledged transaction")
        used = Family("pgbridge_ring_used_bytes", "gauge", "bytes in the producer's ring not yet consumed")
        capacity = Family("pgbridge_ring_capacity_bytes", "gauge", "size of the producer's ring")
        for i in range(cells.producers):
            p = str(i)
            n_rows, n_records, commit_us = cells.producer_stats(i)
            rows.add(n_rows, producer=p)
            records.add(n_records, producer=p)
            acked.add(cells.acked(i), producer=p)
            behind.add(max(0, (now_us - commit_us) // 1000) if commit_us else 0, producer=p)
            if i < len(self.rings):
                used.add(self.rings[i].used_bytes(), producer=p)
                capacity.add(self.rings[i].capacity, producer=p)
        return fams + [rows, records, acked, behind, used, capacity]
