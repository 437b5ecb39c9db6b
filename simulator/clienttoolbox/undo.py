"""Undo states: list them, and undo one batch by restoring its before-image.

Every customer row carries the number of the last batch that wrote it (its profile, balances or
transactions). A batch can be undone only while it is still the last writer of every customer it
touched; otherwise the later batch must be undone first (and if that batch kept no undo state,
the earlier one can no longer be undone).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from simulator.clienttoolbox.ledger import (
    BALANCES,
    CUSTOMERS,
    chunks,
    delete_batch_transactions,
    from_json_values,
)
from simulator.clienttoolbox.models import CtUndoState
from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.models import Tenant
from simulator.core.store import Store


class UndoRefused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def state_view(state: CtUndoState) -> dict[str, Any]:
    return {
        "id": state.id,
        "type": state.batch_type,
        "lines": state.lines,
        "summary": json.loads(state.summary),
        "status": state.status,
        "created": format_instant(state.created_at),
        "undone": format_instant(state.undone_at) if state.undone_at else None,
    }


def list_states(session: Store, tenant: Tenant) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CtUndoState)
        .where(CtUndoState.tenant_id == tenant.id)
        .order_by(CtUndoState.id.desc())
    ).scalars()
    return [state_view(s) for s in rows]


def blocking_batches(session: Store, tenant_id: str, state_id: int, codes: list[str]) -> list[int]:
    """The later batches that wrote some of these customers after this one."""
    t = CUSTOMERS.c
    later: set[int] = set()
    for part in chunks(codes):
        rows = session.execute(
            select(t.last_batch).where(
                t.tenant_id == tenant_id, t.code.in_(part), t.last_batch != state_id
            )
        ).scalars()
        later.update(rows)
    return sorted(later)


def lock_customers(session: Store, tenant_id: str, codes: list[str]) -> None:
    """Lock the customers an undo restores before it checks who wrote them last (PostgreSQL:
    FOR UPDATE, in code order, as a batch locks the customers it loads): a batch writing one
    of them waits for the undo, or the undo for it and then sees it."""
    t = CUSTOMERS.c
    for part in chunks(sorted(codes)):
        session.execute(
            select(t.code)
            .where(t.tenant_id == tenant_id, t.code.in_(part))
            .order_by(t.code)
            .with_for_update()
        ).all()


def undo(session: Store, tenant: Tenant, state_id: int, now: datetime) -> dict[str, Any]:
    """Restore exactly the state before batch `state_id`; one transaction (caller commits).

    Everything it checks is read under the locks of what it restores (SQLite: the store's
    write lock; PostgreSQL: the undo state's row, then its customers'), so no batch can write
    a customer between the check and the restore."""
    fastsql.hold_write_lock(session)
    state = session.get(CtUndoState, (tenant.id, state_id), with_for_update=True)
    if state is None:
        raise UndoRefused(404, f"no undo state {state_id}")
    if state.status != "available":
        raise UndoRefused(409, f"undo state {state_id} was already undone")
    before = json.loads(state.before)
    customers: dict[str, dict[str, Any] | None] = before["customers"]
    lock_customers(session, tenant.id, list(customers))
    blockers = blocking_batches(session, tenant.id, state_id, list(customers))
    if blockers:
        states = {
            s.id: s.status
            for s in session.execute(
                select(CtUndoState).where(
                    CtUndoState.tenant_id == tenant.id, CtUndoState.id.in_(blockers)
                )
            ).scalars()
        }
        described = [
            f"{b} ({'undo it first' if states.get(b) == 'available' else 'no undo state'})"
            for b in blockers
        ]
        raise UndoRefused(
            409,
            f"later batch(es) changed the same customers: {', '.join(described)}",
            blockedBy=blockers,
        )
    removed = delete_batch_transactions(session, tenant.id, state_id)
    restore_balances(session, tenant.id, before["balances"])
    restored, deleted = restore_customers(session, tenant.id, before["columns"], customers)
    state.status = "undone"
    state.undone_at = now
    session.add(state)
    return {
        "undone": state_id,
        "transactionsRemoved": removed,
        "customersRestored": restored,
        "customersRemoved": deleted,
    }


def restore_balances(session: Store, tenant_id: str, balances: list[list[Any]]) -> None:
    t = BALANCES.c
    key = (
        (t.tenant_id == bindparam("k_tenant"))
        & (t.customer_code == bindparam("k_code"))
        & (t.campaign_id == bindparam("k_campaign"))
        & (t.item == bindparam("k_item"))
    )
    to_delete, to_restore = [], []
    for code, campaign, item, value in balances:
        params = {"k_tenant": tenant_id, "k_code": code, "k_campaign": campaign, "k_item": item}
        if value is None:
            to_delete.append(params)
        else:
            to_restore.append({**params, "k_balance": value})
    for part in chunks(to_delete, 1000):
        session.execute(delete(BALANCES).where(key), part)
    statement = update(BALANCES).where(key).values(balance=bindparam("k_balance"))
    for part in chunks(to_restore, 1000):
        session.execute(statement, part)


def restore_customers(
    session: Store, tenant_id: str, columns: list[str], customers: dict[str, list[Any] | None]
) -> tuple[int, int]:
    t = CUSTOMERS.c
    created = [code for code, row in customers.items() if row is None]
    for part in chunks(created):
        session.execute(delete(CUSTOMERS).where(t.tenant_id == tenant_id, t.code.in_(part)))
    statement = (
        update(CUSTOMERS)
        .where(t.tenant_id == bindparam("k_tenant"), t.code == bindparam("k_code"))
        .values({name: bindparam(name) for name in columns})
    )
    params = [
        {"k_tenant": tenant_id, "k_code": code, **from_json_values(columns, values)}
        for code, values in customers.items()
        if values is not None
    ]
    for part in chunks(params, 1000):
        session.execute(statement, part)
    restored_count = len(params)
    return restored_count, len(created)
