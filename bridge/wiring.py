"""The one place where the stages are connected.

    coordinator (this process, uvloop)   safe LSN, supervision, HTTP status (bridge.status)
      ├─ decoder process   source → route → rings          (bridge.proc.decoder_main)
      └─ producer 0..N-1   ring → decode → produce → acked (bridge.proc.producer_main)

The coordinator checks the configuration against the servers first (Kafka reachable,
PostgreSQL reachable, publication and slot present or created) so that expected problems are
one clear error before any process starts; then it creates the rings and LSN cells, spawns
the children and supervises them (`bridge.proc.coordinator`). Health and metrics are served
for the process's whole life, across pipeline restarts. SIGHUP reloads the configuration
(`bridge.ops.reload`): new Kafka credentials drain the pipeline and run it again with them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import uuid
from dataclasses import replace

import uvloop

from bridge.config import BridgeConfig
from bridge.errors import ExitCode
from bridge.ops.doctor import start_findings
from bridge.ops.ha import LeaderLock
from bridge.ops.lost_slot import check_slot
from bridge.ops.reload import Reloader
from bridge.proc.coordinator import Child, Coordinator
from bridge.proc.decoder_main import decoder_main
from bridge.proc.producer_main import producer_main
from bridge.produce.exactly_once import load_resume_points
from bridge.produce.kafka import KafkaWriter
from bridge.ring import RingOwner, LsnCells
from bridge.source.checks import Severity
from bridge.source.connection import LazyConnection, connect
from bridge.source.preflight import prepare_postgres
from bridge.source.slots import drop_slot, slot_exists
from bridge.status.http import serve
from bridge.status.slot_watch import SlotWatch
from bridge.status.metrics import PipelineState

log = logging.getLogger(__name__)


def preflight(config: BridgeConfig) -> str:
    """Check the servers; returns the PostgreSQL cluster's system identifier."""
    KafkaWriter(config.kafka).check_reachable(config.retry)
    _check_registries(config)
    sql = connect(config.postgres, config.retry)
    try:
        system = prepare_postgres(sql, config.replication, config.filters, config.incremental.signal_table)
        # The doctor's quick checks: their errors (wal_level, no free slot) stop the start where the slot
        # is created, with PostgreSQL's own message; the warnings are logged here.
        for finding in start_findings(sql, config):
            if finding.severity is Severity.WARNING:
                log.warning("%s", finding.message)
        return system
    finally:
        sql.close()


def _check_registries(config: BridgeConfig) -> None:
    """The Avro converters' registries: a TLS or credential refusal stops the start here, in one line."""
    specs = {f.avro for f in (config.events.key_format, config.events.value_format) if f.avro is not None}
    if specs:
        from bridge.format.avro.registry import Registry  # the avro extra, only with Avro

        for spec in specs:
            Registry(spec).check_reachable()


def run(config: BridgeConfig, reloader: Reloader | None = None) -> int:
    """Run the pipeline until stopped; restart it after a failure if the policy says so, and with
    new Kafka settings when `reloader` accepts them (SIGHUP). With bridge.ha.mode=lock, wait as a
    standby for the lock first (`bridge.ops.ha`)."""
    if reloader is not None:
        reloader.catch_early()
    system = None if config.ha.lock else preflight(config)
    return uvloop.run(_supervise(config, system, reloader))


async def _supervise(config: BridgeConfig, system: str | None, reloader: Reloader | None = None) -> int:
    pipe = config.pipeline
    state = PipelineState(config.replication.slot_name, pipe.producers)
    server = await serve(config.http, state)
    if reloader is not None:
        reloader.install(asyncio.get_running_loop())
    # One attempt per poll: a PostgreSQL outage must not hold the watch (or a stop) in retries.
    sql = LazyConnection(config.postgres, replace(config.retry, attempts=1))
    watch = asyncio.create_task(SlotWatch(sql, config.replication.slot_name, config.wal_guard, state).run())
    lock = None
    try:
        if system is None:  # bridge.ha.mode=lock: the preflight runs once the lock is ours
            lock = LeaderLock(config.postgres, config.ha, config.replication.slot_name)
            state.phase = "standby"
            if not await lock.acquire(_stop_requested_within, asyncio.to_thread):
                state.phase = "stopped"
                return ExitCode.OK
            state.phase = "starting"
            lock.start_checks(functools.partial(_fence, state), asyncio.get_running_loop().call_soon_threadsafe)
            asyncio.create_task(_check_overdue(lock, state))
            system = await asyncio.to_thread(preflight, config)
        attempt = 1
        while True:
            if reloader is not None and (new := reloader.take()) is not None:
                config = new
            code = await run_once(config, state, system, lock, reloader)
            if lock is not None:
                if code != 0:  # a run that fails may have failed because the lock went (PostgreSQL restarted)
                    await lock.confirm(functools.partial(_fence, state))
                lock.raise_if_lost()
            if reloader is not None and reloader.pending is not None and not state.stop_requested:
                continue  # drained for a reload: run again with the new settings
            if code == 0 and config.replication.slot_drop_on_stop:
                sql = connect(config.postgres, config.retry)
                try:
                    drop_slot(sql, config.replication.slot_name)
                finally:
                    sql.close()
            if (code == 0 or state.stop_requested or pipe.restart_policy == "never"
                    or attempt >= pipe.restart_max_attempts):
                state.phase = "stopped" if code == 0 else "failed"
                return code
            log.warning("pipeline failed (exit %d); restart %d of %d in %.1fs", code, attempt,
                        pipe.restart_max_attempts - 1, pipe.restart_backoff_ms / 1000)
            state.phase = "restarting"
            if await _stop_requested_within(pipe.restart_backoff_ms / 1000):
                log.info("stop requested while waiting to restart")
                state.stop_requested = True
                state.phase = "failed"
                return code
            attempt += 1
            state.restarts += 1
    finally:
        if reloader is not None:
            reloader.uninstall(asyncio.get_running_loop())
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        if lock is not None:
            lock.close()  # ends its session: a standby takes over now
        if server is not None:
            server.close()


def _fence(state: PipelineState, reason: str) -> None:
    """The HA lock is in doubt: kill the pipeline's processes before they write anything more."""
    log.error("%s", reason)
    for child in multiprocessing.active_children():
        child.kill()
    state.stop_requested = True


async def _check_overdue(lock: LeaderLock, state: PipelineState) -> None:
    while lock.lost is None:
        lock.check_overdue(functools.partial(_fence, state))
        await asyncio.sleep(0.1)


async def _stop_requested_within(seconds: float) -> bool:
    """Wait `seconds`, or less if SIGTERM/SIGINT arrives; whether one did."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def run_once(config: BridgeConfig, state: PipelineState, system: str = "", lock: LeaderLock | None = None,
                   reloader: Reloader | None = None) -> int:
    pipe = config.pipeline
    resume: list = [None] * pipe.producers
    recreated = await asyncio.to_thread(check_slot, config, system)  # a lost slot stops here, or is recovered
    if config.exactly_once.enabled:
        # Before any producer starts: their committed positions, read once the slot's state is known.
        sql = connect(config.postgres, config.retry)
        try:
            slot_is_new = recreated or not slot_exists(sql, config.replication.slot_name)
        finally:
            sql.close()
        resume = await asyncio.to_thread(load_resume_points, config.exactly_once_scope, system, slot_is_new)
    if lock is not None:
        lock.raise_if_lost()  # nothing may start once the lock is in doubt
    ctx = multiprocessing.get_context("spawn")  # the coordinator runs uvloop: never fork it
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    run_id = str(uuid.uuid4())  # Debezium's __debezium.context.runId header, one per run
    rings = [RingOwner(pipe.ring_bytes) for _ in range(pipe.producers)]
    cells = LsnCells.create(pipe.producers)
    try:
        producers = [
            Child(f"producer-{i}", ctx.Process(
                target=producer_main, name=f"pgbridge-producer-{i}",
                args=(i, config, rings[i].handle, cells.handle, os.getpid(), level, run_id, resume[i], system)))
            for i in range(pipe.producers)
        ]
        decoder = Child("decoder", ctx.Process(
            target=decoder_main, name="pgbridge-decoder",
            args=(config, [r.handle for r in rings], cells.handle, os.getpid(), level)))
        for child in (*producers, decoder):
            child.process.start()
        log.info("streaming slot %s of %s into Kafka at %s with %d producer(s)",
                 config.replication.slot_name, config.postgres.dbname,
                 config.kafka.connection.bootstrap_servers, pipe.producers)
        coordinator = Coordinator(decoder, producers, rings, cells, pipe.shutdown_timeout_ms / 1000, state)
        if reloader is not None:
            reloader.attach(lambda: coordinator.drain("reloading: draining the pipeline to run it with the new "
                                                      "Kafka settings"))
        return await coordinator.run()
    finally:
        if reloader is not None:
            reloader.attach(None)
        state.carry_auth_failures()
        state.cells, state.rings, state.children = None, [], []
        for ring in rings:
            ring.close()
        cells.close()
