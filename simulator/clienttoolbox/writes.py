"""How ClientToolbox's heavy writes run: in a worker thread, the store's lock held only to write.

A 10,000-line batch spends most of its time parsing, checking and working out its lines; on the
event loop that would hold every other request of the process (core/offloop). So a batch runs in
a worker thread, in two steps on one session of its own:

1. prepared: everything read and worked out, its statements' parameters bound, nothing
   written (its counters from a CounterPlan); a batch refused whole raises here and leaves no
   trace;
2. written: in one short write transaction, the tenant's ClientToolbox guard (a counter every
   ClientToolbox write moves) is moved on from the value the preparation started from, then the
   counters and the batch's rows are written, then one commit.

If the guard moved meanwhile (another batch or an undo of the same tenant committed; or the
tenant's fixtures were loaded again, which changes its cache revision), what was prepared may
rest on rows that changed: the batch is worked out again inside a write transaction that holds
the lock from its first statement, exactly as a batch ran before. Either way the batch is one
transaction, and other tenants' batches never make it redo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from simulator.clienttoolbox import customers_batch, transactions_batch, undo
from simulator.clienttoolbox.errors import ClientToolboxError
from simulator.clienttoolbox.ledger import Ledger
from simulator.core import offloop
from simulator.core.db import new_session
from simulator.core.ids import CounterPlan, DirectCounters, next_value
from simulator.core.models import IdSequence, Tenant
from simulator.core.store import session_unit, unit_of_work

GUARD = "ct_writes"  # the id_sequence counter every ClientToolbox write of a tenant moves

Outcome = TypeVar("Outcome")
# (session, counters) -> (what the batch answers, its ledger, not yet written)
Prepare = Callable[[Session, CounterPlan | DirectCounters], tuple[Any, Ledger]]

_GUARD_READ = text(
    "SELECT s.value, t.cache_revision FROM tenant t LEFT JOIN id_sequence s"
    " ON s.tenant_id = t.id AND s.name = :name WHERE t.id = :tenant"
)


def guard_of(session: Session, tenant_id: str) -> tuple[int | None, int] | None:
    """(the guard's value, the tenant's cache revision); None when the tenant is gone."""
    row = session.execute(_GUARD_READ, {"tenant": tenant_id, "name": GUARD}).first()
    return None if row is None else (row[0], row[1])


def move_guard(session: Session, tenant_id: str, seen: tuple[int | None, int]) -> bool:
    """Move the guard on from `seen` (the first write of a transaction: on SQLite it takes the
    store's write lock); False, with nothing moved, when it is no longer `seen`."""
    value, revision = seen
    sequences = IdSequence.__table__
    if value is None:
        try:  # no savepoint: on SQLite one opened first would be the whole transaction
            session.execute(insert(sequences).values(tenant_id=tenant_id, name=GUARD, value=1))
        except IntegrityError:  # another write made it meanwhile (the caller rolls back)
            return False
    else:
        moved = session.execute(
            update(sequences)
            .where(
                sequences.c.tenant_id == tenant_id,
                sequences.c.name == GUARD,
                sequences.c.value == value,
            )
            .values(value=value + 1)
        ).rowcount
        if not moved:
            return False
    stored = session.execute(select(Tenant.cache_revision).where(Tenant.id == tenant_id))
    return stored.scalar_one_or_none() == revision


class GuardMoved(Exception):
    """Another batch or undo of the tenant committed while this one was prepared."""


def hold_guard(session: Session, tenant_id: str) -> None:
    """Move the guard as the first write of a transaction that works out and writes at once:
    any batch being prepared meanwhile for this tenant will redo (and on SQLite the store's
    write lock is held from here)."""
    next_value(session, tenant_id, GUARD)
    if session.get(Tenant, tenant_id) is None:
        raise ClientToolboxError(401, "Invalid user_id or user_api_key")


def write_if_unmoved(
    engine: Engine,
    session: Session,
    tenant_id: str,
    seen: tuple[int | None, int],
    counters: CounterPlan,
    ledger: Ledger,
) -> bool:
    """Write what was prepared, in one short transaction, if no other batch of the tenant has
    moved the guard since `seen`; otherwise write nothing (the transaction is rolled back) and
    answer False."""
    try:
        with offloop.writing(engine), unit_of_work(session):
            if not move_guard(session, tenant_id, seen):
                raise GuardMoved  # out of the unit of work: rolled back
            counters.write(session)
            ledger.write()
    except GuardMoved:
        return False
    return True


def run_prepared(engine: Engine, tenant_id: str, prepare: Prepare) -> Any:
    """Prepare outside a write transaction, write in a short one (module docstring); in the
    worker thread that calls it. Returns what `prepare` answers."""
    with new_session(engine) as session:
        seen = guard_of(session, tenant_id)
        if seen is None:
            raise ClientToolboxError(401, "Invalid user_id or user_api_key")
        counters = CounterPlan(session)
        outcome, ledger = prepare(session, counters)
        ledger.bind()  # its parameters too, before the lock
        if write_if_unmoved(engine, session, tenant_id, seen, counters, ledger):
            return outcome
        # Prepared against what another batch changed meanwhile: redo, holding the lock.
        with offloop.writing(engine), unit_of_work(session):
            hold_guard(session, tenant_id)
            outcome, ledger = prepare(session, DirectCounters(session))
            ledger.write()
        return outcome


def customers_batch_call(
    engine: Engine, tenant: Tenant, fields: dict[str, str], now: datetime, seed: int
) -> customers_batch.CustomersOutcome:
    return run_prepared(
        engine,
        tenant.id,
        lambda session, counters: customers_batch.customers_batch(
            session, tenant, fields, now, seed, counters
        ),
    )


def batch_transactions_call(
    engine: Engine, tenant: Tenant, fields: dict[str, str], now: datetime
) -> transactions_batch.TransactionsOutcome:
    return run_prepared(
        engine,
        tenant.id,
        lambda session, counters: transactions_batch.batch_transactions(
            session, tenant, fields, now, counters
        ),
    )


def undo_call(engine: Engine, tenant_id: str, state_id: int, now: datetime) -> dict[str, Any]:
    """Undo a batch (undo.UndoRefused when it cannot be): one transaction holding the write
    lock from its first statement (an undo restores what it reads)."""
    with offloop.writing(engine), session_unit(engine) as session:
        next_value(session, tenant_id, GUARD)
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise undo.UndoRefused(404, f"no tenant {tenant_id!r}")
        return undo.undo(session, tenant, state_id, now)
