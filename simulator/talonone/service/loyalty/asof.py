"""Balances as of any instant: what the ledger held then.

The lots created by then count; each with the points it had left then (its current remaining
minus what changed after, from `TalonLoyaltyMovement`), pending, active or expired by its dates
compared with that instant; the debt is likewise the current one minus its later changes.
Asked for the present or a later instant this is exactly `loyalty_ledger.balances`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from simulator.core import fastsql
from simulator.core.store import Store
from simulator.talonone.models.history import TalonLoyaltyMovement
from simulator.talonone.models.loyalty import TalonLoyaltyLedger, TalonLoyaltyLot
from simulator.talonone.service.loyalty_ledger import (
    EPSILON,
    Balance,
    Owner,
    balances,
    owned_by,
)

_MOVEMENT = TalonLoyaltyMovement
# Built once, as the present's balance statements (loyalty_ledger).
LATER_CHANGES = fastsql.prepared(
    select(
        _MOVEMENT.lot_id,
        _MOVEMENT.subledger_id,
        func.sum(_MOVEMENT.remaining),
        func.sum(_MOVEMENT.revoked),
        func.sum(_MOVEMENT.debt),
    )
    .where(*owned_by(_MOVEMENT), _MOVEMENT.at_ts > bindparam("ts", type_=_MOVEMENT.at_ts.type))
    .group_by(_MOVEMENT.lot_id, _MOVEMENT.subledger_id)
)
LEDGERS_THEN = fastsql.prepared(
    select(TalonLoyaltyLedger.subledger_id, TalonLoyaltyLedger.debt).where(
        *owned_by(TalonLoyaltyLedger),
        TalonLoyaltyLedger.joined <= bindparam("at", type_=TalonLoyaltyLedger.joined.type),
    )
)
LOTS_THEN = fastsql.prepared(
    select(
        TalonLoyaltyLot.id,
        TalonLoyaltyLot.subledger_id,
        TalonLoyaltyLot.amount,
        TalonLoyaltyLot.remaining,
        TalonLoyaltyLot.revoked,
        TalonLoyaltyLot.start_ts,
        TalonLoyaltyLot.expiry_ts,
    ).where(
        *owned_by(TalonLoyaltyLot),
        TalonLoyaltyLot.created <= bindparam("at", type_=TalonLoyaltyLot.created.type),
        TalonLoyaltyLot.subledger_id.in_(bindparam("subledgers", expanding=True)),
    )
)


def later_changes(
    db: Store | fastsql.Lease, tenant_id: str, owner: Owner, ts: float
) -> tuple[dict[int, tuple[float, float]], dict[str, float]]:
    """({lot id: (remaining, revoked) changed after ts}, {subledger: debt changed after ts})."""
    rows = fastsql.execute(db, LATER_CHANGES, {**owner.parameters(tenant_id), "ts": ts}).all()
    lots: dict[int, tuple[float, float]] = {}
    debts: dict[str, float] = {}
    for lot_id, subledger, remaining, revoked, debt in rows:
        if lot_id is None:
            debts[subledger] = debts.get(subledger, 0.0) + (debt or 0.0)
        else:
            lots[lot_id] = (remaining or 0.0, revoked or 0.0)
    return lots, debts


def lot_balance(lot: Any, remaining: float, revoked: float, ts: float) -> Balance:
    """One lot's part of a balance at `ts`, given the points it had left and revoked then
    (`lot`: a lot's row, its amount and its start and expiry instants)."""
    spent = max(lot.amount - remaining - revoked, 0.0)
    if lot.start_ts > ts:
        return Balance(pending=remaining, spent=spent)
    if lot.expiry_ts <= ts:
        return Balance(expired=remaining, spent=spent)
    return Balance(active=remaining, spent=spent)


def balances_as_of(
    db: Store | fastsql.Lease,
    tenant_id: str,
    owner: Owner,
    at: datetime,
    subledgers: list[str] | None = None,
) -> dict[str, Balance]:
    """Balance per subledger at `at`, of the ledgers that existed then."""
    ts = at.timestamp()
    owner_binds = owner.parameters(tenant_id)
    ledgers = fastsql.execute(db, LEDGERS_THEN, {**owner_binds, "at": at}).all()
    wanted = {sub for sub, _debt in ledgers if subledgers is None or sub in subledgers}
    if not wanted:
        return {}
    lot_changes, debt_changes = later_changes(db, tenant_id, owner, ts)
    lots = fastsql.execute(
        db, LOTS_THEN, {**owner_binds, "at": at, "subledgers": sorted(wanted)}
    ).all()
    result = {sub: Balance() for sub in wanted}
    for lot in lots:
        changed_remaining, changed_revoked = lot_changes.get(lot.id, (0.0, 0.0))
        part = lot_balance(
            lot, lot.remaining - changed_remaining, lot.revoked - changed_revoked, ts
        )
        total = result[lot.subledger_id]
        total.active += part.active
        total.pending += part.pending
        total.expired += part.expired
        total.spent += part.spent
    for subledger, debt in ledgers:
        if subledger not in wanted:
            continue
        debt_then = max(debt - debt_changes.get(subledger, 0.0), 0.0)
        balance = result[subledger]
        if debt_then > EPSILON:
            net = balance.active - debt_then
            balance.active, balance.negative = (net, 0.0) if net >= 0 else (0.0, -net)
    return result


def balances_at(
    db: Store | fastsql.Lease,
    tenant_id: str,
    owner: Owner,
    now: datetime,
    end_date: datetime | None,
    subledgers: list[str] | None = None,
) -> dict[str, Balance]:
    """The balances an `endDate` asks for: the present and later instants read the lots as they
    are (the cached aggregate); an earlier one what the ledger held then."""
    if end_date is None or end_date >= now:
        return balances(db, tenant_id, owner, end_date or now, subledgers)
    return balances_as_of(db, tenant_id, owner, end_date, subledgers)
