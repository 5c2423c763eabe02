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

from bridge.kafka import auth_failures
from bridge.ring import RingOwner, LsnCells

# Readiness says DEGRADED this long after a Kafka authentication failure: librdkafka reports a
# failure that repeats unchanged only once, so "still failing" cannot be told from "failed once".
AUTH_DEGRADED_S = 300


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


WAL_STATUSES = ("reserved", "extended", "unreserved", "lost")  # pg_replication_slots.wal_status


@dataclass(frozen=True, slots=True)
class SlotWal:
    """The slot's row of pg_replication_slots and pg_current_wal_lsn(), read together
    (`bridge.status.slot_watch`); None figures: no slot, or PostgreSQL reports none."""

    current_lsn: int
    restart_lsn: int | None
    confirmed_lsn: int | None
    wal_status: str | None
    safe_wal_size: int | None  # None: max_slot_wal_keep_size=-1 (unlimited), or lost

    @property
    def restart_lag(self) -> int | None:
        """WAL the slot keeps on the server's disk."""
        return None if self.restart_lsn is None else max(0, self.current_lsn - self.restart_lsn)

    @property
    def confirmed_lag(self) -> int | None:
        return None if self.confirmed_lsn is None else max(0, self.current_lsn - self.confirmed_lsn)

    def families(self) -> list[Family]:
        restart = Family("pgbridge_slot_restart_lag_bytes", "gauge",
                         "WAL the slot keeps: pg_current_wal_lsn() - restart_lsn")
        confirmed = Family("pgbridge_slot_confirmed_lag_bytes", "gauge",
                           "WAL not yet confirmed by the slot: pg_current_wal_lsn() - confirmed_flush_lsn")
        safe = Family("pgbridge_slot_safe_wal_size_bytes", "gauge",
                      "WAL PostgreSQL may still write before the slot is lost (absent: unlimited)")
        if self.restart_lag is not None:
            restart.add(self.restart_lag)
        if self.confirmed_lag is not None:
            confirmed.add(self.confirmed_lag)
        if self.safe_wal_size is not None:
            safe.add(self.safe_wal_size)
        status = Family("pgbridge_slot_wal_status", "gauge", "1 for the slot's wal_status in pg_replication_slots",
                        [({"status": name}, int(name == self.wal_status)) for name in WAL_STATUSES])
        return [restart, confirmed, status, safe]


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
    wal: SlotWal | None = None  # polled by the coordinator (`bridge.status.slot_watch`); None: not yet
    wal_warn_bytes: int = 0  # bridge.wal.warn.bytes (0: no threshold)
    # Kafka authentication failures of the children of earlier runs (their cells are gone)
    auth_carried: tuple[int, int] = (0, 0)

    def auth_failures(self) -> tuple[int, int]:
        """Kafka authentication failures of every process of this bridge since it started, and the
        newest one's time (Unix µs, 0: none)."""
        counts = [auth_failures.counts(), self.auth_carried]
        if self.cells is not None:
            counts.append(self.cells.auth_failures())
        return sum(c for c, _ in counts), max(last for _, last in counts)

    def carry_auth_failures(self) -> None:
        """The current run's children have exited: keep their counts beyond their cells."""
        if self.cells is not None:
            count, last = self.cells.auth_failures()
            self.auth_carried = (self.auth_carried[0] + count, max(self.auth_carried[1], last))

    def auth_failing(self, now_us: int | None = None) -> bool:
        """A Kafka authentication failure (a refused credential, a token refresh that failed) in the
        last AUTH_DEGRADED_S: readiness says DEGRADED."""
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        _, last = self.auth_failures()
        return bool(last) and now_us - last < AUTH_DEGRADED_S * 1_000_000

    @property
    def wal_over(self) -> bool:
        """The slot keeps more WAL than bridge.wal.warn.bytes: readiness says DEGRADED."""
        lag = self.wal.restart_lag if self.wal is not None else None
        return bool(self.wal_warn_bytes) and lag is not None and lag > self.wal_warn_bytes

    def degraded(self) -> dict[str, str]:
        """Why a ready pipeline is DEGRADED (readiness stays 200: probes keep routing), as health
        data; empty: it is not."""
        why: dict[str, str] = {}
        if self.wal_over:  # the slot pins more WAL than allowed
            why.update(wal="DEGRADED", slot_restart_lag_bytes=str(self.wal.restart_lag),  # type: ignore[union-attr]
                       wal_warn_bytes=str(self.wal_warn_bytes))
        if self.auth_failing():  # streaming on connections already authenticated, but a credential was refused
            why.update(kafka_auth="DEGRADED", kafka_auth_failures=str(self.auth_failures()[0]))
        return why

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
            Family("pgbridge_kafka_auth_failures_total", "counter",
                   "Kafka authentication failures (refused credentials, failed token refreshes) in any process").add(
                self.auth_failures()[0]),
        ]
        if self.wal is not None:
            fams += self.wal.families()
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
        poisoned = Family("pgbridge_poison_events_total", "counter",
                          "events written to bridge.poison.topic instead of stopping the pipeline")
        incompatible = Family("pgbridge_registry_incompatible_events_total", "counter",
                              "events written to bridge.registry.incompatible.topic: the registry refused their schema")
        used = Family("pgbridge_ring_used_bytes", "gauge", "bytes in the producer's ring not yet consumed")
        capacity = Family("pgbridge_ring_capacity_bytes", "gauge", "size of the producer's ring")
        for i in range(cells.producers):
            p = str(i)
            n_rows, n_records, commit_us = cells.producer_stats(i)
            rows.add(n_rows, producer=p)
            records.add(n_records, producer=p)
            acked.add(cells.acked(i), producer=p)
            behind.add(max(0, (now_us - commit_us) // 1000) if commit_us else 0, producer=p)
            poisoned.add(cells.poisoned(i), producer=p)
            incompatible.add(cells.incompatible(i), producer=p)
            if i < len(self.rings):
                used.add(self.rings[i].used_bytes(), producer=p)
                capacity.add(self.rings[i].capacity, producer=p)
        return fams + [rows, records, acked, behind, poisoned, incompatible, used, capacity]
