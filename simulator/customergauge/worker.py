"""The stream worker: turns queued uploads into mail-queue entries and sends what is due.

It runs as an asyncio task of the server (started by `on_startup` when `settings.run_worker`) or
on its own through `run_worker_forever(engine, settings)`. Its store work (claims, parsing and
evaluating records, writing mails) runs in worker threads (core/offloop), so a 2,000-record
upload never holds the event loop; it never holds a database transaction across an `await`,
writes an upload's mails and result in one transaction, and claims each upload with one atomic
statement, so any number of workers in any number of processes can share a store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from simulator.core import offloop
from simulator.core.clock import real_now, tenant_now
from simulator.core.db import new_session
from simulator.core.models import Tenant
from simulator.core.store import session_unit, unit_of_work
from simulator.customergauge import service
from simulator.customergauge.models import (
    UPLOAD_FAILED,
    UPLOAD_PROCESSED,
    UPLOAD_PROCESSING,
    CgUpload,
)

log = logging.getLogger("simulator.customergauge.worker")

POLL_SECONDS = 0.2
SWEEP_SECONDS = 0.5
# How long an admin `process` waits for an upload another worker is processing.
WAIT_FOR_OTHERS_SECONDS = 30.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(asyncio.get_running_loop()):x}"


@dataclass
class ProcessSummary:
    """What one `process_tenant_now` call did."""

    processed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    sent: int = 0
    suppressed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "failed": self.failed,
            "retrying": self.retrying,
            "sent": self.sent,
            "suppressed": self.suppressed,
        }


async def process_upload(engine: Engine, upload_id: int, simulate_time: bool = True) -> str:
    """One processing attempt of a claimed upload; returns its status afterwards.

    Any exception in the attempt (a stream fault rule, a store error) fails the attempt: it is retried
    with back-off, and the upload is `Failed` after `max_attempts`.
    """
    try:
        return await _attempt(engine, upload_id, simulate_time)
    except asyncio.CancelledError:
        with session_unit(engine) as session:
            service.release_claim(session, upload_id, real_now())
        raise
    except Exception as exc:
        log.info("upload %s attempt failed: %s", upload_id, exc)
        reason = str(exc) or type(exc).__name__
        return await offloop.run(fail_attempt, engine, upload_id, reason)


async def _attempt(engine: Engine, upload_id: int, simulate_time: bool) -> str:
    """The attempt's work runs in worker threads (parsing and evaluating 2,000 records would
    hold the event loop); only the simulated processing time is waited for here."""
    status, delay = await offloop.run(begin_attempt, engine, upload_id, simulate_time)
    if status is not None:
        return status
    if delay > 0:
        await asyncio.sleep(delay)  # holding no connection (nor SQLite snapshot)
    return await offloop.run(finish_attempt, engine, upload_id)


def begin_attempt(engine: Engine, upload_id: int, simulate_time: bool) -> tuple[str | None, float]:
    """(the upload's status when there is nothing to process, else None; the simulated
    processing time to wait first, its claim extended to cover it). In a worker thread."""
    with new_session(engine) as session:
        loaded = service.load_for_processing(session, upload_id)
        if loaded is None:  # the tenant was deleted meanwhile
            return UPLOAD_FAILED, 0.0
        upload, _tenant, config = loaded
        if upload.status != UPLOAD_PROCESSING:
            return upload.status, 0.0
        delay = service.processing_seconds(config, upload.total_records) if simulate_time else 0
        if delay > 0:
            with offloop.writing(engine), unit_of_work(session):
                service.extend_lease(session, upload_id, real_now(), delay)
        return None, delay


def finish_attempt(engine: Engine, upload_id: int) -> str:
    """Evaluate the upload's records, then write its mails and its result in one short
    transaction (a fault rule may fail the attempt first). In a worker thread."""
    with new_session(engine) as session:
        loaded = service.load_for_processing(session, upload_id)
        if loaded is None:
            return UPLOAD_FAILED
        upload, tenant, config = loaded  # the tenant's clock may have moved meanwhile
        if upload.status != UPLOAD_PROCESSING:
            return upload.status
        now = tenant_now(tenant)
        records: list[dict[str, str]] = json.loads(upload.records_json or "[]")
        keys = {service.email_key(service.field_value(r, "Email") or "") for r in records}
        blocked = service.blocked_addresses(session, upload.tenant_id, keys)
        evaluation = service.Evaluation()
        service.evaluate_records(upload, records, config, now, blocked, 1, evaluation)
        with offloop.writing(engine), unit_of_work(session):
            fault = stream_fault(session, tenant.id, now)  # its counters commit either way
            if fault is None:
                if upload.attempts > 1:  # an earlier attempt may have left mails behind
                    service.clear_mails(session, upload.tenant_id, upload.number)
                service.insert_mails(session, evaluation.rows)
                service.complete_upload(session, upload, evaluation, now)
    if fault is not None:
        raise ProcessingFault(fault)
    return UPLOAD_PROCESSED


def fail_attempt(engine: Engine, upload_id: int, reason: str) -> str:
    """Record a failed attempt (retried with back-off, or Failed); in a worker thread."""
    with offloop.writing(engine), session_unit(engine) as session:
        upload = session.get(CgUpload, upload_id)
        tenant = session.get(Tenant, upload.tenant_id) if upload else None
        now = tenant_now(tenant) if tenant else real_now()
        return service.record_failure(session, upload_id, reason, now, real_now())


class ProcessingFault(Exception):
    """A processing attempt failed on purpose (a fault rule `operation: stream.process`)."""


def stream_fault(session: Session, tenant_id: str, now: datetime) -> str | None:
    """The failure reason when a stream fault rule fires for this attempt, else None."""
    from simulator.core.faults import background_fault
    from simulator.customergauge.operations import STREAM_PROCESS

    return background_fault(session, "customergauge", STREAM_PROCESS, tenant_id, now)


def sweep(engine: Engine) -> None:
    """Send what is due on every tenant's clock; requeue uploads of vanished workers. In a
    worker thread."""
    with offloop.writing(engine), session_unit(engine) as session:
        service.recover_expired_leases(session, real_now())
        for tenant in service.tenants_with_mail_due(session, tenant_now):
            service.deliver_due(session, tenant.id, tenant_now(tenant))


def deliver_for_tenant(engine: Engine, tenant_id: str) -> dict[str, int]:
    with offloop.writing(engine), session_unit(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return {}
        return service.deliver_due(session, tenant_id, tenant_now(tenant))


def claim(engine: Engine, worker_id: str, **options: Any) -> int | None:
    """The next upload claimed for `worker_id`, or None; in a worker thread."""
    try:
        with offloop.writing(engine), session_unit(engine) as session:
            return service.claim_next(session, worker_id, real_now(), **options)
    except OperationalError:  # SQLite busy: another writer; try again on the next turn
        return None


def has_processing(engine: Engine, tenant_id: str) -> bool:
    with new_session(engine) as session:
        return (
            session.execute(
                select(CgUpload.id)
                .where(CgUpload.tenant_id == tenant_id, CgUpload.status == UPLOAD_PROCESSING)
                .limit(1)
            ).first()
            is not None
        )


async def process_tenant_now(engine: Engine, tenant_id: str) -> ProcessSummary:
    """Admin `process`: one attempt for each of the tenant's queued uploads, in order, at once
    (ignoring back-off, pause and simulated processing time), then send what is due. Waits for
    an upload another worker is processing, so the result is deterministic."""
    summary = ProcessSummary()
    attempted: list[int] = []
    worker_id = f"admin:{worker_name()}"
    deadline = time.monotonic() + WAIT_FOR_OTHERS_SECONDS
    while True:
        upload_id = await offloop.run(
            claim, engine, worker_id, tenant_id=tenant_id, respect_schedule=False, exclude=attempted
        )
        if upload_id is None:
            if has_processing(engine, tenant_id) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                continue
            break
        attempted.append(upload_id)
        status = await process_upload(engine, upload_id, simulate_time=False)
        with new_session(engine) as session:
            number = session.get(CgUpload, upload_id).number
        if status == UPLOAD_PROCESSED:
            summary.processed.append(number)
        elif status == UPLOAD_FAILED:
            summary.failed.append(number)
        else:
            summary.retrying.append(number)
    counts = await offloop.run(deliver_for_tenant, engine, tenant_id)
    summary.sent = counts.get("sent", 0)
    summary.suppressed = counts.get("suppressed", 0)
    return summary


class StreamWorker:
    """The background loop: claim the next due upload, process it, send what is due."""

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._next_sweep = 0.0
        self.worker_id = ""

    def wake(self) -> None:
        """Called after an upload is accepted in this process: no need to wait for the poll."""
        self._wake.set()

    async def step(self) -> bool:
        """One turn; True when it processed an upload (so the next turn comes at once)."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            await offloop.run(sweep, self.engine)
        upload_id = await offloop.run(claim, self.engine, self.worker_id)
        if upload_id is None:
            return False
        await process_upload(self.engine, upload_id)
        return True

    async def run_forever(self) -> None:
        self.worker_id = worker_name()
        while not self._stopping:
            try:
                busy = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stream worker turn failed")
                busy = False
                await asyncio.sleep(1)
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            else:
                await asyncio.sleep(0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None


async def run_worker_forever(engine: Engine, settings: Any) -> None:
    """`simulator worker`: the stream worker as its own process (the CLI wires this in)."""
    worker = StreamWorker(engine)
    await worker.run_forever()


async def on_startup(app: Any) -> None:
    if not getattr(app.state.settings, "run_worker", True):
        return
    worker = StreamWorker(app.state.engine)
    app.state.customergauge_worker = worker
    worker.start()


async def on_shutdown(app: Any) -> None:
    worker: StreamWorker | None = getattr(app.state, "customergauge_worker", None)
    if worker is not None:
        await worker.stop()
        app.state.customergauge_worker = None


def wake(app: Any) -> None:
    worker: StreamWorker | None = getattr(app.state, "customergauge_worker", None)
    if worker is not None:
        worker.wake()
