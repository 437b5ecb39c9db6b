"""The request journal: every request on an API path, bounded per tenant.

Entries are buffered in memory and written in bulk a few times a second (and before every
read), so recording a request costs the hot path a list append, not a database write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.db import new_session
from simulator.core.metrics import Metrics
from simulator.core.models import JournalEntry, Tenant

log = logging.getLogger("simulator.journal")
access_log = logging.getLogger("simulator.access")

# Request headers worth keeping; credentials are never journaled.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "idempotency-key",
    "x-simulator-fault",
)


# One executemany on the DBAPI cursor a flush (an ORM bulk insert costs several times more).
INSERT_ENTRIES = fastsql.prepared(insert(JournalEntry.__table__))


class Journal:
    """Also the one place every finished API request passes: metrics and access log too."""

    def __init__(
        self,
        engine: Engine,
        max_entries: int,
        enabled: bool = True,
        metrics: Metrics | None = None,
        access_log: bool = False,
    ) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self.enabled = enabled
        self.metrics = metrics
        self.access_log = access_log
        self.pending: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        # Entries this process wrote per tenant since it last trimmed that tenant's journal.
        self.untrimmed: dict[str | None, int] = {}

    def record(self, entry: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.observe(
                entry["api"],
                entry["operation"],
                entry["status"],
                entry["duration_ms"] / 1000,
                entry.get("fault"),
            )
        if self.access_log:
            access_log.info(
                "%s %s %s",
                entry["method"],
                entry["path"],
                entry["status"],
                extra={
                    "request_id": entry.get("request_id"),
                    "tenant": entry["tenant_id"],
                    "api": entry["api"],
                    "operation": entry["operation"],
                    "method": entry["method"],
                    "path": entry["path"],
                    "status": entry["status"],
                    "duration_ms": round(entry["duration_ms"], 3),
                },
            )
        if not self.enabled:
            return
        entry.pop("request_id", None)
        self.pending.append(entry)
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered. A tenant's oldest entries beyond its bound are dropped once
        this process has added a tenth of the bound since it last trimmed them (a trim costs a
        walk over the bound's worth of index), and always before a read (`settle`)."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        for entry in batch:
            tenant_id = entry["tenant_id"]
            self.untrimmed[tenant_id] = self.untrimmed.get(tenant_id, 0) + 1
        try:
            with new_session(self.engine) as session:
                fastsql.execute(session, INSERT_ENTRIES, batch)
                limits = self._limits(session, set(self.untrimmed))
                for tenant_id, written in list(self.untrimmed.items()):
                    limit = limits[tenant_id]
                    if written >= max(1, limit // 10):
                        self._trim(session, tenant_id, limit)
                        del self.untrimmed[tenant_id]
                session.commit()
        except Exception:  # the journal must never take the API down
            log.exception("could not write %d journal entries", len(batch))

    def settle(self, tenant_ids: set[str | None] | None = None) -> None:
        """Before a read: everything buffered written, and the tenants read (default: those
        this process wrote for) trimmed to their bound, whichever process wrote the entries."""
        self.flush()
        tenant_ids = set(self.untrimmed) if tenant_ids is None else tenant_ids
        if not tenant_ids:
            return
        try:
            with new_session(self.engine) as session:
                for tenant_id, limit in self._limits(session, tenant_ids).items():
                    self._trim(session, tenant_id, limit)
                session.commit()
            for tenant_id in tenant_ids:
                self.untrimmed.pop(tenant_id, None)
        except Exception:  # a read shows the entries as they are
            log.exception("could not trim the journal")

    def _limits(self, session: Any, tenant_ids: set[str | None]) -> dict[str | None, int]:
        """Each tenant's bound: its own journal quota where an operator set one, else the
        journal's (entries of no tenant have the journal's)."""
        ids = [t for t in tenant_ids if t is not None]
        quotas: dict[str | None, int | None] = {}
        if ids:
            rows = session.execute(
                select(Tenant.id, Tenant.quota_journal_entries).where(Tenant.id.in_(ids))
            )
            quotas = dict(rows.all())
        return {t: quotas.get(t) or self.max_entries for t in tenant_ids}

    def _trim(self, session: Any, tenant_id: str | None, max_entries: int) -> None:
        same_tenant = (
            JournalEntry.tenant_id.is_(None)
            if tenant_id is None
            else JournalEntry.tenant_id == tenant_id
        )
        cutoff = session.execute(
            select(JournalEntry.id)
            .where(same_tenant)
            .order_by(JournalEntry.id.desc())
            .offset(max_entries)
            .limit(1)
        ).scalar_one_or_none()
        if cutoff is not None:
            session.execute(delete(JournalEntry).where(same_tenant, JournalEntry.id <= cutoff))

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush()

    def start(self, interval: float) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()


def entry_view(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "tenant": entry.tenant_id,
        "api": entry.api,
        "operation": entry.operation,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "durationMs": round(entry.duration_ms, 3),
        "fault": entry.fault,
        "requestHeaders": json.loads(entry.request_headers or "{}"),
        "requestBody": entry.request_body,
        "responseBody": entry.response_body,
        "time": format_instant(entry.created_at),
    }


def search(
    engine: Engine,
    *,
    tenant: str | None = None,
    api: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first. `path` matches as a substring, `*` as a wildcard."""
    statement = select(JournalEntry)
    if tenant is not None:
        statement = statement.where(JournalEntry.tenant_id == tenant)
    if api is not None:
        statement = statement.where(JournalEntry.api == api)
    if method is not None:
        statement = statement.where(JournalEntry.method == method.upper())
    if path is not None:
        pattern = path.replace("%", r"\%").replace("_", r"\_").replace("*", "%")
        statement = statement.where(JournalEntry.path.like(f"%{pattern}%", escape="\\"))
    if status is not None:
        statement = statement.where(JournalEntry.status == status)
    if since is not None:
        statement = statement.where(JournalEntry.created_at >= since)
    statement = statement.order_by(JournalEntry.id.desc()).limit(limit)
    with new_session(engine) as session:
        return [entry_view(e) for e in session.execute(statement).scalars()]


def clear(engine: Engine, tenant: str | None = None) -> int:
    statement = delete(JournalEntry)
    if tenant is not None:
        statement = statement.where(JournalEntry.tenant_id == tenant)
    with new_session(engine) as session:
        count = session.execute(statement).rowcount
        session.commit()
    return count
