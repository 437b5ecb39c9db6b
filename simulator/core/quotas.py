"""Operator controls of a shared sandbox: per-tenant quotas and idle-tenant expiry.

Quotas are off unless set on the tenant (admin API), so the hot path of an unlimited tenant pays
nothing. Counters live in the database, so every process of a deployment sees the same totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from simulator.core import caches, offloop
from simulator.core.clock import real_now
from simulator.core.db import new_session, tenant_tables
from simulator.core.models import Tenant, TenantRate
from simulator.core.store import Store, session_unit

log = logging.getLogger("simulator.quotas")

KEPT_ACROSS_COUNT = {"journal_entry", "tenant_rate", "id_sequence", "fault_rule", "tenant_fixtures"}
TOUCH_EVERY_SECONDS = 60.0

# tenant id -> (monotonic time of the last count, stored-record total)
_record_counts: dict[str, tuple[float, int]] = {}
_last_touch: dict[str, float] = {}
caches.register(
    "quotas.record_counts",
    "tenant -> its stored-record total; counted again after 5 s (cached_record_count)",
    clear=_record_counts.clear,
    forget_tenant=lambda tenant_id: _record_counts.pop(tenant_id, None),
)
caches.register(
    "quotas.last_touch",
    "tenant -> when this process last stored its last-used time (idle expiry); written again "
    "after TOUCH_EVERY_SECONDS",
    clear=_last_touch.clear,
    forget_tenant=lambda tenant_id: _last_touch.pop(tenant_id, None),
)


class QuotaExceeded(Exception):
    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class TooManyRecords(Exception):
    """A fixture document that would store more than the tenant's records quota (413)."""

    def __init__(self, records: int, limit: int, estimated: bool = False) -> None:
        about = "about " if estimated else ""
        super().__init__(
            f"fixtures too large for this tenant: {about}{records} records, at most {limit} records"
        )
        self.records, self.limit = records, limit


def stored_records(session: Store, tenant_id: str) -> int:
    total = 0
    for table in tenant_tables():
        if table.name in KEPT_ACROSS_COUNT:
            continue
        total += session.execute(
            select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        ).scalar_one()
    return total


def cached_record_count(session: Store, tenant_id: str, max_age: float = 5.0) -> int:
    seen = _record_counts.get(tenant_id)
    if seen is not None and time.monotonic() - seen[0] < max_age:
        return seen[1]
    count = stored_records(session, tenant_id)
    _record_counts[tenant_id] = (time.monotonic(), count)
    return count


def count_request(session: Store, tenant_id: str, second: int) -> int:
    """Count this request in its second (shared by processes, once the caller's unit of work
    commits); returns the second's total."""
    statement = (
        update(TenantRate)
        .where(col(TenantRate.tenant_id) == tenant_id, col(TenantRate.second) == second)
        .values(count=col(TenantRate.count) + 1)
        .returning(col(TenantRate.count))
    )
    value = session.execute(statement).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.add(TenantRate(tenant_id=tenant_id, second=second, count=1))
            value = 1
        except IntegrityError:
            value = session.execute(statement).scalar_one()
    session.execute(
        delete(TenantRate).where(
            col(TenantRate.tenant_id) == tenant_id, col(TenantRate.second) < second - 5
        )
    )
    return value


def records_quota_applies(tenant: Tenant, method: str) -> bool:
    """The stored-records quota limits writes only."""
    return tenant.quota_records is not None and method not in ("GET", "HEAD")


def check_records(session: Store, tenant: Tenant, method: str) -> None:
    limit = tenant.quota_records
    if limit is None or not records_quota_applies(tenant, method):
        return
    stored = cached_record_count(session, tenant.id)
    if stored >= limit:
        raise QuotaExceeded(f"Storage quota of {limit} records reached ({stored} stored)")


def admit(engine: Engine, tenant: Tenant, method: str, in_group: bool = False) -> None:
    """Raise QuotaExceeded when the tenant is over one of its quotas; note it as seen.

    The bookkeeping (the last-use time, the rate counter) is a unit of work of its own, never
    the request's: a session is opened only for what applies (a due touch, a rate quota, a
    write's records quota), so the request's own transaction holds only the request's work.
    `in_group`: the caller is a request of a commit group (see `admit_light`)."""
    admit_light(engine, tenant.id, tenant.quota_requests_per_second, in_group)
    if records_quota_applies(tenant, method):
        with new_session(engine) as session:
            check_records(session, tenant, method)


def admit_light(
    engine: Engine, tenant_id: str, requests_per_second: int | None, in_group: bool = False
) -> None:
    """`admit` for read paths that found their tenant without loading it (one joined query):
    opens a session only when the tenant is due a touch or has a rate quota.

    `in_group`: the caller is a request of a commit group (core/groupcommit). A session
    opened now would commit the group under it, and the request would go on in a deferred
    transaction whose first write SQLite refuses if another process wrote since it read (a
    409 for nothing): its touch runs once the request has left the loop instead."""
    due = time.monotonic() - _last_touch.get(tenant_id, -TOUCH_EVERY_SECONDS) >= TOUCH_EVERY_SECONDS
    # A worker thread writing holds the store (SQLite): the note waits for a later request.
    due = due and not offloop.thread_writing(engine)
    if not due and requests_per_second is None:
        return
    if in_group and requests_per_second is None:
        _last_touch[tenant_id] = time.monotonic()
        asyncio.get_running_loop().call_soon(touch_later, engine, tenant_id)
        return
    counted = 0
    with session_unit(engine) as session:  # a refused request is counted too
        if due:
            _last_touch[tenant_id] = time.monotonic()
            session.execute(
                update(Tenant).where(col(Tenant.id) == tenant_id).values(last_seen_at=real_now())
            )
        if requests_per_second is not None:
            counted = count_request(session, tenant_id, int(time.time()))
    if requests_per_second is not None and counted > requests_per_second:
        raise QuotaExceeded(
            f"Rate limit of {requests_per_second} requests per second exceeded", retry_after=1
        )


def touch_later(engine: Engine, tenant_id: str) -> None:
    """A touch postponed by `admit_light` (a loop callback: it must not raise)."""
    try:
        with session_unit(engine) as session:
            session.execute(
                update(Tenant).where(col(Tenant.id) == tenant_id).values(last_seen_at=real_now())
            )
    except Exception:
        log.exception("could not record the activity of tenant %s", tenant_id)


def expire_idle(engine: Engine, idle_seconds: float, keep: set[str]) -> list[str]:
    """Delete every tenant (but those in `keep`) not seen for `idle_seconds`."""
    from simulator.core import tenants

    cutoff = real_now() - timedelta(seconds=idle_seconds)
    removed = []
    with new_session(engine) as session:
        rows = session.execute(select(Tenant).where(col(Tenant.id).not_in(keep))).scalars().all()
        for tenant in rows:
            last = tenant.last_seen_at or tenant.created_at
            if last < cutoff:
                with offloop.writing(engine):
                    tenants.remove(session, tenant)
                removed.append(tenant.id)
    for tenant_id in removed:
        log.info("expired idle tenant %s", tenant_id)
    return removed


async def expire_idle_forever(engine: Engine, idle_seconds: float, keep: set[str]) -> None:
    interval = max(1.0, min(60.0, idle_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        with contextlib.suppress(Exception):  # a large tenant's delete: off the event loop
            await offloop.run(expire_idle, engine, idle_seconds, keep)
